"""Audio analysis: accuracy against songs whose truth is known by construction, and speed and
memory against bliss-audio (a PyPI wheel, measured here only; songscope does not depend on it).

    python bench/analyze.py                  # 240 rendered songs of 30 s, cached under bench/.cache
    python bench/analyze.py --songs 1000     # and the wall time of 1,000 songs on both cores

What it prints (JSON, then a table):
- tempo Acc1 (within 4%) and Acc2 (octave errors allowed) of songscope and of bliss;
- key (MIREX weighted score) and mode accuracy of songscope (bliss has chroma, no key);
- integrated loudness against FFmpeg's ebur128 filter on the same files;
- CPU seconds per song on one core (BLAS on one thread), songscope and bliss, and their ratio;
- wall time and peak memory (largest worker) to analyse every song with both cores;
- the peak memory of a 2-hour file (windows: it must not grow with the file);
- genre-precision@10 of songscope's recommendations on the rendered set, labelled by its
  generating style (instrument family / drum pattern, also each file's genre tag), against exact
  kNN on the same descriptors; songscope learns its metric from the training half's tags, as it
  would from a library's (`recommend.distance.weights_from_tags`).

Songs are rendered from MIDI by FluidSynth with a GM soundfont (bench/truth.py), encoded as FLAC
with their style as the genre tag. Needs fluidsynth, fluid-soundfont-gm and ffmpeg (Debian).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import subprocess
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.truth import ebur128, render, specs  # noqa: E402

CACHE = Path(__file__).resolve().parent / ".cache" / "rendered"
BLISS_MAX_BPM = 206.0  # bliss maps 0..206 BPM onto -1..1 (its BPMDesc)


def rendered(n: int, seconds: float, folder: Path) -> list[dict]:
    """`n` songs as FLAC with their truth, rendered once and kept in `folder`."""
    folder = folder / f"{n}x{seconds:g}s"  # a set of another size has other tempos under the same names
    folder.mkdir(parents=True, exist_ok=True)
    table = folder / "truth.csv"
    if table.exists():
        with open(table, newline="") as f:
            return list(csv.DictReader(f))
    rows = []
    for i, spec in enumerate(specs(n, seconds)):
        flac = folder / f"{spec.name}.flac"
        if not flac.exists():
            wav = render(spec, folder)
            subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(wav), "-t", str(seconds), "-metadata", f"genre={spec.style}",
                            "-metadata", f"artist=Band {spec.name[-4:]}", "-metadata", f"title={spec.name}", str(flac)], check=True)
            wav.unlink()
        lufs, lra = ebur128(flac)
        rows.append(asdict(spec) | {"file": flac.name, "style": spec.style, "ffmpeg_lufs": lufs, "ffmpeg_lra": lra})
        if (i + 1) % 50 == 0:
            print(f"rendered {i + 1} of {n}", file=sys.stderr)
    with open(table, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return rows


def mirex(key: int, mode: int, found_key: int, found_mode: int) -> float:
    if (found_key, found_mode) == (key, mode):
        return 1.0
    if found_mode == mode and (found_key - key) % 12 in (5, 7):
        return 0.5
    if found_mode != mode and found_key == ((key + 9) % 12 if mode == 1 else (key + 3) % 12):
        return 0.3
    return 0.2 if found_mode != mode and found_key == key else 0.0


def tempo_scores(found: list[float], truth: list[float]) -> dict[str, float]:
    acc1 = np.mean([abs(f - t) <= 0.04 * t for f, t in zip(found, truth)])
    acc2 = np.mean([any(abs(f - t * k) <= 0.04 * t * k for k in (1, 2, 0.5, 3, 1 / 3)) for f, t in zip(found, truth)])
    return {"acc1": round(float(acc1), 4), "acc2": round(float(acc2), 4)}


def per_core(paths: list[Path]) -> dict:
    """Each file analysed by songscope in this process, and by bliss in a child process (its
    wheel may not run on this CPU), BLAS on one thread: CPU per song."""
    from threadpoolctl import threadpool_limits

    from songscope.audio.analyze import Analysed, analyse_file, find_audio

    files, _ = find_audio([str(p) for p in paths])
    ours = {}
    spent_ours = 0.0
    with threadpool_limits(1):
        analyse_file(files[0])  # warm: imports and compiled kernels are not the songs' cost
        for file in files:
            started = time.process_time()
            result = analyse_file(file)
            spent_ours += time.process_time() - started
            ours[file.path.name] = result.row if isinstance(result, Analysed) else None
    n = len(files)
    bliss = _bliss_per_core(paths)
    out = {"ours": ours, "bliss_tempo": bliss.get("tempo"), "cpu_s_per_song": {"songscope": spent_ours / n}}
    if "cpu_s" in bliss:
        out["cpu_s_per_song"]["bliss"] = bliss["cpu_s"] / n
        out["songs_per_s_per_core_ratio"] = bliss["cpu_s"] / spent_ours
    else:
        out["bliss_unavailable"] = bliss["unavailable"]
    return out


def _bliss_per_core(paths: list[Path]) -> dict:
    """bliss's tempo of each file and its CPU seconds in all, from a child process; or why not."""
    done = subprocess.run([sys.executable, __file__, "--bliss-child", *map(str, paths)], capture_output=True, text=True)
    if done.returncode != 0:
        return {"unavailable": _why_bliss_failed(done.returncode, done.stderr)}
    return json.loads(done.stdout)


