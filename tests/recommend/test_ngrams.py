"""`songscope.recommend.ngrams` against scikit-learn's `char_wb` analyzer: the same counts and the
same vocabulary, on real names and on any text hypothesis finds."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.feature_extraction.text import CountVectorizer

from songscope.recommend.ngrams import GramCounter, code_points, count_grams, fit_vocabulary, gram_key, gram_keys, gram_of
from tests.conftest import TIDYTUESDAY

#: Text with what breaks naive splitting: every kind of whitespace, combining marks, wide and
#: astral characters, lone surrogates and NUL.
_TEXT = st.text(st.one_of(st.characters(), st.sampled_from(list(" \t\n\x0b\x0c\x1c\u00a0\u3000\u0301İß\U0001f600\ud800\x00"))), max_size=30)


def _equal(ours, theirs) -> bool:
    ours, theirs = ours.tocsr(), theirs.tocsr()
    ours.sort_indices()
    theirs.sort_indices()
    return ours.shape == theirs.shape and (ours != theirs).nnz == 0


@pytest.fixture(scope="module")
def tidytuesday_names() -> list[str]:
    songs = pd.read_csv(TIDYTUESDAY, usecols=["track_artist", "track_name"], keep_default_na=False)
    return (songs.track_artist.astype(str) + " - " + songs.track_name.astype(str)).tolist()


def test_counts_and_vocabulary_equal_scikit_learns_on_real_names(tidytuesday_names):
    fitted_on = tidytuesday_names[:8000]
    theirs = CountVectorizer(analyzer="char_wb", ngram_range=(1, 3), min_df=2, dtype=np.float32).fit(fitted_on)
    ours = fit_vocabulary(fitted_on, min_df=2)
    assert ours == theirs.vocabulary_ and len(ours) > 1000
    assert _equal(count_grams(tidytuesday_names, ours), theirs.transform(tidytuesday_names))


@settings(max_examples=200, deadline=None)
@given(st.lists(_TEXT, max_size=12), st.sampled_from([(1, 1), (1, 2), (1, 3), (2, 3), (3, 3)]), st.booleans())
def test_counts_equal_scikit_learns_for_any_text(texts, ngram_range, lowercase):
    vocabulary = fit_vocabulary(texts, ngram_range=ngram_range, lowercase=lowercase)
    if not vocabulary:  # scikit-learn refuses an empty vocabulary; ours is empty exactly then
        assert not gram_keys(texts, ngram_range, lowercase)[1].any()
        with pytest.raises(ValueError):
            CountVectorizer(analyzer="char_wb", ngram_range=ngram_range, lowercase=lowercase).fit(texts)
        return
    theirs = CountVectorizer(analyzer="char_wb", ngram_range=ngram_range, lowercase=lowercase, dtype=np.float32).fit(texts)
    assert vocabulary == theirs.vocabulary_
    assert _equal(count_grams(texts, vocabulary, ngram_range, lowercase), theirs.transform(texts))


@settings(max_examples=150, deadline=None)
@given(st.lists(_TEXT, max_size=12), st.integers(1, 4), st.sampled_from([None, 4]), st.integers(1, 2))
def test_texts_counted_a_chunk_at_a_time_count_as_all_at_once(texts, chunk, max_features, min_df):
    from unittest import mock

    from songscope.recommend import ngrams

    whole = fit_vocabulary(texts, min_df=min_df, max_features=max_features)
    at_once = count_grams(texts, whole) if whole else None
    with mock.patch.object(ngrams, "FIT_CHUNK", chunk):  # the n-gram frequencies merged across chunks
        assert fit_vocabulary(texts, min_df=min_df, max_features=max_features) == whole
        chunked = count_grams(texts, whole) if whole else None
    if whole:
        assert chunked.has_canonical_format and chunked.shape == at_once.shape
        for part in ("indptr", "indices", "data"):
            np.testing.assert_array_equal(getattr(chunked, part), getattr(at_once, part))


def test_the_most_frequent_grams_are_kept_and_ties_fall_by_key():
    texts = ["aaa bbb", "aaa c", "aaa"]
    vocabulary = fit_vocabulary(texts, max_features=3)
    totals = CountVectorizer(analyzer="char_wb", ngram_range=(1, 3)).fit(texts)
    counts = np.asarray(totals.transform(texts).sum(axis=0)).ravel()
    by_gram = {gram: counts[column] for gram, column in totals.vocabulary_.items()}
    kept = sorted(by_gram[g] for g in vocabulary)
    dropped = [by_gram[g] for g in by_gram if g not in vocabulary]
    assert len(vocabulary) == 3 and min(kept) >= max(dropped)
    assert fit_vocabulary(texts, max_features=3) == vocabulary  # the same every time
    assert list(vocabulary.values()) == [0, 1, 2] and list(vocabulary) == sorted(vocabulary)


def test_grams_outside_the_vocabulary_are_not_counted_and_keys_round_trip():
    assert count_grams(["xyz", ""], {"a": 0}).toarray().tolist() == [[0.0], [0.0]]
    for gram in [" ", "a", "ab", "\U0010ffff\x00 ", "\ud800"]:
        assert gram_of(gram_key(gram)) == gram
    with pytest.raises(ValueError, match="1 to 3"):
        gram_key("abcd")
    with pytest.raises(ValueError, match="ngram_range"):
        gram_keys(["a"], (0, 4))


def test_a_new_counter_counts_in_several_threads_at_once(tidytuesday_names):
    """The name model counts a catalogue's chunks on every core with one counter. pandas used to
    tell threads that first used a new index together that it had duplicates (pandas#21150): a
    million-song ingest failed placing its names. Four threads start together on new counters."""
    vocabulary = fit_vocabulary(tidytuesday_names[:5000], max_features=20_000)
    expected = count_grams(tidytuesday_names[:50], vocabulary)
    for _ in range(20):
        counter, start = GramCounter(vocabulary), threading.Barrier(4)

        def count(_: int, counter: GramCounter = counter, start: threading.Barrier = start):
            start.wait()
            return counter.counts(tidytuesday_names[:50])

        with ThreadPoolExecutor(4) as pool:
            assert all(_equal(found, expected) for found in pool.map(count, range(4)))


#: What Arrow can hold: any text but lone surrogates (UTF-8 has no encoding for them).
_ARROW_TEXT = st.text(st.one_of(st.characters(blacklist_categories=("Cs",)), st.sampled_from(list(" \t\n\x0b\x1c\u00a0\u3000\u0301İßΣ\U0001f600\x00"))), max_size=30)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(_ARROW_TEXT, st.none()), max_size=12), st.booleans(), st.integers(0, 3))
def test_arrow_strings_give_the_code_points_of_python_strings(texts, lowercase, skip):
    """Arrow strings (decoded from UTF-8 in arrays, a missing one empty, a slice where it starts)
    give the code points and lengths that Python's strings give, lower-cased as `str.lower` does."""
    python = ["" if t is None else t for t in texts][skip:]
    points, lengths = code_points(pa.array(texts, pa.string())[skip:], lowercase)
    expected_points, expected_lengths = code_points(python, lowercase)
    assert points.tolist() == expected_points.tolist() and lengths.tolist() == expected_lengths.tolist()
    vocabulary = fit_vocabulary(python) or {"a": 0}
    assert _equal(GramCounter(vocabulary).counts(pa.array(python)), count_grams(python, vocabulary))


def test_arrow_strings_count_as_python_strings_on_real_names(tidytuesday_names):
    vocabulary = fit_vocabulary(tidytuesday_names[:5000], min_df=2)
    expected = count_grams(tidytuesday_names, vocabulary)
    chunked = pa.chunked_array([pa.array(tidytuesday_names[:3000]), pa.array(tidytuesday_names[3000:])])
    assert _equal(GramCounter(vocabulary).counts(chunked), expected)
    assert _equal(GramCounter(vocabulary).counts(pa.array(tidytuesday_names, pa.large_string())), expected)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(1, 2**62), max_size=200))
def test_distinct_keys_are_numpys_unique(values):
    from songscope.recommend.ngrams import _distinct

    keys = np.array(values + values[::3], dtype=np.int64)
    found, inverse = _distinct(keys)
    expected, expected_inverse = np.unique(keys, return_inverse=True)
    assert found.tolist() == expected.tolist() and inverse.tolist() == expected_inverse.tolist()
