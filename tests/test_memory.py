"""`songscope.memory`: freed memory goes back to the system between the stages of a large job."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from songscope.memory import _malloc_trim, release_freed_memory


def _resident_mb() -> float:
    status = Path("/proc/self/status").read_text().splitlines()
    return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:")) / 1024


@pytest.mark.skipif(_malloc_trim() is None or not Path("/proc/self/status").exists(), reason="glibc on Linux only")
def test_memory_freed_in_the_middle_of_the_heap_goes_back():
    # 64 KiB blocks sit in the C library's heap (under its mmap threshold), as a stage's many
    # mid-size arrays do; keeping every 50th one pins the heap, so freeing the rest returns nothing.
    blocks = [np.ones(8_192) for _ in range(3_200)]  # 200 MiB
    kept = blocks[::50]
    del blocks
    before = _resident_mb()
    release_freed_memory()
    assert before - _resident_mb() > 100
    assert all(block.sum() == 8_192 for block in kept)
