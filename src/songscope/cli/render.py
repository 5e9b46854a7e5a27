"""The tables and lines the commands print (``--json`` prints the result's ``to_dict()`` instead)."""

from __future__ import annotations

from rich.table import Table

from songscope.cli.common import out
from songscope.config import Settings, redact


def print_ingest(outcome, settings: Settings) -> None:
    report = outcome.report
    table = Table(title=f"ingest {outcome.run_id} ({outcome.backend} backend)", show_header=True, header_style="bold")
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
        print_assigned(outcome.assigned)
    if outcome.first_rejected:
        first = outcome.first_rejected
        out.print(f"first rejected row: {first['source']}:{first['line']}: {first['reason']}", highlight=False)
    for source in outcome.cleaned.data.sources:
        for description, note in source.notes.items():
            out.print(f"note: {source.uri}: {description}: {note['count']:,} value{'s' * (note['count'] != 1)} "
                      f"(first at line {note['first_line']}: {note['first_value']!r})", highlight=False, soft_wrap=True)


def print_status(found) -> None:
    out.print(f"database: {found.database} (schema v{found.schema_version})", highlight=False)
    for name, count in found.counts.items():
        out.print(f"  {name}: {count:,}")
    health = found.catalogue
    verdict = "in step" if health.in_step else "NOT in step: see below"
    out.print(f"catalogue: {health.database_tracks:,} tracks in the database, {health.lake_tracks:,} in the lake "
              f"({health.files:,} files in {found.lake}): {verdict}; songs described by the {found.feature_set} feature set", highlight=False)
    for key in health.missing_files:
        out.print(f"  missing from the lake: {key}", highlight=False)
    if health.leftovers:
        out.print(f"  {len(health.leftovers):,} lake files no committed ingest lists (a running ingest's, or a dead one's: "
                  f"`songscope sweep` removes the latter)", highlight=False)
    for run in found.ingests.itertuples():
        out.print(f"  ingest {run.run_id}: read {run.rows_read:,}, rejected {run.rows_rejected:,}, clean {run.rows_clean:,}, added {run.tracks_added:,} "
                  f"({run.feature_set} features)")
    for run in found.runs.iloc[::-1].itertuples():
        out.print(f"  clustering {run.run_id}: {run.engine} {run.algorithm}, k = {run.k}, {run.songs:,} songs, silhouette {run.silhouette:.3f}", highlight=False)


def print_audio_ingest(outcome, settings: Settings) -> None:
    """An ingest of audio files: what was found, skipped, described and rejected, batch by batch."""
    analysed = outcome.rows_read
    out.print(f"{outcome.files_found:,} audio files: {outcome.files_unchanged:,} unchanged since described, {analysed:,} analysed "
              f"({outcome.backend} backend) in {len(outcome.batches):,} batch{'es' * (len(outcome.batches) != 1)}", highlight=False)
    for batch in outcome.batches:
        timings = ", ".join(f"{k} {v:.1f} s" for k, v in batch.timings.items())
        out.print(f"  ingest {batch.run_id}: {batch.rows_read:,} files, {batch.rows_valid:,} described, {batch.rows_rejected:,} rejected, "
                  f"{batch.record.tracks_added:,} songs added ({timings})", highlight=False)
    rejected = outcome.rejected()
    if rejected:
        out.print(f"rejected {len(rejected):,} file{'s' * (len(rejected) != 1)} (kept with their reasons: songscope status):", highlight=False)
        for _, reason in rejected[:10]:
            out.print(f"  {reason}", highlight=False)
    if outcome.pruned is not None:
        out.print(f"removed {outcome.pruned.removed:,} songs whose files are gone ({len(outcome.gone):,} files); "
                  f"catalogue now {outcome.pruned.catalogue_rows:,} songs", highlight=False)
    elif outcome.gone:
        out.print(f"{len(outcome.gone):,} files described before are gone; their songs stay until `songscope ingest ... --prune`",
                  highlight=False)
    if outcome.catalogue_rows is not None and outcome.pruned is None:
        out.print(f"songs added: {outcome.tracks_added:,}; catalogue now {outcome.catalogue_rows:,} songs", highlight=False)
    out.print(f"database: {redact(settings.db_url)}; lake: {settings.lake_url}", highlight=False)
    if outcome.assigned is not None:
        print_assigned(outcome.assigned)


