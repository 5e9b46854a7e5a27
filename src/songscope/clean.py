"""Clean: validated rows -> one row per track, with every merge recorded and outliers flagged.

Steps, in order, each counted in the `CleanReport`:

1. **Exact duplicates**: rows equal on every canonical column are one row. Their sources and any
   label columns (genre, playlist, ...) are merged, so a track listed by several files or playlists
   keeps all of them (label values joined with ``|``).
2. **Same track id, conflicting values**: the seed lists 41 ids twice with different popularity.
   Rule: keep the row with the highest popularity (it is the later reading of a rising count; ties
   keep the first row read). The conflict is recorded once per id, with how many rows it
   absorbed and the canonical columns that differ (label columns are merged, never in conflict:
   a song listed once per genre keeps every genre).
3. **Near duplicates** (the seed's rule): same artists (as a set), track name and duration are one song
   released under several ids (single, album, compilation). Same keep rule; recorded.
4. **Loose near duplicates** (optional): the same after normalising names ("- Remastered 2011",
   "(feat. X)", case, punctuation and spaces) with durations within 2 seconds. Reported with
   examples; removed only when asked (``loose=True``), never silently.
5. **Outliers**: flagged by rules (the seed's by default), never dropped.

The rules are decided on each row's keys alone (`row_keys.RowKeys`: id, popularity, near key,
loose key, outlier flags), with the few full rows the records show fetched by number; the tracks
are then made batch by batch (`materialise`). A rule merges only rows that share a key, so the
decisions need only those rows' keys (`decide`'s `rows_of_keys`): an input too big to hold is
cleaned from disk in batches (`backends.batches`, `backends.part_keys`) with the result of one
pass, holding no key of a row that shares none. `clean` is the one-batch case.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from songscope import schema
from songscope.key_groups import first_index_per_key, is_repeated, keep_among, merged_per_group, preference_order, repoint
from songscope.memory import release_freed_memory
from songscope.row_keys import RowKeys, as_batch, row_keys

LABEL_SEPARATOR = "|"
KEEP_RULE = "highest popularity, then first read"


@dataclass
class CleanStep:
    name: str
    rows_before: int
    rows_after: int

    @property
    def removed(self) -> int:
        return self.rows_before - self.rows_after


@dataclass
class CleanReport:
    """Counts at each cleaning step, and what was flagged."""

    steps: list[CleanStep] = field(default_factory=list)
    id_conflicts: int = 0
    loose_candidates: int = 0
    loose_applied: bool = False
    loose_examples: list[dict[str, object]] = field(default_factory=list)
    outlier_rules: dict[str, int] = field(default_factory=dict)
    outliers: int = 0

    @property
    def rows_in(self) -> int:
        return self.steps[0].rows_before if self.steps else 0

    @property
    def rows_out(self) -> int:
        return self.steps[-1].rows_after if self.steps else 0

    def chain(self) -> str:
        """``20,301 -> 15,820 -> 15,779 -> 15,626``: rows after each step."""
        counts = [self.rows_in] + [s.rows_after for s in self.steps]
        return " -> ".join(f"{c:,}" for c in counts)

    def to_dict(self) -> dict[str, object]:
        return {
            "rows_in": self.rows_in,
            "rows_out": self.rows_out,
            "steps": [
                {"name": s.name, "rows_before": s.rows_before, "rows_after": s.rows_after, "removed": s.removed}
                for s in self.steps
            ],
            "id_conflicts": self.id_conflicts,
            "loose_candidates": self.loose_candidates,
            "loose_applied": self.loose_applied,
            "loose_examples": self.loose_examples,
            "outlier_rules": self.outlier_rules,
            "outliers": self.outliers,
        }


@dataclass
class CleanResult:
    """The clean tracks and the record of everything cleaning decided.

    tracks : one row per track: canonical columns, label columns, ``is_outlier``, ``outlier_rules``.
    provenance : (track_id, source, line) for every input row, pointing at the track it became.
    duplicates : (rule, kept_track_id, dropped_track_id, detail, dropped_rows) for every merge of
        distinct rows (the rows one track id absorbed are one record, counted).
    loose_candidates : pairs the loose rule matched (applied only when asked).
    near_keys : `identity.near_keys` of `tracks`, row for row (computed for the near-duplicate
        step; the database stores them to find the same songs in later ingests).
    """

    tracks: pd.DataFrame
    provenance: pd.DataFrame
    duplicates: pd.DataFrame
    loose_candidates: pd.DataFrame
    report: CleanReport
    near_keys: np.ndarray | None = None


DUPLICATE_COLUMNS = ["rule", "kept_track_id", "dropped_track_id", "detail", "dropped_rows"]


#: Rows by their number in the whole input (read order), with the columns named, as a frame
#: indexed by those numbers.
FetchRows = Callable[[np.ndarray, list[str]], pd.DataFrame]


@dataclass(frozen=True)
class OtherRows:
    """The rows of an input that `decide` is not given because they share no key with another
    row (`backends.part_keys`): each is kept as it is, and only counted in the report."""

    count: int
    #: How many of them each outlier rule flags, and how many any rule flags.
    outliers: np.ndarray
    outlier_rows: int


@dataclass(frozen=True)
class Decisions:
    """What cleaning decided for the rows of an input (`decide`): the rows kept, the row that each
    row became, and the records of every merge. The decided rows are every row, or (`rows`) those
    that share a key with another; any other row is kept as it is (`alive_in`, `became`)."""

    #: Columns of the tracks: the carried canonical columns, then the label columns.
    canonical: list[str]
    label_columns: list[str]
    #: The decided rows' numbers in the whole input (rising), or None: every row, in order.
    rows: np.ndarray | None
    #: The decided rows' track ids, whether each is kept, and the decided row (by its position
    #: among them) that each became.
    track_ids: pa.Array
    alive: np.ndarray
    representative: np.ndarray
    duplicates: pd.DataFrame
    loose_candidates: pd.DataFrame
    report: CleanReport
    #: The joined labels (`_merge_labels`) of every track that absorbed other rows, indexed by its
    #: row's number in the whole input.
    merged_labels: pd.DataFrame
    rule_names: tuple[str, ...]

    def _positions(self, first: int, count: int) -> tuple[int, int]:
        """Where the decided rows among the input's rows `first` to `first + count` lie."""
        if self.rows is None:
            return first, first + count
        low, high = np.searchsorted(self.rows, [first, first + count])
        return int(low), int(high)

    def alive_in(self, first: int, count: int) -> np.ndarray:
        """Whether each of the input's rows `first` to `first + count` is kept."""
        low, high = self._positions(first, count)
        if self.rows is None:
            return self.alive[low:high]
        alive = np.ones(count, dtype=bool)
        alive[self.rows[low:high] - first] = self.alive[low:high]
        return alive

    def became(self, first: int, own_ids: pa.Array) -> pa.Array:
        """The track id that each of the input's rows from `first` became; `own_ids` are theirs."""
        low, high = self._positions(first, len(own_ids))
        targets = self.representative[low:high]
        if self.rows is None:
            return self.track_ids.take(pa.array(targets, type=pa.int64()))
        moved = np.flatnonzero(targets != np.arange(low, high))
        if not len(moved):
            return own_ids
        order = np.arange(len(own_ids))
        order[self.rows[low:high][moved] - first] = len(own_ids) + np.arange(len(moved))
        joined = pa.concat_arrays([own_ids, self.track_ids.take(pa.array(targets[moved], type=pa.int64()))])
        return joined.take(pa.array(order, type=pa.int64()))


