"""A catalogue file's artists: lists in the lake, joined in songscope's frames, and read from a
file written before songs had several artists by the rule migration 0011 applies to the database."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa

from songscope.artists import SEPARATOR
from songscope.store.catalogue_parts import _to_arrow, as_read


def test_artists_are_lists_in_the_lake_and_joined_when_read():
    frame = pd.DataFrame({"track_id": ["a", "b"], "artist_name": ["X", "Z"], "track_name": ["t", "u"],
                          "artists": [f"X{SEPARATOR}Y", "Z"], "artist_ids": [f"i1{SEPARATOR}i2", None]})
    stored = _to_arrow(frame)
    assert pa.types.is_list(stored.schema.field("artists").type) and stored.column("artists").to_pylist() == [["X", "Y"], ["Z"]]
    assert stored.column("artist_ids").to_pylist() == [["i1", "i2"], None]
    assert as_read(stored).to_pandas().equals(frame)


def test_a_file_from_before_several_artists_is_read_as_the_migration_reads_the_database():
    old = pa.table({"track_id": ["a", "b", "c"], "artist_name": ["['X', 'Y']", "Z", "[spunge]"], "track_name": ["t", "u", "v"]})
    read = as_read(old).to_pandas()
    assert read["artist_name"].tolist() == ["X", "Z", "[spunge]"]
    assert read["artists"].tolist() == [f"X{SEPARATOR}Y", "Z", "[spunge]"]
    assert list(read.columns) == ["track_id", "artist_name", "track_name", "artists"]


def test_a_catalogue_file_is_written_without_dictionaries_and_reads_back_as_written():
    import io

    import pyarrow.parquet as pq

    from songscope.store.catalogue_parts import _parquet_bytes

    frame = pd.DataFrame({"track_id": ["a", "b", "c"], "artist_name": ["X", "X", "Z"], "track_name": ["t", "u", "t"],
                          "artists": ["X", "X", "Z"], "artist_ids": [None, None, None], "popularity": pd.array([1, None, 3], dtype="Int64")})
    table = _to_arrow(frame)
    data = _parquet_bytes(table)
    metadata = pq.ParquetFile(io.BytesIO(data)).metadata
    encodings = {e for g in range(metadata.num_row_groups) for c in range(metadata.num_columns)
                 for e in metadata.row_group(g).column(c).encodings}
    assert not encodings & {"PLAIN_DICTIONARY", "RLE_DICTIONARY"}
    assert pq.read_table(io.BytesIO(data)).equals(table)
