"""A worker process that computes the report's evidence (`select.selection_evidence`) for
`songscope run`, so the second core works on it while the run ingests and clusters.

Run as ``python -m songscope.evaluate.evidence_worker``: it gets its imports and compiled kernels
ready first, then reads one pickled ``(X, k, seed)`` from standard input and writes one pickled
``("ok", Evidence)`` or ``("error", traceback)`` to standard output. A plain process rather than
`multiprocessing`, whose spawn start re-runs the caller's main script in the child.
"""

from __future__ import annotations

import pickle
import sys
import traceback


def main() -> int:
    import numpy as np
    import sklearn.cluster  # noqa: F401 - HDBSCAN, DBSCAN and the compared algorithms, imported while the run ingests
    import sklearn.mixture  # noqa: F401

    from songscope.evaluate.background import compute
    from songscope.evaluate.select import silhouette, sweep_kmeans

    sweep_kmeans(np.random.default_rng(0).normal(size=(64, 3)), 2, 0)  # loads the compiled k-means kernels
    silhouette(np.arange(8.0).reshape(4, 2), np.array([0, 0, 1, 1]))
    try:
        X, k, seed = pickle.load(sys.stdin.buffer)
    except EOFError:  # the run ended (or failed) before it needed the evidence
        return 0
    try:
        answer = ("ok", compute(X, k, seed))
    except Exception:  # noqa: BLE001 - reported to the run, which then computes the evidence itself
        answer = ("error", traceback.format_exc())
    pickle.dump(answer, sys.stdout.buffer, protocol=pickle.HIGHEST_PROTOCOL)
    sys.stdout.buffer.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
