"""The `songscope` command: a thin shell over the library (parse, call one function, print)."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from songscope import __version__, schema
from songscope.config import Settings, redact
from songscope.recommend.options import option_help

app = typer.Typer(
    name="songscope",
    help=(
        "Cluster songs by their audio features and find new songs for a listener's favourites.\n\n"
        "Start with `songscope run` (ingest, clean, profile and cluster the shipped seed CSVs, ending with an "
        "HTML report), or `songscope ingest FILES...` for your own data; then `songscope recommend` or "
        "`songscope serve` for the web app. Settings come from flags, then the "
        "SONGSCOPE_DB_URL, SONGSCOPE_LAKE_URL and SONGSCOPE_S3_ENDPOINT variables, then defaults "
        "(sqlite:///songscope.db and ./lake)."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console()
err = Console(stderr=True)

DbOption = Annotated[
    str | None,
    typer.Option("--db", help="Database URL: sqlite:///file.db, postgresql+psycopg://user@host/db, mysql+pymysql://user@host/db. (env SONGSCOPE_DB_URL; default sqlite:///songscope.db)", show_default=False),
]
LakeOption = Annotated[
    str | None,
    typer.Option("--lake", help="Object store for Parquet: a folder or s3://bucket/prefix. (env SONGSCOPE_LAKE_URL; default ./lake)", show_default=False),
]
S3Option = Annotated[
    str | None,
    typer.Option("--s3-endpoint", help="S3 endpoint of a non-AWS server, e.g. http://127.0.0.1:8333; credentials from AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY. (env SONGSCOPE_S3_ENDPOINT)", show_default=False),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON instead of tables.")]
ReasonRunOption = Annotated[str | None, typer.Option("--run", help="Clustering run for the cluster reasons (default: the latest).", show_default=False)]
IngestEngineOption = Annotated[str, typer.Option(
    "--engine", "-e", help="Where to read and clean: local (this process), spark (executors; no row passes through this process) "
    "or auto (spark from SONGSCOPE_SPARK_MIN_ROWS songs, estimated from the files).")]
SparkMasterOption = Annotated[str | None, typer.Option(
    "--spark-master", help="Spark master for --engine spark: local[*] (default), spark://host:7077, or $SONGSCOPE_SPARK_MASTER.", show_default=False)]


def _settings(db: str | None, lake: str | None, s3_endpoint: str | None, **more) -> Settings:
    return Settings.load(db_url=db, lake_url=lake, s3_endpoint=s3_endpoint, **more)


def _store(settings: Settings):
    from songscope.store.store import Store

    return Store(settings)


def _print_json(result) -> None:
    """The one renderer of ``--json``: a result object's ``to_dict()`` through songscope's JSON encoding."""
    from songscope.jsonable import dumps

    out.print_json(dumps(result))


@contextmanager
def _friendly_errors() -> Iterator[None]:
    """Known failures become one clear line on stderr and exit status 2; nothing else is hidden."""
    from songscope.ingest import IngestError
    from songscope.service import NotFound
    from songscope.store.db import DatabaseError
    from songscope.store.lake import LakeError

    try:
        yield
    except (IngestError, LakeError, DatabaseError, NotFound, ValueError, FileNotFoundError) as exc:
        err.print(f"[bold red]error:[/] {exc}", highlight=False, markup=True, soft_wrap=True)
        raise typer.Exit(2) from None
    except Exception as exc:
        if not type(exc).__module__.startswith(("pyspark", "py4j")):
            raise
        # A failed Spark job: its first line says what (a Java error, an executor out of memory), not 200 lines of JVM stack.
        first = next((line.strip() for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
        err.print(f"[bold red]error:[/] Spark failed: {first[:500]}. Spark's own log above has the detail; if an executor ran out of "
                  "memory, give it more (SONGSCOPE_SPARK_MEMORY=12g on local[*], spark.executor.memory on a cluster)",
                  highlight=False, markup=True, soft_wrap=True)
        raise typer.Exit(1) from None


@contextmanager
def _progress(enabled: bool = True) -> Iterator[Callable[[str], None]]:
    """A live status line on stderr (a spinner, the current step and the time spent)."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    if not enabled:
        yield lambda message: None
        return
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=err, transient=True) as bar:
        task = bar.add_task("starting", total=None)
        yield lambda message: bar.update(task, description=message)


def _version(value: bool) -> None:
    if value:
        out.print(f"songscope {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")] = False,
) -> None:
    """songscope command line."""


@app.command()
def ingest(
    sources: Annotated[list[str], typer.Argument(help="CSV or Parquet files, folders, globs or s3:// URLs, read in order as one table.", show_default=False)],
    db: DbOption = None,
    lake: LakeOption = None,
    s3_endpoint: S3Option = None,
    encoding: Annotated[str, typer.Option(help="Text encoding of the CSV files (e.g. latin-1).")] = "utf-8",
    delimiter: Annotated[str, typer.Option(help="Field separator of the CSV files.")] = ",",
    outlier_rule: Annotated[
        list[str] | None,
        typer.Option("--outlier-rule", help="Flag rows where 'COLUMN OP NUMBER' holds (repeatable; replaces the seed's rules).", show_default=False),
    ] = None,
    loose_dedup: Annotated[bool, typer.Option("--loose-dedup", help="Also remove near duplicates found on normalised names (reported either way).")] = False,
    assign_new: Annotated[bool, typer.Option("--assign/--no-assign", help="Assign the new songs to the latest clustering run's clusters, "
                                             "and say how well they fit (as songscope assign).")] = True,
    engine: IngestEngineOption = "local",
    spark_master: SparkMasterOption = None,
    as_json: JsonOption = False,
) -> None:
    """Validate, clean and store songs: rejected rows are kept with their reason, duplicates merged, outliers flagged.

    Example: songscope ingest data/seed/*.csv
    """
    from songscope import service

    with _friendly_errors():
        rules = tuple(schema.OutlierRule.parse(r) for r in outlier_rule) if outlier_rule else schema.SEED_OUTLIER_RULES
        settings = _settings(db, lake, s3_endpoint, spark_master=spark_master)
        with _store(settings) as store, _progress(not as_json) as say:
            outcome = service.ingest(store, sources, engine=engine, encoding=encoding, delimiter=delimiter, outlier_rules=rules, loose_dedup=loose_dedup,
                                     assign_new=assign_new, progress=say)
    if as_json:
        _print_json(outcome)
        return
    _print_ingest(outcome, settings)


