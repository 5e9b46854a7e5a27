"""The catalogue as a table of immutable lake files committed with the database: readers, near
duplicates across ingests, concurrent ingests, and kill -9 at every point of an ingest."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from songscope.crashpoints import ASSIGN_POINTS, INGEST_POINTS, PARALLEL_LOAD_POINTS
from songscope.store import cache, catalogue, db
from songscope.store.store import Store
from songscope.textcolumns import TEXT
from tests.conftest import SeaweedFS, aws_credentials, ingest, load_catalogue, run_service
from tests.test_bad_inputs import HEADER, row

SONGSCOPE = str(Path(sys.executable).parent / "songscope")
SEED = Path(__file__).resolve().parents[2] / "data" / "seed"


def _variant(folder: Path, name: str, tag: str, source: Path = SEED / "tutorial_data.csv") -> Path:
    """The seed file with ids and artists made its own, so no song repeats another variant's."""
    frame = pd.read_csv(source)
    frame["track_id"] = tag + frame["track_id"].astype(str)
    frame["artist_name"] = frame["artist_name"].astype(str) + f" [{tag}]"
    path = folder / name
    frame.to_csv(path, index=False)
    return path


def _clean_ids(*paths: Path) -> set[str]:
    from songscope.clean import read_and_clean

    ids: set[str] = set()
    for path in paths:
        ids |= set(read_and_clean([str(path)])[1].tracks["track_id"])
    return ids


def _stores(settings) -> tuple[set[str], set[str], catalogue.CatalogueHealth]:
    """Track ids in the database, track ids in the lake (as every reader reads it), and the health check."""
    with Store(settings) as store:
        with store.db.connect() as conn:
            in_db = set(conn.execute(sa.select(db.tracks.c.track_id)).scalars())
        try:
            in_lake = set(catalogue.read(store, ["track_id"])["track_id"])
        except catalogue.NoCatalogue:
            in_lake = set()
        return in_db, in_lake, catalogue.health(store)


def _command(settings, *args: str, env: dict[str, str] | None = None) -> list[str]:
    extra = ["--s3-endpoint", settings.s3_endpoint] if settings.s3_endpoint else []
    return [SONGSCOPE, *args, "--db", settings.db_url, "--lake", settings.lake_url, *extra]


