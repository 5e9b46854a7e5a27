"""Commands that read songs in and describe the stores: ingest, analyze, profile, synth, status, sweep, and the end-to-end run."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import Annotated

import typer

from songscope import schema
from songscope.cli.common import (
    DbOption,
    FeaturesOption,
    IngestEngineOption,
    JsonOption,
    LakeOption,
    S3Option,
    SparkMasterOption,
    app,
    friendly_errors,
    open_store,
    out,
    print_json,
    progress_line,
    settings_from,
)
from songscope.cli.render import print_any_ingest, print_run, print_status


@app.command()
def ingest(
    sources: Annotated[list[str], typer.Argument(help="CSV or Parquet files, folders, globs or s3:// URLs, read in order as one table; "
                                                      "or audio files and folders of them (mp3, flac, ogg/opus, m4a/aac, wav, aiff), "
                                                      "analysed into the audio feature set.", show_default=False)],
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
    features: FeaturesOption = None,
    engine: IngestEngineOption = "local",
    spark_master: SparkMasterOption = None,
    workers: Annotated[int | None, typer.Option("--workers", "-w", min=1, help="Audio files: processes analysing at once (default: one per core).",
                                                show_default=False)] = None,
    batch_files: Annotated[int, typer.Option("--batch-files", min=1, help="Audio files: how many are analysed, then committed, at a time "
                                             "(what a kill can cost).")] = 200,
    prune: Annotated[bool, typer.Option("--prune", help="Audio files: remove the songs whose files an earlier ingest found under these "
                                        "folders and are gone (without it, you are asked at a terminal).")] = False,
    as_json: JsonOption = False,
) -> None:
    """Validate, clean and store songs: rejected rows are kept with their reason, duplicates merged, outliers flagged.

    Audio files are analysed first (as songscope analyze), those unchanged since an earlier ingest skipped, and
    committed in batches: a second run goes on where a killed one stopped.

    Examples: songscope ingest data/seed/*.csv; songscope ingest ~/Music
    """
    from songscope import service

    with friendly_errors():
        rules = tuple(schema.OutlierRule.parse(r) for r in outlier_rule) if outlier_rule else None
        settings = settings_from(db, lake, s3_endpoint, spark_master=spark_master)
        with open_store(settings) as store:
            with progress_line(not as_json) as say:
                outcome = service.ingest(store, sources, backend=engine, encoding=encoding, delimiter=delimiter, outlier_rules=rules,
                                         loose_dedup=loose_dedup, assign_new=assign_new, features=features, workers=workers,
                                         batch_files=batch_files, prune=prune, progress=say)
            # Songs whose files are gone leave only when asked: --prune, or yes at a terminal.
            gone = getattr(outcome, "gone", ()) if getattr(outcome, "pruned", None) is None else ()
            if gone and not as_json and sys.stdin.isatty():
                shown = "\n  ".join(gone[:10]) + ("\n  ..." if len(gone) > 10 else "")
                if typer.confirm(f"{len(gone):,} audio files described before are gone:\n  {shown}\nremove their songs from the catalogue?", default=False):
                    removed = service.prune_gone(store, list(gone))
                    outcome = dataclasses.replace(outcome, pruned=removed)
    if as_json:
        print_json(outcome)
        return
    print_any_ingest(outcome, settings)


@app.command()
def analyze(
    sources: Annotated[list[str], typer.Argument(help="Audio files, folders (searched recursively) or glob patterns: mp3, flac, ogg/opus, "
                                                      "m4a/aac, wav, aiff.", show_default=False)],
    output: Annotated[Path, typer.Option("--out", "-o", help="The songs' table: .parquet or .csv (rejected files go to NAME.rejected.csv).")] = Path("songs.parquet"),
    workers: Annotated[int | None, typer.Option("--workers", "-w", min=1, help="Processes at once (default: one per core).", show_default=False)] = None,
    as_json: JsonOption = False,
) -> None:
    """Describe audio files by songscope's own measured descriptors (the audio feature set: tempo, key,
    loudness in LUFS, spectral shape, timbre...): one row per song, a rejected row with its reason per
    file that cannot be described."""
    from songscope import service

    with friendly_errors(), progress_line(not as_json) as say:
        outcome = service.analyze(sources, output, workers=workers, progress=say)
    if as_json:
        print_json(outcome.to_dict())
        return
    out.print(f"described {outcome.songs:,} of {outcome.files:,} files in {outcome.seconds:.1f} s: {outcome.output}", highlight=False)
    if outcome.rejected:
        out.print(f"rejected {len(outcome.rejected):,} (reasons in {outcome.rejected_output}):", highlight=False)
        for _, reason in outcome.rejected[:10]:
            out.print(f"  {reason}", highlight=False)


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
    features: Annotated[str, typer.Option("--features", help=f"With files: the feature set they are described by ({', '.join(schema.FEATURE_SETS)}); "
                                          "the stored catalogue's is its ingests'.")] = "spotify",
) -> None:
    """Profile the catalogue: per-feature statistics, artist bias, outliers, histograms and correlations."""
    from songscope import service

    with friendly_errors():
        settings = settings_from(db, lake, s3_endpoint, spark_master=spark_master)
        with open_store(settings) as store, progress_line() as say:
            outcome = service.profile(store, sources, out_dir=out_dir, backend=engine, features=features, progress=say)
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

    with friendly_errors(), progress_line() as say:
        outcome = service.synth(rows, output, seed=seed, progress=say)
    out.print(f"wrote {outcome.rows:,} synthetic songs to {outcome.path}", highlight=False)


@app.command()
def status(db: DbOption = None, lake: LakeOption = None, s3_endpoint: S3Option = None, as_json: JsonOption = False) -> None:
    """Show what the stores hold: tracks, sources, rejected rows, the catalogue in the database and in the lake, the runs."""
    from songscope import service

    with friendly_errors(), open_store(settings_from(db, lake, s3_endpoint)) as store:
        found = service.status(store)
    if as_json:
        print_json(found)
        return
    print_status(found)


@app.command()
def sweep(db: DbOption = None, lake: LakeOption = None, s3_endpoint: S3Option = None, as_json: JsonOption = False) -> None:
    """Remove lake files that no committed ingest or assign pass lists: what one that died left behind (the next ingest also does this)."""
    from songscope import service

    with friendly_errors(), open_store(settings_from(db, lake, s3_endpoint)) as store:
        outcome = service.sweep(store)
    if as_json:
        print_json(outcome)
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
    features: FeaturesOption = None,
) -> None:
    """The end-to-end job: ingest and clean the sources, store them, profile and cluster the catalogue, write the HTML report; prints where everything went.

    Example: songscope run data/big/*.parquet --engine spark --spark-master spark://head:7077
    """
    from songscope import service
    from songscope.seed import seed_paths

    with friendly_errors():
        settings = settings_from(db, lake, s3_endpoint, spark_master=spark_master)
        with open_store(settings) as store, progress_line() as say:
            outcome = service.run(store, sources or seed_paths(), out_dir=out_dir, k=k, backend=engine, features=features, progress=say)
    print_run(outcome, settings)
