"""A file's tags (artists, title, album, track number, ISRC, MusicBrainz ids), read by tinytag
(MIT, pure Python: mutagen is GPL, which songscope, being MIT, does not ship with), and where a
file has none, its artist and title from its path as libraries lay them out:
``Artist/Album/NN Title.ext``."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

#: "03 Title", "03 - Title", "03. Title", "1-03 Title" (disc-track): the number is not the title.
_NUMBERED = re.compile(r"^\s*(?:\d{1,2}-)?(\d{1,3})\s*(?:[-.]\s*|\s+)(.+)$")


@dataclass(frozen=True)
class Tags:
    artists: tuple[str, ...]
    title: str
    album: str | None = None
    track_number: int | None = None
    isrc: str | None = None
    musicbrainz_recording_id: str | None = None
    genre: str | None = None
    #: How each field was found when not from the tags (for the ingest's notes).
    notes: tuple[str, ...] = field(default=())


def read_tags(path: Path, root: Path | None = None) -> Tags:
    """The file's tags; what they lack comes from its path (relative to `root`, the folder given)."""
    found = _tinytag(path)
    artists = tuple(a for a in found.get("artists", ()) if a)
    title = found.get("title") or ""
    notes = []
    guessed = from_path(path, root)
    if not artists:
        artists = guessed.artists
        notes.append("artist from the file's folder" if guessed.artists != ("Unknown artist",) else "no artist in its tags or path")
    if not title:
        title = guessed.title
        notes.append("title from the file's name")
    return Tags(artists, title, found.get("album") or guessed.album, found.get("track") or guessed.track_number,
                found.get("isrc"), found.get("musicbrainz_recording_id"), found.get("genre"), tuple(notes))


def from_path(path: Path, root: Path | None = None) -> Tags:
    """Artist, album, track number and title from ``Artist/Album/NN Title.ext`` (or fewer levels)."""
    relative = path.relative_to(root) if root is not None and path.is_relative_to(root) else Path(path.name)
    folders = relative.parts[:-1]
    stem = path.stem
    number = None
    numbered = _NUMBERED.match(stem)
    if numbered:
        number, stem = int(numbered.group(1)), numbered.group(2)
    artist, album = None, None
    if len(folders) >= 2:
        artist, album = folders[-2], folders[-1]
    elif len(folders) == 1:
        artist = folders[0]
    if artist is None and " - " in stem:  # "Artist - Title.mp3" in a flat folder
        artist, stem = (s.strip() for s in stem.split(" - ", 1))
    return Tags((artist or "Unknown artist",), stem.strip() or path.stem, album, number)


def _tinytag(path: Path) -> dict:
    from tinytag import TinyTag

    try:
        tag = TinyTag.get(str(path))
    except Exception:  # tinytag raises its own and struct/Unicode errors on odd tags: the path still names the song
        return {}
    other = tag.other or {}
    artists = [tag.artist] if tag.artist else []
    for extra in other.get("artist", []):  # further artist fields: a song's several artists, in order
        if extra and extra not in artists:
            artists.append(extra)

    def first(name: str) -> str | None:
        values = other.get(name) or []
        return str(values[0]).strip() if values else None

    return {"artists": [_clean(a) for a in artists], "title": _clean(tag.title), "album": _clean(tag.album), "track": tag.track,
            "isrc": first("isrc"), "musicbrainz_recording_id": first("musicbrainz_trackid") or first("musicbrainz_recording_id"),
            "genre": _clean(tag.genre)}


def _clean(text: str | None) -> str | None:
    if text is None:
        return None
    cleaned = "".join(ch for ch in str(text) if ch.isprintable()).strip()
    return cleaned or None
