"""`songscope serve`: the web app and its JSON API, over the configured database and lake.

Every page has a JSON twin under ``/api/...`` (described at ``/openapi.json``), and the pages are
thin: a Jinja2 template (``web/templates``) plus a little JavaScript (``web/static``) that calls
that same API. Nothing is loaded from the
internet: Plotly's JavaScript comes from the installed plotly package, served at
``/static/plotly.js``; FastAPI's interactive docs (which load from a CDN) are switched off.
"""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path
from typing import Annotated

from fastapi import Body, FastAPI, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, Field, create_model

from songscope import service
from songscope.config import Settings
from songscope.recommend.options import RecommendOptions
from songscope.store.store import Store

HERE = Path(__file__).resolve().parent
#: The pages: Jinja2 templates (HTML, autoescaped) and static files (CSS, JavaScript over the API).
templates = Jinja2Templates(directory=HERE / "templates")


def _recommend_request_model() -> type[BaseModel]:
    """The request body of POST /api/recommend: favourites, dislikes, a run, and every field of
    `RecommendOptions` with its own default, help and bounds (one declaration for both shells)."""
    types = typing.get_type_hints(RecommendOptions)
    options = {
        f.name: (types[f.name], Field(f.default, description=f.metadata["help"], **{k: v for k, v in f.metadata.items() if k != "help"}))
        for f in dataclasses.fields(RecommendOptions)
    }
    return create_model(
        "RecommendRequest",
        favourites=(list[str], Field(..., min_length=1, description="Track ids, or 'artist - title' (fuzzy).")),
        dislikes=(list[str], Field(default_factory=list, description="Songs the listener dislikes.")),
        run_id=(str | None, Field(None, description="The clustering run for cluster reasons (default: the latest).")),
        **options,
    )


RecommendRequest = _recommend_request_model()


class FavouriteList(BaseModel):
    name: str = "my favourites"
    favourites: list[str] = Field(..., min_length=1, description="Track ids.")
    dislikes: list[str] = Field(default_factory=list)
    options: dict = Field(default_factory=dict)


def create_app(settings: Settings | None = None) -> FastAPI:
    """The app over `settings` (default: flags > SONGSCOPE_* environment > defaults): one `Store`
    (database engine, lake, and what is costly to rebuild per request) for the app's life."""
    store = Store(settings or Settings.load())
    app = FastAPI(
        title="songscope", version="0.1", docs_url=None, redoc_url=None,
        description="Explore song clusters and get recommendations. Every page has a JSON twin under /api.",
    )
    app.state.store = store  # for tests and operators: what the app holds

    def answer(call, *args, **kwargs):
        try:
            return call(store, *args, **kwargs)
        except service.NotFound as exc:
            raise HTTPException(404, str(exc)) from exc
        except ValueError as exc:
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
    def api_search(q: Annotated[str, Query(min_length=1, description="Words of the artist and title")], limit: int = 20) -> list[dict]:
        return answer(service.search_songs, q, min(max(limit, 1), 100))

    @app.get("/api/songs/{track_id}", summary="One song: features, cluster, nearest songs")
    def api_song(track_id: str, run_id: str | None = None) -> dict:
        return answer(service.song, track_id, run_id)

    @app.post("/api/recommend", summary="Recommendations with reasons for favourite (and disliked) songs")
    def api_recommend(request: RecommendRequest) -> dict:  # type: ignore[valid-type]
        options = RecommendOptions(**request.model_dump(include={f.name for f in dataclasses.fields(RecommendOptions)}))
        return answer(service.recommend, request.favourites, dislikes=request.dislikes, options=options, run_id=request.run_id).to_dict()

    @app.post("/api/lists", summary="Save a favourites list; returns its shareable id", status_code=201)
    def api_save_list(favourites: Annotated[FavouriteList, Body()]) -> dict:
        return answer(service.save_list, favourites.name, favourites.favourites, favourites.dislikes, favourites.options)

    @app.get("/api/lists/{list_id}", summary="A saved favourites list")
    def api_list(list_id: str) -> dict:
        return answer(service.load_list, list_id)

    @app.get("/api/compare", summary="Two runs side by side: metrics, agreement, figures")
    def api_compare(a: str, b: str) -> dict:
        return answer(service.compare, a, b, figures=True).to_dict()

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

    @app.exception_handler(404)
    async def not_found(request, exc):  # a page's 404 is a page, an API's is JSON
        detail = getattr(exc, "detail", "not found")
        if request.url.path.startswith("/api"):
            return JSONResponse({"detail": detail}, status_code=404)
        return templates.TemplateResponse(request, "error.html", {"message": str(detail)}, status_code=404)

    return app
