"""The report's evidence for k and the algorithm, computed in a second process while `songscope
run` ingests and clusters (`python -m songscope.evaluate.evidence_worker`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


class BackgroundEvidence:
    """The report's evidence for k and the algorithm (`select.selection_evidence`) computed in a
    second process.

    It needs only the feature matrix, and it is the longest part of `run`: in a process of its own
    it uses the second core from the start (its imports, scikit-learn's among them, happen while
    `run` ingests) without holding this process's GIL. If the process cannot start or fails, the
    evidence is computed here instead, so the report never depends on it.
    """

    def __init__(self) -> None:
        import os
        import subprocess
        import sys

        self.X: np.ndarray | None = None
        self.k: int | None = None
        self.seed = 0
        self.sender = None
        # The child finds this very songscope, however the caller's path was set up.
        package_root = str(Path(__file__).resolve().parents[2])
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (package_root, os.environ.get("PYTHONPATH", "")) if p))
        try:
            self.process: subprocess.Popen | None = subprocess.Popen(
                [sys.executable, "-m", "songscope.evaluate.evidence_worker"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env
            )
        except OSError:
            self.process = None

    def start(self, X: np.ndarray, k: int, seed: int) -> None:
        self.X, self.k, self.seed = X, k, seed
        if self.process is not None:
            import threading

            # From a thread: the matrix is larger than the pipe's buffer, and the worker may still be
            # importing; a plain write would block this process until it reads.
            self.sender = threading.Thread(target=self._send, args=((X, k, seed),), name="songscope-evidence-send", daemon=True)
            self.sender.start()

    def _send(self, message) -> None:
        import pickle

        try:
            pickle.dump(message, self.process.stdin, protocol=pickle.HIGHEST_PROTOCOL)
            self.process.stdin.close()
        except (OSError, ValueError):  # the worker is gone; `result` computes the evidence here
            pass

    def result(self):
        import pickle

        if self.process is not None:
            try:
                status, value = pickle.load(self.process.stdout)
                if status == "ok":
                    return value
            except (EOFError, OSError, pickle.UnpicklingError):
                pass
            self.close()
        return compute(self.X, self.k, self.seed)

    def close(self) -> None:
        if self.process is not None:
            # Its work is done or no longer wanted: stop it rather than wait for its interpreter to
            # wind down (a second or more with scikit-learn loaded).
            self.process.kill()
            self.process.wait()
            if self.sender is not None:
                self.sender.join()
            for stream in (self.process.stdin, self.process.stdout):
                try:
                    stream.close()
                except OSError:
                    pass
            self.process = None


def compute(X: np.ndarray, k: int | None, seed: int):
    """`select.selection_evidence` on one core's worth of threads, as the worker and its fallback
    both compute it: the run's own process works on the other core (BLAS threads that outnumber
    the cores spin and slow both), and the same threads give the same figures to the last bit."""
    from threadpoolctl import threadpool_limits

    from songscope.evaluate.select import selection_evidence

    with threadpool_limits(1):
        return selection_evidence(X, k=k, seed=seed)
