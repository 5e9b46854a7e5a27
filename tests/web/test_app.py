"""The web app and its JSON API (in-process client), and the favourites flow in a real browser."""

from __future__ import annotations

import json
import re
import socket
import threading
import time

import pytest

from songscope.store import cache, db
from tests.conftest import chromium_page

fastapi = pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

BASTILLE, CIGARETTES = "Bastille - Admit Defeat", "Cigarettes After Sex - Cry"
#: The app answers only to the hosts it is served as (`web.security`), as a browser would name it.
LOCAL = "http://127.0.0.1:8000"
PAGES = ["/", "/map", "/clusters/0", "/favourites", "/compare"]


@pytest.fixture(scope="module")
def client(clustered):
    from songscope.web.app import create_app

    settings, *_ = clustered
    return TestClient(create_app(settings), base_url=LOCAL)


def test_every_api_route_is_described_in_openapi(client):
    spec = client.get("/openapi.json").json()
    listed = client.get("/api").json()["endpoints"]
    assert set(listed) == {p for p in spec["paths"] if p.startswith("/api/")}
    assert {"/api/overview", "/api/runs/{run_id}/map", "/api/recommend", "/api/lists", "/api/compare", "/api/songs"} <= set(listed)
    assert client.get("/docs").status_code == 404  # its assets would come from a CDN


def test_answers_run_a_few_at_a_time_and_are_plain_json(clustered):
    """The served app bounds its handler threads (`HANDLER_THREADS`), and writes its answers
    itself: numpy values and NaN included, as `jsonable` would."""
    import anyio.to_thread
    import numpy as np

    from songscope.web.app import HANDLER_THREADS, JSONAnswer, create_app

    settings, *_ = clustered
    with TestClient(create_app(settings), base_url=LOCAL) as served:  # runs the app's lifespan
        assert served.portal.call(lambda: anyio.to_thread.current_default_thread_limiter().total_tokens) == HANDLER_THREADS == 4
        assert served.get("/api/runs").status_code == 200
    answer = JSONAnswer({"a": np.float32(0.5), "b": float("nan"), "c": np.arange(2), "d": (1, np.int64(2))})
    assert json.loads(answer.body) == {"a": 0.5, "b": None, "c": [0, 1], "d": [1, 2]}
    assert answer.headers["content-type"] == "application/json"


def test_only_a_user_error_is_a_4xx(clustered, monkeypatch):
    """The one error edge: a `UserError` is a 422 that says what to fix; any other exception, a
    ValueError from numpy or pandas included, is a bug: a 500, not dressed up as the client's mistake."""
    from songscope import service
    from songscope.errors import UserError
    from songscope.web.app import create_app

    settings, *_ = clustered
    client = TestClient(create_app(settings), base_url=LOCAL, raise_server_exceptions=False)

    def fails_with(exc):
        def overview(store):
            raise exc
        return overview

    monkeypatch.setattr(service, "overview", fails_with(UserError("no catalogue yet: run songscope ingest")))
    told = client.get("/api/overview")
    assert told.status_code == 422 and told.json()["detail"] == "no catalogue yet: run songscope ingest"
    monkeypatch.setattr(service, "overview", fails_with(ValueError("operands could not be broadcast together")))
    assert client.get("/api/overview").status_code == 500


def test_overview_runs_and_clusters(client, clustered):
    settings, first, second, _ = clustered
    overview = client.get("/api/overview").json()
    assert overview["catalogue"]["songs"] == 15_626
    steps = overview["cleaning"][0]["steps"]
    assert [s["rows_after"] for s in steps] == [15_820, 15_779, 15_626]
    assert {r["run_id"] for r in overview["runs"]} >= {first, second}
    assert overview["current_run"]["run_id"] == overview["runs"][0]["run_id"]
    run = client.get(f"/api/runs/{first}").json()
    assert run["k"] == 6 and len(run["clusters"]) == 6 and sum(c["size"] for c in run["clusters"]) == 15_626
    assert 0 < run["metrics"]["silhouette"] < 1
    cluster = client.get(f"/api/runs/{first}/clusters/0").json()
    assert cluster["size"] == run["clusters"][0]["size"] and len(cluster["sample"]) == 25
    from songscope.evaluate.stability import verdict

    assert cluster["figure"]["data"] and cluster["stability"] == verdict(cluster["jaccard"])  # the CLI's words
    missing = client.get(f"/api/runs/{first}/clusters/17")
    assert missing.status_code == 404 and "clusters 0..5" in missing.json()["detail"]
    unknown = client.get("/api/runs/no-such-run")
    assert unknown.status_code == 404 and "no clustering run" in unknown.json()["detail"]


