"""Integrated loudness (ITU-R BS.1770-4, LUFS) and loudness range (EBU Tech 3342, LU), measured as
the audio streams past, in memory that does not grow with the file.

pyloudnorm (MIT) measures both, but on the whole signal at once: 2.5 GB of float64 for a 2-hour
stereo mix, and a Python loop per block. This meter uses pyloudnorm's own K-weighting filters
(their coefficients, run with carried state through each window) and its block grid and gating
rules, keeping only each channel's running energy at the blocks' edges; `tests/audio` checks
that both give the same figures.
"""

from __future__ import annotations

import math

import numpy as np

#: BS.1770's channel weights by FFmpeg's channel names: surrounds count 1.41, the LFE not at all.
SURROUND_PREFIXES = ("BL", "BR", "BC", "SL", "SR", "TBL", "TBR")
ABSOLUTE_GATE = -70.0  # LUFS
RELATIVE_GATE_INTEGRATED = -10.0  # LU below the absolute-gated loudness
RELATIVE_GATE_RANGE = -20.0  # LU, Tech 3342
RANGE_PERCENTILES = (10, 95)
#: Tech 3342 asks that the signal be followed by silence, so its last short-term blocks exist.
RANGE_TAIL_SECONDS = 1.5


def channel_weights(names: list[str]) -> np.ndarray:
    """Each channel's weight in the sum of channel powers (BS.1770-4, table 3)."""
    return np.array([0.0 if n == "LFE" else 1.41 if n.startswith(SURROUND_PREFIXES) else 1.0 for n in names])


class _Energies:
    """Each channel's cumulative energy at successive block edges, in an array that doubles as it
    fills (8 bytes an edge a channel: a 2-hour file's 150,000 edges hold a few MB)."""

    def __init__(self, channels: int) -> None:
        self.values = np.empty((1024, channels))
        self.count = 0

    def append(self, energy: np.ndarray) -> None:
        if self.count == len(self.values):
            self.values = np.concatenate([self.values, np.empty_like(self.values)])
        self.values[self.count] = energy
        self.count += 1

    def first(self, n: int, beyond: np.ndarray) -> np.ndarray:
        """The first `n` edges' energies; an edge the stream never reached has `beyond`."""
        out = np.empty((n, self.values.shape[1]))
        known = min(n, self.count)
        out[:known] = self.values[:known]
        out[known:] = beyond
        return out


class _Grid:
    """The edges of blocks `block` seconds long every `step` x `block` seconds, as pyloudnorm
    places them, with each channel's cumulative energy recorded at each edge as it streams past."""

    def __init__(self, block: float, overlap: float, rate: int, channels: int) -> None:
        self.block, self.step, self.rate = block, 1.0 - overlap, rate
        self._at = {"start": _Energies(channels), "end": _Energies(channels)}
        self._next = {"start": 0, "end": 0}

    def start(self, j: int) -> int:
        return int(self.block * (j * self.step) * self.rate)

    def end(self, j: int) -> int:
        return int(self.block * (j * self.step + 1) * self.rate)

    def edges_in(self, first: int, last: int) -> list[tuple[str, int]]:
        """The block edges up to `last` not seen yet, (kind, sample), each kind in order."""
        found = []
        for kind, edge_of in (("start", self.start), ("end", self.end)):
            j = self._next[kind]
            while (edge := edge_of(j)) <= last:
                found.append((kind, edge))
                j += 1
            self._next[kind] = j
        return found

    def record(self, kind: str, energy: np.ndarray) -> None:
        self._at[kind].append(energy)

    def blocks(self, samples: int, total: np.ndarray) -> np.ndarray:
        """Each block's mean square per channel (channels x blocks) over `samples` samples, as
        pyloudnorm counts them (a block past the end holds what is left of it)."""
        seconds = samples / self.rate
        count = int(np.round((seconds - self.block) / (self.block * self.step))) + 1
        if count <= 0:
            return np.zeros((len(total), 0))
        ends, starts = self._at["end"].first(count, total), self._at["start"].first(count, total)
        # Differences of running sums: a silent block may come out a hair below zero, and is zero.
        return np.maximum(ends - starts, 0.0).T / (self.block * self.rate)


