"""From favourite songs to new songs, each with its reasons.

Several favourites are not averaged into one vector (the average of a calm acoustic song and a
loud dance track is a bland song neither listener mood wanted): each seed ranks the catalogue on
its own and the rankings are fused by reciprocal rank (``sum 1 / (60 + rank)``), so a list with two
moods gets both. Closeness is measured in `SongDistance`'s space (learned feature weights plus the
artist's typical sound; see `recommend/distance.py`). With ten or more favourites, or any dislike,
songscope also learns the listener's taste (gradient-boosted trees: favourites against dislikes, or
against a background sample of the catalogue) and re-ranks the fused candidates by its probability;
how much that changed the list is reported. (Offline, on one listener's liked/disliked songs, that
taste model ranks held-out likes above dislikes with ROC AUC 0.82 from likes alone and 0.90 with
dislikes; see `songscope eval-recs`.)
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from songscope.clean import normalise_names
from songscope.features import FeatureSpace
from songscope.recommend.distance import SongDistance
from songscope.recommend.index import build_index
from songscope.recommend.options import RecommendOptions

RRF_K = 60
POOL = 300  # neighbours each seed contributes before filters and diversity
#: From this many favourites (or with any dislike) songscope also learns the listener's taste.
TASTE_MIN_FAVOURITES = 10
BACKGROUND = 2_000  # catalogue songs the taste model contrasts the favourites with


class UnknownSongError(ValueError):
    """A favourite that matches no song, or several equally well; the message lists the closest."""


@dataclass
class Recommendation:
    rank: int
    track_id: str
    artist_name: str
    track_name: str
    score: float
    nearest_seed: str
    distance: float
    similar_in: list[str]
    differs_in: list[str]
    contributions: dict[str, float]
    cluster: int | None = None
    cluster_description: str | None = None

    def reason(self) -> str:
        text = f"close to {self.nearest_seed} in {', '.join(self.similar_in)}"
        if self.differs_in:
            text += f"; differs in {', '.join(self.differs_in)}"
        if self.cluster_description:
            text += f"; cluster {self.cluster}: {self.cluster_description}"
        return text


@dataclass
class RecommendResult:
    seeds: list[str]
    dislikes: list[str]
    items: list[Recommendation]
    notes: list[str] = field(default_factory=list)
    dislike_effect: dict[str, Any] | None = None
    seed_ids: list[str] = field(default_factory=list)  # the favourites' track ids, as resolved

    def to_frame(self) -> pd.DataFrame:
        return pd.DataFrame([{**item.__dict__, "reason": item.reason()} for item in self.items])


class Recommender:
    """Recommends from a catalogue in a fitted feature space.

    Parameters
    ----------
    tracks : the catalogue (canonical columns; row order is the index order).
    space : a fitted `FeatureSpace` (the recommendation space).
    clusters : optional (track_id -> cluster) and (cluster -> description) for the reasons.
    """

    def __init__(self, tracks: pd.DataFrame, space: FeatureSpace, *, clusters: pd.Series | None = None,
                 descriptions: dict[int, str] | None = None, index_kind: str = "auto", distance: SongDistance | None = None):
        self.tracks = tracks.reset_index(drop=True)
        self.space = space
        self.distance = distance or SongDistance()
        labels = (self.tracks["artist_name"].astype(str) + " - " + self.tracks["track_name"].astype(str)).to_numpy()
        self._labels = labels
        self._ids = self.tracks["track_id"].astype(str).to_numpy()
        self._artists = self.tracks["artist_name"].astype(str).to_numpy()
        self._titles = self.tracks["track_name"].astype(str).to_numpy()
        self._by_id = pd.Series(np.arange(len(self.tracks)), index=self.tracks["track_id"])
        self._by_label = pd.Series(np.arange(len(self.tracks)), index=pd.Index(np.char.lower(labels.astype(str))))
        artist_norm = normalise_names(self.tracks["artist_name"].astype(str).to_numpy()).to_numpy(zero_copy_only=False)
        title_norm = normalise_names(self.tracks["track_name"].astype(str).to_numpy()).to_numpy(zero_copy_only=False)
        # Integer ids of each song's artist and of the song itself across versions (same
        # normalised artist and title), so filters are array operations, not string compares.
        self._artist = pd.factorize(artist_norm)[0]
        self._version = pd.factorize(pd.Series(artist_norm) + "\x1f" + pd.Series(title_norm))[0]
        #: The songs in the feature space (for reasons) and in the metric's space (for search).
        self.features = space.transform(self.tracks)
        self._weights = self.distance.weight_vector(space.output_names)
        self.X = self.distance.embed(self.features, space.output_names, self._artist)
        self.index = build_index(self.X, index_kind)
        self.clusters = None if clusters is None else self.tracks["track_id"].map(clusters).to_numpy()
        self.descriptions = descriptions or {}

    # ----------------------------------------------------------------------------- resolving songs

    def resolve(self, query: str) -> int:
        """The row of a song named by track id or "artist - title" (case-insensitive, fuzzy)."""
        query = query.strip()
        if not query:
            raise UnknownSongError("an empty favourite: name a song by track id or as 'artist - title'")
        if query in self._by_id.index:
            return int(self._by_id[query])
        key = query.lower()
        if key in self._by_label.index:
            rows = np.atleast_1d(self._by_label[key])
            # Several versions under one name: the most popular stands for the song.
            popularity = self.tracks.loc[rows, "popularity"].astype("Float64").fillna(-1).to_numpy()
            return int(rows[int(np.argmax(popularity))])
        close = difflib.get_close_matches(key, self._by_label.index.unique().tolist(), n=5, cutoff=0.6)
        if close and difflib.SequenceMatcher(None, key, close[0]).ratio() >= 0.9 and (
            len(close) == 1 or difflib.SequenceMatcher(None, key, close[1]).ratio() < 0.9
        ):
            return int(np.atleast_1d(self._by_label[close[0]])[0])
        if close:
            names = "; ".join(self._labels[int(np.atleast_1d(self._by_label[c])[0])] for c in close)
            raise UnknownSongError(f"{query!r} is not in the catalogue, or not uniquely; closest: {names}")
        raise UnknownSongError(f"{query!r} matches no song: name it by track id or as 'artist - title' (see songscope status)")

    # ----------------------------------------------------------------------------- recommending

    def recommend(self, favourites: list[str], options: RecommendOptions | None = None, dislikes: list[str] | None = None) -> RecommendResult:
        options = options or RecommendOptions()
        options.validate()
        if not favourites:
            raise UnknownSongError("no favourites given: name at least one song")
        seeds = list(dict.fromkeys(self.resolve(q) for q in favourites))
        disliked = list(dict.fromkeys(self.resolve(q) for q in (dislikes or [])))
        if set(seeds) & set(disliked):
            raise ValueError("a song cannot be both a favourite and a dislike")
        notes = []
        candidates, scores, nearest = self._fuse(seeds, options)
        keep = self._filter(candidates, seeds, disliked, options)
        candidates, scores, nearest = candidates[keep], scores[keep], nearest[keep]
        nearest_seed = dict(zip(candidates.tolist(), nearest.tolist()))
        effect = None
        if options.taste and (disliked or len(seeds) >= TASTE_MIN_FAVOURITES) and len(candidates):
            baseline = self._select(candidates, scores, options)
            like = self._taste(seeds, disliked, candidates)
            # The taste model decides; the fused closeness only breaks near-ties.
            adjusted = like + 0.05 * scores / (scores.max() or 1.0)
            chosen = self._select(candidates, adjusted, options)
            overlap = len(set(baseline) & set(chosen))
            position = {c: i for i, c in enumerate(candidates.tolist())}
            effect = {
                "changed": len(chosen) - overlap, "of": len(chosen), "learned_from": "dislikes" if disliked else "background",
                "mean_like_probability": float(np.mean([like[position[c]] for c in chosen])) if chosen else None,
            }
            source = "dislikes" if disliked else f"your {len(seeds)} favourites against the catalogue"
            notes.append(f"the taste model (from {source}) changed {effect['changed']} of the {len(chosen)} recommendations")
            scores, final = adjusted, chosen
        else:
            final = self._select(candidates, scores, options)
        score_of = dict(zip(candidates.tolist(), scores.tolist()))
        items = [self._explain(rank + 1, c, score_of[c], nearest_seed[c]) for rank, c in enumerate(final)]
        if len(items) < options.n:
            notes.append(f"only {len(items)} songs pass the filters (asked for {options.n})")
        return RecommendResult(
            seeds=[self._labels[s] for s in seeds], dislikes=[self._labels[d] for d in disliked], items=items, notes=notes, dislike_effect=effect,
            seed_ids=[str(self._ids[s]) for s in seeds],
        )

    def _fuse(self, seeds: list[int], options: RecommendOptions) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Candidates, their fused scores (sum over seeds of 1 / (60 + rank)) and nearest seed."""
        pool = min(len(self.tracks), max(POOL, 10 * options.n))
        neighbours, distances = self.index.search(self.X[seeds], pool)
        ranks = np.broadcast_to(np.arange(1, neighbours.shape[1] + 1), neighbours.shape)
        owner = np.broadcast_to(np.asarray(seeds)[:, None], neighbours.shape)
        valid = neighbours >= 0
        songs, rank, dist, seed = neighbours[valid], ranks[valid], distances[valid], owner[valid]
        candidates, position = np.unique(songs, return_inverse=True)
        scores = np.bincount(position, weights=1.0 / (RRF_K + rank), minlength=len(candidates))
        # The nearest seed of each candidate: sort by (candidate, distance), keep the first of each.
        order = np.lexsort((dist, position))
        first = order[np.r_[True, position[order][1:] != position[order][:-1]]]
        nearest = np.empty(len(candidates), dtype=np.int64)
        nearest[position[first]] = seed[first]
        return candidates, scores, nearest

    def _filter(self, candidates: np.ndarray, seeds: list[int], disliked: list[int], options: RecommendOptions) -> np.ndarray:
        """A mask of the candidates that pass the options' filters."""
        keep = ~np.isin(candidates, seeds + disliked)
        if options.exclude_versions:
            keep &= ~np.isin(self._version[candidates], self._version[seeds])
        if options.exclude_seed_artists:
            keep &= ~np.isin(self._artist[candidates], self._artist[seeds])
        if options.cluster is not None:
            if self.clusters is None:
                raise ValueError("no clustering run to restrict to: run songscope cluster first")
            keep &= self.clusters[candidates] == options.cluster
        if options.popularity is not None:
            pop = self.tracks["popularity"].astype("Float64").to_numpy(dtype=float, na_value=np.nan)[candidates]
            keep &= (pop >= options.popularity[0]) & (pop <= options.popularity[1])
        return keep

    def _select(self, candidates: np.ndarray, scores: np.ndarray, options: RecommendOptions) -> list[int]:
        """Best first, with the per-artist cap and, if asked, MMR diversity re-ranking."""
        order = candidates[np.argsort(-scores, kind="stable")]
        relevance = dict(zip(candidates.tolist(), (scores / (scores.max() or 1.0)).tolist()))
        chosen: list[int] = []
        per_artist: dict[int, int] = {}
        versions: set[int] = set()
        remaining = order.tolist()
        while remaining and len(chosen) < options.n:
            if options.diversity is None or not chosen:
                pick = remaining[0]
            else:
                pool = np.array(remaining[: 10 * options.n])
                # Similarity to the closest song already chosen, on the same 0..1 scale as relevance.
                d = ((self.X[pool][:, None, :] - self.X[chosen][None, :, :]) ** 2).sum(axis=2).min(axis=1)
                similarity = np.exp(-d / self.X.shape[1])
                value = options.diversity * np.array([relevance[p] for p in pool]) - (1 - options.diversity) * similarity
                pick = int(pool[int(np.argmax(value))])
            remaining.remove(pick)
            artist, version = int(self._artist[pick]), int(self._version[pick])
            # One version of a song is enough (a remaster, a re-release, a case-changed title).
            if options.exclude_versions and version in versions:
                continue
            if options.per_artist is not None and per_artist.get(artist, 0) >= options.per_artist:
                continue
            per_artist[artist] = per_artist.get(artist, 0) + 1
            versions.add(version)
            chosen.append(pick)
        return chosen

    def _taste(self, likes: list[int], dislikes: list[int], candidates: np.ndarray) -> np.ndarray:
        """P(like) of the candidates: favourites against dislikes, or against a background sample."""
        if dislikes:
            negatives = self.X[dislikes]
        else:
            rng = np.random.default_rng(0)
            pool = np.setdiff1d(np.arange(len(self.X)), likes)
            negatives = self.X[rng.choice(pool, min(BACKGROUND, len(pool)), replace=False)]
        return taste_model(self.X[likes], negatives).predict_proba(self.X[candidates])[:, 1]

    def _explain(self, rank: int, song: int, score: float, seed: int) -> Recommendation:
        """Why `song` was recommended: its nearest seed, and each feature's share of the squared
        distance between them in the metric (the artist context as one share, "artist sound")."""
        names = self.space.output_names
        own = (self._weights * (self.features[song] - self.features[seed])) ** 2
        artist = float(((self.X[song, len(names) :] - self.X[seed, len(names) :]) ** 2).sum())
        total = float(own.sum()) + artist or 1.0
        counted = [j for j in np.argsort(own) if self._weights[j] > 0]
        raw = self.space.inverse_scale(self.features[[song, seed]])
        differs = []
        for j in counted[::-1][:2]:
            if own[j] / total < 0.2:
                break
            direction = "higher" if raw[0, j] > raw[1, j] else "lower"
            differs.append(f"{direction} {names[j]}")
        if artist / total >= 0.3:
            differs.append("artist's sound")
        contributions = {names[j]: round(float(own[j] / total), 4) for j in range(len(names))}
        if self.X.shape[1] > len(names):
            contributions["artist sound"] = round(artist / total, 4)
        cluster = None if self.clusters is None else _as_int(self.clusters[song])
        return Recommendation(
            rank=rank,
            track_id=self._ids[song],
            artist_name=self._artists[song],
            track_name=self._titles[song],
            score=round(float(score), 6),
            nearest_seed=str(self._labels[seed]),
            distance=round(float(np.sqrt(total)), 4),
            similar_in=[names[j] for j in counted[:3]],
            differs_in=differs,
            contributions=contributions,
            cluster=cluster,
            cluster_description=self.descriptions.get(cluster) if cluster is not None else None,
        )