def test_map_search_and_song(client, clustered):
    _, first, *_ = clustered
    cluster_map = client.get(f"/api/runs/{first}/map").json()
    points = cluster_map["points"]
    assert len(points["track_id"]) == len(points["x"]) == 15_626
    assert 0 < cluster_map["trustworthiness"] <= 1 and cluster_map["figure"]["data"]
    found = client.get("/api/songs", params={"q": "bastille admit"}).json()
    assert found[0]["name"] == BASTILLE
    song = client.get(f"/api/songs/{found[0]['track_id']}", params={"run_id": first}).json()
    assert song["name"] == BASTILLE and len(song["nearest"]) == 10
    assert song["cluster"] == points["cluster"][points["track_id"].index(found[0]["track_id"])]
    distances = [n["distance"] for n in song["nearest"]]
    assert distances == sorted(distances) and found[0]["track_id"] not in {n["track_id"] for n in song["nearest"]}
    assert client.get("/api/songs/nope").status_code == 404
    assert client.get("/api/songs", params={"q": ""}).status_code == 422


def test_a_catalogue_larger_than_the_web_sample_is_drawn_from_a_sample(clustered, monkeypatch):
    """Above `WEB_SONGS` the map and the pages use a fixed-seed sample read file by file; a song
    outside it still has its page (its features read from its file, its cluster from the run)."""
    from songscope.service import songs as service_songs
    from songscope.store.runs import ClusterRun
    from songscope.store.store import Store
    from songscope.web.app import create_app

    settings, first, *_ = clustered
    monkeypatch.setattr(service_songs, "WEB_SONGS", 2_000)
    app = create_app(settings)
    client = TestClient(app, base_url=LOCAL)
    cluster_map = client.get(f"/api/runs/{first}/map").json()
    assert len(cluster_map["points"]["track_id"]) == 2_000
    assert cluster_map["songs"] == 15_626 and cluster_map["drawn_from_sample"] == 2_000
    with Store(settings) as store:
        run = ClusterRun.load(store, first)
        catalogue = store.catalogue()
    truth = dict(zip(run.assignments["track_id"], run.assignments["cluster"]))
    assert all(truth[t] == c for t, c in zip(cluster_map["points"]["track_id"], cluster_map["points"]["cluster"]))
    shown = set(cluster_map["points"]["track_id"])
    outside = next(t for t in catalogue["track_id"] if t not in shown)
    song = client.get(f"/api/songs/{outside}", params={"run_id": first}).json()
    expected = catalogue.set_index("track_id").loc[outside]
    assert song["cluster"] == truth[outside] and song["nearest_among"] == 2_000
    assert song["features"]["energy"] == pytest.approx(expected["energy"])
    assert {n["track_id"] for n in song["nearest"]} <= shown and len(song["nearest"]) == 10
    details = client.get(f"/api/runs/{first}/clusters/0").json()
    assert details["drawn_from_sample"] == 2_000 and {s["track_id"] for s in details["sample"]} <= shown
    assert details["size"] == sum(1 for c in truth.values() if c == 0)  # the run's exact size, not the sample's
    assert client.get("/api/songs", params={"q": "bastille admit"}).json()[0]["name"] == BASTILLE  # search covers every song
    _, _, second, _ = clustered
    compared = client.get("/api/compare", params={"a": first, "b": second})
    assert compared.status_code == 200 and compared.json()["agreement"]["songs"] == 2_000
    assert app.state.store.peek(cache.CATALOGUE) is None  # nothing read the whole catalogue
    assert app.state.store.peek(cache.run(first)) is None  # nor a run's assignments as a frame


