"""Recommendation options, declared once (a light module: the CLI imports it to build its flags)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from songscope.errors import UserError
from songscope.recommend.where import MAX_WHERE_CHARS

#: Bounds on the listed options: each listed name is resolved per request.
MAX_LISTED = 50
MAX_KNOWN = 1_000


def _option(default, help: str, *, cli: dict | None = None, **bounds):
    """A recommendation option: its default, the help both shells show, its bounds (ge, le, gt),
    and how the command line spells it where that differs from ``--name-with-dashes`` (`cli`:
    ``flag``, ``off_flag`` for a switch that is on by default, ``none_as`` for the number that
    means None, ``repeat`` for a flag given once per value, ``file`` for values read from a file,
    ``range`` for a LOW..HIGH pair, ``help`` for text about the file)."""
    return field(default=default, metadata={"help": help, "cli": cli or {}, **bounds})


@dataclass
class RecommendOptions:
    """Every recommendation option, declared once: the CLI's flags and the API's request model
    take their help and bounds from here (``dataclasses.fields(RecommendOptions)``)."""

    n: int = _option(10, "How many songs to recommend.", ge=1, le=500, cli={"flag": "-n"})
    per_artist: int | None = _option(2, "At most this many songs per artist, a song counting for each of its artists (none: no cap).", ge=1,
                                     cli={"none_as": 0})
    exclude_seed_artists: bool = _option(False, "Leave out songs by any of the favourites' artists (every artist of a song counts).")
    exclude_versions: bool = _option(True, "Leave out other versions of a favourite (same normalised artist and title).",
                                     cli={"off_flag": "--keep-versions"})
    diversity: float | None = _option(None, "MMR lambda in (0, 1]: lower trades relevance for variety; 1 is pure relevance.", gt=0, le=1)
    cluster: int | None = _option(None, "Only songs of this cluster (of the clustering run).", ge=0)
    popularity: tuple[int, int] | None = _option(None, "Popularity range LOW..HIGH within 0..100, e.g. 20..80.", cli={"range": True})
    taste: bool = _option(True, "Learn the listener's taste from ten favourites or any dislike, and re-rank with it.")
    exclude_artists: tuple[str, ...] = _option((), "Leave out songs by these artists, whether first or featured (any case and accents).", max_length=MAX_LISTED,
                                               cli={"flag": "--exclude-artist", "repeat": True})
    exclude_genres: tuple[str, ...] = _option((), "Leave out songs with any of these genres (needs a genre column in the catalogue).", max_length=MAX_LISTED,
                                              cli={"flag": "--exclude-genre", "repeat": True})
    exclude_explicit: bool = _option(False, "Leave out explicit songs (needs an explicit column in the catalogue).")
    known: tuple[str, ...] = _option((), "Songs the listener already knows, and their other versions: left out (track ids or exact 'artist - title').",
                                     max_length=MAX_KNOWN, cli={"file": True, "help": "A file of songs the listener already knows, one per line (track "
                                                                "ids or exact 'artist - title'): they and their other versions are left out."})
    where: str | None = _option(None, "Only songs whose features pass this, e.g. 'duration_ms < 420000 and instrumentalness < 0.5' "
                                      "(comparisons joined by and, or, not).", max_length=MAX_WHERE_CHARS)

    def validate(self) -> None:
        if not 1 <= self.n <= 500:
            raise UserError(f"n = {self.n}: ask for 1 to 500 songs")
        if self.per_artist is not None and self.per_artist < 1:
            raise UserError("per_artist must be at least 1")
        if self.diversity is not None and not 0 < self.diversity <= 1:
            raise UserError(f"diversity = {self.diversity}: use a lambda in (0, 1]; 1 means no diversity re-ranking")
        if self.popularity is not None and not 0 <= self.popularity[0] <= self.popularity[1] <= 100:
            raise UserError(f"popularity range {self.popularity}: use LOW..HIGH within 0..100")
        if self.where is not None:
            self.parsed_where()

    def parsed_where(self):
        """`where` parsed (`recommend.where.Where`), or None; a `WhereError` names what is wrong."""
        from songscope.recommend.facts import WHERE_COLUMNS
        from songscope.recommend.where import parse_where

        return None if self.where is None else parse_where(self.where, WHERE_COLUMNS)

    @property
    def narrows(self) -> bool:
        """Whether a filter beyond the favourites' own may leave few candidates."""
        return bool(self.cluster is not None or self.popularity or self.exclude_artists or self.exclude_genres or self.exclude_explicit
                    or self.known or self.where or self.exclude_seed_artists)


def option_help(name: str) -> str:
    """The help text of option `name`, as both shells show it."""
    return next(f.metadata["help"] for f in fields(RecommendOptions) if f.name == name)
