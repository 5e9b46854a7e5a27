"""The Spark backend: each stage as Spark jobs, with nothing the size of the catalogue in the driver.

- `ingest`: read, validate and clean in the executors; the stores take the result in bounded chunks.
- `catalogue`: the lake's catalogue table as a DataFrame (the executors read its files).
- `profile`: the catalogue profile as aggregations.
- `cluster`: the feature space fitted from aggregated statistics, MLlib's fit, every song assigned
  by the executors, the internal indices that are sums computed exactly, and a fixed-seed sample
  (its size reported) for what needs songs side by side: silhouette, tests, stability, the report.

pyspark is imported inside functions only, so the base install needs no Java.
"""