def test_recommend_save_and_share_a_list(client, clustered):
    settings, *_ = clustered
    result = client.post("/api/recommend", json={"favourites": [BASTILLE, CIGARETTES], "n": 5, "per_artist": 1})
    assert result.status_code == 200, result.text
    items = result.json()["recommendations"]
    assert len(items) == 5 and all("close to" in i["reason"] for i in items)
    assert len({i["artist_name"] for i in items}) == 5  # one per artist, as asked
    database = db.connect(settings.db_url)
    stored = db.read_table(database, db.recommendation_requests)
    database.dispose()
    assert result.json()["request_id"] in set(stored["request_id"])
    ids = [client.get("/api/songs", params={"q": q}).json()[0]["track_id"] for q in ("bastille admit", "cigarettes after sex cry")]
    saved = client.post("/api/lists", json={"name": "evening", "favourites": ids[:1], "dislikes": ids[1:], "options": {"n": 5}})
    assert saved.status_code == 201
    list_id = saved.json()["list_id"]
    again = client.get(f"/api/lists/{list_id}").json()
    assert again["favourites"] == ids[:1] and again["dislikes"] == ids[1:] and again["names"][ids[0]] == BASTILLE
    assert client.get(f"/favourites/{list_id}").status_code == 200
    assert client.get("/api/lists/nope").status_code == 404
    unknown = client.post("/api/recommend", json={"favourites": ["Nobody - Nothing At All Here"]})
    assert unknown.status_code == 422 and "matches no song" in unknown.json()["detail"]
    empty = client.post("/api/recommend", json={"favourites": []})
    assert empty.status_code == 422
    bad_list = client.post("/api/lists", json={"favourites": ["not-a-track"]})
    assert bad_list.status_code == 404


def test_compare(client, clustered):
    _, first, second, _ = clustered
    compared = client.get("/api/compare", params={"a": first, "b": second}).json()
    assert [r["k"] for r in compared["runs"]] == [6, 4]
    assert -1 <= compared["agreement"]["ari"] <= 1 and compared["agreement"]["songs"] == 15_626
    assert compared["figures"]["maps"]["data"] and compared["figures"]["contingency"]["data"]


@pytest.mark.parametrize("path", PAGES)
def test_pages_are_served_locally_and_use_the_api(client, path):
    page = client.get(path)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    external = re.findall(r"""(?:src|href)=["'](https?:)?//""", page.text)
    assert external == []
    # Its own script (a static file beside the shared one) builds the page from its JSON twin.
    scripts = re.findall(r'<script src="(/static/[^"]+)"', page.text)
    assert "/static/common.js" in scripts and len(scripts) >= 2
    for script in scripts:
        served = client.get(script)
        assert served.status_code == 200 and "javascript" in served.headers["content-type"]
    assert "/api/" in client.get(scripts[-1]).text
    assert client.get("/static/style.css").headers["content-type"].startswith("text/css")
    missing = client.get("/no-such-page")
    assert missing.status_code == 404 and "Not found" in missing.text


def test_templates_escape_what_the_address_carries(client):
    page = client.get("/favourites/" + '"><img src=x onerror=alert(1)>')
    assert page.status_code == 200
    assert "<img src=x" not in page.text and 'data-list-id="&#34;&gt;&lt;img src=x onerror=alert(1)&gt;"' in page.text


# --------------------------------------------------------------------------------- the browser


@pytest.fixture(scope="module")
def server(clustered):
    """The app on a free loopback port, served by uvicorn in a thread."""
    import uvicorn

    from songscope.web.app import create_app

    settings, *_ = clustered
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    running = uvicorn.Server(config)
    thread = threading.Thread(target=running.run, daemon=True)
    thread.start()
    deadline = time.time() + 20
    while not running.started and time.time() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    running.should_exit = True
    thread.join(10)


