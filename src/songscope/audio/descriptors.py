"""songscope's own descriptors of a song's audio: what is measured, never a stand-in for a model's
score. Each window's spectrogram is computed once (librosa's STFT, `N_FFT` x `HOP` at
`decode.ANALYSIS_RATE`) and every spectral, rhythmic and tonal summary derives from it; windows
add into running sums (`Summary`), so a 2-hour file costs one window's memory.

The README defines each descriptor with its unit and reference; `schema.AUDIO` declares them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from songscope.audio.decode import ANALYSIS_RATE, AudioError

N_FFT = 2048
HOP = 512
N_MELS = 128
N_MFCC = 13
#: Frames quieter than this (dBFS, RMS) are silence: left out of the spectral summaries.
SILENCE_DB = -60.0
#: Autocorrelation lags of the onset envelope (frames): up to 8.9 s, tempos down to 6.7 BPM.
ONSET_LAGS = 384
#: Tempos considered, BPM; and the prior over them (log-normal, centred at 120 BPM, one octave
#: wide: librosa's default), which settles whether a pulse is the beat or its half or double.
TEMPO_RANGE = (40.0, 240.0)
TEMPO_PRIOR_CENTRE, TEMPO_PRIOR_OCTAVES = 120.0, 1.0
#: The beat is the fastest metrical level that is nearly as periodic as the level the prior
#: chose: a pulse every beat also repeats every two beats, so the slower level's periodicity says
#: nothing against the faster one, while the prior alone halves fast songs whose bars repeat in
#: twos (0.83 Acc1 on the rendered set, every miss half the tempo above 100 BPM). A level
#: half or a third of the chosen period is taken when its autocorrelation is at least
#: `FASTER_LEVEL_SUPPORT` of the chosen one's and it is at most `FASTER_LEVEL_MAX_BPM`. On the
#: rendered set (bench/analyze.py) any support between 0.6 and 0.8 scores 0.91-0.96; 0.7 is its
#: middle, and no song's tempo is doubled at it.
FASTER_LEVEL_SUPPORT = 0.7
FASTER_LEVEL_MAX_BPM = 200.0
#: Key profiles, major and minor, from C: Temperley's, from the Kostka-Payne corpus (Temperley
#: 2007, Music and Probability). On the rendered set (bench/analyze.py) they scored 0.92 (MIREX)
#: where Krumhansl-Kessler's probe-tone profiles scored 0.75, on the same chroma.
MAJOR_PROFILE = np.array([0.748, 0.060, 0.488, 0.082, 0.670, 0.460, 0.096, 0.715, 0.104, 0.366, 0.057, 0.400])
MINOR_PROFILE = np.array([0.712, 0.084, 0.474, 0.618, 0.049, 0.460, 0.105, 0.747, 0.404, 0.067, 0.133, 0.330])
#: Detrended fluctuation analysis scales, seconds (Streich & Herrera 2005, danceability).
DFA_SCALES = (0.3, 8.0)
#: The least audio worth describing: shorter has no tempo, key or groove (DFA) to speak of.
MIN_SECONDS = 5.0

MFCC_NAMES = tuple(f"mfcc_{i}" for i in range(1, N_MFCC + 1))


@dataclass
class Summary:
    """Running sums over a file's windows; `describe()` turns them into descriptors."""

    sounding: int = 0  # frames above `SILENCE_DB`
    onsets: int = 0
    seconds: float = 0.0
    #: The onset envelope's autocorrelation by lag, summed over windows (lag 0: its energy).
    onset_autocorrelation: np.ndarray = field(default_factory=lambda: np.zeros(ONSET_LAGS))
    chroma: np.ndarray = field(default_factory=lambda: np.zeros(12))
    centroid: float = 0.0
    rolloff: float = 0.0
    flatness_db: float = 0.0
    contrast_db: float = 0.0
    zero_crossings: float = 0.0
    mfcc: np.ndarray = field(default_factory=lambda: np.zeros(N_MFCC))
    envelope: list[np.ndarray] = field(default_factory=list)  # frame RMS, for DFA

    def add(self, y: np.ndarray) -> None:
        """Add one window of mono audio at `ANALYSIS_RATE`."""
        import librosa

        sr = ANALYSIS_RATE
        self.seconds += len(y) / sr
        if len(y) < N_FFT:  # a window's tail too short for a frame: counted in time only
            return
        magnitude = np.abs(librosa.stft(y, n_fft=N_FFT, hop_length=HOP))
        power = magnitude**2
        rms = librosa.feature.rms(S=magnitude, frame_length=N_FFT)[0]
        self.envelope.append(rms)
        sounding = 20 * np.log10(np.maximum(rms, 1e-10)) > SILENCE_DB
        mel_db = librosa.power_to_db(librosa.feature.melspectrogram(S=power, sr=sr, n_mels=N_MELS), ref=1.0)
        onset_envelope = librosa.onset.onset_strength(S=mel_db, sr=sr)
        # The whole window's autocorrelation, one FFT: as accurate on the rendered set as the mean of a
        # tempogram's (384-frame windows; 0.90 / 1.00 Acc1 / Acc2 both) at a hundredth of its cost.
        lags = min(ONSET_LAGS, len(onset_envelope))
        self.onset_autocorrelation[:lags] += librosa.autocorrelate(onset_envelope - onset_envelope.mean(), max_size=lags)
        self.onsets += len(librosa.onset.onset_detect(onset_envelope=onset_envelope, sr=sr, hop_length=HOP))
        if not sounding.any():
            return
        self.sounding += int(sounding.sum())
        kept = magnitude[:, sounding]
        # Unnormalised chroma: loud passages weigh more than quiet ones in the key.
        self.chroma += librosa.feature.chroma_stft(S=power[:, sounding], sr=sr, norm=None, tuning=0.0).sum(axis=1)
        self.centroid += librosa.feature.spectral_centroid(S=kept, sr=sr).sum()
        self.rolloff += librosa.feature.spectral_rolloff(S=kept, sr=sr, roll_percent=0.85).sum()
        self.flatness_db += (10 * np.log10(np.maximum(librosa.feature.spectral_flatness(S=kept), 1e-10))).sum()
        self.contrast_db += librosa.feature.spectral_contrast(S=kept, sr=sr).mean(axis=0).sum()
        self.zero_crossings += librosa.feature.zero_crossing_rate(y, frame_length=N_FFT, hop_length=HOP)[0][:len(sounding)][sounding].sum()
        self.mfcc += librosa.feature.mfcc(S=mel_db[:, sounding], n_mfcc=N_MFCC + 1)[1:].sum(axis=1)

    def describe(self) -> dict[str, float]:
        """The descriptors; raises `AudioError` for a file too short or silent to describe."""
        if self.seconds < MIN_SECONDS:
            raise AudioError(f"only {self.seconds * 1000:.0f} ms of audio: too short to describe (at least {MIN_SECONDS:g} s)")
        if self.sounding == 0:
            raise AudioError(f"silent: no frame louder than {SILENCE_DB:g} dBFS")
        n = self.sounding
        energy = self.onset_autocorrelation[0]
        tempo, confidence = estimate_tempo(self.onset_autocorrelation / energy if energy > 0 else np.zeros(ONSET_LAGS))
        key, mode, strength = estimate_key(self.chroma)
        out = {"tempo": tempo, "tempo_confidence": confidence, "key": key, "mode": mode, "key_strength": strength,
               "onset_rate": self.onsets / self.seconds, "dfa_exponent": dfa_exponent(np.concatenate(self.envelope)),
               "spectral_centroid": self.centroid / n, "spectral_rolloff": self.rolloff / n, "spectral_flatness": self.flatness_db / n,
               "spectral_contrast": self.contrast_db / n, "zero_crossing_rate": self.zero_crossings / n}
        out |= dict(zip(MFCC_NAMES, (self.mfcc / n).tolist()))
        return out


