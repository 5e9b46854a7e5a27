"""How songscope measures closeness between songs when it recommends.

Two ingredients on top of the shared `FeatureSpace` (standard-scaled audio features):

**Feature weights learned from labels** (a diagonal metric). In the standard space every feature
counts alike, but they do not say alike what kind of song it is: liveness measures how much
audience the recording picked up, not its style, while speechiness and tempo separate rap from
rock from EDM. `learn_weights` finds per-feature weights by coordinate search that maximise how
often a song's nearest neighbours share one of its labels (genres from playlists), on the training
half of a labelled catalogue only (`training_half`: a fixed hash of the track id, so the other
half stays untouched for evaluation). `DEFAULT_WEIGHTS` were learned that way on the TidyTuesday
songs (2020-01-21) and ship as the default; ``songscope eval-recs --learn-weights`` learns them
again on any labelled catalogue and reports both.

**Artist context.** A song is placed by its own features and, with equal weight, by its
artist's typical sound (the mean of that artist's songs in the catalogue). One song's features
are a noisy sample of a style; the artist's mean is a steadier one. Two songs by artists with
the same sound then sit close even when the two recordings differ, which is how listeners
experience style. It needs no labels, only the artist names every catalogue has. (Artists with
one song get their own features twice: no change in their ranking.)

**Album context** (when the catalogue has albums), like artist context: the mean of the song's
album, a steadier sample of one record's sound than the song alone.

**Name context**: what the names say. Character n-grams (one to three letters, within words) of
each song's "artist - title", TF-IDF weighted and reduced to a few dimensions (truncated SVD,
unsupervised), place songs by script and language: Korean names near Korean names, Portuguese
near Portuguese. Where a genre is defined by a language or a region, the audio features cannot
see it and the names can.

The ablation table of ``songscope eval-recs`` reports what each ingredient adds.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from songscope.config import DEFAULT_NAME_CONTEXT
from songscope.errors import UserError
from songscope.schema import SPOTIFY, FeatureSet

#: Spotify's per-feature weights, as its feature set declares them (learned by `learn_weights`;
#: `test_metric` learns them again and checks they agree).
DEFAULT_WEIGHTS: Mapping[str, float] = SPOTIFY.metric_weights()

#: Weight of the artist's mean against the song's own features.
ARTIST_CONTEXT = 1.0
#: Weight of the album's mean (0: off; used when the catalogue has albums).
ALBUM_CONTEXT = 0.0
#: Weight of the names' n-gram coordinates (rows of unit length; 0: off), a song placed by its
#: artists' names as a whole ("artists - title - album", the mean over their songs). On by
#: default at 2, chosen on the training halves (bench/tune_context.py): at 3, TidyTuesday
#: gained more (+0.035 against +0.021 genre-precision@10) but the seed's charts lost 0.004 and
#: song paths grew a long hop into the end song's artist; at 2 neither loses. Its cost is paid once
#: per song, not per command: the catalogue keeps its songs' coordinates (`service.names`).
NAME_CONTEXT = DEFAULT_NAME_CONTEXT


def training_half(track_ids: Sequence[str] | np.ndarray) -> np.ndarray:
    """True for the songs whose labels metric learning may use: a fixed hash of the track id,
    so the split is the same in every run and on every machine, and independent of row order.

    >>> training_half(["a", "b", "c", "d"]).tolist()
    [False, False, False, True]
    """
    return np.array([zlib.crc32(str(t).encode()) % 2 == 0 for t in track_ids], dtype=bool)


@dataclass(frozen=True)
class SongDistance:
    """Feature weights plus artist context; `embed` maps the feature space to the space the
    neighbour index searches (plain Euclidean there equals this metric).

    >>> X = np.array([[0.0, 1.0], [2.0, 1.0], [4.0, 0.0]])
    >>> SongDistance({"b": 2.0}, artist_context=1.0).embed(X, ["a", "b"], np.array([0, 0, 1])).round(3).tolist()
    [[0.0, 1.265, 0.632, 1.265], [1.265, 1.265, 0.632, 1.265], [2.53, 0.0, 2.53, 0.0]]
    """

    #: Weight per feature-space column; None: the weights the feature set declares.
    weights: Mapping[str, float] | None = None
    artist_context: float = ARTIST_CONTEXT
    album_context: float = ALBUM_CONTEXT
    name_context: float = NAME_CONTEXT
    #: Whether a song of several artists draws on all of them in the artist context (else its first).
    every_artist: bool = True

    def weight_vector(self, names: Sequence[str], features: FeatureSet = SPOTIFY) -> np.ndarray:
        """The weights of `names` (1 when not listed; by default those the feature set declares),
        scaled to a mean square of 1 so that the weighted space has the overall spread of the
        standard one."""
        weights = self.weights if self.weights is not None else features.metric_weights()
        w = np.array([float(weights.get(name, 1.0)) for name in names])
        norm = np.sqrt(np.mean(w**2))
        return w / norm if norm > 0 else np.ones(len(names))

    def embed(self, X: np.ndarray, names: Sequence[str], artists: np.ndarray | None, starts: np.ndarray | None = None,
              features: FeatureSet = SPOTIFY) -> np.ndarray:
        """Songs in the metric's space: weighted features, then (with artist context) the
        weighted mean of each song's artists (`artist_means`), times `artist_context`."""
        weighted = np.asarray(X, dtype=np.float64) * self.weight_vector(names, features)
        if not self.artist_context or artists is None:
            return weighted
        return np.hstack([weighted, self.artist_context * artist_means(weighted, artists, starts if self.every_artist else None)])

    def describe(self, names: Sequence[str], features: FeatureSet = SPOTIFY) -> str:
        w = self.weight_vector(names, features)
        shown = ", ".join(f"{n} x{v:.2f}" for n, v in zip(names, w) if abs(v - 1) > 0.05) or "none"
        return f"feature weights: {shown}; artist context: {self.artist_context:g}; album context: {self.album_context:g}; names: {self.name_context:g}"


