"""What a backend hands the stores (`store.clean_ingest`): an ingest held in memory lets its rows go."""

import numpy as np

from songscope.store.clean_ingest import InMemoryIngest


def test_an_ingest_without_its_rows_lets_their_memory_go():
    """Once the stores hold the rows, the ingest's outcome keeps only counts and reports: an
    empty slice of the frames would still hold every row's arrays, numpy's and Arrow's (1M rows:
    410 MB kept)."""
    import gc
    import weakref

    import pyarrow as pa

    from songscope.clean import clean
    from songscope.ingest import read_sources
    from songscope.seed import seed_paths

    gc.collect()
    arrow_before = pa.total_allocated_bytes()
    read = read_sources(seed_paths()[:1])
    cleaned = clean(read.frame)
    read.release_rows()
    held = InMemoryIngest(read, cleaned)
    arrays = [weakref.ref(block.values) for frame in (cleaned.tracks, cleaned.provenance, cleaned.duplicates) for block in frame._mgr.blocks
              if isinstance(block.values, np.ndarray)]
    assert arrays, "the frames hold numpy blocks to follow"
    text_bytes = cleaned.tracks["track_name"].array._pa_array.nbytes
    assert text_bytes > 100_000 and pa.total_allocated_bytes() - arrow_before > text_bytes, "the frames hold Arrow text to follow"
    emptied = held.without_rows()
    del held, cleaned
    gc.collect()
    assert [ref for ref in arrays if ref() is not None] == []
    assert pa.total_allocated_bytes() - arrow_before < text_bytes / 10
    assert len(next(emptied.track_chunks())[0]) == 0 and emptied.rows_read == read.rows_read
    assert emptied.cleaned.tracks.dtypes.equals(read_sources(seed_paths()[:1]).frame.pipe(clean).tracks.dtypes)