def _start(settings, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    return subprocess.Popen(_command(settings, *args), env={**os.environ, **(env or {})},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for(path: Path, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if process.poll() is not None:
            raise AssertionError(f"the ingest ended before reaching its hold point: {process.stderr.read()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} did not appear within {timeout} s")
        time.sleep(0.05)


# ------------------------------------------------------------------------------------ the table


def test_each_ingest_adds_its_own_files_and_readers_read_them_all(settings_factory, tmp_path):
    settings = settings_factory()
    a = tmp_path / "a.csv"
    a.write_text(f"{HEADER}\n{row('a000000000000000000001', 'A', 'One')}\n{row('a000000000000000000002', 'A', 'Two')}\n")
    b = tmp_path / "b.csv"  # a label column the first file lacks
    b.write_text(f"{HEADER},genre\n{row('b000000000000000000001', 'B', 'Three')},jazz\n")
    first, second = ingest([str(a)], settings), ingest([str(b)], settings)
    assert first.stored.catalogue_files != second.stored.catalogue_files
    songs = load_catalogue(settings)
    assert list(songs["track_id"]) == ["a000000000000000000001", "a000000000000000000002", "b000000000000000000001"]
    assert list(songs["genre"].isna()) == [True, True, False]
    assert second.catalogue_rows == 3
    with Store(settings) as store:
        files = catalogue.manifest(store)
    assert list(files["rows"]) == [2, 1] and list(files["ingest_run_id"]) == [first.run_id, second.run_id]
    # Re-ingesting a known file adds no file at all.
    assert ingest([str(a)], settings).stored.catalogue_files == []


def test_rows_and_samples_are_read_from_the_files_that_hold_them(seed_catalogue, tmp_path):
    """Readers that must not hold the catalogue whole: rows by position, a fixed-seed sample and
    the files one by one all agree with the whole read."""
    import numpy as np

    from tests.conftest import copy_stores

    settings = copy_stores(seed_catalogue, tmp_path)
    extra = tmp_path / "extra.csv"
    extra.write_text(f"{HEADER}\n{row('z000000000000000000001', 'Zed', 'Last')}\n")
    ingest([str(extra)], settings)  # a second file
    whole = load_catalogue(settings)
    with Store(settings) as store:
        positions = [len(whole) - 1, 0, 7_000, 15_625, 7_000]
        picked = catalogue.rows_at(store, positions, columns=["track_id", "energy"])
        assert picked["track_id"].tolist() == whole["track_id"].iloc[positions].tolist()
        assert picked["energy"].tolist() == whole["energy"].iloc[positions].tolist()
        with pytest.raises(IndexError):
            catalogue.rows_at(store, [len(whole)])
        none = catalogue.rows_at(store, [], columns=["track_id", "energy"])
        assert none.empty and list(none.columns) == ["track_id", "energy"]
        drawn, total = catalogue.sample(store, 1_000, seed=3)
        again, _ = catalogue.sample(store, 1_000, seed=3)
        assert total == len(whole) and len(drawn) == 1_000 and drawn.equals(again)
        rows = np.sort(np.random.default_rng(3).choice(len(whole), 1_000, replace=False))
        pd.testing.assert_frame_equal(drawn, whole.iloc[rows].reset_index(drop=True)[drawn.columns], check_dtype=False)
        everything, _ = catalogue.sample(store, 10**6)
        pd.testing.assert_frame_equal(everything, whole)
        batches = list(catalogue.track_batches(store, ["track_id"]))
        assert len(batches) == 2 and sum(b.num_rows for b in batches) == len(whole)
        assert store.peek(cache.CATALOGUE) is None


def test_labels_a_later_ingest_gives_a_stored_track_reach_the_lake(settings_factory, tmp_path):
    settings = settings_factory()
    plain = tmp_path / "plain.csv"
    plain.write_text(f"{HEADER}\n{row('song00000000000000000001', 'A', 'One')}\n{row('song00000000000000000002', 'A', 'Two')}\n")
    labelled = tmp_path / "labelled.csv"  # the first song again, now with a genre; a reissue of the second
    labelled.write_text(f"{HEADER},genre\n{row('song00000000000000000001', 'A', 'One')},jazz\n"
                        f"{row('reissue0000000000000002', 'A', 'Two')},soul\n")
    ingest([str(plain)], settings)
    later = ingest([str(labelled)], settings)
    assert later.stored.catalogue_files == [] and later.record.tracks_added == 0
    songs = load_catalogue(settings)
    assert list(songs["track_id"]) == ["song00000000000000000001", "song00000000000000000002"]
    assert list(songs["genre"]) == ["jazz", "soul"]  # the reissue's genre is credited to the song it repeats
    with Store(settings) as store:
        assert list(catalogue.read(store, ["track_id", "genre"])["genre"]) == ["jazz", "soul"]
        assert list(catalogue.manifest(store)["content"]) == ["tracks", "labels"]
        assert catalogue.health(store).lake_tracks == 2


def test_labels_merged_in_ranges_of_tracks_are_the_labels_merged_at_once(settings_factory, tmp_path, monkeypatch):
    """TidyTuesday's songs (seven labels, songs repeated for each playlist), then some of them
    again with another genre: the labels stored are the same whether each ingest merges them at
    once or in ranges of track ids (into the empty catalogue: staged, copied in as the load ends;
    into the stored one: looking up what the ranges before wrote)."""
    from songscope.store import writer
    from tests.conftest import TIDYTUESDAY, benchmark_file

    songs = pd.read_csv(benchmark_file(TIDYTUESDAY))
    later = tmp_path / "later.csv"
    songs.iloc[:60].assign(playlist_genre="later-genre").to_csv(later, index=False)
    stored = {}
    for how, first, second in (("at once", 10**9, 10**9), ("in ranges", 5_000, 7)):
        settings = settings_factory(db_url=f"sqlite:///{tmp_path / (how + '.db')}", lake_url=str(tmp_path / how))
        monkeypatch.setattr(writer, "LABEL_SLICE_TRACKS", first)
        ingest([str(benchmark_file(TIDYTUESDAY))], settings)
        monkeypatch.setattr(writer, "LABEL_SLICE_TRACKS", second)
        ingest([str(later)], settings)
        database = db.connect(settings.db_url)
        stored[how] = db.read_table(database, db.track_labels).sort_values(["track_id", "name"], ignore_index=True)
        database.dispose()
    pd.testing.assert_frame_equal(stored["in ranges"], stored["at once"])
    genres = stored["at once"][stored["at once"]["name"] == "playlist_genre"].set_index("track_id")["value"]
    assert len(stored["at once"]) > 150_000 and genres.str.endswith("|later-genre").sum() >= 50


def _write(settings, path: Path, alongside) -> catalogue.StoredIngest:
    from datetime import UTC, datetime

    from songscope.clean import read_and_clean
    from songscope.store.runs import new_id

    read, cleaned = read_and_clean([str(path)])
    with Store(settings) as store:
        return catalogue.write_ingest(store, run_id=new_id(), started_at=datetime.now(UTC), read=read, cleaned=cleaned,
                                      alongside=alongside)


def test_alongside_sees_the_catalogue_the_commit_will_leave_while_the_database_commits(settings_factory, tmp_path):
    import threading

    settings = settings_factory()
    first, second = _variant(tmp_path, "first", "f"), _variant(tmp_path, "second", "s")
    ingest([str(first)], settings)
    with Store(settings) as store:
        before = catalogue.track_parts(store)
    seen = {}

    def alongside(part_keys, starts, rows_let_go):
        with Store(settings) as store:  # another connection: the new files are not committed yet
            seen["committed"] = catalogue.track_parts(store)
        seen["thread"] = threading.current_thread() is not threading.main_thread()
        seen["let go"] = rows_let_go.wait(30)
        return part_keys, starts

    stored = _write(settings, second, alongside)
    with Store(settings) as store:
        after = catalogue.track_parts(store)
    assert seen["thread"] and seen["committed"][0] == before[0] and seen["let go"]
    assert stored.alongside[0] == after[0] and len(after[0]) == len(before[0]) + 1
    np.testing.assert_array_equal(stored.alongside[1], after[1])
    assert int(after[1][-1]) == stored.catalogue_rows
    seen.clear()
    assert _write(settings, second, alongside).alongside is None and not seen  # no new song, no file: nothing to do beside


@pytest.mark.parametrize("counted", [True, False])
def test_alongside_starts_as_the_last_chunks_files_are_written_and_waits_for_its_rows(settings_factory, tmp_path, monkeypatch, counted):
    """Counted ahead, the chunks' last one starts the alongside as its files are written, while
    the database still inserts its rows; not counted, once every chunk is stored. Either way the
    event it is given is set once the rows are let go."""
    import threading
    from datetime import UTC, datetime

    from songscope.clean import read_and_clean
    from songscope.store.clean_ingest import InMemoryIngest
    from songscope.store.runs import new_id

    class Uncounted(InMemoryIngest):
        track_chunk_count = None

    settings = settings_factory()
    started, seen = threading.Event(), {}
    add_tracks = db.IngestWriter.add_tracks

    def inserting(self, tracks, near_keys=None, while_inserting=None):
        added = add_tracks(self, tracks, near_keys, while_inserting=while_inserting)
        seen["started before the insert ended"] = started.wait(30 if counted else 0.5)
        return added

    def alongside(part_keys, starts, rows_let_go):
        seen.setdefault("let go when started", rows_let_go.is_set())
        started.set()
        seen["let go"] = rows_let_go.wait(30)
        return len(part_keys)

    monkeypatch.setattr(db.IngestWriter, "add_tracks", inserting)
    read, cleaned = read_and_clean([str(_variant(tmp_path, "first", "f"))])
    data = InMemoryIngest(read, cleaned) if counted else Uncounted(read, cleaned)
    with Store(settings) as store:
        stored = catalogue.write_ingest(store, run_id=new_id(), started_at=datetime.now(UTC), data=data, alongside=alongside)
    assert stored.alongside == 1 and stored.catalogue_files and seen["let go"]
    assert seen["started before the insert ended"] is counted
    if counted:
        assert seen["let go when started"] is False


def test_each_chunk_is_let_go_before_the_next_is_made(settings_factory, tmp_path):
    """A chunk's tracks are freed once both stores have them, before the next chunk is asked for:
    nothing the writer returns, nor the loop's own bookkeeping, holds them through the next
    chunk's store (at 5M rows, a million tracks held so were about 200 MB of the store's peak)."""
    import gc
    import weakref
    from datetime import UTC, datetime

    from songscope import schema
    from songscope.backends.batches import read_and_clean_in_batches
    from songscope.store.runs import new_id

    data, _ = read_and_clean_in_batches([str(_variant(tmp_path, "first", "f"))], encoding="utf-8", delimiter=",", s3_endpoint=None,
                                        required=schema.REQUIRED_COLUMNS, outlier_rules=schema.SEED_OUTLIER_RULES, loose=False,
                                        batch_rows=500, hold_rows=500, spill_rows=100, csv_part_bytes=20_000)
    made, alive_when_asked = data.track_chunks, []

    def watched():
        previous = None
        for chunk in made():
            gc.collect()
            alive_when_asked.append(previous is not None and previous() is not None)
            previous = weakref.ref(chunk[0])
            yield chunk
            del chunk

    data.track_chunks = watched
    with Store(settings_factory()) as store:
        stored = catalogue.write_ingest(store, run_id=new_id(), started_at=datetime.now(UTC), data=data)
    assert len(alive_when_asked) == len(stored.catalogue_files) > 2
    assert not any(alive_when_asked)


def test_a_failed_ingest_waits_for_alongside_and_stores_nothing(settings_factory, tmp_path, monkeypatch):
    settings = settings_factory()
    ingest([str(_variant(tmp_path, "first", "f"))], settings)
    with Store(settings) as store:
        before = catalogue.track_parts(store)
    finished = []

    def alongside(part_keys, starts, rows_let_go):
        time.sleep(0.5)
        finished.append((len(part_keys), rows_let_go.wait(30)))

    def refuse(*args, **kwargs):
        raise RuntimeError("the database went away")

    monkeypatch.setattr(db, "add_catalogue_files", refuse)
    with pytest.raises(RuntimeError, match="went away"):
        _write(settings, _variant(tmp_path, "second", "s"), alongside)
    assert finished == [(len(before[0]) + 1, True)]  # it had ended when the ingest's failure reached the caller
    with Store(settings) as store:
        after = catalogue.track_parts(store)
    assert after[0] == before[0]
    np.testing.assert_array_equal(after[1], before[1])


def test_no_catalogue_yet_says_what_to_do(settings_factory):
    with Store(settings_factory()) as store, pytest.raises(catalogue.NoCatalogue, match="songscope ingest"):
        store.catalogue()


def test_a_known_song_under_a_new_id_is_caught_across_ingests_without_reading_the_catalogue(db_url, settings_factory, tmp_path):
    settings = settings_factory(db_url=db_url)
    first = tmp_path / "first.csv"
    first.write_text(f"{HEADER},genre\n{row('orig00000000000000000001', 'Nina Simone', 'Feeling Good')},jazz\n"
                     f"{row('other0000000000000000001', 'Nina Simone', 'Sinnerman')},jazz\n")
    later = tmp_path / "later.csv"  # the same recording re-released under a new id, and a new song
    later.write_text(f"{HEADER},genre\n{row('reissue00000000000000001', 'Nina Simone', 'Feeling Good')},soul\n"
                     f"{row('new000000000000000000001', 'Nina Simone', 'Feeling Good', duration_ms=201000)},soul\n")
    ingest([str(first)], settings)

    statements: list[str] = []
    with Store(settings) as store:
        sa.event.listen(store.db, "before_cursor_execute", lambda *a: statements.append(a[2]))
        from songscope import service

        outcome = service.ingest(store, [str(later)])
    record = outcome.record
    assert (record.tracks_added, record.near_duplicates_of_earlier) == (1, 1)
    tracks_reads = [s for s in statements if s.lstrip().upper().startswith("SELECT") and " tracks" in s.replace("\n", " ").split("FROM", 1)[-1][:12]]
    assert tracks_reads and all("WHERE" in s.upper() or "LIMIT" in s.upper() for s in tracks_reads), tracks_reads

    in_db, in_lake, health = _stores(settings)
    assert in_db == in_lake == {"orig00000000000000000001", "other0000000000000000001", "new000000000000000000001"}
    assert health.in_step
    database = db.connect(db_url)
    duplicates = db.read_table(database, db.track_duplicates)
    labels = db.read_table(database, db.track_labels).set_index("track_id")
    database.dispose()
    with Store(settings) as store:
        provenance = catalogue.read_provenance(store)
    pair = duplicates[duplicates["rule"] == db.EARLIER_NEAR_DUPLICATE_RULE]
    assert list(zip(pair["kept_track_id"], pair["dropped_track_id"])) == [("orig00000000000000000001", "reissue00000000000000001")]
    assert labels.at["orig00000000000000000001", "value"] == "jazz|soul"  # the reissue's label is credited to the song
    assert (provenance["track_id"] == "orig00000000000000000001").sum() == 2  # as is its row in the later file


def test_near_key_is_pinned():
    """The key is stored in databases: a library change that altered it would split songs silently."""
    from songscope.identity import near_keys

    key = near_keys(pd.Series(["Nina Simone"]), pd.Series(["Feeling Good"]), pd.Series([177000]))[0]
    assert int(key) == NINA_SIMONE_FEELING_GOOD_KEY


NINA_SIMONE_FEELING_GOOD_KEY = 701379894577558522


def test_status_and_sweep_show_and_remove_a_dead_ingests_leftovers(settings_factory, tmp_path):
    settings = settings_factory()
    ingest([str(SEED / "tutorial_data.csv")], settings)
    lake = Path(settings.lake_url)
    orphan = lake / "catalogue" / "20260101T000000-deadbeef" / "part-00000.parquet"
    orphan.parent.mkdir(parents=True)
    orphan.write_bytes(b"PAR1 half")
    temporary = lake / "ingest" / "20260101T000000-deadbeef" / ".report.json.123.tmp"
    temporary.parent.mkdir(parents=True)
    temporary.write_bytes(b"{")
    done = subprocess.run(_command(settings, "status"), capture_output=True, text=True, check=True)
    assert "1,742 tracks in the database, 1,742 in the lake" in done.stdout and "in step" in done.stdout
    assert "2 lake files no committed ingest lists" in done.stdout
    done = subprocess.run(_command(settings, "sweep"), capture_output=True, text=True, check=True)
    assert "removed 2 leftover files" in done.stdout
    assert not orphan.exists() and not temporary.exists() and not orphan.parent.exists()
    assert _stores(settings)[2].leftovers == []


def test_an_unreachable_s3_lake_is_reported_before_any_reading(settings_factory, monkeypatch):
    import songscope.ingest

    def never(*args, **kwargs):
        raise AssertionError("the sources were read before the lake was checked")

    monkeypatch.setattr(songscope.ingest, "read_sources", never)
    settings = settings_factory(lake_url="s3://nowhere/lake", s3_endpoint="http://127.0.0.1:9")
    started = time.perf_counter()
    with pytest.raises(catalogue.LakeError, match="cannot reach the lake s3://nowhere/lake"):
        ingest([str(SEED / "tutorial_data.csv")], settings)
    assert time.perf_counter() - started < 10


# ---------------------------------------------------------------------------------- concurrency


def test_concurrent_ingests_lose_nothing_and_duplicate_nothing(db_url, settings_factory, tmp_path):
    """Three ingests at once (one held inside its transaction while the others start), two of
    different files and one of the same file as another: all succeed, nothing is lost or doubled."""
    settings = settings_factory(db_url=db_url)
    a, b = _variant(tmp_path, "a.csv", "A"), _variant(tmp_path, "b.csv", "B")
    flag = tmp_path / "held"
    holder = _start(settings, "ingest", str(a), env={"SONGSCOPE_HOLD_AT": f"ingest:database-written:{flag}"})
    _wait_for(flag, holder)
    others = [_start(settings, "ingest", str(b)), _start(settings, "ingest", str(a))]
    time.sleep(3)  # they read, clean, and queue for the catalogue
    assert all(p.poll() is None for p in others), "a concurrent ingest did not wait for the first"
    flag.unlink()
    for process in (holder, *others):
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, err
        assert "Traceback" not in err
    in_db, in_lake, health = _stores(settings)
    assert in_db == in_lake == _clean_ids(a, b)
    assert health.in_step and health.leftovers == []
    assert len(load_catalogue(settings)) == len(in_db)  # no track twice in the lake


def test_ingests_started_together_on_a_new_database_all_succeed(db_url, settings_factory, tmp_path):
    """The first use of a database creates its tables: started at the same moment, three ingests
    take turns at that too (MariaDB's DDL cannot be rolled back, so a race there was fatal)."""
    settings = settings_factory(db_url=db_url)
    files = [_variant(tmp_path, f"{tag}.csv", tag, SEED / name)
             for tag, name in (("T", "tutorial_data.csv"), ("W", "world_data.csv"), ("B", "brazil_data.csv"))]
    processes = [_start(settings, "ingest", str(path)) for path in files]
    for process in processes:
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0 and "Traceback" not in err, err
    in_db, in_lake, health = _stores(settings)
    assert in_db == in_lake == _clean_ids(*files) and health.in_step


# ------------------------------------------------------------------------------- crash safety


#: The command line with every SQLite load staged through ADBC (`bulk._staged_insert`), however
#: few its rows: the seed's files are far below `bulk.STAGE_ROWS`.
_STAGED_CLI = "from songscope.store import bulk; bulk.STAGE_ROWS = 1; from songscope.cli import entry; entry()"


def _kill_at(settings, source: Path, point: str, temporary: Path | None = None) -> subprocess.CompletedProcess:
    """Run an ingest of `source` killed at `point`; with a `temporary` folder, with its SQLite loads
    staged (and their copies written there)."""
    command, env = _command(settings, "ingest", str(source)), {**os.environ, "SONGSCOPE_CRASH_AT": point}
    if temporary is not None:
        command, env = [sys.executable, "-c", _STAGED_CLI, *command[1:]], env | {"TMPDIR": str(temporary)}
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("db_kind", ["sqlite", "sqlite-staged", "postgresql"])
def test_kill_at_every_point_of_an_ingest_leaves_both_stores_in_step(db_kind, request, settings_factory, tmp_path):
    """Killed at every point, the ingest leaves the database and the lake in step: as they were
    before it, or, once committed, with all of it. Also with SQLite's loads staged through a file
    of their own, which the killed transaction had attached: its copies are left in the temporary
    folder (proof that the loads were staged), never in either store, until the next ingest
    removes them."""
    settings = settings_factory(db_url=request.getfixturevalue({"postgresql": "postgres_url"}.get(db_kind, "sqlite_url")))
    temporary = tmp_path / "tmp" if db_kind == "sqlite-staged" else None
    if temporary is not None:
        temporary.mkdir()
    first, second = _variant(tmp_path, "first.csv", "F"), _variant(tmp_path, "second.csv", "S", SEED / "brazil_data.csv")
    ingest([str(first)], settings)
    before, after = _clean_ids(first), _clean_ids(first, second)
    left_staged: list[Path] = []
    for point in INGEST_POINTS:
        done = _kill_at(settings, second, point, temporary)
        assert done.returncode == -signal.SIGKILL, f"{point}: {done.stderr}"
        # The next ingest removes the folders a killed one left in the temporary folder.
        assert left_staged == [] or not any(folder.exists() for folder in left_staged), point
        if temporary is not None and point == "ingest:database-written":
            left_staged = [path.parent for path in temporary.glob("songscope-staged-*/rows.db")]
            assert left_staged, "the loads were not staged"
        in_db, in_lake, health = _stores(settings)
        expected = after if point == "ingest:committed" else before
        assert in_db == in_lake == expected, point
        assert health.in_step and not health.missing_files, point
        if point == "ingest:committed":
            break
        # The next ingest (or a sweep) removes what the dead one left, and succeeds.
        if point in ("ingest:lake-written", "ingest:before-commit"):
            assert health.leftovers, f"{point}: the dead ingest's files should be in the lake, unlisted"
        assert run_service("sweep", settings).removed == health.leftovers, point
        assert _stores(settings)[2].leftovers == []
    again = ingest([str(second)], settings)  # known by now: adds nothing, breaks nothing
    assert again.record.tracks_added == 0
    in_db, in_lake, health = _stores(settings)
    assert in_db == in_lake == after and health.in_step and health.leftovers == []


def test_kill_at_random_moments_leaves_both_stores_in_step(settings_factory, tmp_path):
    """Besides the named points: SIGKILL after a delay, wherever the ingest happens to be."""
    settings = settings_factory()
    first, second = _variant(tmp_path, "first.csv", "F"), _variant(tmp_path, "second.csv", "S", SEED / "world_data.csv")
    ingest([str(first)], settings)
    before, after = _clean_ids(first), _clean_ids(first, second)
    for delay in (0.5, 1.5, 2.5, 3.5, 4.5):
        process = _start(settings, "ingest", str(second))
        time.sleep(delay)
        process.kill()
        process.communicate()
        in_db, in_lake, health = _stores(settings)
        assert in_db == in_lake and in_db in (before, after), delay
        assert health.in_step
        if in_db == after:
            break
    ingest([str(second)], settings)
    in_db, in_lake, health = _stores(settings)
    assert in_db == in_lake == after and health.leftovers == []


@pytest.mark.s3
def test_object_store_stopped_mid_write_leaves_both_stores_in_step(tmp_path_factory, settings_factory, tmp_path):
    weed = SeaweedFS(tmp_path_factory.mktemp("seaweedfs-stopped"))
    server = weed.start()
    try:
        with aws_credentials(server):
            settings = settings_factory(lake_url=f"s3://{weed.bucket}/songscope", s3_endpoint=server.endpoint)
            first, second = _variant(tmp_path, "first.csv", "F"), _variant(tmp_path, "second.csv", "S", SEED / "brazil_data.csv")
            ingest([str(first)], settings)
            before, after = _clean_ids(first), _clean_ids(first, second)
            flag = tmp_path / "held"
            process = _start(settings, "ingest", str(second), env={"SONGSCOPE_HOLD_AT": f"ingest:catalogue-part:{flag}"})
            _wait_for(flag, process)
            weed.stop()  # the catalogue file is written; the rest of the lake writes will fail
            flag.unlink()
            out, err = process.communicate(timeout=300)
            assert process.returncode != 0
            assert "Traceback" not in err
            assert [line for line in err.splitlines() if line.strip()] == [next(x for x in err.splitlines() if x.startswith("error: "))]
            assert settings.lake_url in err  # the one line names the lake
            weed.start()
            in_db, in_lake, health = _stores(settings)
            assert in_db == in_lake == before and health.in_step
            assert any(key.startswith("catalogue/") for key in health.leftovers)
            outcome = ingest([str(second)], settings)
            assert outcome.stored.swept == health.leftovers
            in_db, in_lake, health = _stores(settings)
            assert in_db == in_lake == after and health.leftovers == []
    finally:
        weed.stop()


def test_the_suite_runs_every_crash_point():
    """A new crash point must be added to `INGEST_POINTS` or `ASSIGN_POINTS`, which the kill tests walk."""
    package = Path(catalogue.__file__).parents[1]
    files = [package / "store/catalogue.py", *sorted((package / "service").glob("*.py")), *sorted((package / "backends").rglob("*.py"))]
    source = "".join(path.read_text() for path in files)
    reached = {line.split('reach("', 1)[1].split('"', 1)[0] for line in source.splitlines() if 'reach("' in line}
    assert reached == set(INGEST_POINTS) | set(PARALLEL_LOAD_POINTS) | set(ASSIGN_POINTS)


@pytest.mark.spark
def test_kill_while_the_executors_load_leaves_both_stores_in_step(postgres_url, spark_local, settings_factory, tmp_path):
    """Killed after the executors filled the staging tables and wrote their catalogue files: the
    stores are as before; the next ingest drops the dead one's staging tables and files."""
    settings = settings_factory(db_url=postgres_url)
    first, second = _variant(tmp_path, "first.csv", "F"), _variant(tmp_path, "second.csv", "S", SEED / "brazil_data.csv")
    ingest([str(first)], settings)
    before, after = _clean_ids(first), _clean_ids(first, second)
    (point,) = PARALLEL_LOAD_POINTS
    done = subprocess.run([*_command(settings, "ingest", str(second)), "--engine", "spark", "--spark-master", "local[1]"],
                          env={**os.environ, "SONGSCOPE_CRASH_AT": point}, capture_output=True, text=True, timeout=300)
    assert done.returncode == -signal.SIGKILL, f"{point}: {done.stderr}"
    in_db, in_lake, health = _stores(settings)
    assert in_db == in_lake == before and health.in_step
    assert any(key.startswith("catalogue/") for key in health.leftovers)  # the executors' files, unlisted
    engine = sa.create_engine(postgres_url)
    left = [n for n in sa.inspect(engine).get_table_names() if n.startswith("staging_")]
    engine.dispose()
    from songscope.store.staging import KINDS

    assert len(left) == len(KINDS)  # one table of each kind
    outcome = ingest([str(second)], settings, backend="spark")
    assert sorted(outcome.stored.swept_tables) == sorted(left) and outcome.stored.swept == health.leftovers
    assert outcome.stored.loaded_by_workers
    in_db, in_lake, health = _stores(settings)
    assert in_db == in_lake == after and health.in_step and health.leftovers == []


def test_the_catalogues_text_is_read_as_arrow_strings_by_every_reader(seed_catalogue):
    """Names and ids stay in their Arrow buffers (a million songs: 236 MB in all, against 497 MB
    with a Python string a cell), whether read whole, by position or as a sample."""
    with Store(seed_catalogue) as store:
        whole = catalogue.read(store)
        picked = catalogue.rows_at(store, [3, 1], columns=["track_id", "artist_name", "energy"])
    for frame in (whole, picked):
        assert frame["track_id"].dtype == TEXT and frame["artist_name"].dtype == TEXT
        assert frame["energy"].dtype == np.float64
    assert picked["track_id"].tolist() == whole["track_id"].iloc[[3, 1]].tolist()
    assert whole["track_name"].isna().sum() == 0 and whole["artist_name"].str.len().min() > 0


def test_the_lakes_files_hold_text_as_they_always_have(seed_catalogue):
    """pandas' Arrow-backed strings are Arrow's large strings; the lake's files keep plain
    strings (and lists of them), the type they have always had and every reader knows."""
    import pyarrow as pa

    with Store(seed_catalogue) as store:
        key = catalogue.track_parts(store)[0][0]
        stored = store.lake.read_table(key).schema
    assert stored.field("track_id").type == pa.string() and stored.field("track_name").type == pa.string()
    assert stored.field("artists").type == pa.list_(pa.string())
    assert not any(pa.types.is_large_string(field.type) for field in stored)
