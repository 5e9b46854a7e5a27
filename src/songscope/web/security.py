"""Who may use the web app, and from where: the API token, the Host and Origin checks, the
read-only mode and the security headers, as one ASGI middleware around the app.

- **Token** (`SONGSCOPE_API_TOKEN`): when set, every request needs it, as ``Authorization:
  Bearer <token>`` (API clients) or the ``songscope_token`` cookie, which ``/login`` sets from a
  form (the pages, whose JavaScript calls the API on the same origin). `songscope serve` refuses
  to listen beyond this machine without a token unless told ``--insecure``.
- **Host** (DNS rebinding): a request must name one of the hosts the app is served as (the bind
  address, ``localhost``, and any ``--allowed-host``); a page of ``evil.example`` that re-points
  its name at 127.0.0.1 sends ``Host: evil.example`` and is refused.
- **Origin** (cross-site requests): a write (any method but GET, HEAD, OPTIONS) that names an
  ``Origin`` must come from one of those hosts: another site's page cannot post to the app.
- **Read-only**: every request that would write is refused (403); recommendations are still
  served, without being recorded.
- **Headers** on every response: a Content-Security-Policy (scripts from the app only; Plotly's
  WebGL scatter compiles its shaders with ``Function``, hence 'unsafe-eval'), no framing, no
  MIME sniffing, no referrer.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from songscope.jsonable import encode

TOKEN_COOKIE = "songscope_token"
TOKEN_ENV = "SONGSCOPE_API_TOKEN"
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-eval'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
    "worker-src 'self' blob:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
SECURITY_HEADERS = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
]
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: Paths anyone may reach without the token: the login form, and what it needs to render.
_OPEN_PATHS = ("/login", "/static/style.css", "/favicon.ico")


def is_loopback(host: str) -> bool:
    """Whether binding `host` serves this machine only."""
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Access:
    """How the app guards itself (see the module's docstring)."""

    #: The API token; None: no token asked (only safe on a loopback bind, or with --insecure).
    token: str | None = field(default=None, repr=False)
    #: Host names (without port) the app answers to.
    allowed_hosts: tuple[str, ...] = ("127.0.0.1", "localhost", "::1")
    read_only: bool = False

    @classmethod
    def for_bind(cls, host: str, *, token: str | None = None, extra_hosts: Iterable[str] = (), read_only: bool = False) -> Access:
        hosts = ["127.0.0.1", "localhost", "::1"]
        if host not in ("0.0.0.0", "::", ""):  # a wildcard bind is reached by names the operator lists
            hosts.append(host.strip("[]"))
        hosts += [h.strip() for h in extra_hosts if h.strip()]
        return cls(token=token or None, allowed_hosts=tuple(dict.fromkeys(hosts)), read_only=read_only)


def _host_name(value: str) -> str:
    """The host of a Host header or an Origin's netloc, without the port, lower-case."""
    value = value.strip().lower()
    if value.startswith("["):  # [::1]:8000
        return value[1 : value.find("]")] if "]" in value else value
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


class Guard:
    """The ASGI middleware that applies an `Access` (see the module's docstring)."""

    def __init__(self, app, access: Access):
        self.app, self.access = app, access

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}

        async def secured(message):
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *SECURITY_HEADERS]}
            await send(message)

        refusal = self._refusal(scope, headers)
        if refusal is not None:
            status, detail, extra = refusal
            if status == 401 and scope["method"] == "GET" and not scope["path"].startswith("/api"):
                return await _redirect(secured, "/login")  # a page: sign in first
            return await _respond(secured, status, detail, extra, scope["path"])
        if scope["path"] == "/login":
            return await self._login(scope, receive, secured, headers)
        return await self.app(scope, receive, secured)

    def _refusal(self, scope, headers: dict[str, str]) -> tuple[int, str, list] | None:
        access, method, path = self.access, scope["method"], scope["path"]
        host = _host_name(headers.get("host", ""))
        if host not in access.allowed_hosts:
            return 400, (f"this server does not answer to the host {host or '(none)'!r}; add it with "
                         "`songscope serve --allowed-host NAME`"), []
        if method not in _SAFE_METHODS and "origin" in headers:
            origin = urlsplit(headers["origin"])
            if headers["origin"] == "null" or _host_name(origin.netloc) not in access.allowed_hosts:
                return 403, f"cross-site request from {headers['origin']!r} refused", []
        if access.token and not path.startswith(_OPEN_PATHS) and not self._has_token(headers):
            return 401, "this server needs its API token: send 'Authorization: Bearer <token>', or sign in at /login", [
                (b"www-authenticate", b'Bearer realm="songscope"')]
        if access.read_only and method not in _SAFE_METHODS and not _reads_only(method, path):
            return 403, "this server is read-only (songscope serve --read-only): it stores nothing", []
        return None

    def _has_token(self, headers: dict[str, str]) -> bool:
        token = self.access.token or ""
        authorization = headers.get("authorization", "")
        if authorization[:7].lower() == "bearer " and hmac.compare_digest(authorization[7:].strip().encode(), token.encode()):
            return True
        cookie = SimpleCookie()
        try:
            cookie.load(headers.get("cookie", ""))
        except Exception:  # noqa: BLE001 - a malformed cookie header is no token
            return False
        sent = cookie.get(TOKEN_COOKIE)
        return sent is not None and hmac.compare_digest(sent.value.encode(), _cookie_value(token).encode())

    async def _login(self, scope, receive, send, headers: dict[str, str]) -> None:
        """GET: the form. POST: the token, checked; right: the cookie and the overview page."""
        if scope["method"] != "POST":
            return await _respond(send, 200, _login_form(), [], "/login", html=True)
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if len(body) > 4096:
                return await _respond(send, 413, "the sign-in form is larger than 4 KiB", [], "/login")
            if not message.get("more_body"):
                break
        sent = (parse_qs(body.decode("utf-8", errors="replace")).get("token") or [""])[0]
        if not self.access.token or not hmac.compare_digest(sent.encode(), self.access.token.encode()):
            return await _respond(send, 401, _login_form(wrong=True), [],
                                  "/login", html=True)
        cookie = f"{TOKEN_COOKIE}={_cookie_value(sent)}; HttpOnly; SameSite=Strict; Path=/"
        await _redirect(send, "/", [(b"set-cookie", cookie.encode())])