def _print_ingest(outcome, settings: Settings) -> None:
    report = outcome.report
    table = Table(title=f"ingest {outcome.run_id} ({outcome.engine} engine)", show_header=True, header_style="bold")
    table.add_column("step")
    table.add_column("rows", justify="right")
    table.add_column("removed", justify="right")
    table.add_row("read", f"{outcome.rows_read:,}", "")
    table.add_row("rejected (invalid values)", f"{outcome.rows_rejected:,}", "")
    table.add_row("valid", f"{outcome.rows_valid:,}", "")
    for step in report.steps:
        table.add_row(step.name, f"{step.rows_after:,}", f"{step.removed:,}")
    table.add_row("flagged outliers", f"{report.outliers:,}", "")
    out.print(table)
    out.print(f"rows after each step: {report.chain()}")
    if report.id_conflicts:
        out.print(f"{report.id_conflicts:,} track ids had conflicting values (kept: highest popularity, then first read)")
    if report.loose_candidates and not report.loose_applied:
        out.print(f"{report.loose_candidates:,} loose near-duplicate candidates reported, not removed (see --loose-dedup); e.g.")
        for example in report.loose_examples[:3]:
            out.print(f"  {example['kept']}  ~  {example['dropped']}", highlight=False)
    record = outcome.record
    earlier = f"; near duplicates of earlier ingests: {record.near_duplicates_of_earlier:,}" if record.near_duplicates_of_earlier else ""
    out.print(
        f"tracks added: {record.tracks_added:,} (already known: {record.tracks_already_known:,}{earlier}); "
        f"catalogue now {outcome.catalogue_rows:,} tracks"
    )
    loader = " (loaded by the Spark executors)" if outcome.stored.loaded_by_workers else ""
    out.print(f"database: {redact(settings.db_url)}{loader}", highlight=False)
    files = outcome.stored.catalogue_files
    out.print(f"lake: {files[0].rsplit('/', 1)[0] if files else 'no new catalogue file'} ({len(files)} file{'s' * (len(files) != 1)})", highlight=False)
    if outcome.stored.swept:
        out.print(f"removed {len(outcome.stored.swept):,} files an earlier ingest left when it died", highlight=False)
    if outcome.stored.swept_tables:
        out.print(f"dropped {len(outcome.stored.swept_tables):,} staging tables an earlier ingest left when it died", highlight=False)
    if outcome.assigned is not None:
        _print_assigned(outcome.assigned)
    if outcome.first_rejected:
        first = outcome.first_rejected
        out.print(f"first rejected row: {first['source']}:{first['line']}: {first['reason']}", highlight=False)
    for source in outcome.cleaned.data.sources:
        for description, note in source.notes.items():
            out.print(f"note: {source.uri}: {description}: {note['count']:,} value{'s' * (note['count'] != 1)} "
                      f"(first at line {note['first_line']}: {note['first_value']!r})", highlight=False, soft_wrap=True)


@app.command()
def profile(
    sources: Annotated[list[str] | None, typer.Argument(help="Profile these files instead of the stored catalogue (nothing is written to the stores).", show_default=False)] = None,
    db: DbOption = None,
    lake: LakeOption = None,
    s3_endpoint: S3Option = None,
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Folder for profile.md, profile.html and the PNG figures.")] = Path("reports/profile"),
    engine: Annotated[str, typer.Option("--engine", "-e", help="local, spark (the stored catalogue as Spark aggregations; "
                                        "estimates above 200,000 songs are marked) or auto (by catalogue size).")] = "local",
    spark_master: SparkMasterOption = None,
) -> None:
    """Profile the catalogue: per-feature statistics, artist bias, outliers, histograms and correlations."""
    from songscope import service

    with _friendly_errors():
        settings = _settings(db, lake, s3_endpoint, spark_master=spark_master)
        with _store(settings) as store, _progress() as say:
            outcome = service.profile(store, sources, out_dir=out_dir, engine=engine, progress=say)
    result = outcome.profile
    out.print(f"profiled {result.rows:,} tracks, {result.artist_count:,} artists; top 10 artists hold {result.top10_share:.1%}")
    for name, path in outcome.paths.items():
        out.print(f"  {name}: {path}", highlight=False)


@app.command()
def synth(
    rows: Annotated[int, typer.Option("--rows", "-n", min=1, help="How many songs to generate.")] = 100_000,
    output: Annotated[Path, typer.Option("--out", "-o", help="Output file: .csv or .parquet.")] = Path("synthetic.parquet"),
    seed: Annotated[int, typer.Option(help="Random seed (the same seed gives the same songs).")] = 0,
) -> None:
    """Generate songs that follow the seed catalogue's distributions (marginals and correlations)."""
    from songscope import service

    with _friendly_errors(), _progress() as say:
        outcome = service.synth(rows, output, seed=seed, progress=say)
    out.print(f"wrote {outcome.rows:,} synthetic songs to {outcome.path}", highlight=False)


@app.command()
def status(db: DbOption = None, lake: LakeOption = None, s3_endpoint: S3Option = None, as_json: JsonOption = False) -> None:
    """Show what the stores hold: tracks, sources, rejected rows, the catalogue in the database and in the lake, the runs."""
    from songscope import service

    with _friendly_errors(), _store(_settings(db, lake, s3_endpoint)) as store:
        found = service.status(store)
    if as_json:
        _print_json(found)
        return
    _print_status(found)


