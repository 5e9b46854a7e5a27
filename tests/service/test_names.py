"""The catalogue's name coordinates: placed by the ingest that adds the songs, read (not
computed) by every command after it, refitted when the catalogue outgrows its model, and
computed again whenever missing or damaged."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from songscope import service
from songscope.recommend.names import NameModel
from songscope.service import names
from songscope.store import keys
from songscope.store.store import Store


@pytest.fixture
def slices(tmp_path):
    """Three CSVs of the seed's songs: 60, then 60 more, then 400 more (no song in two)."""
    seed = pd.read_csv("data/seed/tutorial_data.csv", index_col=0).drop_duplicates("track_id")
    out = []
    for name, (lo, hi) in {"a": (0, 60), "b": (60, 120), "c": (120, 520)}.items():
        path = tmp_path / f"{name}.csv"
        seed.iloc[lo:hi].to_csv(path)
        out.append(str(path))
    return out


def _every_name(store: Store) -> list[str]:
    from songscope.recommend.names import name_texts
    from songscope.store.catalogue import read

    return name_texts(pa.Table.from_pandas(read(store, names.NAME_COLUMNS), preserve_index=False))


def _placed(store: Store) -> list[str]:
    return [k for k in store.lake.keys(f"{keys.NAMES_FOLDER}/") if k != keys.NAME_MODEL]


def test_an_ingest_places_its_songs_and_no_later_command_computes_them(settings_factory, slices, monkeypatch):
    settings = settings_factory()
    with Store(settings) as store:
        outcome = service.ingest(store, slices[:1])
        assert "names" in outcome.timings
        model = NameModel.from_bytes(store.lake.read_bytes(keys.NAME_MODEL))
        (placed,) = _placed(store)
        assert placed.startswith(f"{keys.NAMES_FOLDER}/{model.version}/{keys.CATALOGUE_FOLDER}/")
        # Fitted on every name (fewer than the sample), the stored coordinates are the fit's own.
        every = _every_name(store)
        np.testing.assert_allclose(names.catalogue_name_coordinates(store), NameModel.fit(every).project(every), atol=1e-6)

    def refuse(*args, **kwargs):
        raise AssertionError("names computed by a command after the ingest")

    monkeypatch.setattr(NameModel, "fit", refuse)
    monkeypatch.setattr(NameModel, "project", refuse)
    with Store(settings) as store:  # a new process's store: nothing cached
        model, _ = service.recommender(store)
        assert model.distance.name_context == 2.0 and "names" in model.recommend(model.songs.ids([0])).items[0].contributions


def test_a_later_ingest_places_only_its_songs_and_a_grown_catalogue_is_refitted(settings_factory, slices, monkeypatch):
    settings = settings_factory()
    projected = []
    project = NameModel.project

    def counted(self, texts):
        projected.append(len(texts))
        return project(self, texts)

    monkeypatch.setattr(NameModel, "project", counted)
    with Store(settings) as store:
        service.ingest(store, slices[:1])
        first = NameModel.from_bytes(store.lake.read_bytes(keys.NAME_MODEL))
        assert first.fitted_on == 60 and projected == [60]
        service.ingest(store, slices[1:2])  # 120 songs: under 4x the 60 it was fitted for
        assert NameModel.from_bytes(store.lake.read_bytes(keys.NAME_MODEL)).version == first.version
        assert projected == [60, 60] and len(_placed(store)) == 2
        service.ingest(store, slices[2:])  # 520 songs: refitted, every file placed again
        second = NameModel.from_bytes(store.lake.read_bytes(keys.NAME_MODEL))
        assert second.version != first.version and second.fitted_on == 520
        assert sorted(projected[2:]) == [60, 60, 400]
        assert all(k.startswith(f"{keys.NAMES_FOLDER}/{second.version}/") for k in _placed(store)) and len(_placed(store)) == 3
        every = _every_name(store)
        np.testing.assert_allclose(names.catalogue_name_coordinates(store), second.project(every), atol=1e-6)


