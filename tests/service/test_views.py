"""The web app's views are typed, frozen results; their to_dict() is what the API answers."""

from __future__ import annotations

import dataclasses

import pytest

from songscope import service
from songscope.evaluate.stability import verdict
from songscope.service.views import ClusterDetails, Overview, RunDetails, SongDetails
from songscope.store.store import Store
from tests.conftest import copy_stores


def test_views_are_typed_frozen_and_answer_what_the_api_shows(seed_catalogue, tmp_path):
    settings = copy_stores(seed_catalogue, tmp_path)
    with Store(settings) as store:
        run_id = service.cluster(store, k=4, resamples=5).run_id
        details = service.run_details(store, run_id)
        overview = service.overview(store)
        first = service.search_songs(store, "bastille admit")[0]
        song = service.song(store, first.track_id, run_id)
        cluster = service.cluster_details(store, song.cluster, run_id)
        saved = service.save_list(store, "mine", [first.track_id])

    assert isinstance(details, RunDetails) and isinstance(overview, Overview)
    assert isinstance(song, SongDetails) and isinstance(cluster, ClusterDetails)
    for view in (details, overview, first, song, cluster, saved):
        with pytest.raises(dataclasses.FrozenInstanceError):
            view.run_id = "changed"  # never mutated after it is made

    shown = details.to_dict()
    assert shown["run_id"] == run_id and len(shown["clusters"]) == 4
    for row in shown["clusters"]:  # each cluster's stability, in words, from its own Jaccard
        assert row["stability"] == verdict(row["jaccard"])
    assert overview.to_dict()["current_run"]["clusters"] == shown["clusters"]
    assert overview.current_run.run_id == run_id and overview.runs[0].run_id == run_id
    assert overview.to_dict()["catalogue"]["feature_set"]["name"] == "spotify" and overview.songs == 15_626

    assert song.track_id == first.track_id and song.name == first.name == "Bastille - Admit Defeat"
    assert [n.distance for n in song.nearest] == sorted(n.distance for n in song.nearest) and len(song.nearest) == 10
    assert song.to_dict()["nearest"][0] == dataclasses.asdict(song.nearest[0])
    assert cluster.size == next(r["size"] for r in shown["clusters"] if r["cluster"] == song.cluster)
    assert len(cluster.sample) == 25 and cluster.to_dict()["sample"][0] == {"track_id": cluster.sample[0].track_id, "name": cluster.sample[0].name}
    assert saved.favourites == [first.track_id] and saved.to_dict()["names"] == {first.track_id: "Bastille - Admit Defeat"}
