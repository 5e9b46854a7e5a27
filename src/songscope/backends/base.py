"""The protocol of each stage that runs on more than one backend, and what it returns.

A backend is chosen per job (`--engine local|spark|auto`); every backend of a stage gives the same
answer on the same input, which one contract suite checks (tests/backends/).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from songscope import schema
from songscope.clean import CleanReport
from songscope.store.catalogue import CleanIngest

Progress = Callable[[str], None]


@dataclass
class CleanedSources:
    """Sources read, validated and cleaned, ready for the stores (`data` streams it in chunks)."""

    data: CleanIngest
    report: CleanReport
    rows_read: int
    rows_valid: int
    rows_rejected: int
    #: The first rejected row (source, line, reason), to show; None when every row was valid.
    first_rejected: dict[str, Any] | None = None
    timings: dict[str, float] = field(default_factory=dict)
    #: Called once the stores hold the data (the Spark backend removes its staged files).
    release: Callable[[], None] = field(default=lambda: None, repr=False)


@dataclass(frozen=True)
class IngestOptions:
    """How to read and clean: the CSV encoding and delimiter, the outlier rules, whether to remove
    loose near duplicates, and the S3 endpoint of ``s3://`` sources."""

    encoding: str = "utf-8"
    delimiter: str = ","
    outlier_rules: tuple[schema.OutlierRule, ...] = schema.SEED_OUTLIER_RULES
    loose: bool = False
    s3_endpoint: str | None = None


class IngestBackend(Protocol):
    """Reads CSV and Parquet sources (paths, folders, globs, ``file://``, ``s3://``), validates them
    against `songscope.schema` (each rejected row kept with its source, line and reason), and
    cleans them by the rules of `songscope.clean`."""

    name: str

    def read_and_clean(self, sources: Iterable[str], options: IngestOptions, progress: Progress | None = None) -> CleanedSources: ...