def test_favourites_flow_in_chromium(server, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    errors: list[str] = []
    with sync_api.sync_playwright() as p:
        browser, page = chromium_page(p, errors, allowed=server)  # only the app itself may be reached
        page.goto(server + "/favourites")
        for query, name in (("bastille admit", BASTILLE), ("cigarettes after sex cry", CIGARETTES)):
            page.fill("#q", query)
            add = f'#found a[data-add][data-name="{name}"]:not([data-kind])'
            page.wait_for_selector(add)
            page.click(add)
        page.fill("#n", "6")
        page.click("#go")
        page.wait_for_selector("#results table", timeout=60_000)
        page.wait_for_selector("#map .main-svg", timeout=60_000)
        rows = page.locator("#results table tr").count() - 1
        page.click("#save")
        page.wait_for_selector("#saved a")
        link = page.get_attribute("#saved a", "href")
        page.screenshot(path=str(tmp_path / "favourites.png"), full_page=True)
        page.goto(link)  # the shared link brings the list back and recommends again
        page.wait_for_selector("#results table", timeout=60_000)
        restored = page.inner_text("#chosen")
        page.goto(server + "/map")
        page.wait_for_selector("#map .main-svg", timeout=60_000)
        # The map's points are WebGL: a Content-Security-Policy without 'unsafe-eval' stops Plotly
        # compiling its shaders, and it then says "WebGL is not supported" with no console error.
        webgl_refused = "WebGL is not supported" in page.inner_text("#map")
        gl_canvases = page.locator("#map canvas").count()
        page.fill("#q", "bastille admit")
        page.wait_for_selector("#found a.song")
        page.click("#found a.song")
        page.wait_for_selector("#details h2")
        selected = page.evaluate("(() => { const d = document.getElementById('map'); return d.data[d.data.length - 1].name; })()")
        details = page.inner_text("#details")
        page.goto(server + "/compare")
        page.wait_for_selector("#contingency .main-svg", timeout=60_000)
        compare_text = page.inner_text("#summary")
        page.goto(server + "/clusters/1")
        page.wait_for_selector("#radar .main-svg", timeout=60_000)
        cluster_text = page.inner_text("#about")
        page.goto(server + "/")
        page.wait_for_selector("#runs table")
        overview_text = page.inner_text("main")
        browser.close()
    assert errors == []
    assert not webgl_refused and gl_canvases > 0
    assert rows == 6 and BASTILLE in restored and CIGARETTES in restored
    assert selected == "selected" and "Nearest songs" in details
    assert "ARI" in compare_text and "gmm" in compare_text
    assert "Stability (bootstrap Jaccard)" in cluster_text and "Top artists" in cluster_text
    assert "15,626" in overview_text and "The current clustering" in overview_text
    # The run's evidence, as the report shows it (the current run, the GMM, was fitted without bootstrap resamples).
    assert "Null model." in overview_text and "Which features separate the clusters" in overview_text and "< 1e-300" in overview_text
    assert "Agreement across seeds" not in overview_text


def test_filters_exports_and_a_path_in_chromium(server, tmp_path):
    """Filters and exports on the favourites page, a path drawn on the map, a cluster's playlist:
    as a listener uses them, with screenshots (looked at when this test was written)."""
    sync_api = pytest.importorskip("playwright.sync_api")
    from songscope.recommend.playlists import read

    errors: list[str] = []
    with sync_api.sync_playwright() as p:
        browser, page = chromium_page(p, errors, allowed=server)
        page.goto(server + "/favourites")
        page.fill("#q", "bastille admit")
        page.click(f'#found a[data-add][data-name="{BASTILLE}"]:not([data-kind])')
        page.fill("#n", "8")
        page.click("#filters summary")
        page.fill("#exclude_artists", "Bastille, Coldplay")
        page.fill("#where", "energy < 0.6 and duration_ms < 300000")
        page.click("#go")
        page.wait_for_selector("#results table", timeout=60_000)
        shown = page.evaluate("[...document.querySelectorAll('#results table tr td:nth-child(2)')].map(td => td.innerText)")
        with page.expect_download() as downloaded:
            page.click('#results a[data-export="jspf"]')
        exported = read(open(downloaded.value.path(), encoding="utf-8").read(), "jspf")
        page.screenshot(path=str(tmp_path / "favourites-filters.png"), full_page=True)
        page.fill("#where", "energy <")
        page.click("#go")
        page.wait_for_selector("#results .error")
        refused = page.inner_text("#results .error")
        page.goto(server + "/map")
        page.wait_for_selector("#map .main-svg", timeout=60_000)
        page.fill("#path_start", BASTILLE)
        page.fill("#path_end", CIGARETTES)
        page.fill("#path_steps", "7")
        page.click("#path_go")
        page.wait_for_selector("#path table", timeout=60_000)
        path_rows = page.locator("#path table tr").count() - 1
        drawn = page.evaluate("(() => { const d = document.getElementById('map'); const t = d.data[d.data.length - 1]; return [t.name, t.x.length]; })()")
        page.screenshot(path=str(tmp_path / "map-path.png"), full_page=True)
        page.goto(server + "/clusters/1")
        page.wait_for_selector("#about a[download]", timeout=60_000)
        with page.expect_download() as cluster_file:
            page.click('#about a[download][href*="format=csv"]')
        cluster_lines = open(cluster_file.value.path(), encoding="utf-8").read().count("spotify:track:")
        browser.close()
    # The one error the browser logs is the 422 of the broken expression, which the page shows.
    assert errors == ["Failed to load resource: the server responded with a status of 422 (Unprocessable Entity)"]
    assert len(shown) == 8 and not any(song.startswith(("Bastille - ", "Coldplay - ")) for song in shown) and len(exported) == 8
    assert "--where 'energy <'" in refused and "something is missing" in refused
    assert path_rows == 7 and drawn == ["path", 7]
    assert cluster_lines == 100


def _serve(settings, *flags: str):
    """`songscope serve` in its own process on a free port, as a user starts it (no SONGSCOPE_*
    variable of the test run leaking in): (port, process)."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    script = Path(sys.executable).parent / "songscope"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SONGSCOPE_")}
    process = subprocess.Popen([str(script), "serve", "--port", str(port), "--db", settings.db_url, "--lake", settings.lake_url, *flags],
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return port, process


def test_serve_command_starts_the_app(clustered, tmp_path):
    """`songscope serve` as a user runs it: a process listening on the port it was given."""
    import urllib.request

    settings, *_ = clustered
    port, process = _serve(settings)
    try:
        body = None
        deadline = time.time() + 60
        while time.time() < deadline and body is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/runs", timeout=5) as response:
                    body = response.read().decode()
            except OSError:
                time.sleep(0.3)
        assert body is not None, process.stderr.read() if process.poll() is not None else "no answer in 60 s"
        assert len(json.loads(body)) >= 2  # the clustered fixture's two runs
    finally:
        process.terminate()
        out, _ = process.communicate(timeout=20)
    assert f"http://127.0.0.1:{port}/" in out


def test_serve_with_several_workers_guards_each_of_them(clustered, tmp_path):
    """`songscope serve --workers 2`: worker processes built from the environment, with the
    settings, the Host check and read-only mode the command was given."""
    import urllib.error
    import urllib.request

    settings, *_ = clustered
    port, process = _serve(settings, "--workers", "2", "--read-only", "--allowed-host", "songs.example")

    def call(path: str, *, data: bytes | None = None, host: str | None = None) -> int:
        request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, headers={"Content-Type": "application/json"})
        if host:
            request.add_header("Host", host)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status
        except urllib.error.HTTPError as exc:
            return exc.code

    try:
        deadline, ready = time.time() + 90, False
        while time.time() < deadline and not ready:
            try:
                ready = call("/api/runs") == 200
            except OSError:
                time.sleep(0.3)
        assert ready, process.stderr.read() if process.poll() is not None else "no answer in 90 s"
        statuses = {call("/api/runs") for _ in range(20)}  # both workers answer alike
        saved = call("/api/lists", data=json.dumps({"favourites": [BASTILLE]}).encode())
        named = call("/api/runs", host="songs.example")
        rebinding = call("/api/runs", host="evil.example")
    finally:
        process.terminate()
        process.communicate(timeout=30)
    assert statuses == {200} and saved == 403 and named == 200 and rebinding == 400


def test_api_takes_every_recommendation_option_and_shows_what_the_report_shows(client, clustered):
    from dataclasses import fields

    from songscope.recommend.options import RecommendOptions
    from tests.conftest import load_catalogue

    settings, first, *_ = clustered
    spec = client.get("/openapi.json").json()["components"]["schemas"]["RecommendRequest"]["properties"]
    assert {f.name for f in fields(RecommendOptions)} <= set(spec)  # one declaration, both shells
    from songscope.web.app import MAX_RECOMMENDATIONS

    # The API bounds n tighter than the command line's 500 (#14: a request costs what a normal one does).
    assert spec["n"]["maximum"] == MAX_RECOMMENDATIONS == 100 and "popularity" in spec["popularity"]["description"].lower()
    popular = client.post("/api/recommend", json={"favourites": [BASTILLE], "n": 5, "popularity": [80, 100]})
    assert popular.status_code == 200, popular.text
    popularity = load_catalogue(settings).set_index("track_id")["popularity"]
    picks = [i["track_id"] for i in popular.json()["recommendations"]]
    assert len(picks) == 5 and all(popularity[t] >= 80 for t in picks)
    wrong = client.post("/api/recommend", json={"favourites": [BASTILLE], "popularity": [90, 10]})
    assert wrong.status_code == 422 and "popularity range" in wrong.json()["detail"]
    # The run's evidence, as the report shows it: null model, bootstrap stability, feature tests.
    run = client.get(f"/api/runs/{first}").json()
    assert run["null_model"]["k"] == 6 and "structure" in run["null_model"]
    assert run["stability"]["resamples"] == 3 and len(run["stability"]["jaccard"]) == 6
    assert run["feature_tests"][0]["epsilon_squared"] > 0 and run["engine_reason"]


def test_a_duet_is_found_and_recommended_from_by_either_artist(tmp_path, seed_files):
    """Songs of several artists from a public dump's list literals: the search finds a duet by
    its second artist and shows both; a favourite named by either artist is the same song; a
    song's page lists its artists."""
    from songscope.config import Settings
    from songscope.web.app import create_app
    from tests.conftest import ingest
    from tests.test_layouts import LAYOUTS

    settings = Settings(db_url=f"sqlite:///{tmp_path / 'duets.db'}", lake_url=str(tmp_path / "lake"))
    ingest([*seed_files[2:], str(LAYOUTS / "spotify_1921_2020_tracks.csv")], settings)
    client = TestClient(create_app(settings), base_url=LOCAL)
    found = client.get("/api/songs", params={"q": "bing crosby"}).json()
    assert [song["name"] for song in found] == ["Dick Haymes, Bing Crosby - Lo Que Fue"]
    answers = [client.post("/api/recommend", json={"favourites": [name], "n": 5}) for name in ("Bing Crosby - Lo Que Fue", "Dick Haymes - Lo Que Fue")]
    assert all(a.status_code == 200 for a in answers), answers[0].text
    assert answers[0].json()["favourites"] == answers[1].json()["favourites"] == ["Dick Haymes, Bing Crosby - Lo Que Fue"]
    assert all(item["artists"] and item["artists"][0] == item["artist_name"] for item in answers[0].json()["recommendations"])
    assert client.get("/api/songs", params={"q": "uli carve"}).json()[0]["name"] == "Uli - Carve"


def test_the_recommendation_request_is_declared_in_pydantic_s_current_terms():
    """The request model takes each option's bounds and help, not the command line's own spelling
    (pydantic deprecates unknown keywords on a field, and will drop them)."""
    import warnings

    from songscope.web.app import _recommend_request_model

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model = _recommend_request_model()
    assert model.model_fields["n"].metadata and "cli" not in (model.model_fields["n"].json_schema_extra or {})
