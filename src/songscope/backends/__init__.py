"""Backends: every stage on one machine (`local`) or on Apache Spark (`spark`), behind one protocol.

`base` names the `Backend` protocol and what its methods return; `choice` picks one per job.
"""

from __future__ import annotations

from songscope.backends.base import Backend, CleanedSources, IngestOptions

__all__ = ["Backend", "CleanedSources", "IngestOptions"]
