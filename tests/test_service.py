"""Clustering runs end to end: persisted on every database, compared, driven from the CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from songscope import service
from songscope.backends.choice import SPARK_MIN_ROWS, choose_kind
from songscope.cli import app
from songscope.compare import compare_runs
from songscope.service import common as service_common
from songscope.store import cache, keys
from songscope.store.lake import Lake
from songscope.store.runs import ClusterRun, RunNotFound
from songscope.store.store import Store
from tests.conftest import cluster, copy_stores, ingest, load_catalogue, load_run

runner = CliRunner(env={"COLUMNS": "240", "NO_COLOR": "1"})


@pytest.fixture
def catalogue_settings(seed_catalogue, tmp_path):
    """A private copy of the seed catalogue's database and lake."""
    return copy_stores(seed_catalogue, tmp_path)


def test_cluster_run_is_saved_and_loaded_whole_on_every_database(seed_catalogue, tmp_path, db_url):

    settings = copy_stores(seed_catalogue, tmp_path, db_url)
    outcome = cluster(settings, k=5, resamples=3)
    stored = load_run(settings, outcome.run_id)
    made = outcome.run
    assert stored.k == 5 and stored.n_tracks == 15_626 and stored.engine == "local" and stored.algorithm == "kmeans"
    assert sorted(stored.assignments["cluster"].unique()) == [0, 1, 2, 3, 4]
    assert stored.clusters["description"].str.len().min() > 0 and len(stored.clusters["centre"].iloc[0]) == 10
    assert stored.metrics["silhouette"] == pytest.approx(made.metrics["silhouette"])
    # The evidence travels with the run (before, only the report could read it from a side file).
    assert stored.stability["resamples"] == 3 and len(stored.stability["jaccard"]) == 5 and stored.stability["seeds"]["runs"] == 3
    assert stored.null_model == pytest.approx(made.null_model) and stored.null_model["k"] == 5
    assert [t["feature"] for t in stored.feature_tests] == [t["feature"] for t in made.feature_tests]
    assert stored.engine_reason == "local backend, as asked" and stored.timings.keys() >= {"features_s", "cluster_s", "engine_fit_s"}
    assert stored.space == made.space and stored.params == pytest.approx(made.params)
    # The lake holds the per-song assignments for lake readers; no side file holds a second copy of the rest.
    lake = Lake(settings.lake_url)
    assert lake.keys(f"runs/{outcome.run_id}") == [keys.run_assignments(outcome.run_id)]
    assert lake.read_table(keys.run_assignments(outcome.run_id)).num_rows == 15_626


def test_compare_two_algorithms(catalogue_settings):
    a = cluster(catalogue_settings, k=6, resamples=0).run
    b = cluster(catalogue_settings, algorithm="gmm", k=6, resamples=0, params={"covariance_type": "diag"}).run
    result = compare_runs(load_run(catalogue_settings, a.run_id), load_run(catalogue_settings, b.run_id), load_catalogue(catalogue_settings))
    assert list(result.runs["algorithm"]) == ["kmeans", "gmm"]
    assert result.runs.loc[0, "silhouette"] == pytest.approx(a.metrics["silhouette"])
    assert 0 < result.agreement["ari"] < 1
    assert int(result.contingency.to_numpy().sum()) == 15_626
    assert int(result.sizes["A"].sum()) == 15_626


def test_unknown_run_lists_the_known_ones(catalogue_settings):
    cluster(catalogue_settings, k=3, resamples=0)
    with Store(catalogue_settings) as store:
        with pytest.raises(RunNotFound, match="recent runs: 2"):
            ClusterRun.load(store, "nope")
        with pytest.raises(service.NotFound, match="recent runs: 2"):
            service.load_run(store, "nope")


