"""Real recordings, not rendered ones: the three mp3s of Debian's asc-music (the game Advanced
Strategic Command's soundtrack) go through the whole pipeline."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import cluster, ingest, load_catalogue, run_service, unavailable

MUSIC = Path("/usr/share/games/asc/music")


def test_a_game_soundtrack_is_analysed_clustered_and_recommended(settings_factory):
    from songscope.recommend.recommender import RecommendOptions

    if not (MUSIC / "frontiers.mp3").exists():
        unavailable("Debian's asc-music (apt-get install asc-music; make test does it)")
    settings = settings_factory()
    outcome = ingest([str(MUSIC)], settings)
    assert (outcome.files_found, outcome.tracks_added, outcome.rows_rejected) == (3, 3, 0)
    songs = load_catalogue(settings).set_index("track_name")
    assert set(songs.index) == {"frontiers", "machine_wars", "time_to_strike"}
    assert songs["duration_ms"].between(240_000, 480_000).all()  # 4 to 8 minutes, as the files are
    assert songs["tempo"].between(60, 200).all() and songs["loudness"].between(-30, -5).all()
    assert (songs["loudness_range"] > 1).all() and songs["spectral_centroid"].between(300, 6_000).all()
    run = cluster(settings, k=2, resamples=0).run
    assert sorted(run.clusters["size"]) == [1, 2]
    found = run_service("recommend", settings, [songs.loc["frontiers", "track_id"]], options=RecommendOptions(n=2, per_artist=3))
    assert {item.track_name for item in found.result.items} == {"machine_wars", "time_to_strike"}
