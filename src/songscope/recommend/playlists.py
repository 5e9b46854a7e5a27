"""Playlists in and out: M3U, JSPF (XSPF as JSON) and CSV, with ``spotify:track:<id>`` URIs, or
for songs analysed from audio files, the files themselves (relative to the playlist where it is
written, so mpv, VLC or a media server opens it as it is).

Out: any list of songs (a recommendation list, a cluster) as a file a player or a playlist tool
opens. In: the same three formats, and the CSV layout of the common Spotify playlist exporters
(Exportify's columns: "Track URI", "Track Name", "Artist Name(s)", ...), read as the songs they
name (track ids where the file has them, else "artist - title").
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from songscope.errors import UserError

#: The formats, by the file extensions that name them.
FORMATS = {".m3u": "m3u", ".m3u8": "m3u", ".jspf": "jspf", ".json": "jspf", ".csv": "csv"}
MEDIA_TYPES = {"m3u": "audio/x-mpegurl", "jspf": "application/xspf+json", "csv": "text/csv"}
SPOTIFY_TRACK = "spotify:track:"


@dataclass(frozen=True)
class PlaylistSong:
    """One song of a playlist: its id, names and, for a recommendation, why it is there."""

    track_id: str
    artist_name: str
    track_name: str
    note: str | None = None
    #: The audio file the song was analysed from, when it was (`store.audio_files`), and its length.
    location: str | None = None
    seconds: int | None = None

    def uri(self, base: Path | None = None) -> str:
        """Where a player finds the song: its file (relative to `base`, the playlist's folder,
        when that is shorter than the whole path), else its Spotify URI."""
        if self.location is None:
            return SPOTIFY_TRACK + self.track_id
        if base is not None:
            import os

            relative = os.path.relpath(self.location, base)
            if not relative.startswith(".." + os.sep + ".." + os.sep + ".."):  # a path that climbs far is clearer whole
                return relative
        return self.location


def format_of(path: str | Path, given: str | None = None) -> str:
    """The format `given`, or the one `path`'s extension names; a ValueError says which exist."""
    if given is not None:
        if given not in MEDIA_TYPES:
            raise UserError(f"playlist format {given!r}: use one of {', '.join(MEDIA_TYPES)}")
        return given
    found = FORMATS.get(Path(str(path)).suffix.lower())
    if found is None:
        raise UserError(f"{path}: name the playlist .m3u, .m3u8, .jspf, .json or .csv (the extension chooses the format)")
    return found


def write(songs: Sequence[PlaylistSong], kind: str, *, title: str, base: Path | None = None) -> str:
    """`songs` as a playlist of format `kind` (m3u, jspf, csv), audio files named relative to
    `base` (the folder the playlist is written to) in M3U.

    >>> print(write([PlaylistSong("4u7EnebtmKWzUH433cf5Qv", "Queen", "Bohemian Rhapsody")], "m3u", title="mine"), end="")
    #EXTM3U
    #PLAYLIST:mine
    #EXTINF:-1,Queen - Bohemian Rhapsody
    spotify:track:4u7EnebtmKWzUH433cf5Qv
    >>> song = PlaylistSong("audio:1f", "Nina Simone", "Sinnerman", location="/music/Nina Simone/Sinnerman.flac", seconds=622)
    >>> print(write([song], "m3u", title="mine", base=Path("/music/lists")), end="")
    #EXTM3U
    #PLAYLIST:mine
    #EXTINF:622,Nina Simone - Sinnerman
    ../Nina Simone/Sinnerman.flac
    """
    if kind == "m3u":
        lines = ["#EXTM3U", f"#PLAYLIST:{_one_line(title)}"]
        for song in songs:
            seconds = -1 if song.seconds is None else song.seconds
            lines += [f"#EXTINF:{seconds},{_one_line(song.artist_name)} - {_one_line(song.track_name)}", song.uri(base)]
        return "\n".join(lines) + "\n"
    if kind == "jspf":
        tracks = [{"title": s.track_name, "creator": s.artist_name, "identifier": [SPOTIFY_TRACK + s.track_id] if s.location is None else [],
                   **({"location": [Path(s.location).as_uri()]} if s.location else {}),
                   **({"duration": s.seconds * 1000} if s.seconds is not None else {}),
                   **({"annotation": s.note} if s.note else {})} for s in songs]
        playlist = {"title": title, "creator": "songscope", "date": datetime.now(UTC).isoformat(timespec="seconds"), "track": tracks}
        return json.dumps({"playlist": playlist}, ensure_ascii=False, indent=2) + "\n"
    if kind == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n", quoting=csv.QUOTE_ALL)  # a name may hold any character
        writer.writerow(["Track URI", "Track Name", "Artist Name(s)", "Why"])
        for song in songs:
            writer.writerow([song.uri() if song.location is None else Path(song.location).as_uri(), song.track_name, song.artist_name, song.note or ""])
        return out.getvalue()
    raise UserError(f"playlist format {kind!r}: use one of {', '.join(MEDIA_TYPES)}")


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def read(text: str, kind: str, *, source: str = "the playlist") -> list[str]:
    """The songs a playlist names, in order: track ids where it has them (``spotify:track:`` URIs,
    open.spotify.com links, a "Track ID" column), else "artist - title". A ValueError says what
    in `source` could not be read.

    >>> read("#EXTM3U\\n#EXTINF:200,Queen - Bohemian Rhapsody\\nhttps://open.spotify.com/track/4u7EnebtmKWzUH433cf5Qv?si=x\\n", "m3u")
    ['4u7EnebtmKWzUH433cf5Qv']
    """
    if kind == "m3u":
        return _read_m3u(text)
    if kind == "jspf":
        return _read_jspf(text, source)
    if kind == "csv":
        return _read_csv(text, source)
    raise UserError(f"playlist format {kind!r}: use one of {', '.join(MEDIA_TYPES)}")


