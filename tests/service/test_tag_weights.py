"""The audio set's metric learns from the library's own genre tags: an ingest learns the weights
(kept in the lake under the catalogue's version), the recommender uses them, and tags that do not
help leave the metric as it was."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from songscope import service
from songscope.audio.descriptors import MFCC_NAMES
from songscope.schema import AUDIO
from songscope.service.recommend import recommender
from songscope.service.tag_weights import catalogue_tag_weights
from songscope.store import keys
from songscope.store.store import Store

#: Three genres told apart by rhythm alone (onset rate and DFA exponent); every other descriptor
#: is noise, spread wider than the genres' differences.
GENRES = {"ambient": (1.0, 0.5), "techno": (6.0, 0.9), "folk": (3.0, 1.3)}


def audio_table(path, songs: int, *, seed: int, first: int = 0, tags_follow_sound: bool = True):
    """A table of the audio set's columns (as `songscope analyze` writes), with a genre tag."""
    rng = np.random.default_rng(seed)
    genre = rng.choice(list(GENRES), songs)
    onset, dfa = (np.array([GENRES[g][i] for g in genre]) for i in range(2))
    frame = pd.DataFrame({
        "track_id": [f"audio:{first + i:06d}" for i in range(songs)],
        "artist_name": [f"Band {first + i}" for i in range(songs)], "track_name": [f"Song {first + i}" for i in range(songs)],
        "tempo": rng.uniform(60, 180, songs), "tempo_confidence": rng.uniform(0, 1, songs), "key": rng.integers(0, 12, songs),
        "mode": rng.integers(0, 2, songs), "key_strength": rng.uniform(0, 1, songs), "loudness": rng.uniform(-30, -6, songs),
        "loudness_range": rng.uniform(1, 20, songs), "duration_ms": rng.integers(60_000, 400_000, songs),
        "onset_rate": onset + rng.normal(0, 0.3, songs), "dfa_exponent": dfa + rng.normal(0, 0.05, songs),
        "spectral_centroid": rng.uniform(500, 5000, songs), "spectral_rolloff": rng.uniform(1000, 10000, songs),
        "spectral_flatness": rng.uniform(-60, -5, songs), "spectral_contrast": rng.uniform(10, 40, songs),
        "zero_crossing_rate": rng.uniform(0, 0.3, songs),
        **{name: rng.normal(0, 20, songs) for name in MFCC_NAMES},
        "genre": genre if tags_follow_sound else rng.choice(list(GENRES), songs),
    })
    assert set(AUDIO.names) <= set(frame.columns)
    frame.to_csv(path, index=False)
    return str(path)


def _share_of_same_genre(store, track_id: str, genre: dict[str, str]) -> float:
    found = service.recommend(store, [track_id], record=False).result.items
    return float(np.mean([genre[item.track_id] == genre[track_id] for item in found]))


def test_an_audio_ingest_learns_the_metric_from_its_genre_tags(settings_factory, tmp_path):
    table = audio_table(tmp_path / "library.csv", 300, seed=1)
    genre = dict(pd.read_csv(table)[["track_id", "genre"]].itertuples(index=False))
    with Store(settings_factory()) as store:
        service.ingest(store, [table], features="audio")
        stored = store.lake.keys(f"{keys.TAG_WEIGHTS_FOLDER}/")
        assert len(stored) == 1  # learned by the ingest, before anyone asks
        learned = catalogue_tag_weights(store)
        assert learned.weights is not None and learned.tagged == 300
        assert learned.agreement["learned"] >= learned.agreement["equal"] + 0.1
        noise = [w for name, w in learned.weights.items() if name not in ("onset_rate", "dfa_exponent")]
        assert min(learned.weights["onset_rate"], learned.weights["dfa_exponent"]) > max(noise)
        assert learned.names is not None and "the names' coordinates" in learned.reason  # checked on the same half
        model, _ = recommender(store)
        assert model.distance.weights == learned.weights
        assert model.distance.name_context == learned.name_context(store.settings.name_context)
        queries = [f"audio:{i:06d}" for i in range(0, 300, 30)]
        assert np.mean([_share_of_same_genre(store, q, genre) for q in queries]) >= 0.8  # 0.65 with equal weights

        # More songs: the catalogue's version changes, the weights are learned again and the old file goes.
        service.ingest(store, [audio_table(tmp_path / "more.csv", 60, seed=2, first=300)], features="audio")
        again = store.lake.keys(f"{keys.TAG_WEIGHTS_FOLDER}/")
        assert len(again) == 1 and again != stored
        assert catalogue_tag_weights(store).tagged == 360


def test_tags_that_do_not_follow_the_sound_leave_the_metric_alone(settings_factory, tmp_path):
    with Store(settings_factory()) as store:
        service.ingest(store, [audio_table(tmp_path / "library.csv", 300, seed=3, tags_follow_sound=False)], features="audio")
        learned = catalogue_tag_weights(store)
        assert learned.weights is None and "did not help" in learned.reason
        model, _ = recommender(store)
        assert model.distance.weights is None  # the set's own (equal) weights


def test_too_few_tags_to_learn_from(settings_factory, tmp_path):
    with Store(settings_factory()) as store:
        service.ingest(store, [audio_table(tmp_path / "library.csv", 40, seed=4)], features="audio")
        learned = catalogue_tag_weights(store)
        assert learned.weights is None and learned.tagged == 40 and "too few" in learned.reason


@pytest.mark.parametrize("corrupt", [b"", b"{not json", b'{"weights": 3}'])
def test_an_unreadable_weights_file_is_learned_again(settings_factory, tmp_path, corrupt):
    with Store(settings_factory()) as store:
        service.ingest(store, [audio_table(tmp_path / "library.csv", 300, seed=1)], features="audio")
        [key] = store.lake.keys(f"{keys.TAG_WEIGHTS_FOLDER}/")
        store.lake.write_bytes(key, corrupt)
        assert catalogue_tag_weights(store).weights is not None


def test_a_spotify_catalogue_keeps_its_shipped_weights(settings_factory, seed_files):
    with Store(settings_factory()) as store:
        service.ingest(store, seed_files[:1])
        assert catalogue_tag_weights(store) is None
        assert store.lake.keys(f"{keys.TAG_WEIGHTS_FOLDER}/") == []


def test_a_lake_this_process_cannot_write_still_gets_the_weights(settings_factory, tmp_path, monkeypatch):
    from songscope.store.lake import LakeError

    with Store(settings_factory()) as store:
        service.ingest(store, [audio_table(tmp_path / "library.csv", 300, seed=1)], features="audio")
        [key] = store.lake.keys(f"{keys.TAG_WEIGHTS_FOLDER}/")
        store.lake.delete(key)

        def refuse(lake, key, data, **_):
            raise LakeError(f"cannot write {key}: read-only")

        monkeypatch.setattr(type(store.lake), "write_bytes", refuse)
        assert catalogue_tag_weights(store).weights is not None
