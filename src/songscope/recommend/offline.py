"""Offline evaluation of recommendations against labels, with baselines and bootstrap CIs.

Protocols (as defined in the design):

- **genre-precision@10**: the catalogue deduplicated by track id (a track in several playlists
  carries all their genres); for fixed-seed query songs, the share of the 10 recommended songs
  that share a genre with the query.
- **playlist continuation**: each playlist with >= 10 tracks; 70% of its tracks are the seeds, 30%
  held out (fixed seed); precision@10, R-precision and NDCG@10 of the held-out tracks.

Every method answers the same queries; figures carry a 95% bootstrap CI over queries, and each
method is compared with songscope's default pairwise (the CI of the per-query difference).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from songscope.engines.local import LocalEngine
from songscope.features import FeatureSpace
from songscope.recommend.index import ExactIndex
from songscope.recommend.recommender import BACKGROUND, Recommender, RecommendOptions, taste_model

Method = Callable[[list[int], int], list[int]]  # (seed rows, n) -> recommended rows


def label_sets(values: pd.Series, separator: str = "|") -> list[frozenset[str]]:
    """Each cell's labels as a set (cells may hold several, joined with `separator`)."""
    return [frozenset(str(v).split(separator)) if pd.notna(v) and str(v) else frozenset() for v in values]