def _print_status(found) -> None:
    out.print(f"database: {found.database} (schema v{found.schema_version})", highlight=False)
    for name, count in found.counts.items():
        out.print(f"  {name}: {count:,}")
    health = found.catalogue
    verdict = "in step" if health.in_step else "NOT in step: see below"
    out.print(f"catalogue: {health.database_tracks:,} tracks in the database, {health.lake_tracks:,} in the lake "
              f"({health.files:,} files in {found.lake}): {verdict}", highlight=False)
    for key in health.missing_files:
        out.print(f"  missing from the lake: {key}", highlight=False)
    if health.leftovers:
        out.print(f"  {len(health.leftovers):,} lake files no committed ingest lists (a running ingest's, or a dead one's: "
                  f"`songscope sweep` removes the latter)", highlight=False)
    for run in found.ingests.itertuples():
        out.print(f"  ingest {run.run_id}: read {run.rows_read:,}, rejected {run.rows_rejected:,}, clean {run.rows_clean:,}, added {run.tracks_added:,}")
    for run in found.runs.iloc[::-1].itertuples():
        out.print(f"  clustering {run.run_id}: {run.engine} {run.algorithm}, k = {run.k}, {run.songs:,} songs, silhouette {run.silhouette:.3f}", highlight=False)


@app.command()
def sweep(db: DbOption = None, lake: LakeOption = None, s3_endpoint: S3Option = None, as_json: JsonOption = False) -> None:
    """Remove lake files that no committed ingest or assign pass lists: what one that died left behind (the next ingest also does this)."""
    from songscope import service

    with _friendly_errors(), _store(_settings(db, lake, s3_endpoint)) as store:
        outcome = service.sweep(store)
    if as_json:
        _print_json(outcome)
        return
    out.print(f"removed {len(outcome.removed):,} leftover files", highlight=False)
    for key in outcome.removed[:20]:
        out.print(f"  {key}", highlight=False)


@app.command()
def run(
    sources: Annotated[list[str] | None, typer.Argument(help="Sources to ingest (default: the shipped seed CSVs).", show_default=False)] = None,
    db: DbOption = None,
    lake: LakeOption = None,
    s3_endpoint: S3Option = None,
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Folder for the reports.")] = Path("reports"),
    k: Annotated[int, typer.Option("--k", "-k", min=2, max=1000, help="Clusters for the k-means run (see songscope evaluate to choose).")] = 8,
    engine: Annotated[str, typer.Option(
        "--engine", "-e", help="local (this process), spark (every stage on Spark; this process never holds the catalogue) or auto "
        "(spark from SONGSCOPE_SPARK_MIN_ROWS songs, estimated from the files).")] = "local",
    spark_master: SparkMasterOption = None,
) -> None:
    """The end-to-end job: ingest and clean the sources, store them, profile and cluster the catalogue, write the HTML report; prints where everything went.

    Example: songscope run data/big/*.parquet --engine spark --spark-master spark://head:7077
    """
    from songscope import service
    from songscope.seed import seed_paths

    with _friendly_errors():
        settings = _settings(db, lake, s3_endpoint, spark_master=spark_master)
        with _store(settings) as store, _progress() as say:
            outcome = service.run(store, sources or seed_paths(), out_dir=out_dir, k=k, engine=engine, progress=say)
    _print_run(outcome, settings)


def _print_run(outcome, settings) -> None:
    _print_ingest(outcome.ingest, settings)
    out.print(f"profile: {outcome.profile_paths['html'].resolve()}", highlight=False)
    if outcome.clustering is not None:
        r = outcome.clustering.run
        sample = r.metrics.get("sample_n")
        on_sample = f" (on a sample of {int(sample):,}; SSE, Calinski-Harabasz and Davies-Bouldin exact over {r.n_tracks:,})" if sample and sample < r.n_tracks else ""
        out.print(f"clustering run {r.run_id} ({r.engine} engine): k-means, k = {r.k}, silhouette {r.metrics['silhouette']:.3f}{on_sample}; clusters:",
                  highlight=False)
        for row in r.clusters.itertuples():
            out.print(f"  {row.cluster}: {row.size:,} songs, {row.description} (stability {row.jaccard:.2f}); {row.top_artists}", highlight=False)
        out.print(f"compare runs with `songscope compare {r.run_id} OTHER_RUN`; choose k with `songscope evaluate --k 2..60`", highlight=False)
    if outcome.report:
        out.print(f"report: {outcome.report.path.resolve()} (also {outcome.report.lake_uri})", highlight=False, soft_wrap=True)
    total = sum(outcome.timings.values())
    out.print(f"done in {total:.1f} s ({', '.join(f'{k} {v:.1f} s' for k, v in outcome.timings.items())})")


