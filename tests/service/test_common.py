"""Choosing a job's backend: what the local backend must hold, stage by stage."""

from __future__ import annotations

import pytest

from songscope.backends import choice
from songscope.config import Settings
from songscope.service.common import backend_for
from songscope.store.store import Store


def test_an_ingest_is_held_to_its_own_memory_figure(tmp_path, monkeypatch):
    """The local ingest streams its rows in batches and holds their keys: 5M rows fit in 3 GiB
    (measured peak 1.9 GB), where a stage that holds the whole catalogue would not."""
    monkeypatch.setattr(choice, "available_memory", lambda: 3 * 2**30)
    monkeypatch.setattr(choice, "estimate_rows", lambda sources, s3_endpoint=None: 5_000_000)
    settings = Settings(db_url=f"sqlite:///{tmp_path / 's.db'}", lake_url=str(tmp_path / "lake"))
    with Store(settings) as store:
        assert backend_for(store, "local", sources=["songs.csv"], ingests=True).name == "local"
        with pytest.raises(choice.TooBigForLocal, match="5,000,000 songs need an estimated 8.4 GiB"):
            backend_for(store, "local", sources=["songs.csv"])
        monkeypatch.setattr(choice, "estimate_rows", lambda sources, s3_endpoint=None: 6_000_000)
        with pytest.raises(choice.TooBigForLocal, match="6,000,000 songs need an estimated 3.2 GiB"):
            backend_for(store, "local", sources=["songs.csv"], ingests=True)
