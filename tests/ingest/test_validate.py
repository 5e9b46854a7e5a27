"""The validator's reading of spelled-out values (`ingest.validate._read_spelled`), in Arrow's
kernels, against a plain Python reading of each value by the documented rules."""

from __future__ import annotations

import re

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from songscope import schema
from songscope.ingest.validate import _read_spelled

_BEATS = re.compile(r"^([0-9]{1,2})\s*(?:/\s*4|-apr)$")


def reference(name: str, value: str | None) -> str | None:
    """The code a spelled value stands for, as text; None where it spells nothing."""
    if value is None:
        return None
    spelled = value.strip().lower().replace("\u266f", "#").replace("\u266d", "b")
    if name == "time_signature":
        match = _BEATS.match(spelled)
        return str(int(match.group(1))) if match else None
    code = (schema.NOTE_NAMES if name == "key" else schema.MODE_NAMES).get(spelled)
    return None if code is None else str(code)


SPELLINGS = {
    "key": ["C", "c#", "Db", "B\u266d", "F\u266f", " e ", "H", "Cb", "E#", "11", "3", "", "do"],
    "mode": ["Major", "minor", " MAJOR", "Minor ", "1", "0", "maj", ""],
    "time_signature": ["4/4", "3 / 4", "4-Apr", "04-Apr", "12/4", "123/4", "4/8", "5", "4-May", " 7/4 ", ""],
}


@settings(max_examples=60, deadline=None)
@given(data=st.data(), name=st.sampled_from(sorted(SPELLINGS)))
def test_spelled_values_read_as_their_codes_and_the_rest_as_written(data, name):
    cells = data.draw(st.lists(st.one_of(st.none(), st.sampled_from(SPELLINGS[name]), st.text(max_size=6)), max_size=40))
    chunks = data.draw(st.integers(1, 3))
    cut = [cells[i * len(cells) // chunks:(i + 1) * len(cells) // chunks] for i in range(chunks)]
    column = pa.chunked_array([pa.array(part, pa.string()) for part in cut], type=pa.string())
    read, spelled = _read_spelled(name, column)
    expected = [reference(name, cell) for cell in cells]
    assert spelled.tolist() == [code is not None for code in expected]
    assert read.to_pylist() == [cell if code is None else code for cell, code in zip(cells, expected)]


def test_a_numeric_column_or_one_without_spellings_is_left_as_it_is():
    numbers = pa.chunked_array([pa.array([4, 3, None])])
    read, spelled = _read_spelled("time_signature", numbers)
    assert read is numbers and not spelled.any()
    text = pa.chunked_array([pa.array(["120.5", "x"])])
    read, spelled = _read_spelled("tempo", text)
    assert read is text and not spelled.any()


_NUMBER_CELLS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-10**20, 10**20).map(str),
    st.sampled_from(["nan", "-inf", "1e5", ".5", "5.", "+3", "0x10", "1,5", " 1", "2 ", "", "C#", "Major", "4/4"]),
)


@settings(max_examples=150, deadline=None)
@given(cells=st.lists(st.one_of(st.none(), _NUMBER_CELLS), max_size=30), chunks=st.integers(1, 3))
def test_a_column_read_in_one_cast_reads_as_the_trimmed_path_does(cells, chunks):
    """`_plain_numbers` takes a column only where every value is a number as written, and then
    gives what spelled values, trimming and `_as_float` give."""
    from songscope.ingest.validate import _as_float, _plain_numbers

    cut = [cells[i * len(cells) // chunks:(i + 1) * len(cells) // chunks] for i in range(chunks)]
    column = pa.chunked_array([pa.array(part, pa.string()) for part in cut], type=pa.string())
    plain = _plain_numbers(column)
    if plain is None:
        return
    assert all(cell is None or (cell.strip() == cell and cell and reference("key", cell) is None) for cell in cells)
    for name in SPELLINGS:
        assert not _read_spelled(name, column)[1].any()
    numbers, unparsable, empty = plain
    expected_numbers, expected_unparsable, expected_empty = _as_float(column)
    assert numbers.tobytes() == expected_numbers.tobytes()  # NaN and -0.0 alike
    assert unparsable.tolist() == expected_unparsable.tolist() and empty.tolist() == expected_empty.tolist()


def test_a_column_with_a_space_an_empty_cell_or_a_spelled_value_takes_the_trimmed_path():
    from songscope.ingest.validate import _plain_numbers

    for odd in (" 1", "", "C#", "4/4", "x"):
        assert _plain_numbers(pa.chunked_array([pa.array(["0.5", odd])])) is None
    numbers, unparsable, empty = _plain_numbers(pa.chunked_array([pa.array(["0.5", None, "nan"])]))
    assert numbers[0] == 0.5 and empty.tolist() == [False, True, False] and not unparsable.any()


@settings(max_examples=100, deadline=None)
@given(ids=st.lists(st.one_of(st.none(), st.text(max_size=8), st.sampled_from([
    "spotify:track:4u7EnebtmKWzUH433cf5Qv", "https://open.spotify.com/track/2Foc5Q5nqNiosCNqttzHof?si=x",
    "http://open.spotify.com/track/abc", "spotify:album:x", "httpx", "https://example.com/track/1"])), max_size=20))
def test_track_uris_read_as_their_ids_as_the_pattern_reads_them(ids):
    import pyarrow.compute as pc

    from songscope.ingest.validate import _without_uri

    column = pa.chunked_array([pa.array(ids, pa.string())], type=pa.string())
    expected = pc.replace_substring_regex(column, r"^(?:spotify:track:|https?://open\.spotify\.com/track/)([^?]*).*$", r"\1")
    assert _without_uri(column).to_pylist() == expected.to_pylist()


@settings(max_examples=100, deadline=None)
@given(cells=st.lists(st.one_of(st.none(), st.text(max_size=5)), max_size=20), chunks=st.integers(1, 3))
def test_a_nul_is_found_in_any_chunk(cells, chunks):
    from songscope.ingest.validate import _holds_nul

    cut = [cells[i * len(cells) // chunks:(i + 1) * len(cells) // chunks] for i in range(chunks)]
    column = pa.chunked_array([pa.array(part, pa.string()) for part in cut], type=pa.string())
    assert _holds_nul(column) == any(cell is not None and "\x00" in cell for cell in cells)
    assert _holds_nul(column.slice(1)) == any(cell is not None and "\x00" in cell for cell in cells[1:])
