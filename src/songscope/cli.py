"""The `songscope` command: a thin shell over the library (parse, call one function, print)."""

from __future__ import annotations

import json
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

app = typer.Typer(
    name="songscope",
    help=(
        "Cluster songs by their audio features and find new songs for a listener's favourites.\n\n"
        "Start with `songscope run` (ingest, clean and profile the shipped seed CSVs), or "
        "`songscope ingest FILES...` for your own data. Settings come from flags, then the "
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


def _settings(db: str | None, lake: str | None, s3_endpoint: str | None) -> Settings:
    return Settings.load(db_url=db, lake_url=lake, s3_endpoint=s3_endpoint)


@contextmanager
def _friendly_errors() -> Iterator[None]:
    """Known failures become one clear line on stderr and exit status 2; nothing else is hidden."""
    from songscope.ingest import IngestError
    from songscope.store.db import DatabaseError
    from songscope.store.lake import LakeError

    try:
        yield
    except (IngestError, LakeError, DatabaseError, ValueError, FileNotFoundError) as exc:
        err.print(f"[bold red]error:[/] {exc}", highlight=False, markup=True, soft_wrap=True)
        raise typer.Exit(2) from None


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
    as_json: JsonOption = False,
) -> None:
    """Validate, clean and store songs: rejected rows are kept with their reason, duplicates merged, outliers flagged.

    Example: songscope ingest data/seed/*.csv
    """
    from songscope import pipeline

    with _friendly_errors():
        rules = tuple(schema.OutlierRule.parse(r) for r in outlier_rule) if outlier_rule else schema.SEED_OUTLIER_RULES
        settings = _settings(db, lake, s3_endpoint)
        with _progress(not as_json) as say:
            outcome = pipeline.ingest(
                sources, settings, encoding=encoding, delimiter=delimiter, outlier_rules=rules, loose_dedup=loose_dedup, progress=say
            )
    if as_json:
        out.print_json(json.dumps(outcome.summary(), default=str))
        return
    _print_ingest(outcome, settings)


def _print_ingest(outcome, settings: Settings) -> None:
    report = outcome.cleaned.report
    table = Table(title=f"ingest {outcome.run_id}", show_header=True, header_style="bold")
    table.add_column("step")
    table.add_column("rows", justify="right")
    table.add_column("removed", justify="right")
    table.add_row("read", f"{outcome.ingest.rows_read:,}", "")
    table.add_row("rejected (invalid values)", f"{len(outcome.ingest.rejected):,}", "")
    table.add_row("valid", f"{len(outcome.ingest.frame):,}", "")
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
    out.print(
        f"tracks added: {outcome.record.tracks_added:,} (already known: {outcome.record.tracks_already_known:,}); "
        f"catalogue now {outcome.catalogue_rows:,} tracks"
    )
    out.print(f"database: {redact(settings.db_url)}", highlight=False)
    out.print(f"lake: {outcome.lake_keys['catalogue']}", highlight=False)
    if len(outcome.ingest.rejected):
        first = outcome.ingest.rejected.iloc[0]
        out.print(f"first rejected row: {first['source']}:{first['line']}: {first['reason']}", highlight=False)


@app.command()
def profile(
    sources: Annotated[list[str] | None, typer.Argument(help="Profile these files instead of the stored catalogue (nothing is written to the stores).", show_default=False)] = None,
    lake: LakeOption = None,
    s3_endpoint: S3Option = None,
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Folder for profile.md, profile.html and the PNG figures.")] = Path("reports/profile"),
) -> None:
    """Profile the catalogue: per-feature statistics, artist bias, outliers, histograms and correlations."""
    from songscope import pipeline
    from songscope.clean import clean
    from songscope.eda import profile as make_profile
    from songscope.eda import write_profile
    from songscope.ingest import read_sources

    with _friendly_errors():
        settings = _settings(None, lake, s3_endpoint)
        with _progress() as say:
            if sources:
                read = read_sources(sources, s3_endpoint=settings.s3_endpoint, progress=say)
                cleaned = clean(read.frame)
                result = make_profile(cleaned.tracks, clean_report=cleaned.report, rejected=len(read.rejected))
            else:
                say("reading the catalogue")
                result = make_profile(pipeline.load_catalogue(settings))
            say("drawing figures")
            paths = write_profile(result, out_dir)
    out.print(f"profiled {result.rows:,} tracks, {result.artist_count:,} artists; top 10 artists hold {result.top10_share:.1%}")
    for name, path in paths.items():
        out.print(f"  {name}: {path}", highlight=False)


@app.command()
def synth(
    rows: Annotated[int, typer.Option("--rows", "-n", min=1, help="How many songs to generate.")] = 100_000,
    output: Annotated[Path, typer.Option("--out", "-o", help="Output file: .csv or .parquet.")] = Path("synthetic.parquet"),
    seed: Annotated[int, typer.Option(help="Random seed (the same seed gives the same songs).")] = 0,
) -> None:
    """Generate songs that follow the seed catalogue's distributions (marginals and correlations)."""
    from songscope.clean import clean
    from songscope.ingest import read_sources
    from songscope.seed import seed_paths
    from songscope.synth import synthesize

    with _friendly_errors():
        if output.suffix.lower() not in (".csv", ".parquet"):
            raise ValueError(f"--out {output}: use a .csv or .parquet file name")
        with _progress() as say:
            say("fitting the seed's distributions")
            reference = clean(read_sources(seed_paths()).frame).tracks
            say(f"generating {rows:,} songs")
            songs = synthesize(reference, rows, seed=seed)
            output.parent.mkdir(parents=True, exist_ok=True)
            if output.suffix.lower() == ".csv":
                songs.to_csv(output, index=False)
            else:
                songs.to_parquet(output, index=False)
    out.print(f"wrote {rows:,} synthetic songs to {output}", highlight=False)


@app.command()
def status(db: DbOption = None, as_json: JsonOption = False) -> None:
    """Show what the database holds: tracks, sources, rejected rows and the ingest runs."""
    from songscope.store import db as store

    with _friendly_errors():
        settings = _settings(db, None, None)
        engine = store.connect(settings.db_url)
        counts = store.counts(engine)
        runs = store.read_table(engine, store.ingest_runs)
    if as_json:
        out.print_json(json.dumps({"counts": counts, "runs": runs.drop(columns=["report"]).to_dict("records")}, default=str))
        return
    out.print(f"database: {redact(settings.db_url)} (schema v{store.SCHEMA_VERSION})", highlight=False)
    for name, count in counts.items():
        out.print(f"  {name}: {count:,}")
    for run in runs.sort_values("started_at").itertuples():
        out.print(f"  run {run.run_id}: read {run.rows_read:,}, rejected {run.rows_rejected:,}, clean {run.rows_clean:,}, added {run.tracks_added:,}")


@app.command()
def run(
    sources: Annotated[list[str] | None, typer.Argument(help="Sources to ingest (default: the shipped seed CSVs).", show_default=False)] = None,
    db: DbOption = None,
    lake: LakeOption = None,
    s3_endpoint: S3Option = None,
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Folder for the reports.")] = Path("reports"),
) -> None:
    """The end-to-end job: ingest and clean the sources, store them, profile the catalogue; prints where everything went."""
    from songscope import pipeline
    from songscope.seed import seed_paths

    with _friendly_errors():
        settings = _settings(db, lake, s3_endpoint)
        with _progress() as say:
            outcome = pipeline.run(sources or seed_paths(), settings, out_dir=out_dir, progress=say)
    _print_ingest(outcome.ingest, settings)
    out.print(f"profile: {outcome.profile_paths['html'].resolve()}", highlight=False)
    total = sum(outcome.timings.values())
    out.print(f"done in {total:.1f} s ({', '.join(f'{k} {v:.1f} s' for k, v in outcome.timings.items())})")


def entry() -> None:  # pragma: no cover - console script
    app(prog_name="songscope")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(entry())
