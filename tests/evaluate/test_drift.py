"""New songs into existing clusters: assignment to the nearest centre, drift against the fitted
songs, the advice to re-cluster, and every reader seeing the new songs' clusters."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from songscope.cli import app
from songscope.cluster.base import nearest_centres
from songscope.evaluate.drift import FIT_QUANTILE, Drift, FitReference
from songscope.store import db
from tests.conftest import cluster, ingest, load_run, run_service


def test_nearest_centres_and_the_fit_reference():
    rng = np.random.default_rng(0)
    X, centres = rng.normal(size=(500, 4)), rng.normal(size=(6, 4))
    nearest, distance = nearest_centres(X, centres)
    brute = np.sqrt(((X[:, None] - centres[None]) ** 2).sum(axis=2))
    assert (nearest == brute.argmin(axis=1)).all() and np.allclose(distance, brute.min(axis=1))
    labels = np.r_[np.zeros(400, dtype=int), np.ones(90, dtype=int), np.full(10, 2)]
    reference = FitReference.measure(distance, labels)
    assert reference.limits[0] == pytest.approx(np.quantile(distance[:400], FIT_QUANTILE)) and 2 not in reference.limits  # too few of 2
    assert reference.fits(np.array([0.0, 1e9]), np.array([2, 2])).tolist() == [True, False]  # cluster 2 uses everyone's limit
    calm = Drift("r", 100, 900, 1.0, 1.0, 0.06)
    assert not calm.recluster and calm.advice().startswith("the clusters still fit: 6% of the 100 new songs fit no cluster well")
    assert Drift("r", 100, 900, 2.0, 1.0, 0.4).advice().startswith("re-cluster: 40% of the 100 new songs")
    assert Drift("r", 500, 900, 1.0, 1.0, 0.05).recluster  # new songs are over a quarter of the catalogue
    assert "no songs have arrived" in Drift("r", 0, 900, None, 1.0, None).advice()


@pytest.fixture()
def two_parts(settings_factory, seed_files, tmp_path):
    """A store clustered on two of the seed files, and the third file to arrive later."""
    settings = settings_factory()
    first = [f for f in seed_files if "world" not in f]
    later = next(f for f in seed_files if "world" in f)
    ingest(first, settings)
    run_id = cluster(settings, k=5, resamples=0).run_id
    return settings, run_id, later


def test_ingest_assigns_new_songs_and_every_reader_sees_their_clusters(two_parts):
    settings, run_id, later = two_parts
    outcome = ingest([later], settings)
    assigned = outcome.assigned
    assert assigned is not None and assigned.run_id == run_id and assigned.assigned == outcome.record.tracks_added > 1_000
    drift = assigned.drift
    assert drift.new_songs == assigned.assigned and drift.fitted_songs > 10_000
    # Songs from the same kind of charts fit about as well as the fitted songs (the 5% by
    # construction, give or take); but they are 30% of the catalogue now: time to cluster again.
    assert 0.0 < drift.poor_fit_share < 0.1 and 0.25 < drift.new_share < 0.35
    assert drift.recluster and drift.advice().startswith("re-cluster: ") and "the new songs are 30% of the catalogue" in drift.advice()
    assert sum(row["new_songs"] for row in drift.per_cluster) == assigned.assigned
    run = load_run(settings, run_id)
    from songscope.store.catalogue import read
    from songscope.store.store import Store

    with Store(settings) as store:
        catalogue = read(store)
        labels = run.labels_for(catalogue)
        assert (labels >= 0).all()  # every song, old and new, has its cluster
        # The recommender and the web app's clusters include them.
        new_id = pd.read_csv(later)["track_id"].iloc[0]
        from songscope import service

        model, _ = service.recommender(store)
        row = model.resolve(new_id)
        assert model.clusters[row] == labels[catalogue["track_id"].tolist().index(new_id)] >= 0
        stored = json.loads(db.read_table(store.db, db.cluster_assignments_added)["drift"].iloc[0])
        assert stored["new_songs"] == assigned.assigned and stored["advice"] == drift.advice()
        # Lake readers (Spark) see them too: the fitted songs' file, then the pass's own file.
        import pyarrow.parquet as pq

        uris = run.assignment_uris(store)
        late = pq.read_table(uris[1]).to_pandas()
        assert len(uris) == 2 and uris[1].endswith(f"runs/{run_id}/late/{assigned.assign_id}.parquet")
        by_song = pd.concat([pq.read_table(uri).to_pandas() for uri in uris]).set_index("track_id")["cluster"]
        assert by_song.index.is_unique and (by_song.reindex(catalogue["track_id"]).to_numpy() == labels).all()
        assert len(late) == assigned.assigned
        # A pass that died before its commit left a file no pass lists: swept, and the committed one kept.
        from songscope.store import keys

        store.lake.write_table(keys.run_late_assignments(run_id, "20000101T000000-dead0000"), pq.read_table(uris[1]))
        assert service.sweep(store).removed == [keys.run_late_assignments(run_id, "20000101T000000-dead0000")]
        assert run.assignment_uris(store) == uris
    again = run_service("assign", settings)
    assert again.assigned == 0 and again.assign_id is None and "no songs have arrived" in again.drift.advice()


def test_songs_unlike_the_catalogue_say_it_is_time_to_recluster(two_parts, tmp_path):
    settings, run_id, _ = two_parts
    rng = np.random.default_rng(3)
    n = 400
    odd = pd.DataFrame({  # loud, fast, speechy, live: unlike the charts the run was fitted on
        "track_id": [f"odd{i:05d}" for i in range(n)], "artist_name": [f"Odd {i % 40}" for i in range(n)], "track_name": [f"Noise {i}" for i in range(n)],
        "popularity": 1, "danceability": rng.uniform(0.0, 0.1, n), "energy": rng.uniform(0.95, 1.0, n), "key": rng.integers(0, 12, n),
        "loudness": rng.uniform(2, 5, n), "mode": 1, "speechiness": rng.uniform(0.9, 1.0, n), "acousticness": rng.uniform(0.9, 1.0, n),
        "instrumentalness": rng.uniform(0.9, 1.0, n), "liveness": rng.uniform(0.9, 1.0, n), "valence": rng.uniform(0.0, 0.05, n),
        "tempo": rng.uniform(215, 240, n), "duration_ms": rng.integers(1_200_000, 2_000_000, n), "time_signature": 4,
    })
    path = tmp_path / "odd.csv"
    odd.to_csv(path, index=False)
    runner = CliRunner(env={"COLUMNS": "200", "NO_COLOR": "1"})
    common = ["--db", settings.db_url, "--lake", settings.lake_url]
    quiet = runner.invoke(app, ["ingest", str(path), "--no-assign", *common])
    assert quiet.exit_code == 0, quiet.output
    assert "assigned" not in quiet.output
    shown = runner.invoke(app, ["assign", *common])
    assert shown.exit_code == 0, shown.output
    assert f"assigned {n} new songs to run {run_id}'s clusters" in shown.output and "re-cluster:" in shown.output
    as_json = json.loads(runner.invoke(app, ["assign", run_id, "--json", *common]).output)
    assert as_json["assigned"] == 0  # already assigned
    stored = load_run(settings, run_id)
    drift = json.loads(pd.read_sql("select drift from cluster_assignments_added", stored_engine(settings))["drift"].iloc[0])
    assert drift["poor_fit_share"] > 0.9 and drift["recluster"] is True and drift["distance_ratio"] > 2
    assert set(stored.assignments["track_id"]) >= set(odd["track_id"])


def stored_engine(settings):
    from songscope.store import db

    return db.connect(settings.db_url)


def test_an_assign_killed_before_its_commit_leaves_both_stores_as_before(two_parts):
    """All or nothing: killed with its lake file written and its rows inserted, an assign pass
    leaves neither store changed for any reader; a sweep removes its file, and the next pass
    assigns every new song."""
    import os
    import signal
    import subprocess

    from songscope.crashpoints import ASSIGN_POINTS
    from songscope.store.store import Store
    from tests.store.test_catalogue import _command

    settings, run_id, later = two_parts
    assert ingest([later], settings, assign_new=False).assigned is None
    for point in ASSIGN_POINTS:
        done = subprocess.run(_command(settings, "assign"), env={**os.environ, "SONGSCOPE_CRASH_AT": point},
                              capture_output=True, text=True, timeout=300)
        assert done.returncode == -signal.SIGKILL, f"{point}: {done.stderr}"
        run = load_run(settings, run_id)
        with Store(settings) as store:
            assert run.assignment_uris(store) == [store.lake.uri(f"runs/{run_id}/assignments.parquet")]
            assert len(run.assignments) == run.n_tracks  # the database holds none of the dead pass's songs
            assert run_service("sweep", settings).removed and not store.lake.keys(f"runs/{run_id}/late", temporary=True)
    again = run_service("assign", settings)
    assert again.assigned > 1_000
    with Store(settings) as store:
        assert len(load_run(settings, run_id).assignment_uris(store)) == 2


@pytest.mark.spark
def test_assign_on_spark_places_every_song_as_the_local_engine_does(two_parts, tmp_path, spark_local):
    """The same new songs, assigned by the executors and by this process, land in the same
    clusters at the same distances; the drift's figures agree (its reference is a fixed-seed
    sample on each engine, so the limits differ a little); and the lake and the database hold
    the Spark pass as they hold a local one."""
    import dataclasses

    import pyarrow.parquet as pq

    from songscope.store import db
    from songscope.store.store import Store
    from tests.conftest import copy_stores

    settings, run_id, later = two_parts
    ingest([later], settings, assign_new=False)
    on_spark = dataclasses.replace(copy_stores(settings, tmp_path / "copy"), spark_master=spark_local)
    local = run_service("assign", settings)
    spark = run_service("assign", on_spark, backend="spark")
    assert spark.assigned == local.assigned > 1_000
    found = {}
    for name, where in (("local", settings), ("spark", on_spark)):
        with Store(where) as store:
            stored = db.read_table(store.db, db.late_assignments).set_index("track_id").sort_index()
            uris = load_run(where, run_id).assignment_uris(store)
            in_lake = pq.read_table(uris[1]).to_pandas().set_index("track_id").sort_index()
        assert len(uris) == 2 and (in_lake["cluster"] == stored["cluster"]).all() and in_lake.index.equals(stored.index)
        found[name] = stored
    assert found["spark"].index.equals(found["local"].index)
    assert (found["spark"]["cluster"] == found["local"]["cluster"]).all()
    assert np.allclose(found["spark"]["distance"], found["local"]["distance"], rtol=1e-12, atol=0)
    a, b = local.drift, spark.drift
    assert (a.new_songs, a.fitted_songs) == (b.new_songs, b.fitted_songs)
    assert b.median_distance_new == pytest.approx(a.median_distance_new, rel=1e-9)
    assert [r["new_songs"] for r in a.per_cluster] == [r["new_songs"] for r in b.per_cluster]
    assert b.median_distance_fitted == pytest.approx(a.median_distance_fitted, rel=0.05)
    assert b.poor_fit_share == pytest.approx(a.poor_fit_share, abs=0.02) and a.recluster == b.recluster
    again = run_service("assign", on_spark, backend="spark")
    assert again.assigned == 0 and again.assign_id is None  # the executors read the pass's lake file: nothing is new


@pytest.mark.parametrize("backend", ["local", pytest.param("spark", marks=pytest.mark.spark)])
def test_a_run_with_key_and_mode_assigns_new_songs_in_its_own_space(settings_factory, seed_files, tmp_path, request, backend):
    """A space that places songs on the key's circle and adds the mode reads those columns too:
    assigning new songs to its run reads every column the space encodes, on both backends."""
    import dataclasses

    from songscope.features import FeatureSpace

    settings = settings_factory()
    ingest([f for f in seed_files if "world" not in f], settings)
    run_id = cluster(settings, k=4, resamples=0, space=FeatureSpace(key="circle", mode=True)).run_id
    ingest([next(f for f in seed_files if "world" in f)], settings, assign_new=False)
    if backend == "spark":
        settings = dataclasses.replace(settings, spark_master=request.getfixturevalue("spark_local"))
    outcome = run_service("assign", settings, backend=backend)
    assert outcome.run_id == run_id and outcome.assigned > 1_000
    assert sum(row["new_songs"] for row in outcome.drift.per_cluster) == outcome.assigned
