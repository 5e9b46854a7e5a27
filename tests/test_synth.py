"""Profile figures, synthetic songs and settings."""

from __future__ import annotations

import numpy as np
from scipy import stats

from songscope import schema
from songscope.synth import synthesize


def test_synthetic_songs_follow_the_seed(seed_tracks):
    reference = seed_tracks.tracks
    songs = synthesize(reference, 20_000, seed=7)
    assert list(songs.columns) == [c for c in schema.CANONICAL_COLUMNS]
    for column in ("danceability", "energy", "loudness", "acousticness", "tempo", "duration_ms"):
        ks = stats.ks_2samp(songs[column], reference[column]).statistic
        assert ks < 0.03, (column, ks)
    assert set(songs["mode"]) <= {0, 1} and set(songs["key"]) <= set(range(-1, 12))
    real = reference[["energy", "loudness", "acousticness"]].astype(float).corr("spearman").to_numpy()
    fake = songs[["energy", "loudness", "acousticness"]].astype(float).corr("spearman").to_numpy()
    assert np.abs(real - fake).max() < 0.05
    again = synthesize(reference, 20_000, seed=7)
    assert songs.equals(again)
    # Synthetic songs pass the same validation as real ones.
    assert songs["artist_name"].value_counts().iloc[0] > 20_000 / 1_000 * 5  # Zipf: a few big artists
