"""`songscope analyze`: audio files into a table of songs described by the `audio` feature set
(`ingest.ingest_audio` puts them in the catalogue instead)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from songscope import schema
from songscope.errors import UserError
from songscope.service.common import Progress, say_to


@dataclass(frozen=True)
class AnalyzeOutcome:
    output: Path
    songs: int
    rejected: tuple[tuple[str, str], ...]  # (file, reason)
    rejected_output: Path | None
    seconds: float
    files: int  # every file considered: described or rejected

    def to_dict(self) -> dict[str, Any]:
        return {"output": str(self.output), "songs": self.songs, "files": self.files, "seconds": round(self.seconds, 2),
                "rejected": [{"file": f, "reason": r} for f, r in self.rejected],
                "rejected_output": None if self.rejected_output is None else str(self.rejected_output)}


def analyze(paths: list[str], output: Path, *, workers: int | None = None, progress: Progress | None = None) -> AnalyzeOutcome:
    """Analyse the audio files under `paths` (files, folders, glob patterns) into `output` (.parquet
    or .csv): a row per song with its tags, its file and its `audio` descriptors. Files that cannot
    be described are listed, with their reasons, in ``<output>.rejected.csv``; none stops the run."""
    import pandas as pd

    from songscope.audio import require

    require()
    from songscope.audio.analyze import Analysed, analyse, find_audio, progress_text

    output = Path(output)
    if output.suffix.lower() not in (".csv", ".parquet"):
        raise UserError(f"--out {output}: use a .csv or .parquet file name")
    if workers is not None and workers < 1:
        raise UserError(f"--workers {workers}: use 1 or more")
    say = say_to(progress)
    started = time.perf_counter()
    files, rejected = find_audio(paths)
    if not files and not rejected:
        raise UserError(f"no audio files under {', '.join(map(str, paths))} (songscope reads mp3, flac, ogg/opus, m4a/aac, wav and aiff)")
    considered = len(files) + len(rejected)
    rows: list[dict] = []
    for result in analyse(files, workers=workers, progress=lambda done, total: say(progress_text(done, total, time.perf_counter() - started))):
        if isinstance(result, Analysed):
            rows.append(result.row)
        else:
            rejected.append(result)
    rows.sort(key=lambda row: row["file_path"])
    output.parent.mkdir(parents=True, exist_ok=True)
    frame = pd.DataFrame(rows, columns=_columns(schema.AUDIO.names))
    frame["artists"] = frame["artists"].map(lambda a: "; ".join(a) if isinstance(a, list) else a)
    _write_atomically(frame, output)
    rejected_output = None
    reasons = tuple(sorted((str(r.file.path), r.reason) for r in rejected))
    if reasons:
        rejected_output = output.with_name(output.stem + ".rejected.csv")
        _write_atomically(pd.DataFrame(reasons, columns=["file", "reason"]), rejected_output)
    return AnalyzeOutcome(output, len(frame), reasons, rejected_output, time.perf_counter() - started, considered)


def _columns(features: tuple[str, ...]) -> list[str]:
    return (["track_id", "artist_name", "artists", "track_name"] + list(features)
            + ["album", "track_number", "isrc", "musicbrainz_recording_id", "genre", "file_path", "file_size", "file_mtime_ns",
               "content_sha256", "codec", "sample_rate", "channels", "notes"])


def _write_atomically(frame, path: Path) -> None:
    partial = path.with_name(f".{path.name}.partial")
    if path.suffix.lower() == ".parquet":
        frame.to_parquet(partial, index=False)
    else:
        frame.to_csv(partial, index=False)
    partial.replace(path)
