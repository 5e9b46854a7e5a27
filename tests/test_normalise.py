"""Names reduced for the loose rule: what is folded, what is kept, and the same on every core."""

from __future__ import annotations

from unittest.mock import patch

from hypothesis import given, settings
from hypothesis import strategies as st

from songscope.normalise import normalise_name


def test_normalise_name():
    assert normalise_name("Here Comes The Sun - Remastered 2009") == normalise_name("here comes the sun")
    assert normalise_name("Talk (feat. Disclosure)") == "talk"
    assert normalise_name("  Señorita ") == "senorita"
    assert normalise_name("방탄소년단 (feat. Halsey)") == "방탄소년단"  # other scripts are kept
    # Remixes and live takes are different recordings: never merged by the loose rule.
    assert normalise_name("7 rings - Remix") != normalise_name("7 rings")
    assert normalise_name("Song (Live at Wembley)") != normalise_name("Song")


@settings(max_examples=30, deadline=None)
@given(st.lists(st.one_of(st.none(), st.text(max_size=30), st.sampled_from(["Señorita (feat. X)", "Song - Remastered 2009", "방탄소년단"])),
                min_size=1, max_size=60), st.integers(1, 7))
def test_names_normalised_in_slices_on_every_core_are_the_names_normalised_in_one_pass(names, slice_size):
    """Splitting a long list of names across threads is only a split: each name comes back as one pass makes it."""
    import pyarrow as pa

    from songscope import normalise as cleaning

    one_pass = cleaning._normalise_slice(pa.array(names, type=pa.string()))
    original = cleaning.PARALLEL_NAMES
    cleaning.PARALLEL_NAMES = slice_size  # a few names are "many" here
    try:
        with patch.object(cleaning.os, "cpu_count", return_value=3):
            sliced = cleaning.normalise_names(pa.chunked_array([pa.array(names, type=pa.string())]))
    finally:
        cleaning.PARALLEL_NAMES = original
    assert sliced.to_pylist() == one_pass.to_pylist()


def _rules_in_turn(names):
    """The normalisation as specified: every tag rule on every name, in order, then punctuation
    runs to a space, white space squeezed to one, trimmed."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from songscope import normalise as cleaning

    text = pc.utf8_lower(cleaning._fold_accents(pa.array(names, type=pa.string())))
    for pattern, replacement in (*cleaning._TAG_RULES, (r"[^\p{L}\p{N}_]+", " "), (r"\s+", " ")):
        text = pc.replace_substring_regex(text, pattern, replacement)
    return pc.utf8_trim_whitespace(text).to_pylist()


_PIECES = st.sampled_from(["(", ")", "[", "]", " - ", "-", " feat. ", "feat", " ft ", "ft.", " featuring ", "with ", "Remastered", "remaster",
                           "mono", "Radio Edit", "2011", "_", "  ", "\t", "\u00a0", "\u3000", "é", "방탄", ",", "!", "'", "x", "Song"])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.none(), st.text(max_size=20), st.lists(_PIECES, max_size=12).map("".join)), min_size=1, max_size=40))
def test_names_are_normalised_as_the_rules_in_turn_normalise_them(names):
    """Skipping the tag rules where a name cannot match them, and leaving lone spaces alone, is
    only a shortcut: every name comes out as the rules applied in turn make it."""
    import pyarrow as pa

    from songscope import normalise as cleaning

    assert cleaning._normalise_slice(pa.array(names, type=pa.string())).to_pylist() == _rules_in_turn(names)


def test_real_names_are_normalised_as_the_rules_in_turn_normalise_them():
    import pandas as pd
    import pyarrow as pa

    from songscope import normalise as cleaning
    from tests.conftest import TIDYTUESDAY

    songs = pd.read_csv(TIDYTUESDAY, usecols=["track_artist", "track_name", "track_album_name"], keep_default_na=False)
    names = pd.concat([songs.track_name, songs.track_artist, songs.track_album_name]).astype(str).unique().tolist()
    found = cleaning._normalise_slice(pa.array(names, type=pa.string())).to_pylist()
    assert found == _rules_in_turn(names)
    assert sum(a != b for a, b in zip(found, [n.lower() for n in names])) > 1000  # the rules had work to do
