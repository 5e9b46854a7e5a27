"""Songs whose tempo, key and mode are known by construction: MIDI written with pretty_midi,
rendered to audio by FluidSynth with a General MIDI soundfont (Debian `fluidsynth`,
`fluid-soundfont-gm`).

Each song is a chord progression in its key (a bass on the roots, chords, a melody on the scale),
with a drum pattern at its tempo, played by one of several instrument families, at a gain that
spreads loudness over about -30..-6 LUFS. What is true of it (tempo, key, mode, style) is its
`SongSpec`; its loudness is what FFmpeg's `ebur128` filter measures of the rendered file.

    python bench/truth.py OUT_DIR --songs 24     # render a set and write OUT_DIR/truth.csv
"""

from __future__ import annotations

import argparse
import csv
import shutil
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

SOUNDFONTS = ("/usr/share/sounds/sf2/FluidR3_GM.sf2", "/usr/share/sounds/sf2/TimGM6mb.sf2", "/usr/share/sounds/sf2/default-GM.sf2")

#: Instrument families: (name, chord program, melody program, bass program), General MIDI numbers.
INSTRUMENTS = {
    "piano": (0, 0, 32),
    "organ": (16, 19, 33),
    "guitar": (25, 27, 34),
    "strings": (48, 40, 43),
    "synth": (89, 81, 38),
    "brass": (61, 56, 33),
}
#: Drum patterns over one 4/4 bar in eighth notes: (kick, snare, closed hi-hat) hits.
DRUMS = {
    "rock": ((0, 4), (2, 6), tuple(range(8))),
    "four_on_floor": ((0, 2, 4, 6), (2, 6), (1, 3, 5, 7)),
    "half_time": ((0,), (4,), tuple(range(0, 8, 2))),
    "none": ((), (), ()),
}
MAJOR_STEPS = (0, 2, 4, 5, 7, 9, 11)
MINOR_STEPS = (0, 2, 3, 5, 7, 8, 11)  # harmonic minor: its V is major, as minor songs' cadences are
#: Progressions as scale degrees (0-based): I-IV-V-I and I-vi-IV-V; i-iv-V-i and i-VI-iv-V.
PROGRESSIONS = {1: ((0, 3, 4, 0), (0, 5, 3, 4)), 0: ((0, 3, 4, 0), (0, 5, 3, 4))}


@dataclass(frozen=True)
class SongSpec:
    name: str
    tempo: float  # quarter notes per minute
    key: int  # pitch class of the tonic, C = 0
    mode: int  # 1 major, 0 minor
    instrument: str
    drums: str
    gain: float  # FluidSynth's output gain
    seconds: float

    @property
    def style(self) -> str:
        return f"{self.instrument}/{self.drums}"


