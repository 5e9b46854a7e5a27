"""Backends: the stages on one machine (local) or on Apache Spark, behind one protocol per stage.

`base` names the protocols; `local` runs today's in-memory code; `spark` runs the same stage as
Spark jobs, with nothing the size of the catalogue passing through the driver. `ingest_backend`
picks one by name.
"""

from __future__ import annotations

from songscope.backends.base import CleanedSources, IngestBackend, IngestOptions


def ingest_backend(kind: str, *, spark_master: str = "local[*]", scratch: str | None = None) -> IngestBackend:
    """The ingest-and-clean backend `kind` (``local`` or ``spark``)."""
    if kind == "spark":
        from songscope.backends.spark.ingest import SparkIngest

        return SparkIngest(master=spark_master, scratch=scratch)
    if kind != "local":
        raise ValueError(f"unknown engine {kind!r}: choose local, spark or auto")
    from songscope.backends.local import LocalIngest

    return LocalIngest()


__all__ = ["CleanedSources", "IngestBackend", "IngestOptions", "ingest_backend"]