def _track_id(reference: str) -> str | None:
    """The Spotify track id in a URI or link, or None."""
    reference = reference.strip()
    if reference.startswith(SPOTIFY_TRACK):
        return reference[len(SPOTIFY_TRACK):] or None
    for marker in ("open.spotify.com/track/", "open.spotify.com/intl-"):
        if marker in reference and "/track/" in reference:
            found = reference.split("/track/", 1)[1].split("?", 1)[0].split("/", 1)[0]
            return found or None
    return None


def _read_m3u(text: str) -> list[str]:
    songs, named = [], None
    for line in text.splitlines():
        line = line.strip().lstrip("\ufeff")
        if not line:
            continue
        if line.upper().startswith("#EXTINF:"):
            named = line.split(",", 1)[1].strip() if "," in line else None
            continue
        if line.startswith("#"):
            continue
        found = _track_id(line)
        # A local file path means nothing here: the #EXTINF name stands for the song.
        songs.append(found if found is not None else (named or Path(line).stem))
        named = None
    return songs


def _read_jspf(text: str, source: str) -> list[str]:
    try:
        tracks = json.loads(text)["playlist"]["track"]
    except (ValueError, KeyError, TypeError):
        raise UserError(f"{source}: not a JSPF playlist (JSON with playlist.track, a list of tracks)") from None
    songs = []
    for number, track in enumerate(tracks if isinstance(tracks, list) else [], 1):
        references = [*_as_list(track.get("identifier")), *_as_list(track.get("location"))] if isinstance(track, dict) else []
        found = next((t for t in map(_track_id, references) if t), None)
        if found is None and isinstance(track, dict) and track.get("title"):
            found = f"{track.get('creator', '')} - {track['title']}".strip(" -")
        if found is None:
            raise UserError(f"{source}: track {number} has no spotify:track identifier and no title")
        songs.append(found)
    return songs


def _as_list(value) -> list[str]:
    return [v for v in (value if isinstance(value, list) else [value]) if isinstance(v, str)]


#: Column names (lower case) of a track's id or URI, its title and its artist(s), in the layouts
#: of the common exporters (Exportify: "Track URI", "Track Name", "Artist Name(s)") and our own.
_ID_COLUMNS = ("track uri", "spotify uri", "uri", "track id", "track_id", "id", "spotify id")
_TITLE_COLUMNS = ("track name", "track_name", "title", "name", "song")
_ARTIST_COLUMNS = ("artist name(s)", "artist names", "artist name", "artist_name", "artist", "artists")


def _read_csv(text: str, source: str) -> list[str]:
    try:
        rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"), newline="")))
    except csv.Error as exc:
        raise UserError(f"{source}: not a readable CSV ({exc})") from None
    if not rows:
        return []
    header = [h.strip().lower() for h in rows[0]]

    def column(names: Iterable[str]) -> int | None:
        return next((header.index(n) for n in names if n in header), None)

    ids, titles, artists = column(_ID_COLUMNS), column(_TITLE_COLUMNS), column(_ARTIST_COLUMNS)
    if ids is None and (titles is None or artists is None):
        raise UserError(f"{source}: a playlist CSV needs a track URI or id column ('Track URI', 'track_id') or both "
                         f"'Track Name' and 'Artist Name(s)'; its header is {', '.join(rows[0][:12])}")
    songs = []
    for number, row in enumerate(rows[1:], 2):
        if not any(cell.strip() for cell in row):
            continue
        cell = row[ids].strip() if ids is not None and ids < len(row) else ""
        found = _track_id(cell) or (cell if cell and ":" not in cell and "/" not in cell else None)
        if found is None and titles is not None and artists is not None and max(titles, artists) < len(row):
            # Exportify joins several artists with commas: the first is the song's artist.
            found = f"{row[artists].split(',')[0].strip()} - {row[titles].strip()}"
        if found is None:
            raise UserError(f"{source}: line {number} names no track (no id and no artist and title)")
        songs.append(found)
    return songs
