"""Who may use the web app and from where (`web.security`): the API token, the Host and Origin
checks (DNS rebinding, cross-site posts), the read-only mode, the security headers, and
`songscope serve` refusing to listen beyond this machine without a token."""

from __future__ import annotations

import pytest

fastapi = pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from songscope.errors import UserError  # noqa: E402
from songscope.web.security import CONTENT_SECURITY_POLICY, TOKEN_COOKIE, Access  # noqa: E402
from tests.web.test_app import BASTILLE, LOCAL  # noqa: E402

TOKEN = "correct horse battery staple"


def _client(clustered, access: Access) -> TestClient:
    from songscope.web.app import create_app

    settings, *_ = clustered
    return TestClient(create_app(settings, access), base_url=LOCAL, follow_redirects=False)


@pytest.fixture(scope="module")
def open_client(clustered):
    return _client(clustered, Access())


@pytest.fixture(scope="module")
def guarded(clustered):
    return _client(clustered, Access.for_bind("192.0.2.10", token=TOKEN))


def test_every_response_carries_the_security_headers(open_client):
    for path in ("/", "/api/overview", "/api/nothing-here", "/static/common.js"):
        response = open_client.get(path)
        assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY, path
        assert response.headers["x-frame-options"] == "DENY" and response.headers["x-content-type-options"] == "nosniff", path
    assert "script-src 'self'" in CONTENT_SECURITY_POLICY and "frame-ancestors 'none'" in CONTENT_SECURITY_POLICY


def test_a_foreign_host_header_is_refused(open_client):
    """DNS rebinding: evil.example re-pointed at 127.0.0.1 still names itself in the Host header."""
    refused = open_client.get("/api/overview", headers={"Host": "evil.example"})
    assert refused.status_code == 400 and "evil.example" in refused.json()["detail"]
    assert open_client.get("/", headers={"Host": "evil.example:8000"}).status_code == 400
    for host in ("127.0.0.1:8000", "localhost:8000", "[::1]:8000", "localhost"):
        assert open_client.get("/api/overview", headers={"Host": host}).status_code == 200, host


def _a_track_id(client) -> str:
    return client.get("/api/songs", params={"q": "Bastille"}).json()[0]["track_id"]


def test_a_cross_site_write_is_refused(open_client):
    body = {"name": "x", "favourites": [_a_track_id(open_client)]}
    refused = open_client.post("/api/lists", json=body, headers={"Origin": "http://evil.example"})
    assert refused.status_code == 403 and "cross-site" in refused.json()["detail"]
    assert open_client.post("/api/lists", json=body, headers={"Origin": "null"}).status_code == 403
    assert open_client.post("/api/lists", json=body, headers={"Origin": LOCAL}).status_code == 201  # the app's own page
    assert open_client.post("/api/lists", json=body).status_code == 201  # a client that is no browser


def test_the_token_guards_every_request(guarded):
    for host in ("192.0.2.10:8000", "127.0.0.1:8000"):
        assert guarded.get("/api/overview", headers={"Host": host}).status_code == 401, host
    assert guarded.get("/api/overview", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert guarded.get("/api/overview", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    assert guarded.post("/api/recommend", json={"favourites": [BASTILLE]}).status_code == 401
    page = guarded.get("/map")
    assert page.status_code == 303 and page.headers["location"] == "/login"  # a page: sign in first
    form = guarded.get("/login")
    assert form.status_code == 200 and 'name="token"' in form.text and form.headers["x-frame-options"] == "DENY"


def test_signing_in_sets_a_cookie_the_pages_and_api_accept(clustered):
    client = _client(clustered, Access.for_bind("192.0.2.10", token=TOKEN))
    wrong = client.post("/login", data={"token": "guess"})
    assert wrong.status_code == 401 and "not the token" in wrong.text and TOKEN_COOKIE not in wrong.headers.get("set-cookie", "")
    signed = client.post("/login", data={"token": TOKEN})
    assert signed.status_code == 303 and "HttpOnly" in signed.headers["set-cookie"] and "SameSite=Strict" in signed.headers["set-cookie"]
    assert client.get("/map").status_code == 200 and client.get("/api/overview").status_code == 200


def test_read_only_refuses_writes_and_records_nothing(clustered):
    from songscope.store import db
    from songscope.store.store import Store

    client = _client(clustered, Access(read_only=True))
    settings, *_ = clustered
    with Store(settings) as store:
        before = db.counts(store.db)
    refused = client.post("/api/lists", json={"name": "x", "favourites": [_a_track_id(client)]})
    assert refused.status_code == 403 and "read-only" in refused.json()["detail"]
    answered = client.post("/api/recommend", json={"favourites": [BASTILLE], "n": 5})
    assert answered.status_code == 200 and len(answered.json()["recommendations"]) == 5
    with Store(settings) as store:
        assert db.counts(store.db) == before  # the recommendation was not recorded


def test_serve_beyond_this_machine_needs_a_token_or_insecure(monkeypatch):
    from typer.testing import CliRunner

    from songscope.cli import app

    monkeypatch.delenv("SONGSCOPE_API_TOKEN", raising=False)
    result = CliRunner().invoke(app, ["serve", "--host", "0.0.0.0", "--db", "sqlite:////nonexistent/x.db"])
    assert result.exit_code == 2 and "SONGSCOPE_API_TOKEN" in result.output and "--insecure" in result.output
    assert "--read-only" in CliRunner().invoke(app, ["serve", "--help"]).output


def test_serving_access_for_each_bind():
    from songscope.web.app import serving_access

    local, warning = serving_access("127.0.0.1", {})
    assert local.token is None and warning is None
    with pytest.raises(UserError, match="SONGSCOPE_API_TOKEN"):
        serving_access("0.0.0.0", {})
    anyone, warning = serving_access("0.0.0.0", {}, insecure=True)
    assert anyone.token is None and "without a token" in warning
    guarded, warning = serving_access("0.0.0.0", {"SONGSCOPE_API_TOKEN": TOKEN}, allowed_hosts=["songs.example"], read_only=True)
    assert guarded.token == TOKEN and warning is None and "songs.example" in guarded.allowed_hosts and guarded.read_only
