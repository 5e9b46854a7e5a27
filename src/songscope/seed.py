"""Where the shipped seed CSVs are: inside the installed package, or in the repository's data/seed."""

from __future__ import annotations

from pathlib import Path

from songscope.errors import UserError

SEED_FILES = ("world_data.csv", "brazil_data.csv", "tutorial_data.csv")


def seed_dir() -> Path:
    """The folder holding the three seed CSVs (world, brazil and the 2020 tutorial file)."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "seed_data", here.parents[1] / "data" / "seed"):
        if all((candidate / name).is_file() for name in SEED_FILES):
            return candidate
    raise UserError(
        "the seed CSVs are not installed: expected them in songscope/seed_data or the repository's data/seed"
    )


def seed_paths() -> list[str]:
    """The seed CSVs in the seed project's order: world, brazil, then the 2020 file."""
    folder = seed_dir()
    return [str(folder / name) for name in SEED_FILES]