def specs(n: int, seconds: float = 30.0, seed: int = 0) -> list[SongSpec]:
    """`n` songs covering tempos 60-180 BPM, all 24 keys, every instrument family and drum
    pattern, and gains spreading loudness over about -30..-6 LUFS (seeded: the same set each time)."""
    rng = np.random.default_rng(seed)
    tempos = np.linspace(60, 180, n) if n > 1 else np.array([120.0])
    rng.shuffle(tempos)
    out = []
    for i in range(n):
        key, mode = (i * 7) % 12, (i // 12 + i) % 2  # every key in both modes within 24 songs
        instrument = list(INSTRUMENTS)[i % len(INSTRUMENTS)]
        drums = list(DRUMS)[(i // len(INSTRUMENTS)) % len(DRUMS)]
        gain = float(np.round(10 ** rng.uniform(np.log10(0.2), np.log10(3.0)), 3))
        out.append(SongSpec(f"song{i:04d}", float(round(tempos[i], 1)), key, mode, instrument, drums, gain, seconds))
    return out


def midi(spec: SongSpec, seed: int = 0):
    """The song as a `pretty_midi.PrettyMIDI`."""
    import pretty_midi

    rng = np.random.default_rng(seed)
    beat = 60.0 / spec.tempo
    pm = pretty_midi.PrettyMIDI(initial_tempo=spec.tempo)
    chord_program, melody_program, bass_program = INSTRUMENTS[spec.instrument]
    chords, melody, bass = (pretty_midi.Instrument(program=p) for p in (chord_program, melody_program, bass_program))
    steps = MAJOR_STEPS if spec.mode == 1 else MINOR_STEPS
    progression = PROGRESSIONS[spec.mode][int(rng.integers(2))]
    tonic = 48 + spec.key  # around C3

    def pitch(degree: int, octave: int = 0) -> int:
        return tonic + 12 * (octave + degree // 7) + steps[degree % 7]

    bars = int(np.ceil(spec.seconds / (4 * beat)))
    for bar in range(bars):
        start = bar * 4 * beat
        root = progression[bar % len(progression)]
        for degree in (root, root + 2, root + 4):  # the triad, held for the bar
            chords.notes.append(pretty_midi.Note(70, pitch(degree, 1), start, start + 4 * beat * 0.95))
        for b in range(4):  # bass on the root, each beat
            bass.notes.append(pretty_midi.Note(85, pitch(root, -1), start + b * beat, start + (b + 0.9) * beat))
        for b in range(4):  # a melody on chord tones and the scale
            degree = root + int(rng.choice([0, 2, 4, 0, 2, 4, 1, 5]))
            melody.notes.append(pretty_midi.Note(80, pitch(degree, 2), start + b * beat, start + (b + 0.85) * beat))
    pm.instruments += [chords, melody, bass]
    kick, snare, hat = DRUMS[spec.drums]
    if kick or snare or hat:
        drums = pretty_midi.Instrument(program=0, is_drum=True)
        for bar in range(bars):
            for eighth in range(8):
                t = bar * 4 * beat + eighth * beat / 2
                for hits, note, velocity in ((kick, 36, 110), (snare, 38, 100), (hat, 42, 70)):
                    if eighth in hits:
                        drums.notes.append(pretty_midi.Note(velocity, note, t, t + 0.1))
        pm.instruments.append(drums)
    return pm


def soundfont() -> str:
    found = next((f for f in SOUNDFONTS if Path(f).exists()), None)
    if found is None or shutil.which("fluidsynth") is None:
        raise RuntimeError("FluidSynth and a GM soundfont are needed: apt-get install fluidsynth fluid-soundfont-gm")
    return found


def render(spec: SongSpec, folder: Path, *, suffix: str = ".wav", rate: int = 44100) -> Path:
    """Render `spec` into `folder` (WAV; any other `suffix` is encoded from it by ffmpeg)."""
    folder.mkdir(parents=True, exist_ok=True)
    mid = folder / f"{spec.name}.mid"
    midi(spec, seed=int(spec.name[-4:])).write(str(mid))
    wav = folder / f"{spec.name}.wav"
    subprocess.run(["fluidsynth", "-ni", "-q", "-g", str(spec.gain), "-r", str(rate), "-F", str(wav), soundfont(), str(mid)],
                   check=True, capture_output=True)
    mid.unlink()
    if suffix == ".wav":
        return wav
    out = wav.with_suffix(suffix)
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(wav), "-t", str(spec.seconds), str(out)], check=True)
    wav.unlink()
    return out


def ebur128(path: Path) -> tuple[float, float]:
    """FFmpeg's own measure of a file: integrated loudness (LUFS) and loudness range (LU)."""
    found = subprocess.run(["ffmpeg", "-nostats", "-hide_banner", "-i", str(path), "-filter_complex", "ebur128", "-f", "null", "-"],
                           capture_output=True, text=True, check=True).stderr
    summary = found[found.rindex("Summary:"):]
    integrated = float(summary.split("I:")[1].split("LUFS")[0])
    lra = float(summary.split("LRA:")[1].split("LU")[0])
    return integrated, lra


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path)
    parser.add_argument("--songs", type=int, default=24)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--suffix", default=".wav")
    args = parser.parse_args()
    rows = []
    for spec in specs(args.songs, args.seconds):
        path = render(spec, args.folder, suffix=args.suffix)
        lufs, lra = ebur128(path)
        rows.append(asdict(spec) | {"file": path.name, "style": spec.style, "ffmpeg_lufs": lufs, "ffmpeg_lra": lra})
    with open(args.folder / "truth.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    print(f"{len(rows)} songs in {args.folder}")


if __name__ == "__main__":
    main()
