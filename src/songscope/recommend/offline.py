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

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from songscope.cluster.local import LocalAlgorithm
from songscope.errors import UserError
from songscope.features import FeatureSpace
from songscope.normalise import normalise_names
from songscope.recommend.distance import NAME_CONTEXT, TAG_COLUMN, SongDistance, TagWeights, tag_sets, training_half, weights_from_tags
from songscope.recommend.index import ExactIndex
from songscope.recommend.recommender import Recommender, RecommendOptions
from songscope.recommend.taste import BACKGROUND, taste_model
from songscope.recommend.vectors import album_codes

Method = Callable[[list[int], int], list[int]]  # (seed rows, n) -> recommended rows


@dataclass(frozen=True, eq=False)
class Asking:
    """A method that asks a `Recommender` with fixed options (`RecommendOptions` fields but `n`).
    For discovery it asks the recommender to leave the seeds' artists out itself (`discovering`):
    asking for ever longer lists instead would pass the 500 songs a request may ask for whenever
    a seed's artist has hundreds of songs in the catalogue."""

    recommender: Recommender
    options: dict = field(default_factory=dict)

    def __call__(self, seeds: list[int], n: int) -> list[int]:
        songs = self.recommender.songs
        result = self.recommender.recommend(songs.ids(seeds), RecommendOptions(n=n, **self.options))
        return songs.rows_of_ids([item.track_id for item in result.items]).tolist()

    def discovering(self) -> Asking:
        return Asking(self.recommender, self.options | {"exclude_seed_artists": True})


#: The playlist protocol's column when none is named and the catalogue has it (TidyTuesday's layout).
DEFAULT_PLAYLIST_COLUMN = "playlist_id"


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
    """The baselines, songscope's default and its ablation over one catalogue, all answering
    (seed rows, n) -> recommended rows.

    `weights` (optional) are feature weights learned on this catalogue's training half; they
    add a "songscope, weights learned here" method. `distance` is songscope's default metric
    (None: `SongDistance()`); for a feature set that `learns_from_tags`, what the training
    half's genre tags teach it (`_tag_weights`).
    """

    tracks: pd.DataFrame
    seed: int = 0
    clusters: int = 50
    weights: dict[str, float] | None = None
    distance: SongDistance | None = None
    #: The weight of the ingredient beyond the default, for the ablation's last step: the best
    #: non-zero weight on the TidyTuesday training half (bench/tune_context.py).
    album_context: float = 0.5
    #: The feature set (`schema.FEATURE_SETS`) the songs are described by.
    features: str = "spotify"

    def __post_init__(self) -> None:
        self.tracks = self.tracks.reset_index(drop=True)
        self.space = FeatureSpace(features=self.features).fit(self.tracks)
        self.X = self.space.transform(self.tracks)
        self.index = ExactIndex().fit(self.X)
        # Songs analysed from audio files have no popularity: the popularity baseline is then the catalogue's order.
        popularity = self.tracks["popularity"] if "popularity" in self.tracks else pd.Series(np.nan, index=self.tracks.index)
        self.popular = np.argsort(-popularity.astype("Float64").fillna(-1).to_numpy(dtype=float), kind="stable")
        self.labels = LocalAlgorithm("kmeans", n_clusters=min(self.clusters, len(self.tracks)), random_state=self.seed, n_init=1).fit(self.X).labels
        default = self.distance or SongDistance()
        self.recommender = Recommender.from_frame(self.tracks, self.space, distance=default)
        self.songscope: Method = Asking(self.recommender)
        self.rng = np.random.default_rng(self.seed)
        names = self.space.output_names
        weights_only = dataclasses.replace(default, artist_context=0.0).embed(self.X, names, None, features=self.space.feature_set)
        self._weighted_index = ExactIndex().fit(weights_only)
        # The default's space without the names' coordinates (the sound alone, what the taste
        # model reads), then whole.
        sound = self.recommender.taste_columns
        self._context_index = ExactIndex().fit(self.recommender.X[:, sound])
        self._names_index = ExactIndex().fit(self.recommender.X) if sound != slice(None) else None
        self._learned = None if self.weights is None else Recommender.from_frame(self.tracks, self.space, distance=SongDistance(weights=self.weights))
        self.has_albums = album_codes(self.tracks) is not None
        self._with_album = (Recommender.from_frame(self.tracks, self.space, distance=dataclasses.replace(default, album_context=self.album_context))
                            if self.has_albums and not default.album_context else None)
        # A catalogue whose songs have several artists: songscope as if each had its first only
        # (artist context, cap and exclusions), to measure what every artist gives.
        self._first_artist_only = None
        if self.recommender.songs.several_artists:
            self._first_artist_only = Recommender.from_frame(self.tracks.assign(artists=self.tracks["artist_name"]), self.space, distance=default)

    def all(self) -> dict[str, Method]:
        """The baselines the design asks for, and songscope's default."""
        return {
            "random": self.random,
            "popularity": self.popularity,
            "same-cluster": self.same_cluster,
            "mean-vector kNN": self.mean_vector,
            "exact kNN": self.exact_knn,
            "songscope": self.songscope,
        } | ({"songscope, weights learned here": Asking(self._learned)} if self._learned is not None else {}) \
          | ({"songscope, first artist only": Asking(self._first_artist_only)} if self._first_artist_only is not None else {})

    def ablation(self) -> dict[str, Method]:
        """songscope built up one ingredient at a time, from plain kNN to the default."""
        return {
            "kNN, standard space": self.exact_knn,
            "+ learned feature weights": lambda seeds, n: self._knn(self._weighted_index, self._weighted_index.X, seeds, n),
            "+ artist context": lambda seeds, n: self._knn(self._context_index, self._context_index.X, seeds, n),
        } | ({"+ name context": lambda seeds, n: self._knn(self._names_index, self._names_index.X, seeds, n)} if self._names_index is not None else {}) | {
            "+ reciprocal-rank fusion": Asking(self.recommender, {"per_artist": None, "exclude_versions": False, "taste": False}),
            "+ artist cap, one version": Asking(self.recommender, {"taste": False}),
            "+ taste model (songscope)": self.songscope,
        } | ({"+ album context": Asking(self._with_album)} if self._with_album is not None else {})

    def discovering(self, method: Method) -> Method:
        """`method` for discovery: songs by other artists than the seeds' (normalised artists).
        songscope's own methods have the option themselves (`Asking.discovering`); any other
        method is asked for more songs (four times as many each round) until `n` by other
        artists remain."""
        if isinstance(method, Asking):
            return method.discovering()
        songs = self.recommender.songs
        most = len(self.tracks)

        def picks(seeds: list[int], n: int) -> list[int]:
            banned = songs.artists_of(seeds)[0]  # every artist of every seed
            ask = 2 * n
            while True:
                asked = np.asarray(method(seeds, min(ask, most - len(seeds))), dtype=np.int64)
                found = asked[~songs.by_any_of(asked, banned)].tolist()
                if len(found) >= n or ask >= most - len(seeds):
                    return found[:n]
                ask *= 4

        return picks

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
        """Nearest songs to any seed in the standard space (each seed's neighbours merged by distance)."""
        return self._knn(self.index, self.X, seeds, n)

    def _knn(self, index: ExactIndex, X: np.ndarray, seeds: list[int], n: int) -> list[int]:
        idx, dist = index.search(X[seeds], n + len(seeds))
        order = np.argsort(dist.ravel(), kind="stable")
        return self._fill(idx.ravel()[order], seeds, n)

