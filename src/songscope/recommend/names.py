"""Where a song's name places it: the name model, fitted once and kept.

Character n-grams (one to three letters, within words) of each song's lower-case "artists -
title - album" (`name_texts`; the album where the catalogue names one), weighted by TF-IDF
(sublinear term frequency, rows of unit length) and reduced by a truncated SVD: a few coordinates that place names by script and language (see `distance`, "Name
context"). Unsupervised: no label is read.

A `NameModel` is the fitted vocabulary, inverse document frequencies and SVD components: fitted
once on a fixed-seed sample of at most `NAME_FIT_SAMPLE` names, stored as bytes (`to_bytes`),
and then used to place any name without refitting (`project`). The weighting and the SVD are
fitted as scikit-learn's would be (`_name_fit`, tested equal), without its import on a first
ingest's critical path; the projection applies the fitted numbers in one compiled pass over each
name (`_name_placement`; `test_name_placement` checks it equals scikit-learn's own `transform`),
so a stored model needs no pickled objects.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa

#: Dimensions the names are reduced to.
NAME_DIMENSIONS = 8
#: Names the n-gram vocabulary and its reduction are fitted on (a fixed-seed sample of a larger
#: catalogue); every name is then placed by the fitted numbers.
NAME_FIT_SAMPLE = 50_000
#: Names placed at a time by one thread (`project`).
_NAME_CHUNK = 20_000
#: The most n-grams the vocabulary keeps (the most frequent).
MAX_GRAMS = 50_000
#: Columns that carry an album's name, the first present is read.
ALBUM_NAME_COLUMNS = ("track_album_name", "album_name", "album")
#: The columns a song's name text is made of (`name_texts`), those a catalogue has.
NAME_COLUMNS = ["artist_name", "artists", "track_name", *ALBUM_NAME_COLUMNS]


def name_texts(table) -> list[str]:
    """Each song's name text (`name_text_array`) as Python strings."""
    return name_text_array(table).to_pylist()


