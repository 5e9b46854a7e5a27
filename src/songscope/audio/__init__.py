"""Audio files as songs: decode (PyAV), tags (tinytag), descriptors (librosa, scipy) and loudness
(BS.1770 with pyloudnorm's filters), one row of the `audio` feature set per song (`analyze`).

Needs the ``audio`` extra; `require()` says so in one line when it is missing."""

from __future__ import annotations

from songscope.errors import UserError


def require() -> None:
    """Refuse, in one line, to analyse audio without the audio extra's libraries."""
    import importlib.util

    missing = [name for name in ("av", "librosa", "pyloudnorm", "tinytag", "soundfile") if importlib.util.find_spec(name) is None]
    if missing:
        raise UserError(f"analysing audio needs the audio extra: pip install 'songscope[audio]' ({', '.join(missing)} missing)")
