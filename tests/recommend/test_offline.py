"""The offline evaluation scores songscope as it runs in use: on a catalogue whose feature set
learns its metric from genre tags, songscope's default learns them from the training half only."""

from __future__ import annotations

import numpy as np
import pandas as pd

from songscope.recommend import offline
from songscope.recommend.distance import training_half
from tests.service.test_tag_weights import audio_table


def test_songscope_is_scored_with_weights_learned_from_the_training_half_s_tags(tmp_path):
    tracks = pd.read_csv(audio_table(tmp_path / "library.csv", 400, seed=5))
    report = offline.evaluate_recommendations(tracks, label="genre", queries=150, repeats=2, features="audio").to_dict()
    training = int(training_half(tracks["track_id"].to_numpy()).sum())
    [note] = [n for n in report["notes"] if n.startswith("songscope's metric, taught by the training half's genre tags")]
    assert f"feature weights learned from the genre tags of {training} songs" in note and "the names' coordinates" in note
    scores = {r["method"]: r for r in report["results"] if r["metric"] == "genre_precision@10"}
    assert scores["exact kNN"]["diff_ci_low"] > 0.05  # songscope minus exact kNN, on the evaluation half's queries
    steps = {r["step"]: r for r in report["ablation"] if r["metric"] == "genre_precision@10"}
    assert np.isfinite(steps["+ learned feature weights"]["mean"])
