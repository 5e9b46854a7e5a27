"""`Backend.analyze` on both backends: the same files give the same songs, the same descriptors
(to 1e-6; the executors run the local analyser's own function) and the same rejected files."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from songscope import schema
from tests.audio.conftest import RENDERED

pytestmark = pytest.mark.spark


def test_both_backends_describe_the_same_files_alike(tmp_path, spark_local):
    from songscope.audio.analyze import find_audio
    from songscope.backends.base import IngestOptions
    from songscope.backends.local import LocalBackend
    from songscope.backends.spark.backend import SparkBackend
    from songscope.config import Settings

    folder = tmp_path / "Music" / "Rendered"
    shutil.copytree(RENDERED, folder)
    (folder / "broken.ogg").write_bytes(b"OggS" + bytes(200))
    files, unreadable = find_audio([tmp_path / "Music"])
    options = IngestOptions(features="audio", outlier_rules=(), workers=1)
    settings = Settings(db_url=f"sqlite:///{tmp_path / 's.db'}", lake_url=str(tmp_path / "lake"), spark_master=spark_local)
    found = {}
    for name, backend in {"local": LocalBackend(), "spark": SparkBackend(settings)}.items():
        cleaned = backend.analyze(files, options, unreadable=unreadable)
        tracks = next(cleaned.data.track_chunks())[0].sort_values("track_id", ignore_index=True)
        rejected = next(cleaned.data.rejected_chunks())
        found[name] = (tracks, sorted(zip(rejected["source"], rejected["reason"])), cleaned.audio_files.sort_values("path", ignore_index=True))
    (local, local_rejected, local_files), (spark, spark_rejected, spark_files) = found["local"], found["spark"]
    assert len(local) == 6 and local_rejected == spark_rejected and len(local_rejected) == 1 and "broken.ogg" in local_rejected[0][0]
    pd.testing.assert_frame_equal(local_files, spark_files)
    assert local["track_id"].tolist() == spark["track_id"].tolist()
    features = list(schema.AUDIO.names)
    np.testing.assert_allclose(local[features].to_numpy(dtype=float), spark[features].to_numpy(dtype=float), rtol=0, atol=1e-6)
    assert (local[["artist_name", "track_name"]].to_numpy() == spark[["artist_name", "track_name"]].to_numpy()).all()
