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
#: Bytes FFmpeg may read to learn the stream's parameters before decoding (it decodes as it
#: probes: 45 us a kB of PCM). Enough for every format here, an mp3 behind a large cover image included.
PROBE_BYTES = 65_536
#: Seconds of audio held at once: a 2-hour DJ mix is analysed in windows of this size.
WINDOW_SECONDS = 120.0


class AudioError(UserError):
    """A file that cannot be analysed: its reason is the rejected row's."""


@dataclass(frozen=True)
class AudioInfo:
    codec: str
    rate: int
    channel_names: tuple[str, ...]  # FFmpeg's: FL, FR, FC, LFE, BL, BR, ...
    #: What the container says, in seconds (None when it does not say); the decoded length is the truth.
    declared_seconds: float | None


@dataclass(frozen=True)
class Window:
    """One stretch of a file: `mono` at `ANALYSIS_RATE`, `channels` (channels x samples) at the file's own rate."""

    mono: np.ndarray
    channels: np.ndarray
    info: AudioInfo


def windows(path: Path, window_seconds: float = WINDOW_SECONDS) -> Iterator[Window]:
    """The file's audio, `window_seconds` at a time (the last window shorter): its channels as
    decoded, in float, and their mean resampled to `ANALYSIS_RATE` by soxr (librosa's resampler),
    streaming across windows so that no seam is heard at their joins."""
    import soxr

    with _open(path) as container:
        stream = _audio_stream(container, path)
        rate = int(stream.codec_context.sample_rate or 0)
        if rate <= 0:
            raise AudioError(f"{path}: the audio stream declares no sample rate")
        layout = stream.codec_context.layout
        names = tuple(c.name for c in layout.channels) if layout is not None and len(layout.channels) else ("FC",)
        declared = float(container.duration) / 1_000_000 if container.duration else None
        info = AudioInfo(stream.codec_context.name, rate, names, declared)
        to_analysis = soxr.ResampleStream(rate, ANALYSIS_RATE, 1, dtype="float32", quality="HQ")
        parts: list[np.ndarray] = []
        held = 0
        limit = int(window_seconds * rate)

        def window(last: bool) -> Window:  # every part has the stream's channels: checked frame by frame
            channels = np.concatenate(parts, axis=1) if parts else np.zeros((len(names), 0), np.float32)
            mono = np.array(channels[0], dtype=np.float32)  # the channels' mean, as librosa.to_mono takes it
            for channel in channels[1:]:
                mono += channel
            mono *= np.float32(1 / len(names))
            mono = to_analysis.resample_chunk(mono, last=last)
            return Window(mono, channels, info)

        for frame in _frames(container, stream, path):  # a decoding error is an AudioError there
            block = _as_float(frame)
            if block.shape[0] != len(names):
                raise AudioError(f"{path}: a frame of {block.shape[0]} channels in a stream of {len(names)}; "
                                 "songscope reads files with one layout throughout")
            parts.append(block)
            held += block.shape[1]
            if held >= limit:
                yield window(last=False)
                parts, held = [], 0
        yield window(last=True)


#: Full scale of each integer sample format (FFmpeg's names without the planar "p").
_FULL_SCALE = {"s16": 32768.0, "s32": 2147483648.0, "s64": 9223372036854775808.0}


def _as_float(frame) -> np.ndarray:
    """A decoded frame as float32, channels x samples, whatever the decoder's sample format."""
    values = frame.to_ndarray()
    fmt = frame.format
    if not fmt.is_planar:  # interleaved: one row of samples x channels
        values = values.reshape(-1, len(frame.layout.channels)).T
    kind = fmt.name.rstrip("p")
    if kind in ("flt", "dbl"):
        return values.astype(np.float32, copy=False)
    if kind == "u8":
        return (values.astype(np.float32) - 128.0) / 128.0
    return values.astype(np.float32) / np.float32(_FULL_SCALE[kind])


def _open(path: Path):
    import av

    try:
        # FFmpeg reads up to 5 MB to learn a stream's parameters: 25 ms a WAV, a sixth of its analysis.
        return av.open(str(path), metadata_errors="replace", options={"probesize": str(PROBE_BYTES)})
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
