"""Synthetic songs that follow a real catalogue's distributions, for scale tests and benchmarks.

A Gaussian copula: each numeric column keeps its empirical marginal (quantiles of the reference),
and the columns keep their rank correlations (the correlation of normal scores). Discrete columns
(key, mode, time signature, popularity) are drawn from their empirical steps, not interpolated.
Artists follow a Zipf law, as real catalogues concentrate on a few artists.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from songscope import schema

_ID_ALPHABET = np.array(list("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"))
_QUANTILES = 2001


@dataclass
class CopulaModel:
    """Quantile tables per column and the correlation of their normal scores."""

    columns: list[str]
    quantiles: np.ndarray  # (len(columns), _QUANTILES)
    discrete: list[bool]
    correlation: np.ndarray

    @classmethod
    def fit(cls, tracks: pd.DataFrame) -> CopulaModel:
        columns = [c.name for c in schema.NUMERIC_COLUMNS if c.name in tracks and tracks[c.name].notna().all()]
        values = tracks[columns].astype(float).to_numpy()
        grid = np.linspace(0, 1, _QUANTILES)
        quantiles = np.quantile(values, grid, axis=0, method="inverted_cdf").T
        ranks = stats.rankdata(values, axis=0) / (len(values) + 1)
        normal_scores = stats.norm.ppf(ranks)
        correlation = np.corrcoef(normal_scores, rowvar=False)
        discrete = [schema.NUMERIC_BY_NAME[c].integer and c != "duration_ms" for c in columns]
        return cls(columns, quantiles, discrete, correlation)

    def sample(self, rows: int, rng: np.random.Generator) -> pd.DataFrame:
        normals = rng.multivariate_normal(np.zeros(len(self.columns)), self.correlation, size=rows, method="cholesky")
        uniforms = stats.norm.cdf(normals)
        grid = np.linspace(0, 1, _QUANTILES)
        out = {}
        for j, name in enumerate(self.columns):
            if self.discrete[j]:
                index = np.minimum((uniforms[:, j] * (_QUANTILES - 1)).round().astype(int), _QUANTILES - 1)
                column = self.quantiles[j][index]
            else:
                column = np.interp(uniforms[:, j], grid, self.quantiles[j])
            if schema.NUMERIC_BY_NAME[name].integer:
                column = np.round(column).astype(np.int64)
            out[name] = column
        return pd.DataFrame(out)


#: Songs generated at a time by `synthesize_chunks` (bounded memory for any size).
CHUNK_ROWS = 1_000_000


def synthesize_chunks(reference: pd.DataFrame, rows: int, seed: int = 0, chunk_rows: int = CHUNK_ROWS):
    """`synthesize` in chunks of at most `chunk_rows` songs, for catalogues bigger than memory:
    one artist pool across chunks, song names numbered across chunks, each chunk its own seed."""
    if rows <= chunk_rows:
        yield synthesize(reference, rows, seed)
        return
    for number, start in enumerate(range(0, rows, chunk_rows)):
        yield synthesize(reference, min(chunk_rows, rows - start), seed=(seed, number), first_song=start, artists=max(rows // 20, 1))


def synthesize(reference: pd.DataFrame, rows: int, seed: int | tuple = 0, *, first_song: int = 0, artists: int | None = None) -> pd.DataFrame:
    """`rows` synthetic songs in the canonical layout, following `reference`'s distributions.

    Examples
    --------
    >>> from songscope.clean import read_and_clean
    >>> from songscope.seed import seed_paths
    >>> songs = synthesize(read_and_clean(seed_paths())[1].tracks, 1000, seed=1)
    >>> len(songs), songs["track_id"].is_unique
    (1000, True)
    """
    rng = np.random.default_rng(seed)
    model = CopulaModel.fit(reference)
    features = model.sample(rows, rng)
    n_artists = artists or max(rows // 20, 1)
    # Zipf-like artist sizes: a few artists hold many songs, as in the seed (Beethoven, Bach, ...).
    weights = 1.0 / np.arange(1, n_artists + 1) ** 1.1
    artist = rng.choice(n_artists, size=rows, p=weights / weights.sum())
    ids = _unique_ids(rows, rng)
    frame = pd.DataFrame(
        {
            "track_id": ids,
            "artist_name": np.char.add("Synth Artist ", artist.astype(str)),
            "track_name": np.char.add("Synth Song ", np.arange(first_song, first_song + rows).astype(str)),
        }
    )
    frame = pd.concat([frame, features], axis=1).assign(artists=frame["artist_name"], artist_ids=None)  # one artist a song, no ids
    return frame[[c for c in schema.CANONICAL_COLUMNS if c in frame]]


def _unique_ids(rows: int, rng: np.random.Generator) -> np.ndarray:
    """22-character base-62 ids like Spotify's, unique (redrawn on the rare collision)."""
    ids = np.empty(0, dtype="<U22")
    while len(ids) < rows:
        draw = _ID_ALPHABET[rng.integers(0, 62, size=(rows - len(ids), 22))]
        ids = np.unique(np.concatenate([ids, draw.view("<U22").ravel()]))
    return rng.permutation(ids)[:rows]
