"""Decode an audio file in windows, never whole: PyAV (FFmpeg's decoders, BSD-licensed bindings)
reads every format a listener's library holds (mp3, flac, ogg/opus, m4a/aac, wav, aiff), where
soundfile (libsndfile) reads no AAC and the `ffmpeg` command would cost a process per file.

Each window comes twice: downmixed to mono at `ANALYSIS_RATE` for the descriptors (one spectrogram
per window, `descriptors`), and as the file's own channels at its own rate for the loudness meter
(`loudness`), which weighs channels as ITU-R BS.1770 does, not as a downmix would.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from songscope.errors import UserError

#: The rate the descriptors are computed at: what librosa defaults to, and enough for the
#: spectral shape and rhythm of music (up to 11 kHz).
ANALYSIS_RATE = 22_050
#: Seconds of audio held at once: a 2-hour DJ mix is analysed in windows of this size.
WINDOW_SECONDS = 120.0


class AudioError(UserError):
    """A file that cannot be analysed: its reason is the rejected row's."""


@dataclass(frozen=True)
class Window:
    """One stretch of a file: `mono` at `ANALYSIS_RATE`, `channels` (channels x samples) at `rate`."""

    mono: np.ndarray
    channels: np.ndarray
    rate: int
    channel_names: tuple[str, ...]  # FFmpeg's: FL, FR, FC, LFE, BL, BR, ...


@dataclass(frozen=True)
class AudioInfo:
    codec: str
    rate: int
    channels: int
    #: What the container says, in seconds (None when it does not say); the decoded length is the truth.
    declared_seconds: float | None


def probe(path: Path) -> AudioInfo:
    """What the file's first audio stream is, without decoding it."""
    with _open(path) as container:
        stream = _audio_stream(container, path)
        declared = float(container.duration) / 1_000_000 if container.duration else None
        return AudioInfo(stream.codec_context.name, int(stream.codec_context.sample_rate or 0), _channel_count(stream), declared)


def windows(path: Path, window_seconds: float = WINDOW_SECONDS) -> Iterator[Window]:
    """The file's audio, `window_seconds` at a time (the last window shorter)."""
    import av

    with _open(path) as container:
        stream = _audio_stream(container, path)
        rate = int(stream.codec_context.sample_rate or 0)
        if rate <= 0:
            raise AudioError(f"{path}: the audio stream declares no sample rate")
        layout = stream.codec_context.layout.name if _channel_count(stream) else "mono"
        to_mono = av.AudioResampler(format="fltp", layout="mono", rate=ANALYSIS_RATE)
        to_float = av.AudioResampler(format="fltp", layout=layout, rate=rate)
        mono_parts: list[np.ndarray] = []
        channel_parts: list[np.ndarray] = []
        held = 0
        limit = int(window_seconds * rate)

        names = tuple(c.name for c in av.AudioLayout(layout).channels)

        def window() -> Window:
            return Window(np.concatenate(mono_parts) if mono_parts else np.zeros(0, np.float32),
                          np.concatenate(channel_parts, axis=1), rate, names)

        try:
            for frame in _frames(container, stream, path):
                for part in to_mono.resample(frame):
                    mono_parts.append(part.to_ndarray()[0])
                for part in to_float.resample(frame):
                    block = part.to_ndarray()
                    channel_parts.append(block)
                    held += block.shape[1]
                if held >= limit:
                    yield window()
                    mono_parts, channel_parts, held = [], [], 0
            for part in to_mono.resample(None):
                mono_parts.append(part.to_ndarray()[0])
            for part in to_float.resample(None):
                channel_parts.append(part.to_ndarray())
        except av.error.FFmpegError as exc:
            raise AudioError(f"{path}: cannot be decoded ({_first_line(exc)}); the file is corrupt or truncated") from exc
        if channel_parts:
            yield window()


def _open(path: Path):
    import av

    try:
        return av.open(str(path), metadata_errors="replace")
    except PermissionError as exc:
        raise AudioError(f"{path}: cannot be read (permission denied); allow reading it or leave it out") from exc
    except av.error.EOFError as exc:
        raise AudioError(f"{path}: corrupt or truncated: the file ends before its audio does ({_first_line(exc)})") from exc
    except (av.error.InvalidDataError, av.error.FFmpegError, UnicodeDecodeError) as exc:
        raise AudioError(f"{path}: not an audio file songscope can decode ({_first_line(exc)})") from exc
    except OSError as exc:
        raise AudioError(f"{path}: cannot be read ({exc.strerror or exc})") from exc


def _audio_stream(container, path: Path):
    if not container.streams.audio:
        raise AudioError(f"{path}: holds no audio stream")
    return container.streams.audio[0]


def _channel_count(stream) -> int:
    layout = stream.codec_context.layout
    return len(layout.channels) if layout is not None else 0


def _frames(container, stream, path: Path):
    import av

    try:
        yield from container.decode(stream)
    except av.error.EOFError:
        return
    except (av.error.InvalidDataError, av.error.FFmpegError) as exc:
        raise AudioError(f"{path}: cannot be decoded ({_first_line(exc)}); the file is corrupt or truncated") from exc


def _first_line(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc)  # FFmpeg's own words, without its errno and the path again
    return (text.strip().splitlines() or [type(exc).__name__])[0][:200]