#: Standard space, no artist or name context: plain Euclidean kNN, the baseline the ablation starts from.
PLAIN = SongDistance(weights={}, artist_context=0.0, name_context=0.0)


def artist_means(X: np.ndarray, artists: np.ndarray, starts: np.ndarray | None = None) -> np.ndarray:
    """Each row replaced by the mean of the rows of its artist (`artists`: integer codes).

    With `starts`, a song has several artists: row i's are ``artists[starts[i]:starts[i + 1]]``.
    Each artist's mean is then over every song it is on, and a song's context is the mean of its
    artists' means: a duet contributes to, and draws on, both artists' sound.

    >>> artist_means(np.array([[1.0], [3.0], [5.0]]), np.array([0, 0, 1])).ravel().tolist()
    [2.0, 2.0, 5.0]
    >>> artist_means(np.array([[1.0], [3.0], [5.0]]), np.array([0, 0, 1, 1]), np.array([0, 1, 3, 4])).ravel().tolist()
    [2.0, 3.0, 4.0]
    """
    codes = np.asarray(artists, dtype=np.int64)
    if starts is None:
        counts = np.bincount(codes)
        sums = np.zeros((len(counts), X.shape[1]))
        np.add.at(sums, codes, X)
        return sums[codes] / counts[codes][:, None]
    lengths = np.diff(np.asarray(starts, dtype=np.int64))
    owner = np.repeat(np.arange(len(X)), lengths)
    counts = np.bincount(codes)
    out = np.empty((len(X), X.shape[1]))
    for j in range(X.shape[1]):
        means = np.bincount(codes, weights=X[owner, j], minlength=len(counts)) / np.maximum(counts, 1)
        out[:, j] = np.bincount(owner, weights=means[codes], minlength=len(X)) / np.maximum(lengths, 1)
    return out


def neighbour_agreement(X: np.ndarray, labels: Sequence[frozenset], rows: np.ndarray, queries: np.ndarray, k: int = 10) -> float:
    """Mean share of each query's `k` nearest songs among `rows` (itself left out) that share
    one of its labels: genre-precision@k of plain kNN in `X`."""
    from songscope.recommend.index import ExactIndex

    index = ExactIndex().fit(X[rows])
    found, _ = index.search(X[queries], k + 1)
    shares = []
    for query, neighbours in zip(queries.tolist(), rows[found].tolist()):
        picked = [r for r in neighbours if r != query][:k]
        shares.append(np.mean([bool(labels[r] & labels[query]) for r in picked]))
    return float(np.mean(shares))


