"""Benchmark: `store.text_order.sort_indices` against `pyarrow.compute.sort_indices`, on the keys an
ingest inserts: synthetic Spotify ids (22 base-62 characters, all distinct), ids that all share
their first eight bytes (the slow case: every text tied), and song names (many repeated).

    python bench/text_order.py              # 1,000,000 texts of each kind
    python bench/text_order.py --rows 200000

Prints seconds (best of five) and the ratio; compare ratios, not seconds, across machines.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from songscope.store.text_order import sort_indices

sys.path.insert(0, str(Path(__file__).resolve().parent))
from silhouette import best_of  # noqa: E402 - the same timing as the silhouette bench


def ingest_texts(rows: int) -> dict[str, np.ndarray]:
    """Texts as an ingest keys them, `rows` of each kind: synthetic Spotify ids (22 base-62
    characters, all distinct), the same ids all tied on their first eight bytes, and song names
    (a quarter as many distinct as rows)."""
    rng = np.random.default_rng(0)
    alphabet = np.frombuffer(b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", dtype=np.uint8)
    ids = rng.choice(alphabet, size=(rows, 22)).view("S22").ravel().astype(str)
    return {"spotify ids": ids, "ids tied on 8 bytes": np.char.add("spotify:", ids),
            "song names": np.char.add("Song ", rng.integers(0, rows // 4, rows).astype(str))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    cases = {name: pa.array(texts, type=pa.large_string()) for name, texts in ingest_texts(args.rows).items()}
    results = []
    for name, texts in cases.items():
        assert np.array_equal(sort_indices(texts), pc.sort_indices(texts).to_numpy())
        ours = best_of(5, lambda texts=texts: sort_indices(texts))
        arrow = best_of(5, lambda texts=texts: pc.sort_indices(texts).to_numpy())
        results.append({"case": name, "rows": args.rows, "ours_s": round(ours, 3), "arrow_s": round(arrow, 3), "speedup": round(arrow / ours, 2)})
        print(f"{name:<22}{args.rows:>11,} rows   ours {ours:6.3f} s   arrow {arrow:6.3f} s   {arrow / ours:5.2f}x")
    print(json.dumps({"benchmark": "text_order", "results": results}))


if __name__ == "__main__":
    main()
