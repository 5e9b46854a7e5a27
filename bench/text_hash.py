"""Benchmark: `_text_hash.pandas_text_hashes` (songscope's kernel over Arrow's bytes) against pandas'
``hash_array`` of the same texts as Python strings, the path it replaces (Arrow's distinct texts
made Python strings and hashed), on the texts an ingest hashes: synthetic Spotify ids (all
distinct) and song names (many repeated).

    python bench/text_hash.py              # 1,000,000 texts of each kind
    python bench/text_hash.py --rows 200000

Prints seconds (best of five) and the ratio; compare ratios, not seconds, across machines.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from songscope._text_hash import pandas_text_hashes
from songscope.textcolumns import arrow_strings, utf8_buffers

sys.path.insert(0, str(Path(__file__).resolve().parent))
from silhouette import best_of  # noqa: E402 - the same timing as the silhouette bench
from text_order import ingest_texts  # noqa: E402 - the texts text_order's bench sorts


def pandas_path(texts: pa.Array) -> np.ndarray:
    """The path before the kernel: each distinct text hashed once by pandas, as a Python string."""
    encoded = pc.dictionary_encode(texts)
    hashed = pd.util.hash_array(encoded.dictionary.to_numpy(zero_copy_only=False).astype(object), categorize=False)
    return hashed[encoded.indices.to_numpy(zero_copy_only=False)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    texts = ingest_texts(args.rows)
    cases = {name: arrow_strings(pa.array(texts[name])) for name in ("spotify ids", "song names")}
    results = []
    for name, texts in cases.items():
        assert np.array_equal(pandas_text_hashes(*utf8_buffers(texts)), pandas_path(texts))
        ours = best_of(5, lambda texts=texts: pandas_text_hashes(*utf8_buffers(texts)))
        theirs = best_of(5, lambda texts=texts: pandas_path(texts))
        results.append({"case": name, "rows": args.rows, "ours_s": round(ours, 3), "pandas_s": round(theirs, 3), "speedup": round(theirs / ours, 2)})
        print(f"{name:<14}{args.rows:>11,} rows   ours {ours:6.3f} s   pandas {theirs:6.3f} s   {theirs / ours:5.2f}x")
    print(json.dumps({"benchmark": "text_hash", "results": results}))


if __name__ == "__main__":
    main()
