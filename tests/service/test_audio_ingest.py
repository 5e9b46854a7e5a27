"""A folder of audio becomes a catalogue with one command: analysed, validated and stored as any
source's songs, the broken files rejected rows with reasons, a second run analysing only what
changed, a killed run losing nothing committed; then every stage works on it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
import sqlalchemy as sa

from songscope import schema, service
from songscope.recommend.recommender import NAME_REASON, RecommendOptions
from songscope.store import audio_files, db
from songscope.store.catalogue import health
from songscope.store.store import Store
from tests.audio.conftest import RENDERED

SONGSCOPE = [sys.executable, "-m", "songscope.cli"]


@pytest.fixture
def library(tmp_path):
    """The six rendered songs under Artist/Album, and two files that are not songs."""
    root = tmp_path / "Music"
    album = root / "The Renderers" / "Ground Truth"
    album.mkdir(parents=True)
    for i, song in enumerate(sorted(RENDERED.glob("*.opus")), start=1):
        shutil.copy(song, album / f"{i:02d} {song.stem}.opus")
    (root / "readme.mp3").write_text("not audio")
    (root / "empty.flac").write_bytes(b"")
    return root


def test_a_folder_becomes_a_catalogue_and_a_second_run_reads_only_what_changed(library, settings_factory):
    settings = settings_factory()
    with Store(settings) as store:
        first = service.ingest(store, [str(library)], workers=2)
        assert isinstance(first, service.AudioIngestOutcome)
        assert (first.files_found, first.files_unchanged, first.tracks_added, first.catalogue_rows) == (8, 0, 6, 6)
        reasons = dict(first.rejected())
        assert "not an audio file" in reasons[str(library / "readme.mp3")] and "empty (0 bytes)" in reasons[str(library / "empty.flac")]
        catalogue = store.catalogue()
        assert set(schema.AUDIO.names) <= set(catalogue.columns) and catalogue[list(schema.AUDIO.names)].notna().all().all()
        assert set(catalogue["artist_name"]) == {"The Renderers"} and catalogue["danceability"].isna().all()
        assert set(catalogue["album"]) == {"Ground Truth"}
        stored_rejected = db.read_table(store.db, db.rejected_rows)
        assert len(stored_rejected) == 2 and stored_rejected["reason"].str.contains("empty|not an audio file").all()
        assert set(db.read_table(store.db, db.ingest_runs)["feature_set"]) == {"audio"}
        assert service.status(store).feature_set == "audio"
        opening = catalogue.sort_values("track_name").iloc[0]
        assert audio_files.of_track(store.db, opening["track_id"]).endswith(".opus")
        assert health(store).in_step

        again = service.ingest(store, [str(library)])
        assert (again.files_unchanged, again.rows_read, len(again.batches)) == (8, 0, 0)  # nothing analysed, nothing written
        changed = library / "The Renderers" / "Ground Truth" / "02 song0004.opus"
        os.utime(changed, ns=(changed.stat().st_atime_ns, changed.stat().st_mtime_ns + 10**9))
        third = service.ingest(store, [str(library)])
        assert (third.files_unchanged, third.rows_read, third.tracks_added) == (7, 1, 0)  # same sound: the same song, already known
        assert len(store.catalogue()) == 6
        with store.db.connect() as conn:
            assert conn.execute(sa.select(sa.func.count()).select_from(db.track_files)).scalar() == 8


def test_the_catalogue_clusters_recommends_and_reports_in_its_own_words(library, settings_factory, tmp_path):
    settings = settings_factory()
    with Store(settings) as store:
        service.ingest(store, [str(library)])
        run = service.cluster(store, k=2, resamples=3).run
        assert run.space["features"] == "audio" and set(run.labels_of(store, store.catalogue()["track_id"].tolist())) <= {0, 1}
        audio_words = {w for c in schema.AUDIO.columns for w in (c.high, c.low) if w}
        described = " ".join(run.descriptions.values())
        assert any(word in described for word in audio_words) and "danceable" not in described, run.descriptions
        first = store.catalogue().sort_values("track_name")["track_id"].iloc[0]
        found = service.recommend(store, [first], options=RecommendOptions(n=3, per_artist=3))
        assert found.result.items and all(item.track_id != first for item in found.result.items)
        for item in found.result.items:  # reasons name the set's features in their own names
            assert all(name in schema.AUDIO.names or name.startswith(("key_", "mode")) or name == NAME_REASON for name in item.similar_in), item.similar_in
        # A playlist a player opens as it is: the files, relative to where it is written, with their lengths.
        lists = library / "Playlists"
        text = service.recommendation_playlist(store, found).render("m3u", base=lists)
        entries = [line for line in text.splitlines() if not line.startswith("#")]
        assert len(entries) == len(found.result.items) and all(e.startswith("../The Renderers/Ground Truth/") for e in entries)
        assert all((lists / e).resolve().is_file() for e in entries)
        assert all(line.startswith("#EXTINF:15,The Renderers - ") for line in text.splitlines() if line.startswith("#EXTINF"))
        cluster_list = service.cluster_playlist(store, 0, run.run_id, n=3).render("jspf")
        assert '"location": [\n' in cluster_list and "file:///" in cluster_list
        written = service.report(store, run.run_id, output=tmp_path / "report.html", ks=range(2, 4), density=True)
        assert "audio" in written.report.html and "LUFS" in written.report.html
        swept = service.evaluate(store, ks=[2, 3], references=2, density=False).evidence
        assert [row["k"] for row in swept.to_dict()["sweep"]] == [2, 3]
        ids = store.catalogue().sort_values("track_name")["track_id"].tolist()
        walk = service.path(store, ids[0], ids[-1], steps=4, per_artist=None)
        assert walk.steps[0].track_id == ids[0] and walk.steps[-1].track_id == ids[-1]
        profiled = service.profile(store, out_dir=tmp_path / "profile", figures=False).profile
        assert profiled.rows == 6 and profiled.feature_set == "audio" and "loudness_range" in profiled.correlations.columns


def test_a_run_killed_after_its_first_batch_loses_nothing_and_the_next_goes_on(library, settings_factory):
    settings = settings_factory()
    command = [*SONGSCOPE, "ingest", str(library), "--batch-files", "2", "--workers", "1", "--db", settings.db_url, "--lake", settings.lake_url]
    killed = subprocess.run(command, env={**os.environ, "SONGSCOPE_CRASH_AT": "ingest:committed"}, capture_output=True, text=True, timeout=300)
    assert killed.returncode == -9, killed.stderr[-2000:]
    with Store(settings) as store:
        # The first batch (the two files in the library's top folder, both rejected), committed whole.
        assert audio_files.count(store.db) == 2 and len(db.read_table(store.db, db.ingest_runs)) == 1
        assert len(db.read_table(store.db, db.rejected_rows)) == 2
        again = service.ingest(store, [str(library)], batch_files=2, workers=1)
        assert again.files_unchanged == 2 and again.rows_read == 6 and len(again.batches) == 3
        assert len(store.catalogue()) == 6 and health(store).in_step
        assert len(db.read_table(store.db, db.rejected_rows)) == 2  # each reason once


def test_songs_whose_files_are_gone_leave_only_when_asked_and_a_copy_keeps_its_song(library, settings_factory):
    from songscope.store.catalogue import health

    settings = settings_factory()
    album = library / "The Renderers" / "Ground Truth"
    copy = library / "Copies" / "01 song0000.opus"
    copy.parent.mkdir()
    shutil.copy(album / "01 song0000.opus", copy)  # the same sound twice: one song, two files
    with Store(settings) as store:
        service.ingest(store, [str(library)], workers=1)
        run = service.cluster(store, k=2, resamples=0).run
        before = store.catalogue()
        assert len(before) == 6
        # A new song after the clustering: analysed, stored and assigned to the run's clusters.
        import numpy as np
        import soundfile

        rate = 22_050
        t = np.arange(8 * rate) / rate
        beat = (np.sin(2 * np.pi * 220 * t) * (np.sin(2 * np.pi * 2 * t) > 0.9)).astype(np.float32)
        soundfile.write(library / "Copies" / "02 New Beat.wav", np.stack([beat, beat], axis=1), rate)
        added = service.ingest(store, [str(library)])
        assert added.tracks_added == 1 and added.assigned is not None and added.assigned.assigned == 1
        (library / "Copies" / "02 New Beat.wav").unlink()
        service.ingest(store, [str(library)], prune=True)
        (album / "02 song0004.opus").unlink()
        (album / "01 song0000.opus").unlink()
        (library / "readme.mp3").unlink()  # a rejected file gone: nothing to remove but its record
        kept = service.ingest(store, [str(library)])
        assert len(kept.gone) == 3 and kept.pruned is None and len(store.catalogue()) == 6  # listed, not removed
        pruned = service.ingest(store, [str(library)], prune=True)
        assert pruned.pruned.removed == 1 and pruned.pruned.catalogue_rows == 5  # song0000 lives on in its copy
        after = store.catalogue()
        assert len(after) == 5 and "song0004" not in set(after["track_name"]) and health(store).in_step
        assert audio_files.count(store.db) == 5 + 1  # five songs' files and empty.flac (rejected, still there)
        with store.db.connect() as conn:
            assert conn.execute(sa.select(sa.func.count()).select_from(db.tracks)).scalar() == 5
        assert service.ingest(store, [str(library)]).gone == ()  # nothing more to say
        found = service.recommend(store, [after["track_id"].iloc[0]], options=RecommendOptions(n=3, per_artist=5))
        assert {i.track_id for i in found.result.items} <= set(after["track_id"])  # the run's songs that left are not offered
        assert service.run_details(store, run.run_id).run_id == run.run_id  # the run that held them is still there


def test_a_prune_killed_before_its_commit_changes_nothing(library, settings_factory):
    settings = settings_factory()
    with Store(settings) as store:
        service.ingest(store, [str(library)], workers=1)
    (library / "The Renderers" / "Ground Truth" / "03 song0008.opus").unlink()
    command = [*SONGSCOPE, "ingest", str(library), "--prune", "--db", settings.db_url, "--lake", settings.lake_url]
    killed = subprocess.run(command, env={**os.environ, "SONGSCOPE_CRASH_AT": "prune:before-commit"}, capture_output=True, text=True, timeout=300)
    assert killed.returncode == -9, killed.stderr[-2000:]
    with Store(settings) as store:
        assert len(store.catalogue()) == 6 and health(store).in_step
        again = service.ingest(store, [str(library)], prune=True)
        assert again.pruned.removed == 1 and len(store.catalogue()) == 5 and health(store).in_step