def decide(keys: RowKeys, columns: list[str], fetch: FetchRows, *, loose: bool = False,
           outlier_rules: tuple[schema.OutlierRule, ...] = schema.SEED_OUTLIER_RULES,
           rows_of_keys: np.ndarray | None = None, others: OtherRows | None = None) -> Decisions:
    """Every cleaning decision (the module docstring's rules), made on the keys of an input whose
    batches' `columns` are joined; `fetch` gives the few full rows that the records show (the
    values that conflict, the loose examples, the labels merged).

    `keys` are those of every row, or of the rows numbered `rows_of_keys` (rising) in the input,
    which must hold every row that shares a key with another; the rest are `others`."""
    report = CleanReport()
    canonical = schema.carried_columns(columns)
    label_columns = [c for c in columns if c not in schema.STORED_COLUMNS and c not in (schema.SOURCE_COLUMN, schema.LINE_COLUMN)]
    if rows_of_keys is not None:
        numbered, whole_fetch = rows_of_keys, fetch

        def fetch(positions: np.ndarray, names: list[str]) -> pd.DataFrame:
            return whole_fetch(numbered[positions], names).set_axis(positions)

    others = others or OtherRows(0, np.zeros(len(outlier_rules), dtype=np.int64), 0)
    rows = len(keys)
    duplicates: list[pd.DataFrame] = []
    ids = keys.track_ids

    # 1. exact duplicates. Rows equal on every column share their track id, so only rows whose
    # id repeats need the whole-row comparison (in most catalogues, few or none). This step and
    # the next work on those rows alone: arrays of every row, with the sort and hash tables that
    # made them, were most of deciding's peak (about 2.5 GB at 10M rows).
    repeated = np.flatnonzero(is_repeated(keys.id_hashes))  # a hash that repeats: the id, or (rarely) another id's hash
    id_codes = _id_codes(keys, repeated)
    repeated_rows = fetch(repeated, canonical) if len(repeated) else None  # labels are merged, not compared
    representative = np.arange(rows)
    alive = np.ones(rows, dtype=bool)
    if repeated_rows is not None:
        key = pd.util.hash_pandas_object(repeated_rows, index=False).to_numpy()
        representative[repeated] = repeated[first_index_per_key(key)]
        alive[repeated] = representative[repeated] == repeated
    report.steps.append(CleanStep("exact duplicates", rows + others.count, int(alive.sum()) + others.count))

    # 2. same track id with different values (again only among repeated ids)
    remaining = alive[repeated]
    contested, contested_codes = repeated[remaining], id_codes[remaining]
    shared = is_repeated(contested_codes)
    contested, contested_codes = contested[shared], contested_codes[shared]
    ranks = preference_order(keys.popularity[contested])
    kept_for_id = keep_among(contested_codes, ranks, contested)
    conflicts = kept_for_id != contested
    if conflicts.any():
        dropped, kept = contested[conflicts], kept_for_id[conflicts]
        by_preference = np.argsort(ranks[conflicts], kind="stable")
        dropped, kept = dropped[by_preference], kept[by_preference]
        details = describe_conflicts(repeated_rows, kept, dropped)
        # One record per track id, however many rows it absorbed (they share its id).
        duplicates.append(counted_conflicts(_duplicate_rows("same track_id, conflicting values", ids, kept, dropped, details)))
        report.id_conflicts = int(len(np.unique(contested_codes[conflicts])))
        representative = repoint(representative, dropped, kept)
        alive[dropped] = False
    del id_codes, remaining, contested, contested_codes, shared, ranks, kept_for_id, conflicts
    report.steps.append(CleanStep("same track_id", report.steps[-1].rows_after, int(alive.sum()) + others.count))

    # 3. near duplicates: same artist, track name and duration (every row's key as it is, where
    # every row is still there: most inputs)
    alive_idx = None if alive.all() else np.flatnonzero(alive)
    dropped, kept = merged_per_group(keys.near_keys if alive_idx is None else keys.near_keys[alive_idx], keys.popularity, alive_idx)
    del alive_idx
    if len(dropped):
        duplicates.append(_duplicate_rows("same artist, track name and duration", ids, kept, dropped, ["" for _ in dropped]))
        representative = repoint(representative, dropped, kept)
        alive[dropped] = False
    report.steps.append(CleanStep("same artist, track name and duration", report.steps[-1].rows_after, int(alive.sum()) + others.count))

    # 4. loose near duplicates on normalised names
    loose_pairs = _loose_pairs(keys, np.flatnonzero(alive))
    report.loose_candidates = len(loose_pairs)
    shown = (fetch(np.unique(np.array(loose_pairs, dtype=np.int64).reshape(-1)), ["track_id", "artist_name", "track_name", "duration_ms"])
             if loose_pairs else None)
    report.loose_examples = [
        {
            "kept": f"{shown.at[k, 'artist_name']} - {shown.at[k, 'track_name']} ({format_minutes(shown.at[k, 'duration_ms'])})",
            "dropped": f"{shown.at[d, 'artist_name']} - {shown.at[d, 'track_name']} ({format_minutes(shown.at[d, 'duration_ms'])})",
        }
        for k, d in loose_pairs[:10]
    ]
    if loose and loose_pairs:
        kept = np.array([k for k, _ in loose_pairs])
        dropped = np.array([d for _, d in loose_pairs])
        duplicates.append(_duplicate_rows("loose: normalised names, duration within 2 s", ids, kept, dropped, ["" for _ in dropped]))
        representative = repoint(representative, dropped, kept)
        alive[dropped] = False
        report.loose_applied = True
        report.steps.append(CleanStep("loose near duplicates", report.steps[-1].rows_after, int(alive.sum()) + others.count))
    loose_frame = _loose_candidates(shown, loose_pairs)

    # 5. outliers, flagged on the rows kept (a merged track keeps its row's values)
    kept_flags = keys.outliers[alive]
    report.outlier_rules = {rule.name: int(kept_flags[:, i].sum() + others.outliers[i]) for i, rule in enumerate(outlier_rules)}
    report.outliers = int(kept_flags.any(axis=1).sum()) + others.outlier_rows

    # Labels of the tracks that absorbed other rows, joined: the only labels not on the kept row.
    absorbing = np.flatnonzero(np.bincount(representative, minlength=rows)[representative] > 1) if rows else np.empty(0, dtype=np.int64)
    merged_labels = pd.DataFrame(columns=label_columns)
    if label_columns and len(absorbing):
        merged_labels = _merge_labels(fetch(absorbing, label_columns), representative[absorbing], label_columns)
        if rows_of_keys is not None:
            merged_labels = merged_labels.set_axis(rows_of_keys[merged_labels.index.to_numpy(dtype=np.int64)])
    dup_frame = pd.concat(duplicates, ignore_index=True) if duplicates else pd.DataFrame(columns=DUPLICATE_COLUMNS)
    return Decisions(canonical=canonical, label_columns=label_columns, rows=rows_of_keys, track_ids=ids, alive=alive,
                     representative=representative, duplicates=dup_frame, loose_candidates=loose_frame, report=report,
                     merged_labels=merged_labels, rule_names=tuple(rule.name for rule in outlier_rules))