def _why_bliss_failed(returncode: int, stderr: str) -> str:
    if returncode == -4:  # SIGILL
        return "bliss-audio's wheel stops on an illegal instruction: it was built for CPU features this machine lacks"
    return f"bliss-audio failed (exit {returncode}): {stderr.strip().splitlines()[-1] if stderr.strip() else ''}"


def _bliss_child(paths: list[str]) -> None:
    from bliss_audio import Song
    from threadpoolctl import threadpool_limits

    tempo, spent = {}, 0.0
    with threadpool_limits(1):
        Song(paths[0])  # warm
        for path in paths:
            started = time.process_time()
            song = Song(path)
            spent += time.process_time() - started
            tempo[Path(path).name] = (song.analysis_dict["tempo"] + 1) / 2 * BLISS_MAX_BPM
    print(json.dumps({"tempo": tempo, "cpu_s": spent}))


def _bliss_one(path: str) -> float:
    from bliss_audio import Song

    return Song(path).analysis_dict["tempo"]


def both_cores(paths: list[Path], bliss_unavailable: str | None = None) -> dict:
    """Wall time and peak memory of each analyser over every file with both cores, each in a
    fresh process (its workers' peak resident memory is what `ru_maxrss` of the children says)."""
    out = {}
    root = str(Path(__file__).resolve().parents[1])
    for name, code in (("songscope", "from songscope.audio.analyze import analyse, find_audio; import sys; "
                                      "files, _ = find_audio(sys.argv[1:]); list(analyse(files, workers=2))"),
                       # A pool of futures, not multiprocessing.Pool: a worker that dies (bliss's wheel on a
                       # CPU it was not built for) breaks it with an error, where Pool waits for ever.
                       ("bliss", f"import sys, multiprocessing as mp, concurrent.futures as cf; sys.path.insert(0, {root!r}); "
                                 "from bench.analyze import _bliss_one; "
                                 "list(cf.ProcessPoolExecutor(2, mp_context=mp.get_context('forkserver')).map(_bliss_one, sys.argv[1:], chunksize=4))")):
        if name == "bliss" and bliss_unavailable:
            out[name] = {"unavailable": bliss_unavailable}
            continue
        started = time.perf_counter()
        probe = ("import resource, subprocess, sys; subprocess.run([sys.executable, '-c', sys.argv[1], *sys.argv[2:]], check=True); "
                 "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
        done = subprocess.run([sys.executable, "-c", probe, code, *map(str, paths)], capture_output=True, text=True)
        if done.returncode != 0:
            out[name] = {"unavailable": _why_bliss_failed(done.returncode, done.stderr)}
            continue
        out[name] = {"wall_s": round(time.perf_counter() - started, 2), "peak_rss_mb": round(int(done.stdout.split()[-1]) / 1024, 1)}
    return out


def long_file(folder: Path, minutes: list[int], songs: list[Path]) -> dict:
    """The peak memory of analysing one file of each length in `minutes` (songs joined end to
    end) beside a 30-second one: windows of 120 s keep it flat once a file is longer than one."""
    code = ("import resource, sys, time; from songscope.audio.analyze import analyse_file, find_audio; t = time.perf_counter(); "
            "r = analyse_file(find_audio([sys.argv[1]])[0][0]); "
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, time.perf_counter() - t, r.row['duration_ms'] if hasattr(r, 'row') else r.reason)")
    found = {}
    for length in [0, *minutes]:
        path = songs[0] if length == 0 else _joined(folder, length, songs)
        out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True).stdout.split()
        found["30 s" if length == 0 else f"{length} min"] = {"peak_rss_mb": round(int(out[0]) / 1024, 1), "seconds": round(float(out[1]), 1),
                                                            "duration_ms": out[2]}
    return found


def _joined(folder: Path, minutes: int, songs: list[Path]) -> Path:
    target = folder / f"long-{minutes}min.flac"
    if not target.exists():
        listing = folder / f"long-{minutes}min.txt"
        count = int(np.ceil(minutes * 60 / 30))
        listing.write_text("".join(f"file '{songs[i % len(songs)].resolve()}'\n" for i in range(count)))
        subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "concat", "-safe", "0", "-i", str(listing), "-t", str(minutes * 60),
                        "-c:a", "flac", str(target)], check=True)
    return target


