"""`songscope serve`: the web app and its JSON API, over the configured database and lake.

Every page has a JSON twin under ``/api/...`` (described at ``/openapi.json``), and the pages are
thin: a Jinja2 template (``web/templates``) plus a little JavaScript (``web/static``) that calls
that same API. Nothing is loaded from the
internet: Plotly's JavaScript comes from the installed plotly package, served at
``/static/plotly.js``; FastAPI's interactive docs (which load from a CDN) are switched off.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import math
import typing
from pathlib import Path
from typing import Annotated, Literal

from fastapi import Body, FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, create_model, field_validator
from sqlalchemy import exc as sa_exc

from songscope import service
from songscope.config import Settings
from songscope.errors import UserError
from songscope.jsonable import dumps, encode, jsonable
from songscope.recommend.options import RecommendOptions
from songscope.store.db import DatabaseError
from songscope.store.store import Store
from songscope.web.security import TOKEN_ENV, Access, Guard, is_loopback

HERE = Path(__file__).resolve().parent
#: The pages: Jinja2 templates (HTML, autoescaped) and static files (CSS, JavaScript over the API).
templates = Jinja2Templates(directory=HERE / "templates")


#: What one request may ask for. Each bound keeps a request's cost near a normal one's: 500
#: favourites with n = 500 and diversity took 157 s of CPU, a 20 KB search 8.3 s, 5,000
#: favourites 2.6 GB; a client over a bound gets a 422 that names it.
MAX_SONGS = 50  # favourites, and dislikes, per request or list
MAX_RECOMMENDATIONS = 100  # n through the API (the command line allows RecommendOptions' own 500)
MAX_TEXT = 200  # characters of a song named in a request, a search or a list's name
MAX_QUERY_WORDS = 8
MAX_OPTIONS_BYTES = 2_048  # a saved list's options, as JSON
MAX_RUN_ID = 64
MAX_PLAYLIST_SONGS = 1_000  # a cluster playlist's songs
MAX_PATH_STEPS = 50  # songs on a path through the API (the command line allows 100)

PlaylistFormat = Literal["m3u", "jspf", "csv"]

SongName = Annotated[str, StringConstraints(min_length=1, max_length=MAX_TEXT)]


def _recommend_request_model() -> type[BaseModel]:
    """The request body of POST /api/recommend: favourites, dislikes, a run, and every field of
    `RecommendOptions` with its own default, help and bounds (one declaration for both shells)."""
    types = typing.get_type_hints(RecommendOptions)

    def bounds(f: dataclasses.Field) -> dict:
        found = {k: v for k, v in f.metadata.items() if k not in ("help", "cli")}  # the command line's own spelling stays there
        return {**found, "le": min(found["le"], MAX_RECOMMENDATIONS)} if f.name == "n" else found

    def kind(f: dataclasses.Field):  # listed names are bounded in length like any song named in a request
        return tuple[SongName, ...] if types[f.name] == tuple[str, ...] else types[f.name]

    options = {f.name: (kind(f), Field(f.default, description=f.metadata["help"], **bounds(f))) for f in dataclasses.fields(RecommendOptions)}
    return create_model(
        "RecommendRequest",
        __config__=ConfigDict(allow_inf_nan=False, extra="forbid"),
        favourites=(list[SongName], Field(..., min_length=1, max_length=MAX_SONGS, description="Track ids, or 'artist - title' (fuzzy).")),
        dislikes=(list[SongName], Field(default_factory=list, max_length=MAX_SONGS, description="Songs the listener dislikes.")),
        run_id=(str | None, Field(None, max_length=MAX_RUN_ID, description="The clustering run for cluster reasons (default: the latest).")),
        **options,
    )


RecommendRequest = _recommend_request_model()


class PathRequest(BaseModel):
    """The request body of POST /api/path."""

    model_config = ConfigDict(allow_inf_nan=False, extra="forbid")

    start: SongName = Field(..., description="The first song: a track id or 'artist - title' (fuzzy).")
    end: SongName = Field(..., description="The last song.")
    steps: int = Field(12, ge=3, le=MAX_PATH_STEPS, description="Songs on the path, its two ends included.")
    per_artist: int | None = Field(1, ge=1, le=MAX_PATH_STEPS, description="At most this many songs per artist, the ends included (null: no cap).")
    run_id: str | None = Field(None, max_length=MAX_RUN_ID, description="The clustering run for cluster reasons (default: the latest).")


class FavouriteList(BaseModel):
    model_config = ConfigDict(allow_inf_nan=False, extra="forbid")

    name: str = Field("my favourites", min_length=1, max_length=MAX_TEXT)
    favourites: list[SongName] = Field(..., min_length=1, max_length=MAX_SONGS, description="Track ids.")
    dislikes: list[SongName] = Field(default_factory=list, max_length=MAX_SONGS)
    options: dict = Field(default_factory=dict, description="Recommendation options (the fields of POST /api/recommend).")

    @field_validator("options")
    @classmethod
    def _known_small_options(cls, options: dict) -> dict:
        known = {f.name for f in dataclasses.fields(RecommendOptions)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise UserError(f"unknown options {unknown}; the options are {sorted(known)}")
        if not _all_finite(options):
            raise UserError("the options hold NaN or Infinity, which JSON does not have: give numbers")
        if len(encode(options)) > MAX_OPTIONS_BYTES:
            raise UserError(f"the options take more than {MAX_OPTIONS_BYTES:,} bytes as JSON")
        return options


def _all_finite(value) -> bool:
    """Whether every number in `value` (a request's JSON, lists and objects within) is finite."""
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(_all_finite(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return all(_all_finite(v) for v in value)
    return True


class Problem(BaseModel):
    """Why a request was not answered: a sentence, or (for a malformed request) the list of its
    faults, each naming where it is and what was expected."""

    detail: str | list[dict]


#: The answers every operation may give besides its own: documented, so a client (and the
#: schemathesis test) knows them.
_PROBLEMS = {
    400: {"model": Problem, "description": "The Host header names a host this server is not served as."},
    401: {"model": Problem, "description": "The server needs its API token (SONGSCOPE_API_TOKEN)."},
    403: {"model": Problem, "description": "A cross-site write, or a write to a read-only server."},
    404: {"model": Problem, "description": "No such run, song, cluster or list."},
    422: {"model": Problem, "description": "The request is malformed or over a bound; the detail says which."},
    503: {"model": Problem, "description": "The database is busy or unreachable; try again after Retry-After seconds."},
}


def _search_words(q: str) -> str:
    if len(q.split()) > MAX_QUERY_WORDS:
        raise HTTPException(422, f"a search has at most {MAX_QUERY_WORDS} words; this one has {len(q.split())}")
    return q


def serving_access(host: str, environ: typing.Mapping[str, str], *, allowed_hosts: typing.Iterable[str] = (), read_only: bool = False,
                   insecure: bool = False) -> tuple[Access, str | None]:
    """How `songscope serve --host HOST` guards the app, and a warning to print (or None). Beyond
    this machine it needs the token (`SONGSCOPE_API_TOKEN` in `environ`) or `insecure`."""
    token = environ.get(TOKEN_ENV) or None
    warning = None
    if not is_loopback(host) and token is None:
        if not insecure:
            raise UserError(f"--host {host} serves the app beyond this machine: set {TOKEN_ENV} to a secret that clients must send, "
                             "or pass --insecure to serve it to anyone who reaches the port")
        warning = f"serving {host} without a token (--insecure): anyone who reaches it can use the app"
    return Access.for_bind(host, token=token, extra_hosts=allowed_hosts, read_only=read_only), warning


#: Requests answered at once (the rest wait their turn, first come first served). The answers are
#: CPU work under one GIL: with the 40 threads Starlette allows, 8 clients' recommendations
#: interleaved every few milliseconds and the slowest waited 3x the median; with 4 the median
#: is the same and the 99th percentile halves (bench/web_load.py). More than one, so a request
#: waiting on the database (a lock, the network) does not stall the others.
HANDLER_THREADS = 4


@contextlib.asynccontextmanager
async def _bounded_threads(app: FastAPI):
    import anyio.to_thread
    from threadpoolctl import threadpool_limits

    anyio.to_thread.current_default_thread_limiter().total_tokens = HANDLER_THREADS
    # One BLAS thread per request: the requests are the parallelism. With BLAS's own threads,
    # four handlers' small matrix products contended for the two cores (a fifth of the time
    # under load was spent inside them; a tenth of that alone).
    with threadpool_limits(1, user_api="blas"):
        # What the process holds at start (the libraries' objects) is never garbage: out of the
        # collector's full passes, which stalled every request for up to 130 ms under load.
        gc.freeze()
        yield


#: How `songscope serve --workers N` tells its worker processes how to guard the app (they inherit
#: the environment: the settings as SONGSCOPE_* variables, the token as SONGSCOPE_API_TOKEN).
SERVE_ENV = "SONGSCOPE_SERVE"


def serve_environment(host: str, *, allowed_hosts: typing.Iterable[str] = (), read_only: bool = False) -> dict[str, str]:
    """What `served_app` reads in a worker process: the bind and the guard's switches (no secret)."""

    return {SERVE_ENV: dumps({"host": host, "allowed_hosts": list(allowed_hosts), "read_only": read_only})}


def served_app() -> FastAPI:
    """The app in a worker process of `songscope serve --workers N` (uvicorn's factory): settings
    from the SONGSCOPE_* environment, the guard as the parent decided it (`serve_environment`)."""
    import json
    import os

    guard = json.loads(os.environ.get(SERVE_ENV, "{}"))
    access = Access.for_bind(guard.get("host", "127.0.0.1"), token=os.environ.get(TOKEN_ENV) or None,
                             extra_hosts=guard.get("allowed_hosts", ()), read_only=bool(guard.get("read_only")))
    return create_app(Settings.load(), access)


#: Seconds a client is asked to wait when the database is busy or unreachable.
RETRY_AFTER_S = 5


class DatabaseBusy(RuntimeError):
    """The database could not answer now (locked, or unreachable): a 503 with Retry-After."""


def _first_line(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    return (str(orig).strip().splitlines() or [type(orig).__name__])[0][:200]


class JSONAnswer(JSONResponse):
    """An API answer, written by `jsonable.encode` (orjson) straight from what the service
    returned: FastAPI's own encoding walked every value in Python, a third of a small answer's time."""

    def render(self, content) -> bytes:
        return encode(content)


def create_app(settings: Settings | None = None, access: Access | None = None) -> FastAPI:
    """The app over `settings` (default: flags > SONGSCOPE_* environment > defaults): one `Store`
    (database engine, lake, and what is costly to rebuild per request) for the app's life,
    guarded by `access` (`web.security`; default: this machine only, no token)."""
    store = Store(settings or Settings.load())
    access = access or Access()
    app = FastAPI(
        title="songscope", version="0.1", docs_url=None, redoc_url=None, responses=_PROBLEMS, lifespan=_bounded_threads,
        description="Explore song clusters and get recommendations. Every page has a JSON twin under /api.",
    )
    app.state.store = store  # for tests and operators: what the app holds
    app.state.access = access
    app.add_middleware(Guard, access=access)

    def answer(call, *args, **kwargs) -> JSONAnswer:  # a service's typed result (or a list of them) as its JSON
        result = ask(call, *args, **kwargs)
        return JSONAnswer([item.to_dict() for item in result] if isinstance(result, list) else result.to_dict())

    def ask(call, *args, **kwargs):
        try:
            return call(store, *args, **kwargs)
        except service.NotFound as exc:
            raise HTTPException(404, str(exc)) from exc
        except (sa_exc.OperationalError, sa_exc.InterfaceError, DatabaseError) as exc:
            # Locked (SQLite's writer held it past the wait) or unreachable: the client may try
            # again; the message names the cause, never the URL's password.
            raise DatabaseBusy(f"the database is busy or unreachable, try again shortly ({_first_line(exc)})") from exc
        except UserError as exc:  # the one error edge: anything else is a bug, a 500
            raise HTTPException(422, str(exc)) from exc

    # ------------------------------------------------------------------ JSON API

    @app.get("/api", summary="What the API offers")
    def api_index() -> dict:
        return {"openapi": "/openapi.json", "endpoints": sorted({r.path for r in app.routes if getattr(r, "path", "").startswith("/api/")})}

    @app.get("/api/overview", summary="Catalogue size, cleaning counts, the current run and past runs")
    def api_overview() -> dict:
        return answer(service.overview)

    @app.get("/api/runs", summary="Clustering runs, newest first")
    def api_runs() -> list[dict]:
        return answer(service.runs)

    @app.get("/api/runs/{run_id}", summary="One run: metrics, timings, its clusters in words")
    def api_run(run_id: str) -> dict:
        return answer(service.run_details, None if run_id == "latest" else run_id)

    @app.get("/api/runs/{run_id}/map", summary="The cluster map (Plotly figure) and its points")
    def api_map(run_id: str) -> dict:
        return answer(service.cluster_map, None if run_id == "latest" else run_id)

    @app.get("/api/runs/{run_id}/clusters/{cluster}", summary="One cluster: description, stability, top artists, a sample, its profile")
    def api_cluster(run_id: str, cluster: int) -> dict:
        return answer(service.cluster_details, cluster, None if run_id == "latest" else run_id)

    @app.get("/api/songs", summary="Search songs by artist and title")
    def api_search(q: Annotated[str, Query(min_length=1, max_length=MAX_TEXT, description="Words of the artist and title")],
                   limit: Annotated[int, Query(ge=1, le=100)] = 20) -> list[dict]:
        return answer(service.search_songs, _search_words(q), limit)

    @app.get("/api/songs/{track_id}", summary="One song: features, cluster, nearest songs")
    def api_song(track_id: str, run_id: str | None = None) -> dict:
        return answer(service.song, track_id, run_id)

    @app.get("/api/songs/{track_id}/audio", summary="The audio file a song was analysed from (range requests: a player seeks in it)",
             response_class=FileResponse, responses={200: {"content": {"audio/*": {}}, "description": "The song's audio file."}})
    def api_song_audio(track_id: str) -> FileResponse:
        found = ask(service.song_audio, track_id)
        return FileResponse(found.path, media_type=found.media_type, headers={"Cache-Control": "private, max-age=3600"})

    def recommend(request):  # one request body, answered as JSON or as a playlist file
        options = RecommendOptions(**request.model_dump(include={f.name for f in dataclasses.fields(RecommendOptions)}))
        return ask(service.recommend, request.favourites, dislikes=request.dislikes, options=options, run_id=request.run_id,
                   record=not access.read_only)

    @app.post("/api/recommend", summary="Recommendations with reasons for favourite (and disliked) songs")
    def api_recommend(request: RecommendRequest) -> dict:  # type: ignore[valid-type]
        return JSONAnswer(recommend(request).to_dict())

    def playlist_file(playlist: service.Playlist, kind: str, name: str) -> Response:
        from songscope.recommend.playlists import MEDIA_TYPES

        extension = {"m3u": "m3u", "jspf": "jspf", "csv": "csv"}[kind]
        return Response(playlist.render(kind), media_type=f"{MEDIA_TYPES[kind]}; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{name}.{extension}"'})

    @app.post("/api/recommend/playlist", summary="The same recommendations as a playlist file (M3U, JSPF or CSV, spotify:track URIs)",
              response_class=Response, responses={200: {"content": {"audio/x-mpegurl": {}, "application/xspf+json": {}, "text/csv": {}},
                                                         "description": "The playlist file."}})
    def api_recommend_playlist(request: RecommendRequest, format: PlaylistFormat = "m3u") -> Response:  # type: ignore[valid-type]
        outcome = recommend(request)
        return playlist_file(service.recommendation_playlist(store, outcome), format, f"songscope-{outcome.request_id}")

    @app.get("/api/runs/{run_id}/clusters/{cluster}/playlist", summary="A cluster's most typical songs (nearest its centre) as a playlist file",
             response_class=Response, responses={200: {"content": {"audio/x-mpegurl": {}, "application/xspf+json": {}, "text/csv": {}},
                                                        "description": "The playlist file."}})
    def api_cluster_playlist(run_id: str, cluster: int, format: PlaylistFormat = "m3u",
                             n: Annotated[int, Query(ge=1, le=MAX_PLAYLIST_SONGS)] = 100) -> Response:
        playlist = ask(service.cluster_playlist, cluster, None if run_id == "latest" else run_id, n=n)
        return playlist_file(playlist, format, f"songscope-cluster-{cluster}")

    def song_path(request: PathRequest):
        return ask(service.path, request.start, request.end, steps=request.steps, per_artist=request.per_artist, run_id=request.run_id)

    @app.post("/api/path", summary="A path of songs moving smoothly from one song to another, each step with its reason")
    def api_path(request: PathRequest) -> dict:
        return JSONAnswer(song_path(request).to_dict())

    @app.post("/api/path/playlist", summary="The same path as a playlist file (M3U, JSPF or CSV)", response_class=Response,
              responses={200: {"content": {"audio/x-mpegurl": {}, "application/xspf+json": {}, "text/csv": {}}, "description": "The playlist file."}})
    def api_path_playlist(request: PathRequest, format: PlaylistFormat = "m3u") -> Response:
        return playlist_file(service.path_playlist(store, song_path(request)), format, "songscope-path")

    @app.post("/api/lists", summary="Save a favourites list; returns its shareable id", status_code=201)
    def api_save_list(favourites: Annotated[FavouriteList, Body()]) -> dict:
        saved = ask(service.save_list, favourites.name, favourites.favourites, favourites.dislikes, favourites.options)
        return JSONAnswer(saved.to_dict(), status_code=201)

    @app.get("/api/lists/{list_id}", summary="A saved favourites list")
    def api_list(list_id: str) -> dict:
        return answer(service.load_list, list_id)

    @app.get("/api/compare", summary="Two runs side by side: metrics, agreement, figures")
    def api_compare(a: str, b: str) -> dict:
        return JSONAnswer(ask(service.compare, a, b, figures=True).to_dict())

    # ------------------------------------------------------------------ pages

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Response:
        return Response((HERE / "static" / "favicon.svg").read_bytes(), media_type="image/svg+xml")

    @app.get("/static/plotly.js", include_in_schema=False)
    def plotly_js() -> Response:
        from plotly.offline import get_plotlyjs

        return Response(get_plotlyjs(), media_type="application/javascript", headers={"Cache-Control": "max-age=86400"})

    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    def page(request: Request, template: str, **values) -> HTMLResponse:
        return templates.TemplateResponse(request, template, values)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def overview_page(request: Request) -> HTMLResponse:
        return page(request, "overview.html")

    @app.get("/map", response_class=HTMLResponse, include_in_schema=False)
    def map_page(request: Request) -> HTMLResponse:
        return page(request, "map.html")

    @app.get("/clusters/{cluster}", response_class=HTMLResponse, include_in_schema=False)
    def cluster_page(request: Request, cluster: int) -> HTMLResponse:
        return page(request, "cluster.html", cluster=cluster)

    @app.get("/favourites", response_class=HTMLResponse, include_in_schema=False)
    def favourites_page(request: Request) -> HTMLResponse:
        return page(request, "favourites.html", list_id=None)

    @app.get("/favourites/{list_id}", response_class=HTMLResponse, include_in_schema=False)
    def saved_favourites_page(request: Request, list_id: str) -> HTMLResponse:
        return page(request, "favourites.html", list_id=list_id)

    @app.get("/compare", response_class=HTMLResponse, include_in_schema=False)
    def compare_page(request: Request) -> HTMLResponse:
        return page(request, "compare.html")

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request, exc: RequestValidationError):
        # The errors quote the input, which may hold NaN or Infinity (JSON's parser reads them):
        # written by the one encoder (as null), or the 422 itself would fail as a 500.
        return JSONAnswer({"detail": jsonable(exc.errors())}, status_code=422)

    @app.exception_handler(DatabaseBusy)
    async def database_busy(request, exc: DatabaseBusy):
        return JSONResponse({"detail": str(exc)}, status_code=503, headers={"Retry-After": str(RETRY_AFTER_S)})

    @app.exception_handler(404)
    async def not_found(request, exc):  # a page's 404 is a page, an API's is JSON
        detail = getattr(exc, "detail", "not found")
        if request.url.path.startswith("/api"):
            return JSONResponse({"detail": detail}, status_code=404)
        return templates.TemplateResponse(request, "error.html", {"message": str(detail)}, status_code=404)

    return app