def materialise(batch: pd.DataFrame, first_row: int, outliers: np.ndarray, near_keys: np.ndarray,
                decisions: Decisions) -> tuple[pd.DataFrame, np.ndarray]:
    """The tracks one batch (`as_batch`) gives, whose rows are numbered from `first_row` in the
    whole input and have those `outliers` flags and `near_keys` (`RowKeys`), and their near keys."""
    alive = decisions.alive_in(first_row, len(batch))
    # Column by column into a frame that keeps them apart: selecting rows of the whole frame, then
    # adding the outlier columns, copied every column twice more (about 900 MB at a million rows).
    kept_rows = np.flatnonzero(alive)
    # Nothing merged: the columns as read, shared with the input (neither is changed in place), not
    # a copy of every row (about 400 MB at a million rows, at the ingest's peak).
    kept = (lambda column: column) if len(kept_rows) == len(batch) else (lambda column: column.take(kept_rows))

    # Labels: a track that absorbed other rows has them all, joined (`decide`); any other, its own.
    absorbing = np.flatnonzero(np.isin(kept_rows + first_row, decisions.merged_labels.index)) if len(decisions.merged_labels) else []

    def column(name: str):
        if name not in batch:  # a label only another file has
            return np.full(len(kept_rows), None, dtype=object)
        values = kept(batch[name].array)
        if name in decisions.label_columns and len(decisions.merged_labels):
            values = np.asarray(values, dtype=object)
            values[absorbing] = decisions.merged_labels[name].reindex(kept_rows[absorbing] + first_row).to_numpy(dtype=object)
        return values

    tracks = pd.DataFrame({c: column(c) for c in decisions.canonical + decisions.label_columns}, index=pd.RangeIndex(len(kept_rows)),
                          copy=False)
    flags = outliers[alive]
    for name, values in (("is_outlier", flags.any(axis=1)), ("outlier_rules", _rule_names(flags, decisions.rule_names))):
        if name in tracks:  # flagged before (rows read back from a catalogue): flagged again, in place
            tracks[name] = values
        else:
            tracks.insert(len(tracks.columns), name, values)
    return tracks, near_keys[alive]


