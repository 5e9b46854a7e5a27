"""The `analyze` stage: audio files in, one row of named descriptors per song out, and one
rejected row per file that cannot be described, with its reason. Files are analysed one process
per core; a file's failure is its own row, never the run's end.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from songscope.audio.decode import AudioError, windows
from songscope.audio.descriptors import MIN_SECONDS, Summary
from songscope.audio.loudness import LoudnessMeter
from songscope.audio.tags import read_tags
from songscope.errors import UserError
from songscope.schema import AUDIO_TRACK_ID_PREFIX
from songscope.store import lake as lake_io

#: What a listener's library holds, by extension (lower case).
AUDIO_EXTENSIONS = frozenset({".mp3", ".flac", ".ogg", ".oga", ".opus", ".m4a", ".mp4", ".aac", ".wav", ".aif", ".aiff", ".aifc", ".wma"})


@dataclass(frozen=True)
class AudioFile:
    """A file found for analysis, with what says whether it changed since (size, mtime)."""

    path: Path
    root: Path | None
    size: int
    mtime_ns: int


@dataclass(frozen=True)
class Analysed:
    file: AudioFile
    row: dict  # canonical columns, the descriptors, and the file's own columns


@dataclass(frozen=True)
class Rejected:
    file: AudioFile
    reason: str


def find_audio(paths: Iterable[str | Path]) -> tuple[list[AudioFile], list[Rejected]]:
    """The audio files among `paths` (files, folders searched recursively, or glob patterns), in
    a stable order; a path that does not exist, or a file that cannot even be listed, is rejected."""
    found: list[AudioFile] = []
    rejected: list[Rejected] = []
    seen: set[Path] = set()

    def add(path: Path, root: Path | None) -> None:
        path = path.absolute()  # where the catalogue finds it again, whatever the working folder
        if path in seen:
            return
        seen.add(path)
        try:
            stat = path.stat()
        except OSError as exc:  # a dangling link, a symlink loop, a file gone meanwhile
            rejected.append(Rejected(AudioFile(path, root, 0, 0), f"{path}: cannot be read ({exc.strerror or exc})"))
            return
        found.append(AudioFile(path, root, stat.st_size, stat.st_mtime_ns))

    for given in paths:
        text = str(given)
        # A pattern, unless a file or folder has that very name ("[2020] Live" is an album's folder).
        if any(ch in text for ch in "*?[") and not Path(text).exists():
            matches = sorted(Path().glob(text) if not Path(text).is_absolute() else Path("/").glob(text.lstrip("/")))
            if not matches:
                raise UserError(f"{text}: no file matches this pattern")
            for match in matches:
                if match.suffix.lower() in AUDIO_EXTENSIONS:
                    add(match, None)
            continue
        path = Path(text)
        try:
            is_folder = path.is_dir()
        except OSError as exc:  # a folder on the way that this user may not enter
            rejected.append(Rejected(AudioFile(path, None, 0, 0), f"{path}: cannot be read ({exc.strerror or exc})"))
            continue
        if is_folder:
            for folder, dirs, files in os.walk(path):  # symlinked folders not followed: no loops
                dirs.sort()
                for name in sorted(files):
                    if Path(name).suffix.lower() in AUDIO_EXTENSIONS:
                        add(Path(folder) / name, path.absolute())
        elif path.exists() or path.is_symlink():
            add(path, None)
        else:
            raise UserError(f"{text}: no such file or folder")
    return found, rejected


def progress_text(done: int, total: int, seconds: float) -> str:
    """"analysing audio: 12 of 40 files, 31.5 songs/min, about 53 s left"."""
    rate = done / seconds if seconds > 0 else 0.0
    left = f", about {(total - done) / rate:.0f} s left" if rate else ""
    return f"analysing audio: {done:,} of {total:,} files, {rate * 60:.1f} songs/min{left}"


def analyse_file(file: AudioFile) -> Analysed | Rejected:
    """One file's row, or its rejection with the reason."""
    try:
        return Analysed(file, _describe(file))
    except AudioError as exc:
        reason = str(exc)
        return Rejected(file, reason if reason.startswith(str(file.path)) else f"{file.path}: {reason}")
    except OSError as exc:
        return Rejected(file, f"{file.path}: cannot be read ({exc.strerror or exc})")


