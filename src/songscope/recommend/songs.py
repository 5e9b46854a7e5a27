"""The songs a recommender or the web app can name, find and show, in a compact columnar form.

A catalogue too big for one pandas frame must still be searchable by id and by name. Holding it
as Python objects costs hundreds of bytes a song before any feature is stored (a str per id,
per artist, per title, an index entry per label); `SongTable` holds the same as Arrow string
arrays and numpy vectors, about 150 bytes a song for typical names (`nbytes` measures it), and
is built from the catalogue's record batches one at a time, so no whole-catalogue frame exists.

Lookups without per-song objects: an id or an exact "artist - title" is found by binary search
over a stored sort order (4 bytes a song each), a search for words by Arrow's vectorised
substring kernels, or (`search`, the web app's) by scanning the names in order of popularity,
stopping at the first page of hits.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from songscope.artists import SEPARATOR
from songscope.textcolumns import utf8_buffers

#: Columns a song table reads from the catalogue (`artists`: every artist, `songscope.artists`).
SONG_COLUMNS = ["track_id", "artist_name", "artists", "track_name", "popularity"]


def _strings(chunks: list[pa.Array]) -> pa.Array:
    return pa.concat_arrays(chunks) if chunks else pa.array([], type=pa.string())


def _order(values: pa.Array) -> np.ndarray:
    """Row numbers in ascending order of `values` (byte order, which is code-point order for UTF-8,
    so it agrees with Python's comparison of the decoded strings)."""
    order = pc.sort_indices(values).to_numpy()
    return order.astype(np.int32 if len(values) < 2**31 else np.int64)


def _names(table: pa.Table) -> tuple[pa.Array, pa.Array, pa.Array, bool]:
    """A batch's first artists, every artist (`SEPARATOR`-joined), titles, and whether any song
    has several artists (most batches have none: no lists to split, no names to join)."""
    artist = pc.fill_null(table["artist_name"].combine_chunks().cast(pa.string()), "")
    every = artist
    if "artists" in table.column_names:
        every = pc.if_else(pc.is_null(table["artists"].combine_chunks()), artist, table["artists"].combine_chunks().cast(pa.string()))
    title = pc.fill_null(table["track_name"].combine_chunks().cast(pa.string()), "")
    several = "artists" in table.column_names and bool(pc.any(pc.match_substring(every, SEPARATOR)).as_py())
    return artist, every, title, several


def _search_key(every: pa.Array, title: pa.Array, several: bool) -> pa.Array:
    shown = pc.replace_substring(every, SEPARATOR, ", ") if several else every
    return pc.utf8_lower(pc.binary_join_element_wise(shown, title, " - "))


def search_keys(table: pa.Table) -> pa.Array:
    """Each song's lower-case "artists - title" (artists as people read them, "a, b"), from a
    table with ``artist_name``, ``track_name`` and optionally ``artists``: what a song is found
    by, and what its name context places."""
    _, every, title, several = _names(table)
    return _search_key(every, title, several)


@dataclass
class SongTable:
    """Per song: id, artists, title, popularity, and integer codes of its normalised artists and
    of the song across versions (same normalised artists and title), so filters compare integers.

    A song has one or more artists (`songscope.artists`): ``artist`` is the code of its first
    (its display name, ``artist_name``), and ``artist_list[artist_starts[i]:artist_starts[i + 1]]``
    are the codes of all of song i's artists, in order. Its name is "artist, artist - title";
    each of its artists alone names it too (``alias_key``: "artist - title" for every artist of a
    song of several), so "Bing Crosby - Lo Que Fue" finds the duet."""

    track_id: pa.Array
    artist_name: pa.Array
    track_name: pa.Array
    search_key: pa.Array  # lower-case "artists - title"
    popularity: np.ndarray  # float32, NaN where unknown
    artist: np.ndarray  # int32 codes
    version: np.ndarray  # int32 codes
    id_order: np.ndarray
    key_order: np.ndarray
    artist_keys: pa.Array = field(default_factory=lambda: pa.array([], type=pa.string()))  # normalised artist of each code
    artist_starts: np.ndarray | None = None  # int64, one more than songs; None: one artist a song (`artist`)
    artist_list: np.ndarray | None = None  # int32 codes, every song's artists in order
    alias_key: pa.Array = field(default_factory=lambda: pa.array([], type=pa.string()))  # lower-case "artist - title"
    alias_row: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    alias_order: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int32))
    every_artist: pa.Array | None = None  # each song's artists joined (`artists.SEPARATOR`); None: one artist a song
    # `search`'s names in order of popularity, built at its first call: (UTF-8 bytes of every
    # search key, their offsets, the row of each).
    _by_popularity: tuple[bytes, np.ndarray, np.ndarray] | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_batches(cls, batches: Iterable[pa.Table | pa.RecordBatch]) -> SongTable:
        """Build from the catalogue's batches (at least `SONG_COLUMNS`), in their order."""
        from songscope.normalise import normalise_names

        ids, artists, titles, keys, popularity, artist_norm, version_norm = [], [], [], [], [], [], []
        counts, alias_keys, alias_rows, everyone = [], [], [], []
        seen = 0
        for batch in batches:
            table = pa.Table.from_batches([batch]) if isinstance(batch, pa.RecordBatch) else batch
            artist, every, title, several_here = _names(table)
            ids.append(table["track_id"].combine_chunks().cast(pa.string()))
            artists.append(artist)
            everyone.append(every)
            titles.append(title)
            keys.append(_search_key(every, title, several_here))
            if "popularity" in table.column_names:
                popularity.append(table["popularity"].combine_chunks().cast(pa.float32()).to_numpy(zero_copy_only=False))
            else:
                popularity.append(np.full(len(table), np.nan, dtype=np.float32))
            # Normalised per batch (its transient Python strings are bounded by the batch); only
            # the Arrow results are kept until every batch is in, for one global encoding.
            if several_here:
                listed = pc.split_pattern(every, SEPARATOR)
                lengths = pc.list_value_length(listed).to_numpy(zero_copy_only=False).astype(np.int64)
                flat = pc.list_flatten(listed)
            else:
                lengths, flat = np.ones(len(table), dtype=np.int64), every
            counts.append(lengths)
            artist_norm.append(normalise_names(flat))
            # A batch of one artist a song: its flat names are its songs' artists (normalised once).
            every_norm = artist_norm[-1] if len(flat) == len(table) else normalise_names(every)
            version_norm.append(pc.binary_join_element_wise(every_norm, normalise_names(title), "\x1f"))
            several = np.flatnonzero(lengths > 1)
            if len(several):  # each artist of a song of several names it alone too
                rows = np.repeat(several, lengths[several])
                starts = np.r_[0, np.cumsum(lengths)][several]
                positions = np.concatenate([np.arange(a, a + n) for a, n in zip(starts, lengths[several])])
                alias_keys.append(pc.utf8_lower(pc.binary_join_element_wise(flat.take(pa.array(positions)), title.take(pa.array(rows)), " - ")))
                alias_rows.append(rows + seen)
            seen += len(table)
        key = _strings(keys)
        track_id = _strings(ids)
        codes, artist_keys = _codes(artist_norm)
        lengths = np.concatenate(counts) if counts else np.empty(0, dtype=np.int64)
        starts = np.r_[0, np.cumsum(lengths)].astype(np.int64)
        alias = _strings(alias_keys)
        one_each = bool((lengths == 1).all())
        return cls(
            track_id=track_id, artist_name=_strings(artists), track_name=_strings(titles), search_key=key,
            popularity=np.concatenate(popularity).astype(np.float32) if popularity else np.empty(0, dtype=np.float32),
            artist=codes[starts[:-1]] if len(lengths) else codes, version=_codes(version_norm)[0], id_order=_order(track_id),
            key_order=_order(key), artist_keys=artist_keys, artist_starts=None if one_each else starts, artist_list=None if one_each else codes,
            alias_key=alias, alias_row=np.concatenate(alias_rows) if alias_rows else np.empty(0, dtype=np.int64), alias_order=_order(alias),
            every_artist=None if one_each else _strings(everyone),
        )

    @classmethod
    def from_frame(cls, tracks) -> SongTable:
        """From a catalogue frame in memory (the local engine's path; one batch)."""
        columns = [c for c in SONG_COLUMNS if c in tracks]
        return cls.from_batches([pa.Table.from_pandas(tracks[columns].reset_index(drop=True), preserve_index=False)])

    def __len__(self) -> int:
        return len(self.track_id)

    @property
    def nbytes(self) -> int:
        """Bytes the table holds (Arrow buffers and numpy arrays)."""
        arrays = (self.track_id, self.artist_name, self.track_name, self.search_key, self.artist_keys, self.alias_key,
                  *((self.every_artist,) if self.every_artist is not None else ()))
        vectors = (self.popularity, self.artist, self.version, self.id_order, self.key_order, self.alias_row, self.alias_order)
        several = (self.artist_starts, self.artist_list) if self.artist_starts is not None else ()
        return sum(a.nbytes for a in arrays) + sum(v.nbytes for v in (*vectors, *several))

    # ------------------------------------------------------------------------------ artists

    @property
    def several_artists(self) -> bool:
        """Whether any song has more than one artist."""
        return self.artist_starts is not None

    def artists_of(self, rows: Sequence[int] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The artist codes of `rows`, flat, and the position in `rows` each belongs to."""
        rows = np.asarray(rows, dtype=np.int64)
        if self.artist_starts is None:
            return self.artist[rows], np.arange(len(rows))
        lengths = self.artist_starts[rows + 1] - self.artist_starts[rows]
        owner = np.repeat(np.arange(len(rows)), lengths)
        positions = np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths) + np.repeat(self.artist_starts[rows], lengths)
        return self.artist_list[positions], owner

    def by_any_of(self, rows: Sequence[int] | np.ndarray, artists: np.ndarray) -> np.ndarray:
        """Which of `rows` have any of `artists` (codes) among their artists."""
        codes, owner = self.artists_of(rows)
        hit = np.zeros(len(np.asarray(rows)), dtype=bool)
        hit[owner[np.isin(codes, artists)]] = True
        return hit

    def artist_lists(self) -> tuple[np.ndarray, np.ndarray]:
        """Every song's artist codes as (starts, codes): song i's are codes[starts[i]:starts[i + 1]]."""
        if self.artist_starts is None:
            return np.arange(len(self) + 1, dtype=np.int64), self.artist
        return self.artist_starts, self.artist_list

    # ------------------------------------------------------------------------------ lookups

    def _equal_range(self, values: pa.Array, order: np.ndarray, key: str) -> tuple[int, int]:
        """Positions [lo, hi) in `order` whose value equals `key` (binary search)."""
        def first(strictly_after: bool) -> int:
            lo, hi = 0, len(order)
            while lo < hi:
                mid = (lo + hi) // 2
                value = values[int(order[mid])].as_py()
                if value < key or (strictly_after and value == key):
                    lo = mid + 1
                else:
                    hi = mid
            return lo

        return first(False), first(True)

    def row_of_id(self, track_id: str) -> int | None:
        """The row of `track_id`, or None."""
        lo, hi = self._equal_range(self.track_id, self.id_order, str(track_id))
        return int(self.id_order[lo]) if hi > lo else None

    def rows_of_ids(self, track_ids: Sequence[str]) -> np.ndarray:
        """The rows of `track_ids` (-1 where unknown)."""
        rows = [self.row_of_id(t) for t in track_ids]
        return np.array([-1 if r is None else r for r in rows], dtype=np.int64)

    def rows_named(self, name: str) -> np.ndarray:
        """Rows whose "artists - title", or "artist - title" for any one of its artists, is
        `name`, ignoring case (several versions may share it)."""
        key = _lower(name)
        lo, hi = self._equal_range(self.search_key, self.key_order, key)
        found = self.key_order[lo:hi].astype(np.int64)
        if len(self.alias_key):
            lo, hi = self._equal_range(self.alias_key, self.alias_order, key)
            found = np.union1d(found, self.alias_row[self.alias_order[lo:hi]])
        return np.sort(found).astype(np.int64)

    def names(self) -> pa.Array:
        """Every name a song is known by (its "artists - title", and each of its artists' alone)."""
        return pa.concat_arrays([self.search_key, self.alias_key]) if len(self.alias_key) else self.search_key

    def rows_containing(self, words: Sequence[str]) -> np.ndarray:
        """Rows whose lower-case "artist - title" contains every one of `words` (literal text)."""
        mask = None
        for word in words:
            found = pc.match_substring(self.search_key, _lower(word))
            mask = found if mask is None else pc.and_(mask, found)
        if mask is None:
            return np.arange(len(self), dtype=np.int64)
        return np.flatnonzero(mask.to_numpy(zero_copy_only=False))

    def search(self, words: Sequence[str], limit: int) -> np.ndarray:
        """The `limit` most popular rows whose lower-case "artist - title" contains every one of
        `words` (literal text), most popular first (unknown popularity last, then by row): what
        ``rows_containing`` finds, ordered so, and cut.

        The names are scanned most popular first, so a search stops at its first `limit` hits:
        it costs its hits, not the catalogue (Arrow's kernel over every name took 3 ms for 16k
        songs, and grows with the catalogue). The scan holds one more copy of the names.
        """
        needles = sorted({_lower(w).encode() for w in words if w}, key=len, reverse=True)
        if limit <= 0:
            return np.empty(0, dtype=np.int64)
        text, offsets, rows = self._names_by_popularity()
        if not needles:
            return rows[:limit].astype(np.int64)
        first, others = needles[0], needles[1:]  # the longest word is likely the rarest
        found: list[int] = []
        at = 0
        while len(found) < limit:
            hit = text.find(first, at)
            if hit < 0:
                break
            name = int(np.searchsorted(offsets, hit, side="right")) - 1
            end = int(offsets[name + 1])
            if hit + len(first) > end:  # runs into the next name: look again just after
                at = hit + 1
                continue
            if all(word in text[offsets[name]:end] for word in others):
                found.append(name)
            at = end
        return rows[found].astype(np.int64)

    def _names_by_popularity(self) -> tuple[bytes, np.ndarray, np.ndarray]:
        if self._by_popularity is None:
            popularity = np.nan_to_num(self.popularity, nan=-1.0)
            rows = np.argsort(-popularity, kind="stable")
            data, offsets = utf8_buffers(self.search_key.take(pa.array(rows)))
            self._by_popularity = (data.tobytes(), offsets, rows)
        return self._by_popularity

    def artist_codes(self, names: Sequence[str]) -> list[int | None]:
        """The artist code of each of `names`, normalised as the catalogue's were (any case, accents
        and "feat." aside), or None for an artist the catalogue does not have."""
        from songscope.normalise import normalise_names

        found = pc.index_in(normalise_names(pa.array(list(names), type=pa.string())), value_set=self.artist_keys)
        return found.to_pylist()

    def label(self, row: int) -> str:
        """The song as "artist - title" (every artist, joined with commas)."""
        return self.labels([row])[0]

    def labels(self, rows: Sequence[int] | np.ndarray) -> list[str]:
        rows = np.asarray(rows, dtype=np.int64)
        names = self.artist_name.take(pa.array(rows)).to_pylist()
        if self.artist_starts is not None:
            names = [", ".join(every) for every in self.all_artist_names(rows)]
        return [f"{a} - {t}" for a, t in zip(names, self.track_names(rows))]

    def all_artist_names(self, rows: Sequence[int] | np.ndarray) -> list[list[str]]:
        """Every artist of each of `rows`, in order, as its catalogue writes them."""
        rows = np.asarray(rows, dtype=np.int64)
        if self.every_artist is None:
            return [[name] for name in self.artist_names(rows)]
        return [joined.split(SEPARATOR) for joined in self.every_artist.take(pa.array(rows)).to_pylist()]

    def ids(self, rows: Sequence[int] | np.ndarray) -> list[str]:
        return self.track_id.take(pa.array(np.asarray(rows, dtype=np.int64))).to_pylist()

    def artist_names(self, rows: Sequence[int] | np.ndarray) -> list[str]:
        return self.artist_name.take(pa.array(np.asarray(rows, dtype=np.int64))).to_pylist()

    def track_names(self, rows: Sequence[int] | np.ndarray) -> list[str]:
        return self.track_name.take(pa.array(np.asarray(rows, dtype=np.int64))).to_pylist()


def _lower(text: str) -> str:
    """Lower case as the stored keys were lowered (Arrow's and Python's case maps differ on a few characters)."""
    return pc.utf8_lower(pa.scalar(text, type=pa.string())).as_py()


def _codes(chunks: list[pa.Array]) -> tuple[np.ndarray, pa.Array]:
    """One integer code per distinct value across all chunks, in order of first appearance, and
    the distinct values (code i is value i)."""
    if not chunks:
        return np.empty(0, dtype=np.int32), pa.array([], type=pa.string())
    # On a chunked array Arrow encodes every chunk against one shared dictionary.
    encoded = pc.dictionary_encode(pa.chunked_array(chunks, type=pa.string()))
    dictionary = encoded.chunks[0].dictionary if encoded.num_chunks else pa.array([], type=pa.string())
    return np.concatenate([chunk.indices.to_numpy(zero_copy_only=False) for chunk in encoded.chunks]).astype(np.int32), dictionary