def print_any_ingest(outcome, settings: Settings) -> None:
    """A table's ingest, or audio files' (`service.AudioIngestOutcome`)."""
    if hasattr(outcome, "batches"):
        print_audio_ingest(outcome, settings)
    else:
        print_ingest(outcome, settings)


def print_run(outcome, settings) -> None:
    print_any_ingest(outcome.ingest, settings)
    out.print(f"profile: {outcome.profile_paths['html'].resolve()}", highlight=False)
    if outcome.clustering is not None:
        r = outcome.clustering.run
        sample = r.metrics.get("sample_n")
        on_sample = f" (on a sample of {int(sample):,}; SSE, Calinski-Harabasz and Davies-Bouldin exact over {r.n_tracks:,})" if sample and sample < r.n_tracks else ""
        out.print(f"clustering run {r.run_id} ({r.engine} backend): k-means, k = {r.k}, silhouette {r.metrics['silhouette']:.3f}{on_sample}; clusters:",
                  highlight=False)
        for row in r.clusters.itertuples():
            out.print(f"  {row.cluster}: {row.size:,} songs, {row.description} (stability {row.jaccard:.2f}); {row.top_artists}", highlight=False)
        out.print(f"compare runs with `songscope compare {r.run_id} OTHER_RUN`; choose k with `songscope evaluate --k 2..60`", highlight=False)
    if outcome.report:
        out.print(f"report: {outcome.report.path.resolve()} (also {outcome.report.lake_uri})", highlight=False, soft_wrap=True)
    total = sum(outcome.timings.values())
    out.print(f"done in {total:.1f} s ({', '.join(f'{k} {v:.1f} s' for k, v in outcome.timings.items())})")
    if not hasattr(outcome.ingest, "batches"):
        out.print("your own music: pip install -e '.[audio]', then songscope ingest ~/Music (the files analysed into the audio "
                  "feature set: tempo, key, loudness in LUFS, timbre)", highlight=False, soft_wrap=True)


def print_cluster(outcome, settings) -> None:
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


def print_evaluation(found) -> None:
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
    out.print(f"\nrecommended: kmeans, k = {sweep.recommended_k}", style="bold")
    out.print(text, highlight=False)
    notes = Table(title="algorithms for this data", header_style="bold", show_lines=True)
    for column in ALGORITHM_NOTES.columns:
        notes.add_column(column)
    for row in ALGORITHM_NOTES.itertuples(index=False):
        notes.add_row(*row)
    out.print(notes)


def print_songs(rows: list[tuple[int, str, str]]) -> None:
    """Songs in order, as a table of (rank, "artist - title", why)."""
    table = Table(header_style="bold")
    for column in ("#", "song", "why"):
        table.add_column(column, justify="right" if column == "#" else "left")
    for rank, song, why in rows:
        table.add_row(str(rank), song, why)
    out.print(table)


def print_recommendations(outcome) -> None:
    result, request_id = outcome.result, outcome.request_id
    out.print(f"for: {'; '.join(result.seeds)}" + (f" (not: {'; '.join(result.dislikes)})" if result.dislikes else ""), highlight=False)
    print_songs([(item.rank, f"{item.shown_artists} - {item.track_name}", item.reason()) for item in result.items])
    for note in result.notes:
        out.print(note, highlight=False)
    out.print(f"stored as request {request_id}", highlight=False)


def print_assigned(outcome) -> None:
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


def print_offline_evaluation(report) -> None:
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
