"""The catalogue's name coordinates, paid for once per song, not once per command.

The name model (`recommend.names.NameModel`) is fitted once, on a fixed-seed sample of the
catalogue, and kept in the lake (`keys.NAME_MODEL`). Each catalogue file's songs are then placed
once and their coordinates kept beside it, under the model's version (`keys.name_coordinates`):
catalogue files never change (an ingest or a prune adds new ones), so neither do their
coordinates. An ingest places its own songs as it ends (`update`), on its backend: on Spark the
executors place the files, each task reading its file from the lake and writing its coordinates
back, so no song's name passes through this process. The local backend places them while the
database commits (`placed_alongside`, on the catalogue the commit will leave, under the
catalogue's lock) and writes them once the commit is done (`keep`): on two cores the names
then add about one second to a million-song ingest instead of three or four. A command that
finds a file not yet placed (a catalogue from before this release, a crash in between) places
it then, here.

This is derived data: the catalogue is the truth, and anything here that is missing, partly
written or of another model is simply computed again. Writes are atomic and a file's content is
a pure function of the catalogue file and the model, so concurrent writers write the same bytes.

The model is refitted when the catalogue has grown `REFIT_GROWTH` times past the size it was
fitted at (while that was under the sample size): a model fitted on a first ingest of a hundred
songs would otherwise place a million by a hundred songs' n-grams. Its coordinates then move
to the new version and the old ones are removed.
"""

from __future__ import annotations

import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

from songscope.backends.base import keep_part_names, part_name_coordinates, place_part_names
from songscope.memory import release_freed_memory
from songscope.recommend.names import NAME_COLUMNS, NAME_DIMENSIONS, NAME_FIT_SAMPLE, NameModel, name_texts
from songscope.service.common import Progress, say_to
from songscope.store import keys
from songscope.store.catalogue import sample, track_parts
from songscope.store.lake import LakeError
from songscope.store.store import Store
from songscope.temporary import folder_prefix

if TYPE_CHECKING:  # pragma: no cover
    from songscope.backends.base import Backend

#: Refit when the catalogue has this many times the songs the model was fitted for.
REFIT_GROWTH = 4


def name_model(store: Store) -> NameModel:
    """The catalogue's name model: the stored one, or fitted now (and stored) when there is none
    or the catalogue has outgrown it."""
    model, stored = _current_model(store, track_parts(store))
    if model is not stored:
        _keep_model(store, model, stored)
    return model


def _current_model(store: Store, parts: tuple[list[str], np.ndarray]) -> tuple[NameModel, NameModel | None]:
    """The model for the catalogue of `parts` (`track_parts`'s answer) and the stored one: the
    same object when it still serves; otherwise the first is fitted now and not yet stored."""
    songs = int(parts[1][-1])
    stored = _stored_model(store)
    if stored is not None and not _outgrown(stored, songs):
        return stored, stored
    frame, _ = sample(store, NAME_FIT_SAMPLE, columns=NAME_COLUMNS, parts=parts)
    names = name_texts(pa.Table.from_pandas(frame, preserve_index=False))
    fitted = NameModel.fit(names, NAME_DIMENSIONS)
    return NameModel(fitted.grams, fitted.idf, fitted.components, fitted.dimensions, songs), stored


def _keep_model(store: Store, model: NameModel, replaced: NameModel | None) -> None:
    store.lake.write_bytes(keys.NAME_MODEL, model.to_bytes())
    if replaced is not None and replaced.version != model.version:
        _remove_version(store, replaced.version)


def _stored_model(store: Store) -> NameModel | None:
    if not store.lake.exists(keys.NAME_MODEL):
        return None
    try:
        return NameModel.from_bytes(store.lake.read_bytes(keys.NAME_MODEL))
    except (LakeError, ValueError, KeyError, OSError):
        return None  # unreadable (a write from another release, a damaged file): fitted again


def _outgrown(model: NameModel, songs: int) -> bool:
    return model.fitted_on < NAME_FIT_SAMPLE and songs >= REFIT_GROWTH * max(model.fitted_on, 1)


def _remove_version(store: Store, version: str) -> None:
    for key in store.lake.keys(f"{keys.NAMES_FOLDER}/{version}/"):
        store.lake.delete(key)


def catalogue_name_coordinates(store: Store, progress: Progress | None = None) -> np.ndarray:
    """Every song's name coordinates (float32, one row per song in catalogue order), read from
    the lake; songs not yet placed are placed now and kept."""
    model = name_model(store)
    part_keys, starts = track_parts(store)
    out = np.empty((int(starts[-1]), model.dimensions), dtype=np.float32)
    for i, key in enumerate(part_keys):
        out[starts[i] : starts[i + 1]] = _part_coordinates(store, model, key, int(starts[i + 1] - starts[i]), progress)
    return out


