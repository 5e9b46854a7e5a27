"""Profile figures, synthetic songs and settings."""

from __future__ import annotations

from songscope.profile import profile, to_markdown, write_profile


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


def test_every_artist_of_a_song_counts_in_the_top_artists(seed_tracks):
    """A duet is a song of each of its artists: the profile's top artists count it for both."""
    from songscope.artists import SEPARATOR

    tracks = seed_tracks.tracks.copy()
    before = profile(tracks).top_artists.set_index("artist_name")["tracks"]
    khalid = tracks.index[tracks["artist_name"] == "Khalid"]
    tracks.loc[khalid, "artists"] = "Khalid" + SEPARATOR + "Drake"
    after = profile(tracks).top_artists.set_index("artist_name")["tracks"]
    assert after["Drake"] == before["Drake"] + len(khalid) and len(khalid) > 10
