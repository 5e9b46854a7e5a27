"""Clustering runs end to end: persisted on every database, compared, driven from the CLI."""

from __future__ import annotations

import json
import shutil

import pytest
from typer.testing import CliRunner

from songscope import pipeline
from songscope.cli import app
from songscope.compare import compare_runs
from songscope.store import db

runner = CliRunner(env={"COLUMNS": "240", "NO_COLOR": "1"})


@pytest.fixture
def catalogue_settings(seed_catalogue, tmp_path):
    """A private copy of the seed catalogue's lake, with a fresh SQLite database."""
    from dataclasses import replace

    shutil.copytree(seed_catalogue.lake_url, tmp_path / "lake")
    return replace(seed_catalogue, db_url=f"sqlite:///{tmp_path / 'runs.db'}", lake_url=str(tmp_path / "lake"))


def test_cluster_run_is_persisted_on_every_database(catalogue_settings, db_url):
    from dataclasses import replace

    settings = replace(catalogue_settings, db_url=db_url)
    outcome = pipeline.cluster_catalogue(settings, k=5, resamples=3)
    engine = db.connect(db_url)
    stored = db.load_cluster_run(engine, outcome.run_id)
    engine.dispose()
    assert stored["run"]["n_clusters"] == 5 and stored["run"]["n_tracks"] == 15_626
    assert len(stored["assignments"]) == 15_626
    assert sorted(stored["assignments"]["cluster"].unique()) == [0, 1, 2, 3, 4]
    assert len(stored["centroids"]) == 5 and stored["centroids"]["description"].str.len().min() > 0
    assert stored["metrics"]["silhouette"] == pytest.approx(outcome.metrics["silhouette"])
    assert json.loads(stored["centroids"]["center"][0]).__len__() == 10
    assert outcome.lake_keys["assignments"].endswith(f"runs/{outcome.run_id}/assignments.parquet")


def test_compare_two_algorithms(catalogue_settings):
    a = pipeline.cluster_catalogue(catalogue_settings, k=6, resamples=0)
    b = pipeline.cluster_catalogue(catalogue_settings, algorithm="gmm", k=6, resamples=0, params={"covariance_type": "diag"})
    engine = db.connect(catalogue_settings.db_url)
    result = compare_runs(db.load_cluster_run(engine, a.run_id), db.load_cluster_run(engine, b.run_id), pipeline.load_catalogue(catalogue_settings))
    engine.dispose()
    assert list(result.runs["algorithm"]) == ["kmeans", "gmm"]
    assert result.runs.loc[0, "silhouette"] == pytest.approx(a.metrics["silhouette"])
    assert 0 < result.agreement["ari"] < 1
    assert int(result.contingency.to_numpy().sum()) == 15_626
    assert int(result.sizes["A"].sum()) == 15_626


def test_unknown_run_lists_the_known_ones(catalogue_settings):
    pipeline.cluster_catalogue(catalogue_settings, k=3, resamples=0)
    engine = db.connect(catalogue_settings.db_url)
    with pytest.raises(db.DatabaseError, match="recent runs: 2"):
        db.load_cluster_run(engine, "nope")


def test_auto_engine_says_why():
    kind, reason = pipeline.choose_engine("auto", 15_626)
    assert kind == "local" and "15,626" in reason and "crossover" in reason
    kind, _ = pipeline.choose_engine("auto", pipeline.SPARK_MIN_ROWS)
    assert kind == "spark"


def cli(*args):
    return runner.invoke(app, list(args))


def test_cli_cluster_evaluate_compare(catalogue_settings):
    common = ["--db", catalogue_settings.db_url, "--lake", catalogue_settings.lake_url]
    first = cli("cluster", "--k", "5", "--resamples", "3", *common)
    assert first.exit_code == 0, first.output
    assert "silhouette" in first.output and "stable" in first.output and "null model" in first.output
    run_a = first.output.split("run ", 1)[1].split(":", 1)[0]
    second = json.loads(cli("cluster", "--algorithm", "bisecting-kmeans", "--k", "5", "--resamples", "0", "--json", *common).output)
    assert len(second["clusters"]) == 5
    status = json.loads(cli("status", "--db", catalogue_settings.db_url, "--json").output)
    assert {r["run_id"] for r in status["cluster_runs"]} == {run_a, second["run_id"]}
    assert all(0 < r["silhouette"] < 1 for r in status["cluster_runs"])
    compared = cli("compare", run_a, second["run_id"], *common)
    assert compared.exit_code == 0, compared.output
    assert "ARI" in compared.output and "contingency" in compared.output
    sweep = json.loads(cli("evaluate", "--k", "2..6", "--references", "3", "--no-density", "--json", "--lake", catalogue_settings.lake_url).output)
    assert [row["k"] for row in sweep["sweep"]] == [2, 3, 4, 5, 6]
    assert sweep["recommended_k"] in range(2, 7) and "Null-model check" in sweep["rationale"]
    assert {row["algorithm"] for row in sweep["algorithms"]} >= {"kmeans", "hdbscan", "gmm"}
    # The k-taking algorithms compared at the recommended k, on one sample, in one space.
    assert [row["algorithm"] for row in sweep["methods"]][:2] == ["kmeans", "bisecting-kmeans"]
    assert all(row["clusters"] == sweep["recommended_k"] for row in sweep["methods"]) and sweep["methods_sample"] == 4_000
    assert f"At k = {sweep['recommended_k']} on the same 4,000 songs" in sweep["rationale"]


def test_cli_bad_cluster_input_is_a_clear_error(catalogue_settings):
    common = ["--db", catalogue_settings.db_url, "--lake", catalogue_settings.lake_url]
    for args, message in (
        (["cluster", "--algorithm", "spectral"], "choose one of"),
        (["cluster", "--param", "oops"], "NAME=VALUE"),
        (["evaluate", "--k", "1..5"], "k starts at 2"),
        (["evaluate", "--k", "two"], "2..60"),
        (["compare", "a", "b"], "no clustering run"),
    ):
        result = cli(*args, *common) if args[0] != "evaluate" else cli(*args, "--lake", catalogue_settings.lake_url)
        assert result.exit_code == 2, (args, result.output)
        assert message in result.output, (args, result.output)


@pytest.mark.spark
def test_cli_cluster_on_spark_and_compare_with_local(catalogue_settings, spark_local):
    common = ["--db", catalogue_settings.db_url, "--lake", catalogue_settings.lake_url]
    local = json.loads(cli("cluster", "--k", "4", "--resamples", "0", "--json", *common).output)
    spark = cli("cluster", "--engine", "spark", "--spark-master", spark_local, "--k", "4", "--resamples", "0", "--json", *common)
    assert spark.exit_code == 0, spark.output
    spark = json.loads(spark.output)
    assert spark["engine_reason"].startswith("spark")
    result = json.loads(cli("compare", local["run_id"], spark["run_id"], "--json", *common).output)
    assert [r["engine"] for r in result["runs"]] == ["local", "spark"]
    assert 0 <= result["agreement"]["ari"] <= 1
