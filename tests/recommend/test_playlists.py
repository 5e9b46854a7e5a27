"""Playlists in and out (M3U, JSPF, CSV and the Spotify exporters' CSV), from the CLI and the API."""

from __future__ import annotations

import csv
import io
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from songscope.cli import app
from songscope.errors import UserError
from songscope.recommend import playlists
from songscope.recommend.playlists import PlaylistSong
from tests.conftest import cluster, copy_stores, load_catalogue

BASTILLE = "Bastille - Admit Defeat"
SONGS = [PlaylistSong("4u7EnebtmKWzUH433cf5Qv", "Queen", "Bohemian Rhapsody", "close to X"),
         PlaylistSong("7ouMYWpwJ422jRcDASZB7P", "Tyler, The Creator", 'Say "Hi"\nAgain', None)]

#: A playlist as Exportify writes it (its README's columns, audio features included).
EXPORTIFY = """Track URI,Track Name,Artist URI(s),Artist Name(s),Album URI,Album Name,Album Artist URI(s),Album Artist Name(s),\
Album Release Date,Album Image URL,Disc Number,Track Number,Track Duration (ms),Track Preview URL,Explicit,Popularity,ISRC,Added By,Added At,\
Artist Genres,Danceability,Energy,Key,Loudness,Mode,Speechiness,Acousticness,Instrumentalness,Liveness,Valence,Tempo,Time Signature
spotify:track:4u7EnebtmKWzUH433cf5Qv,Bohemian Rhapsody,spotify:artist:1dfeR4HaWDbWqFHLkxsg1d,Queen,spotify:album:x,A Night at the Opera,\
spotify:artist:1dfeR4HaWDbWqFHLkxsg1d,Queen,1975-11-21,,1,11,354320,,false,88,GBUM71029604,,2020-01-01T00:00:00Z,"classic rock,rock",\
0.392,0.402,0,-9.961,0,0.0536,0.288,0,0.243,0.228,143.883,4
,Local Song,,"Daft Punk, Pharrell Williams",,,,,,,,,248000,,false,0,,,,,0.5,0.5,1,-5,1,0.05,0.1,0,0.1,0.5,116,4
"""


@pytest.mark.parametrize("kind", ["m3u", "jspf", "csv"])
def test_every_format_reads_back_the_songs_it_wrote(kind):
    text = playlists.write(SONGS, kind, title="mine")
    assert playlists.read(text, kind) == [s.track_id for s in SONGS]
    if kind == "jspf":
        track = json.loads(text)["playlist"]["track"][0]
        assert track["identifier"] == ["spotify:track:4u7EnebtmKWzUH433cf5Qv"] and track["annotation"] == "close to X"
    if kind == "m3u":
        assert "#EXTINF:-1,Tyler, The Creator - Say \"Hi\" Again" in text  # one line, whatever the name holds


def test_the_spotify_exporters_csv_and_players_m3u_are_read():
    assert playlists.read(EXPORTIFY, "csv") == ["4u7EnebtmKWzUH433cf5Qv", "Daft Punk - Local Song"]
    m3u = "#EXTM3U\n#EXTINF:215,Post Malone - Circles\n/music/post malone/circles.mp3\nhttps://open.spotify.com/track/21jGcNKet2qwijlDFuPiPb?si=1\n"
    assert playlists.read(m3u, "m3u") == ["Post Malone - Circles", "21jGcNKet2qwijlDFuPiPb"]
    ours = "track_id,artist_name,track_name\n21jGcNKet2qwijlDFuPiPb,Post Malone,Circles\n"
    assert playlists.read(ours, "csv") == ["21jGcNKet2qwijlDFuPiPb"]
    with pytest.raises(UserError, match="favs.json: not a JSPF playlist"):
        playlists.read("[1, 2]", "jspf", source="favs.json")
    with pytest.raises(UserError, match="needs a track URI or id column"):
        playlists.read("a,b\n1,2\n", "csv")
    with pytest.raises(UserError, match="the extension chooses"):
        playlists.format_of("list.txt")


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=20),
                          st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=20)), min_size=1, max_size=8))
