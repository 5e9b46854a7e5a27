"""A folder of audio in, a row per song out; every file that cannot be described is a rejected
row with its reason, and none stops the run."""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile

from songscope.audio.analyze import Analysed, Rejected, analyse, analyse_file, find_audio


def _wav_with_latin1_artist(path, y, rate):
    """A WAV whose LIST/INFO artist is Latin-1 bytes, not UTF-8 ("Björk" as b"Bj\\xf6rk")."""
    soundfile.write(path, y, rate, subtype="PCM_16")
    body = b"INFO" + b"IART" + struct.pack("<I", 6) + b"Bj\xf6rk\x00"
    data = path.read_bytes() + b"LIST" + struct.pack("<I", len(body)) + body
    path.write_bytes(data[:4] + struct.pack("<I", len(data) - 8) + data[8:])


@pytest.fixture
def library(tmp_path, rendered_mono, rendered_truth):
    """A library of good, odd and broken files, each named for what it is."""
    from scipy.signal import resample_poly

    y, _ = rendered_mono
    root = tmp_path / "Music"
    album = root / "The Renderers" / "First Light"
    album.mkdir(parents=True)
    shutil.copy(rendered_truth[0]["path"], album / "01 Opening.opus")
    soundfile.write(album / "02 Low Rate.wav", resample_poly(y, 8_000, 22_050).astype(np.float32), 8_000)
    soundfile.write(album / "03 High Rate.wav", np.stack([resample_poly(y, 192_000, 22_050)] * 2, axis=1), 192_000, subtype="PCM_24")
    soundfile.write(album / "04 Six Channels.flac", np.stack([y] * 6, axis=1) * 0.5, 22_050)
    _wav_with_latin1_artist(album / "05 Latin.wav", y, 22_050)
    broken = root / "broken"
    broken.mkdir()
    (broken / "text.mp3").write_text("this is not audio\n")
    (broken / "empty.wav").write_bytes(b"")
    (broken / "truncated.opus").write_bytes(rendered_truth[1]["path"].read_bytes()[:3_000])
    soundfile.write(broken / "silence.wav", np.zeros(22_050 * 5, np.float32), 22_050)
    soundfile.write(broken / "ten_ms.wav", y[:220], 22_050)
    os.symlink(broken / "loop_b.mp3", broken / "loop_a.mp3")
    os.symlink(broken / "loop_a.mp3", broken / "loop_b.mp3")
    (root / "cover.jpg").write_bytes(b"\xff\xd8\xff")  # not audio by its name: not even looked at
    return root


def test_a_library_becomes_rows_and_reasons(library, rendered_mono):
    _, truth = rendered_mono
    files, rejected = find_audio([library])
    results = list(analyse(files, workers=2)) + rejected
    rows = {r.file.path.name: r.row for r in results if isinstance(r, Analysed)}
    reasons = {r.file.path.name: r.reason for r in results if isinstance(r, Rejected)}
    assert set(rows) == {"01 Opening.opus", "02 Low Rate.wav", "03 High Rate.wav", "04 Six Channels.flac", "05 Latin.wav"}
    assert "cover.jpg" not in rows | reasons
    assert "not an audio file" in reasons["text.mp3"] and "empty (0 bytes)" in reasons["empty.wav"]
    assert "too short" in reasons["truncated.opus"] or "corrupt or truncated" in reasons["truncated.opus"]
    assert "silent" in reasons["silence.wav"] and "only 10 ms of audio" in reasons["ten_ms.wav"]
    assert "symbolic links" in reasons["loop_a.mp3"] and "symbolic links" in reasons["loop_b.mp3"]
    for name, reason in reasons.items():
        assert reason.startswith(str(library)) and name in reason and "Traceback" not in reason

    tempo = float(truth["tempo"])
    for name, row in rows.items():  # the same music at any rate, depth or channel count
        assert row["tempo"] == pytest.approx(tempo, rel=0.04), name
        assert (row["key"], row["mode"]) == (rows["01 Opening.opus"]["key"], rows["01 Opening.opus"]["mode"]), name
    opening = rows["01 Opening.opus"]
    assert opening["loudness"] == pytest.approx(float(truth["ffmpeg_lufs"]), abs=0.1)
    assert opening["duration_ms"] == pytest.approx(15_000, abs=30)
    # No tags: the artist, album, number and title come from the path.
    assert (opening["artist_name"], opening["album"], opening["track_number"], opening["track_name"]) == ("The Renderers", "First Light", 1, "Opening")
    assert "artist from the file's folder" in opening["notes"]
    assert rows["03 High Rate.wav"]["sample_rate"] == 192_000 and rows["04 Six Channels.flac"]["channels"] == 6
    # The song's id is its content's: a copy elsewhere is the same song.
    assert opening["track_id"] == "audio:" + opening["content_sha256"][:24]


