"""Stable cluster identities: a re-clustered catalogue keeps its cluster numbers where its
clusters continue the earlier run's, and `compare` shows which continues which."""

from __future__ import annotations

import dataclasses

import numpy as np
from typer.testing import CliRunner

from songscope.cli import app
from songscope.evaluate.matching import Matching, continuing_numbers, jaccard_matrix
from tests.conftest import cluster, ingest, load_run


def test_a_renumbered_clustering_is_matched_back():
    rng = np.random.default_rng(0)
    previous = rng.integers(0, 5, 2_000)
    permutation = np.array([3, 0, 4, 1, 2])
    current = permutation[previous]
    current[:100] = rng.integers(0, 5, 100)  # a little disagreement
    numbers, identities = continuing_numbers(previous, current, 5, 5)
    assert (numbers[current] == previous).mean() > 0.9
    assert all(row["continues"] == row["cluster"] and row["jaccard"] > 0.8 for row in identities)
    # Fewer clusters now: the numbers stay 0..k-1, and a cluster whose old number is gone takes a free one.
    merged = np.where(previous == 4, 0, previous)
    numbers, identities = continuing_numbers(previous, merged, 5, 4)
    assert sorted(numbers.tolist()) == [0, 1, 2, 3] and [row["cluster"] for row in identities] == [0, 1, 2, 3]
    # Songs one run did not label (noise, or new since) are left out of the match.
    noisy = previous.copy()
    noisy[::3] = -1
    assert Matching.between(jaccard_matrix(noisy, previous, 5, 5)).pairs == [(c, c, 1.0) for c in range(5)]


def test_reclustering_keeps_the_cluster_numbers_and_compare_shows_the_match(settings_factory, seed_files):
    settings = settings_factory()
    ingest(seed_files, settings)
    first = cluster(settings, k=5, resamples=0).run_id
    again = cluster(dataclasses.replace(settings, seed=7), k=5, resamples=0).run_id
    a, b = load_run(settings, first), load_run(settings, again)
    assert a.identities is None and b.identities["previous_run"] == first
    joined = a.assignments.merge(b.assignments, on="track_id", suffixes=("_a", "_b"))
    same_number = (joined["cluster_a"] == joined["cluster_b"]).mean()
    # As many songs keep their number as any numbering of B's clusters could give them, and more
    # than the engine's own numbering did (k-means with another seed numbers its clusters at will).
    from scipy.optimize import linear_sum_assignment

    counts = np.zeros((5, 5))
    np.add.at(counts, (joined["cluster_b"].to_numpy(), joined["cluster_a"].to_numpy()), 1)
    rows, columns = linear_sum_assignment(-counts)
    best = counts[rows, columns].sum() / len(joined)
    was = {row["cluster"]: row["was"] for row in b.identities["clusters"]}
    engine_numbering = (joined["cluster_a"] == joined["cluster_b"].map(was)).mean()
    assert same_number >= 0.97 * best and same_number > engine_numbering, (same_number, best, engine_numbering)
    continued = [row for row in b.identities["clusters"] if row["continues"] is not None]
    assert len(continued) >= 4 and all(row["continues"] == row["cluster"] for row in continued)
    runner = CliRunner(env={"COLUMNS": "200", "NO_COLOR": "1"})
    shown = runner.invoke(app, ["compare", first, again, "--db", settings.db_url, "--lake", settings.lake_url])
    assert shown.exit_code == 0, shown.output
    assert "which cluster of B continues which of A" in shown.output and "A 0 -> B 0 (Jaccard" in shown.output