def update(store: Store, backend: Backend | None = None, progress: Progress | None = None) -> int:
    """Place the songs of every catalogue file not yet placed by the current model (refitting it
    when the catalogue has outgrown it) on `backend` (the local one by default), and remove the
    coordinates of files no longer in the catalogue. Returns how many songs were placed."""
    model = name_model(store)
    part_keys, _ = track_parts(store)
    missing = _unplaced(store, model, part_keys)
    placed = 0
    if missing:
        if backend is None:
            from songscope.backends.local import LocalBackend

            backend = LocalBackend()
        placed = backend.place_names(store, model, missing, progress)
    listed = {keys.name_coordinates(model.version, key) for key in part_keys}
    for key in store.lake.keys(f"{keys.NAMES_FOLDER}/"):
        if key != keys.NAME_MODEL and key not in listed:
            store.lake.delete(key)  # a pruned file's, or another model's
    return placed


@dataclass(frozen=True)
class PlacedNames:
    """Name coordinates computed for a catalogue its ingest has not committed yet
    (`placed_alongside`), for `keep` to write once it has."""

    model: NameModel
    #: The model stored when they were computed: `model` itself, unless `model` was fitted then.
    stored: NameModel | None
    #: Each catalogue file's coordinates, for the files the model had not placed, in a file of
    #: their own in `folder` (removed once kept, or with this): held in memory, the coordinates
    #: of a big ingest's every song were the only thing its store stage held for every row.
    coordinates: dict[str, Path] = field(default_factory=dict)
    folder: tempfile.TemporaryDirectory | None = None
    #: How long they took, beside the commit.
    seconds: float = 0.0


def placed_alongside(store: Store, part_keys: list[str], starts: np.ndarray, rows_let_go: threading.Event | None = None) -> PlacedNames | None:
    """The names of the catalogue files `part_keys` (starting at the rows `starts`: the
    catalogue an ingest is committing) placed in this process and written nowhere: an ingest's
    `alongside` (`store.catalogue.write_ingest`), which runs while the database inserts the last
    rows and commits, so the names cost the ingest little more than the commit's wait. The
    model is fitted at once (on a sample: a few MB); the placing, whose compiled kernel and
    arrays come to about 200 MB, waits for `rows_let_go`, so its peak does not add to the
    rows'. `seconds` are the fit's and the placing's, not the wait. None for an empty catalogue."""
    if not starts[-1]:
        return None
    started = time.perf_counter()
    release_freed_memory()  # what writing the catalogue's files let go, before the fit adds its own
    model, stored = _current_model(store, (part_keys, starts))
    release_freed_memory()  # the fit's arrays, freed in this thread's own allocator arena
    seconds = time.perf_counter() - started
    if rows_let_go is not None:
        rows_let_go.wait()
    started = time.perf_counter()
    missing = _unplaced(store, model, part_keys)
    folder = tempfile.TemporaryDirectory(prefix=folder_prefix("names"))
    coordinates = {}
    for number, key in enumerate(missing):
        coordinates[key] = Path(folder.name) / f"{number:05d}.npy"
        np.save(coordinates[key], part_name_coordinates(store.lake, model, key))
        release_freed_memory()  # the file's names and their n-grams
    return PlacedNames(model, stored, coordinates, folder, seconds + time.perf_counter() - started)


def keep(store: Store, placed: PlacedNames) -> None:
    """Write what `placed_alongside` computed, once its ingest has committed: the model when it
    was fitted then (removing the coordinates of the one it replaces) and the coordinates."""
    if placed.model is not placed.stored:
        _keep_model(store, placed.model, placed.stored)
    for key, path in placed.coordinates.items():
        keep_part_names(store.lake, placed.model, key, np.load(path))
    if placed.folder is not None:
        placed.folder.cleanup()


def _unplaced(store: Store, model: NameModel, part_keys: list[str]) -> list[str]:
    """The catalogue files of `part_keys` whose coordinates by `model` the lake lacks."""
    return [key for key in part_keys if not store.lake.exists(keys.name_coordinates(model.version, key))]


def _part_coordinates(store: Store, model: NameModel, part_key: str, rows: int, progress: Progress | None) -> np.ndarray:
    key = keys.name_coordinates(model.version, part_key)
    try:
        table = store.lake.read_table(key)
        if table.num_rows == rows and table.num_columns == model.dimensions:
            return np.column_stack([table.column(i).to_numpy() for i in range(model.dimensions)]).astype(np.float32, copy=False)
    except (LakeError, pa.ArrowException):
        pass  # not placed yet, or removed under us by a refit: placed (again) below
    say_to(progress)(f"placing the names of {rows:,} songs")
    return place_part_names(store.lake, model, part_key)