def provenance_of(first_row: int, sources, keys: RowKeys, decisions: Decisions) -> pd.DataFrame:
    """(track_id, source, line) of the input's rows from `first_row`, whose keys are `keys` (and
    whose source is `sources`: one for all, or one each), pointing at the track each became. A
    row read twice (the same source and line) is credited once."""
    lines = keys.lines
    provenance = pd.DataFrame(
        {
            # As Arrow's text: no Python string per row (about 80 MB at a million rows).
            "track_id": pd.arrays.ArrowExtensionArray(decisions.became(first_row, keys.track_ids)),
            schema.SOURCE_COLUMN: sources,
            schema.LINE_COLUMN: lines,
        }
    )
    # One source whose lines only rise, as a file is read, repeats no row: the search for
    # repeated rows (0.35 s at a million, on the ingest's critical path) would find none.
    read_once = np.ndim(sources) == 0 and bool(np.all(np.diff(lines) > 0))
    return provenance if read_once else provenance.drop_duplicates(ignore_index=True)


def clean(
    frame: pd.DataFrame,
    *,
    outlier_rules: tuple[schema.OutlierRule, ...] = schema.SEED_OUTLIER_RULES,
    loose: bool = False,
) -> CleanResult:
    """Deduplicate validated rows and flag outliers; see the module docstring for the rules. The
    input is one batch (`row_keys`, `decide`, `materialise`); an ingest too big to hold is cleaned
    in many (`backends.batches`), with the same result.

    Examples
    --------
    >>> from songscope.ingest import read_sources
    >>> from songscope.seed import seed_paths
    >>> result = clean(read_sources(seed_paths()).frame)
    >>> result.report.chain(), result.report.outliers
    ('20,301 -> 15,820 -> 15,779 -> 15,626', 609)
    """
    work = as_batch(frame)
    keys = row_keys(work, outlier_rules)
    decisions = decide(keys, list(work.columns), lambda rows, columns: work.iloc[rows, work.columns.get_indexer(columns)].set_axis(rows),
                       loose=loose, outlier_rules=outlier_rules)
    tracks, track_keys = materialise(work, 0, keys.outliers, keys.near_keys, decisions)
    provenance = provenance_of(0, work[schema.SOURCE_COLUMN].to_numpy(), keys, decisions)
    release_freed_memory()  # what the name rules' Arrow buffers held
    return CleanResult(tracks=tracks, provenance=provenance, duplicates=decisions.duplicates, loose_candidates=decisions.loose_candidates,
                       report=decisions.report, near_keys=track_keys)


