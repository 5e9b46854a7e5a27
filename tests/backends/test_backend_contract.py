"""The contract of `backends.base.Backend`, method by method: the local and the Spark backend,
given the same stored catalogue, answer alike (same counts, the same songs, aggregates equal to the
local definitions on the labels they return, the same new songs in the same clusters)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from songscope.config import Settings
from tests.conftest import cluster, ingest

pytestmark = pytest.mark.spark


@pytest.fixture(scope="module")
def stored(tmp_path_factory, seed_files, spark_local):
    """The seed but one file, clustered (k-means, k = 5), then the last file ingested and not yet
    assigned: a catalogue with a run and songs that arrived after it."""
    folder = tmp_path_factory.mktemp("backend-contract")
    settings = Settings(db_url=f"sqlite:///{folder / 's.db'}", lake_url=str(folder / "lake"), spark_master=spark_local)
    later = next(f for f in seed_files if "world" in f)
    ingest([f for f in seed_files if f != later], settings)
    run_id = cluster(settings, k=5, resamples=0).run_id
    ingest([later], settings, assign_new=False)
    return settings, run_id, later


def _both(settings):
    from songscope.backends.local import LocalBackend
    from songscope.backends.spark.backend import SparkBackend

    return {"local": LocalBackend(), "spark": SparkBackend(settings)}


def test_read_and_clean(stored):
    from songscope.backends.base import IngestOptions

    settings, _, later = stored
    found = {}
    for name, backend in _both(settings).items():
        cleaned = backend.read_and_clean([later], IngestOptions())
        try:
            found[name] = (cleaned.rows_read, cleaned.rows_valid, cleaned.rows_rejected, cleaned.report.chain())
        finally:
            cleaned.release()
    assert found["local"] == found["spark"] and found["local"][0] > 0


def test_fit_space_sample_and_profile(stored):
    from songscope.features import FeatureSpace
    from songscope.store.store import Store

    settings, _, _ = stored
    with Store(settings) as store:
        songs = len(store.catalogue())
        spaces, samples, profiles = {}, {}, {}
        for name, backend in _both(settings).items():
            spaces[name] = backend.fit_space(store, FeatureSpace(key="circle"))
            samples[name] = backend.sample(store, songs + 1, seed=0)
            profiles[name] = backend.profile(store, figures=False)
    np.testing.assert_allclose(spaces["spark"].centre_, spaces["local"].centre_, rtol=1e-9)
    np.testing.assert_allclose(spaces["spark"].scale_, spaces["local"].scale_, rtol=1e-9)
    assert samples["local"].total == samples["spark"].total == songs
    assert set(samples["local"].songs["track_id"]) == set(samples["spark"].songs["track_id"])  # a sample larger than the catalogue is all of it
    assert samples["local"].sample_n is None and samples["spark"].sample_n == songs  # and says it is a sample, of every song
    local, spark = profiles["local"], profiles["spark"]
    assert (local.rows, local.artist_count) == (spark.rows, spark.artist_count) == (songs, local.artist_count)
    assert local.top10_share == pytest.approx(spark.top10_share)
    np.testing.assert_allclose(spark.describe.loc[local.describe.index, "mean"], local.describe["mean"], rtol=1e-9)


def test_cluster(stored):
    from songscope.evaluate.internal import internal_indices
    from songscope.features import FeatureSpace
    from songscope.service import load_run
    from songscope.store.store import Store

    settings, run_id, _ = stored
    with Store(settings) as store:
        previous = load_run(store, run_id, assignments=False)
        songs = len(store.catalogue())
        for name, backend in _both(settings).items():
            space = backend.fit_space(store, FeatureSpace())
            clustering = backend.cluster(store, space, "kmeans", 4, seed=0, previous=previous)
            try:
                result = clustering.result
                assert clustering.total == songs and len(clustering.songs) == len(result.labels) == len(clustering.points), name
                assert result.n_clusters == 4 and set(np.unique(result.labels)) == {0, 1, 2, 3}, name
                # The metrics are songscope's definitions on the labels returned (exact sums on Spark).
                recomputed = internal_indices(clustering.points, result.labels, seed=0)
                assert clustering.metrics["sse"] == pytest.approx(recomputed["sse"], rel=1e-6), name
                assert clustering.metrics["davies_bouldin"] == pytest.approx(recomputed["davies_bouldin"], rel=1e-6), name
                # Numbered as the previous run's clusters they continue.
                assert clustering.identities is not None and len(clustering.identities) == 4, name
                chunks = clustering.assignment_chunks() if clustering.assignment_chunks is not None else None
                every = clustering.songs.assign(cluster=result.labels) if chunks is None else pd.concat(list(chunks))
                assert len(every) == songs and every["track_id"].is_unique, name
                # A result is made once: its predictor agrees with its labels.
                np.testing.assert_array_equal(result.predict(clustering.points[:200]), result.labels[:200])
            finally:
                clustering.release()


def test_assign(stored):
    from songscope.service import load_run
    from songscope.store.store import Store

    settings, run_id, _ = stored
    placed = {}
    with Store(settings) as store:
        run = load_run(store, run_id, assignments=False)
        centres = np.array(run.clusters["centre"].tolist(), dtype=np.float64)
        numbers = run.clusters["cluster"].to_numpy(dtype=np.int64)
        for name, backend in _both(settings).items():
            placement = backend.assign(store, run, centres, numbers, seed=0)
            try:
                songs = pd.concat(list(placement.chunks())).sort_values("track_id", ignore_index=True)
                placed[name] = (placement.new_songs, placement.fitted_songs, placement.new_per_cluster, songs)
            finally:
                placement.release()
    local, spark = placed["local"], placed["spark"]
    assert local[0] == spark[0] > 0 and local[1] == spark[1] and local[2] == spark[2]
    pd.testing.assert_frame_equal(local[3][["track_id", "cluster"]], spark[3][["track_id", "cluster"]], check_dtype=False)
    np.testing.assert_allclose(local[3]["distance"], spark[3]["distance"], rtol=1e-6)


def test_place_names(stored):
    """Both backends place every catalogue file's songs by the same name model alike, and write
    their coordinates to the same lake keys (Spark's executors write them)."""
    from songscope.service import names
    from songscope.store import keys
    from songscope.store.catalogue import track_parts
    from songscope.store.store import Store

    settings, _, _ = stored
    placed = {}
    with Store(settings) as store:
        model = names.name_model(store)
        parts, starts = track_parts(store)
        for name, backend in _both(settings).items():
            for key in parts:
                store.lake.delete(keys.name_coordinates(model.version, key))
            assert backend.place_names(store, model, parts) == starts[-1] > 0, name
            assert all(store.lake.exists(keys.name_coordinates(model.version, key)) for key in parts), name
            placed[name] = names.catalogue_name_coordinates(store)
    assert placed["local"].shape == (starts[-1], model.dimensions)
    np.testing.assert_allclose(placed["spark"], placed["local"], atol=1e-6)
