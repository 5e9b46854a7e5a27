"""The keys cleaning decides on (`RowKeys`), computed for each batch of validated rows as it is
read (`row_keys`): the rules of `clean` need these and nothing more of a row, so a big input's
rows can wait on disk while every row's keys are held."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from songscope import schema
from songscope.artists import set_keys
from songscope.identity import near_keys, text_hashes
from songscope.normalise import name_keys
from songscope.textcolumns import arrow_strings, held_by_arrow

_MULTIPLIER = np.uint64(0x9E3779B97F4A7C15)  # odd: multiplying by it is a bijection on 64-bit words


def _mixed(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """One 64-bit hash of two."""
    with np.errstate(over="ignore"):
        key = (a * _MULTIPLIER) ^ b
        return key ^ (key >> np.uint64(29))



@dataclass(frozen=True)
class RowKeys:
    """What cleaning decides on, for every row of a batch (`row_keys`), and nothing more: the
    decisions need only these (`decide`), so a big input's rows can wait on disk while they are
    made. Batches' keys are joined with `RowKeys.concat`, rows numbered in the order read."""

    track_ids: pa.Array  # large_string
    #: `identity.text_hashes` of the ids: rows are compared by these first, and by the ids
    #: themselves only where a hash repeats.
    id_hashes: np.ndarray
    #: Popularity, -1 where missing (the keep rule's first criterion).
    popularity: np.ndarray
    durations: np.ndarray  # milliseconds, NaN where missing
    near_keys: np.ndarray  # `identity.near_keys`
    #: The loose rule's normalised artist and title, as one 64-bit hash (`normalise.name_keys`); a row with
    #: either normalised name empty or missing has `loose_named` False and matches nothing.
    loose_keys: np.ndarray
    loose_named: np.ndarray
    #: One column per outlier rule, in order: whether the row matches it.
    outliers: np.ndarray
    #: Each row's line in its source (`schema.LINE_COLUMN`).
    lines: np.ndarray

    def __len__(self) -> int:
        return len(self.popularity)

    def take(self, rows: np.ndarray) -> RowKeys:
        """The keys of `rows` (numbers among these), in that order."""
        return RowKeys(track_ids=self.track_ids.take(pa.array(rows, type=pa.int64())),
                       **{name: getattr(self, name)[rows] for name in _NUMBERS})

    def slice(self, start: int, stop: int) -> RowKeys:
        """The keys of rows `start` to `stop`: views of these, not copies."""
        return RowKeys(track_ids=self.track_ids.slice(start, stop - start), **{name: getattr(self, name)[start:stop] for name in _NUMBERS})

    @staticmethod
    def concat(parts: list[RowKeys]) -> RowKeys:
        if len(parts) == 1:
            return parts[0]
        return RowKeys(
            track_ids=pa.concat_arrays([p.track_ids for p in parts]),
            **{name: np.concatenate([getattr(p, name) for p in parts]) for name in _NUMBERS},
        )


#: The fields of `RowKeys` held as numpy arrays, a row each.
_NUMBERS = ("id_hashes", "popularity", "durations", "near_keys", "loose_keys", "loose_named", "outliers", "lines")


def as_batch(frame: pd.DataFrame) -> pd.DataFrame:
    """A validated frame as cleaning reads it: rows numbered from 0, and an artists' set (a frame not
    made by `ingest.validate` has one artist a song)."""
    plain_index = isinstance(frame.index, pd.RangeIndex) and frame.index.start == 0 and frame.index.step == 1
    work = frame if plain_index else frame.reset_index(drop=True)
    if "artists" not in work:
        work = work.assign(artists=work["artist_name"], **({} if "artist_ids" in work else {"artist_ids": None}))
    return work


def row_keys(batch: pd.DataFrame, outlier_rules: tuple[schema.OutlierRule, ...] = schema.SEED_OUTLIER_RULES) -> RowKeys:
    """The keys of every row of a batch (`as_batch`)."""
    ids = batch["track_id"]
    artists, artist_named = name_keys(batch["artist_name"])
    titles, title_named = name_keys(batch["track_name"])
    flags = flag_outliers(batch, outlier_rules)
    return RowKeys(
        # Large strings: one type for every batch's ids, however many bytes they come to.
        track_ids=pc.cast(arrow_strings(ids) if held_by_arrow(ids) else pa.array(ids.astype(object), from_pandas=True), pa.large_string()),
        id_hashes=text_hashes(ids),
        popularity=batch["popularity"].astype("Float64").fillna(-1).to_numpy(dtype=float),
        durations=batch["duration_ms"].to_numpy(dtype=float, na_value=np.nan),
        # Keyed row by row: cheaper than a copy of the three columns of the rows left after the merges.
        near_keys=near_keys(set_keys(batch["artists"]), batch["track_name"], batch["duration_ms"]),
        loose_keys=_mixed(artists, titles), loose_named=artist_named & title_named,
        outliers=flags.to_numpy(dtype=bool).reshape(len(batch), len(outlier_rules)),
        lines=batch[schema.LINE_COLUMN].to_numpy(dtype=np.int64),
    )


def flag_outliers(tracks: pd.DataFrame, rules: tuple[schema.OutlierRule, ...]) -> pd.DataFrame:
    """One boolean column per rule (named like ``tempo < 1``); a missing value never matches."""
    ops = {"<": np.less, "<=": np.less_equal, ">": np.greater, ">=": np.greater_equal}
    flags = {}
    for rule in rules:
        values = pd.to_numeric(tracks[rule.column], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        with np.errstate(invalid="ignore"):
            flags[rule.name] = ops[rule.op](values, rule.threshold) & ~np.isnan(values)
    return pd.DataFrame(flags, index=tracks.index)
