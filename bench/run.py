"""Benchmark: `songscope run` on the seed CSVs, cold (a new process each time), report included.

The design's target is "under the 2.7 s that the seed's scikit-learn k-means fit alone took in its
notebook". That figure was measured on another machine, so this also times, on this machine, what
a fresh process spends importing songscope's stack, and the stages `run` reports itself.

    python bench/run.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

IMPORTS = (
    "from songscope import pipeline, eda; from songscope.viz import report, figures; "
    "from songscope.evaluate import select, internal, stability, profile, external; import songscope.cli"
)


def _timed(command: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=True)
    return time.perf_counter() - started, done.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    env = {k: v for k, v in os.environ.items() if not k.startswith("SONGSCOPE_")} | {"COLUMNS": "200"}
    script = str(Path(sys.executable).parent / "songscope")
    runs, imports, stages = [], [], []
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory(prefix="songscope-run-bench-") as folder:
            seconds, out = _timed([script, "run"], Path(folder), env)
            runs.append(seconds)
            match = re.search(r"done in [\d.]+ s \((.*)\)", out)
            if match:
                stages.append({name: float(value) for name, value in re.findall(r"(\w+) ([\d.]+) s", match.group(1))})
        imports.append(_timed([sys.executable, "-c", IMPORTS], Path.cwd(), env)[0])
    result = {
        "benchmark": "run", "repeats": args.repeats,
        "run_wall_s": {"best": round(min(runs), 2), "median": round(statistics.median(runs), 2)},
        "imports_s": round(min(imports), 2),
        "stages_s": {k: round(min(s[k] for s in stages), 2) for k in stages[0]} if stages else {},
        "target_s": 2.7,
    }
    print(f"`songscope run` cold, report included: best {result['run_wall_s']['best']} s, median {result['run_wall_s']['median']} s "
          f"(target {result['target_s']} s); of which a fresh process's imports {result['imports_s']} s; stages {result['stages_s']}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