Progress = Callable[[str], None]


def genre_precision(
    tracks: pd.DataFrame, methods: dict[str, Method], *, label: str, queries: int = 2_000, k: int = 10, seed: int = 0,
    progress: Progress | None = None, labels_per_pick: dict[str, float] | None = None, half: str = "evaluation",
) -> dict[str, np.ndarray]:
    """Per-query genre-precision@k of every method (same queries for all): the share of the k
    songs asked for that share a label with the query (missing picks count as misses).

    Query songs come from the evaluation half only (`training_half` false): the half whose
    labels metric learning never sees. Recommendations may come from the whole catalogue.
    If given, `labels_per_pick` receives each method's mean number of labels per recommended
    song: a song listed under many genres matches almost any query, and that number shows
    which methods gain from it (the popularity baseline picks hits listed under 4 or 5 of 6).
    """
    genres = label_sets(tracks[label])
    rng = np.random.default_rng(seed)
    if half not in ("evaluation", "training"):
        raise ValueError(f"half {half!r}: evaluation or training")
    training = training_half(tracks["track_id"].astype(str).to_numpy())
    # Tuning (bench/tune_context.py) asks from the training half, so the evaluation half stays unseen.
    held_out = training if half == "training" else ~training
    eligible = np.flatnonzero(held_out & np.array([bool(g) for g in genres]))
    chosen = rng.choice(eligible, min(queries, len(eligible)), replace=False)
    out: dict[str, np.ndarray] = {}
    for name, method in methods.items():
        same = _evaluated_already(name, method, methods, out)
        if same is not None:
            out[name] = out[same]
            if labels_per_pick is not None:
                labels_per_pick[name] = labels_per_pick[same]
            continue
        if progress:
            progress(f"genre-precision@{k}: {name} on {len(chosen):,} queries")
        scores, carried = [], []
        for q in chosen:
            picks = method([int(q)], k)
            # Out of k, as playlist precision is: a method that finds fewer songs (the same-cluster
            # baseline in a cluster of four) is not scored on its few picks alone.
            scores.append(sum(bool(genres[r] & genres[q]) for r in picks) / k)
            carried.extend(len(genres[r]) for r in picks)
        out[name] = np.array(scores)
        if labels_per_pick is not None:
            labels_per_pick[name] = float(np.mean(carried)) if carried else float("nan")
    return out


