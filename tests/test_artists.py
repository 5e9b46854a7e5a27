"""A song's artists read from the ways public dumps write them (`songscope.artists`)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from songscope import artists

_NAME = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=20).map(str.strip).filter(bool)


@given(st.lists(_NAME, min_size=1, max_size=6))
def test_a_python_list_literal_reads_back_as_its_names(names):
    """Any list pandas wrote with repr (quotes, brackets and commas inside names included)."""
    parsed = artists.parse(repr(names))
    assert parsed.names == tuple(dict.fromkeys(names)) and not parsed.malformed


@given(st.lists(_NAME.filter(lambda n: ";" not in n), min_size=1, max_size=6))
def test_a_semicolon_joined_cell_reads_back_as_its_names(names):
    assert artists.parse(";".join(names), joined_by=";").names == tuple(dict.fromkeys(names))


def test_a_list_literal_is_never_run():
    for text in ("['a' + 'b']", "['x', __import__('os').system('false')]", "['a', ['b']]", "['a', 1]", "['a'"):
        assert artists.parse(text).malformed and artists.parse(text).names == (text,), text
    # Code that does not even look like a list is a name, kept whole.
    assert artists.parse("[__import__('os').system('false')]").names == ("[__import__('os').system('false')]",)
    assert artists.parse("[spunge]").names == ("[spunge]",)  # a band's bracketed name is no list
    assert artists.parse("[]").names == ()


def test_ids_joined_as_artists_and_set_keys():
    assert artists.split("A\x1fB") == ["A", "B"] and artists.split(float("nan")) == []
    assert artists.set_keys(["B\x1fA\x1fB", None, "C"]).tolist() == ["A\x1fB", None, "C"]
    assert artists.featured("Shallow (with Bradley Cooper)") == ("Bradley Cooper",)


_NAMES = st.sampled_from(["Nina Simone", "Bing Crosby", "Dick Haymes", "ZAYN", "Ólafur Arnalds", "", "Tyler, The Creator"])


@given(st.lists(st.tuples(st.lists(_NAMES, min_size=1, max_size=3), st.booleans()), max_size=30),
       st.sampled_from([object, "string[pyarrow]"]))
def test_credit_counts_count_every_credit_as_credits_does_most_first_ties_by_name(songs, text_type):
    import pandas as pd

    frame = pd.DataFrame({
        "artist_name": pd.Series([names[0] for names, _ in songs], dtype=text_type),
        # a song without its artists list (an older file) is credited to its artist name
        "artists": pd.Series([artists.SEPARATOR.join(names) if listed else None for names, listed in songs], dtype=text_type),
    })
    expected = artists.credits(frame).value_counts().sort_index().sort_values(ascending=False, kind="stable")
    counted = artists.credit_counts(frame)
    assert counted.index.tolist() == expected.index.tolist()
    assert counted.tolist() == expected.tolist()
    assert counted.sum() == sum(len(names) if listed else 1 for names, listed in songs)


@given(st.lists(st.one_of(st.none(), st.lists(_NAMES, min_size=1, max_size=3).map(artists.SEPARATOR.join)), max_size=20))
def test_set_keys_of_arrow_text_are_those_of_python_text(joined):
    import pandas as pd

    python = artists.set_keys(pd.Series(joined, dtype=object))
    arrow = artists.set_keys(pd.Series(joined, dtype="string[pyarrow]"))
    assert [None if v is pd.NA else v for v in arrow] == python.tolist()