def name_text_array(table):
    """Each song's name text, as Arrow strings: its lower-case "artists - title"
    (`songs.search_keys`, what it is found by), then " - album" where the table names its album.
    An album's name says as much of style and language as a title does ("Reggaeton Hits",
    "Kinderlieder"), and more often. `table`: a pyarrow Table with ``artist_name`` and
    ``track_name``, optionally ``artists`` and an album name (`ALBUM_NAME_COLUMNS`)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from songscope.recommend.songs import search_keys

    keys = search_keys(table)
    column = next((c for c in ALBUM_NAME_COLUMNS if c in table.column_names), None)
    if column is None:
        return keys
    album = pc.utf8_lower(pc.cast(table.column(column), pa.string()))
    return pc.binary_join_element_wise(keys, album, " - ", null_handling="skip")


@dataclass(frozen=True, eq=False)
class NameModel:
    """A fitted name model: `grams` (the vocabulary, in column order), their `idf`, the SVD's
    `components` (rank x grams) and the `dimensions` a projection has (columns beyond the rank
    are zero). `fitted_on` is how many names the catalogue had when it was fitted."""

    grams: tuple[str, ...]
    idf: np.ndarray
    components: np.ndarray
    dimensions: int
    fitted_on: int

    @classmethod
    def fit(cls, names: Sequence[str], dimensions: int = NAME_DIMENSIONS, seed: int = 0) -> NameModel:
        """Fit on `names`, or on a fixed-seed sample of `NAME_FIT_SAMPLE` of them when there are more."""
        from songscope.recommend._name_fit import leading_components, sublinear_tfidf
        from songscope.recommend.ngrams import GramCounter, fit_vocabulary

        names = list(names)
        empty = cls((), np.zeros(0), np.zeros((0, 0)), dimensions, len(names))
        if not names:
            return empty
        rng = np.random.default_rng(seed)
        fitted_on = names if len(names) <= NAME_FIT_SAMPLE else [names[i] for i in np.sort(rng.choice(len(names), NAME_FIT_SAMPLE, replace=False))]
        # The n-grams are counted by `ngrams` (the same counts as scikit-learn's CountVectorizer,
        # several times faster: bench/name_ngrams.py), weighed and reduced as scikit-learn's
        # TfidfTransformer and TruncatedSVD(algorithm="arpack") would (`_name_fit`).
        vocabulary = fit_vocabulary(fitted_on, min_df=1 if len(fitted_on) < 1_000 else 2, max_features=MAX_GRAMS)
        counts = GramCounter(vocabulary).counts(fitted_on)
        rank = min(dimensions, counts.shape[1] - 1, len(fitted_on) - 1)
        if rank < 1:
            return empty
        weighted, idf = sublinear_tfidf(counts)
        del counts
        components = leading_components(weighted, rank, seed)
        grams = tuple(sorted(vocabulary, key=vocabulary.__getitem__))
        return cls(grams, idf.astype(np.float64), components.astype(np.float64), dimensions, len(names))

    def project(self, names: Sequence[str] | pa.Array) -> np.ndarray:
        """Each name's coordinates: float32 rows of unit length (zero for a name with no known
        n-gram). `names` may be Arrow strings (`name_text_array`): no Python string is made of them."""
        import pyarrow as pa

        names = names if isinstance(names, (pa.Array, pa.ChunkedArray)) else list(names)
        out = np.zeros((len(names), self.dimensions), dtype=np.float32)
        if not len(names) or not self.grams:
            return out
        from songscope.recommend._name_placement import place_block
        from songscope.recommend.ngrams import is_space_table, lowered_utf8

        data, offsets = lowered_utf8(names)
        slot_keys, slot_columns, shift = self._gram_table
        loadings = self._loadings
        is_space = is_space_table()

        def place(first: int) -> None:
            place_block(data, offsets, first, min(first + _NAME_CHUNK, len(names)), is_space, slot_keys, slot_columns, shift,
                        self.idf, loadings, out)

        # Blocks of names on every core: the compiled kernel runs without the GIL.
        with ThreadPoolExecutor(max_workers=min(os.cpu_count() or 1, 4)) as pool:
            list(pool.map(place, range(0, len(names), _NAME_CHUNK)))
        return out

    @cached_property
    def _gram_table(self) -> tuple[np.ndarray, np.ndarray, int]:
        """The vocabulary as `_name_placement`'s lookup table, built once per model."""
        from songscope.recommend._name_placement import gram_table
        from songscope.recommend.ngrams import gram_key

        return gram_table(np.fromiter(map(gram_key, self.grams), dtype=np.int64, count=len(self.grams)))

    @cached_property
    def _loadings(self) -> np.ndarray:
        """The SVD's components by n-gram (grams x rank), as the kernel reads them."""
        return np.ascontiguousarray(self.components.T, dtype=np.float64)

    def to_bytes(self) -> bytes:
        """The model as an ``.npz`` (no pickles): what the lake keeps."""
        from songscope.recommend.ngrams import gram_key

        buffer = io.BytesIO()
        np.savez(buffer, grams=np.array([gram_key(g) for g in self.grams], dtype=np.int64), idf=self.idf,
                 components=self.components, dimensions=np.int64(self.dimensions), fitted_on=np.int64(self.fitted_on))
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> NameModel:
        from songscope.recommend.ngrams import gram_of

        with np.load(io.BytesIO(data), allow_pickle=False) as found:
            return cls(tuple(gram_of(int(k)) for k in found["grams"]), found["idf"], found["components"],
                       int(found["dimensions"]), int(found["fitted_on"]))

    @cached_property
    def version(self) -> str:
        """A short digest of the model's content: coordinates are stored under it, so a model
        refitted later never mixes with the coordinates of another."""
        return hashlib.sha256(self.to_bytes()).hexdigest()[:16]


def name_coordinates(names: Sequence[str], dimensions: int = NAME_DIMENSIONS, seed: int = 0) -> np.ndarray:
    """Each name's place, from a model fitted on these names (see `NameModel`).

    >>> X = name_coordinates(["ana - casa", "ana - casas", "김 - 사랑", "이 - 사랑해", "bob - house", "bob - houses"], dimensions=2)
    >>> bool(np.linalg.norm(X[2] - X[3]) < np.linalg.norm(X[2] - X[4]))
    True
    """
    return NameModel.fit(names, dimensions, seed).project(names)