# ----------------------------------------------------------------------------------------- helpers


def format_minutes(duration_ms: object) -> str:
    """``3:14`` for 194000 ms."""
    seconds = int(round(float(duration_ms) / 1000))  # type: ignore[arg-type]
    return f"{seconds // 60}:{seconds % 60:02d}"


def _rule_names(flags: np.ndarray, rules: tuple[str, ...]) -> np.ndarray:
    names = np.full(len(flags), "", dtype=object)
    for i, rule in enumerate(rules):
        hit = flags[:, i]
        names[hit] = np.where(names[hit] == "", rule, names[hit] + "; " + rule)
    return names


def _id_codes(keys: RowKeys, rows: np.ndarray) -> np.ndarray:
    """A number for the track id of each of `rows`, the same for the same id: by the ids
    themselves, so a collision of their hashes never joins two ids."""
    if not len(rows):
        return np.empty(0, dtype=np.int64)
    return pc.dictionary_encode(keys.track_ids.take(pa.array(rows))).indices.to_numpy(zero_copy_only=False).astype(np.int64)


#: Between the details of the rows one record counts.
DETAIL_SEPARATOR = " | "


def counted_conflicts(rows: pd.DataFrame) -> pd.DataFrame:
    """Per-row conflict records (in order of preference) as one record per (rule, kept, dropped),
    in order of first appearance: ``dropped_rows`` counts the rows, ``detail`` joins their
    distinct details in that order. Only records of several rows are joined one by one (a pandas
    aggregation called a Python function for every record: 0.57 s for 100,000)."""
    codes = rows.groupby(["rule", "kept_track_id", "dropped_track_id"], sort=False).ngroup().to_numpy()  # 0, 1, ... as they appear
    _, first, counts = np.unique(codes, return_index=True, return_counts=True)
    details = rows["detail"].to_numpy(dtype=object)
    joined = np.array([d if d else "" for d in details[first].tolist()], dtype=object)
    several = np.flatnonzero(counts > 1)
    if len(several):
        by_record = np.argsort(codes, kind="stable")  # each record's rows together, in order
        ends = np.cumsum(counts)
        for record in several.tolist():
            own = details[by_record[ends[record] - counts[record] : ends[record]]]
            joined[record] = DETAIL_SEPARATOR.join(dict.fromkeys(d for d in own.tolist() if d))
    firsts = rows.iloc[first]
    return pd.DataFrame({"rule": firsts["rule"].to_numpy(), "kept_track_id": firsts["kept_track_id"].to_numpy(),
                         "dropped_track_id": firsts["dropped_track_id"].to_numpy(), "detail": joined, "dropped_rows": counts},
                        columns=DUPLICATE_COLUMNS)


