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
"""

from __future__ import annotations

import os
import unicodedata
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from songscope import schema
from songscope.artists import set_keys
from songscope.identity import near_keys
from songscope.memory import release_freed_memory
from songscope.textcolumns import arrow_strings, held_by_arrow

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


def clean(
    frame: pd.DataFrame,
    *,
    outlier_rules: tuple[schema.OutlierRule, ...] = schema.SEED_OUTLIER_RULES,
    loose: bool = False,
) -> CleanResult:
    """Deduplicate validated rows and flag outliers; see the module docstring for the rules.

    Examples
    --------
    >>> from songscope.ingest import read_sources
    >>> from songscope.seed import seed_paths
    >>> result = clean(read_sources(seed_paths()).frame)
    >>> result.report.chain(), result.report.outliers
    ('20,301 -> 15,820 -> 15,779 -> 15,626', 609)
    """
    report = CleanReport()
    label_columns = [
        c for c in frame.columns
        if c not in schema.STORED_COLUMNS and c not in (schema.SOURCE_COLUMN, schema.LINE_COLUMN)
    ]
    plain_index = isinstance(frame.index, pd.RangeIndex) and frame.index.start == 0 and frame.index.step == 1
    work = frame if plain_index else frame.reset_index(drop=True)
    if "artists" not in work:  # a frame not made by `ingest.validate`: one artist a song
        work = work.assign(artists=work["artist_name"], **({} if "artist_ids" in work else {"artist_ids": None}))
    # Every input row points at the row that represents it; merges re-point whole groups.
    representative = np.arange(len(work))
    duplicates: list[pd.DataFrame] = []

    # 1. exact duplicates. Rows equal on every column share their track id, so only rows whose
    # id repeats need the whole-row comparison (in most catalogues, few or none).
    canonical = schema.carried_columns(work)
    id_codes, _ = pd.factorize(work["track_id"], sort=False)
    repeated = np.flatnonzero(np.bincount(id_codes)[id_codes] > 1)
    first_of_group = np.arange(len(work))
    if len(repeated):
        key = pd.util.hash_pandas_object(work.iloc[repeated][canonical], index=False).to_numpy()
        first_of_group[repeated] = repeated[_first_index_per_key(key)]
    alive = first_of_group == np.arange(len(work))
    representative = first_of_group
    report.steps.append(CleanStep("exact duplicates", len(work), int(alive.sum())))

    # 2. same track id with different values (again only among repeated ids)
    order = _preference_order(work)
    alive_idx = np.flatnonzero(alive)
    kept_for_id = alive_idx.copy()
    contested = np.flatnonzero(np.bincount(id_codes[alive_idx], minlength=id_codes.max(initial=-1) + 1)[id_codes[alive_idx]] > 1)
    if len(contested):
        kept_for_id[contested] = _keep_per_group(id_codes[alive_idx][contested], order[alive_idx][contested], alive_idx[contested])
    conflicts = kept_for_id != alive_idx
    if conflicts.any():
        by_id = work["track_id"].to_numpy()[alive_idx]
        dropped, kept = alive_idx[conflicts], kept_for_id[conflicts]
        by_preference = np.argsort(order[dropped], kind="stable")
        dropped, kept = dropped[by_preference], kept[by_preference]
        details = [_differences(work, int(k), int(d)) for k, d in zip(kept, dropped)]
        # One record per track id, however many rows it absorbed (they share its id).
        duplicates.append(counted_conflicts(_duplicate_rows("same track_id, conflicting values", work, kept, dropped, details)))
        report.id_conflicts = int(len(np.unique(by_id[conflicts])))
        representative = _repoint(representative, dropped, kept)
        alive[dropped] = False
    report.steps.append(CleanStep("same track_id", report.steps[-1].rows_after, int(alive.sum())))

    # 3. near duplicates: same artist, track name and duration
    alive_idx = np.flatnonzero(alive)
    # Keyed row by row, so the rows merged above are keyed too and left out after: cheaper than a
    # copy of the three columns' remaining rows (about 150 MB at a million rows, at the peak).
    key_of_row = near_keys(set_keys(work["artists"]), work["track_name"], work["duration_ms"])
    near_key = key_of_row[alive_idx]
    kept_for_key = _keep_per_group(near_key, order[alive_idx], alive_idx)
    merged = kept_for_key != alive_idx
    if merged.any():
        dropped, kept = alive_idx[merged], kept_for_key[merged]
        duplicates.append(
            _duplicate_rows("same artist, track name and duration", work, kept, dropped, ["" for _ in dropped])
        )
        representative = _repoint(representative, dropped, kept)
        alive[dropped] = False
    report.steps.append(CleanStep("same artist, track name and duration", report.steps[-1].rows_after, int(alive.sum())))

    # 4. loose near duplicates on normalised names
    loose_pairs = _loose_pairs(work, np.flatnonzero(alive), order)
    report.loose_candidates = len(loose_pairs)
    report.loose_examples = [
        {
            "kept": f"{work.at[k, 'artist_name']} - {work.at[k, 'track_name']} ({format_minutes(work.at[k, 'duration_ms'])})",
            "dropped": f"{work.at[d, 'artist_name']} - {work.at[d, 'track_name']} ({format_minutes(work.at[d, 'duration_ms'])})",
        }
        for k, d in loose_pairs[:10]
    ]
    if loose and loose_pairs:
        kept = np.array([k for k, _ in loose_pairs])
        dropped = np.array([d for _, d in loose_pairs])
        duplicates.append(_duplicate_rows("loose: normalised names, duration within 2 s", work, kept, dropped, ["" for _ in dropped]))
        representative = _repoint(representative, dropped, kept)
        alive[dropped] = False
        report.loose_applied = True
        report.steps.append(CleanStep("loose near duplicates", report.steps[-1].rows_after, int(alive.sum())))

    provenance = pd.DataFrame(
        {
            "track_id": work["track_id"].array.take(representative),
            schema.SOURCE_COLUMN: work[schema.SOURCE_COLUMN].to_numpy(),
            schema.LINE_COLUMN: work[schema.LINE_COLUMN].to_numpy(),
        }
    ).drop_duplicates(ignore_index=True)

    # Column by column into a frame that keeps them apart: selecting rows of the whole frame, then
    # adding the outlier columns, copied every column twice more (about 900 MB at a million rows).
    kept_rows = np.flatnonzero(alive)
    # Nothing merged: the columns as read, shared with the input (neither is changed in place), not
    # a copy of every row (about 400 MB at a million rows, at the ingest's peak).
    kept = (lambda column: column) if len(kept_rows) == len(work) else (lambda column: column.take(kept_rows))
    tracks = pd.DataFrame({c: kept(work[c].array) for c in canonical + label_columns}, index=pd.RangeIndex(len(kept_rows)), copy=False)
    track_keys = key_of_row[alive]  # rows keep their order through the label merge below
    if label_columns:
        merged_labels = _merge_labels(work, representative, label_columns)
        tracks = tracks.drop(columns=label_columns).merge(merged_labels, on="track_id", how="left")

    flags = flag_outliers(tracks, outlier_rules)
    for name, values in (("is_outlier", flags.any(axis=1).to_numpy()), ("outlier_rules", _rule_names(flags))):
        if name in tracks:  # flagged before (rows read back from a catalogue): flagged again, in place
            tracks[name] = values
        else:
            tracks.insert(len(tracks.columns), name, values)
    report.outlier_rules = {name: int(flags[name].sum()) for name in flags.columns}
    report.outliers = int(tracks["is_outlier"].sum())

    loose_frame = pd.DataFrame(
        [
            {
                "kept_track_id": work.at[k, "track_id"],
                "kept": f"{work.at[k, 'artist_name']} - {work.at[k, 'track_name']}",
                "candidate_track_id": work.at[d, "track_id"],
                "candidate": f"{work.at[d, 'artist_name']} - {work.at[d, 'track_name']}",
            }
            for k, d in loose_pairs
        ],
        columns=["kept_track_id", "kept", "candidate_track_id", "candidate"],
    )
    dup_frame = pd.concat(duplicates, ignore_index=True) if duplicates else pd.DataFrame(columns=DUPLICATE_COLUMNS)
    release_freed_memory()  # what the name rules' Arrow buffers held
    return CleanResult(tracks=tracks, provenance=provenance, duplicates=dup_frame, loose_candidates=loose_frame, report=report,
                       near_keys=track_keys)


def flag_outliers(tracks: pd.DataFrame, rules: tuple[schema.OutlierRule, ...]) -> pd.DataFrame:
    """One boolean column per rule (named like ``tempo < 1``); a missing value never matches."""
    ops = {"<": np.less, "<=": np.less_equal, ">": np.greater, ">=": np.greater_equal}
    flags = {}
    for rule in rules:
        values = pd.to_numeric(tracks[rule.column], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        with np.errstate(invalid="ignore"):
            flags[rule.name] = ops[rule.op](values, rule.threshold) & ~np.isnan(values)
    return pd.DataFrame(flags, index=tracks.index)


# ----------------------------------------------------------------------------------------- helpers


def format_minutes(duration_ms: object) -> str:
    """``3:14`` for 194000 ms."""
    seconds = int(round(float(duration_ms) / 1000))  # type: ignore[arg-type]
    return f"{seconds // 60}:{seconds % 60:02d}"


def _rule_names(flags: pd.DataFrame) -> np.ndarray:
    names = np.full(len(flags), "", dtype=object)
    for rule in flags.columns:
        hit = flags[rule].to_numpy()
        names[hit] = np.where(names[hit] == "", rule, names[hit] + "; " + rule)
    return names


def _first_index_per_key(key: np.ndarray) -> np.ndarray:
    """For each row, the index of the first row with the same key."""
    codes, uniques = pd.factorize(key)
    first = np.full(len(uniques), len(key), dtype=np.int64)
    np.minimum.at(first, codes, np.arange(len(key)))
    return first[codes]


def _preference_order(work: pd.DataFrame) -> np.ndarray:
    """Rank of each row under the keep rule: highest popularity, then first read (0 is best)."""
    popularity = work["popularity"].astype("Float64").fillna(-1).to_numpy(dtype=float)
    ranking = np.lexsort((np.arange(len(work)), -popularity))
    order = np.empty(len(work), dtype=np.int64)
    order[ranking] = np.arange(len(work))
    return order


def _keep_per_group(keys: np.ndarray, preference: np.ndarray, row_index: np.ndarray) -> np.ndarray:
    """For each row, the row its group keeps (the lowest preference rank)."""
    codes, uniques = pd.factorize(keys)
    best = np.full(len(uniques), np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(best, codes, preference)
    is_best = preference == best[codes]
    winner = np.empty(len(uniques), dtype=np.int64)
    winner[codes[is_best]] = row_index[is_best]
    return winner[codes]


def _repoint(representative: np.ndarray, dropped: np.ndarray, kept: np.ndarray) -> np.ndarray:
    target = np.arange(len(representative))
    target[dropped] = kept
    return target[representative]


def _same(a: object, b: object) -> bool:
    """Equal, where two missing values are equal and missing never equals a value (pd.NA-safe)."""
    if pd.isna(a) or pd.isna(b):
        return bool(pd.isna(a) and pd.isna(b))
    return bool(a == b)


def _differences(work: pd.DataFrame, kept: int, dropped: int) -> str:
    columns = schema.carried_columns(work)  # labels are merged, not in conflict
    return describe_conflict(work.loc[kept, columns], work.loc[dropped, columns])


#: Between the details of the rows one record counts.
DETAIL_SEPARATOR = " | "


def counted_conflicts(rows: pd.DataFrame) -> pd.DataFrame:
    """Per-row conflict records (in order of preference) as one record per (rule, kept, dropped):
    ``dropped_rows`` counts the rows, ``detail`` joins their distinct details in that order."""
    def join(details: pd.Series) -> str:
        return DETAIL_SEPARATOR.join(dict.fromkeys(d for d in details if d))

    grouped = rows.groupby(["rule", "kept_track_id", "dropped_track_id"], sort=False)
    counted = grouped["detail"].agg(join).to_frame().join(grouped.size().rename("dropped_rows")).reset_index()
    return counted[DUPLICATE_COLUMNS]


def describe_conflict(kept: pd.Series, dropped: pd.Series) -> str:
    """How a dropped row differs from the kept one, column by column (``popularity: kept 57, dropped 56``)."""
    return "; ".join(
        f"{column}: kept {kept[column]}, dropped {dropped[column]}"
        for column in kept.index
        if not _same(kept[column], dropped[column])
    )


def _duplicate_rows(rule: str, work: pd.DataFrame, kept: np.ndarray, dropped: np.ndarray, details: list[str]) -> pd.DataFrame:
    ids = work["track_id"].to_numpy()
    return pd.DataFrame(
        {"rule": rule, "kept_track_id": ids[kept], "dropped_track_id": ids[dropped], "detail": details, "dropped_rows": 1},
        columns=DUPLICATE_COLUMNS,
    )


def _merge_labels(work: pd.DataFrame, representative: np.ndarray, label_columns: list[str]) -> pd.DataFrame:
    """Every label value of every row a track absorbed, unique, in order read, joined with ``|``."""
    labels = work[label_columns].copy()
    labels["track_id"] = work["track_id"].to_numpy()[representative]

    def join(values: pd.Series) -> object:
        seen: dict[str, None] = {}
        for value in values.dropna():
            for part in str(value).split(LABEL_SEPARATOR):
                if part != "":
                    seen.setdefault(part, None)
        return LABEL_SEPARATOR.join(seen) if seen else None

    multi = labels["track_id"].duplicated(keep=False)
    single = labels.loc[~multi].drop_duplicates("track_id")
    if not multi.any():
        return single
    grouped = labels.loc[multi].groupby("track_id", sort=False)[label_columns].agg(join).reset_index()
    return pd.concat([single, grouped], ignore_index=True)


# Tags that name the same recording (a remaster, a mono mix, a radio edit), not a new one: remixes,
# live takes and covers sound different, so they never match. RE2 syntax (Arrow's regex engine).
_SAME_RECORDING = r"(?:remaster(?:ed)?|mono|stereo|radio edit|single version|album version|explicit|clean)"
_NAME_RULES = (
    (r"[\(\[]\s*(?:feat\.?|ft\.?|featuring|with)\s[^\)\]]*[\)\]]", " "),  # (feat. X), [with Y]
    (r"\s(?:feat\.?|ft\.?|featuring)\s.*$", " "),  # trailing "feat. X"
    (r"[\(\[][^\)\]]*\b" + _SAME_RECORDING + r"\b[^\)\]]*[\)\]]", " "),  # (2011 Remaster)
    (r"\s-\s[^-]*\b" + _SAME_RECORDING + r"\b[^-]*$", " "),  # - Remastered 2011
    (r"[^\p{L}\p{N}_]+", " "),  # punctuation
)


#: Names from which `normalise_names` works on slices in threads, one per core (Arrow's string
#: kernels free the interpreter, but each call runs on one core).
PARALLEL_NAMES = 100_000


def normalise_names(names: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """Names reduced for the loose rule: no accents, case, featuring credits or version tags.

    Vectorised in Arrow (a million titles in about a second), on every core for many names.
    Accents are folded (combining marks removed after decomposition); every script is kept.
    """
    workers = min(os.cpu_count() or 1, len(names) // PARALLEL_NAMES)
    if workers < 2:
        return _normalise_slice(names)
    names = arrow_strings(names)
    size = -(-len(names) // workers)
    with ThreadPoolExecutor(workers, thread_name_prefix="normalise-names") as pool:
        parts = list(pool.map(_normalise_slice, [names.slice(start, size) for start in range(0, len(names), size)]))
    return pa.concat_arrays(parts)


def _normalise_slice(names: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    text = pc.utf8_lower(_fold_accents(names))
    for pattern, replacement in _NAME_RULES:
        text = pc.replace_substring_regex(text, pattern, replacement)
    return pc.utf8_trim_whitespace(pc.replace_substring_regex(text, r"\s+", " "))


def _fold_accents(names: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Remove accents from the non-ASCII names only (few in any catalogue), with Python's
    unicodedata: Arrow's NFC does not recompose Hangul, so it would garble Korean."""
    names = pa.array(names.to_pylist() if isinstance(names, pa.ChunkedArray) else names, type=pa.string())
    non_ascii = np.flatnonzero(~np.asarray(pc.fill_null(pc.string_is_ascii(names), True).to_numpy(zero_copy_only=False)))
    if not len(non_ascii):
        return names
    values = names.to_numpy(zero_copy_only=False).copy()
    for i in non_ascii:
        decomposed = unicodedata.normalize("NFKD", values[i])
        values[i] = unicodedata.normalize("NFC", "".join(ch for ch in decomposed if not unicodedata.combining(ch)))
    return pa.array(values, type=pa.string())