def learn_weights(
    X: np.ndarray,
    names: Sequence[str],
    labels: Sequence[frozenset],
    rows: np.ndarray,
    *,
    queries: int = 2_000,
    k: int = 10,
    seed: int = 0,
    factors: Sequence[float] = (0.0, 0.5, 0.75, 1.5, 2.0),
    sweeps: int = 2,
    min_gain: float = 0.002,
    progress: Callable[[str], None] | None = None,
) -> dict[str, float]:
    """Per-feature weights that make neighbours share labels, learned on `rows` only.

    Coordinate search: for each feature in turn, try multiplying its weight by each of
    `factors` and keep the best if it raises `neighbour_agreement` (queries and neighbours both
    from `rows`) by at least `min_gain`; up to `sweeps` passes over the features. Greedy and coarse
    on purpose: ten numbers learned from a few thousand songs should not chase noise.
    Returns the weights rounded to two decimals, normalised to a mean square of 1.
    """
    rows = np.asarray(rows)
    labelled = rows[[bool(labels[r]) for r in rows]]
    if len(labelled) < 2 * k:
        raise UserError(f"{len(labelled)} labelled training songs: too few to learn feature weights from")
    rng = np.random.default_rng(seed)
    asked = labelled[np.sort(rng.choice(len(labelled), min(queries, len(labelled)), replace=False))]
    w = np.ones(X.shape[1])
    best = neighbour_agreement(X, labels, labelled, asked, k)
    for sweep in range(sweeps):
        changed = False
        for j, name in enumerate(names):
            if progress:
                progress(f"learning feature weights: sweep {sweep + 1} of {sweeps}, {name} (agreement {best:.4f})")
            trials = []
            for factor in factors:
                trial = w.copy()
                trial[j] *= factor
                if trial.any():
                    trials.append((neighbour_agreement(X * trial, labels, labelled, asked, k), trial))
            score, trial = max(trials, key=lambda pair: pair[0])
            if score > best + min_gain:
                best, w, changed = score, trial, True
        if not changed:
            break
    w = w / np.sqrt(np.mean(w**2))
    return {name: round(float(v), 2) for name, v in zip(names, w)}


#: Feature sets that ship no weights of their own (songscope's `audio` descriptors) learn them
#: from the catalogue's genre tags, the label column named here, when enough songs carry one.
TAG_COLUMN = "genre"
#: The fewest tagged songs to learn from (half learn the weights, half check them).
MIN_TAGGED_SONGS = 100
#: The most tagged songs learned from, a fixed-seed sample: it bounds the cost (about 10 s, paid
#: once per catalogue version, by the ingest) and a thousand songs settle thirty numbers.
TAGGED_SAMPLE = 2_000
#: The weights are used only when, on tagged songs they were not learned from, they raise the
#: share of neighbours that share a tag by at least this much: noisy or arbitrary tags leave
#: the metric as it was.
TAG_CHECK_GAIN = 0.01


@dataclass(frozen=True)
class TagWeights:
    """What a catalogue's genre tags teach the metric: feature weights, and whether the names'
    coordinates belong in it, or why not.

    `weights` is None when they are not used: too few tagged songs, or learned weights that did
    not beat equal ones on the held-out half. `names` is False when, on that half, the names'
    coordinates made fewer neighbours share a tag (None: not checked). `agreement` gives the
    held-out half's shares: "equal", "learned" and, when checked, "with names"."""

    weights: dict[str, float] | None
    tagged: int
    agreement: dict[str, float]
    reason: str
    names: bool | None = None

    def to_dict(self) -> dict:
        return {"weights": self.weights, "tagged": self.tagged, "agreement": self.agreement, "reason": self.reason, "names": self.names}

    @classmethod
    def from_dict(cls, data: Mapping) -> TagWeights:
        weights, names = data.get("weights"), data.get("names")
        return cls(None if weights is None else {str(k): float(v) for k, v in weights.items()}, int(data["tagged"]),
                   {str(k): float(v) for k, v in data.get("agreement", {}).items()}, str(data["reason"]), None if names is None else bool(names))

    def name_context(self, default: float) -> float:
        """The names' weight in the metric: `default`, or 0 when the tags found they do not help."""
        return 0.0 if self.names is False else default


