"""Figures and the self-contained HTML report, opened in a real browser (Debian's Chromium)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from songscope.cli import app
from songscope.store import db
from tests.conftest import chromium_page, load_catalogue, unavailable

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _external_references(markup: str) -> list[str]:
    from html.parser import HTMLParser

    found: list[str] = []

    class Finder(HTMLParser):
        def handle_starttag(self, tag, attrs):
            for name, value in attrs:
                if name in ("src", "href") and value and not value.startswith("#"):
                    found.append(f"<{tag} {name}={value}>")

    Finder().feed(markup)
    return found


@pytest.fixture(scope="module")
def report_file(clustered):
    from tests.conftest import run_service

    settings, first, second, folder = clustered
    written = run_service("report", settings, first, compare_with=second, ks=range(2, 9), density=False, output=folder / "out" / "report.html")
    return written.report, written.path, written


def test_report_is_self_contained_and_recorded(report_file, clustered):
    report, path, written = report_file
    settings, first, second, _ = clustered
    text = path.read_text(encoding="utf-8")
    # No network needed: no element loads anything (scripts' own text is not markup, so the
    # parser skips the strings inside the inlined plotly.js).
    assert _external_references(text) == []
    assert text.count('class="figure"') == len(report.figures) >= 15
    for section in ("The data", "Choosing k", "The algorithms side by side at k", "The clustering", "Comparing the two runs", "Recommendations"):
        assert section in text, section
    assert "methods" in report.figures
    assert "trustworthiness" in text and "not to be trusted" in text or "stable" in text
    assert "Bastille" in text  # the recommendation request
    # The run's evidence comes with the run from the database: null model, feature tests, seed agreement.
    assert "Null model." in text and "Which features separate the clusters" in text and "Agreement across seeds" in text
    tests_table = text[text.index("Which features separate the clusters") :]
    tests_table = tests_table[: tests_table.index("</table>")]
    assert "0.000</td>" not in tests_table.replace("epsilon", "")  # p-values never read as zero
    assert "&lt; 1e-300" in tests_table or "e-" in tests_table
    database = db.connect(settings.db_url)
    # The newest request when the report was written: the fixture's (of 12 songs) unless tests of
    # the web app, which share these stores, ran first and recorded theirs.
    requests = db.read_table(database, db.recommendation_requests).sort_values(["created_at", "request_id"])
    written_at = db.read_table(database, db.reports)["created_at"].iloc[0]
    latest = requests[requests["created_at"] <= written_at]["request_id"].iloc[-1]
    asked = db.recommended_songs(requests.set_index("request_id").loc[latest, "items"])
    database.dispose()
    titles = load_catalogue(settings).set_index("track_id")["track_name"]
    first_title, last_title = titles[asked["track_id"].iloc[0]], titles[asked["track_id"].iloc[-1]]
    shown = text[text.index("The latest request") :]
    shown = shown[: shown.index("</table>")]
    assert shown.count("<tr>") == 1 + min(10, len(asked))  # the header and the request's first ten
    assert first_title in shown and (len(asked) <= 10 or last_title not in shown)
    if len(requests) == 1:
        assert len(asked) == 12  # the fixture's request
    assert "Ablation: what each ingredient adds" in text and "+ artist context" in text  # the latest eval-recs
    database = db.connect(settings.db_url)
    stored = db.read_table(database, db.reports)
    database.dispose()
    assert list(stored["run_id"]) == [first] and list(stored["compare_run_id"]) == [second]
    assert json.loads(stored["figures"].iloc[0]) == list(report.figures)
    assert Path(written.lake_uri).read_bytes() == path.read_bytes()


def test_figures_are_deterministic_for_a_fixed_seed(seed_catalogue):
    """Same inputs and seed, same figure data (compared as data, not pixels)."""
    from songscope.cluster.local import LocalAlgorithm
    from songscope.features import FeatureSpace
    from songscope.viz import figures as F

    catalogue = load_catalogue(seed_catalogue)
    X = FeatureSpace().fit_transform(catalogue)
    labels = LocalAlgorithm("kmeans", n_clusters=5, n_init=1).fit(X).labels

    def build():
        points = F.project(X, seed=3, max_points=5_000, trust_sample=500)
        return [
            F.cluster_map(points, labels, catalogue),
            F.silhouette_plot(X, labels, sample=1_000, seed=3),
            F.profile_heatmap(catalogue, labels, ["energy", "loudness", "tempo"]),
            F.feature_histograms(catalogue),
        ], points

    (first, p1), (second, p2) = build(), build()
    assert p1.trustworthiness == p2.trustworthiness and 0.5 < p1.trustworthiness <= 1
    for a, b in zip(first, second):
        assert json.dumps(a.to_plotly_json()["data"], default=str) == json.dumps(b.to_plotly_json()["data"], default=str)
    # A different seed draws a different sample: the comparison above can fail.
    other = F.project(X, seed=4, max_points=5_000, trust_sample=500)
    assert not np.array_equal(other.rows, p1.rows)


def test_many_clusters_label_centres_instead_of_a_legend(seed_catalogue):
    from songscope.cluster.local import LocalAlgorithm
    from songscope.features import FeatureSpace
    from songscope.viz import figures as F

    catalogue = load_catalogue(seed_catalogue)
    X = FeatureSpace().fit_transform(catalogue)
    labels = LocalAlgorithm("kmeans", n_clusters=50, n_init=1).fit(X).labels
    fig = F.cluster_map(F.project(X, trust_sample=300), labels, catalogue)
    assert fig.layout.showlegend is False
    assert sorted(int(a.text) for a in fig.layout.annotations) == list(range(50))
    colours = {t.marker.color for t in fig.data if t.mode == "markers"}
    assert len(colours) == 48  # 50 clusters over the 48-colour palette: only two repeat


def test_report_opens_in_chromium_with_every_figure_rendered(report_file, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    report, path, _ = report_file
    errors: list[str] = []
    with sync_api.sync_playwright() as p:
        browser, page = chromium_page(p, errors)  # nothing outside the file may load
        page.goto(path.as_uri())
        page.wait_for_function(f"document.querySelectorAll('.js-plotly-plot .main-svg').length >= {len(report.figures)}", timeout=60_000)
        rendered = page.evaluate(
            """() => Array.from(document.querySelectorAll('[data-figure]')).map(d => ({
                name: d.dataset.figure,
                marks: d.querySelectorAll('.trace, .point, .bars path, .heatmaplayer image, .gl-canvas, .scatterpolar').length,
                width: d.querySelector('.main-svg') ? d.querySelector('.main-svg').getBoundingClientRect().width : 0,
            }))"""
        )
        page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
        browser.close()
    assert errors == []
    assert [r["name"] for r in rendered] == list(report.figures)
    empty = [r["name"] for r in rendered if r["marks"] == 0 or r["width"] < 300]
    assert empty == []
    assert (tmp_path / "report.png").stat().st_size > 100_000


def test_report_command(clustered, tmp_path):
    settings, first, second, _ = clustered
    runner = CliRunner(env={"COLUMNS": "200", "NO_COLOR": "1"})
    out = tmp_path / "r.html"
    common = ["--db", settings.db_url, "--lake", settings.lake_url]
    result = runner.invoke(app, ["report", first, "-o", str(out), "--k-max", "5", "--no-density", *common])
    assert result.exit_code == 0, result.output
    assert out.stat().st_size > 1_000_000 and "report:" in result.output
    unknown = runner.invoke(app, ["report", "no-such-run", "-o", str(out), *common])
    assert unknown.exit_code == 2 and "no clustering run 'no-such-run'" in unknown.output
    bad = runner.invoke(app, ["report", "--map", "mds", *common])
    assert bad.exit_code == 2 and "choose pca, tsne or umap" in bad.output
    focused = runner.invoke(app, ["report", first, "-o", str(out), "--k-max", "4", "--no-density", "--cluster", "2", *common])
    assert focused.exit_code == 0, focused.output
    assert "Cluster 2:" in out.read_text(encoding="utf-8")
    missing = runner.invoke(app, ["report", first, "-o", str(out), "--cluster", "99", *common])
    assert missing.exit_code == 2 and "cluster 99 is not in run" in missing.output


def test_static_figures_as_png_and_svg(tmp_path):
    if CHROMIUM is None:
        unavailable("Chromium is not installed (kaleido renders static figures with it)")
    import plotly.graph_objects as go

    from songscope.viz.figures import save_static

    figs = {"bars": go.Figure(go.Bar(x=[1, 2, 3], y=[3, 1, 2])), "line": go.Figure(go.Scatter(x=[1, 2], y=[2, 1]))}
    paths = save_static(figs, tmp_path / "static")
    assert sorted(p.name for p in paths) == ["bars.png", "bars.svg", "line.png", "line.svg"]
    for path in paths:
        data = path.read_bytes()
        assert data.startswith(b"\x89PNG") if path.suffix == ".png" else b"<svg" in data[:500]
        assert len(data) > 2_000


def test_static_export_without_a_browser_is_a_clear_error(clustered, tmp_path, monkeypatch):
    import plotly.io

    def no_browser(*args, **kwargs):
        raise OSError("Chrome not found")

    monkeypatch.setattr(plotly.io, "write_images", no_browser)
    settings, first, *_ = clustered
    runner = CliRunner(env={"COLUMNS": "200", "NO_COLOR": "1"})
    out = tmp_path / "r.html"
    result = runner.invoke(app, ["report", first, "-o", str(out), "--k-max", "3", "--no-density", "--static", str(tmp_path / "png"),
                                 "--db", settings.db_url, "--lake", settings.lake_url])
    assert result.exit_code == 2 and "install kaleido and Chromium" in result.output and "the HTML report was written" in result.output
    assert out.stat().st_size > 1_000_000


def test_run_computes_the_reports_evidence_in_a_second_process_with_a_fallback():
    from songscope.evaluate.background import BackgroundEvidence
    from songscope.evaluate.select import selection_evidence

    rng = np.random.default_rng(4)
    X = np.vstack([rng.normal(c * 6, 1.0, (300, 4)) for c in range(3)])
    from threadpoolctl import threadpool_limits

    with threadpool_limits(1):  # one core's worth, as the worker and its fallback compute it: the same figures to the bit
        expected = selection_evidence(X, k=3, ks=range(2, 21), seed=3)

    def same(found) -> bool:
        return (found.sweep.table.equals(expected.sweep.table) and found.density.equals(expected.density)
                and found.methods.drop(columns="fit_s").equals(expected.methods.drop(columns="fit_s")))

    evidence = BackgroundEvidence()
    worker = evidence.process
    assert worker is not None and worker.poll() is None
    evidence.start(X, 3, 3)
    found = evidence.result()
    assert evidence.process is worker  # answered by the worker, not by the fallback
    evidence.close()
    assert evidence.process is None and worker.poll() is not None
    assert same(found) and found.sweep.recommended_k == 3

    # The worker dies before answering: the evidence is computed here instead, the same.
    evidence = BackgroundEvidence()
    evidence.process.kill()
    evidence.process.wait()
    evidence.start(X, 3, 3)
    assert same(evidence.result())
    assert evidence.process is None
    evidence.close()

    # A run that fails before it needs the evidence stops the worker at once.
    evidence = BackgroundEvidence()
    worker = evidence.process
    evidence.close()
    assert worker.poll() is not None


def test_evidence_worker_runs_from_a_script_without_a_main_guard(tmp_path):
    import subprocess
    import sys

    script = tmp_path / "unguarded.py"
    script.write_text(
        "import numpy as np\n"
        "from songscope.evaluate.background import BackgroundEvidence\n"
        "evidence = BackgroundEvidence()\n"
        "worker = evidence.process\n"
        "evidence.start(np.random.default_rng(0).normal(size=(400, 3)), 3, 0)\n"
        "found = evidence.result()\n"
        "print('worker' if evidence.process is worker else 'fallback', len(found.methods))\n"
        "evidence.close()\n"
    )
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["worker", "5"]
    assert "Traceback" not in done.stderr


def test_the_report_is_gathered_then_rendered_from_data_alone(clustered):
    from songscope.service.report import gather_report as gather
    from songscope.store.runs import ClusterRun
    from songscope.store.store import Store
    from songscope.viz.report import render

    settings, first, second, _ = clustered
    with Store(settings) as store:
        data = gather(store, ClusterRun.load(store, first), other=ClusterRun.load(store, second), ks=range(2, 5), density=False)
    assert data.evidence.sweep.table["k"].tolist() == [2, 3, 4] and data.comparison is not None and data.request is not None
    report = render(data)  # no store: what it draws is what was gathered
    assert report.run_id == first and report.compare_run_id == second
    assert {"k_selection", "cluster_map", "compare_maps", "recommendation_map"} <= set(report.figures)
    assert render(data).figures.keys() == report.figures.keys()
