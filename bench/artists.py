"""Benchmark: what every artist of a song gives the recommender, against its first artist only.

A labelled catalogue with duets, from the shipped TidyTuesday set: it lists one artist a song and
keeps the featured artists in the title ("bad guy (with Justin Bieber)"), where Spotify lists them
as the song's other artists. Each song's artists here are its artist, then the ones its title
credits (`songscope.artists.featured`): 2,318 of its 28,356 songs get two or more. Then the offline
evaluation (`eval-recs`' protocol: genre-precision@10 on `--queries` queries from the evaluation
half, bootstrap CIs) of songscope against "songscope, first artist only" (the same recommender
with each song's first artist alone: artist context, cap and exclusions), with the query's artist
excluded too ("discovery"), as paired differences.

    python bench/artists.py [--queries 2000] [--label playlist_genre]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TIDYTUESDAY = ROOT / "data" / "benchmark" / "tidytuesday_2020-01-21" / "spotify_songs.csv"


def with_featured_artists(tracks):
    """`tracks` (a clean catalogue frame) with each song's featured artists after its own."""
    from songscope.artists import SEPARATOR, featured

    every = [SEPARATOR.join(dict.fromkeys([artist, *featured(title)])) for artist, title in zip(tracks["artist_name"], tracks["track_name"])]
    return tracks.assign(artists=every)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--queries", type=int, default=2_000)
    parser.add_argument("--label", default="playlist_genre")
    args = parser.parse_args()

    from songscope.artists import SEPARATOR
    from songscope.clean import read_and_clean
    from songscope.recommend.offline import evaluate_recommendations

    _, cleaned = read_and_clean([str(TIDYTUESDAY)])
    # Genre-precision only: the playlist protocol (460 playlists per method) is `eval-recs`' own.
    tracks = with_featured_artists(cleaned.tracks).drop(columns=["playlist_id"])
    several = int(tracks["artists"].str.contains(SEPARATOR).sum())
    started = time.perf_counter()
    report = evaluate_recommendations(tracks, label=args.label, queries=args.queries)
    seconds = time.perf_counter() - started
    table = report.results
    rows = table[table["method"].isin(["songscope", "songscope, first artist only"])]
    print(f"TidyTuesday with featured artists: {len(tracks):,} songs, {several:,} with several artists; {args.queries:,} queries, {seconds:.0f} s")
    print(f"{'metric':<38} {'method':<30} {'mean':>7} {'95% CI':>17} {'every artist minus this':>26}")
    for _, row in rows.iterrows():
        gain = "" if row["method"] == "songscope" else f"{row['songscope_minus_this']:+.4f} [{row['diff_ci_low']:+.4f}, {row['diff_ci_high']:+.4f}]"
        print(f"{row['metric']:<38} {row['method']:<30} {row['mean']:>7.4f} [{row['ci_low']:.4f}, {row['ci_high']:.4f}] {gain:>26}")
    print(json.dumps({"songs": len(tracks), "several_artists": several, "queries": args.queries, "seconds": round(seconds, 1),
                      "rows": rows.to_dict("records")}, default=float))


if __name__ == "__main__":
    main()
