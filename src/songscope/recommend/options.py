"""Recommendation options, declared once (a light module: the CLI imports it to build its flags)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields


def _option(default, help: str, **bounds):
    """A recommendation option: its default, the help both shells show, its bounds (ge, le, gt)."""
    return field(default=default, metadata={"help": help, **bounds})


@dataclass
class RecommendOptions:
    """Every recommendation option, declared once: the CLI's flags and the API's request model
    take their help and bounds from here (``dataclasses.fields(RecommendOptions)``)."""

    n: int = _option(10, "How many songs to recommend.", ge=1, le=500)
    per_artist: int | None = _option(2, "At most this many songs per artist (none: no cap).", ge=1)
    exclude_seed_artists: bool = _option(False, "Leave out the favourites' own artists.")
    exclude_versions: bool = _option(True, "Leave out other versions of a favourite (same normalised artist and title).")
    diversity: float | None = _option(None, "MMR lambda in (0, 1]: lower trades relevance for variety; 1 is pure relevance.", gt=0, le=1)
    cluster: int | None = _option(None, "Only songs of this cluster (of the clustering run).", ge=0)
    popularity: tuple[int, int] | None = _option(None, "Popularity range LOW..HIGH within 0..100, e.g. 20..80.")
    taste: bool = _option(True, "Learn the listener's taste from ten favourites or any dislike, and re-rank with it.")

    def validate(self) -> None:
        if not 1 <= self.n <= 500:
            raise ValueError(f"n = {self.n}: ask for 1 to 500 songs")
        if self.per_artist is not None and self.per_artist < 1:
            raise ValueError("per_artist must be at least 1")
        if self.diversity is not None and not 0 < self.diversity <= 1:
            raise ValueError(f"diversity = {self.diversity}: use a lambda in (0, 1]; 1 means no diversity re-ranking")
        if self.popularity is not None and not 0 <= self.popularity[0] <= self.popularity[1] <= 100:
            raise ValueError(f"popularity range {self.popularity}: use LOW..HIGH within 0..100")


def option_help(name: str) -> str:
    """The help text of option `name`, as both shells show it."""
    return next(f.metadata["help"] for f in fields(RecommendOptions) if f.name == name)
