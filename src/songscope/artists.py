"""A song's artists: one or more names, in order, the first of which is the song's display name.

Public dumps write several artists in one cell in two ways:

- a Python list literal, ``['Dick Haymes', 'Bing Crosby']`` or ``["Guns N' Roses"]`` (the
  "Spotify Dataset 1921-2020" files and the 1.2M ``tracks_features.csv``), read with
  `ast.literal_eval` (never ``eval``), whatever the layout: no artist's name starts with ``['``;
- names joined with ``;``, ``Ingrid Michaelson;ZAYN`` (the 114-genre "Spotify Tracks Dataset"),
  split only where the layout's header says so (`SEMICOLON_LAYOUT`), since ``;`` occurs inside
  names elsewhere;
- names joined with ``,`` beside their ids joined the same way (Exportify's "Artist Name(s)" and
  "Artist URI(s)"): split only where the names split into as many parts as there are ids, since
  ``Tyler, The Creator`` is one artist (one id).

Inside songscope a song's artists travel as one text value, the names joined with `SEPARATOR`
(a control character no name may hold: ingest rejects it), so that every frame, hash and
comparison treats them as one ordinary column; the lake stores them as a list of strings and the
database as one row per artist of each song that has several or whose file gave ids
(``track_artists``).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

#: Joins a song's artists inside songscope (the ASCII unit separator).
SEPARATOR = "\x1f"
#: A layout whose canonical columns include all of these writes several artists joined with ";"
#: (the Hugging Face "Spotify Tracks Dataset": ``artists``, ``album_name``, ``track_genre``).
SEMICOLON_LAYOUT = frozenset({"track_genre", "album_name"})
#: A layout with this column (Exportify's, normalised) joins artists and their URIs with ",".
COMMA_LAYOUT_COLUMN = "artist_uri(s)"
#: How Exportify writes an artist's id.
ARTIST_URI_PREFIX = "spotify:artist:"

#: A cell written as a list literal starts with "[" and a quote, or is "[]" (a pattern Python's
#: `re` and Arrow's RE2 read alike: ingest finds the candidates with Arrow, `parse` reads each).
LIST_PATTERN = r"^\[\s*(?:['\"]|\]$)"
_LIST_LITERAL = re.compile(LIST_PATTERN)


def looks_like_list(text: str) -> bool:
    """Whether a cell is written as a list literal (``['A']``, ``["B", 'C']``, ``[]``).

    >>> looks_like_list("['Uli']"), looks_like_list("[spunge]"), looks_like_list("Bing Crosby")
    (True, False, False)
    """
    return bool(_LIST_LITERAL.match(text.strip()))


@dataclass(frozen=True)
class Parsed:
    """One cell's artists, and whether the cell was a list literal that could not be read."""

    names: tuple[str, ...]
    malformed: bool = False
    split: bool = False  # the cell named several artists, or was a list literal

    @property
    def joined(self) -> str:
        return SEPARATOR.join(self.names)


def parse(text: str, *, joined_by: str | None = None, count: int | None = None) -> Parsed:
    """A cell's artists, in order, each once, blank ones left out.

    A list literal that `ast.literal_eval` cannot read as a list of strings is kept whole as one
    artist, marked malformed (the row keeps it; ingest notes it). `joined_by` splits a cell the
    layout joins with it; with `count`, only a cell that splits into exactly that many names.

    >>> parse("['Dick Haymes', 'Bing Crosby']").names
    ('Dick Haymes', 'Bing Crosby')
    >>> parse('["Guns N\\' Roses"]').names
    ("Guns N' Roses",)
    >>> parse("Ingrid Michaelson;ZAYN", joined_by=";").names, parse("Ingrid Michaelson;ZAYN").names
    (('Ingrid Michaelson', 'ZAYN'), ('Ingrid Michaelson;ZAYN',))
    >>> parse("Tyler, The Creator", joined_by=",", count=1).names, parse("Daft Punk, Pharrell Williams", joined_by=",", count=2).names
    (('Tyler, The Creator',), ('Daft Punk', 'Pharrell Williams'))
    >>> parse("['Uli'").names, parse("['Uli'").malformed
    (("['Uli'",), True)
    >>> parse("['a', 1]").malformed
    True
    """
    stripped = text.strip()
    if looks_like_list(stripped):
        try:
            value = ast.literal_eval(stripped)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            value = None
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
            return Parsed((stripped,), malformed=True)
        return Parsed(_unique(value), split=True)
    if joined_by and joined_by in stripped:
        parts = stripped.split(joined_by)
        if count is None or len(parts) == count:
            return Parsed(_unique(parts), split=True)
    return Parsed((stripped,) if stripped else ())


def _unique(names: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(n.strip() for n in names if n.strip()))


def split(joined: str | None) -> list[str]:
    """The names of a `SEPARATOR`-joined value (none for a missing one).

    >>> split("A\\x1fB"), split(None)
    (['A', 'B'], [])
    """
    if isinstance(joined, str):
        return joined.split(SEPARATOR) if joined else []
    import pandas as pd

    return [] if joined is None or pd.isna(joined) else str(joined).split(SEPARATOR)  # None, NaN or pandas' NA: missing


