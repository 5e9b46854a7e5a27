"""Ingest: sources (CSV or Parquet; files, folders, globs, ``s3://``) -> validated rows + rejected rows.

`sources` finds and decodes the files; `validate` checks each table against the one schema. Every
row read ends in exactly one of two places: the validated frame, or the rejected table with its
source, line, the columns at fault, the reason and its raw content.
"""

from songscope.ingest.csv_ranges import CsvRangeScan, csv_parts
from songscope.ingest.sources import (
                                      CSV_SUFFIXES,
                                      PARQUET_SUFFIXES,
                                      IngestResult,
                                      SourceSummary,
                                      check_delimiter,
                                      csv_splittable,
                                      expand_sources,
                                      file_digest,
                                      file_size,
                                      parquet_row_groups,
                                      read_csv_part,
                                      read_one,
                                      read_parquet_part,
                                      read_sources,
                                      scan_csv_range,
                                      source_columns,
)
from songscope.ingest.validate import REJECTED_COLUMNS, IngestError, artists_joined_by, derive_track_ids, merge_notes, validate

__all__ = [
    "CSV_SUFFIXES", "PARQUET_SUFFIXES", "REJECTED_COLUMNS", "CsvRangeScan", "IngestError", "IngestResult", "SourceSummary", "artists_joined_by",
    "check_delimiter", "csv_parts", "csv_splittable", "derive_track_ids", "expand_sources", "file_digest", "file_size", "merge_notes",
    "parquet_row_groups", "read_csv_part", "read_one", "read_parquet_part", "read_sources", "scan_csv_range", "source_columns", "validate",
]
