"""Clustering commands: cluster, evaluate, compare, assign, report, cluster-playlist."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from songscope.cli.common import (
    DbOption,
    JsonOption,
    KeyOption,
    LakeOption,
    ModeOption,
    PcaOption,
    S3Option,
    ScalingOption,
    SparkMasterOption,
    app,
    feature_space,
    friendly_errors,
    k_range,
    open_store,
    out,
    parse_params,
    print_json,
    progress_line,
    settings_from,
    write_playlist,
)
from songscope.cli.render import print_assigned, print_cluster, print_evaluation


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

    with friendly_errors(), open_store(settings_from(db, lake, s3_endpoint)) as store, progress_line() as say:
        written = service.report(store, run_id, output=output, compare_with=compare, projection=projection, ks=range(2, k_max + 1),
                                 density=density, focus=cluster, static=static, progress=say)
    built = written.report
    out.print(f"report: {output.resolve()} ({len(built.html) / 1e6:.1f} MB, {len(built.figures)} figures, {built.seconds:.1f} s); lake: {written.lake_uri}", highlight=False)
    if static is not None:
        out.print(f"static figures: {len(written.static_files)} files in {static.resolve()}", highlight=False)


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

    with friendly_errors():
        settings = settings_from(db, lake, s3_endpoint, seed=seed, spark_master=spark_master)
        space = feature_space(key, mode, scaling, pca)
        with open_store(settings) as store, progress_line(not as_json) as say:
            outcome = service.cluster(store, backend=engine, algorithm=algorithm, k=k, params=parse_params(param), space=space,
                                      resamples=resamples, label=label, progress=say)
    if as_json:
        print_json(outcome)
        return
    print_cluster(outcome, settings)


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

    with friendly_errors():
        ks = k_range(k)
        settings = settings_from(db, lake, s3_endpoint, seed=seed, spark_master=spark_master)
        space = feature_space(key, mode, scaling, pca)
        with open_store(settings) as store, progress_line(not as_json) as say:
            found = service.evaluate(store, ks=ks, references=references, density=density, space=space, backend=engine, progress=say)
    if as_json:
        print_json(found)
        return
    print_evaluation(found)


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

    with friendly_errors(), open_store(settings_from(db, lake, s3_endpoint)) as store:
        result = service.compare(store, run_a, run_b)
    if as_json:
        print_json(result)
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

    with friendly_errors(), open_store(settings_from(db, lake, s3_endpoint, spark_master=spark_master)) as store, progress_line(not as_json) as say:
        outcome = service.assign(store, run, backend=engine, progress=say)
    if as_json:
        print_json(outcome)
        return
    print_assigned(outcome)


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

    with friendly_errors():
        format_of(output, output_format)
        with open_store(settings_from(db, lake, s3_endpoint)) as store:
            playlist = service.cluster_playlist(store, cluster, run, n=n)
        write_playlist(playlist, output, output_format)
