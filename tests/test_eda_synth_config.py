"""Profile figures, synthetic songs and settings."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from songscope import schema
from songscope.clean import clean
from songscope.config import Settings, redact
from songscope.eda import profile, to_markdown, write_profile
from songscope.ingest import read_sources
from songscope.synth import synthesize


@pytest.fixture(scope="module")
def seed_tracks(seed_files):
    return clean(read_sources(seed_files).frame)


def test_profile_figures_and_bias(seed_tracks, tmp_path):
    result = profile(seed_tracks.tracks, clean_report=seed_tracks.report, rejected=0)
    top = result.top_artists.set_index("artist_name")["tracks"]
    assert top["Ludwig van Beethoven"] == 1_206
    assert top["Johann Sebastian Bach"] == 679
    assert top["Wolfgang Amadeus Mozart"] == 275
    assert result.describe.loc["duration_ms", "min"] == 12_564
    assert result.describe.loc["popularity", "max"] == 100
    assert result.describe.loc["time_signature", "nulls"] == 0
    outliers = result.outliers.set_index("rule")["tracks"]
    assert outliers["any rule"] == 609
    assert 0 < result.popularity_zero_share < 0.2
    markdown = to_markdown(result)
    assert "20,301 -> 15,820 -> 15,779 -> 15,626" in markdown
    paths = write_profile(result, tmp_path)
    for key in ("histograms", "correlations", "top_artists"):
        assert paths[key].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert result.correlations.loc["energy", "loudness"] > 0.7  # the seed's strongest pair


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


def test_settings_precedence_and_redaction():
    env = {"SONGSCOPE_DB_URL": "sqlite:///env.db", "SONGSCOPE_SEED": "5"}
    assert Settings.load(env=env).db_url == "sqlite:///env.db"
    assert Settings.load(env=env).seed == 5
    assert Settings.load(env=env, db_url="sqlite:///flag.db").db_url == "sqlite:///flag.db"
    assert Settings.load(env={}).lake_url == "lake"
    assert redact("mysql+pymysql://root:pw@h/db") == "mysql+pymysql://root:***@h/db"
    assert redact("sqlite:///x.db") == "sqlite:///x.db"