def test_auto_engine_says_why():
    kind, reason = choose_kind("auto", 15_626)
    assert kind == "local" and "15,626" in reason and "crossover" in reason
    kind, _ = choose_kind("auto", SPARK_MIN_ROWS)
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
    sweep = json.loads(cli("evaluate", "--k", "2..6", "--references", "3", "--no-density", "--json", "--lake", catalogue_settings.lake_url, "--db", catalogue_settings.db_url).output)
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
        result = cli(*args, *common) if args[0] != "evaluate" else cli(*args, "--lake", catalogue_settings.lake_url, "--db", catalogue_settings.db_url)
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
    # The Spark run numbers its clusters as the local run's that they continue, from the pairs
    # its executors counted: as many songs keep their number as any numbering could give them.
    from scipy.optimize import linear_sum_assignment

    a, b = load_run(catalogue_settings, local["run_id"]), load_run(catalogue_settings, spark["run_id"])
    assert b.identities["previous_run"] == local["run_id"] and [row["cluster"] for row in b.identities["clusters"]] == [0, 1, 2, 3]
    joined = a.assignments.merge(b.assignments, on="track_id", suffixes=("_a", "_b"))
    counts = np.zeros((4, 4))
    np.add.at(counts, (joined["cluster_b"].to_numpy(), joined["cluster_a"].to_numpy()), 1)
    rows, columns = linear_sum_assignment(-counts)
    assert (joined["cluster_a"] == joined["cluster_b"]).mean() == pytest.approx(counts[rows, columns].sum() / len(joined))
    continued = [row for row in b.identities["clusters"] if row["continues"] is not None]
    assert len(continued) >= 3 and all(row["continues"] == row["cluster"] for row in continued)
    # Its figures from Spark's counts equal the same computation on the two runs' labels.
    from songscope.evaluate.matching import continuing_numbers

    was = {row["cluster"]: row["was"] for row in b.identities["clusters"]}
    _, expected = continuing_numbers(joined["cluster_a"].to_numpy(), joined["cluster_b"].map(was).to_numpy(), 4, 4)
    assert b.identities["clusters"] == expected


def test_a_long_lived_store_sees_the_newest_run(catalogue_settings):
    """The web app keeps one Store for its life: a run made meanwhile by another process becomes
    "the latest" at once (runs themselves are cached by id)."""
    with Store(catalogue_settings) as store:
        first = service.cluster(store, k=3, resamples=0).run_id
        assert service.run_details(store).run_id == first
        other = cluster(catalogue_settings, k=4, resamples=0).run_id  # another command, its own Store
        assert service.run_details(store).run_id == other and service.run_details(store, first).run.k == 3
        assert service.recommender(store)[1] == other


def test_a_long_lived_store_serves_the_songs_another_process_ingests(settings_factory, seed_files, monkeypatch):
    """The web app keeps one Store for its life: songs another command ingests (and assigns to
    the run's clusters) are searched, shown and recommended within a second of their commit."""
    settings = settings_factory()
    later = next(f for f in seed_files if "world" in f)
    ingest([f for f in seed_files if f != later], settings)
    run_id = cluster(settings, k=4, resamples=0).run_id
    with Store(settings) as store:
        known = set(store.catalogue()["track_id"])
        before = len(service.recommender(store)[0])
        monkeypatch.setattr(service_common, "CATALOGUE_CHECK_EVERY_S", 3_600.0)
        added = ingest([later], settings).record.tracks_added  # another command, its own Store
        new_id = next(t for t in load_catalogue(settings)["track_id"] if t not in known)
        with pytest.raises(service.NotFound):  # kept until the next look, an hour away here
            service.song(store, new_id)
        monkeypatch.setattr(service_common, "CATALOGUE_CHECK_EVERY_S", 0.0)
        shown = service.song(store, new_id)
        model, used = service.recommender(store)
        assert used == run_id and len(model) == before + added
        assert shown.cluster == model.clusters[model.resolve(new_id)] >= 0  # assigned by the other command, and seen


def test_a_report_keeps_its_evidence_for_k_with_the_run(catalogue_settings, tmp_path):
    """What the report showed to choose k and the algorithm is kept with the run, for the web app."""
    with Store(catalogue_settings) as store:
        run_id = service.cluster(store, k=3, resamples=0).run_id
        assert service.run_details(store, run_id).run.selection is None
        written = service.report(store, run_id, output=tmp_path / "r.html", ks=range(2, 5), density=False)
        shown = service.run_details(store, run_id).to_dict()["selection"]
    assert shown["recommended_k"] == written.report.evidence.sweep.recommended_k and [r["k"] for r in shown["sweep"]] == [2, 3, 4]
    assert shown["rationale"] and shown["rationale"] in written.report.html.replace("&#x27;", "'")
    assert [m["algorithm"] for m in shown["methods"]][0] == "kmeans" and shown["methods_sample"] == 4_000
    assert load_run(catalogue_settings, run_id).null_model["k"] == 3  # the rest of the run's evidence is kept