def describe_conflicts(rows: pd.DataFrame, kept: np.ndarray, dropped: np.ndarray) -> list[str]:
    """How each dropped row differs from the row kept in its place (rows of `rows` by index
    label, pairwise), column by column: ``popularity: kept 57, dropped 56; ...``. Two missing
    values are equal, and missing never equals a value.

    Column by column over all the pairs, then worded only where they differ: a pandas row per
    pair, compared value by value, cost about 300 us a pair (100,000 conflicting rows: 29 s)."""
    details: list[list[str]] = [[] for _ in range(len(kept))]
    for column in rows.columns:
        values = rows[column]
        kept_values = values.loc[kept].to_numpy(dtype=object)
        dropped_values = values.loc[dropped].to_numpy(dtype=object)
        kept_missing, dropped_missing = pd.isna(kept_values), pd.isna(dropped_values)
        both = ~kept_missing & ~dropped_missing
        differ = kept_missing != dropped_missing
        differ[both] = kept_values[both] != dropped_values[both]
        for pair in np.flatnonzero(differ).tolist():
            details[pair].append(f"{column}: kept {kept_values[pair]}, dropped {dropped_values[pair]}")
    return ["; ".join(parts) for parts in details]


def _duplicate_rows(rule: str, ids: pa.Array, kept: np.ndarray, dropped: np.ndarray, details: list[str]) -> pd.DataFrame:
    def of(rows: np.ndarray) -> np.ndarray:
        return ids.take(pa.array(rows, type=pa.int64())).to_numpy(zero_copy_only=False)

    return pd.DataFrame(
        {"rule": rule, "kept_track_id": of(kept), "dropped_track_id": of(dropped), "detail": details, "dropped_rows": 1},
        columns=DUPLICATE_COLUMNS,
    )