@app.command()
def report(
    run_id: Annotated[str | None, typer.Argument(help="The clustering run to report on (default: the latest; see songscope status).", show_default=False)] = None,
    compare: Annotated[str | None, typer.Option("--compare", help="A second run to compare with (any engine or algorithm).", show_default=False)] = None,
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write the HTML file.")] = Path("reports/report.html"),
    projection: Annotated[str, typer.Option("--map", help="2-D projection of the cluster map: pca (instant), tsne (about 1 min per 10k songs) or umap (needs umap-learn; about 30 s to start).")] = "pca",
    k_max: Annotated[int, typer.Option("--k-max", min=3, max=100, help="Largest k of the report's k sweep (songscope evaluate runs the full one).")] = 20,
    density: Annotated[bool, typer.Option("--density/--no-density", help="Include the density methods' noise sweep.")] = True,
    cluster: Annotated[int | None, typer.Option("--cluster", help="The cluster to draw as a radar profile (default: the largest).", show_default=False)] = None,
    static: Annotated[Path | None, typer.Option("--static", help="Also write every figure as PNG and SVG into this folder (needs kaleido and Chromium).", show_default=False)] = None,
    db: DbOption = None,
    lake: LakeOption = None,
    s3_endpoint: S3Option = None,
) -> None:
    """Write a self-contained HTML report of a clustering run: data and cleaning, choice of k, the clusters in words and figures, stability and tests, a comparison, recommendations.

    Example: songscope report --compare RUN_B -o report.html
    """
    from songscope import service

    with _friendly_errors(), _store(_settings(db, lake, s3_endpoint)) as store, _progress() as say:
        written = service.report(store, run_id, output=output, compare_with=compare, projection=projection, ks=range(2, k_max + 1),
                                 density=density, focus=cluster, static=static, progress=say)
    built = written.report
    out.print(f"report: {output.resolve()} ({len(built.html) / 1e6:.1f} MB, {len(built.figures)} figures, {built.seconds:.1f} s); lake: {written.lake_uri}", highlight=False)
    if static is not None:
        out.print(f"static figures: {len(written.static_files)} files in {static.resolve()}", highlight=False)


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
    with _friendly_errors():
        try:
            import uvicorn

            from songscope.web.app import create_app, serving_access
        except ImportError as exc:
            raise ValueError(f"the web app needs its extra: pip install 'songscope[web]' ({exc.name} is missing)") from exc
        access, warning = serving_access(host, os.environ, allowed_hosts=allowed_host or (), read_only=read_only, insecure=insecure)
        if warning:
            err.print(f"[bold yellow]warning:[/] {warning}", highlight=False, markup=True)
        settings = _settings(db, lake, s3_endpoint)
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


def _parse_params(values: list[str] | None) -> dict[str, object]:
    params: dict[str, object] = {}
    for item in values or []:
        if "=" not in item:
            raise ValueError(f"--param {item!r}: use NAME=VALUE, e.g. --param min_cluster_size=50")
        name, raw = item.split("=", 1)
        try:
            params[name] = json.loads(raw)
        except json.JSONDecodeError:
            params[name] = raw
    return params


def _space(key: str, mode: bool, scaling: str, pca: float | None):
    from songscope.features import FeatureSpace

    if key not in ("none", "circle", "onehot"):
        raise ValueError(f"--key {key!r}: choose none, circle or onehot")
    if scaling not in ("standard", "robust"):
        raise ValueError(f"--scaling {scaling!r}: choose standard or robust")
    return FeatureSpace(key=key, mode=mode, scaling=scaling, pca=(int(pca) if pca and pca >= 1 else pca))  # type: ignore[arg-type]


KeyOption = Annotated[str, typer.Option("--key", help="How to use the musical key: none, circle (sin/cos) or onehot.")]
ModeOption = Annotated[bool, typer.Option("--mode/--no-mode", help="Use mode (major/minor) as a feature.")]
ScalingOption = Annotated[str, typer.Option("--scaling", help="standard (mean/sd) or robust (median/IQR).")]
PcaOption = Annotated[float | None, typer.Option("--pca", help="Project onto principal components: a count (e.g. 6) or a variance share (e.g. 0.9).", show_default=False)]


@app.command()
def cluster(
    engine: Annotated[str, typer.Option("--engine", "-e", help="local, spark, or auto (by catalogue size, with the reason printed).")] = "local",
    algorithm: Annotated[str, typer.Option("--algorithm", "-a", help="kmeans, minibatch-kmeans, bisecting-kmeans, gmm, hdbscan, dbscan, agglomerative (Spark: kmeans, bisecting-kmeans, gmm).")] = "kmeans",
    k: Annotated[int, typer.Option("--k", "-k", min=1, max=1000, help="Number of clusters (ignored by hdbscan and dbscan).")] = 8,
    param: Annotated[list[str] | None, typer.Option("--param", help="Algorithm parameter NAME=VALUE (repeatable), e.g. min_cluster_size=50, eps=0.8.", show_default=False)] = None,
    resamples: Annotated[int, typer.Option(min=0, help="Bootstrap refits for per-cluster stability (0 skips).")] = 20,
    label: Annotated[str | None, typer.Option(help="Column with known labels for external validity (default: playlist_genre or genre when present).", show_default=False)] = None,
    key: KeyOption = "none",
    mode: ModeOption = False,
    scaling: ScalingOption = "standard",
    pca: PcaOption = None,
    seed: Annotated[int | None, typer.Option(help="Random seed (env SONGSCOPE_SEED; default 0).", show_default=False)] = None,
    spark_master: Annotated[str | None, typer.Option("--spark-master", help="Spark master: local[*], spark://host:7077 or sc://host:15002 (env SONGSCOPE_SPARK_MASTER).", show_default=False)] = None,
    db: DbOption = None,
    lake: LakeOption = None,
    s3_endpoint: S3Option = None,
    as_json: JsonOption = False,
) -> None:
    """Cluster the catalogue, evaluate it in the shared feature space and store the run.

    Example: songscope cluster --engine spark --algorithm kmeans --k 12
    """
    from songscope import service

    with _friendly_errors():
        settings = _settings(db, lake, s3_endpoint, seed=seed, spark_master=spark_master)
        space = _space(key, mode, scaling, pca)
        with _store(settings) as store, _progress(not as_json) as say:
            outcome = service.cluster(store, engine=engine, algorithm=algorithm, k=k, params=_parse_params(param), space=space,
                                      resamples=resamples, label=label, progress=say)
    if as_json:
        _print_json(outcome)
        return
    _print_cluster(outcome, settings)


