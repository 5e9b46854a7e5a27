"""Audio fixtures: the shipped rendered songs (truth known by construction, bench/truth.py) and
files made broken or odd on purpose."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

RENDERED = Path(__file__).resolve().parents[2] / "data" / "audio" / "rendered"


@pytest.fixture(scope="session")
def rendered_truth() -> list[dict]:
    with open(RENDERED / "truth.csv", newline="") as f:
        return [row | {"path": RENDERED / row["file"]} for row in csv.DictReader(f)]


@pytest.fixture(scope="session")
def rendered_mono(rendered_truth) -> tuple[np.ndarray, dict]:
    """The first rendered song, decoded to mono at the analysis rate, and its truth."""
    from songscope.audio.decode import windows

    first = rendered_truth[0]
    return np.concatenate([w.mono for w in windows(first["path"])]), first
