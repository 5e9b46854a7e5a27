"""The streaming meter gives pyloudnorm's figures (BS.1770-4 integrated, EBU Tech 3342 range)
whatever the windows, in memory that does not grow with the file."""

from __future__ import annotations

import math

import numpy as np
import pyloudnorm
import pytest

from songscope.audio.loudness import LoudnessMeter, channel_weights


def _streamed(signal: np.ndarray, rate: int, names: list[str], window: int) -> LoudnessMeter:
    meter = LoudnessMeter(rate, names)
    for start in range(0, signal.shape[1], window):
        meter.add(signal[:, start:start + window])
    return meter


@pytest.mark.parametrize(("rate", "channels", "window"), [(44_100, 2, 4_410), (48_000, 1, 12_345), (22_050, 2, 100_000), (8_000, 1, 777)])
def test_the_meter_agrees_with_pyloudnorm_in_any_windows(rate, channels, window):
    rng = np.random.default_rng(rate)
    seconds = 9.3
    t = np.arange(int(seconds * rate)) / rate
    # Loudness that swells and falls, with a quiet stretch the gates must drop.
    envelope = np.where((t > 3) & (t < 4), 0.001, 0.05 + 0.5 * np.abs(np.sin(t)))
    signal = rng.normal(size=(channels, len(t))) * envelope
    meter = _streamed(signal, rate, ["FL", "FR"][:channels] if channels == 2 else ["FC"], window)
    reference = pyloudnorm.Meter(rate)
    assert meter.integrated() == pytest.approx(reference.integrated_loudness(signal.T), abs=1e-9)
    assert meter.loudness_range() == pytest.approx(reference.loudness_range(signal.T), abs=1e-9)


def test_the_rendered_songs_measure_as_ffmpeg_does(rendered_truth):
    """Within 0.1 LU of FFmpeg's ebur128 filter (recorded in truth.csv when the songs were rendered)."""
    from songscope.audio.decode import windows

    for song in rendered_truth:
        meter = None
        for window in windows(song["path"]):
            meter = meter or LoudnessMeter(window.info.rate, list(window.info.channel_names))
            meter.add(window.channels)
        assert meter.integrated() == pytest.approx(float(song["ffmpeg_lufs"]), abs=0.1), song["file"]


def test_surround_channels_weigh_as_bs1770_says_and_the_lfe_not_at_all():
    assert channel_weights(["FL", "FR", "FC", "LFE", "BL", "BR"]).tolist() == [1.0, 1.0, 1.0, 0.0, 1.41, 1.41]
    rate = 48_000
    tone = np.sin(2 * np.pi * 1000 * np.arange(5 * rate) / rate) * 0.1
    front = _streamed(np.stack([tone, tone]), rate, ["FL", "FR"], rate).integrated()
    with_lfe = _streamed(np.stack([tone, tone, tone * 0]+[tone * 10]), rate, ["FL", "FR", "FC", "LFE"], rate).integrated()
    assert with_lfe == pytest.approx(front, abs=1e-9)  # a loud LFE adds nothing


def test_silence_has_no_loudness_and_no_range():
    meter = _streamed(np.zeros((2, 48_000 * 5)), 48_000, ["FL", "FR"], 48_000)
    assert meter.integrated() == -math.inf and math.isnan(meter.loudness_range())
    with pytest.raises(RuntimeError):
        meter.add(np.zeros((2, 10)))  # read once: a new file needs a new meter
