"""What every backend shares (`backends.base`): one catalogue file's names placed a slice at a time."""

from __future__ import annotations

import numpy as np

from songscope.backends import base
from songscope.recommend.names import NAME_COLUMNS, name_text_array
from songscope.service import names
from songscope.store.catalogue import read_part, track_parts
from songscope.store.store import Store


def test_a_files_names_placed_a_slice_at_a_time_are_placed_as_all_at_once(seed_catalogue, monkeypatch):
    with Store(seed_catalogue) as store:
        model = names.name_model(store)
        key = track_parts(store)[0][0]
        whole = model.project(name_text_array(read_part(store.lake, key, NAME_COLUMNS)))
        monkeypatch.setattr(base, "PLACE_ROWS", 7)
        sliced = base.part_name_coordinates(store.lake, model, key)
    assert len(whole) > 1_000 and len(whole) % 7  # several slices, the last one short
    np.testing.assert_array_equal(sliced, whole)