def test_a_latin1_tag_is_read_not_fatal(library):
    result = analyse_file(find_audio([library / "The Renderers" / "First Light" / "05 Latin.wav"])[0][0])
    assert isinstance(result, Analysed)
    assert result.row["artist_name"] in ("Björk", "Bj\ufffdrk", "The Renderers")


@pytest.mark.skipif(shutil.which("setpriv") is None, reason="setpriv (util-linux) runs the check as another user")
def test_an_unreadable_file_is_a_rejected_row(rendered_truth):
    """Permissions hold for every user but root, so the file is analysed as nobody (in a folder
    of its own that anyone may enter: pytest's are the owner's alone)."""
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="songscope-locked-"))
    folder.chmod(0o755)
    tmp_path = folder
    locked = folder / "locked.opus"
    shutil.copy(rendered_truth[0]["path"], locked)
    locked.chmod(0o000)
    code = ("from songscope.audio.analyze import analyse_file, find_audio; import sys; "
            "print(analyse_file(find_audio([sys.argv[1]])[0][0]).reason)")
    if os.geteuid() == 0:
        command = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-c", code, str(locked)]
    else:
        command = [sys.executable, "-c", code, str(locked)]
    try:
        found = subprocess.run(command, capture_output=True, text=True, env=os.environ | {"HOME": str(tmp_path)})
    finally:
        shutil.rmtree(folder)
    assert found.returncode == 0, found.stderr[-2000:]
    assert "permission denied" in found.stdout.lower(), found.stdout


def test_paths_that_do_not_exist_or_match_nothing_are_clear_errors(tmp_path):
    from songscope.errors import UserError

    with pytest.raises(UserError, match="no such file or folder"):
        find_audio([tmp_path / "nowhere"])
    with pytest.raises(UserError, match="no file matches"):
        find_audio([str(tmp_path / "*.flac")])


def test_a_folder_this_user_may_not_enter_is_a_rejected_row_not_a_traceback(monkeypatch, tmp_path):
    def refuse(self):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "is_dir", refuse)
    files, rejected = find_audio([tmp_path / "private"])
    assert files == [] and "permission denied" in rejected[0].reason.lower()


def _mp3(path, y, rate):
    """`y` as an mp3 (PyAV's LAME, which writes the whole length in a Xing header)."""
    import av

    with av.open(str(path), "w") as out:
        stream = out.add_stream("libmp3lame", rate=rate, layout="mono")
        for start in range(0, len(y), 1152):
            frame = av.AudioFrame.from_ndarray(y[None, start:start + 1152], format="fltp", layout="mono")
            frame.sample_rate, frame.pts = rate, start
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)


def test_a_cut_file_is_described_with_a_note_or_rejected_as_its_format_allows(tmp_path, rendered_mono):
    """An mp3 cut short decodes cleanly, but its header still declares the whole length: what
    decodes is described, and the row says so. A FLAC cut short fails in its last frame: rejected."""
    y, _ = rendered_mono
    whole_mp3, whole_flac = tmp_path / "whole.mp3", tmp_path / "whole.flac"
    _mp3(whole_mp3, y, 22_050)
    soundfile.write(whole_flac, y, 22_050)
    found = {}
    for whole in (whole_mp3, whole_flac):
        cut = tmp_path / f"cut{whole.suffix}"
        cut.write_bytes(whole.read_bytes()[: int(whole.stat().st_size * 0.6)])
        found[whole.suffix] = analyse_file(find_audio([cut])[0][0])
    mp3 = found[".mp3"]
    assert isinstance(mp3, Analysed), mp3
    assert 8_000 < mp3.row["duration_ms"] < 10_000
    assert "truncated: 9.0 s of the 15.0 s its header declares" in mp3.row["notes"]
    assert isinstance(found[".flac"], Rejected) and "corrupt or truncated" in found[".flac"].reason
