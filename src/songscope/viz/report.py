"""The self-contained HTML report of a clustering run (and optionally a comparison with another).

One file that opens anywhere without a network: Plotly's JavaScript is inlined once and every
figure is interactive. Sections follow the seed project's tasks: the data and its cleaning, the
choice of k and algorithm, the chosen clustering described and tested, the comparison of methods,
and recommendations with their offline evaluation when one was run.
"""

from __future__ import annotations

import html
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from songscope import schema
from songscope.viz import figures as F

Progress = Callable[[str], None]


@dataclass
class Report:
    run_id: str
    compare_run_id: str | None
    html: str
    figures: dict = field(default_factory=dict)  # name -> plotly Figure, in report order
    seconds: float = 0.0
    evidence: Any = None  # the evaluate.select.Evidence it showed for choosing k and the algorithm


def _table(frame: pd.DataFrame, *, left: tuple[str, ...] = (), digits: int = 3) -> str:
    def cell(value: object) -> str:
        if value is None:
            return ""
        if isinstance(value, float):
            if value != value:
                return ""
            if 0 < abs(value) < 10 ** -digits:
                return f"{value:.1e}"
            return f"{value:,.{digits}f}" if abs(value) < 1e5 else f"{value:,.0f}"
        if isinstance(value, (int, np.integer)):
            return f"{int(value):,}"
        return html.escape(str(value))

    head = "".join(f'<th class="{"l" if c in left else ""}">{html.escape(str(c))}</th>' for c in frame.columns)
    rows = "".join(
        "<tr>" + "".join(f'<td class="{"l" if c in left else ""}">{cell(v)}</td>' for c, v in zip(frame.columns, row)) + "</tr>"
        for row in frame.itertuples(index=False)
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


class _Page:
    """Sections of HTML and the figures placed in them, in order."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.figures: dict = {}
        self.sections: list[tuple[str, str]] = []

    def section(self, anchor: str, title: str) -> None:
        self.sections.append((anchor, title))
        self.parts.append(f'<h2 id="{anchor}">{html.escape(title)}</h2>')

    def text(self, markup: str) -> None:
        self.parts.append(markup)

    def figure(self, name: str, fig) -> None:
        import plotly.io as pio

        self.figures[name] = fig
        div = pio.to_html(fig, full_html=False, include_plotlyjs=False, div_id=f"fig-{name}", config={"displaylogo": False, "responsive": True})
        self.parts.append(f'<div class="figure" data-figure="{name}">{div}</div>')

    def insert(self, part_at: int, section_at: int, other: _Page) -> None:
        """Put `other`'s sections, text and figures at these places (figures keep page order)."""
        self.parts[part_at:part_at] = other.parts
        self.sections[section_at:section_at] = other.sections
        merged = {**self.figures, **other.figures}
        where = {name: next(i for i, p in enumerate(self.parts) if f'data-figure="{name}"' in p) for name in merged}
        self.figures = {name: merged[name] for name in sorted(merged, key=where.get)}


@dataclass
class ReportData:
    """Everything a report shows, gathered from the stores and computed, before any HTML."""

    run: Any  # store.runs.ClusterRun
    other: Any | None  # a second run to compare with
    catalogue: pd.DataFrame
    X: np.ndarray  # the catalogue in the run's feature space
    labels: np.ndarray
    ingests: pd.DataFrame
    profile: Any  # profile.Profile of the catalogue
    evidence: Any  # evaluate.select.Evidence (k sweep, density sweep, algorithms compared), or a call that returns it
    points: Any  # viz.figures.Projection: the 2-D map
    comparison: Any | None  # compare.Comparison with `other`
    request: dict | None  # the latest recommendation request ...
    recommended: pd.DataFrame | None  # ... its first ten songs (rank, track_id, score, reason dict, names)
    evaluation: dict | None  # the latest `songscope eval-recs`
    focus: int  # the cluster drawn as a radar
    seed: int = 0
    created: str = ""

    def selection(self):
        """The evidence for k and the algorithm, waiting for it if it is still being computed."""
        if callable(self.evidence):
            self.evidence = self.evidence()
        return self.evidence


def render(data: ReportData, *, progress: Progress | None = None) -> Report:
    """The HTML report of gathered `data`: sections of text, tables and interactive figures."""
    from songscope.evaluate.cluster_profiles import format_p_value
    from songscope.evaluate.stability import verdict

    say = progress or (lambda message: None)
    started = time.perf_counter()
    run, other, catalogue, X, labels, seed = data.run, data.other, data.catalogue, data.X, data.labels, data.seed
    run_id = run.run_id
    compare = other.run_id if other is not None else None
    ingests = data.ingests
    centroids = run.clusters
    descriptions = run.descriptions
    info = {"algorithm": run.algorithm, "engine": run.engine, "n_clusters": run.k}
    points = data.points

    page = _Page()
    created = data.created
    songs = max(run.n_tracks, len(catalogue))
    sampled = len(catalogue) < songs  # a Spark run: its figures come from a fixed-seed sample
    page.text(f"<h1>songscope report: {html.escape(info['algorithm'])} on the {html.escape(info['engine'])} backend, k = {info['n_clusters']}</h1>"
              f'<p class="muted">run {html.escape(run_id)}{" compared with " + html.escape(compare) if compare else ""}; '
              f"{songs:,} songs; generated {created}</p>")
    if sampled:
        page.text(f'<p class="muted">{songs:,} songs are too many to draw one by one: the cluster sizes, SSE, Calinski-Harabasz, '
                  f"Davies-Bouldin and the data tables are exact over every song; the figures, the silhouette, the tests and the "
                  f"stability come from a fixed-seed sample of {len(catalogue):,} songs.</p>")
    nav_at = len(page.parts)

    # ------------------------------------------------------------------ 1. data
    page.section("data", "1. The data: what came in, what was cleaned")
    prof = data.profile
    if len(ingests):
        steps = []
        for row in ingests.itertuples():
            report = json.loads(row.report) if isinstance(row.report, str) else {}
            entry = {"ingest": row.run_id, "rows read": int(row.rows_read), "rejected (kept with reasons)": int(row.rows_rejected)}
            entry |= {f"after {s['name']}": int(s["rows_after"]) for s in report.get("steps", [])}
            entry |= {"outliers flagged": report.get("outliers", ""), "tracks added": int(row.tracks_added)}
            steps.append(entry)
        page.text("<p>Every ingest, with the rows left after each cleaning step (rejected rows are kept in the database with their reason; "
                  "outliers are flagged, never dropped).</p>" + _table(pd.DataFrame(steps), left=("ingest",)))
    page.text(f'<p><span class="kpi"><b>{songs:,}</b>songs</span><span class="kpi"><b>{prof.artist_count:,}</b>artists</span>'
              f'<span class="kpi"><b>{prof.top10_share:.1%}</b>of songs by the 10 largest artists</span>'
              f'<span class="kpi"><b>{int(prof.outliers.iloc[-1]["tracks"]):,}</b>flagged outliers (kept)</span></p>')
    features = schema.feature_set(prof.feature_set)
    page.text(f"<p>The songs are described by the <b>{html.escape(features.name)}</b> feature set: "
              + ", ".join(html.escape(f"{c.name} ({c.unit})" if c.unit else c.name) for c in features.columns) + ".</p>")
    page.figure("histograms", F.feature_histograms(catalogue, features.continuous))
    page.figure("correlations", F.correlation_heatmap(prof.correlations))
    page.figure("top_artists", F.top_artists_bar(prof.top_artists, prof.rows))
    if "popularity" in catalogue and catalogue["popularity"].notna().any():
        page.figure("popularity", F.popularity_histogram(catalogue))

    # ------------------------------------------------------------------ 2. model selection
    # Section 2 is drawn last: its evidence may still be computing in the background worker.
    selection_at = (len(page.parts), len(page.sections))

    # ------------------------------------------------------------------ 3. the clustering
    say("drawing the figures")
    page.section("clusters", f"3. The clustering: {info['n_clusters']} clusters")
    metrics = run.metrics
    shown = {k: metrics.get(k) for k in ("silhouette", "davies_bouldin", "calinski_harabasz", "sse") if metrics.get(k) is not None}
    if metrics.get("noise_share"):
        shown["noise share (songs in no cluster)"] = metrics["noise_share"]
    page.text('<p>' + "".join(f'<span class="kpi"><b>{v:,.3f}</b>{k.replace("_", "-")}</span>' if abs(v) < 1e4 else f'<span class="kpi"><b>{v:,.0f}</b>{k.replace("_", "-")}</span>'
                              for k, v in shown.items()) + "</p>")
    null = run.null_model
    if null:
        structure_words = (
            "more cluster structure than a uniform reference" if null.get("structure")
            else "no more cluster structure than a uniform reference: read the clusters as a partition of a continuum, not as natural groups"
        )
        page.text(f"<p><b>Null model.</b> Gap({info['n_clusters']}) - Gap(1) = {null.get('delta', float('nan')):.3f} "
                  f"+/- {null.get('delta_se', float('nan')):.3f}: {structure_words}.</p>")
    page.figure("cluster_map", F.cluster_map(points, labels, catalogue, descriptions, title=f"Cluster map: {info['n_clusters']} clusters"))
    profile_features = list(run.space["columns"]) + (["popularity"] if catalogue["popularity"].notna().any() else [])
    table = centroids[["cluster", "size", "description", "top_artists", "jaccard"]].copy()
    table["stability"] = ["" if pd.isna(j) else verdict(j) for j in table["jaccard"]]
    page.text("<h3>The clusters in words</h3>" + _table(table.rename(columns={"top_artists": "top artists", "jaccard": "bootstrap Jaccard"}),
                                                     left=("description", "top artists", "stability")))
    page.figure("profiles", F.profile_heatmap(catalogue, labels, profile_features, descriptions))
    chosen = data.focus
    page.figure("radar", F.cluster_radar(catalogue, labels, chosen, profile_features, descriptions.get(chosen, "")))
    page.figure("sizes", F.cluster_sizes(centroids))
    jaccard = centroids.set_index("cluster")["jaccard"].reindex(range(int(centroids["cluster"].max()) + 1)).to_numpy()
    say("silhouettes")
    page.figure("silhouette", F.silhouette_plot(X, labels, jaccard, seed=seed))
    tests = pd.DataFrame(run.feature_tests)
    if len(tests):
        page.text("<h3>Which features separate the clusters</h3><p>Kruskal-Wallis across clusters per feature; epsilon-squared is its effect size "
                  "(0.01 small, 0.08 medium, 0.26 large).</p>" + _table(tests.assign(p_value=tests["p_value"].map(format_p_value)), left=("feature",)))
    stability = run.stability
    if stability.get("seeds"):
        seeds = stability["seeds"]
        page.text(f"<p><b>Agreement across seeds</b> (adjusted Rand index): mean {seeds.get('ari_mean', float('nan')):.3f}, "
                  f"min {seeds.get('ari_min', float('nan')):.3f}; bootstrap per cluster on {stability.get('resamples')} resamples.</p>")
    external = run.external
    if external:
        page.text("<h3>Against the catalogue's labels</h3>" + _table(pd.DataFrame([external])))

    # ------------------------------------------------------------------ 4. comparison
    if other is not None:
        page.section("compare", "4. Comparing the two runs")
        comparison = data.comparison
        page.text(_table(comparison.runs, left=("run", "run_id", "engine", "algorithm")))
        agree = comparison.agreement
        page.text(f"<p>On {agree['songs']:,} common songs: ARI {agree['ari']:.3f}, NMI {agree['nmi']:.3f}; "
                  f"{agree['best_match_share']:.1%} of songs sit in their cluster's best match.</p>")
        other_labels = other.labels_for(catalogue)
        names = (f"A: {run.engine} {run.algorithm}", f"B: {other.engine} {other.algorithm}")
        page.figure("compare_maps", F.comparison_maps(points, labels, other_labels, names))
        page.figure("contingency", F.contingency_heatmap(comparison.contingency, names))
        timing_rows = []
        for name, r in (("A", run), ("B", other)):
            timing_rows.append({"run": name, "engine": r.engine, "algorithm": r.algorithm, "k": r.k, **r.timings})
        page.figure("timings", F.timings_bar(pd.DataFrame(timing_rows)))

    # ------------------------------------------------------------------ 5. recommendations
    if data.request is not None or data.evaluation is not None:
        page.section("recommend", f"{5 if other is not None else 4}. Recommendations")
    if data.request is not None:
        request, shown_recs = data.request, data.recommended
        rows_by_id = pd.Series(np.arange(len(catalogue)), index=catalogue["track_id"])
        recommended = [int(rows_by_id[t]) for t in shown_recs["track_id"] if t in rows_by_id.index]
        seeds = [int(rows_by_id[t]) for t in request.get("favourite_ids", []) if t in rows_by_id.index]
        if not seeds:  # requests stored before ids were: match the "artist - title" names
            named = pd.Series(np.arange(len(catalogue)), index=catalogue["artist_name"].astype(str) + " - " + catalogue["track_name"].astype(str))
            seeds = [int(np.atleast_1d(named[name])[0]) for name in request.get("favourites", []) if name in named.index]
        page.text(f"<p>The latest request: favourites {html.escape('; '.join(request.get('favourites', [])))}.</p>")
        reasons = [r.get("reason", "") for r in shown_recs["reason"]]
        page.text(_table(shown_recs[["rank", "artist_name", "track_name"]].assign(reason=reasons), left=("artist_name", "track_name", "reason")))
        drawn = set(points.rows.tolist())
        extra = {r: _project_one(X, points, r) for r in seeds + recommended if r not in drawn}
        page.figure("recommendation_map", F.recommendation_map(points, labels, seeds, recommended, catalogue, xy_of=extra))
        first = shown_recs["reason"].iloc[0] if len(shown_recs) else None
        if first and first.get("contributions"):
            song = f"{shown_recs['artist_name'].iloc[0]} - {shown_recs['track_name'].iloc[0]}"
            page.figure("contributions", F.contribution_bars(first["contributions"], song, first.get("nearest_seed", "")))
    if data.evaluation is not None:
        evaluation = data.evaluation
        results = pd.DataFrame(evaluation.get("results", []))
        if len(results):
            keep = [c for c in ("metric", "method", "mean", "ci_low", "ci_high", "songscope_minus_this", "queries") if c in results]
            page.text("<h3>Offline evaluation (the latest <code>songscope eval-recs</code>)</h3>" + _table(results[keep], left=("metric", "method"), digits=4))
        ablation = pd.DataFrame(evaluation.get("ablation", []))
        if len(ablation):
            keep = [c for c in ("metric", "step", "mean", "ci_low", "ci_high", "adds", "adds_ci_low", "adds_ci_high") if c in ablation]
            page.text("<h3>Ablation: what each ingredient adds</h3>" + _table(ablation[keep], left=("metric", "step"), digits=4))

    say("the evidence for k and the algorithm")
    page.insert(*selection_at, _selection_section(data.selection()))
    seconds = time.perf_counter() - started
    page.text(f'<p class="muted">Built in {seconds:.1f} s by songscope. Figures are interactive: hover for songs, drag to zoom, double-click to reset.</p>')
    return Report(run_id, compare, _document(page, run_id, nav_at), page.figures, seconds, data.selection())


def _selection_section(evidence) -> _Page:
    """Section 2: the evidence for k and the algorithm (`select.Evidence`)."""
    from songscope.evaluate.select import ALGORITHM_NOTES, rationale

    page = _Page()
    page.section("selection", "2. Choosing k and the algorithm")
    sweep, dense, methods = evidence.sweep, evidence.density, evidence.methods
    page.text(f"<p>{html.escape(rationale(sweep, dense, methods))}</p>")
    page.text(f'<p class="muted">k-means per k on all songs; silhouette on {sweep.sample_sizes["silhouette"]:,} songs, gap statistic on '
              f'{sweep.sample_sizes["gap"]:,} with B = {sweep.sample_sizes["references"]} uniform references (the full sweep: '
              "<code>songscope evaluate --k 2..60</code>).</p>")
    page.figure("k_selection", F.k_selection(sweep))
    if dense is not None:
        page.figure("density", F.density_noise(dense))
    if methods is not None and len(methods):
        page.text(f"<h3>The algorithms side by side at k = {methods.attrs['k']}</h3><p>Each k-taking algorithm fitted to the same "
                  f"fixed-seed sample of {methods.attrs['sample']:,} songs and measured in the same feature space (the density methods, "
                  "which choose their own number of clusters, are in the sweep above).</p>"
                  + _table(methods.rename(columns=lambda c: {"fit_s": "fit (s)", "smallest_share": "smallest cluster (share)"}.get(
                      c, c.replace("ari_vs_", "ARI vs ").replace("_", "-"))), left=("algorithm",)))
        page.figure("methods", F.methods_comparison(methods))
    page.text("<h3>The algorithms on this kind of data</h3>" + _table(ALGORITHM_NOTES, left=tuple(ALGORITHM_NOTES.columns)))
    return page


def _project_one(X: np.ndarray, points, row: int) -> np.ndarray:
    """Where a song outside the drawn sample sits: at its nearest drawn song."""
    nearest = points.rows[int(np.argmin(((X[points.rows] - X[row]) ** 2).sum(axis=1)))]
    return points.xy[int(np.searchsorted(points.rows, nearest))]


def _document(page: _Page, run_id: str, nav_at: int) -> str:
    """The page (templates/report.html.j2): its title and notes, the navigation, then the sections."""
    from plotly.offline import get_plotlyjs

    from songscope.pages import render

    return render("report.html.j2", run_id=run_id, plotly_js=get_plotlyjs(), head=page.parts[:nav_at], sections=page.sections, body=page.parts[nav_at:])