def test_missing_or_damaged_coordinates_are_placed_again_and_stale_ones_removed(settings_factory, slices):
    settings = settings_factory()
    with Store(settings) as store:
        service.ingest(store, slices[:2])
        before = names.catalogue_name_coordinates(store)
        (placed,) = _placed(store)
        store.lake.delete(placed)
        np.testing.assert_array_equal(names.catalogue_name_coordinates(store), before)
        assert store.lake.exists(placed)
        store.lake.write_bytes(placed, b"not parquet")
        np.testing.assert_array_equal(names.catalogue_name_coordinates(store), before)
        store.lake.write_bytes(f"{keys.NAMES_FOLDER}/0123456789abcdef/catalogue/x/part-00000.parquet", b"another model's")
        assert names.update(store) == 0 and _placed(store) == [placed]
        store.lake.write_bytes(keys.NAME_MODEL, b"damaged")
        # Fitted again on the same names: the same model, whose coordinates are in place already.
        assert names.update(store) == 0 and _placed(store) == [placed]
        assert NameModel.from_bytes(store.lake.read_bytes(keys.NAME_MODEL)).fitted_on == 120
        np.testing.assert_array_equal(names.catalogue_name_coordinates(store), before)


def test_with_the_names_off_nothing_is_placed(settings_factory, slices):
    settings = dataclasses.replace(settings_factory(), name_context=0.0)
    with Store(settings) as store:
        outcome = service.ingest(store, slices[:1])
        assert "names" not in outcome.timings and not store.lake.keys(f"{keys.NAMES_FOLDER}/")
        assert service.recommender(store)[0].X.shape[1] == 2 * len(service.recommender(store)[0].space.output_names)


def test_an_ingest_places_its_names_while_it_commits_as_they_are_placed_after(settings_factory, slices, monkeypatch):
    import threading

    settings = settings_factory()
    threads = []
    project = NameModel.project

    def recorded(self, texts):
        threads.append(threading.current_thread().name)
        return project(self, texts)

    monkeypatch.setattr(NameModel, "project", recorded)
    kept = []
    keep = names.keep

    def keep_recorded(store, placed):
        # Until the commit, each file's coordinates wait on disk, not in memory; then they are gone.
        assert placed.coordinates and all(path.is_file() and path.parent == Path(placed.folder.name) for path in placed.coordinates.values())
        keep(store, placed)
        kept.append(Path(placed.folder.name))

    monkeypatch.setattr(names, "keep", keep_recorded)
    with Store(settings) as store:
        first = service.ingest(store, slices[:1])
        assert 0 < first.timings["store_names"] < first.timings["store"]  # within the store's time, not beside it
        service.ingest(store, slices[2:])  # 460 songs: the model is refitted, on files not committed yet
        assert len(threads) == 3 and all(name.startswith("alongside-commit") for name in threads)
        assert len(kept) == 2 and not any(folder.exists() for folder in kept)
        model, placed, coordinates = store.lake.read_bytes(keys.NAME_MODEL), _placed(store), names.catalogue_name_coordinates(store)
        assert NameModel.from_bytes(model).fitted_on == 460
        for key in store.lake.keys(f"{keys.NAMES_FOLDER}/"):
            store.lake.delete(key)
        assert names.update(store) == 460  # from the committed catalogue, on this thread: the same model and places
        assert len(threads) == 5 and store.lake.read_bytes(keys.NAME_MODEL) == model and _placed(store) == placed
        np.testing.assert_array_equal(names.catalogue_name_coordinates(store), coordinates)


def test_an_ingest_that_fails_to_commit_keeps_no_names(settings_factory, slices, monkeypatch):
    from songscope.store import db

    def refuse(*args, **kwargs):
        raise RuntimeError("the database went away")

    monkeypatch.setattr(db, "add_catalogue_files", refuse)
    with Store(settings_factory()) as store:
        with pytest.raises(RuntimeError, match="went away"):
            service.ingest(store, slices[:1])
        assert not store.lake.keys(f"{keys.NAMES_FOLDER}/")