def _print_cluster(outcome, settings) -> None:
    run = outcome.run
    m = run.metrics
    out.print(f"run {run.run_id}: {run.engine_reason}", highlight=False)
    out.print(
        f"silhouette {m['silhouette']:.3f} (on {m.get('silhouette_n', 0):,} songs), Davies-Bouldin {m['davies_bouldin']:.3f}, "
        f"Calinski-Harabasz {m['calinski_harabasz']:,.0f}, SSE {m['sse']:,.0f}, noise {m['noise_share']:.1%}"
    )
    table = Table(title="clusters", header_style="bold")
    for column in ("cluster", "size", "description", "stability", "top artists"):
        table.add_column(column, justify="right" if column in ("cluster", "size") else "left")
    for row, verdict in zip(run.clusters.itertuples(), run.stability.get("verdicts") or [None] * run.k):
        table.add_row(str(row.cluster), f"{row.size:,}", row.description, "-" if verdict is None else f"{row.jaccard:.2f} {verdict}", row.top_artists)
    out.print(table)
    out.print("features that differ most between clusters (Kruskal-Wallis, epsilon^2): " + ", ".join(f"{r['feature']} {r['epsilon_squared']:.2f}" for r in run.feature_tests[:5]))
    if run.stability:
        seeds = run.stability["seeds"]
        out.print(f"agreement across {seeds['runs']} seeds: ARI mean {seeds['ari_mean']:.3f}, min {seeds['ari_min']:.3f}")
    null = run.null_model
    verdict = "more cluster structure than a uniform reference" if null["structure"] else "NO more cluster structure than a uniform reference (clusters partition a continuum)"
    out.print(f"null model: Gap({null['k']}) - Gap(1) = {null['delta']:.3f} +/- {null['delta_se']:.3f}: {verdict}")
    if run.external:
        e = run.external
        out.print(f"against {e['label']}: ARI {e['ari']:.3f}, NMI {e['nmi']:.3f}, homogeneity {e['homogeneity']:.3f}, completeness {e['completeness']:.3f}")
    out.print(f"stored in {redact(settings.db_url)} and {run.lake_uri}", highlight=False)


def _k_range(text: str) -> list[int]:
    try:
        if ".." in text:
            low, high = (int(p) for p in text.split(".."))
            ks = list(range(low, high + 1))
        else:
            ks = [int(p) for p in text.split(",")]
    except ValueError:
        raise ValueError(f"--k {text!r}: use a range such as 2..60 or a list such as 4,8,12") from None
    if not ks or min(ks) < 2:
        raise ValueError(f"--k {text!r}: k starts at 2")
    return ks


@app.command()
def evaluate(
    k: Annotated[str, typer.Option("--k", help="k values to sweep: a range 2..60 or a list 4,8,12.")] = "2..30",
    references: Annotated[int, typer.Option(min=2, help="Reference data sets for the gap statistic (B).")] = 10,
    density: Annotated[bool, typer.Option("--density/--no-density", help="Also sweep HDBSCAN's min_cluster_size (noise share).")] = True,
    key: KeyOption = "none",
    mode: ModeOption = False,
    scaling: ScalingOption = "standard",
    pca: PcaOption = None,
    seed: Annotated[int | None, typer.Option(help="Random seed.", show_default=False)] = None,
    db: DbOption = None,
    lake: LakeOption = None,
    s3_endpoint: S3Option = None,
    engine: Annotated[str, typer.Option("--engine", "-e", help="local (every song in this process), spark (the space fitted on Spark "
                                        "over every song, the sweeps on a fixed-seed sample of 50,000) or auto (by catalogue size).")] = "local",
    spark_master: SparkMasterOption = None,
    as_json: JsonOption = False,
) -> None:
    """Choose k and the algorithm with evidence: elbow, silhouette curve, gap statistic (1-SE rule), density sweep, and the algorithms compared at the recommended k.

    Example: songscope evaluate --k 2..60
    """
    from songscope import service

    with _friendly_errors():
        ks = _k_range(k)
        settings = _settings(db, lake, s3_endpoint, seed=seed, spark_master=spark_master)
        space = _space(key, mode, scaling, pca)
        with _store(settings) as store, _progress(not as_json) as say:
            found = service.evaluate(store, ks=ks, references=references, density=density, space=space, engine=engine, progress=say)
    if as_json:
        _print_json(found)
        return
    _print_evaluation(found)


