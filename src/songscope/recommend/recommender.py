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
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from songscope.errors import UserError
from songscope.features import FeatureSpace
from songscope.recommend.distance import SongDistance, artist_means
from songscope.recommend.facts import SongFacts
from songscope.recommend.index import ExactIndex, build_index
from songscope.recommend.names import name_coordinates, name_texts
from songscope.recommend.options import RecommendOptions
from songscope.recommend.songs import SONG_COLUMNS, SongTable
from songscope.recommend.taste import BACKGROUND, TASTE_MIN_FAVOURITES, sample_others, taste_model
from songscope.recommend.vectors import CHUNK, N_PROBE, NAMES_N_PROBE, album_codes, aligned_clusters, artists_mean, context_blocks, stacked, with_artist_context

RRF_K = 60
POOL = 300  # neighbours each seed contributes before filters and diversity
FUZZY_ALL = 50_000  # up to this many songs, a misspelt favourite is compared with every name
FUZZY_POOL = 20_000  # above it, with this many names that share its words
#: Names whose coordinates' cosine is at least this share words or script enough to say so.
SIMILAR_NAME_COSINE = 0.9
#: What the reasons call the names' ingredient: the artists' titles and albums share words or script.
NAME_REASON = "title words"


class UnknownSongError(UserError):
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
    #: Every artist of the song, in order (the first is `artist_name`).
    artists: list[str] = field(default_factory=list)

    @property
    def shown_artists(self) -> str:
        """The song's artists as people read them ("Dick Haymes, Bing Crosby")."""
        return ", ".join(self.artists) if self.artists else self.artist_name

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

    Holds the catalogue compactly: the songs as a `SongTable` (Arrow strings and integer codes)
    and their vectors in the metric's space as one float32 matrix inside the neighbour index;
    `nbytes` measures it. Build it with `from_frame` (a catalogue in memory) or `from_batches`
    (the stored catalogue read file by file, so no whole-catalogue frame is ever held).

    Parameters
    ----------
    songs : the songs, in the order of the rows of `X`.
    X : the songs in the metric's space (`SongDistance.embed` of the feature space).
    space : the fitted `FeatureSpace` (the recommendation space).
    clusters : optional cluster of each row (-1: none) and (cluster -> description) for the reasons.
    facts : the songs' raw feature values and labels, for the filters that read them (`where`,
        genres, explicit); without them those filters are refused.
    """

    def __init__(self, songs: SongTable, X: np.ndarray, space: FeatureSpace, *, clusters: np.ndarray | None = None,
                 descriptions: dict[int, str] | None = None, index_kind: str = "auto", distance: SongDistance | None = None,
                 facts: SongFacts | None = None):
        if len(songs) != len(X):
            raise ValueError(f"{len(songs)} songs but {len(X)} vectors")
        self.songs = songs
        self.space = space
        self.distance = distance or SongDistance()
        self._blocks = context_blocks(len(space.output_names), X.shape[1], self.distance)
        # The taste model learns from a handful of songs: it reads their sound (features and the
        # artist's and album's), not the names, whose coordinates it overfitted (liked AUC 0.822
        # down to 0.812 with them; `eval-recs`).
        self.taste_columns = slice(0, self._blocks["names"].start) if "names" in self._blocks else slice(None)
        self._weights = self.distance.weight_vector(space.output_names, space.feature_set)
        self.index = build_index(X, index_kind, n_probe=NAMES_N_PROBE if "names" in self._blocks else N_PROBE)
        self.clusters = clusters
        self.descriptions = descriptions or {}
        self.facts = facts

    @classmethod
    def from_frame(cls, tracks: pd.DataFrame, space: FeatureSpace, *, clusters: pd.Series | None = None, **options) -> Recommender:
        """From a catalogue frame; `clusters` maps track ids to clusters."""
        options.setdefault("facts", SongFacts.from_frame(tracks.reset_index(drop=True)))
        options.setdefault("albums", album_codes(tracks))
        return cls.from_batches([tracks], space, rows=len(tracks), clusters=clusters, **options)

    @classmethod
    def from_batches(cls, batches: Iterable[pd.DataFrame | pa.Table], space: FeatureSpace | None = None, *, rows: int | None = None,
                     clusters: pd.Series | np.ndarray | None = None, distance: SongDistance | None = None, songs: SongTable | None = None,
                     albums: np.ndarray | None = None, name_places: np.ndarray | None = None, **options) -> Recommender:
        """From the catalogue in batches (frames or Arrow tables with the song and feature
        columns), read once. `space` fitted, or None for the default space fitted on the way
        (standard scaling; the encoded columns are kept as float32 until their moments are in).
        `rows`, when known, lets the vectors go straight into their final matrix.
        `clusters`: track id -> cluster (a Series), or each song's cluster in batch order.
        `songs`: the same batches' `SongTable` when one is built already (the web app's).
        `albums`: each song's album (integer codes, in batch order), for album context.
        `name_places`: each song's name coordinates (`recommend.names`, in batch order), placed once
        and kept by the catalogue; without them, a model is fitted on these songs' names now.
        The name context places a song by its artists' names as a whole: the mean of the
        coordinates of their songs (`vectors.artists_mean`)."""
        distance = distance or SongDistance()
        space = space if space is not None else FeatureSpace()
        fitted = space.centre_ is not None
        if not fitted and (space.scaling != "standard" or space.pca is not None):
            raise ValueError("fitting on the way supports the standard space only: fit the space first")
        from sklearn.preprocessing import StandardScaler

        tables: list[pa.Table] = []
        texts: list[str] = []  # the songs' name texts, when their coordinates are not given
        statistics = StandardScaler()  # the standard space's centre and scale, from batches

        def encoded_batches():
            for batch in batches:
                table = batch if isinstance(batch, pa.Table) else pa.Table.from_pandas(batch.reset_index(drop=True), preserve_index=False)
                frame = table.select([c for c in space.input_columns() if c in table.column_names]).to_pandas()
                encoded = space.transform(frame) if fitted else space.encode(frame)
                if not fitted:
                    statistics.partial_fit(encoded)
                if songs is None:
                    tables.append(table.select([c for c in SONG_COLUMNS if c in table.column_names]))
                if distance.name_context and name_places is None:
                    texts.extend(name_texts(table))
                yield encoded

        X = stacked(encoded_batches(), rows)
        if songs is None:
            songs = SongTable.from_batches(tables)
            tables.clear()
        if not fitted:
            if not hasattr(statistics, "mean_"):
                raise UserError("no songs to recommend from: the catalogue is empty")
            space.fit_statistics(statistics.mean_, np.sqrt(statistics.var_))
        names = space.output_names
        weights = distance.weight_vector(names, space.feature_set).astype(np.float32)
        d = len(names)
        for start in range(0, len(X), CHUNK):
            part = X[start : start + CHUNK, :d]
            if not fitted:
                part -= space.centre_.astype(np.float32)
                part /= space.scale_.astype(np.float32)
            part *= weights
        if distance.artist_context:
            X = with_artist_context(X, d, songs, distance)
        else:
            X = X[:, :d] if X.shape[1] != d else X
        contexts = []
        if distance.album_context and albums is not None:
            contexts.append((distance.album_context * artist_means(X[:, :d], np.asarray(albums))).astype(np.float32))
        if distance.name_context:
            placed = name_places if name_places is not None else name_coordinates(texts)
            texts.clear()
            if len(placed) != len(songs):
                raise ValueError(f"{len(placed):,} name coordinates for {len(songs):,} songs")
            contexts.append(distance.name_context * artists_mean(placed, songs, distance))
        if contexts:
            X = np.hstack([X, *contexts])
        labels = None
        if clusters is not None:
            labels = aligned_clusters(songs, clusters)
        model = cls(songs, X, space, clusters=labels, distance=distance, **options)
        # Arrow's allocator keeps what the batches used for reuse; a long-lived process (the
        # web app) would hold it for nothing: about as much again as the recommender at 1M songs.
        pa.default_memory_pool().release_unused()
        return model

    def __len__(self) -> int:
        return len(self.songs)

    @property
    def X(self) -> np.ndarray:
        """The songs in the metric's space, in catalogue order (a view, or a copy for an index
        that reorders its vectors)."""
        return self.index.X if isinstance(self.index, ExactIndex) else self.index.vectors(np.arange(len(self)))

    @property
    def name_places(self) -> np.ndarray | None:
        """Each song's name coordinates as the metric places it (its artists' names as a whole),
        before the names' weight; None when the names are not in the metric."""
        block = self._blocks.get("names")
        return None if block is None else self.X[:, block] / np.float32(self.distance.name_context)

    @property
    def nbytes(self) -> int:
        """Bytes the recommender holds: songs, vectors, index and clusters."""
        return self.songs.nbytes + self.index.nbytes + (0 if self.clusters is None else self.clusters.nbytes)

    def vectors(self, rows) -> np.ndarray:
        return self.index.vectors(np.asarray(rows, dtype=np.int64))

    # ----------------------------------------------------------------------------- resolving songs

    def resolve(self, query: str) -> int:
        """The row of a song named by track id or "artist - title" (case-insensitive, fuzzy)."""
        query = query.strip()
        if not query:
            raise UnknownSongError("an empty favourite: name a song by track id or as 'artist - title'")
        row = self.songs.row_of_id(query)
        if row is not None:
            return row
        key = query.lower()
        rows = self.songs.rows_named(key)
        if len(rows):
            # Several versions under one name: the most popular stands for the song.
            popularity = np.nan_to_num(self.songs.popularity[rows], nan=-1.0)
            return int(rows[int(np.argmax(popularity))])
        names = self._fuzzy_candidates(key)
        close = difflib.get_close_matches(key, names, n=5, cutoff=0.6)
        if close and difflib.SequenceMatcher(None, key, close[0]).ratio() >= 0.9 and (
            len(close) == 1 or difflib.SequenceMatcher(None, key, close[1]).ratio() < 0.9
        ):
            return int(self.songs.rows_named(close[0])[0])
        if close:
            shown = "; ".join(self.songs.label(int(self.songs.rows_named(c)[0])) for c in close)
            raise UnknownSongError(f"{query!r} is not in the catalogue, or not uniquely; closest: {shown}")
        raise UnknownSongError(f"{query!r} matches no song: name it by track id or as 'artist - title' (see songscope status)")

    def _fuzzy_candidates(self, key: str) -> list[str]:
        """The names a misspelt favourite is compared with: every name in a catalogue of up to
        `FUZZY_ALL` songs; in a larger one, the `FUZZY_POOL` names sharing most words with it
        (comparing with millions of names would take minutes)."""
        if len(self.songs) <= FUZZY_ALL:
            return pc.unique(self.songs.names()).to_pylist()
        words = [w for w in key.split() if len(w) >= 3] or key.split()
        shared = np.zeros(len(self.songs), dtype=np.int16)
        for word in words:
            shared += np.asarray(pc.match_substring(self.songs.search_key, word).to_numpy(zero_copy_only=False), dtype=np.int16)
        found = np.flatnonzero(shared)
        if len(found) > FUZZY_POOL:
            found = found[np.argsort(-shared[found], kind="stable")[:FUZZY_POOL]]
        names = self.songs.search_key.take(pa.array(found))
        aliases = self.songs.alias_key.filter(pa.array(np.isin(self.songs.alias_row, found))) if len(self.songs.alias_key) else names.slice(0, 0)
        return pc.unique(pa.concat_arrays([names, aliases])).to_pylist()

    # ----------------------------------------------------------------------------- recommending

    def recommend(self, favourites: list[str], options: RecommendOptions | None = None, dislikes: list[str] | None = None) -> RecommendResult:
        options = options or RecommendOptions()
        options.validate()
        if not favourites:
            raise UnknownSongError("no favourites given: name at least one song")
        seeds = list(dict.fromkeys(self.resolve(q) for q in favourites))
        disliked = list(dict.fromkeys(self.resolve(q) for q in (dislikes or [])))
        if set(seeds) & set(disliked):
            raise UserError("a song cannot be both a favourite and a dislike")
        notes: list[str] = []
        listener = self._listener_exclusions(options, notes)
        where = options.parsed_where()
        # The pool widens (four times each round, up to the catalogue) while the filters leave
        # too few: a strict filter still gets its n songs, nearest first.
        pool = min(len(self), max(POOL, 10 * options.n))
        while True:
            candidates, scores, nearest = self._fuse(seeds, pool)
            keep = self._filter(candidates, seeds, disliked, options, listener, where)
            if not options.narrows or keep.sum() >= max(3 * options.n, 30) or pool >= len(self):
                break
            pool = min(len(self), pool * 4)
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
        items = self.explain(final, [score_of[c] for c in final], [nearest_seed[c] for c in final])
        if len(items) < options.n:
            notes.append(f"only {len(items)} songs pass the filters (asked for {options.n})")
        return RecommendResult(
            seeds=self.songs.labels(seeds), dislikes=self.songs.labels(disliked), items=items, notes=notes, dislike_effect=effect,
            seed_ids=self.songs.ids(seeds),
        )

    def _fuse(self, seeds: list[int], pool: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Candidates (each seed's `pool` nearest), their fused scores (sum over seeds of
        1 / (60 + rank)) and nearest seed."""
        neighbours, distances = self.index.search(self.vectors(seeds), pool)
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

    def _listener_exclusions(self, options: RecommendOptions, notes: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """The artist codes and song versions the listener excludes (`exclude_artists`, `known`);
        what the catalogue does not have is said in `notes`."""
        artists = np.empty(0, dtype=np.int32)
        if options.exclude_artists:
            codes = self.songs.artist_codes(options.exclude_artists)
            missing = [name for name, code in zip(options.exclude_artists, codes) if code is None]
            if missing:
                notes.append(f"no artist named {', '.join(repr(m) for m in missing[:5])}{' ...' if len(missing) > 5 else ''} in the catalogue")
            artists = np.array([c for c in codes if c is not None], dtype=np.int32)
        rows: list[int] = []
        unknown = 0
        for song in options.known:
            row = self.songs.row_of_id(song.strip())
            found = [row] if row is not None else self.songs.rows_named(song.strip()).tolist()
            unknown += not found
            rows += found
        if unknown:
            notes.append(f"{unknown} of the {len(options.known)} known songs are not in the catalogue (named by track id or exact 'artist - title')")
        return artists, np.unique(self.songs.version[np.asarray(rows, dtype=np.int64)]) if rows else np.empty(0, dtype=np.int32)

    def _needs_facts(self, what: str) -> SongFacts:
        if self.facts is None:
            raise UserError(f"{what} needs the catalogue's feature values and labels, which this recommender was built without")
        return self.facts

    def _filter(self, candidates: np.ndarray, seeds: list[int], disliked: list[int], options: RecommendOptions,
                listener: tuple[np.ndarray, np.ndarray] = (np.empty(0), np.empty(0)), where=None) -> np.ndarray:
        """A mask of the candidates that pass the options' filters."""
        keep = ~np.isin(candidates, seeds + disliked)
        artists, known_versions = listener
        if len(artists):
            keep &= ~self.songs.by_any_of(candidates, artists)
        if len(known_versions):
            keep &= ~np.isin(self.songs.version[candidates], known_versions)
        if where is not None:
            values = self._needs_facts("--where").features()
            missing = [c for c in where.columns if c not in values]
            if missing:
                raise UserError(f"--where names {', '.join(missing)}, which this catalogue does not have")
            keep &= where.mask({c: values[c][candidates] for c in where.columns})
        if options.exclude_genres:
            facts = self._needs_facts("excluding genres")
            if not facts.genre_columns():
                raise UserError(f"excluding genres needs a genre column in the catalogue; its label columns are: {', '.join(facts.label_names) or 'none'}")
            keep &= ~facts.carrying(candidates, options.exclude_genres)
        if options.exclude_explicit:
            facts = self._needs_facts("excluding explicit songs")
            if "explicit" not in facts.label_names:
                raise UserError("excluding explicit songs needs an 'explicit' column in the catalogue; this one has none")
            keep &= ~facts.explicit(candidates)
        if options.exclude_versions:
            keep &= ~np.isin(self.songs.version[candidates], self.songs.version[seeds])
        if options.exclude_seed_artists:
            keep &= ~self.songs.by_any_of(candidates, self.songs.artists_of(seeds)[0])
        if options.cluster is not None:
            if self.clusters is None:
                raise UserError("no clustering run to restrict to: run songscope cluster first")
            keep &= self.clusters[candidates] == options.cluster
        if options.popularity is not None:
            pop = self.songs.popularity[candidates]  # NaN (unknown) passes no range
            keep &= (pop >= options.popularity[0]) & (pop <= options.popularity[1])
        return keep

    def _select(self, candidates: np.ndarray, scores: np.ndarray, options: RecommendOptions) -> list[int]:
        """Best first, with the per-artist cap and, if asked, MMR diversity re-ranking."""
        if not len(candidates):  # the filters left none
            return []
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
                vectors = self.vectors(pool)
                d = ((vectors[:, None, :] - self.vectors(chosen)[None, :, :]) ** 2).sum(axis=2).min(axis=1)
                similarity = np.exp(-d / vectors.shape[1])
                value = options.diversity * np.array([relevance[p] for p in pool]) - (1 - options.diversity) * similarity
                pick = int(pool[int(np.argmax(value))])
            remaining.remove(pick)
            artists, version = self.songs.artists_of([pick])[0].tolist(), int(self.songs.version[pick])
            # One version of a song is enough (a remaster, a re-release, a case-changed title).
            if options.exclude_versions and version in versions:
                continue
            # Every artist of a song counts against the cap: a duet is a song of each.
            if options.per_artist is not None and any(per_artist.get(a, 0) >= options.per_artist for a in artists):
                continue
            for a in artists:
                per_artist[a] = per_artist.get(a, 0) + 1
            versions.add(version)
            chosen.append(pick)
        return chosen

    def _taste(self, likes: list[int], dislikes: list[int], candidates: np.ndarray) -> np.ndarray:
        """P(like) of the candidates: favourites against dislikes, or against a background sample."""
        def sound(rows) -> np.ndarray:
            return self.vectors(rows)[:, self.taste_columns]

        negatives = sound(dislikes) if dislikes else sound(sample_others(len(self), likes, BACKGROUND, np.random.default_rng(0)))
        return taste_model(sound(likes), negatives).predict_proba(sound(candidates))[:, 1]

    def explain(self, songs: list[int], scores: list[float], seeds: list[int]) -> list[Recommendation]:
        """Why each of `songs` (best first) was recommended: its nearest seed, and each feature's
        share of the squared distance between them in the metric (the artist context as one
        share, "artist sound"). One array pass for all songs: per song, numpy's call overhead
        cost more than the arithmetic."""
        if not songs:
            return []
        names = self.space.output_names
        d = len(names)
        mine = self.vectors(songs).astype(np.float64)
        theirs = self.vectors(seeds).astype(np.float64)
        own = (mine[:, :d] - theirs[:, :d]) ** 2  # the weighted features' shares
        context = {name: ((mine[:, part] - theirs[:, part]) ** 2).sum(axis=1) for name, part in self._blocks.items()}
        artist = context.get("artist sound", np.zeros(len(songs)))
        total = own.sum(axis=1) + sum(context.values(), np.zeros(len(songs)))
        total[total == 0] = 1.0
        described = self._weights > 0  # a feature of weight 0 is never described
        # The features themselves, unweighted, for "higher" or "lower".
        safe_weights = np.where(described, self._weights, 1.0)
        higher = (self.space.inverse_scale(np.where(described, mine[:, :d] / safe_weights, 0.0))
                  > self.space.inverse_scale(np.where(described, theirs[:, :d] / safe_weights, 0.0)))
        order = np.argsort(own, axis=1, kind="stable")
        shares = (own / total[:, None]).tolist()
        artist_shares = (artist / total).tolist()
        context_shares = {name: (values / total).tolist() for name, values in context.items()}
        distances = np.sqrt(total).tolist()
        similar_name = np.zeros(len(songs), dtype=bool)
        if "names" in self._blocks:  # a reason of its own when the names' n-grams (words, script) nearly match
            part = self._blocks["names"]
            a, b = mine[:, part], theirs[:, part]
            norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
            similar_name = (a * b).sum(axis=1) >= SIMILAR_NAME_COSINE * np.where(norms > 0, norms, np.inf)
        ids, artists, titles = self.songs.ids(songs), self.songs.artist_names(songs), self.songs.track_names(songs)
        every = self.songs.all_artist_names(songs)
        seed_labels = self.songs.labels(seeds)
        items = []
        # In words, a feature is its own name: the space's log of a duration is still the duration.
        said = [name.removeprefix("log_") for name in names]
        for i, song in enumerate(songs):
            counted = [int(j) for j in order[i] if described[j]]
            differs = []
            for j in counted[::-1][:2]:
                if shares[i][j] < 0.2:
                    break
                differs.append(f"{'higher' if higher[i, j] else 'lower'} {said[j]}")
            if artist_shares[i] >= 0.3:
                differs.append("artist's sound")
            contributions = {name: round(share, 4) for name, share in zip(names, shares[i])}
            for name, values in context_shares.items():
                contributions[name] = round(values[i], 4)
            cluster = None if self.clusters is None else _as_int(self.clusters[song])
            if cluster is not None and cluster < 0:
                cluster = None  # a song the run did not cluster (added after it)
            items.append(Recommendation(
                rank=i + 1, track_id=ids[i], artist_name=artists[i], track_name=titles[i], score=round(float(scores[i]), 6),
                nearest_seed=seed_labels[i], distance=round(distances[i], 4),
                similar_in=[said[j] for j in counted[:3]] + ([NAME_REASON] if similar_name[i] else []), differs_in=differs,
                contributions=contributions, cluster=cluster,
                cluster_description=self.descriptions.get(cluster) if cluster is not None else None, artists=every[i],
            ))
        return items

def _as_int(value: object) -> int | None:
    try:
        return None if value is None or (isinstance(value, float) and np.isnan(value)) else int(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
