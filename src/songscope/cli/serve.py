"""`songscope serve`: the web app."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from songscope.cli.common import DbOption, LakeOption, S3Option, app, err, friendly_errors, out, settings_from
from songscope.errors import UserError


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on (127.0.0.1: this machine only; any other needs SONGSCOPE_API_TOKEN or --insecure).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port.")] = 8000,
    db: DbOption = None,
    lake: LakeOption = None,
    s3_endpoint: S3Option = None,
    allowed_host: Annotated[list[str] | None, typer.Option("--allowed-host", help="A host name the server is reached by, besides its address and localhost (repeatable; the Host header is checked against them).")] = None,
    read_only: Annotated[bool, typer.Option("--read-only", help="Refuse every write: lists are not saved, recommendations not recorded.")] = False,
    insecure: Annotated[bool, typer.Option("--insecure", help="Listen beyond this machine without an API token (anyone who reaches the port can use the app).")] = False,
    workers: Annotated[int, typer.Option(min=1, max=32, help="Server processes. Each holds its own copy of the recommender (about 280 MB at a "
                                         "million songs); on two cores, 2 workers answered twice the recommendations per second.")] = 1,
) -> None:
    """Run the web app and its JSON API over the database and lake: overview, cluster map with search, cluster pages, favourites and recommendations, run comparison.

    With SONGSCOPE_API_TOKEN set, every request needs the token: API clients send 'Authorization: Bearer <token>', browsers sign in at /login.

    Example: songscope serve --port 8000, then open http://127.0.0.1:8000
    """
    with friendly_errors():
        try:
            import uvicorn

            from songscope.web.app import create_app, serving_access
        except ImportError as exc:
            raise UserError(f"the web app needs its extra: pip install 'songscope[web]' ({exc.name} is missing)") from exc
        access, warning = serving_access(host, os.environ, allowed_hosts=allowed_host or (), read_only=read_only, insecure=insecure)
        if warning:
            err.print(f"[bold yellow]warning:[/] {warning}", highlight=False, markup=True)
        settings = settings_from(db, lake, s3_endpoint)
        app_ = create_app(settings, access)
        app_.state.store.db  # noqa: B018 - an unreachable database is one clear line now, not an error per worker
    out.print(f"songscope at http://{host}:{port}/ (API: http://{host}:{port}/api, OpenAPI: /openapi.json); Ctrl-C stops it", highlight=False)
    if workers == 1:
        uvicorn.run(app_, host=host, port=port, log_level="warning")
        return
    from songscope.web.app import serve_environment

    # The workers are new processes: they build the app from the environment they inherit.
    os.environ.update(settings.to_env())
    os.environ.update(serve_environment(host, allowed_hosts=allowed_host or (), read_only=read_only))
    uvicorn.run("songscope.web.app:served_app", factory=True, host=host, port=port, workers=workers, log_level="warning")
