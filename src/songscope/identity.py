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

_SEPARATOR = "\x1f"  # the ASCII unit separator: cannot occur in a validated name


def _duration_text(durations: pd.Series) -> pd.Series:
    values = pd.to_numeric(durations, errors="coerce")
    whole = values.notna() & (values == values.round())
    text = values.astype(object).map(repr)
    text[whole] = values[whole].astype("int64").astype(str)
    text[values.isna()] = ""
    return text


def near_keys(artist_names: pd.Series, track_names: pd.Series, durations: pd.Series) -> np.ndarray:
    """The near-duplicate key of each row, as signed 64-bit integers (a database BIGINT).

    A missing duration is its own value (two rows without one match each other), as in cleaning.

    Examples
    --------
    >>> keys = near_keys(pd.Series(["A", "A"]), pd.Series(["x", "x"]), pd.Series([1000, 1000.0]))
    >>> bool(keys[0] == keys[1]), keys.dtype.name
    (True, 'int64')
    """
    text = (
        artist_names.astype(str).to_numpy(dtype=object)
        + _SEPARATOR + track_names.astype(str).to_numpy(dtype=object)
        + _SEPARATOR + _duration_text(pd.Series(np.asarray(durations, dtype=object))).to_numpy(dtype=object)
    )
    # SipHash with pandas' fixed key: the same value on every machine and run (a test pins one).
    return pd.util.hash_array(np.asarray(text, dtype=object), categorize=False).view(np.int64)


def same_song(a: tuple[object, object, object], b: tuple[object, object, object]) -> bool:
    """Whether two (artist, track name, duration) triples are the same song under the rule."""
    (artist_a, track_a, duration_a), (artist_b, track_b, duration_b) = a, b
    if str(artist_a) != str(artist_b) or str(track_a) != str(track_b):
        return False
    if pd.isna(duration_a) or pd.isna(duration_b):
        return bool(pd.isna(duration_a) and pd.isna(duration_b))
    return float(duration_a) == float(duration_b)  # type: ignore[arg-type]
