"""When two rows are one song: the near-duplicate key, one definition for every place that asks.

The seed's rule: the same artist, track name and duration are one song released under several
ids (single, album, compilation). Cleaning applies it within one ingest; the database applies it
across ingests through an indexed 64-bit key, so a later ingest is checked without loading the
catalogue. A key match is always confirmed on the values themselves (see `same_song`), so a
hash collision can never merge two songs.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from songscope.textcolumns import arrow_strings, held_by_arrow, utf8_buffers

_MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)  # odd: multiplying by it is a bijection on 64-bit words
_NO_DURATION = -1.0  # durations are validated positive: this stands for a missing one


def text_hashes(values, *, repeated: bool = False) -> np.ndarray:
    """A 64-bit hash of each text (SipHash with pandas' fixed key, over the UTF-8 text: the same on
    every machine and run); a missing text hashes to the largest word. Texts most of which are
    `repeated` (artists' names) are hashed once each (1,000,000 rows of 42,338 artists: 0.04 s
    against 0.14 s), others each where it stands (finding the distinct ones would cost more)."""
    if not held_by_arrow(values):
        # Each text hashed where it stands: pandas' categorize=True finds the distinct texts as C
        # strings, so "" and "\x00" (any two texts equal up to a NUL) got one hash, where Arrow's have two.
        objects = np.asarray(values, dtype=object)
        missing = pd.isna(objects)
        result = pd.util.hash_array(np.where(missing, "", objects), categorize=False)
        result[missing] = np.iinfo(np.uint64).max
        return result
    # pandas' hash of each text, from Arrow's bytes (`_text_hash`): no Python string for every row.
    import pyarrow.compute as pc

    from songscope._text_hash import pandas_text_hashes

    text = arrow_strings(values)
    if repeated:
        encoded = pc.dictionary_encode(text)
        codes = pc.fill_null(encoded.indices, 0).to_numpy(zero_copy_only=False)
        hashed = pandas_text_hashes(*utf8_buffers(encoded.dictionary))
        result = hashed[codes] if len(hashed) else np.zeros(len(text), dtype=np.uint64)
    else:
        result = pandas_text_hashes(*utf8_buffers(text))
    if text.null_count:
        result[text.is_null().to_numpy(zero_copy_only=False)] = np.iinfo(np.uint64).max
    return result


def near_keys(artist_names: pd.Series, track_names: pd.Series, durations: pd.Series) -> np.ndarray:
    """The near-duplicate key of each row, as signed 64-bit integers (a database BIGINT).

    Each column is hashed on its own (names as text, the duration as a number, so 200000 and
    200000.0 agree) and the three are mixed. A missing duration is its own value (two rows
    without one match each other), as in cleaning.

    Examples
    --------
    >>> keys = near_keys(pd.Series(["A", "A"]), pd.Series(["x", "x"]), pd.Series([1000, 1000.0]))
    >>> bool(keys[0] == keys[1]), keys.dtype.name
    (True, 'int64')
    """
    duration = _as_numbers(durations)
    duration = np.where(np.isnan(duration), _NO_DURATION, duration) + 0.0  # one NaN, and -0.0 is 0.0
    with np.errstate(over="ignore"):
        key = text_hashes(artist_names, repeated=True)
        key = (key ^ text_hashes(track_names)) * _MULTIPLIER
        key = (key ^ pd.util.hash_array(duration)) * _MULTIPLIER
        key ^= key >> np.uint64(29)
    return key.view(np.int64)


def _as_numbers(durations) -> np.ndarray:
    """Durations as float64, NaN where missing or not a number. A numeric column is read as it is
    (through Python objects, a million rows cost 0.1 s); anything else number by number."""
    if isinstance(durations, pd.Series | pd.api.extensions.ExtensionArray | np.ndarray) and durations.dtype.kind in "iuf":
        return durations.to_numpy(dtype=float, na_value=np.nan) if not isinstance(durations, np.ndarray) else durations.astype(float)
    return pd.to_numeric(pd.Series(np.asarray(durations, dtype=object)), errors="coerce").to_numpy(dtype=float, na_value=np.nan)


def same_song(a: tuple[object, object, object], b: tuple[object, object, object]) -> bool:
    """Whether two (artist, track name, duration) triples are the same song under the rule."""
    (artist_a, track_a, duration_a), (artist_b, track_b, duration_b) = a, b
    if str(artist_a) != str(artist_b) or str(track_a) != str(track_b):
        return False
    if pd.isna(duration_a) or pd.isna(duration_b):
        return bool(pd.isna(duration_a) and pd.isna(duration_b))
    return float(duration_a) == float(duration_b)  # type: ignore[arg-type]