def estimate_tempo(autocorrelation: np.ndarray, sr: int = ANALYSIS_RATE, hop: int = HOP) -> tuple[float, float]:
    """The beat (BPM) from the onset envelope's autocorrelation by lag (normalised: 1 at lag 0),
    and its confidence: the autocorrelation at the beat's period (0..1, 1 perfectly periodic).

    The prior-weighted autocorrelation's peak picks a metrical level; a faster level (half or a
    third of its period) with nearly as much periodicity replaces it (`FASTER_LEVEL_SUPPORT`).
    The lag is then refined by a parabola through it and its neighbours: a lag is 23 ms, 4-7% of
    a period at 120-180 BPM, coarser than the 4% a tempo must be within to count as right.
    """
    lags = np.arange(len(autocorrelation), dtype=np.float64)
    with np.errstate(divide="ignore"):
        bpm = 60.0 * sr / (hop * lags)
    usable = (bpm >= TEMPO_RANGE[0]) & (bpm <= TEMPO_RANGE[1])
    prior = np.exp(-0.5 * (np.log2(np.where(usable, bpm, 1.0) / TEMPO_PRIOR_CENTRE) / TEMPO_PRIOR_OCTAVES) ** 2)
    score = np.where(usable, autocorrelation * prior, -np.inf)
    best = int(np.argmax(score))
    if not np.isfinite(score[best]) or autocorrelation[best] <= 0:
        return math.nan, 0.0
    best = _fastest_supported_level(autocorrelation, best, bpm)
    shift = 0.0
    if 0 < best < len(autocorrelation) - 1:
        left, centre, right = autocorrelation[best - 1], autocorrelation[best], autocorrelation[best + 1]
        curve = left - 2 * centre + right
        if curve < 0:
            shift = float(np.clip(0.5 * (left - right) / curve, -0.5, 0.5))
    return float(60.0 * sr / (hop * (best + shift))), float(np.clip(autocorrelation[best], 0.0, 1.0))


