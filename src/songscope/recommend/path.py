"""A song path: songs that move smoothly from one song to another through the recommendation space.

The path's stops are the points evenly spaced on the straight line between the two songs (in
the metric's space, artist context included). At each stop songscope takes, among the songs
nearest it, the one that is closest to the stop and to the song before (so the path neither
strays from the line nor jumps), never a song twice (nor another version of one), and at most
`per_artist` songs of an artist. Each step says why: how far along it is, and what it shares
with the song before.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from songscope.errors import UserError

if TYPE_CHECKING:
    from songscope.recommend.recommender import Recommendation, Recommender

#: Songs a path may have, its two ends included.
MIN_STEPS, MAX_STEPS = 3, 100
#: Neighbours of each stop considered (widened once when the exclusions leave none).
CANDIDATES = 64
#: Weight of closeness to the song before, against closeness to the stop.
SMOOTHNESS = 0.5


@dataclass
class PathResult:
    start: str
    end: str
    steps: list[Recommendation]  # the two ends included; `rank` is the position, 1-based
    progress: list[float]  # how far along the line each step's stop is, 0..1
    notes: list[str] = field(default_factory=list)
    straight_hop: float = 0.0  # the line's length over its hops: what an even path's hops measure
    hops: list[float] = field(default_factory=list)  # distance from each song to the next

    def to_dict(self) -> dict[str, Any]:
        steps = [{**step.__dict__, "reason": reason, "progress": round(p, 4)} for step, reason, p in zip(self.steps, self.reasons(), self.progress)]
        return {"start": self.start, "end": self.end, "steps": steps, "notes": self.notes,
                "smoothness": {"straight_hop": round(self.straight_hop, 4), "mean_hop": round(float(np.mean(self.hops)), 4) if self.hops else None,
                               "longest_hop": round(float(np.max(self.hops)), 4) if self.hops else None}}

    def reasons(self) -> list[str]:
        return [_reason(step, i, len(self.steps), p) for i, (step, p) in enumerate(zip(self.steps, self.progress))]


def _reason(step: Recommendation, position: int, count: int, progress: float) -> str:
    if position == 0:
        return "the start"
    if position == count - 1:
        return f"the end; from the song before, it keeps {', '.join(step.similar_in)}"
    text = f"{progress:.0%} of the way; like the song before in {', '.join(step.similar_in)}"
    if step.differs_in:
        text += f"; differs in {', '.join(step.differs_in)}"
    return text


def song_path(model: Recommender, start: str, end: str, steps: int = 12, per_artist: int | None = 1) -> PathResult:
    """A path of `steps` songs from `start` to `end` (ids or 'artist - title', resolved as
    favourites are), each with its reason.

    Raises ValueError for a bad `steps` or cap, the same song at both ends, or a catalogue too
    small for the path under its exclusions.
    """
    if not MIN_STEPS <= steps <= MAX_STEPS:
        raise UserError(f"steps = {steps}: a path has {MIN_STEPS} to {MAX_STEPS} songs, its two ends included")
    if per_artist is not None and per_artist < 1:
        raise UserError("per_artist must be at least 1")
    first, last = model.resolve(start), model.resolve(end)
    if first == last:
        raise UserError(f"{start!r} and {end!r} are the same song: a path needs two")
    songs = model.songs
    ends = model.vectors([first, last]).astype(np.float64)
    progress = np.linspace(0.0, 1.0, steps)
    stops = ends[0] + progress[1:-1, None] * (ends[1] - ends[0])
    used_versions = {int(songs.version[first]), int(songs.version[last])}
    per: Counter = Counter()
    for end_song in (first, last):  # every artist of a song counts against the cap
        per.update(songs.artists_of([end_song])[0].tolist())
    chosen = [first]
    previous = ends[0]
    notes: list[str] = []
    pool = min(len(model), CANDIDATES)
    neighbours = model.index.search(stops.astype(np.float32), pool)[0] if len(stops) else np.empty((0, 0), dtype=np.int64)
    for i, stop in enumerate(stops):
        pick = _best(model, neighbours[i], stop, previous, used_versions, per, per_artist)
        if pick is None and pool < len(model):  # the exclusions took all of them: look wider, once
            wider = model.index.search(stop[None].astype(np.float32), min(len(model), 16 * CANDIDATES))[0][0]
            pick = _best(model, wider, stop, previous, used_versions, per, per_artist)
        if pick is None:
            raise UserError(f"no song left for step {i + 2} of {steps} under the artist cap ({per_artist}): ask for fewer steps or a higher cap")
        chosen.append(pick)
        used_versions.add(int(songs.version[pick]))
        per.update(songs.artists_of([pick])[0].tolist())
        previous = model.vectors([pick])[0].astype(np.float64)
    chosen.append(last)
    vectors = model.vectors(chosen).astype(np.float64)
    hops = np.sqrt(((vectors[1:] - vectors[:-1]) ** 2).sum(axis=1)).tolist()
    direct = float(np.sqrt(((ends[1] - ends[0]) ** 2).sum()))
    # Each step explained against the song before it (the start, which has none, against the end).
    explained = model.explain(chosen[1:], [0.0] * (len(chosen) - 1), chosen[:-1])
    start_item = model.explain([first], [0.0], [last])[0]
    items = [start_item, *explained]
    for rank, item in enumerate(items, 1):
        item.rank = rank
        item.score = 0.0
    if max(hops) > direct / 2:
        notes.append(f"the longest hop ({max(hops):.2f}) is over half the direct jump ({direct:.2f}): the catalogue is thin between these songs")
    return PathResult(start=songs.label(first), end=songs.label(last), steps=items, progress=progress.tolist(), notes=notes,
                      straight_hop=direct / (steps - 1), hops=hops)


def _best(model: Recommender, candidates: np.ndarray, stop: np.ndarray, previous: np.ndarray, used_versions: set[int], per: Counter,
          per_artist: int | None) -> int | None:
    """The candidate closest to the stop and to the song before, among those still allowed."""
    candidates = candidates[candidates >= 0]
    allowed = [int(c) for c in candidates if int(model.songs.version[c]) not in used_versions
               and (per_artist is None or all(per[a] < per_artist for a in model.songs.artists_of([c])[0].tolist()))]
    if not allowed:
        return None
    vectors = model.vectors(allowed).astype(np.float64)
    cost = ((vectors - stop) ** 2).sum(axis=1) + SMOOTHNESS * ((vectors - previous) ** 2).sum(axis=1)
    return allowed[int(np.argmin(cost))]