@pytest.mark.spark
def test_run_on_spark_end_to_end(tmp_path, seed_files, spark_local, monkeypatch):
    """`run --engine auto` above the crossover runs every stage on Spark; nothing is missing from the stores."""
    import sqlalchemy as sa

    from songscope.backends import base as backends_base
    from songscope.backends import choice
    from songscope.config import Settings

    monkeypatch.setattr(choice, "SPARK_MIN_ROWS", 10_000)
    monkeypatch.setattr(backends_base, "SAMPLE_ROWS", 6_000)  # as a catalogue too big to draw song by song
    settings = Settings(db_url=f"sqlite:///{tmp_path / 's.db'}", lake_url=str(tmp_path / "lake"), spark_master=spark_local)
    with Store(settings) as store:
        outcome = service.run(store, seed_files, out_dir=tmp_path / "reports", k=6, resamples=3, backend="auto")
    assert outcome.ingest.backend == "spark"
    assert outcome.ingest.report.chain() == "20,301 -> 15,820 -> 15,779 -> 15,626"
    run = outcome.clustering.run
    assert run.engine == "spark" and run.n_tracks == 15_626 and run.k == 6
    assert 5_000 < run.metrics["sample_n"] < 7_000 and run.metrics["silhouette_n"] == run.metrics["sample_n"]
    assert run.metrics["sse"] > 0 and -1 < run.metrics["silhouette"] < 1
    assert int(run.clusters["size"].sum()) == 15_626  # exact, not the sample's
    assert "exact duplicates" in (tmp_path / "reports" / "profile" / "profile.md").read_text()
    page = outcome.report.path.read_text()
    assert f"fixed-seed sample of {run.metrics['sample_n']:,} songs" in page and "15,626 songs" in page
    stored = load_run(settings, run.run_id)
    assert stored.n_tracks == 15_626 and len(stored.assignments) == 15_626
    assert set(stored.assignments["track_id"]) == set(load_catalogue(settings)["track_id"])
    assert Lake(settings.lake_url).parquet_rows(keys.run_assignments(run.run_id)) == 15_626
    engine = sa.create_engine(settings.db_url)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM cluster_assignments")).scalar() == 15_626
    engine.dispose()
    # A later report of the run, in a new process's store, is drawn from a sample too: the
    # catalogue is never read whole, nor the run's assignments.
    with Store(settings) as store:
        later = service.report(store, run.run_id, output=tmp_path / "later.html")
        assert store.peek(cache.CATALOGUE) is None and store.peek(cache.run(run.run_id)) is None
    page = later.path.read_text()
    assert "fixed-seed sample of 6,000 songs" in page and "15,626 songs" in page


def test_the_local_engine_refuses_what_will_not_fit_before_reading(tmp_path, seed_files, monkeypatch):
    from songscope.backends import choice
    from songscope.config import Settings

    monkeypatch.setattr(choice, "available_memory", lambda: 20 * 2**20)  # 20 MiB left
    settings = Settings(db_url=f"sqlite:///{tmp_path / 's.db'}", lake_url=str(tmp_path / "lake"))
    for action in (lambda store: service.run(store, seed_files, out_dir=tmp_path), lambda store: service.ingest(store, seed_files)):
        with Store(settings) as store, pytest.raises(choice.TooBigForLocal, match="--engine spark") as info:
            action(store)
        # The estimate comes from the files' sizes, not from reading them: near the 20,301 rows they hold.
        estimated = int(str(info.value).split("about ", 1)[1].split(" songs", 1)[0].replace(",", ""))
        assert 15_000 < estimated < 25_000 and "GiB available" in str(info.value)
    assert not (tmp_path / "lake").exists() or not list((tmp_path / "lake").rglob("*.parquet"))  # nothing was read or written
    result = CliRunner().invoke(app, ["run", *seed_files, "--db", settings.db_url, "--lake", settings.lake_url, "-o", str(tmp_path)])
    assert result.exit_code == 2 and "--engine spark" in result.output and "Traceback" not in result.output