def _cookie_value(token: str) -> str:
    """What the sign-in cookie holds: a digest of the token (any characters, and never the token
    itself in a browser's cookie jar)."""
    return hashlib.sha256(f"songscope sign-in:{token}".encode()).hexdigest()


def _reads_only(method: str, path: str) -> bool:
    """Requests that change nothing though they are POSTs: a recommendation is a question (in
    read-only mode it is answered without being recorded)."""
    return method == "POST" and path in ("/api/recommend", "/login")


async def _redirect(send, location: str, extra_headers: list | None = None) -> None:
    await send({"type": "http.response.start", "status": 303,
                "headers": [(b"location", location.encode()), (b"content-length", b"0"), *(extra_headers or [])]})
    await send({"type": "http.response.body", "body": b""})


async def _respond(send, status: int, detail: str, extra_headers: list, path: str, *, html: bool = False) -> None:
    """`detail` as JSON for the API, as a page elsewhere (`html`: `detail` is the page)."""
    if path.startswith("/api") and not html:
        body, kind = encode({"detail": detail}), b"application/json"
    else:
        body = detail.encode() if html else f"<!doctype html><title>songscope</title><p>{_escape(detail)}</p>".encode()
        kind = b"text/html; charset=utf-8"
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", kind), (b"content-length", str(len(body)).encode()), *extra_headers]})
    await send({"type": "http.response.body", "body": body})


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def _login_form(*, wrong: bool = False) -> str:
    """The sign-in page (templates/login.html); `wrong`: the token sent was not the server's."""
    import jinja2

    environment = jinja2.Environment(loader=jinja2.FileSystemLoader(Path(__file__).with_name("templates")), autoescape=True)
    return environment.get_template("login.html").render(wrong=wrong)