def normalise_name(name: str) -> str:
    """One name reduced for the loose rule (see `normalise_names`).

    >>> normalise_name("Here Comes The Sun - Remastered 2009")
    'here comes the sun'
    >>> normalise_name("Señorita (feat. Camila Cabello)")
    'senorita'
    """
    return normalise_names(pa.array([str(name)]))[0].as_py()


def _loose_pairs(work: pd.DataFrame, alive_idx: np.ndarray, order: np.ndarray) -> list[tuple[int, int]]:
    """(kept, candidate) row pairs: same normalised artist and title, durations within 2 s."""
    if not len(alive_idx):
        return []
    sub = pd.DataFrame(
        {
            "row": alive_idx,
            "duration": work["duration_ms"].to_numpy(dtype=float, na_value=np.nan)[alive_idx],
            "rank": order[alive_idx],
        }
    )
    for column, source in (("artist", "artist_name"), ("title", "track_name")):
        # Each distinct name normalised once (an artist is on many rows), and each row given the
        # number of its normalised name (-1 for none: a missing name matches nothing, as "" does),
        # not a string of its own: every row numbered in Arrow (no copy of the remaining rows'
        # names, no Python string per distinct name), then the remaining rows' numbers taken.
        values = work[source]
        text = pc.cast(arrow_strings(values) if held_by_arrow(values) else pa.array(values.astype(str).where(values.notna()), from_pandas=True),
                       pa.string())
        distinct = pc.dictionary_encode(text)
        normalised = pc.dictionary_encode(normalise_names(distinct.dictionary))
        same = normalised.indices.to_numpy(zero_copy_only=False).astype(np.int64)
        same[np.asarray(pc.equal(normalised.dictionary, "").to_numpy(zero_copy_only=False), dtype=bool)[same]] = -1
        codes = pc.fill_null(distinct.indices, -1).to_numpy(zero_copy_only=False)[alive_idx]
        sub[column] = np.where(codes < 0, -1, same[np.maximum(codes, 0)]) if len(same) else -1
    sub = sub[(sub["artist"] >= 0) & (sub["title"] >= 0)]
    groups = sub[sub.duplicated(["artist", "title"], keep=False)]
    pairs = []
    for _, group in groups.sort_values("rank").groupby(["artist", "title"], sort=False):
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
