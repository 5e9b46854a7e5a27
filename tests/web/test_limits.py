"""Every input a client controls is bounded with a 422 that names the bound, and the app answers
NaN, Infinity and a database that cannot answer without a 500."""

from __future__ import annotations

import pytest

fastapi = pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from songscope.web import app as web  # noqa: E402
from tests.web.test_app import BASTILLE, LOCAL  # noqa: E402


@pytest.fixture(scope="module")
def client(clustered):
    settings, *_ = clustered
    return TestClient(web.create_app(settings), base_url=LOCAL, raise_server_exceptions=False)


def _detail(response) -> str:
    assert response.status_code == 422, (response.status_code, response.text[:300])
    return str(response.json()["detail"])


@pytest.mark.parametrize("body, fragment", [
    ({"favourites": [BASTILLE] * (web.MAX_SONGS + 1)}, f"at most {web.MAX_SONGS} items"),
    ({"favourites": [BASTILLE], "dislikes": [BASTILLE] * (web.MAX_SONGS + 1)}, f"at most {web.MAX_SONGS} items"),
    ({"favourites": ["x" * (web.MAX_TEXT + 1)]}, f"at most {web.MAX_TEXT} characters"),
    ({"favourites": [BASTILLE], "n": web.MAX_RECOMMENDATIONS + 1}, f"less than or equal to {web.MAX_RECOMMENDATIONS}"),
    ({"favourites": [BASTILLE], "run_id": "r" * 65}, "at most 64 characters"),
    ({"favourites": [BASTILLE], "surprise": 1}, "Extra inputs are not permitted"),
])
def test_recommend_inputs_are_bounded(client, body, fragment):
    assert fragment in _detail(client.post("/api/recommend", json=body))


def test_search_inputs_are_bounded(client):
    assert f"at most {web.MAX_TEXT} characters" in _detail(client.get("/api/songs", params={"q": "love " * 50}))
    assert f"at most {web.MAX_QUERY_WORDS} words" in _detail(client.get("/api/songs", params={"q": "a b c d e f g h i"}))
    assert "less than or equal to 100" in _detail(client.get("/api/songs", params={"q": "love", "limit": 1000}))
    assert client.get("/api/songs", params={"q": "love", "limit": 5}).status_code == 200


@pytest.mark.parametrize("body, fragment", [
    ({"name": "n" * (web.MAX_TEXT + 1), "favourites": ["a"]}, f"at most {web.MAX_TEXT} characters"),
    ({"favourites": ["a"] * (web.MAX_SONGS + 1)}, f"at most {web.MAX_SONGS} items"),
    ({"favourites": ["a"], "options": {"n": 5, "padding": "x" * 10}}, "unknown options ['padding']"),
    ({"favourites": ["a"], "options": {"n": "x" * 5_000}}, f"more than {web.MAX_OPTIONS_BYTES:,} bytes"),
])
def test_list_inputs_are_bounded(client, body, fragment):
    assert fragment in _detail(client.post("/api/lists", json=body))


@pytest.mark.parametrize("raw", [b'{"favourites": ["x"], "n": NaN}', b'{"favourites": ["x"], "diversity": Infinity}',
                                 b'{"favourites": ["x"], "diversity": -Infinity}'])
def test_nan_and_infinity_are_a_422_not_a_500(client, raw):
    response = client.post("/api/recommend", content=raw, headers={"Content-Type": "application/json"})
    assert response.status_code == 422, response.text
    response.json()  # the error itself is valid JSON


def test_a_list_with_nan_options_is_a_422(client):
    response = client.post("/api/lists", content=b'{"favourites": ["a"], "options": {"diversity": NaN}}', headers={"Content-Type": "application/json"})
    assert response.status_code == 422 and "bytes as JSON" not in response.text


def test_a_locked_or_unreachable_database_is_a_503_with_retry_after(client, monkeypatch):
    import sqlalchemy as sa

    from songscope import service

    def locked(*args, **kwargs):
        raise sa.exc.OperationalError("INSERT ...", {}, Exception("database is locked"))

    monkeypatch.setattr(service, "overview", locked)
    response = client.get("/api/overview")
    assert response.status_code == 503 and response.headers["retry-after"] == str(web.RETRY_AFTER_S)
    assert "database is locked" in response.json()["detail"]


def test_a_normal_request_still_works(client):
    response = client.post("/api/recommend", json={"favourites": [BASTILLE], "n": web.MAX_RECOMMENDATIONS, "diversity": 0.7})
    assert response.status_code == 200 and len(response.json()["recommendations"]) == web.MAX_RECOMMENDATIONS
