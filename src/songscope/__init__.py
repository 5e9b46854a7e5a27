"""songscope: cluster songs by their audio features and recommend new ones for a listener's favourites."""

__version__ = "0.1.0"