class LoudnessMeter:
    """Feed it a file's windows (`add`, channels x samples at `rate`), then read `integrated()`
    (LUFS; -inf for digital silence) and `loudness_range()` (LU; NaN when too short or too quiet)."""

    def __init__(self, rate: int, channel_names: list[str]) -> None:
        from pyloudnorm import Meter

        self.rate = rate
        self.weights = channel_weights(channel_names)
        stages = list(Meter(rate)._filters.values())  # pyloudnorm's K-weighting: two biquads, each with a gain
        self._sos = np.array([np.r_[f.b / f.a[0], f.a / f.a[0]] for f in stages])
        self._gain = float(np.prod([f.passband_gain for f in stages]))
        self._state = np.zeros((len(stages), len(channel_names), 2))
        self._samples = 0
        self._total = np.zeros(len(channel_names))
        self._integrated = _Grid(0.4, 0.75, rate, len(channel_names))
        self._range = _Grid(3.0, 0.97, rate, len(channel_names))
        self._done: tuple[float, float] | None = None

    def add(self, channels: np.ndarray) -> None:
        if self._done is not None:
            raise RuntimeError("the meter has been read; make a new one for another file")
        self._feed(channels, (self._integrated, self._range))

    def _feed(self, channels: np.ndarray, grids) -> None:
        from scipy.signal import sosfilt

        # Both K-weighting stages in one pass over every channel, their state carried to the next window.
        power, self._state = sosfilt(self._sos, channels, axis=-1, zi=self._state)
        power *= self._gain
        np.multiply(power, power, out=power)
        first, last = self._samples, self._samples + channels.shape[1]
        found = [(grid, kind, edge) for grid in grids for kind, edge in grid.edges_in(first, last)]
        energy = {first: self._total}  # this window's edges only: an edge where it starts has the energy so far
        inside = np.array(sorted({edge for _, _, edge in found if edge > first}), dtype=np.int64) - first
        if len(inside):
            # Each channel's energy from the file's start to each edge: the segments between the edges, summed.
            starts = np.r_[0, inside[inside < channels.shape[1]]]
            upto = self._total[:, None] + np.cumsum(np.add.reduceat(power, starts, axis=1), axis=1)
            energy |= {first + int(offset): upto[:, k] for k, offset in enumerate(inside)}
        for grid, kind, edge in found:
            grid.record(kind, energy[edge])
        if channels.shape[1]:
            self._total = self._total + power.sum(axis=1)
        self._samples = last

    def _block_loudness(self, z: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore"):
            return -0.691 + 10.0 * np.log10(self.weights @ z)

    def _finish(self) -> tuple[float, float]:
        if self._done is None:
            z = self._integrated.blocks(self._samples, self._total)
            loudness = self._block_loudness(z)
            integrated = -math.inf
            above = loudness >= ABSOLUTE_GATE
            if above.any():
                relative = float(self._block_loudness(z[:, above].mean(axis=1))) + RELATIVE_GATE_INTEGRATED
                gated = (loudness > relative) & (loudness > ABSOLUTE_GATE)
                if gated.any():
                    integrated = float(self._block_loudness(z[:, gated].mean(axis=1)))
            # The short-term blocks run on through the silence that follows the signal.
            channels = len(self._total)
            self._feed(np.zeros((channels, int(RANGE_TAIL_SECONDS * self.rate))), (self._range,))
            self._done = (integrated, _range(self._block_loudness(self._range.blocks(self._samples, self._total))))
        return self._done

    def integrated(self) -> float:
        return self._finish()[0]

    def loudness_range(self) -> float:
        return self._finish()[1]


def _range(short_term: np.ndarray) -> float:
    """Tech 3342: the spread (10th to 95th percentile) of the short-term loudness of blocks above
    -70 LUFS and within 20 LU of their power mean."""
    above = short_term[short_term >= ABSOLUTE_GATE]
    if not len(above):
        return math.nan
    relative = 10 * np.log10(np.mean(np.power(10, above / 10))) + RELATIVE_GATE_RANGE
    kept = above[above >= relative]
    if not len(kept):
        return math.nan
    low, high = np.percentile(kept, RANGE_PERCENTILES)
    return float(high - low)