@pytest.mark.spark
def test_evaluate_on_spark_sweeps_a_fixed_seed_sample(seed_catalogue, spark_local, monkeypatch):
    import dataclasses

    from songscope.backends import base as backends_base

    monkeypatch.setattr(backends_base, "SAMPLE_ROWS", 3_000)
    settings = dataclasses.replace(seed_catalogue, spark_master=spark_local)
    with Store(settings) as store:
        found = service.evaluate(store, ks=[2, 3, 4], references=2, density=False, backend="spark")
        again = service.evaluate(store, ks=[2, 3, 4], references=2, density=False, backend="spark")
    assert found.songs == 15_626 and 2_500 < found.sample_n < 3_500
    assert found.evidence.sweep.table["sse"].tolist() == again.evidence.sweep.table["sse"].tolist()  # the same sample, the same sweep
    assert found.to_dict()["sample_n"] == found.sample_n
    result = CliRunner().invoke(app, ["evaluate", "--k", "2..3", "--references", "2", "--no-density", "--engine", "spark",
                                      "--spark-master", spark_local, "--db", settings.db_url, "--lake", settings.lake_url])
    assert result.exit_code == 0, result.output
    assert "fixed-seed sample of" in result.output and "of 15,626 songs" in result.output


@pytest.mark.spark
def test_profile_on_spark_writes_the_same_tables_and_its_figures(seed_catalogue, spark_local, tmp_path):
    result = CliRunner().invoke(app, ["profile", "--engine", "spark", "--spark-master", spark_local, "--db", seed_catalogue.db_url,
                                      "--lake", seed_catalogue.lake_url, "-o", str(tmp_path / "spark")])
    assert result.exit_code == 0, result.output
    local = CliRunner().invoke(app, ["profile", "--db", seed_catalogue.db_url, "--lake", seed_catalogue.lake_url, "-o", str(tmp_path / "local")])
    assert local.exit_code == 0, local.output
    assert "profiled 15,626 tracks" in result.output
    # The same Markdown, figure for figure (the whole seed is under the exact limit), and the same PNGs drawn.
    assert (tmp_path / "spark" / "profile.md").read_text() == (tmp_path / "local" / "profile.md").read_text()
    assert sorted(p.name for p in (tmp_path / "spark").glob("*.png")) == sorted(p.name for p in (tmp_path / "local").glob("*.png")) != []
    refused = CliRunner().invoke(app, ["profile", "data/seed", "--engine", "spark", "--db", seed_catalogue.db_url, "--lake", seed_catalogue.lake_url])
    assert refused.exit_code == 2 and "ingest the files first" in refused.output


def test_a_cluster_the_sample_missed_keeps_its_exact_size_and_no_stability_figure(seed_catalogue):
    """A Spark run's evidence comes from its sample: a small cluster absent from it is listed with
    its exact size, described as missing, and gets no stability figure (not another cluster's)."""
    import numpy as np

    from songscope.backends.base import Clustering
    from songscope.backends.spark.backend import SparkBackend
    from songscope.cluster.base import ClusterResult
    from songscope.cluster.local import LocalAlgorithm
    from songscope.features import FeatureSpace
    from songscope.service.clusters import _evaluated_run

    sample = load_catalogue(seed_catalogue).head(1_500).reset_index(drop=True)
    space = FeatureSpace().fit(sample)
    X = space.transform(sample)
    fitted = LocalAlgorithm("kmeans", n_clusters=3, random_state=0).fit(X)
    labels = np.array([0, 1, 3])[fitted.labels]  # cluster 2 exists in the catalogue, not in the sample
    centres = np.vstack([fitted.centres[:2], np.zeros((1, X.shape[1])), fitted.centres[2:]])
    result = ClusterResult(labels=labels, centres=centres, backend="spark", algorithm="kmeans", params={})
    sizes = np.array([9_000, 4_000, 12, 2_614])
    clustering = Clustering(result, sample, X, {}, int(sizes.sum()), sizes=sizes)
    with Store(seed_catalogue) as store:
        run = _evaluated_run(store, SparkBackend(store.settings), "kmeans", space, clustering, {}, resamples=3, label=None, params=None,
                             say=lambda message: None)
    clusters = run.clusters.set_index("cluster")
    assert clusters["size"].tolist() == sizes.tolist()
    assert clusters.loc[2, "description"] == "too few songs in the sample to describe"
    assert np.isnan(clusters.loc[2, "jaccard"]) and np.isfinite(clusters.loc[[0, 1, 3], "jaccard"]).all()
    assert run.stability["verdicts"][2] == "not in the sample" and len(run.stability["jaccard"]) == 4


