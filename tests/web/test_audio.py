"""The web app plays a library's songs: each song analysed from a file has a player on its page,
in the recommendations and on a path, served from the library with range requests (a player
seeks), for songs of the catalogue only, and with the token beyond this machine."""

from __future__ import annotations

import shutil
import socket
import threading
import time

import pytest

fastapi = pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from songscope.web.security import TOKEN_COOKIE, Access  # noqa: E402
from tests.audio.conftest import RENDERED  # noqa: E402
from tests.conftest import chromium_page, cluster, ingest, load_catalogue  # noqa: E402
from tests.test_bad_inputs import GOOD, HEADER  # noqa: E402
from tests.web.test_app import LOCAL  # noqa: E402

TOKEN = "a token for the library"


@pytest.fixture(scope="module")
def library_catalogue(tmp_path_factory):
    """Six rendered songs and three songs of a Spotify table in one catalogue (compared on the
    features both sets have), clustered."""
    from songscope.config import Settings

    folder = tmp_path_factory.mktemp("web-audio")
    music = folder / "Music" / "The Renderers"
    shutil.copytree(RENDERED, music, ignore=shutil.ignore_patterns("*.csv"))
    table = folder / "spotify.csv"
    table.write_text("\n".join([HEADER, *GOOD]) + "\n", encoding="utf-8")
    settings = Settings(db_url=f"sqlite:///{folder / 's.db'}", lake_url=str(folder / "lake"))
    ingest([str(folder / "Music")], settings, workers=1)
    ingest([str(table)], settings)
    cluster(settings, k=2, resamples=0)
    catalogue = load_catalogue(settings)
    audio = catalogue[catalogue["track_id"].str.startswith("audio:")].sort_values("track_name")
    spotify = catalogue[~catalogue["track_id"].str.startswith("audio:")]
    return settings, audio, spotify


def _client(settings, access: Access | None = None) -> TestClient:
    from songscope.web.app import create_app

    return TestClient(create_app(settings, access or Access()), base_url=LOCAL, follow_redirects=False)


def test_a_song_of_the_library_is_served_with_range_requests(library_catalogue):
    settings, audio, spotify = library_catalogue
    client = _client(settings)
    song = audio.iloc[0]
    shown = client.get(f"/api/songs/{song['track_id']}").json()
    assert shown["audio"] == f"/api/songs/{song['track_id'].replace(':', '%3A')}/audio"
    assert "tempo" in shown["features"] and "danceability" not in shown["features"]  # the features both sets share
    whole = client.get(shown["audio"])
    original = (RENDERED / f"{song['track_name']}.opus").read_bytes()
    assert whole.status_code == 200 and whole.content == original and whole.headers["content-type"] == "audio/ogg"
    assert whole.headers["accept-ranges"] == "bytes"
    part = client.get(shown["audio"], headers={"Range": "bytes=1000-1999"})
    assert part.status_code == 206 and part.content == original[1000:2000]
    assert part.headers["content-range"] == f"bytes 1000-1999/{len(original)}"
    # A song read from a table has no file; nothing outside the catalogue is served, whatever the id says.
    table_song = client.get(f"/api/songs/{spotify['track_id'].iloc[0]}/audio")
    assert table_song.status_code == 404 and "read from a table" in table_song.json()["detail"]
    assert client.get(f"/api/songs/{spotify['track_id'].iloc[0]}").json()["audio"] is None
    for probe in ("audio:0000", "..%2F..%2F..%2Fetc%2Fpasswd", "%2Fetc%2Fpasswd"):
        assert client.get(f"/api/songs/{probe}/audio").status_code == 404, probe


def test_beyond_this_machine_the_library_needs_the_token(library_catalogue):
    settings, audio, _ = library_catalogue
    guarded = _client(settings, Access.for_bind("192.0.2.10", token=TOKEN))
    url = f"/api/songs/{audio['track_id'].iloc[0]}/audio"
    assert guarded.get(url).status_code == 401
    assert guarded.get(url, headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    assert guarded.post("/login", data={"token": TOKEN}).status_code == 303  # signed in: the cookie the <audio> element sends
    assert TOKEN_COOKIE in guarded.cookies and guarded.get(url, headers={"Range": "bytes=0-99"}).status_code == 206


def test_the_player_loads_and_seeks_in_chromium(library_catalogue):
    sync_api = pytest.importorskip("playwright.sync_api")
    import uvicorn

    from songscope.web.app import create_app

    settings, audio, _ = library_catalogue
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    running = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    deadline = time.time() + 20
    while not running.started and time.time() < deadline:
        time.sleep(0.05)
    server = f"http://127.0.0.1:{port}"
    errors: list[str] = []
    try:
        with sync_api.sync_playwright() as p:
            browser, page = chromium_page(p, errors, allowed=server)
            page.goto(server + "/map")
            page.wait_for_selector("#map .main-svg", timeout=60_000)
            page.evaluate("id => show(id)", audio["track_id"].iloc[0])
            page.wait_for_selector("#details audio.player")
            state = page.evaluate("""async () => {
                const a = document.querySelector('#details audio.player');
                a.muted = true;
                a.load();
                await new Promise((ok, no) => { a.addEventListener('loadedmetadata', ok, {once: true}); a.addEventListener('error', () => no(a.error && a.error.message), {once: true}); });
                a.currentTime = 9.5;
                await new Promise(ok => a.addEventListener('seeked', ok, {once: true}));
                return {duration: a.duration, at: a.currentTime, seekable: a.seekable.length ? a.seekable.end(0) : 0};
            }""")
            browser.close()
    finally:
        running.should_exit = True
        thread.join(10)
    assert errors == []
    assert state["duration"] == pytest.approx(15, abs=0.2) and state["at"] == pytest.approx(9.5, abs=0.1)
    assert state["seekable"] == pytest.approx(state["duration"], abs=0.2)  # the whole file: the server answers ranges