def _fastest_supported_level(autocorrelation: np.ndarray, lag: int, bpm: np.ndarray) -> int:
    """From the chosen `lag`, step to the autocorrelation's peak near half or a third of it
    (within 4%, the accuracy a tempo is judged by) while that peak is at least
    `FASTER_LEVEL_SUPPORT` of the chosen one's and no faster than `FASTER_LEVEL_MAX_BPM`."""
    strength = autocorrelation[lag]
    while True:
        for divisor in (2, 3):
            low, high = max(1, math.floor(lag / divisor * 0.96)), math.ceil(lag / divisor * 1.04)
            if high < low or bpm[low] > FASTER_LEVEL_MAX_BPM * 1.04:
                continue
            peak = low + int(np.argmax(autocorrelation[low:high + 1]))
            if bpm[peak] <= FASTER_LEVEL_MAX_BPM and autocorrelation[peak] >= FASTER_LEVEL_SUPPORT * strength:
                lag, strength = peak, max(strength, autocorrelation[peak])
                break
        else:
            return lag


def estimate_key(chroma: np.ndarray) -> tuple[int, int, float]:
    """The key (pitch class of the tonic, C = 0), mode (1 major, 0 minor) and key strength (the
    Pearson correlation of the chroma with that key's profile, -1..1) by the Krumhansl-Schmuckler
    method (the best correlation among the 24 rotated profiles), with Temperley's profiles."""
    if not np.any(chroma > 0):
        return -1, 0, 0.0
    best = (-2.0, 0, 0)
    for mode, profile in ((1, MAJOR_PROFILE), (0, MINOR_PROFILE)):
        for tonic in range(12):
            r = float(np.corrcoef(chroma, np.roll(profile, tonic))[0, 1])
            if r > best[0]:
                best = (r, tonic, mode)
    return best[1], best[2], best[0]


def dfa_exponent(envelope: np.ndarray, sr: int = ANALYSIS_RATE, hop: int = HOP) -> float:
    """The detrended fluctuation analysis exponent of the loudness envelope between 0.3 and 8 s
    (Streich & Herrera 2005): how the envelope's fluctuation grows with the time scale. Low (near
    0.5 or under) is a steady, repeating pulse, what their danceability measure rewards; high
    is drifting, through-composed dynamics. NaN for a song shorter than the longest scale x 4."""
    frames_per_second = sr / hop
    profile = np.cumsum(envelope - envelope.mean())
    scales = np.unique(np.round(np.geomspace(DFA_SCALES[0] * frames_per_second, DFA_SCALES[1] * frames_per_second, 12)).astype(int))
    scales = scales[scales * 4 <= len(profile)]
    if len(scales) < 3:
        return math.nan
    fluctuations = []
    for size in scales:
        segments = profile[: len(profile) // size * size].reshape(-1, size)
        t = np.arange(size) - (size - 1) / 2
        slope = segments @ t / (t @ t)
        residual = segments - segments.mean(axis=1, keepdims=True) - slope[:, None] * t
        fluctuations.append(np.sqrt(np.mean(residual**2)))
    fluctuations = np.maximum(np.array(fluctuations), 1e-12)
    return float(np.polyfit(np.log(scales), np.log(fluctuations), 1)[0])
