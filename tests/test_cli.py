"""The command line, through typer's runner and as the installed console script."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from songscope.cli import app
from tests.test_bad_inputs import GOOD, HEADER, row

runner = CliRunner(env={"COLUMNS": "240", "NO_COLOR": "1"})  # wide: no wrapped words


def invoke(*args: str, cwd: Path | None = None):
    old = os.getcwd()
    if cwd:
        os.chdir(cwd)
    try:
        return runner.invoke(app, list(args))
    finally:
        os.chdir(old)


def test_help_explains_every_command():
    result = invoke("--help")
    assert result.exit_code == 0
    for command in ("ingest", "profile", "synth", "status", "run"):
        assert command in result.output
    ingest_help = invoke("ingest", "--help").output
    assert "SONGSCOPE_DB_URL" in ingest_help and "--outlier-rule" in ingest_help


def test_ingest_prints_counts_and_json(tmp_path, seed_files):
    db = f"sqlite:///{tmp_path / 's.db'}"
    result = invoke("ingest", *seed_files, "--db", db, "--lake", str(tmp_path / "lake"))
    assert result.exit_code == 0, result.output
    assert "20,301 -> 15,820 -> 15,779 -> 15,626" in result.output
    assert "609" in result.output
    again = invoke("ingest", *seed_files, "--db", db, "--lake", str(tmp_path / "lake"), "--json")
    summary = json.loads(again.output)
    assert summary["tracks_added"] == 0 and summary["tracks_already_known"] == 15_626
    status = json.loads(invoke("status", "--db", db, "--json").output)
    assert status["counts"]["tracks"] == 15_626 and len(status["runs"]) == 2


def test_bad_input_exits_2_with_one_line_and_no_traceback(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    result = invoke("ingest", str(empty), "--db", f"sqlite:///{tmp_path / 's.db'}", "--lake", str(tmp_path / "lake"))
    assert result.exit_code == 2
    assert "error:" in result.output and "empty" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "lake").exists()  # nothing half-written
    bad_rule = invoke("ingest", str(empty), "--outlier-rule", "tempo is slow")
    assert bad_rule.exit_code == 2 and "COLUMN OP NUMBER" in bad_rule.output


def test_rejected_rows_are_reported(tmp_path):
    path = tmp_path / "some_bad.csv"
    path.write_text("\n".join([HEADER, *GOOD, row("bad", energy=7)]) + "\n", encoding="utf-8")
    result = invoke("ingest", str(path), "--db", f"sqlite:///{tmp_path / 's.db'}", "--lake", str(tmp_path / "lake"))
    assert result.exit_code == 0, result.output
    assert "some_bad.csv:5: energy: out of range [0, 1]: 7" in result.output.replace("\n", "")


def test_profile_of_files_writes_pages(tmp_path, seed_files):
    result = invoke("profile", *seed_files, "--out", str(tmp_path / "p"))
    assert result.exit_code == 0, result.output
    html = (tmp_path / "p" / "profile.html").read_text()
    assert "Ludwig van Beethoven" in html and "data:image/png;base64" in html
    assert (tmp_path / "p" / "histograms.png").stat().st_size > 10_000


def test_profile_without_catalogue_says_what_to_do(tmp_path):
    result = invoke("profile", "--lake", str(tmp_path / "empty-lake"), "--db", f"sqlite:///{tmp_path / 's.db'}")
    assert result.exit_code == 2
    assert "songscope ingest" in result.output


def test_synth_writes_parquet(tmp_path):
    out = tmp_path / "s.parquet"
    result = invoke("synth", "--rows", "500", "--out", str(out), "--seed", "3")
    assert result.exit_code == 0, result.output
    frame = pd.read_parquet(out)
    assert len(frame) == 500 and frame["track_id"].is_unique


def test_demo_entry_command_in_a_temp_directory(tmp_path):
    """`make demo` runs `songscope run` with the embedded defaults: check it as the console script."""
    script = Path(sys.executable).parent / "songscope"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SONGSCOPE_")}
    done = subprocess.run([str(script), "run"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "songscope.db").stat().st_size > 1_000_000
    assert len(list((tmp_path / "lake" / "catalogue").glob("*/part-*.parquet"))) == 1
    assert (tmp_path / "reports" / "profile" / "profile.html").exists()
    assert "15,626" in done.stdout and "profile:" in done.stdout
    assert "clustering run" in done.stdout and "stability" in done.stdout
    assert list((tmp_path / "lake" / "runs").iterdir())  # the clustering run's assignments
    report = tmp_path / "reports" / "report.html"
    assert f"report: {report}" in done.stdout and report.stat().st_size > 1_000_000
    assert list((tmp_path / "lake" / "reports").iterdir())
    # The evidence the second process computed: the design's gap statistic (B = 10) and the
    # algorithms compared at the run's k.
    text = report.read_text(encoding="utf-8")
    assert "with B = 10 uniform references" in text and "The algorithms side by side at k = 8" in text


@pytest.mark.postgres
def test_cli_against_postgres(postgres_url, tmp_path, seed_files):
    result = invoke("ingest", seed_files[2], "--db", postgres_url, "--lake", str(tmp_path / "lake"))
    assert result.exit_code == 0, result.output
    assert "postgresql+psycopg://postgres@127.0.0.1:5432/" in result.output


def test_a_spark_that_cannot_start_is_one_clear_line(tmp_path, seed_files, monkeypatch):
    """No Java (or no master at the URL): one line naming the fix, not a JVM stack."""
    from songscope.engines import spark as spark_engine

    class Refusing:
        def __getattr__(self, name):
            return lambda *args, **kwargs: self

        def getOrCreate(self):
            raise RuntimeError("[JAVA_GATEWAY_EXITED] Java gateway process exited before sending its port number.")

    pyspark_sql = pytest.importorskip("pyspark.sql")
    monkeypatch.setattr(pyspark_sql.SparkSession, "builder", Refusing())
    monkeypatch.setattr(spark_engine, "_sessions", {})
    result = CliRunner().invoke(app, ["ingest", *seed_files, "--engine", "spark", "--spark-master", "local[1]",
                                      "--db", f"sqlite:///{tmp_path / 's.db'}", "--lake", str(tmp_path / "lake")])
    assert result.exit_code == 2
    assert "Spark could not start on local[1]: [JAVA_GATEWAY_EXITED]" in result.output and "Java 17" in result.output
    assert "Traceback" not in result.output
