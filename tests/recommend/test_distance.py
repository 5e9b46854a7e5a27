"""The recommendation metric: learned feature weights and artist context."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from songscope.errors import UserError
from songscope.recommend.distance import (
    DEFAULT_WEIGHTS,
    MIN_TAGGED_SONGS,
    PLAIN,
    SongDistance,
    TagWeights,
    artist_means,
    learn_weights,
    neighbour_agreement,
    tag_sets,
    training_half,
    weights_from_tags,
)


def _labelled_blobs(n: int = 1_200, seed: int = 0):
    """Two informative features (they decide the label) and one loud noise feature."""
    rng = np.random.default_rng(seed)
    label = rng.integers(0, 3, n)
    informative = np.c_[label + rng.normal(0, 0.6, n), -label + rng.normal(0, 0.6, n)]
    noise = rng.normal(0, 3.0, n)
    X = np.c_[informative, noise]
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    return X, [frozenset({str(v)}) for v in label]


def test_learned_weights_silence_a_noise_feature_and_raise_agreement():
    X, labels = _labelled_blobs()
    rows = np.arange(len(X))
    weights = learn_weights(X, ["a", "b", "noise"], labels, rows, queries=400)
    assert weights["noise"] < 0.5 < min(weights["a"], weights["b"])
    w = SongDistance(weights).weight_vector(["a", "b", "noise"])
    assert np.mean(w**2) == pytest.approx(1.0)
    before = neighbour_agreement(X, labels, rows, rows[:400])
    after = neighbour_agreement(X * w, labels, rows, rows[:400])
    assert after > before + 0.01


def test_learning_reads_only_the_training_rows_labels():
    X, labels = _labelled_blobs(seed=1)
    train = np.flatnonzero(training_half([f"t{i}" for i in range(len(X))]))
    assert 0.4 < len(train) / len(X) < 0.6
    # Scramble every label outside the training rows: the weights must not change.
    rng = np.random.default_rng(5)
    scrambled = [labels[i] if i in set(train.tolist()) else frozenset({str(rng.integers(0, 3))}) for i in range(len(X))]
    assert learn_weights(X, ["a", "b", "noise"], labels, train, queries=300) == learn_weights(X, ["a", "b", "noise"], scrambled, train, queries=300)


def test_weights_from_tags_are_kept_when_they_help_on_songs_they_were_not_learned_from():
    X, labels = _labelled_blobs(n=600)
    found = weights_from_tags(X, ["a", "b", "noise"], labels)
    assert found.weights is not None and found.weights["noise"] < 0.5 < min(found.weights["a"], found.weights["b"])
    assert found.tagged == 600 and found.agreement["learned"] >= found.agreement["equal"] + 0.01
    assert TagWeights.from_dict(found.to_dict()) == found


def test_weights_from_tags_that_say_nothing_of_the_sound_are_not_used():
    X, _ = _labelled_blobs(n=600)
    arbitrary = [frozenset({str(v)}) for v in np.random.default_rng(9).integers(0, 3, 600)]
    found = weights_from_tags(X, ["a", "b", "noise"], arbitrary)
    assert found.weights is None and "did not help" in found.reason


def test_weights_from_tags_read_only_the_rows_given_and_need_enough_of_them():
    X, labels = _labelled_blobs(n=600)
    rows = np.arange(0, 600, 2)
    scrambled = [label if i % 2 == 0 else frozenset({"x"}) for i, label in enumerate(labels)]
    assert weights_from_tags(X, ["a", "b", "noise"], labels, rows) == weights_from_tags(X, ["a", "b", "noise"], scrambled, rows)
    few = weights_from_tags(X, ["a", "b", "noise"], [frozenset()] * 600, rows)
    assert few.weights is None and few.tagged == 0 and "too few" in few.reason and str(MIN_TAGGED_SONGS) in few.reason


def test_the_tags_say_whether_the_names_belong_in_the_metric():
    X, labels = _labelled_blobs(n=600)
    rng = np.random.default_rng(3)
    noise = rng.normal(size=(600, 4))
    noise /= np.linalg.norm(noise, axis=1, keepdims=True)
    ignored = weights_from_tags(X, ["a", "b", "noise"], labels, name_places=noise, name_context=2.0)
    assert ignored.names is False and ignored.name_context(2.0) == 0.0
    assert ignored.agreement["with names"] < ignored.agreement["learned"] and "leave the metric" in ignored.reason
    telling = np.eye(4)[[int(next(iter(label))) for label in labels]]  # the names say the genre
    kept = weights_from_tags(X, ["a", "b", "noise"], labels, name_places=telling, name_context=2.0)
    assert kept.names is True and kept.name_context(2.0) == 2.0 and "stay" in kept.reason
    assert weights_from_tags(X, ["a", "b", "noise"], labels).names is None  # not asked: the default stands
    assert TagWeights.from_dict(kept.to_dict()) == kept


def test_tags_are_read_as_listeners_write_them():
    assert tag_sets(["Rock; Pop", "R&B/Soul", "Electronic|house, Techno", "", None, float("nan"), " Jazz "]) == [
        frozenset({"rock", "pop"}), frozenset({"r&b/soul"}), frozenset({"electronic", "house", "techno"}), frozenset(), frozenset(), frozenset(),
        frozenset({"jazz"})]


def test_too_few_labelled_songs_is_a_clear_error():
    X, labels = _labelled_blobs(n=30)
    with pytest.raises(UserError, match="too few"):
        learn_weights(X, ["a", "b", "noise"], [frozenset()] * 25 + labels[25:], np.arange(30))


def test_artist_context_pulls_an_artists_songs_together():
    # Songs 0 and 1 differ, but their artists' other songs make the two artists sound alike.
    X = np.array([[0.0, 0.0], [1.0, 1.0], [0.9, 0.9], [0.1, 0.1], [1.1, 1.1], [5.0, 5.0]])
    artists = np.array([0, 1, 0, 1, 2, 2])
    plain = PLAIN.embed(X, ["a", "b"], artists)
    assert plain.shape == (6, 2)
    context = SongDistance(weights={}, artist_context=1.0).embed(X, ["a", "b"], artists)
    assert context.shape == (6, 4)
    np.testing.assert_allclose(context[:, 2:], artist_means(X, artists))
    def distance(Z, i, j):
        return float(np.linalg.norm(Z[i] - Z[j]))
    # Song 1's nearest other-artist song: song 4 in plain space, song 0 (same-sounding artist) with context.
    assert distance(plain, 1, 4) < distance(plain, 1, 0)
    assert distance(context, 1, 0) < distance(context, 1, 4)


@pytest.mark.slow
def test_default_weights_are_what_learning_on_the_tidytuesday_training_half_gives():
    from songscope.clean import clean
    from songscope.features import FeatureSpace
    from songscope.ingest import read_sources
    from songscope.recommend.offline import label_sets
    from tests.conftest import TIDYTUESDAY, benchmark_file

    tracks = clean(read_sources([str(benchmark_file(TIDYTUESDAY))]).frame).tracks
    space = FeatureSpace().fit(tracks)
    train = np.flatnonzero(training_half(tracks["track_id"].astype(str).to_numpy()))
    learned = learn_weights(space.transform(tracks), space.output_names, label_sets(tracks["playlist_genre"]), train)
    assert learned == dict(DEFAULT_WEIGHTS)


def test_album_and_name_context_are_ingredients_of_the_metric_with_their_shares(seed_catalogue):
    from songscope.features import FeatureSpace
    from songscope.recommend.names import name_coordinates, name_texts
    from songscope.recommend.recommender import Recommender, RecommendOptions
    from songscope.recommend.vectors import album_codes, artists_mean
    from tests.conftest import load_catalogue

    catalogue = load_catalogue(seed_catalogue).iloc[:4_000].reset_index(drop=True)
    catalogue["album_name"] = catalogue["track_name"].str[:1]  # a made-up album: the title's first letter, per artist
    space = FeatureSpace().fit(catalogue)
    codes = album_codes(catalogue)
    assert codes is not None and len(np.unique(codes)) == catalogue.groupby(["artist_name", "album_name"]).ngroups
    both = Recommender.from_frame(catalogue, space, distance=SongDistance(album_context=1.0, name_context=2.0))
    d = len(space.output_names)
    assert both.X.shape[1] == 3 * d + 8
    # The names' block: each song placed by its artists' name texts ("artists - title - album") as a whole.
    own = name_coordinates(name_texts(pa.Table.from_pandas(catalogue, preserve_index=False)))
    np.testing.assert_allclose(np.linalg.norm(own, axis=1), 1.0, rtol=1e-4)
    np.testing.assert_allclose(both.X[:, 3 * d:], 2.0 * artists_mean(own, both.songs, both.distance), atol=1e-5)
    single = np.bincount(both.songs.artist)[both.songs.artist] == 1  # an artist of one song: its own place
    assert single.any() and np.allclose(both.X[single, 3 * d:], 2.0 * own[single], atol=1e-5)
    item = both.recommend([catalogue["track_id"].iloc[0]], RecommendOptions(n=3)).items[0]
    shares = item.contributions
    assert {"artist sound", "album sound", "names"} <= set(shares) and abs(sum(shares.values()) - 1.0) < 1e-3
    plain = Recommender.from_frame(catalogue, space, distance=SongDistance(name_context=0.0))  # neither ingredient
    assert plain.X.shape[1] == 2 * d and "names" not in plain.recommend([catalogue["track_id"].iloc[0]], RecommendOptions(n=1)).items[0].contributions
