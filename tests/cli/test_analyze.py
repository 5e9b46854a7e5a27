"""`songscope analyze`: a folder of audio into a table of songs, the broken files listed with reasons."""

from __future__ import annotations

import json
import shutil

import pandas as pd

from songscope.schema import AUDIO
from tests.audio.conftest import RENDERED
from tests.cli.test_commands import _one_error_line, invoke


def test_analyze_writes_songs_and_the_rejected_files(tmp_path):
    music = tmp_path / "Music"
    shutil.copytree(RENDERED, music / "Rendered")
    (music / "Rendered" / "notes.mp3").write_text("not audio")
    out = tmp_path / "songs.parquet"
    result = invoke("analyze", str(music), "--out", str(out), "--workers", "2")
    assert result.exit_code == 0, result.output
    assert "described 6 of 7 files" in result.output and "notes.mp3: not an audio file" in result.output
    songs = pd.read_parquet(out)
    assert len(songs) == 6 and set(AUDIO.names) <= set(songs.columns)
    assert songs["artist_name"].eq("Rendered").all() and songs["track_id"].is_unique
    assert songs["file_path"].map(lambda p: p.startswith(str(music))).all()
    rejected = pd.read_csv(tmp_path / "songs.rejected.csv")
    assert rejected["file"].str.endswith("notes.mp3").tolist() == [True]

    again = invoke("analyze", str(music / "Rendered" / "song0000.opus"), "--out", str(tmp_path / "one.csv"), "--json")
    shown = json.loads(again.output)
    assert again.exit_code == 0 and shown["songs"] == 1 and shown["rejected"] == [] and shown["rejected_output"] is None
    assert pd.read_csv(tmp_path / "one.csv")["tempo"].iloc[0] == songs.set_index("track_name").loc["song0000", "tempo"]


def test_analyze_refuses_what_it_cannot_do_in_one_line(tmp_path):
    assert "no such file or folder" in _one_error_line(invoke("analyze", str(tmp_path / "nowhere"), "--out", str(tmp_path / "s.parquet")))
    assert "use a .csv or .parquet" in _one_error_line(invoke("analyze", str(RENDERED), "--out", str(tmp_path / "s.xlsx")))
    (tmp_path / "empty").mkdir()
    assert "no audio files" in _one_error_line(invoke("analyze", str(tmp_path / "empty"), "--out", str(tmp_path / "s.parquet")))


def test_an_analyzed_table_ingests_with_its_feature_set_named(tmp_path):
    table = tmp_path / "songs.parquet"
    assert invoke("analyze", str(RENDERED), "--out", str(table), "--workers", "1").exit_code == 0
    stores = ["--db", f"sqlite:///{tmp_path / 's.db'}", "--lake", str(tmp_path / "lake")]
    line = _one_error_line(invoke("ingest", str(table), *stores))
    assert "required columns missing: danceability" in line and "pass --features audio" in line
    done = invoke("ingest", str(table), "--features", "audio", *stores)
    assert done.exit_code == 0 and "catalogue now 6 tracks" in done.output, done.output
    shown = json.loads(invoke("status", *stores, "--json").output)
    assert shown["feature_set"] == "audio"


def test_without_the_audio_extra_the_line_names_it_whole(tmp_path, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "librosa" else real(name, *a))
    line = _one_error_line(invoke("analyze", str(RENDERED), "--out", str(tmp_path / "s.parquet")))
    assert "pip install 'songscope[audio]' (librosa missing)" in line  # brackets are not eaten as markup


def test_names_with_brackets_print_as_they_are(tmp_path):
    folder = tmp_path / "[2020] Live" / "[bold]Band"
    folder.mkdir(parents=True)
    shutil.copy(RENDERED / "song0000.opus", folder / "01 [live].opus")
    (folder / "[notes].mp3").write_text("not audio")
    result = invoke("analyze", str(tmp_path / "[2020] Live"), "--out", str(tmp_path / "[out].parquet"), "--workers", "1")
    assert result.exit_code == 0, result.output
    assert f"{tmp_path / '[out].parquet'}" in result.output and "[bold]Band/[notes].mp3: not an audio file" in result.output


def test_one_ingest_reads_one_kind_of_source(tmp_path):
    table = tmp_path / "songs.csv"
    table.write_text("artist_name,track_name\n")
    stores = ["--db", f"sqlite:///{tmp_path / 's.db'}", "--lake", str(tmp_path / "lake")]
    line = _one_error_line(invoke("ingest", str(RENDERED / "song0000.opus"), str(table), *stores))
    assert "these sources mix audio files and tables: ingest them in two commands" in line
    assert not (tmp_path / "lake").exists()  # refused before anything was written
