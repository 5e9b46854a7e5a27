"""Validating a decoded table against the one schema (`songscope.schema`): aliases to canonical
names, types, ranges, spelled keys and modes, spreadsheet damage, several artists per song.
What has one clear meaning is read (and noted); the rest is a rejected row with its reason."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from songscope import schema
from songscope.errors import UserError
from songscope.jsonable import dumps
from songscope.textcolumns import text_array, utf8_buffers

REJECTED_COLUMNS = ["source", "line", "columns", "reason", "raw"]

Progress = Callable[[str], None]


class IngestError(UserError):
    """A source that cannot be ingested at all; the message names the file, the fault and the fix."""


def canonical_names(url: str, columns: list[str], required: tuple[str, ...] = schema.REQUIRED_COLUMNS) -> list[str]:
    """Canonical names for a source's columns; fails on duplicates or missing `required` columns
    (`schema.required_columns` of the feature set the source's songs are described by)."""
    names = []
    for position, column in enumerate(columns):
        normalised = schema.normalise_column_name(column)
        if position == 0 and normalised in ("", "unnamed:_0", "index"):
            names.append("__index__")  # a pandas row index written to the file
            continue
        if not normalised:
            raise IngestError(f"{url}: column {position + 1} has no name in the header")
        if len(normalised) > schema.MAX_LABEL_NAME_LENGTH:
            raise IngestError(f"{url}: the name of column {position + 1} is {len(normalised):,} characters long ({column[:40]!r}...); "
                              f"a column's name can be at most {schema.MAX_LABEL_NAME_LENGTH} characters: rename it")
        names.append(schema.canonical_name(column))
    # songscope's own catalogue files (and a table exported from one) have both a display name and
    # every artist: there `artists` is the list, not an alias of artist_name.
    normalised = [schema.normalise_column_name(c) for c in columns]
    if "artist_name" in normalised and "artists" in normalised:
        names[normalised.index("artists")] = "artists"
    seen: dict[str, int] = {}
    for position, name in enumerate(names):
        if name in seen:
            first = columns[seen[name]]
            raise IngestError(
                f"{url}: the header names {name!r} twice (columns {seen[name] + 1} {first!r} and "
                f"{position + 1} {columns[position]!r}); rename or remove one of them"
            )
        seen[name] = position
    missing = [c for c in required if c not in seen]
    if missing:
        # A table of another feature set's songs (songscope analyze's, say) is read with that set named.
        other = next((name for name, features in schema.FEATURE_SETS.items()
                      if all(c in seen for c in schema.required_columns(features))), None)
        hint = f"; it has every column of the {other} feature set: pass --features {other}" if other else ""
        raise IngestError(
            f"{url}: required columns missing: {', '.join(missing)}{hint}. Found: {', '.join(columns)}. "
            f"Known aliases: {', '.join(f'{a}->{c}' for a, c in schema.ALIASES.items())}"
        )
    return names


# ------------------------------------------------------------------------------------- validation


def validate(table: pa.Table, *, source: str, lines: np.ndarray, notes: dict[str, dict] | None = None,
             artists_joined_by: str | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Coerce a table with canonical column names to the schema's types and check the ranges.

    Returns the valid rows (canonical columns first, then extra columns, then ``source`` and
    ``line``) and one rejected row per bad row, naming every column at fault.

    Values a layout spells out with one clear meaning (note names for ``key``, Major/Minor for
    ``mode``, ``4/4`` or its spreadsheet date ``4-Apr`` for ``time_signature``) are read as their
    codes; a bad value in an optional column is set missing and the row kept. Both are counted in
    `notes` (description -> count, first line, first value), never done silently.

    A song's artists (`songscope.artists`): a list literal names several, and so does a cell
    joined with `artists_joined_by` (";", or "," beside as many ids: the layout's way, see
    `artists_joined_by`); ``artist_name`` becomes the first, ``artists`` all of them,
    ``artist_ids`` their ids where the file gives as many.
    """
    n = table.num_rows
    notes = {} if notes is None else notes
    if "__index__" in table.column_names:
        table = table.drop_columns(["__index__"])
    problems: list[tuple[np.ndarray, str, list[str]]] = []  # (row indices, column, reasons)
    out: dict[str, object] = {}
    table = _as_plain_columns(table, source, problems, notes, lines)

    for name in schema.TEXT_COLUMNS:
        if name not in table.column_names:
            continue
        values = _text_array(table.column(name))
        values = pc.utf8_trim_whitespace(values)
        if name == "track_id":
            values = _without_uri(values)
        limit = schema.MAX_ID_LENGTH if name == "track_id" else schema.MAX_TEXT_LENGTH
        missing = _mask(pc.or_kleene(pc.is_null(values), pc.is_in(values, value_set=_MISSING_TEXT)))
        lengths = pc.utf8_length(values)
        too_long = _mask(pc.greater(lengths, limit))
        _add(problems, missing, name, lambda idx, name=name: [f"missing {name}"] * len(idx))
        _add_nul_problems(problems, values, name)
        _add(
            problems, too_long, name,
            lambda idx, lengths=lengths, limit=limit: [
                f"longer than {limit:,} characters ({lengths[int(i)].as_py():,})" for i in idx
            ],
        )
        out[name] = values

    if "artist_name" in out:
        _read_artists(table, out, problems, notes, lines, joined_by=artists_joined_by)

    for column in schema.NUMERIC_COLUMNS:
        if column.name not in table.column_names:
            continue
        raw = table.column(column.name)
        plain = _plain_numbers(raw)
        if plain is not None:  # every value written as a number: nothing spelled, nothing to trim
            numbers, unparsable, empty = plain
        else:
            readable, spelled = _read_spelled(column.name, raw)
            if spelled.any():
                _note(notes, f"{column.name}: {schema.SPELLED_DESCRIPTIONS[column.name]}", spelled, lines, raw)
            numbers, unparsable, empty = _as_float(readable)
        if column.required:
            _add(problems, empty, column.name, lambda idx: ["missing value"] * len(idx))

        def originals(idx: np.ndarray, raw: pa.ChunkedArray = raw) -> list[str]:
            return [repr(v) for v in raw.take(pa.array(idx)).to_pylist()]

        finite = np.isfinite(numbers)
        # NaN where a value was written (e.g. "nan") is as unusable as inf; an empty cell is "missing".
        not_finite = np.isinf(numbers) | (np.isnan(numbers) & ~empty & ~unparsable)
        low_bad = numbers <= column.low if not column.low_inclusive else numbers < column.low
        out_of_range = finite & (low_bad | (numbers > column.high))
        faults = [
            (unparsable, "not a number", lambda idx, o=originals: [f"not a number: {v}" for v in o(idx)]),
            (not_finite, "not a finite number", lambda idx, o=originals: [f"not a finite number: {v}" for v in o(idx)]),
            (out_of_range, f"out of range {column.describe_range()}",
             lambda idx, c=column, x=numbers: [f"out of range {c.describe_range()}: {_short(x[i])}" for i in idx]),
        ]
        if column.integer:
            inexact = finite & ~out_of_range & (np.abs(numbers) > schema.MAX_EXACT_INTEGER)
            fractional = finite & ~out_of_range & ~inexact & (np.floor(numbers) != numbers)
            faults += [
                (inexact, "too large for a whole number stored exactly",
                 lambda idx, o=originals: [f"too large for a whole number stored exactly (over {schema.MAX_EXACT_INTEGER:,}): {v}" for v in o(idx)]),
                (fractional, "not a whole number", lambda idx, x=numbers: [f"not a whole number: {_short(x[i])}" for i in idx]),
            ]
        for mask, kind, reasons in faults:
            if column.required:
                _add(problems, mask, column.name, reasons)
            elif mask.any():  # an optional value's garbage costs the row nothing but that value
                numbers = np.where(mask, np.nan, numbers)
                _note(notes, f"{column.name}: {kind}, set missing (the row kept)", mask, lines, raw)
        out[column.name] = numbers

    extras = [c for c in table.column_names if c not in schema.STORED_COLUMNS and c not in (schema.SOURCE_COLUMN, schema.LINE_COLUMN)]
    for name in extras:
        if pa.types.is_string(table.column(name).type) or pa.types.is_large_string(table.column(name).type):
            _add_nul_problems(problems, table.column(name), name)
    bad_rows = np.unique(np.concatenate([p[0] for p in problems])) if problems else np.array([], dtype=np.int64)
    rejected = _rejected_frame(table, source, lines, problems, bad_rows)
    keep = np.ones(n, dtype=bool)
    keep[bad_rows] = False

    rows = int(keep.sum())
    # Every column made once and the frame built from them at once, without a copy: adding them
    # to a frame one at a time fragments it, and joining two frames copied every column (about
    # 400 MB at a million rows). Each value is let go of as soon as its column is made.
    columns: dict[str, object] = {}
    same_artists = "artists" in out and out.get("artists") is out.get("artist_name")
    for name in schema.carried_columns(out):
        if name not in out:
            if name != "track_id":  # derived below from the other columns when a layout has none
                # Missing, in the column's own type: a song of another feature set has none of these,
                # and the catalogue's files must agree on each column's type (a float column stays float).
                numeric = schema.NUMERIC_BY_NAME.get(name)
                columns[name] = (text_array(pa.nulls(rows, pa.large_string())) if numeric is None
                                 else pd.array([pd.NA] * rows, dtype="Int64") if numeric.integer else np.full(rows, np.nan))
            continue
        values = out.pop(name)
        if name == "artists" and same_artists:  # one artist a song: the same strings, not a copy
            columns[name] = columns["artist_name"].copy()
        elif isinstance(values, (pa.Array, pa.ChunkedArray)):
            columns[name] = text_array(values.filter(pa.array(keep)))
        else:
            kept = values[keep]  # type: ignore[index]
            if schema.NUMERIC_BY_NAME[name].integer:
                absent = np.isnan(kept)
                columns[name] = pd.arrays.IntegerArray(np.where(absent, 0, kept).astype(np.int64), absent)
            else:
                columns[name] = kept
        del values
    keep_idx = np.flatnonzero(keep)
    for name in extras:
        columns[name] = text_array(_text_array(table.column(name).take(pa.array(keep_idx))))
    columns[schema.SOURCE_COLUMN] = np.full(rows, source, dtype=object)
    columns[schema.LINE_COLUMN] = lines[keep]
    frame = pd.DataFrame(columns, index=pd.RangeIndex(rows), copy=False)
    if "track_id" not in frame:
        frame.insert(0, "track_id", derive_track_ids(frame).to_numpy(dtype=object))
    return frame, rejected


def artists_joined_by(columns: dict[str, str]) -> str | None:
    """How a source's layout joins several artists in one cell, by its header (`columns`, source
    name -> canonical name): ";" (the 114-genre set), "," beside the artists' URIs (Exportify),
    or None (list literals only, which any layout may hold)."""
    from songscope.artists import COMMA_LAYOUT_COLUMN, SEMICOLON_LAYOUT

    normalised = {schema.normalise_column_name(source): canonical for source, canonical in columns.items()}
    if normalised.get(COMMA_LAYOUT_COLUMN) == "artist_ids":
        return ","
    artist_sources = [source for source, canonical in normalised.items() if canonical == "artist_name"]
    if artist_sources == ["artists"] and SEMICOLON_LAYOUT <= set(columns.values()):
        return ";"
    return None


def _read_artists(table: pa.Table, out: dict[str, object], problems: list, notes: dict[str, dict], lines: np.ndarray, *,
                  joined_by: str | None) -> None:
    """``artist_name`` -> the first artist, ``artists`` -> every artist (joined), ``artist_ids``
    -> their ids; list literals that cannot be read are kept whole and noted, a cell that names
    no artist at all (``[]``) rejects its row, and so does a name holding the separator."""
    from songscope import artists

    raw = out["artist_name"]
    if "artists" in table.column_names:
        _given_artists(table, out, notes, lines)
        return
    several = _mask(pc.match_substring_regex(raw, artists.LIST_PATTERN))  # `raw` is trimmed already
    # Exportify's URIs say how many artists a comma-joined cell names (read only for that layout).
    ids = _text_array(table.column("artist_ids")).to_numpy(zero_copy_only=False) if joined_by == "," and "artist_ids" in table.column_names else None
    if joined_by:
        several |= _mask(pc.match_substring(raw, joined_by))
    first = joined = raw
    if several.any():
        first_values = raw.to_numpy(zero_copy_only=False).astype(object)
        joined_values = first_values.copy()
        malformed, empty, read = (np.zeros(len(first_values), dtype=bool) for _ in range(3))
        for i in np.flatnonzero(several):
            # Joined with ",": only as many names as the cell beside it has ids (commas occur in names).
            count = None if joined_by != "," else (len(str(ids[i]).split(",")) if ids is not None and ids[i] else 0)
            parsed = artists.parse(first_values[i], joined_by=joined_by, count=count)
            malformed[i] = parsed.malformed
            read[i] = parsed.split and not parsed.malformed
            empty[i] = not parsed.names
            first_values[i] = parsed.names[0] if parsed.names else None
            joined_values[i] = parsed.joined if parsed.names else None
        first, joined = pa.array(first_values, pa.string()), pa.array(joined_values, pa.string())
        if read.any():
            how = "list literals" if not joined_by else f"list literals or {joined_by!r}-joined names"
            _note(notes, f"artist_name: {how} read as a song's artists (the first is its artist_name)", read, lines, raw)
        if malformed.any():
            _note(notes, "artist_name: a list literal that cannot be read, kept whole as one artist", malformed, lines, raw)
        _add(problems, empty, "artist_name", lambda idx: ["names no artist (an empty list)"] * len(idx))
    _add(problems, _mask(pc.match_substring(raw, artists.SEPARATOR)), "artist_name",
         lambda idx: ["contains a unit separator (U+001F), which no name may hold"] * len(idx))
    out["artist_name"], out["artists"] = first, joined
    if "artist_ids" in table.column_names:
        out["artist_ids"] = _artist_ids(_text_array(table.column("artist_ids")), joined, notes, lines, joined_by=joined_by)


def _given_artists(table: pa.Table, out: dict[str, object], notes: dict[str, dict], lines: np.ndarray) -> None:
    """A table that names every artist beside the display name (songscope's own catalogue
    files, their artists joined): taken as written, its artist_name where a song has none."""
    from songscope.artists import SEPARATOR

    given = pc.utf8_trim_whitespace(_text_array(table.column("artists")))
    given = pc.if_else(pc.fill_null(pc.equal(given, ""), True), out["artist_name"], given)
    first = pc.list_element(pc.split_pattern(given, SEPARATOR), 0)
    differs = _mask(pc.not_equal(first, out["artist_name"]))
    if differs.any():
        _note(notes, "artists: the first artist is not artist_name, artist_name put first", differs, lines, table.column("artists"))
        values, display = given.to_numpy(zero_copy_only=False).astype(object), out["artist_name"].to_numpy(zero_copy_only=False)
        for i in np.flatnonzero(differs):
            values[i] = SEPARATOR.join([display[i], *(n for n in values[i].split(SEPARATOR) if n != display[i])])
        given = pa.array(values, pa.string())
    out["artists"] = given
    if "artist_ids" in table.column_names:
        out["artist_ids"] = _artist_ids(_text_array(table.column("artist_ids")), given, notes, lines)


def _artist_ids(raw: pa.ChunkedArray, joined: pa.Array, notes: dict[str, dict], lines: np.ndarray, joined_by: str | None = None) -> pa.Array:
    """Each song's artist ids joined as its artists are, where the cell gives one per artist; else
    missing, and noted when the cell was not empty."""
    from songscope import artists

    values = raw.to_numpy(zero_copy_only=False)
    names = joined.to_numpy(zero_copy_only=False)
    ids = np.empty(len(values), dtype=object)
    unmatched = np.zeros(len(values), dtype=bool)
    given = np.flatnonzero(_mask(pc.greater(pc.utf8_length(pc.utf8_trim_whitespace(raw)), 0)))  # most files give none
    for i in given:
        cell, song = values[i], names[i]
        if song is None:
            continue
        if artists.SEPARATOR in str(cell):
            parsed = artists.Parsed(tuple(artists.split(cell)))
        else:
            parsed = artists.parse(str(cell), joined_by=joined_by)
            parsed = artists.Parsed(tuple(n.removeprefix(artists.ARTIST_URI_PREFIX) for n in parsed.names), parsed.malformed)
        if parsed.malformed or len(parsed.names) != len(artists.split(song)):
            unmatched[i] = True
            continue
        ids[i] = parsed.joined
    if unmatched.any():
        _note(notes, "artist_ids: not one id per artist, left out (the row kept)", unmatched, lines, raw)
    return pa.array(ids, pa.string())


def derive_track_ids(frame: pd.DataFrame) -> pd.Series:
    """Stable ids for layouts without one: a hash of artist, title and duration, prefixed ``ss``."""
    keys = frame["artist_name"].astype(str) + "\x1f" + frame["track_name"].astype(str) + "\x1f" + frame["duration_ms"].astype(str)
    return keys.map(lambda k: "ss" + hashlib.sha1(k.encode("utf-8")).hexdigest()[:22])


#: How exporters write a missing name (R writes NA, pandas NaN, SQL dumps NULL).
_MISSING_TEXT = pa.array(["", "NA", "NaN", "null", "NULL"])


def _text_array(column: pa.ChunkedArray) -> pa.ChunkedArray:
    if not pa.types.is_string(column.type) and not pa.types.is_large_string(column.type):
        column = pc.cast(column, pa.string())
    return column


def _without_uri(ids: pa.ChunkedArray) -> pa.ChunkedArray:
    """Spotify's URIs and URLs of a track as the id they name. The pattern is matched only where an
    id starts as one may: on every id it cost 0.13 s a million rows, most of the text checks' time."""
    may_be_uri = pc.or_(pc.starts_with(ids, "spotify:"), pc.starts_with(ids, "http"))
    if not pc.any(may_be_uri).as_py():
        return ids
    read = pc.replace_substring_regex(ids, r"^(?:spotify:track:|https?://open\.spotify\.com/track/)([^?]*).*$", r"\1")
    return pc.if_else(may_be_uri, read, ids)


def _mask(values: pa.ChunkedArray | pa.Array) -> np.ndarray:
    return np.asarray(pc.fill_null(values, False).to_numpy(zero_copy_only=False), dtype=bool)


def _plain_numbers(column: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """`_as_float` of a text column whose every value Arrow reads as a number as it is written (no
    space around it, no empty cell, no spelled value: a clean file's every column), with one cast;
    None for any other column, which `_read_spelled` and `_as_float` then read. The trimmed
    path's four passes cost 0.5 s a million rows of the Spotify layout."""
    if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
        return None
    try:
        numbers = pc.cast(column, pa.float64())
    except pa.ArrowInvalid:
        return None
    empty = _mask(pc.is_null(numbers))
    return np.where(empty, np.nan, numbers.to_numpy(zero_copy_only=False)), np.zeros(len(column), dtype=bool), empty


def _as_float(column: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Values as float64 (NaN where missing or unparsable), the unparsable mask, the empty mask."""
    n = len(column)
    if pa.types.is_integer(column.type) or pa.types.is_floating(column.type) or pa.types.is_boolean(column.type):
        # Unsafe: an integer beyond 2^53 becomes the nearest float, which `validate` then rejects
        # as too large to store exactly (a safe cast would raise for the whole column).
        values = pc.cast(column, pa.float64(), safe=False).to_numpy(zero_copy_only=False)
        empty = np.asarray(column.is_null().to_numpy(zero_copy_only=False), dtype=bool)
        return np.where(empty, np.nan, values), np.zeros(n, dtype=bool), empty
    text = pc.utf8_trim_whitespace(pc.cast(column, pa.string()))
    empty = np.asarray(pc.fill_null(pc.equal(text, ""), True).to_numpy(zero_copy_only=False), dtype=bool)
    filled = pc.if_else(pc.equal(text, ""), pa.scalar(None, pa.string()), text)
    try:
        values = pc.cast(filled, pa.float64()).to_numpy(zero_copy_only=False)
        unparsable = np.zeros(n, dtype=bool)
    except pa.ArrowInvalid:
        # Some value is not a number: parse leniently to find which ones, then the numbers again
        # with Arrow, whose parse is correctly rounded (pandas' is not: 0.04600899404263515
        # became 0.0460089940426351, found by the property test in tests/test_bad_inputs.py).
        series = pd.Series(filled.to_pandas(), dtype=object)
        numeric = pd.to_numeric(series, errors="coerce").notna().to_numpy()
        values = np.full(n, np.nan)
        numbers = series[numeric].to_numpy(dtype=object)
        try:
            values[numeric] = pc.cast(pa.array(numbers, pa.string()), pa.float64()).to_numpy(zero_copy_only=False)
        except pa.ArrowInvalid:  # a spelling pandas reads and Arrow does not (none known): Python's float, also exact
            values[numeric] = [float(v) for v in numbers]
        lowered = series.str.lower()
        spelled_nan = lowered.isin(["nan", "-nan", "+nan"]).to_numpy()
        unparsable = np.isnan(values) & ~empty & ~spelled_nan
    values = np.where(empty, np.nan, values)
    return values, unparsable, empty


def _as_plain_columns(table: pa.Table, source: str, problems: list, notes: dict[str, dict], lines: np.ndarray) -> pa.Table:
    """Columns of types that no CSV has, from Parquet: bytes read as UTF-8 text (a row whose value
    is not UTF-8 is rejected, naming the column); an extra column of lists or records kept as JSON
    text (noted). A list or record where a song's own value belongs is an IngestError."""
    for position, name in enumerate(table.column_names):
        column = table.column(name)
        kind = column.type
        if pa.types.is_binary(kind) or pa.types.is_large_binary(kind) or pa.types.is_fixed_size_binary(kind):
            values = column.to_pylist()
            decoded, bad = [], np.zeros(len(values), dtype=bool)
            for i, value in enumerate(values):
                try:
                    decoded.append(None if value is None else value.decode("utf-8"))
                except UnicodeDecodeError:
                    decoded.append(None)
                    bad[i] = True
            _add(problems, bad, name, lambda idx, values=values: [f"not UTF-8 text: {values[i]!r}"[:200] for i in idx])
            table = table.set_column(position, name, pa.array(decoded, pa.string()))
        elif name in schema.ARTIST_COLUMNS and (pa.types.is_list(kind) or pa.types.is_large_list(kind)) and pa.types.is_string(kind.value_type):
            from songscope.artists import SEPARATOR  # a catalogue file's lists of artists (`store.catalogue_parts`)

            table = table.set_column(position, name, pc.binary_join(column, SEPARATOR))
        elif pa.types.is_nested(kind):
            if name in schema.STORED_COLUMNS:
                raise IngestError(f"{source}: column {name!r} holds {kind} values where songscope expects one value per song; "
                                  "write it as a plain column (text or number)")
            as_json = [None if v is None else dumps(v, ascii_only=False) for v in column.to_pylist()]
            table = table.set_column(position, name, pa.array(as_json, pa.string()))
            if len(as_json):
                _note(notes, f"{name}: {kind} values kept as JSON text", np.ones(len(as_json), dtype=bool), lines, table.column(name))
    return table


def _add_nul_problems(problems: list, values: pa.ChunkedArray, column: str) -> None:
    # A NUL is no character of a name or label: PostgreSQL refuses it in text, and ids that
    # differ only after one were merged by the SQLite driver. Rejected alike on every store.
    if not _holds_nul(values):  # one pass over the bytes finds none in almost every file
        return
    nul = _mask(pc.match_substring(values, "\x00"))
    _add(problems, nul, column, lambda idx: ["contains a NUL character"] * len(idx))


def _holds_nul(values: pa.ChunkedArray | pa.Array) -> bool:
    """Whether any of the strings holds a NUL byte (a null's bytes, if any, are read too: a
    false alarm only sends the column to the exact check)."""
    for chunk in values.chunks if isinstance(values, pa.ChunkedArray) else [values]:
        data, _ = utf8_buffers(chunk)
        if len(data) and data.min() == 0:
            return True
    return False


def _note(notes: dict[str, dict], description: str, mask: np.ndarray, lines: np.ndarray, raw: pa.ChunkedArray) -> None:
    """Count the rows of `mask` under `description`, with the first one's line and value."""
    first = int(np.flatnonzero(mask)[0])
    line, value = int(lines[first]), str(raw[first].as_py())
    note = notes.setdefault(description, {"count": 0, "first_line": line, "first_value": value})
    note["count"] += int(mask.sum())
    if line < note["first_line"]:
        note["first_line"], note["first_value"] = line, value


def merge_notes(into: dict[str, dict], more: dict[str, dict]) -> None:
    """Add the notes of another part of a file to `into` (counts add up, the first line wins)."""
    for description, note in more.items():
        mine = into.setdefault(description, dict(note, count=0))
        mine["count"] += note["count"]
        if note["first_line"] < mine["first_line"]:
            mine["first_line"], mine["first_value"] = note["first_line"], note["first_value"]


def _read_spelled(name: str, column: pa.ChunkedArray) -> tuple[pa.ChunkedArray, np.ndarray]:
    """A text column's values that a layout spells out (`schema.SPELLED_DESCRIPTIONS`) as their
    codes, the rest as they are; and the mask of the values read so. In Arrow's compute kernels:
    a Python string per cell cost 2 s a column at 1,000,000 rows."""
    if name not in schema.SPELLED_DESCRIPTIONS or not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
        return column, np.zeros(len(column), dtype=bool)
    spelled_out = pc.utf8_lower(pc.utf8_trim_whitespace(column))
    spelled_out = pc.replace_substring(pc.replace_substring(spelled_out, "\u266f", "#"), "\u266d", "b")
    if name == "time_signature":
        beats = pc.struct_field(pc.extract_regex(spelled_out, r"^(?P<beats>[0-9]{1,2})[\s\p{Z}]*(?:/[\s\p{Z}]*4|-apr)$"), "beats")
        codes = pc.cast(beats, pa.int64())
    else:
        names = schema.NOTE_NAMES if name == "key" else schema.MODE_NAMES
        codes = pc.take(pa.array(list(names.values()), pa.int64()), pc.index_in(spelled_out, value_set=pa.array(list(names))))
    spelled = _mask(pc.is_valid(codes))
    if not spelled.any():
        return column, spelled
    read = pc.if_else(pc.is_valid(codes), pc.cast(codes, column.type), column)
    return read if isinstance(read, pa.ChunkedArray) else pa.chunked_array([read]), spelled


def _add(problems: list, mask: np.ndarray, column: str, reasons: Callable[[np.ndarray], list[str]]) -> None:
    idx = np.flatnonzero(mask)
    if len(idx):
        problems.append((idx, column, reasons(idx)))


def _short(value: float) -> str:
    return f"{value:g}"


def _rejected_frame(
    table: pa.Table, source: str, lines: np.ndarray, problems: list, bad_rows: np.ndarray
) -> pd.DataFrame:
    if not len(bad_rows):
        return pd.DataFrame(columns=REJECTED_COLUMNS).astype({"line": "int64"})
    by_row: dict[int, list[tuple[str, str]]] = {}
    for idx, column, reasons in problems:
        for i, reason in zip(idx.tolist(), reasons):
            by_row.setdefault(i, []).append((column, reason))
    raw_rows = table.take(pa.array(bad_rows)).to_pylist()
    records = []
    for row_index, raw in zip(bad_rows.tolist(), raw_rows):
        faults = by_row[row_index]
        records.append(
            {
                "source": source,
                "line": int(lines[row_index]),
                "columns": ",".join(dict.fromkeys(c for c, _ in faults)),
                "reason": "; ".join(f"{c}: {r}" for c, r in faults),
                "raw": dumps({k: v for k, v in raw.items() if k != "__index__"}, ascii_only=False),
            }
        )
    return pd.DataFrame.from_records(records, columns=REJECTED_COLUMNS)
