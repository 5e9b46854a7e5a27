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


def test_ingest_names_the_feature_set_and_status_shows_it(tmp_path, seed_files):
    db, lake = f"sqlite:///{tmp_path / 's.db'}", str(tmp_path / "lake")
    assert "--features" in invoke("ingest", "--help").output and "spotify" in invoke("ingest", "--help").output
    unknown = invoke("ingest", seed_files[0], "--features", "nothing-like-it", "--db", db, "--lake", lake)
    assert unknown.exit_code == 2 and "unknown feature set 'nothing-like-it'" in unknown.output and "Traceback" not in unknown.output
    assert not (tmp_path / "lake").exists()  # refused before any work
    assert invoke("ingest", seed_files[0], "--features", "spotify", "--db", db, "--lake", lake).exit_code == 0
    shown = invoke("status", "--db", db, "--lake", lake)
    assert "songs described by the spotify feature set" in shown.output and "(spotify features)" in shown.output
    assert json.loads(invoke("status", "--db", db, "--lake", lake, "--json").output)["feature_set"] == "spotify"


def test_bad_input_exits_2_with_one_line_and_no_traceback(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    result = invoke("ingest", str(empty), "--db", f"sqlite:///{tmp_path / 's.db'}", "--lake", str(tmp_path / "lake"))
    assert result.exit_code == 2
    assert "error:" in result.output and "empty" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "lake").exists()  # nothing half-written
    bad_rule = invoke("ingest", str(empty), "--outlier-rule", "tempo is slow")
    assert bad_rule.exit_code == 2 and "COLUMN OP NUMBER" in bad_rule.output


def test_only_a_user_error_is_dressed_as_one_line(tmp_path, monkeypatch):
    """The one error edge: a `UserError` is one line and exit 2; any other exception, a ValueError
    from numpy or pandas included, is a bug and shows as one (its traceback, not a tidy line)."""
    from songscope import service
    from songscope.errors import UserError

    where = ["--db", f"sqlite:///{tmp_path / 's.db'}", "--lake", str(tmp_path / "lake")]

    def fails_with(exc):
        def status(store):
            raise exc
        return status

    monkeypatch.setattr(service, "status", fails_with(UserError("the lake is gone: check --lake")))
    told = invoke("status", *where)
    assert told.exit_code == 2 and "error: the lake is gone: check --lake" in told.output and "Traceback" not in told.output
    monkeypatch.setattr(service, "status", fails_with(ValueError("operands could not be broadcast together")))
    bug = invoke("status", *where)
    assert bug.exit_code == 1 and isinstance(bug.exception, ValueError) and not isinstance(bug.exception, UserError)
    assert "error: operands" not in bug.output


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
    assert "pip install -e '.[audio]', then songscope ingest ~/Music" in done.stdout  # the tour names the audio extra
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
    from songscope.backends.spark import session as spark_session_module

    class Refusing:
        def __getattr__(self, name):
            return lambda *args, **kwargs: self

        def getOrCreate(self):
            raise RuntimeError("[JAVA_GATEWAY_EXITED] Java gateway process exited before sending its port number.")

    pyspark_sql = pytest.importorskip("pyspark.sql")
    monkeypatch.setattr(pyspark_sql.SparkSession, "builder", Refusing())
    monkeypatch.setattr(spark_session_module, "_sessions", {})
    result = CliRunner().invoke(app, ["ingest", *seed_files, "--engine", "spark", "--spark-master", "local[1]",
                                      "--db", f"sqlite:///{tmp_path / 's.db'}", "--lake", str(tmp_path / "lake")])
    assert result.exit_code == 2
    assert "Spark could not start on local[1]: [JAVA_GATEWAY_EXITED]" in result.output and "Java 17" in result.output
    assert "Traceback" not in result.output


def _one_error_line(result) -> str:
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 2 and "Traceback" not in result.output, result.output
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    return lines[0]


def test_an_ingest_where_no_row_is_usable_fails_with_one_line(tmp_path):
    path = tmp_path / "nothing.csv"
    path.write_text("\n".join([HEADER, row("a", energy="high"), row("b", key="Q")]) + "\n")
    result = invoke("ingest", str(path), "--db", f"sqlite:///{tmp_path / 's.db'}", "--lake", str(tmp_path / "lake"))
    line = _one_error_line(result)
    assert "no row was usable: all 2 rows read were rejected" in line and f"{path}:2: energy: not a number" in line
    status = json.loads(invoke("status", "--db", f"sqlite:///{tmp_path / 's.db'}", "--json").output)
    assert status["counts"]["tracks"] == 0 and status["runs"] == []  # nothing stored


def test_spelled_codes_are_noted_on_the_command_line(tmp_path):
    from tests.test_bad_inputs import spotify_features_layout

    path = tmp_path / "SpotifyFeatures.csv"
    path.write_bytes(spotify_features_layout([("C#", "Major", "4-Apr", "50"), ("A", "Minor", "3/4", "x")]))
    result = invoke("ingest", str(path), "--db", f"sqlite:///{tmp_path / 's.db'}", "--lake", str(tmp_path / "lake"))
    assert result.exit_code == 0, result.output
    assert "key: note names read as pitch classes (C=0, C#/Db=1, ..., B=11): 2 values (first at line 2: 'C#')" in result.output
    assert "popularity: not a number, set missing (the row kept): 1 value (first at line 3: 'x')" in result.output
    assert "tracks added: 2" in result.output


@pytest.mark.parametrize("args, fragment", [
    (["--delimiter", ""], "--delimiter must be one character"),
    (["--db", "foo://x/y"], "foo://x/y is not a database URL songscope can use"),
    (["--db", "not a url at all"], "is not a database URL songscope can use"),
])
def test_bad_options_are_one_clear_line(tmp_path, seed_files, args, fragment):
    options = {"--db": f"sqlite:///{tmp_path / 's.db'}", "--lake": str(tmp_path / "lake")}
    options.update(dict(zip(args[::2], args[1::2])))
    result = invoke("ingest", seed_files[2], *[x for pair in options.items() for x in pair])
    assert fragment in _one_error_line(result)


def test_a_password_with_a_slash_is_never_printed(postgres_url):
    # Trust authentication ignores the password, so the command reaches the database and prints its URL.
    url = postgres_url.replace("postgres@", "postgres:pa/ss:w0rd@", 1)
    for args in (["status", "--db", url], ["status", "--db", url, "--json"], ["status", "--db", url.replace("127.0.0.1", "127.0.0.1:1")]):
        result = invoke(*args)
        assert "pa/ss" not in result.output and "w0rd" not in result.output, result.output
        assert "Traceback" not in result.output


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_a_nul_in_a_name_is_rejected_alike_on_every_store(kind, request, tmp_path):
    from tests.test_bad_inputs import ROW_LEVEL

    url = request.getfixturevalue({"sqlite": "sqlite_url", "postgresql": "postgres_url"}[kind])
    path = tmp_path / "nul.csv"
    path.write_bytes(ROW_LEVEL["nul_in_text.csv"][0])
    result = invoke("ingest", str(path), "--db", url, "--lake", str(tmp_path / "lake"), "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    # 1,000 padding rows of one song (near duplicates: one kept) and the three good songs
    assert summary["rows_rejected"] == 2 and summary["tracks_added"] == 4