def bootstrap_ci(values: np.ndarray, *, resamples: int = 1000, seed: int = 0) -> tuple[float, float]:
    """95% percentile bootstrap interval of the mean."""
    values = np.asarray(values, dtype=float)
    if len(values) == 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    means = values[rng.integers(0, len(values), (resamples, len(values)))].mean(axis=1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


@dataclass
class Methods:
    """The baselines and songscope's default over one catalogue, all answering (seeds, n)."""

    tracks: pd.DataFrame
    seed: int = 0
    clusters: int = 50

    def __post_init__(self) -> None:
        self.space = FeatureSpace().fit(self.tracks)
        self.X = self.space.transform(self.tracks)
        self.index = ExactIndex().fit(self.X)
        self.popular = np.argsort(-self.tracks["popularity"].astype("Float64").fillna(-1).to_numpy(dtype=float), kind="stable")
        self.labels = LocalEngine("kmeans", n_clusters=min(self.clusters, len(self.tracks)), random_state=self.seed, n_init=1).fit(self.X).labels
        self.recommender = Recommender(self.tracks, self.space)
        self.rng = np.random.default_rng(self.seed)

    def all(self) -> dict[str, Method]:
        return {
            "random": self.random,
            "popularity": self.popularity,
            "same-cluster": self.same_cluster,
            "mean-vector kNN": self.mean_vector,
            "exact kNN": self.exact_knn,
            "songscope": self.songscope,
        }

    def _fill(self, ranked: np.ndarray, seeds: list[int], n: int) -> list[int]:
        seen = set(seeds)
        out = []
        for row in ranked.tolist():
            if row not in seen:
                seen.add(row)
                out.append(row)
                if len(out) == n:
                    break
        return out

    def random(self, seeds: list[int], n: int) -> list[int]:
        return self._fill(self.rng.choice(len(self.tracks), n + len(seeds), replace=False), seeds, n)

    def popularity(self, seeds: list[int], n: int) -> list[int]:
        return self._fill(self.popular[: n + len(seeds)], seeds, n)

    def same_cluster(self, seeds: list[int], n: int) -> list[int]:
        """The seed project's method: random songs from the seeds' clusters."""
        members = np.flatnonzero(np.isin(self.labels, self.labels[seeds]))
        return self._fill(self.rng.permutation(members), seeds, n)

    def mean_vector(self, seeds: list[int], n: int) -> list[int]:
        return self._fill(self.index.search(self.X[seeds].mean(axis=0), n + len(seeds))[0][0], seeds, n)

    def exact_knn(self, seeds: list[int], n: int) -> list[int]:
        """Nearest songs to any seed (each seed's neighbours merged by distance)."""
        idx, dist = self.index.search(self.X[seeds], n + len(seeds))
        order = np.argsort(dist.ravel(), kind="stable")
        return self._fill(idx.ravel()[order], seeds, n)

    def songscope(self, seeds: list[int], n: int) -> list[int]:
        result = self.recommender.recommend([self.recommender._ids[s] for s in seeds], RecommendOptions(n=n))
        return [int(self.recommender._by_id[item.track_id]) for item in result.items]


Progress = Callable[[str], None]


def genre_precision(
    tracks: pd.DataFrame, methods: dict[str, Method], *, label: str, queries: int = 2_000, k: int = 10, seed: int = 0, progress: Progress | None = None
) -> dict[str, np.ndarray]:
    """Per-query genre-precision@k of every method (same queries for all)."""
    genres = label_sets(tracks[label])
    rng = np.random.default_rng(seed)
    eligible = np.flatnonzero([bool(g) for g in genres])
    chosen = rng.choice(eligible, min(queries, len(eligible)), replace=False)
    out = {}
    for name, method in methods.items():
        if progress:
            progress(f"genre-precision@{k}: {name} on {len(chosen):,} queries")
        out[name] = np.array([np.mean([bool(genres[r] & genres[q]) for r in method([int(q)], k)] or [0.0]) for q in chosen])
    return out


def playlist_continuation(
    tracks: pd.DataFrame,
    methods: dict[str, Method],
    *,
    playlist: str,
    min_size: int = 10,
    k: int = 10,
    seed: int = 0,
    limit: int | None = None,
    progress: Progress | None = None,
) -> dict[str, dict[str, np.ndarray]]:
    """Per-playlist precision@k, R-precision and NDCG@k of every method."""
    members: dict[str, list[int]] = {}
    for row, names in enumerate(label_sets(tracks[playlist])):
        for name in names:
            members.setdefault(name, []).append(row)
    rng = np.random.default_rng(seed)
    lists = sorted(p for p, rows in members.items() if len(rows) >= min_size)
    if limit:
        lists = lists[:limit]
    splits = []
    for name in lists:
        rows = rng.permutation(members[name])
        cut = int(round(0.7 * len(rows)))
        splits.append((rows[:cut].tolist(), set(rows[cut:].tolist())))
    discount = 1 / np.log2(np.arange(2, k + 2))
    out: dict[str, dict[str, np.ndarray]] = {}
    for method_name, method in methods.items():
        p_at_k, r_prec, ndcg = [], [], []
        for done, (seeds, held) in enumerate(splits):
            if progress and done % 10 == 0:
                progress(f"playlist continuation: {method_name}, playlist {done + 1:,} of {len(splits):,}")
            ranked = method(seeds, max(k, len(held)))
            hits = np.array([r in held for r in ranked], dtype=float)
            p_at_k.append(hits[:k].sum() / k)
            r_prec.append(hits[: len(held)].sum() / len(held))
            ideal = discount[: min(k, len(held))].sum()
            ndcg.append(float((hits[:k] * discount[: len(hits[:k])]).sum() / ideal))
        out[method_name] = {"precision@10": np.array(p_at_k), "r_precision": np.array(r_prec), "ndcg@10": np.array(ndcg)}
    return out


def summary_table(per_query: dict[str, np.ndarray], *, reference: str = "songscope", metric: str = "genre_precision@10") -> pd.DataFrame:
    """Mean, 95% CI, and the paired difference with `reference` (with its CI), per method."""
    rows = []
    for name, values in per_query.items():
        low, high = bootstrap_ci(values)
        row = {"metric": metric, "method": name, "mean": float(values.mean()), "ci_low": low, "ci_high": high, "queries": len(values)}
        if reference in per_query and name != reference:
            diff = per_query[reference] - values
            d_low, d_high = bootstrap_ci(diff)
            row |= {"songscope_minus_this": float(diff.mean()), "diff_ci_low": d_low, "diff_ci_high": d_high}
        rows.append(row)
    return pd.DataFrame(rows)


def _rrf_scores(X_seeds: np.ndarray, X_candidates: np.ndarray) -> np.ndarray:
    """songscope's fusion over a candidate set: sum over seeds of 1 / (60 + rank of the candidate)."""
    d = ((X_candidates[None, :, :] - X_seeds[:, None, :]) ** 2).sum(axis=2)
    ranks = d.argsort(axis=1).argsort(axis=1) + 1
    return (1.0 / (60 + ranks)).sum(axis=0)


def liked_auc(
    tracks: pd.DataFrame, *, background: pd.DataFrame, target: str = "target", repeats: int = 20, seed: int = 0, background_size: int = BACKGROUND
) -> dict[str, np.ndarray]:
    """ROC AUC of liked (held-out) against disliked songs, ranked from half of the liked songs.

    Per repeat: a random half of the liked songs are the seeds; the other half and the disliked
    songs are ranked. songscope learns the listener's taste against a `background` sample (songs
    nobody labelled); "with dislikes" also learns from half of the disliked songs (ranked: the
    rest). Songs labelled both liked and disliked are left out.
    """
    from sklearn.metrics import roc_auc_score

    labelled = tracks[tracks[target].astype(str).isin(["0", "1"])].reset_index(drop=True)
    liked_mask = labelled[target].astype(str).to_numpy() == "1"
    space = FeatureSpace().fit(pd.concat([labelled, background], ignore_index=True))
    X, B = space.transform(labelled), space.transform(background)
    liked, disliked = np.flatnonzero(liked_mask), np.flatnonzero(~liked_mask)
    rng = np.random.default_rng(seed)
    out: dict[str, list[float]] = {"random": [], "kNN-10": [], "fusion only": [], "songscope": [], "songscope with dislikes": []}
    for _ in range(repeats):
        liked_perm, disliked_perm = rng.permutation(liked), rng.permutation(disliked)
        seeds, held = liked_perm[: len(liked) // 2], liked_perm[len(liked) // 2 :]
        candidates = np.r_[held, disliked]
        truth = np.r_[np.ones(len(held)), np.zeros(len(disliked))]
        sample = B[rng.choice(len(B), min(background_size, len(B)), replace=False)]
        out["random"].append(roc_auc_score(truth, rng.random(len(candidates))))
        d = ((X[candidates][:, None, :] - X[seeds][None, :, :]) ** 2).sum(axis=2)
        out["kNN-10"].append(roc_auc_score(truth, -np.sort(d, axis=1)[:, :10].mean(axis=1)))
        out["fusion only"].append(roc_auc_score(truth, _rrf_scores(X[seeds], X[candidates])))
        out["songscope"].append(roc_auc_score(truth, taste_model(X[seeds], sample, seed=seed).predict_proba(X[candidates])[:, 1]))
        negatives, rest = disliked_perm[: len(disliked) // 2], disliked_perm[len(disliked) // 2 :]
        candidates2 = np.r_[held, rest]
        truth2 = np.r_[np.ones(len(held)), np.zeros(len(rest))]
        model = taste_model(X[seeds], X[negatives], seed=seed)
        out["songscope with dislikes"].append(roc_auc_score(truth2, model.predict_proba(X[candidates2])[:, 1]))
    return {k: np.array(v) for k, v in out.items()}
