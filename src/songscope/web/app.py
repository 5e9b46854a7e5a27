"""`songscope serve`: the web app and its JSON API, over the configured database and lake.

Every page has a JSON twin under ``/api/...`` (described at ``/openapi.json``), and the pages are
thin: HTML plus a little JavaScript that calls that same API. Nothing is loaded from the
internet: Plotly's JavaScript comes from the installed plotly package, served at
``/static/plotly.js``; FastAPI's interactive docs (which load from a CDN) are switched off.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Body, FastAPI, HTTPException, Query
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, Field

from songscope.config import Settings
from songscope.explore import Explorer, NotFound
from songscope.web import pages


class RecommendRequest(BaseModel):
    favourites: list[str] = Field(..., min_length=1, description="Track ids, or 'artist - title' (fuzzy).")
    dislikes: list[str] = Field(default_factory=list)
    n: int = Field(10, ge=1, le=500)
    per_artist: int | None = Field(2, ge=1, description="At most this many songs per artist (null: no cap).")
    exclude_seed_artists: bool = False
    diversity: float | None = Field(None, gt=0, le=1, description="MMR lambda: 1 is pure relevance.")
    cluster: int | None = None
    run_id: str | None = None


class FavouriteList(BaseModel):
    name: str = "my favourites"
    favourites: list[str] = Field(..., min_length=1, description="Track ids.")
    dislikes: list[str] = Field(default_factory=list)
    options: dict = Field(default_factory=dict)


def create_app(settings: Settings | None = None) -> FastAPI:
    """The app over `settings` (default: flags > SONGSCOPE_* environment > defaults)."""
    explorer = Explorer(settings or Settings.load())
    app = FastAPI(
        title="songscope", version="0.1", docs_url=None, redoc_url=None,
        description="Explore song clusters and get recommendations. Every page has a JSON twin under /api.",
    )

    def answer(call, *args, **kwargs):
        try:
            return call(*args, **kwargs)
        except NotFound as exc:
            raise HTTPException(404, str(exc)) from exc
        except ValueError as exc:
            raise HTTPException(422, str(exc)) from exc

    # ------------------------------------------------------------------ JSON API

    @app.get("/api", summary="What the API offers")
    def api_index() -> dict:
        return {"openapi": "/openapi.json", "endpoints": sorted({r.path for r in app.routes if getattr(r, "path", "").startswith("/api/")})}

    @app.get("/api/overview", summary="Catalogue size, cleaning counts, the current run and past runs")
    def api_overview() -> dict:
        return answer(explorer.overview)

    @app.get("/api/runs", summary="Clustering runs, newest first")
    def api_runs() -> list[dict]:
        return answer(explorer.runs)

    @app.get("/api/runs/{run_id}", summary="One run: metrics, timings, its clusters in words")
    def api_run(run_id: str) -> dict:
        return answer(explorer.run, None if run_id == "latest" else run_id)

    @app.get("/api/runs/{run_id}/map", summary="The cluster map (Plotly figure) and its points")
    def api_map(run_id: str) -> dict:
        return answer(explorer.cluster_map, None if run_id == "latest" else run_id)

    @app.get("/api/runs/{run_id}/clusters/{cluster}", summary="One cluster: description, stability, top artists, a sample, its profile")
    def api_cluster(run_id: str, cluster: int) -> dict:
        return answer(explorer.cluster, cluster, None if run_id == "latest" else run_id)

    @app.get("/api/songs", summary="Search songs by artist and title")
    def api_search(q: Annotated[str, Query(min_length=1, description="Words of the artist and title")], limit: int = 20) -> list[dict]:
        return answer(explorer.search, q, min(max(limit, 1), 100))

    @app.get("/api/songs/{track_id}", summary="One song: features, cluster, nearest songs")
    def api_song(track_id: str, run_id: str | None = None) -> dict:
        return answer(explorer.song, track_id, run_id)

    @app.post("/api/recommend", summary="Recommendations with reasons for favourite (and disliked) songs")
    def api_recommend(request: RecommendRequest) -> dict:
        options = request.model_dump(include={"n", "per_artist", "exclude_seed_artists", "diversity", "cluster"})
        return answer(explorer.recommend, request.favourites, request.dislikes, options, request.run_id)

    @app.post("/api/lists", summary="Save a favourites list; returns its shareable id", status_code=201)
    def api_save_list(favourites: Annotated[FavouriteList, Body()]) -> dict:
        return answer(explorer.save_list, favourites.name, favourites.favourites, favourites.dislikes, favourites.options)

    @app.get("/api/lists/{list_id}", summary="A saved favourites list")
    def api_list(list_id: str) -> dict:
        return answer(explorer.load_list, list_id)

    @app.get("/api/compare", summary="Two runs side by side: metrics, agreement, figures")
    def api_compare(a: str, b: str) -> dict:
        return answer(explorer.compare, a, b)

    # ------------------------------------------------------------------ pages

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Response:
        return Response(pages.FAVICON, media_type="image/svg+xml")

    @app.get("/static/plotly.js", include_in_schema=False)
    def plotly_js() -> Response:
        from plotly.offline import get_plotlyjs

        return Response(get_plotlyjs(), media_type="application/javascript", headers={"Cache-Control": "max-age=86400"})

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def overview_page() -> str:
        return pages.overview()

    @app.get("/map", response_class=HTMLResponse, include_in_schema=False)
    def map_page() -> str:
        return pages.cluster_map()

    @app.get("/clusters/{cluster}", response_class=HTMLResponse, include_in_schema=False)
    def cluster_page(cluster: int) -> str:
        return pages.cluster(cluster)

    @app.get("/favourites", response_class=HTMLResponse, include_in_schema=False)
    def favourites_page() -> str:
        return pages.favourites()

    @app.get("/favourites/{list_id}", response_class=HTMLResponse, include_in_schema=False)
    def saved_favourites_page(list_id: str) -> str:
        return pages.favourites(list_id)

    @app.get("/compare", response_class=HTMLResponse, include_in_schema=False)
    def compare_page() -> str:
        return pages.compare()

    @app.exception_handler(404)
    async def not_found(request, exc):  # a page's 404 is a page, an API's is JSON
        detail = getattr(exc, "detail", "not found")
        if request.url.path.startswith("/api"):
            return JSONResponse({"detail": detail}, status_code=404)
        return HTMLResponse(pages.error(str(detail)), status_code=404)

    return app