def _print_evaluation(found) -> None:
    from songscope.evaluate.select import ALGORITHM_NOTES

    sweep, dense, methods, text = found.evidence.sweep, found.evidence.density, found.evidence.methods, found.rationale
    on = f"a fixed-seed sample of {found.sample_n:,} of {found.songs:,} songs" if found.sample_n else f"{found.songs:,} songs"
    table = Table(title=f"k sweep on {on} ({sweep.seconds:.0f} s)", header_style="bold")
    for column in ("k", "SSE", "silhouette", "gap", "gap SE", ""):
        table.add_column(column, justify="right")
    for row in sweep.table.itertuples():
        marks = [name for name, value in (("knee", sweep.knee_k), ("silhouette", sweep.silhouette_k), ("gap 1-SE", sweep.gap_k)) if value == row.k]
        table.add_row(str(row.k), f"{row.sse:,.0f}", f"{row.silhouette:.3f}", f"{row.gap:.3f}", f"{row.gap_se:.3f}", ", ".join(marks))
    out.print(table)
    out.print(f"silhouette on {sweep.sample_sizes['silhouette']:,} songs; gap on {sweep.sample_sizes['gap']:,} songs with B = {sweep.sample_sizes['references']}")
    if dense is not None:
        out.print(dense.to_string(index=False))
    out.print(f"\nthe algorithms at k = {sweep.recommended_k} on the same {methods.attrs['sample']:,} songs:")
    out.print(methods.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    out.print(f"\n[bold]recommended: kmeans, k = {sweep.recommended_k}[/]")
    out.print(text, highlight=False)
    notes = Table(title="algorithms for this data", header_style="bold", show_lines=True)
    for column in ALGORITHM_NOTES.columns:
        notes.add_column(column)
    for row in ALGORITHM_NOTES.itertuples(index=False):
        notes.add_row(*row)
    out.print(notes)


@app.command()
def compare(
    run_a: Annotated[str, typer.Argument(help="Run id of the first clustering (see songscope status).", show_default=False)],
    run_b: Annotated[str, typer.Argument(help="Run id of the second clustering.", show_default=False)],
    db: DbOption = None,
    lake: LakeOption = None,
    s3_endpoint: S3Option = None,
    as_json: JsonOption = False,
) -> None:
    """Two runs side by side: metrics in one shared space, agreement (ARI, NMI, contingency), sizes, timings."""
    from songscope import service

    with _friendly_errors(), _store(_settings(db, lake, s3_endpoint)) as store:
        result = service.compare(store, run_a, run_b)
    if as_json:
        _print_json(result)
        return
    out.print(result.runs.to_string(index=False, float_format=lambda v: f"{v:,.3f}"), highlight=False)
    g = result.agreement
    out.print(f"\nagreement on {g['songs']:,} songs: ARI {g['ari']:.3f}, NMI {g['nmi']:.3f}; {g['best_match_share']:.1%} of songs sit in their cluster's best match")
    out.print("contingency (rows: A's clusters, columns: B's):")
    out.print(result.contingency.to_string(), highlight=False)
    out.print("\nwhich cluster of B continues which of A (by shared songs, Jaccard):")
    for row in result.matching.itertuples():
        out.print(f"  A {row.a} -> B {row.b} (Jaccard {row.jaccard:.2f}): {row.a_description} | {row.b_description}", highlight=False)
    unmatched = sorted(set(range(int(result.runs["k"].iloc[1]))) - set(result.matching["b"]))
    if unmatched:
        out.print(f"  B's clusters {', '.join(map(str, unmatched))} continue none of A's", highlight=False)


def _range(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    try:
        low, high = (int(p) for p in text.split(".."))
    except ValueError:
        raise ValueError(f"--popularity {text!r}: use LOW..HIGH, e.g. 20..80") from None
    return low, high


def _songs_from_file(path: Path | None, flag: str = "--file") -> list[str]:
    """The songs a file names: a playlist (.m3u, .m3u8, .jspf, .json, .csv: its format by the
    extension, Spotify exporters' CSV included), or one song per line (a track id or 'artist - title')."""
    from songscope.recommend import playlists

    if path is None:
        return []
    if not path.is_file():
        raise ValueError(f"{flag} {path}: no such file (a playlist, or one song per line: a track id or 'artist - title')")
    text = path.read_text(encoding="utf-8-sig", errors="replace")
    kind = playlists.FORMATS.get(path.suffix.lower())
    if kind is not None:
        return playlists.read(text, kind, source=f"{flag} {path}")
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


def _write_playlist(playlist, path: Path, kind: str | None) -> None:
    from songscope.recommend import playlists

    chosen = playlists.format_of(path, kind)
    path.write_text(playlist.render(chosen), encoding="utf-8")
    out.print(f"wrote {len(playlist.songs)} songs to {path} ({chosen})", highlight=False)


@app.command()
def recommend(
    favourites: Annotated[list[str] | None, typer.Argument(help="Favourite songs: track ids or 'artist - title' (fuzzy).", show_default=False)] = None,
    file: Annotated[Path | None, typer.Option("--file", "-f", help="Favourites from a file: one per line, or a playlist (.m3u, .jspf, .csv, "
                                              "Spotify exporters' CSV included).", show_default=False)] = None,
    dislike: Annotated[list[str] | None, typer.Option("--dislike", "-d", help="A song the listener dislikes (repeatable).", show_default=False)] = None,
    n: Annotated[int, typer.Option("-n", min=1, max=500, help=option_help("n"))] = 10,
    per_artist: Annotated[int, typer.Option(min=0, help=option_help("per_artist").replace("none", "0"))] = 2,
    exclude_seed_artists: Annotated[bool, typer.Option("--exclude-seed-artists", help=option_help("exclude_seed_artists"))] = False,
    diversity: Annotated[float | None, typer.Option(help=option_help("diversity"), show_default=False)] = None,
    cluster: Annotated[int | None, typer.Option(help=option_help("cluster"), show_default=False)] = None,
    popularity: Annotated[str | None, typer.Option(help=option_help("popularity"), show_default=False)] = None,
    exclude_artist: Annotated[list[str] | None, typer.Option("--exclude-artist", help=option_help("exclude_artists") + " Repeatable.", show_default=False)] = None,
    exclude_genre: Annotated[list[str] | None, typer.Option("--exclude-genre", help=option_help("exclude_genres") + " Repeatable.", show_default=False)] = None,
    exclude_explicit: Annotated[bool, typer.Option("--exclude-explicit", help=option_help("exclude_explicit"))] = False,
    known: Annotated[Path | None, typer.Option("--known", help="A file of songs the listener already knows, one per line (track ids or exact 'artist - title'): "
                                               "they and their other versions are left out.", show_default=False)] = None,
    where: Annotated[str | None, typer.Option("--where", help=option_help("where"), show_default=False)] = None,
    export: Annotated[Path | None, typer.Option("--export", help="Also write the list as a playlist: .m3u, .jspf or .csv (spotify:track URIs).", show_default=False)] = None,
    export_format: Annotated[str | None, typer.Option("--export-format", help="m3u, jspf or csv (default: from --export's extension).", show_default=False)] = None,
    run: ReasonRunOption = None,
    db: DbOption = None,
    lake: LakeOption = None,
    s3_endpoint: S3Option = None,
    as_json: JsonOption = False,
) -> None:
    """Recommend new songs for favourites, each with its reasons; the request is stored in the database.

    Example: songscope recommend "Bastille - Admit Defeat" "Cigarettes After Sex - Cry" -n 10

    Filters: songscope recommend "Bastille - Admit Defeat" --where "duration_ms < 420000 and instrumentalness < 0.5" --exclude-artist Drake
    """
    from songscope import service
    from songscope.recommend.recommender import RecommendOptions

    # An unknown or ambiguous favourite is an UnknownSongError (a ValueError): one clear line, exit 2.
    with _friendly_errors():
        songs = list(favourites or []) + _songs_from_file(file)
        options = RecommendOptions(
            n=n, per_artist=per_artist or None, exclude_seed_artists=exclude_seed_artists, diversity=diversity,
            cluster=cluster, popularity=_range(popularity), exclude_artists=tuple(exclude_artist or ()), exclude_genres=tuple(exclude_genre or ()),
            exclude_explicit=exclude_explicit, known=tuple(_songs_from_file(known, "--known")), where=where,
        )
        if export is not None:
            from songscope.recommend.playlists import format_of

            format_of(export, export_format)  # a bad name is refused before any work
        with _store(_settings(db, lake, s3_endpoint)) as store:
            outcome = service.recommend(store, songs, dislikes=list(dislike or []), options=options, run_id=run)
        if export is not None:
            _write_playlist(service.recommendation_playlist(outcome), export, export_format)
    if as_json:
        _print_json(outcome)
        return
    _print_recommendations(outcome)


def _print_songs(rows: list[tuple[int, str, str]]) -> None:
    """Songs in order, as a table of (rank, "artist - title", why)."""
    table = Table(header_style="bold")
    for column in ("#", "song", "why"):
        table.add_column(column, justify="right" if column == "#" else "left")
    for rank, song, why in rows:
        table.add_row(str(rank), song, why)
    out.print(table)


def _print_recommendations(outcome) -> None:
    result, request_id = outcome.result, outcome.request_id
    out.print(f"for: {'; '.join(result.seeds)}" + (f" (not: {'; '.join(result.dislikes)})" if result.dislikes else ""), highlight=False)
    _print_songs([(item.rank, f"{item.shown_artists} - {item.track_name}", item.reason()) for item in result.items])
    for note in result.notes:
        out.print(note, highlight=False)
    out.print(f"stored as request {request_id}", highlight=False)


@app.command()
def path(
    start: Annotated[str, typer.Argument(help="The first song: a track id or 'artist - title' (fuzzy).", show_default=False)],
    end: Annotated[str, typer.Argument(help="The last song.", show_default=False)],
    steps: Annotated[int, typer.Option(min=3, max=100, help="Songs on the path, its two ends included.")] = 12,
    per_artist: Annotated[int, typer.Option(min=0, help="At most this many songs per artist, the ends included (0: no cap).")] = 1,
    export: Annotated[Path | None, typer.Option("--export", help="Also write the path as a playlist: .m3u, .jspf or .csv.", show_default=False)] = None,
    run: ReasonRunOption = None,
    db: DbOption = None,
    lake: LakeOption = None,
    s3_endpoint: S3Option = None,
    as_json: JsonOption = False,
) -> None:
    """A path of songs moving smoothly from one song to another, each step with its reason.

    Example: songscope path "Bastille - Admit Defeat" "Cigarettes After Sex - Cry" --steps 12
    """
    from songscope import service
    from songscope.recommend.playlists import format_of

    with _friendly_errors():
        if export is not None:
            format_of(export)
        with _store(_settings(db, lake, s3_endpoint)) as store:
            result = service.path(store, start, end, steps=steps, per_artist=per_artist or None, run_id=run)
        if export is not None:
            _write_playlist(service.path_playlist(result), export, None)
    if as_json:
        _print_json(result)
        return
    _print_songs([(step.rank, f"{step.shown_artists} - {step.track_name}", reason) for step, reason in zip(result.steps, result.reasons())])
    smooth = result.to_dict()["smoothness"]
    out.print(f"hops: mean {smooth['mean_hop']}, longest {smooth['longest_hop']} (an even path's: {smooth['straight_hop']})", highlight=False)
    for note in result.notes:
        out.print(note, highlight=False)


def _print_assigned(outcome) -> None:
    drift = outcome.drift
    out.print(f"assigned {outcome.assigned:,} new songs to run {outcome.run_id}'s clusters", highlight=False)
    if drift.new_songs:
        table = Table(header_style="bold")
        for column in ("cluster", "new songs", "fit no cluster well"):
            table.add_column(column, justify="right")
        for row in drift.per_cluster:
            if row["new_songs"]:
                table.add_row(str(row["cluster"]), f"{row['new_songs']:,}", f"{row['fit_no_cluster_well']:,}")
        out.print(table)
        ratio = drift.to_dict()["distance_ratio"]
        out.print(f"median distance to their centre: new songs {drift.median_distance_new:.3f}, fitted songs {drift.median_distance_fitted:.3f} "
                  f"({ratio:.2f}x)", highlight=False)
    out.print(drift.advice(), highlight=False, soft_wrap=True)


@app.command()
def assign(
    run: Annotated[str | None, typer.Argument(help="The clustering run (default: the latest).", show_default=False)] = None,
    engine: Annotated[str, typer.Option("--engine", "-e", help="local, spark (the executors read the catalogue and place the new songs; "
                                        "no column the size of the catalogue comes to this process) or auto (by catalogue size).")] = "local",
    spark_master: SparkMasterOption = None,
    db: DbOption = None,
    lake: LakeOption = None,
    s3_endpoint: S3Option = None,
    as_json: JsonOption = False,
) -> None:
    """Assign songs that arrived after a clustering to its clusters, and say whether to re-cluster.

    Each new song goes to the nearest cluster centre in the run's feature space; it "fits no
    cluster well" when it is farther from its centre than 95% of the cluster's own songs. ingest
    does this for the latest run unless given --no-assign (on Spark when it read on Spark).

    Example: songscope assign --engine spark --spark-master spark://head:7077
    """
    from songscope import service

    with _friendly_errors(), _store(_settings(db, lake, s3_endpoint, spark_master=spark_master)) as store, _progress(not as_json) as say:
        outcome = service.assign(store, run, engine=engine, progress=say)
    if as_json:
        _print_json(outcome)
        return
    _print_assigned(outcome)


@app.command("cluster-playlist")
def cluster_playlist(
    cluster: Annotated[int, typer.Argument(help="The cluster's number.", show_default=False)],
    output: Annotated[Path, typer.Option("--output", "-o", help="The playlist file: .m3u, .jspf or .csv.", show_default=False)],
    n: Annotated[int, typer.Option("-n", min=1, max=1_000, help="How many songs: those nearest the cluster's centre.")] = 100,
    output_format: Annotated[str | None, typer.Option("--format", help="m3u, jspf or csv (default: from the output's extension).", show_default=False)] = None,
    run: Annotated[str | None, typer.Option("--run", help="The clustering run (default: the latest).", show_default=False)] = None,
    db: DbOption = None,
    lake: LakeOption = None,
    s3_endpoint: S3Option = None,
) -> None:
    """Write a cluster's most typical songs (nearest its centre) as a playlist.

    Example: songscope cluster-playlist 3 -o calm.m3u -n 50
    """
    from songscope import service
    from songscope.recommend.playlists import format_of

    with _friendly_errors():
        format_of(output, output_format)
        with _store(_settings(db, lake, s3_endpoint)) as store:
            playlist = service.cluster_playlist(store, cluster, run, n=n)
        _write_playlist(playlist, output, output_format)


@app.command("eval-recs")
def eval_recs(
    sources: Annotated[list[str] | None, typer.Argument(help="A labelled catalogue (any layout ingest accepts), e.g. the TidyTuesday songs.", show_default=False)] = None,
    label: Annotated[str, typer.Option(help="Column of genre-like labels (cells may hold several, joined with |).")] = "playlist_genre",
    playlist: Annotated[str | None, typer.Option(help="Column of playlist ids for playlist continuation (default: playlist_id when the catalogue has it; skipped, with a note, when it has none).", show_default=False)] = None,
    queries: Annotated[int, typer.Option(min=10, help="Query songs for genre-precision@10 (from the catalogue's evaluation half).")] = 2_000,
    playlists: Annotated[int | None, typer.Option(help="At most this many playlists (default: all with >= 10 tracks).", show_default=False)] = None,
    learn_weights: Annotated[bool, typer.Option("--learn-weights", help="Also learn feature weights on this catalogue's training half and evaluate songscope with them.")] = False,
    liked: Annotated[str | None, typer.Option(help="A liked/disliked set for the ROC AUC protocol (e.g. the Spotify Song Attributes data.csv).", show_default=False)] = None,
    target: Annotated[str, typer.Option(help="Column of the liked set: 1 liked, 0 disliked.")] = "target",
    repeats: Annotated[int, typer.Option(min=2, help="Random halves for the liked AUC.")] = 20,
    seed: Annotated[int, typer.Option(help="Seed of every random choice (queries, splits, baselines).")] = 0,
    db: DbOption = None,
    lake: LakeOption = None,
    s3_endpoint: S3Option = None,
    as_json: JsonOption = False,
) -> None:
    """Evaluate recommendations offline against labels: genre-precision@10, playlist continuation, liked AUC; baselines, 95% CIs, paired differences, and an ablation of songscope's ingredients.

    Example: songscope eval-recs spotify_songs.csv --liked data.csv
    """
    from songscope import service

    with _friendly_errors(), _store(_settings(db, lake, s3_endpoint)) as store, _progress(not as_json) as say:
        report = service.eval_recs(store, sources, liked=liked, label=label, playlist=playlist, queries=queries, playlists=playlists,
                                   learn_weights=learn_weights, target=target, repeats=repeats, seed=seed, progress=say)
    if as_json:
        _print_json(report)
        return
    _print_offline_evaluation(report)


def _print_offline_evaluation(report) -> None:
    shown = Table(title="offline evaluation (95% bootstrap CIs; difference = songscope minus method, paired)", header_style="bold")
    for column in ("metric", "method", "mean", "95% CI", "songscope - this", "CI of difference", "n"):
        shown.add_column(column, justify="left" if column in ("metric", "method") else "right")
    for row in report.results.itertuples():
        diff = getattr(row, "songscope_minus_this", float("nan"))
        shown.add_row(
            row.metric, row.method, f"{row.mean:.4f}", f"[{row.ci_low:.4f}, {row.ci_high:.4f}]",
            "" if diff != diff else f"{diff:+.4f}",
            "" if diff != diff else f"[{row.diff_ci_low:+.4f}, {row.diff_ci_high:+.4f}]", f"{row.queries:,}",
        )
    out.print(shown)
    if "labels_per_pick" in report.results:
        carried = report.results.dropna(subset=["labels_per_pick"])
        out.print("genres per recommended song: " + ", ".join(f"{r.method} {r.labels_per_pick:.2f}" for r in carried.itertuples()), highlight=False)
    steps = Table(title="ablation: songscope built up one ingredient at a time (adds = paired difference with the step above)", header_style="bold")
    for column in ("metric", "step", "mean", "95% CI", "adds", "CI of what it adds"):
        steps.add_column(column, justify="left" if column in ("metric", "step") else "right")
    for row in report.ablation.itertuples():
        adds = getattr(row, "adds", float("nan"))
        steps.add_row(
            row.metric, row.step, f"{row.mean:.4f}", f"[{row.ci_low:.4f}, {row.ci_high:.4f}]",
            "" if adds != adds else f"{adds:+.4f}", "" if adds != adds else f"[{row.adds_ci_low:+.4f}, {row.adds_ci_high:+.4f}]",
        )
    out.print(steps)
    for note in report.notes:
        out.print(note, highlight=False)
    out.print(f"saved for `songscope report`: {report.saved}", highlight=False)
    if report.learned_weights:
        out.print("feature weights learned on this catalogue's training half: " + ", ".join(f"{k} {v:g}" for k, v in report.learned_weights.items()), highlight=False)
    out.print(
        "Notes: genre-precision queries come from the half of the catalogue whose labels no weight was learned from. Tracks listed in several "
        "playlists carry all their genres, and popular tracks are listed most: a song under 4 genres matches most queries, so the "
        "popularity baseline's genre-precision is inflated (see genres per recommended song).",
        highlight=False,
    )


def entry() -> None:  # pragma: no cover - console script
    app(prog_name="songscope")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(entry())
