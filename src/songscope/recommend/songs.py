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

#: Columns a song table reads from the catalogue.
SONG_COLUMNS = ["track_id", "artist_name", "track_name", "popularity"]


def _strings(chunks: list[pa.Array]) -> pa.Array:
    return pa.concat_arrays(chunks) if chunks else pa.array([], type=pa.string())


def _order(values: pa.Array) -> np.ndarray:
    """Row numbers in ascending order of `values` (byte order, which is code-point order for UTF-8,
    so it agrees with Python's comparison of the decoded strings)."""
    order = pc.sort_indices(values).to_numpy()
    return order.astype(np.int32 if len(values) < 2**31 else np.int64)


@dataclass
class SongTable:
    """Per song: id, artist, title, popularity, and integer codes of its normalised artist and of
    the song across versions (same normalised artist and title), so filters compare integers."""

    track_id: pa.Array
    artist_name: pa.Array
    track_name: pa.Array
    search_key: pa.Array  # lower-case "artist - title"
    popularity: np.ndarray  # float32, NaN where unknown
    artist: np.ndarray  # int32 codes
    version: np.ndarray  # int32 codes
    id_order: np.ndarray
    key_order: np.ndarray
    artist_keys: pa.Array = field(default_factory=lambda: pa.array([], type=pa.string()))  # normalised artist of each code
    # `search`'s names in order of popularity, built at its first call: (UTF-8 bytes of every
    # search key, their offsets, the row of each).
    _by_popularity: tuple[bytes, np.ndarray, np.ndarray] | None = field(default=None, repr=False, compare=False)

    @classmethod
    def from_batches(cls, batches: Iterable[pa.Table | pa.RecordBatch]) -> SongTable:
        """Build from the catalogue's batches (at least `SONG_COLUMNS`), in their order."""
        from songscope.clean import normalise_names

        ids, artists, titles, keys, popularity, artist_norm, version_norm = [], [], [], [], [], [], []
        for batch in batches:
            table = pa.Table.from_batches([batch]) if isinstance(batch, pa.RecordBatch) else batch
            artist = pc.fill_null(table["artist_name"].combine_chunks().cast(pa.string()), "")
            title = pc.fill_null(table["track_name"].combine_chunks().cast(pa.string()), "")
            ids.append(table["track_id"].combine_chunks().cast(pa.string()))
            artists.append(artist)
            titles.append(title)
            keys.append(pc.utf8_lower(pc.binary_join_element_wise(artist, title, " - ")))
            if "popularity" in table.column_names:
                popularity.append(table["popularity"].combine_chunks().cast(pa.float32()).to_numpy(zero_copy_only=False))
            else:
                popularity.append(np.full(len(table), np.nan, dtype=np.float32))
            # Normalised per batch (its transient Python strings are bounded by the batch); only
            # the Arrow results are kept until every batch is in, for one global encoding.
            a, t = normalise_names(artist), normalise_names(title)
            artist_norm.append(a)
            version_norm.append(pc.binary_join_element_wise(a, t, "\x1f"))
        key = _strings(keys)
        track_id = _strings(ids)
        artist_codes, artist_keys = _codes(artist_norm)
        return cls(
            track_id=track_id, artist_name=_strings(artists), track_name=_strings(titles), search_key=key,
            popularity=np.concatenate(popularity).astype(np.float32) if popularity else np.empty(0, dtype=np.float32),
            artist=artist_codes, version=_codes(version_norm)[0], id_order=_order(track_id), key_order=_order(key), artist_keys=artist_keys,
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
        arrays = (self.track_id, self.artist_name, self.track_name, self.search_key, self.artist_keys)
        vectors = (self.popularity, self.artist, self.version, self.id_order, self.key_order)
        return sum(a.nbytes for a in arrays) + sum(v.nbytes for v in vectors)

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
        """Rows whose "artist - title" is `name`, ignoring case (several versions may share it)."""
        lo, hi = self._equal_range(self.search_key, self.key_order, _lower(name))
        return np.sort(self.key_order[lo:hi]).astype(np.int64)

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
            keys = self.search_key.take(pa.array(rows)).cast(pa.large_string())
            keys = keys.combine_chunks() if isinstance(keys, pa.ChunkedArray) else keys
            offsets = np.frombuffer(keys.buffers()[1], dtype=np.int64)[keys.offset : keys.offset + len(keys) + 1]
            data = keys.buffers()[2]
            text = b"" if data is None else data.to_pybytes()[int(offsets[0]) : int(offsets[-1])]
            self._by_popularity = (text, offsets - offsets[0], rows)
        return self._by_popularity

    def artist_codes(self, names: Sequence[str]) -> list[int | None]:
        """The artist code of each of `names`, normalised as the catalogue's were (any case, accents
        and "feat." aside), or None for an artist the catalogue does not have."""
        from songscope.clean import normalise_names

        found = pc.index_in(normalise_names(pa.array(list(names), type=pa.string())), value_set=self.artist_keys)
        return found.to_pylist()

    def label(self, row: int) -> str:
        """The song as "artist - title"."""
        return f"{self.artist_name[row].as_py()} - {self.track_name[row].as_py()}"

    def labels(self, rows: Sequence[int] | np.ndarray) -> list[str]:
        rows = pa.array(np.asarray(rows, dtype=np.int64))
        return [f"{a} - {t}" for a, t in zip(self.artist_name.take(rows).to_pylist(), self.track_name.take(rows).to_pylist())]

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
