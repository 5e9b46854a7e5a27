"""The text hashing gives pandas' hash of every text, to the bit (the catalogue stores keys made of it)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from songscope import _text_hash
from songscope._text_hash import pandas_text_hashes
from songscope.identity import near_keys, text_hashes
from songscope.textcolumns import TEXT, utf8_buffers

# Texts of every length around SipHash's 8-byte words, in every script, with the empty text.
texts = st.lists(st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=40), max_size=60)


def pandas_hashes(values: list[str]) -> np.ndarray:
    return pd.util.hash_array(np.asarray(values, dtype=object), categorize=False)


@settings(max_examples=200, deadline=None)
@given(texts, st.sampled_from([1, 3, 8, _text_hash.BLOCK]))
def test_the_kernel_gives_pandas_hash_of_every_text(values, block):
    """In blocks of any size: the blocks' bytes are cut where their texts start."""
    default = _text_hash.BLOCK
    _text_hash.BLOCK = block
    try:
        assert np.array_equal(pandas_text_hashes(*utf8_buffers(pa.array(values, type=pa.string()))), pandas_hashes(values))
    finally:
        _text_hash.BLOCK = default


@settings(max_examples=100, deadline=None)
@given(texts, st.data())
def test_text_hashes_of_arrow_text_equal_those_of_python_strings(values, data):
    """Arrow text (sliced, in chunks, with missing values, repeated or not) hashes as the same
    texts as Python objects do: a missing text to the largest word."""
    missing = data.draw(st.lists(st.booleans(), min_size=len(values), max_size=len(values)))
    with_missing = [None if gone else text for text, gone in zip(values, missing, strict=True)]
    start = data.draw(st.integers(0, len(values)))
    arrow = pa.chunked_array([pa.array(with_missing[:start], type=pa.string()), pa.array(with_missing[start:], type=pa.string())])
    expected = text_hashes(pd.Series(with_missing, dtype=object))
    for repeated in (False, True):  # each where it stands, or each distinct text once
        assert np.array_equal(text_hashes(pd.Series(pd.arrays.ArrowStringArray(arrow.combine_chunks())), repeated=repeated), expected)
        assert np.array_equal(text_hashes(arrow, repeated=repeated), expected)
        cut = data.draw(st.integers(0, len(values)))
        assert np.array_equal(text_hashes(pa.array(with_missing, type=pa.string()).slice(cut), repeated=repeated), expected[cut:])


def test_near_keys_are_those_stored_before_the_kernel():
    """Keys that releases before the kernel (which hashed Python strings) stored in catalogues: the
    same today, from Arrow text and from Python strings."""
    artists = pd.Series(["Queen", "Beyoncé", "", "Sigur Rós"], dtype=TEXT)
    names = pd.Series(["Bohemian Rhapsody", "Halo", "x", "Hoppípolla"], dtype=TEXT)
    durations = pd.Series([354320, 261640, 1, 268000])
    stored = np.array([7367753315262355366, 1867771524706029910, 6995847957861911466, 3997411508473844101], dtype=np.int64)
    assert np.array_equal(near_keys(artists, names, durations), stored)
    assert np.array_equal(near_keys(artists.astype(object), names.astype(object), durations), stored)


def test_texts_equal_up_to_a_nul_hash_apart_from_python_strings_as_from_arrow():
    """pandas finds distinct Python strings as C strings, where "" and "\\x00" are one: each text
    is hashed where it stands, so Python strings key as Arrow text does."""
    values = ["", "\x00", "a", "a\x00b", None]
    from_python = text_hashes(pd.Series(values, dtype=object))
    assert len(set(from_python[:4].tolist())) == 4 and from_python[4] == np.iinfo(np.uint64).max
    assert np.array_equal(from_python, text_hashes(pa.array(values, type=pa.string())))