def set_keys(joined: Iterable[object]) -> np.ndarray | pd.api.extensions.ExtensionArray:
    """Each song's artists as a set, written as one text (sorted names joined with `SEPARATOR`):
    what the near-duplicate rule compares. A song of one artist keys as that artist's name, as
    before songs had several. Arrow strings give Arrow strings, anything else an object array.

    >>> set_keys(["B\\x1fA", "A"]).tolist()
    ['A\\x1fB', 'A']
    """
    from songscope.textcolumns import held_by_arrow

    if held_by_arrow(joined):
        return _arrow_set_keys(joined)
    keys = np.array(list(joined), dtype=object)
    several = np.fromiter((isinstance(v, str) and SEPARATOR in v for v in keys), dtype=bool, count=len(keys))
    keys[several] = [_as_set(v) for v in keys[several]]
    return keys


def credits(tracks: pd.DataFrame) -> pd.Series:
    """Every (song, artist) credit of a catalogue frame as a Series of artist names: a duet counts
    for each of its artists (a frame without ``artists`` has one artist a song)."""
    import pandas as pd

    text = pd.Series(_credited_names(tracks).to_numpy(dtype=object), dtype=object)
    several = text.str.contains(SEPARATOR, regex=False).fillna(False)
    if not several.any():
        return text
    return text.str.split(SEPARATOR).explode(ignore_index=True)


def _as_set(joined: str) -> str:
    """One song's several artists as a set: their names sorted, each once, joined again."""
    return SEPARATOR.join(sorted(set(joined.split(SEPARATOR))))


def _credited_names(tracks: pd.DataFrame) -> pd.Series:
    """Each song's artists joined (its artist name where a frame has no ``artists`` or a song none)."""
    if "artists" not in tracks:
        return tracks["artist_name"]
    return tracks["artists"].where(tracks["artists"].notna(), tracks["artist_name"])


def _arrow_set_keys(joined) -> pd.api.extensions.ExtensionArray:
    """`set_keys` of Arrow strings, as Arrow strings: only the songs of several artists are
    sorted in Python (a Python string a song otherwise: about 80 MB a million songs)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from songscope.textcolumns import arrow_strings, text_array

    text = arrow_strings(joined)
    several = pc.fill_null(pc.match_substring(text, SEPARATOR), False)
    picked = np.flatnonzero(several.to_numpy(zero_copy_only=False))
    if len(picked):
        sets = [_as_set(v) for v in text.take(pa.array(picked)).to_pylist()]
        text = pc.replace_with_mask(text, several, pa.array(sets, type=text.type))
    return text_array(text)


def credit_counts(tracks: pd.DataFrame) -> pd.Series:
    """Songs credited to each artist of a catalogue frame (a duet counts for each of its
    artists), most first, ties by name. Counted on the names' Arrow buffers: `credits` on a
    million songs makes a Python string a name and a list a song (several hundred MB)."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.compute as pc

    text = pa.array(_credited_names(tracks), type=pa.large_string(), from_pandas=True)
    counted = pc.value_counts(pc.list_flatten(pc.split_pattern(text, SEPARATOR)))
    counts = pd.Series(counted.field("counts").to_numpy(zero_copy_only=False).astype(np.int64),
                       index=pd.Index(counted.field("values").to_pylist(), dtype=object), name="count")
    return counts.sort_index().sort_values(ascending=False, kind="stable")


def shown(joined: Iterable[object]) -> list[str]:
    """Each song's artists as people read them: the names joined with ", ".

    >>> shown(["Dick Haymes\x1fBing Crosby", "Uli"])
    ['Dick Haymes, Bing Crosby', 'Uli']
    """
    return [", ".join(split(value)) if isinstance(value, str) else "" for value in joined]


#: A title's credit of featured artists: "(feat. X)", "[with X & Y]", "(ft. X, Y and Z)".
_FEATURED = re.compile(r"[\(\[]\s*(?:feat\.?|ft\.?|featuring|with)\s+([^\)\]]+)[\)\]]", re.IGNORECASE)
_CREDIT_SEPARATORS = re.compile(r"\s*(?:,|&|\band\b)\s*", re.IGNORECASE)


def featured(title: str) -> tuple[str, ...]:
    """The artists a title credits as featured, in order (Spotify lists them as the song's other
    artists; catalogues of one artist a song keep them in the title only).

    >>> featured("bad guy (with Justin Bieber)"), featured("Taki Taki (feat. Selena Gomez, Ozuna & Cardi B)")
    (('Justin Bieber',), ('Selena Gomez', 'Ozuna', 'Cardi B'))
    >>> featured("Here Comes The Sun - Remastered 2009")
    ()
    """
    found = _FEATURED.search(title or "")
    return _unique(_CREDIT_SEPARATORS.split(found.group(1))) if found else ()