def _evaluated_already(name: str, method: Method, methods: dict[str, Method], done: dict) -> str | None:
    """The name under which the same method (the ablation reuses the default) was evaluated."""
    return next((other for other in done if other != name and methods[other] == method), None)


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
    out: dict[str, dict[str, np.ndarray]] = {}
    for method_name, method in methods.items():
        same = _evaluated_already(method_name, method, methods, out)
        if same is not None:
            out[method_name] = out[same]
            continue
        p_at_k, r_prec, ndcg = [], [], []
        for done, (seeds, held) in enumerate(splits):
            if progress and done % 10 == 0:
                progress(f"playlist continuation: {method_name}, playlist {done + 1:,} of {len(splits):,}")
            ranked = method(seeds, max(k, len(held)))
            hits = np.array([r in held for r in ranked], dtype=float)
            p_at_k.append(hits[:k].sum() / k)
            r_prec.append(hits[: len(held)].sum() / len(held))
            ndcg.append(ndcg_at(ranked, held, k))
        out[method_name] = {"precision@10": np.array(p_at_k), "r_precision": np.array(r_prec), "ndcg@10": np.array(ndcg)}
    return out


def ndcg_at(ranked: list[int], held: set[int], k: int = 10) -> float:
    """NDCG@k of a ranked list against the held-out songs (binary relevance), by scikit-learn's
    ``ndcg_score``: held-out songs the list missed count towards the ideal ordering.

    >>> round(ndcg_at([5, 1, 7], {1, 9}, k=3), 4)
    0.3869
    """
    from sklearn.metrics import ndcg_score

    missed = [r for r in held if r not in set(ranked)]
    relevant = np.array([[r in held for r in ranked] + [True] * len(missed)], dtype=float)
    # The list's order as scores; the songs it missed rank below all of it.
    scores = np.array([list(range(len(ranked), 0, -1)) + [-1] * len(missed)], dtype=float)
    if relevant.shape[1] < 2:  # scikit-learn needs two candidates; one is right or wrong outright
        return float(relevant[0, 0]) if relevant.shape[1] else 0.0
    return float(ndcg_score(relevant, scores, k=k))


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


def ablation_table(per_query: dict[str, np.ndarray], *, metric: str) -> pd.DataFrame:
    """Each step of the ablation (in order): its mean with CI, and what it adds over the step
    before it (the paired difference, with its CI)."""
    rows = []
    previous = None
    for name, values in per_query.items():
        low, high = bootstrap_ci(values)
        row = {"metric": metric, "step": name, "mean": float(values.mean()), "ci_low": low, "ci_high": high, "queries": len(values)}
        if previous is not None:
            diff = values - previous
            d_low, d_high = bootstrap_ci(diff)
            row |= {"adds": float(diff.mean()), "adds_ci_low": d_low, "adds_ci_high": d_high}
        rows.append(row)
        previous = values
    return pd.DataFrame(rows)


@dataclass
class OfflineReport:
    """What `songscope eval-recs` prints: every method against the baselines, and the ablation."""

    results: pd.DataFrame
    ablation: pd.DataFrame
    learned_weights: dict[str, float] | None = None
    notes: list[str] = field(default_factory=list)
    saved: str | None = None  # where `service.eval_recs` kept it in the lake

    def to_dict(self) -> dict:
        from songscope.jsonable import jsonable

        return jsonable({"results": self.results, "ablation": self.ablation, "learned_weights": self.learned_weights, "notes": self.notes})