def taste_model(positives: np.ndarray, negatives: np.ndarray, *, seed: int = 0):
    """A listener's taste: gradient-boosted trees separating their liked songs from `negatives`
    (disliked songs, or a background sample of the catalogue). Trees, not a linear model: liking
    is rarely monotone in a feature (neither the quietest nor the loudest songs). Classes are
    weighted to balance, so a handful of favourites is not drowned by the background. With fewer
    than 20 examples of either side, trees cannot split (they need 20 songs a leaf): a regularised
    logistic regression takes over."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    X = np.vstack([positives, negatives])
    y = np.r_[np.ones(len(positives)), np.zeros(len(negatives))]
    weights = np.where(y == 1, len(negatives) / max(len(positives), 1), 1.0)
    if min(len(positives), len(negatives)) < 20:
        return LogisticRegression(C=0.5, max_iter=1000).fit(X, y, sample_weight=weights)
    # One thread: on a few thousand songs threads only add overhead, and with several the trees'
    # binning step goes through joblib, whose result polling slept about 1 s per fit here.
    with threadpool_limits(1, user_api="openmp"):
        return HistGradientBoostingClassifier(max_iter=100, learning_rate=0.1, max_bins=32, random_state=seed).fit(X, y, sample_weight=weights)


def _as_int(value: object) -> int | None:
    try:
        return None if value is None or (isinstance(value, float) and np.isnan(value)) else int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
