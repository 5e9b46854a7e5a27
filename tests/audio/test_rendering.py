"""Songs rendered here from MIDI with FluidSynth (what bench/analyze.py does at scale) are
described as they were written: the ground truth is made on this machine, not only shipped."""

from __future__ import annotations

import os
import shutil
from dataclasses import replace

import pytest

from tests.conftest import unavailable


def test_a_song_rendered_now_has_the_tempo_and_key_it_was_written_in(tmp_path):
    from bench.truth import SOUNDFONTS, render, specs

    if shutil.which("fluidsynth") is None or not any(os.path.exists(f) for f in SOUNDFONTS):
        unavailable("FluidSynth and a GM soundfont (apt-get install fluidsynth fluid-soundfont-gm; make test does it)")
    from songscope.audio.analyze import Analysed, analyse_file, find_audio

    # Two songs of the 24-song set that the shipped six (every fourth) leave out: organ and brass, in minor keys.
    written = [replace(specs(24, seconds=12.0)[i], name=f"now{i:04d}") for i in (13, 23)]
    for spec in written:
        path = render(spec, tmp_path)
        result = analyse_file(find_audio([path])[0][0])
        assert isinstance(result, Analysed), result
        assert result.row["tempo"] == pytest.approx(spec.tempo, rel=0.04), spec
        assert (result.row["key"], result.row["mode"]) == (spec.key, spec.mode), spec
        assert result.row["duration_ms"] >= 12_000