def _tag_weights(tracks: pd.DataFrame, features: str, *, seed: int, progress: Progress) -> TagWeights | None:
    """The weights songscope's default learns from the catalogue's genre tags, as it would in use
    (`service.tag_weights`) but from the training half only: the evaluation half's tags, which
    may be the very labels scored, stay unseen. None for a set that ships its weights."""
    space = FeatureSpace(features=features)
    if not space.feature_set.learns_from_tags or TAG_COLUMN not in tracks:
        return None
    space = space.fit(tracks)
    train = np.flatnonzero(training_half(tracks["track_id"].astype(str).to_numpy()))
    places = Recommender.from_frame(tracks, space).name_places  # the names as the default places them
    return weights_from_tags(space.transform(tracks), space.output_names, tag_sets(tracks[TAG_COLUMN]), train, name_places=places,
                             seed=seed, progress=progress)


def evaluate_recommendations(
    tracks: pd.DataFrame | None = None,
    *,
    label: str = "playlist_genre",
    playlist: str | None = None,
    queries: int = 2_000,
    playlists: int | None = None,
    learn: bool = False,
    liked: pd.DataFrame | None = None,
    background: pd.DataFrame | None = None,
    target: str = "target",
    repeats: int = 20,
    seed: int = 0,
    features: str = "spotify",
    progress: Progress | None = None,
) -> OfflineReport:
    """The whole offline evaluation: genre-precision@10 and playlist continuation on a labelled
    catalogue (`tracks`), liked-vs-disliked AUC on a `liked` set; baselines, songscope, the
    ablation, and with `learn` feature weights learned on the catalogue's own training half.

    `playlist` names the column of playlist ids; by default `DEFAULT_PLAYLIST_COLUMN` when the
    catalogue has it, and without one the playlist protocol is skipped (and a note says so)."""
    say = progress or (lambda message: None)
    results, ablation, learned, notes = [], [], None, []
    if tracks is not None:
        tracks = tracks.reset_index(drop=True)
        for column in [label] + ([playlist] if playlist else []):
            if column not in tracks:
                raise UserError(f"the catalogue has no {column!r} column; columns: {', '.join(map(str, tracks.columns))}")
        if playlist is None:
            if DEFAULT_PLAYLIST_COLUMN in tracks:
                playlist = DEFAULT_PLAYLIST_COLUMN
            else:
                notes.append(f"playlist continuation skipped: the catalogue has no {DEFAULT_PLAYLIST_COLUMN!r} column (name one with --playlist)")
        if learn:
            from songscope.recommend.distance import learn_weights

            space = FeatureSpace(features=features).fit(tracks)
            train = np.flatnonzero(training_half(tracks["track_id"].astype(str).to_numpy()))
            learned = learn_weights(space.transform(tracks), space.output_names, label_sets(tracks[label]), train, seed=seed, progress=say)
        from_tags = _tag_weights(tracks, features, seed=seed, progress=say)
        if from_tags is not None:
            notes.append(f"songscope's metric, taught by the training half's {TAG_COLUMN} tags: {from_tags.reason}")
        say("fitting the methods")
        default = None if from_tags is None else SongDistance(weights=from_tags.weights, name_context=from_tags.name_context(NAME_CONTEXT))
        methods = Methods(tracks, seed=seed, weights=learned, features=features, distance=default)
        everything = methods.all() | methods.ablation()
        carried: dict[str, float] = {}
        gp = genre_precision(tracks, everything, label=label, queries=queries, seed=seed, progress=say, labels_per_pick=carried)
        table = summary_table({name: gp[name] for name in methods.all()}, metric="genre_precision@10")
        results.append(table.assign(labels_per_pick=table["method"].map(carried)))
        # Discovery: the same queries, every method's picks (and every step of the ablation's) by
        # other artists than the query's.
        steps = methods.ablation()
        wrapped: dict[Method, Method] = {}  # one wrapper a method, so a method shared by both is scored once
        discovering = {name: wrapped.setdefault(method, methods.discovering(method)) for name, method in (methods.all() | steps).items()}
        found = genre_precision(tracks, discovering, label=label, queries=queries, seed=seed, progress=say)
        results.append(summary_table({name: found[name] for name in methods.all()}, metric="genre_precision@10, other artists"))
        ablation.append(ablation_table({name: gp[name] for name in steps}, metric="genre_precision@10"))
        ablation.append(ablation_table({name: found[name] for name in steps}, metric="genre_precision@10, other artists"))
        if playlist:
            pc = playlist_continuation(tracks, everything, playlist=playlist, seed=seed, limit=playlists, progress=say)
            for metric in ("precision@10", "r_precision", "ndcg@10"):
                results.append(summary_table({name: pc[name][metric] for name in methods.all()}, metric=metric))
            ablation.append(ablation_table({name: pc[name]["precision@10"] for name in methods.ablation()}, metric="precision@10"))
    if liked is not None:
        if target not in liked:
            raise UserError(f"the liked set has no {target!r} column")
        if background is None:
            raise UserError("the liked-set protocol needs a background catalogue (songs nobody labelled)")
        say("liked vs disliked")
        aucs = liked_auc(liked, background=background, target=target, repeats=repeats, seed=seed, features=features)
        shown = ("random", "kNN-10", "fusion only", "songscope", "songscope with dislikes")
        results.append(summary_table({name: aucs[name] for name in shown}, metric="liked_auc"))
        ablation.append(ablation_table({name: aucs[name] for name in ("kNN-10", "fusion only", "taste model, standard space", "songscope")}, metric="liked_auc"))
        ablation.append(ablation_table({name: aucs[name] for name in ("taste model with dislikes, standard space", "songscope with dislikes")}, metric="liked_auc with dislikes"))
    if not results:
        raise UserError("nothing to evaluate: give a labelled catalogue and/or a liked set")
    return OfflineReport(pd.concat(results, ignore_index=True), pd.concat(ablation, ignore_index=True), learned, notes)