def tag_sets(values: Sequence) -> list[frozenset]:
    """Each song's genre tags as a set, as listeners write them: case and spacing ignored, several
    tags in one cell split at "|", ";" and "," ("Rock; Pop" is rock and pop). A "/" joins one
    genre's names ("Hip-Hop/Rap", "R&B/Soul", as players file them), so it does not split.

    >>> sorted(tag_sets(["Rock; Pop", None, " rock "])[0]), tag_sets(["Rock; Pop", None, " rock "])[1:]
    (['pop', 'rock'], [frozenset(), frozenset({'rock'})])
    """
    import re

    out = []
    for value in values:
        text = "" if value is None or (isinstance(value, float) and np.isnan(value)) else str(value)
        out.append(frozenset(t for t in (part.strip().lower() for part in re.split(r"[|;,]", text)) if t))
    return out


def weights_from_tags(X: np.ndarray, names: Sequence[str], tags: Sequence[frozenset], rows: np.ndarray | None = None, *,
                      name_places: np.ndarray | None = None, name_context: float = NAME_CONTEXT, seed: int = 0, k: int = 10,
                      progress: Callable[[str], None] | None = None) -> TagWeights:
    """Feature weights learned from the songs' genre `tags` (`tag_sets`), among `rows` (default:
    all): `learn_weights` on half of the tagged songs (at most `TAGGED_SAMPLE`), checked on the
    other half, and kept, learned again on both halves, only when the check gains
    `TAG_CHECK_GAIN` over equal weights.

    With `name_places` (each song's name coordinates as the metric places them, before their
    weight `name_context`), the same half also says whether the names belong in the metric: they
    stay unless they make fewer neighbours share a tag there (the default was chosen on other
    catalogues; on this one its own tags are the better judge)."""
    rows = np.arange(len(X)) if rows is None else np.asarray(rows)
    tagged = rows[[bool(tags[r]) for r in rows]]
    if len(tagged) < MIN_TAGGED_SONGS:
        return TagWeights(None, len(tagged), {}, f"{len(tagged)} songs carry a {TAG_COLUMN} tag: too few to learn from (at least {MIN_TAGGED_SONGS})")
    rng = np.random.default_rng(seed)
    if len(tagged) > TAGGED_SAMPLE:
        tagged = np.sort(rng.choice(tagged, TAGGED_SAMPLE, replace=False))
    shuffled = rng.permutation(tagged)
    learn, check = np.sort(shuffled[: len(shuffled) // 2]), np.sort(shuffled[len(shuffled) // 2:])
    learned = learn_weights(X, names, tags, learn, queries=min(len(learn), 1_000), k=k, seed=seed, progress=progress)
    w = np.array([learned[name] for name in names])
    equal, weighted = neighbour_agreement(X, tags, check, check, k), neighbour_agreement(X * w, tags, check, check, k)
    agreement = {"equal": round(equal, 4), "learned": round(weighted, 4)}
    helps = weighted >= equal + TAG_CHECK_GAIN
    if helps:
        final = learn_weights(X, names, tags, tagged, queries=min(len(tagged), 1_000), k=k, seed=seed, progress=progress)
        reason = (f"feature weights learned from the {TAG_COLUMN} tags of {len(tagged):,} songs "
                  f"({weighted:.3f} against {equal:.3f} of neighbours sharing a tag on the half they were not learned from)")
    else:
        final = None
        reason = (f"feature weights learned from {TAG_COLUMN} tags did not help on songs they were not learned from "
                  f"({weighted:.3f} against {equal:.3f} of neighbours sharing a tag)")
    keep_names = None
    if name_places is not None and name_context > 0:
        # The metric places a song by its features and, `ARTIST_CONTEXT` times over, by its
        # artists' mean; here each song stands for its artists, so its features count that again.
        sound = X * (w if helps else 1.0) * np.sqrt(1.0 + ARTIST_CONTEXT**2)
        with_names = neighbour_agreement(np.hstack([sound, name_context * np.asarray(name_places, dtype=np.float64)]), tags, check, check, k)
        without = weighted if helps else equal
        agreement["with names"] = round(with_names, 4)
        keep_names = with_names >= without
        reason += (f"; the names' coordinates {'stay' if keep_names else 'leave the metric'} "
                   f"({with_names:.3f} with them against {without:.3f} without)")
    return TagWeights(final, len(tagged), agreement, reason, keep_names)