def genre_precision(rows: list[dict], ours: dict) -> dict:
    """Genre-precision@10 on the rendered set labelled by style: songscope's recommendations
    against exact kNN and the other baselines, on the audio descriptors (`recommend.offline`)."""
    import pandas as pd

    from songscope.recommend import offline

    frame = pd.DataFrame([ours[r["file"]] | {"genre": r["style"]} for r in rows if ours.get(r["file"]) is not None])
    frame["artists"] = frame["artists"].map(lambda a: a[0] if isinstance(a, list) else a)
    report = offline.evaluate_recommendations(frame, label="genre", queries=min(2_000, len(frame) // 2), repeats=20, features="audio")
    found = report.to_dict()
    return {"protocol": "genre-precision@10 (queries from the evaluation half; a pick counts when it shares the query's style)",
            "results": found.get("genre_precision") or found, "notes": found.get("notes", [])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--songs", type=int, default=240)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--long-minutes", default="30,120", help="lengths of the long files, minutes, comma-separated ('': skip)")
    parser.add_argument("--cache", type=Path, default=CACHE)
    parser.add_argument("--bliss-child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bliss_child:
        return _bliss_child(args.bliss_child)
    rows = rendered(args.songs, args.seconds, args.cache)
    folder = args.cache / f"{args.songs}x{args.seconds:g}s"
    paths = [folder / r["file"] for r in rows]
    print(f"analysing {len(paths)} songs on one core (songscope and bliss)", file=sys.stderr)
    core = per_core(paths)
    ours = core["ours"]
    described = [r for r in rows if ours.get(r["file"]) is not None]
    truth_tempo = [float(r["tempo"]) for r in described]
    accuracy = {
        "songs": len(rows), "described": len(described),
        "tempo_songscope": tempo_scores([ours[r["file"]]["tempo"] for r in described], truth_tempo),
        "tempo_bliss": tempo_scores([core["bliss_tempo"][r["file"]] for r in described], truth_tempo) if core["bliss_tempo"] else None,
        "key_mirex": round(float(np.mean([mirex(int(r["key"]), int(r["mode"]), ours[r["file"]]["key"], ours[r["file"]]["mode"]) for r in described])), 4),
        "mode_accuracy": round(float(np.mean([ours[r["file"]]["mode"] == int(r["mode"]) for r in described])), 4),
    }
    differences = np.array([ours[r["file"]]["loudness"] - float(r["ffmpeg_lufs"]) for r in described])
    accuracy["loudness_vs_ffmpeg_lu"] = {"max_abs": round(float(np.abs(differences).max()), 3), "mean_abs": round(float(np.abs(differences).mean()), 3),
                                         "within_0.5": round(float(np.mean(np.abs(differences) <= 0.5)), 4)}
    loudness = [float(r["ffmpeg_lufs"]) for r in rows]
    accuracy["loudness_range_lufs"] = [min(loudness), max(loudness)]
    results = {"accuracy": accuracy,
               "speed": {"cpu_s_per_song": {k: round(v, 4) for k, v in core["cpu_s_per_song"].items()},
                         "songs_per_s_per_core_vs_bliss": round(core["songs_per_s_per_core_ratio"], 3) if "songs_per_s_per_core_ratio" in core else None}}
    if "bliss_unavailable" in core:
        results["bliss_unavailable"] = core["bliss_unavailable"]
    print("analysing every song with both cores", file=sys.stderr)
    results["both_cores"] = both_cores(paths, core.get("bliss_unavailable"))
    if args.long_minutes:
        print(f"analysing files of {args.long_minutes} minutes", file=sys.stderr)
        results["long_file"] = long_file(folder, [int(m) for m in args.long_minutes.split(",")], paths)
    print("evaluating recommendations on the styles", file=sys.stderr)
    results["recommendation"] = genre_precision(rows, ours)
    results["machine"] = {"cpus": os.cpu_count(), "python": sys.version.split()[0]}
    print(json.dumps(results, indent=2, default=str))
    speed = results["speed"]
    theirs = accuracy["tempo_bliss"]
    print(f"\ntempo Acc1/Acc2: songscope {accuracy['tempo_songscope']['acc1']:.2f}/{accuracy['tempo_songscope']['acc2']:.2f}, "
          + (f"bliss {theirs['acc1']:.2f}/{theirs['acc2']:.2f}" if theirs else "bliss unavailable") + f"; key MIREX {accuracy['key_mirex']:.2f}; "
          f"mode {accuracy['mode_accuracy']:.2f}; loudness max |diff| {accuracy['loudness_vs_ffmpeg_lu']['max_abs']:.2f} LU")
    if speed["songs_per_s_per_core_vs_bliss"] is None:
        print(f"CPU per song: songscope {speed['cpu_s_per_song']['songscope']:.3f} s; bliss: {results['bliss_unavailable']}")
        return
    print(f"CPU per song: songscope {speed['cpu_s_per_song']['songscope']:.3f} s, bliss {speed['cpu_s_per_song']['bliss']:.3f} s: "
          f"{speed['songs_per_s_per_core_vs_bliss']:.2f}x bliss's songs per second per core")
    if not math.isfinite(speed["songs_per_s_per_core_vs_bliss"]):
        sys.exit(1)


if __name__ == "__main__":
    main()
