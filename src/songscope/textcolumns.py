"""Text columns held in pandas as Arrow-backed strings (`TEXT`), from the file to the stores and
back: ids and names stay in Arrow's buffers rather than becoming one Python object a cell (a
million songs' ids and names: about 70 MB, against about 300 MB as Python strings)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

#: The pandas type of every text column songscope reads.
TEXT = pd.StringDtype("pyarrow")


def arrow_text(arrow_type: pa.DataType) -> pd.api.extensions.ExtensionDtype | None:
    """`pa.Table.to_pandas`'s ``types_mapper``: `TEXT` for Arrow's strings, the default otherwise."""
    return TEXT if pa.types.is_string(arrow_type) or pa.types.is_large_string(arrow_type) else None


def text_array(values: pa.Array | pa.ChunkedArray) -> pd.api.extensions.ExtensionArray:
    """An Arrow string array as a pandas `TEXT` array, its buffers shared."""
    return values.to_pandas(types_mapper=arrow_text).array


def arrow_strings(values: object) -> pa.Array:
    """The Arrow strings of `values` (an Arrow array or a pandas column backed by one) as one
    array: a column made of several files' comes in chunks, which not every kernel takes."""
    values = values if isinstance(values, (pa.Array, pa.ChunkedArray)) else pa.array(values)
    return values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values


def utf8_buffers(values: object) -> tuple[np.ndarray, np.ndarray]:
    """The UTF-8 bytes of Arrow strings (`arrow_strings`) end to end, as a uint8 view of Arrow's
    buffer, and where each string starts in them (one offset more than strings, the first 0)."""
    text = arrow_strings(values).cast(pa.large_string())
    _, offsets_buffer, data_buffer = text.buffers()
    if offsets_buffer is None:  # an empty array may have none
        return np.zeros(0, dtype=np.uint8), np.zeros(1, dtype=np.int64)
    offsets = np.frombuffer(offsets_buffer, dtype=np.int64)[text.offset : text.offset + len(text) + 1]
    data = np.zeros(0, dtype=np.uint8) if data_buffer is None else np.frombuffer(data_buffer, dtype=np.uint8)[offsets[0] : offsets[-1]]
    return data, offsets - offsets[0]


def words_at(data: np.ndarray, byte_order: str) -> np.ndarray:
    """The 8 bytes from every position of `data` (`utf8_buffers`' bytes) as one unsigned word, in
    `byte_order` (``"<"`` or ``">"``): ``words_at(data, o)[i]`` is ``data[i:i + 8]`` read as one
    word, the bytes past the end zeros. A view of one padded copy of the bytes, so that each text's
    words are read by indexing, without a copy per word."""
    padded = np.zeros(len(data) + 8, dtype=np.uint8)
    padded[: len(data)] = data
    return np.ndarray(shape=(len(data) + 1,), dtype=f"{byte_order}u8", buffer=padded, strides=(1,))


def held_by_arrow(values: object) -> bool:
    """Whether `values` are Arrow strings: an Arrow array, or a pandas column backed by one."""
    if isinstance(values, (pa.Array, pa.ChunkedArray)):
        return True
    dtype = getattr(values, "dtype", None)
    return isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow"