def test_recommendations_come_from_the_lake_file_by_file(tmp_path, seed_files):
    """The service builds the recommender from the catalogue's files one at a time (never the
    whole catalogue as a frame), and it recommends what one built from the whole frame does."""
    import numpy as np

    from songscope.config import Settings
    from songscope.features import FeatureSpace
    from songscope.recommend.recommender import Recommender, RecommendOptions
    from songscope.service.names import catalogue_name_coordinates

    settings = Settings(db_url=f"sqlite:///{tmp_path / 's.db'}", lake_url=str(tmp_path / "lake"))
    with Store(settings) as store:
        service.ingest(store, seed_files[:1])
        service.ingest(store, seed_files[1:])  # a second ingest: more files in the catalogue
        run = service.cluster(store, k=4, resamples=0).run
        store.forget(cache.CATALOGUE)  # clustering (local) read it whole; recommending must not
        service.recommend(store, ["Bastille - Admit Defeat"], options=RecommendOptions(n=5))
        assert store.peek(cache.CATALOGUE) is None  # no whole-catalogue frame was read
        model, run_id = service.recommender(store)
        from songscope.service.songs import songs_of

        assert run_id == run.run_id and model.songs is songs_of(store)
        found = service.search_songs(store, "bastille admit")
        assert found[0].name == "Bastille - Admit Defeat"
        frame = store.catalogue()
        # The names' coordinates are the catalogue's own, placed by the model the first ingest fitted.
        places = catalogue_name_coordinates(store)
    assert len(set(Lake(settings.lake_url).keys("catalogue"))) >= 2
    whole = Recommender.from_frame(frame, FeatureSpace().fit(frame), clusters=run.assignments.set_index("track_id")["cluster"], name_places=places)
    np.testing.assert_array_equal(model.clusters, whole.clusters)
    np.testing.assert_allclose(model.X, whole.X, atol=2e-5)
    for favourites in (["Bastille - Admit Defeat", "Cigarettes After Sex - Cry"], frame["track_id"].iloc[[5, 900, 12_000]].tolist()):
        a, b = model.recommend(favourites, RecommendOptions(n=10)), whole.recommend(favourites, RecommendOptions(n=10))
        assert [(i.track_id, i.cluster) for i in a.items] == [(i.track_id, i.cluster) for i in b.items]
    # Compact: songs, vectors, index and clusters in a few hundred bytes a song.
    assert model.nbytes / len(model) < 300, model.nbytes / len(model)


def test_the_overview_is_kept_until_another_process_writes(seed_catalogue, tmp_path):
    from songscope import service
    from songscope.store.store import Store
    from tests.conftest import copy_stores

    settings = copy_stores(seed_catalogue, tmp_path)
    with Store(settings) as web:
        before = service.overview(web)
        assert service.overview(web) is before  # kept: nothing was written
        with Store(settings) as other:  # another process clusters
            service.cluster(other, k=4, resamples=0)
        after = service.overview(web)
        assert len(after.runs) == len(before.runs) + 1 and after.current_run.run_id != (before.current_run and before.current_run.run_id)


def test_an_ingest_lets_go_of_its_rows_once_they_are_stored(settings_factory, seed_files):
    """The names placed and the songs assigned after the store read the stores, so the outcome keeps
    the report, the sources and the rejected rows, not the clean rows (most of a large ingest's
    memory, which the names would otherwise have had on top)."""
    outcome = ingest(seed_files, settings_factory())
    # No chunk holds a row (an emptied ingest may give empty chunks, or none).
    assert all(tracks.empty and (near_keys is None or not len(near_keys)) for tracks, near_keys in outcome.cleaned.data.track_chunks())
    assert all(provenance.empty for provenance in outcome.cleaned.data.provenance_chunks())
    assert all(duplicates.empty for duplicates in outcome.cleaned.data.duplicate_chunks())
    assert outcome.report.rows_out == outcome.catalogue_rows == 15_626 and outcome.rows_read == 20_301
    assert len(outcome.cleaned.data.sources) == 3 and sum(s.rows_read for s in outcome.cleaned.data.sources) == 20_301
    assert outcome.to_dict()["clean"]["steps"][0]["rows_before"] == 20_301
