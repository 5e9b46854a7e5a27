from __future__ import annotations

from pathlib import Path

from songscope.audio.tags import from_path


def test_the_path_names_artist_album_number_and_title():
    root = Path("/music")
    found = from_path(root / "Nina Simone" / "Pastel Blues" / "07 - Sinnerman.flac", root)
    assert (found.artists, found.album, found.track_number, found.title) == (("Nina Simone",), "Pastel Blues", 7, "Sinnerman")
    assert from_path(root / "1-03 Title.mp3", root).track_number == 3
    flat = from_path(root / "Massive Attack - Teardrop.mp3", root)
    assert (flat.artists, flat.title) == (("Massive Attack",), "Teardrop")
    assert from_path(Path("/x/untitled.wav"), None).artists == ("Unknown artist",)
    assert from_path(root / "Artist" / "2020.mp3", root).title == "2020"  # a number alone is the title