def test_any_names_survive_the_csv_and_jspf_formats(names):
    songs = [PlaylistSong(f"id{i}", artist, title) for i, (artist, title) in enumerate(names)]
    for kind in ("csv", "jspf"):
        assert playlists.read(playlists.write(songs, kind, title="t"), kind) == [s.track_id for s in songs]
    rows = list(csv.DictReader(io.StringIO(playlists.write(songs, "csv", title="t"))))
    assert [(r["Artist Name(s)"], r["Track Name"]) for r in rows] == [(s.artist_name, s.track_name) for s in songs]


def test_cli_exports_recommendations_and_clusters_and_takes_playlists_in(seed_catalogue, tmp_path):
    runner = CliRunner(env={"COLUMNS": "240", "NO_COLOR": "1"})
    settings = copy_stores(seed_catalogue, tmp_path)
    cluster(settings, k=5, resamples=0)
    common = ["--db", settings.db_url, "--lake", settings.lake_url]
    out = tmp_path / "recs.jspf"
    shown = runner.invoke(app, ["recommend", BASTILLE, "-n", "7", "--export", str(out), *common])
    assert shown.exit_code == 0, shown.output
    assert f"wrote 7 songs to {out} (jspf)" in shown.output.replace("\n", "")
    ids = playlists.read(out.read_text(), "jspf")
    assert len(ids) == 7
    # The exported list back in as favourites, by its ids.
    again = runner.invoke(app, ["recommend", "--file", str(out), "-n", "3", "--json", *common])
    assert again.exit_code == 0, again.output
    catalogue = load_catalogue(settings).set_index("track_id")
    assert json.loads(again.output)["favourites"] == [f"{catalogue.loc[t, 'artist_name']} - {catalogue.loc[t, 'track_name']}" for t in ids]
    exportify = tmp_path / "exportify.csv"
    exportify.write_text(EXPORTIFY.replace("4u7EnebtmKWzUH433cf5Qv", ids[0]))
    from_exportify = runner.invoke(app, ["recommend", "--file", str(exportify), "--json", *common])
    assert from_exportify.exit_code == 2 and "Daft Punk - Local Song" in from_exportify.output  # not in this catalogue: said, by name
    typical = tmp_path / "cluster.csv"
    written = runner.invoke(app, ["cluster-playlist", "2", "-o", str(typical), "-n", "25", *common])
    assert written.exit_code == 0, written.output
    rows = list(csv.DictReader(io.StringIO(typical.read_text())))
    assert len(rows) == 25 and all(r["Track URI"].startswith("spotify:track:") and r["Why"].startswith("cluster 2:") for r in rows)
    bad = runner.invoke(app, ["recommend", BASTILLE, "--export", str(tmp_path / "recs.txt"), *common])
    assert bad.exit_code == 2 and "the extension chooses the format" in bad.output


def test_api_answers_playlist_files(clustered):
    from fastapi.testclient import TestClient

    from songscope.web.app import create_app

    settings, first, *_ = clustered
    client = TestClient(create_app(settings), base_url="http://127.0.0.1:8000")
    m3u = client.post("/api/recommend/playlist", json={"favourites": [BASTILLE], "n": 6})
    assert m3u.status_code == 200 and m3u.headers["content-type"].startswith("audio/x-mpegurl")
    assert m3u.headers["content-disposition"].startswith('attachment; filename="songscope-') and m3u.text.count("spotify:track:") == 6
    jspf = client.post("/api/recommend/playlist?format=jspf", json={"favourites": [BASTILLE], "n": 4, "where": "energy < 0.7"})
    assert jspf.status_code == 200 and len(json.loads(jspf.text)["playlist"]["track"]) == 4
    typical = client.get(f"/api/runs/{first}/clusters/1/playlist", params={"format": "csv", "n": 12})
    assert typical.status_code == 200 and len(list(csv.DictReader(io.StringIO(typical.text)))) == 12
    assert client.get(f"/api/runs/{first}/clusters/1/playlist", params={"format": "mp3"}).status_code == 422
    assert client.get(f"/api/runs/{first}/clusters/1/playlist", params={"n": 5_000}).status_code == 422
    assert client.get(f"/api/runs/{first}/clusters/99/playlist").status_code == 404