def _rrf_scores(X_seeds: np.ndarray, X_candidates: np.ndarray) -> np.ndarray:
    """songscope's fusion over a candidate set: sum over seeds of 1 / (60 + rank of the candidate)."""
    d = ((X_candidates[None, :, :] - X_seeds[:, None, :]) ** 2).sum(axis=2)
    ranks = d.argsort(axis=1).argsort(axis=1) + 1
    return (1.0 / (60 + ranks)).sum(axis=0)


def liked_auc(
    tracks: pd.DataFrame, *, background: pd.DataFrame, target: str = "target", repeats: int = 20, seed: int = 0, background_size: int = BACKGROUND,
    features: str = "spotify",
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
    both = pd.concat([labelled, background], ignore_index=True)
    space = FeatureSpace(features=features).fit(both)
    plain = space.transform(both)
    # The recommender's notion of "same artist": names folded by `normalise_names`.
    artists = pd.factorize(normalise_names(both["artist_name"].astype(str).to_numpy()).to_numpy(zero_copy_only=False))[0]
    # The taste model reads what the recommender's reads: the weighted features and the artist
    # context, not the names (`Recommender.taste_columns`).
    embedded = SongDistance().embed(plain, space.output_names, artists, features=space.feature_set)
    spaces = {"standard": (plain[: len(labelled)], plain[len(labelled) :]), "songscope": (embedded[: len(labelled)], embedded[len(labelled) :])}
    X = spaces["standard"][0]
    liked, disliked = np.flatnonzero(liked_mask), np.flatnonzero(~liked_mask)
    rng = np.random.default_rng(seed)
    out: dict[str, list[float]] = {
        "random": [], "kNN-10": [], "fusion only": [], "songscope": [], "songscope with dislikes": [],
        "taste model, standard space": [], "taste model with dislikes, standard space": [],
    }
    for _ in range(repeats):
        liked_perm, disliked_perm = rng.permutation(liked), rng.permutation(disliked)
        seeds, held = liked_perm[: len(liked) // 2], liked_perm[len(liked) // 2 :]
        candidates = np.r_[held, disliked]
        truth = np.r_[np.ones(len(held)), np.zeros(len(disliked))]
        sample = rng.choice(len(background), min(background_size, len(background)), replace=False)
        negatives, rest = disliked_perm[: len(disliked) // 2], disliked_perm[len(disliked) // 2 :]
        candidates2 = np.r_[held, rest]
        truth2 = np.r_[np.ones(len(held)), np.zeros(len(rest))]
        out["random"].append(roc_auc_score(truth, rng.random(len(candidates))))
        d = ((X[candidates][:, None, :] - X[seeds][None, :, :]) ** 2).sum(axis=2)
        out["kNN-10"].append(roc_auc_score(truth, -np.sort(d, axis=1)[:, :10].mean(axis=1)))
        out["fusion only"].append(roc_auc_score(truth, _rrf_scores(X[seeds], X[candidates])))
        for name, suffix in (("songscope", ""), ("standard", ", standard space")):
            Z, B = spaces[name]
            alone = taste_model(Z[seeds], B[sample], seed=seed).predict_proba(Z[candidates])[:, 1]
            with_dislikes = taste_model(Z[seeds], Z[negatives], seed=seed).predict_proba(Z[candidates2])[:, 1]
            out["songscope" if name == "songscope" else "taste model" + suffix].append(roc_auc_score(truth, alone))
            out["songscope with dislikes" if name == "songscope" else "taste model with dislikes" + suffix].append(roc_auc_score(truth2, with_dislikes))
    return {k: np.array(v) for k, v in out.items()}