def _describe(file: AudioFile) -> dict:
    if file.size == 0:
        raise AudioError("empty (0 bytes)")
    summary = Summary()
    meter = info = None
    samples = 0
    for window in windows(file.path):
        if meter is None:
            info = window.info
            meter = LoudnessMeter(info.rate, list(info.channel_names))
        summary.add(window.mono)
        meter.add(window.channels)
        samples += window.channels.shape[1]
    if meter is None or samples == 0:
        raise AudioError("holds no audio samples")
    notes: list[str] = []
    if info.declared_seconds and samples / info.rate < 0.9 * info.declared_seconds:
        notes.append(f"truncated: {samples / info.rate:.1f} s of the {info.declared_seconds:.1f} s its header declares")
    row = summary.describe()
    loudness, loudness_range = meter.integrated(), meter.loudness_range()
    if not math.isfinite(loudness) or not math.isfinite(loudness_range):
        raise AudioError("too quiet to measure: no 3-second stretch louder than -70 LUFS")
    unmeasured = [name for name, value in row.items() if not math.isfinite(value)]
    if unmeasured:
        raise AudioError(f"no {', '.join(unmeasured)} could be measured")
    tags = read_tags(file.path, file.root)
    row |= {"loudness": loudness, "loudness_range": loudness_range, "duration_ms": round(samples / info.rate * 1000)}
    digest, _ = lake_io.sha256(str(file.path))  # the song's identity, whatever its name or place
    return {
        "track_id": f"{AUDIO_TRACK_ID_PREFIX}{digest[:24]}", "artist_name": tags.artists[0], "artists": list(tags.artists), "track_name": tags.title,
        **row,
        "album": tags.album, "track_number": tags.track_number, "isrc": tags.isrc, "musicbrainz_recording_id": tags.musicbrainz_recording_id,
        "genre": tags.genre, "file_path": str(file.path), "file_size": file.size, "file_mtime_ns": file.mtime_ns,
        "content_sha256": digest, "codec": info.codec, "sample_rate": info.rate, "channels": len(info.channel_names),
        "notes": "; ".join([*tags.notes, *notes]) or None,
    }


def warm_up() -> None:
    """Describe a few seconds of made-up sound, so that librosa's compiled kernels (numba, cached
    on disk beside librosa) exist before any worker needs them: a fresh install compiles them once,
    about 30 s, here, instead of in every worker at once. Cheap once they are cached."""
    import numpy as np

    from songscope.audio.decode import ANALYSIS_RATE

    seconds = MIN_SECONDS + 1
    t = np.arange(int(seconds * ANALYSIS_RATE)) / ANALYSIS_RATE
    sound = (0.3 * np.sin(2 * np.pi * 440 * t) * (1 + np.sign(np.sin(2 * np.pi * 2 * t)))).astype(np.float32)
    summary = Summary()
    summary.add(sound)
    summary.describe()


def _one_thread() -> None:
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)


def analyse(files: list[AudioFile], *, workers: int | None = None, progress: Callable[[int, int], None] | None = None) -> Iterator[Analysed | Rejected]:
    """Each file's row or rejection, as each finishes (not in order), `workers` processes at once
    (default: one per core; 1 analyses in this process)."""
    from threadpoolctl import threadpool_limits

    workers = workers or os.cpu_count() or 1
    done = 0
    if workers == 1 or len(files) <= 1:
        with threadpool_limits(1):  # one core: BLAS threads would only spin beside it
            for file in files:
                result = analyse_file(file)
                done += 1
                if progress:
                    progress(done, len(files))
                yield result
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    warm_up()  # compiled here once, read from the disk cache by each worker

    # forkserver: a clean worker, not a copy of a driver that may hold threads and connections;
    # each worker a core, its BLAS on one thread (threads beyond the cores spin and slow them all).
    with ProcessPoolExecutor(max_workers=min(workers, len(files)), mp_context=multiprocessing.get_context("forkserver"),
                             initializer=_one_thread) as pool:
        futures = [pool.submit(analyse_file, file) for file in files]
        for future in as_completed(futures):
            done += 1
            if progress:
                progress(done, len(files))
            yield future.result()