def _merge_labels(labels: pd.DataFrame, representative: np.ndarray, label_columns: list[str]) -> pd.DataFrame:
    """Every label value of the rows each track absorbed (`labels`, in order read, with the row
    each became), unique, in order read, joined with ``|``: indexed by the track's row, in the
    order each first appears.

    One pass over the values in plain lists: a pandas aggregation called a Python function for
    every track and column, about 100 us each (TidyTuesday's 32,833 songs, 7 label columns:
    2.9 s of its 3.5 s of cleaning)."""
    tracks = representative.tolist()
    order = list(dict.fromkeys(tracks))
    merged = {}
    for column in label_columns:
        values = labels[column]
        present = values.notna().to_numpy()
        parts: dict[int, dict[str, None]] = {track: {} for track in order}
        for track, value, there in zip(tracks, values.tolist(), present.tolist()):
            if there:
                seen = parts[track]
                for part in str(value).split(LABEL_SEPARATOR):
                    if part != "":
                        seen[part] = None
        merged[column] = [LABEL_SEPARATOR.join(seen) if seen else None for seen in parts.values()]
    return pd.DataFrame(merged, index=pd.Index(order, dtype=np.int64), columns=label_columns)


def _loose_candidates(shown: pd.DataFrame | None, pairs: list[tuple[int, int]]) -> pd.DataFrame:
    """The loose rule's report: each (kept, candidate) pair of rows of `shown` (indexed by row)
    by id and ``artist - title``. Values are looked up a column at a time (four lookups of a
    cell a pair cost about 2 s for 150,000 pairs)."""
    columns = ["kept_track_id", "kept", "candidate_track_id", "candidate"]
    if not pairs:
        return pd.DataFrame([], columns=columns)
    out = {}
    for side, rows in (("kept", [k for k, _ in pairs]), ("candidate", [d for _, d in pairs])):
        of = shown.loc[rows]
        out[f"{side}_track_id"] = of["track_id"].tolist()
        out[side] = [f"{artist} - {title}" for artist, title in zip(of["artist_name"].tolist(), of["track_name"].tolist())]
    return pd.DataFrame(out, columns=columns)


def _loose_pairs(keys: RowKeys, alive_idx: np.ndarray) -> list[tuple[int, int]]:
    """(kept, candidate) row pairs: same normalised artist and title, durations within 2 s."""
    rows = alive_idx[keys.loose_named[alive_idx]]
    loose = keys.loose_keys[rows]
    shared = is_repeated(loose)
    rows = rows[shared]  # only names that more than one row has can pair (few of all)
    if not len(rows):
        return []
    sub = pd.DataFrame({"row": rows, "duration": keys.durations[rows], "rank": preference_order(keys.popularity[rows]), "key": loose[shared]})
    pairs = []
    for _, group in sub.sort_values("rank").groupby("key", sort=False):
        pairs += loose_matches(group["row"].to_numpy(), group["duration"].to_numpy())
    return sorted(pairs)


def loose_matches(rows: np.ndarray, durations: np.ndarray) -> list[tuple[int, int]]:
    """Within one group of the same normalised artist and title, its rows in order of preference:
    (kept, candidate) for each row whose duration is within 2 s of a row kept before it."""
    kept_rows: list[tuple[int, float]] = []
    pairs = []
    for row, duration in zip(rows, durations):
        match = next((k for k, d in kept_rows if abs(d - duration) <= 2000), None)
        if match is None:
            kept_rows.append((int(row), float(duration)))
        else:
            pairs.append((match, int(row)))
    return pairs


def read_and_clean(
    sources,
    *,
    encoding: str = "utf-8",
    delimiter: str = ",",
    s3_endpoint: str | None = None,
    outlier_rules: tuple[schema.OutlierRule, ...] = schema.SEED_OUTLIER_RULES,
    loose: bool = False,
    progress=None,
):
    """Read and validate `sources` (paths, folders, globs, ``s3://`` URLs), then clean them:
    returns the `ingest.IngestResult` (with its rejected rows) and the `CleanResult`.

    Examples
    --------
    >>> from songscope.seed import seed_paths
    >>> read, cleaned = read_and_clean(seed_paths())
    >>> read.rows_read, len(cleaned.tracks)
    (20301, 15626)
    """
    from songscope.ingest import read_sources

    read = read_sources(sources, encoding=encoding, delimiter=delimiter, s3_endpoint=s3_endpoint, progress=progress)
    if progress:
        progress(f"cleaning {len(read.frame):,} valid rows")
    return read, clean(read.frame, outlier_rules=outlier_rules, loose=loose)
