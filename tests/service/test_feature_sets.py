"""Feature sets as data, through the whole pipeline: a catalogue ingested as described by a
made-up set of five features (one circular) is profiled, clustered, evaluated, recommended from,
reported and served by the web app in that set's columns and words, never Spotify's."""

from __future__ import annotations

from pathlib import Path

import pytest

from songscope import schema, service
from songscope.errors import UserError
from songscope.recommend.recommender import NAME_REASON
from songscope.schema import FeatureColumn, FeatureSet
from songscope.store.store import Store

#: Five stored columns, one circular, with words Spotify's set does not use.
MADE_UP = FeatureSet("made_up", (
    FeatureColumn("energy", "scaled", "fiery", "mellow", "0..1 score"),
    FeatureColumn("valence", "scaled", "sunny", "gloomy", "0..1 score"),
    FeatureColumn("tempo", "scaled", "brisk", "leisurely", "BPM", weight=2.0),
    FeatureColumn("duration_ms", "log", "lengthy", "brief", "ms"),
    FeatureColumn("key", "circular", unit="pitch class", period=12),
))
OWN_WORDS = {"fiery", "mellow", "sunny", "gloomy", "brisk", "leisurely", "lengthy", "brief", "popular", "obscure"}
SPOTIFY_WORDS = {word for pair in schema.SPOTIFY.words().values() for word in pair} - OWN_WORDS
TUTORIAL = str(Path(__file__).resolve().parents[2] / "data" / "seed" / "tutorial_data.csv")


@pytest.fixture
def made_up(monkeypatch):
    monkeypatch.setitem(schema.FEATURE_SETS, MADE_UP.name, MADE_UP)
    return MADE_UP


def _described_in_own_words(description: str) -> bool:
    return description == "close to the catalogue's middle" or set(description.split(", ")) <= OWN_WORDS


def test_every_stage_reads_the_catalogue_s_feature_set(made_up, settings_factory, tmp_path):
    from fastapi.testclient import TestClient

    from songscope.web.app import create_app

    settings = settings_factory()
    with Store(settings) as store:
        ingested = service.ingest(store, [TUTORIAL], features="made_up")
        assert ingested.catalogue_rows == 1_742
        assert service.status(store).feature_set == "made_up"

        profiled = service.profile(store, out_dir=tmp_path / "profile", figures=False)
        assert profiled.profile.feature_set == "made_up"
        assert list(profiled.profile.correlations.columns) == ["energy", "valence", "tempo", "duration_ms", "key", "popularity"]
        assert "Described by the made_up feature set: energy, valence, tempo, duration_ms, key." in profiled.paths["markdown"].read_text()

        clustered = service.cluster(store, k=4, resamples=2, space=None)
        run = clustered.run
        assert run.space["features"] == "made_up" and run.space["columns"] == ["energy", "valence", "tempo", "duration_ms"]
        assert clustered.result.centres.shape == (4, 4)
        descriptions = list(run.clusters["description"])
        assert all(_described_in_own_words(d) for d in descriptions), descriptions
        assert any(word in OWN_WORDS for d in descriptions for word in d.split(", "))
        assert {t["feature"] for t in run.feature_tests} == {"energy", "valence", "tempo", "duration_ms", "popularity"}

        # The set's circular feature is its key: the space may place songs on its circle.
        from songscope.features import FeatureSpace

        circled = service.cluster(store, k=3, resamples=0, space=FeatureSpace(key="circle"))
        assert circled.run.space["features"] == "made_up"
        assert FeatureSpace.from_dict(circled.run.space).output_names == ["energy", "valence", "tempo", "log_duration_ms", "key_sin", "key_cos"]

        evaluated = service.evaluate(store, ks=[2, 3], references=2, density=False)
        assert evaluated.evidence.sweep.recommended_k in (2, 3) and evaluated.songs == 1_742

        model, _ = service.recommender(store)
        assert model.space.features == "made_up" and model.space.output_names == ["energy", "valence", "tempo", "log_duration_ms"]
        weights = model.distance.weight_vector(model.space.output_names, model.space.feature_set)
        assert weights[2] == pytest.approx(2 * weights[0])  # tempo counts twice, as the set declares
        favourite = model.songs.label(0)
        outcome = service.recommend(store, [favourite])
        assert len(outcome.result.items) == 10
        for item in outcome.result.items:  # the reasons name the set's features and its words
            named = {n.removeprefix("higher ").removeprefix("lower ") for n in item.similar_in + item.differs_in}
            assert named - {"artist's sound", NAME_REASON} <= {"energy", "valence", "tempo", "duration_ms"}  # in their own names, a log or not
            assert _described_in_own_words(item.cluster_description or "close to the catalogue's middle")

        written = service.report(store, output=tmp_path / "report.html")
        page = written.path.read_text(encoding="utf-8")
        assert "described by the <b>made_up</b> feature set" in page
        assert not any(f">{word}<" in page for word in SPOTIFY_WORDS)

    client = TestClient(create_app(settings), base_url="http://127.0.0.1:8000")
    overview = client.get("/api/overview").json()
    assert overview["catalogue"]["feature_set"]["name"] == "made_up"
    assert [f["name"] for f in overview["catalogue"]["feature_set"]["features"]] == ["energy", "valence", "tempo", "duration_ms", "key"]
    details = client.get(f"/api/runs/{run.run_id}").json()
    assert all(_described_in_own_words(c["description"]) for c in details["clusters"])
    track_id = str(clustered.songs["track_id"].iloc[0])
    song = client.get(f"/api/songs/{track_id}", params={"run_id": run.run_id}).json()
    assert set(song["features"]) == {"energy", "valence", "tempo", "duration_ms"}
    assert client.get(f"/clusters/0?run_id={run.run_id}").status_code == 200


def test_a_catalogue_of_two_sets_is_compared_on_what_they_share(made_up, settings_factory, seed_files):
    with Store(settings_factory()) as store:
        service.ingest(store, [TUTORIAL], features="made_up")
        service.ingest(store, [f for f in seed_files if not f.endswith("tutorial_data.csv")][:1])
        assert service.status(store).feature_set == "made_up+spotify"
        shared = schema.feature_set("made_up+spotify")
        assert shared.names == MADE_UP.names and shared.words() == MADE_UP.words()
        run = service.cluster(store, k=3, resamples=0).run
        assert run.space["features"] == "made_up+spotify" and run.space["columns"] == list(MADE_UP.continuous)


def test_a_set_the_catalogue_cannot_hold_is_refused_before_any_work(monkeypatch, settings_factory):
    elsewhere = FeatureSet("elsewhere", (FeatureColumn("brightness", "scaled", "bright", "dark", "Hz"),))
    monkeypatch.setitem(schema.FEATURE_SETS, elsewhere.name, elsewhere)
    with Store(settings_factory()) as store:
        with pytest.raises(UserError, match="names brightness, which the catalogue does not store"):
            service.ingest(store, [TUTORIAL], features="elsewhere")
        with pytest.raises(UserError, match="unknown feature set 'nothing-like-it'"):
            service.ingest(store, [TUTORIAL], features="nothing-like-it")
        assert service.status(store).counts["tracks"] == 0
