"""The name model's fit without scikit-learn (`recommend._name_fit`) equals scikit-learn's: the
TF-IDF of `TfidfTransformer(sublinear_tf=True)` to the last bit, and the components of
`TruncatedSVD(algorithm="arpack")` from the same seed."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import sparse
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import TfidfTransformer

from songscope.recommend._name_fit import leading_components, sublinear_tfidf


@st.composite
def count_matrices(draw):
    texts, grams = draw(st.integers(1, 30)), draw(st.integers(1, 25))
    cells = draw(st.lists(st.tuples(st.integers(0, texts - 1), st.integers(0, grams - 1), st.integers(1, 9)), max_size=120))
    dtype = draw(st.sampled_from([np.float32, np.float64, np.int64]))
    rows, columns, counts = (np.array(values, dtype=np.int64) for values in zip(*cells)) if cells else (np.zeros(0, np.int64),) * 3
    # Repeated cells add up, as a text's repeated n-grams do; rows and n-grams without any stay empty.
    return sparse.csr_matrix((counts.astype(dtype), (rows, columns)), shape=(texts, grams))


@settings(max_examples=150, deadline=None)
@given(count_matrices())
def test_the_weighting_is_scikit_learns_to_the_last_bit(counts):
    before = counts.copy()
    weighted, idf = sublinear_tfidf(counts)
    weighting = TfidfTransformer(sublinear_tf=True).fit(counts)
    expected = weighting.transform(counts)
    assert idf.dtype == weighting.idf_.dtype and np.array_equal(idf, weighting.idf_)
    assert weighted.dtype == expected.dtype and np.array_equal(weighted.toarray(), expected.toarray())
    assert (counts != before).nnz == 0  # the counts are left as they were


def _names_counts(catalogue, rows: int):
    from songscope.recommend.ngrams import GramCounter, fit_vocabulary

    names = (catalogue["artist_name"] + " - " + catalogue["track_name"]).str.lower().tolist()[:rows]
    return GramCounter(fit_vocabulary(names, min_df=2)).counts(names)


@pytest.mark.parametrize("rank, seed", [(6, 0), (8, 3)])
def test_the_components_are_scikit_learns_arpack_ones(catalogue, rank, seed):
    counts = _names_counts(catalogue, 3_000)
    weighted, _ = sublinear_tfidf(counts)
    found = leading_components(weighted, rank, seed)
    expected = TruncatedSVD(rank, algorithm="arpack", random_state=seed).fit(weighted).components_
    assert found.shape == (rank, counts.shape[1]) and np.array_equal(found, expected)
    # Largest singular value first, each signed by its largest entry.
    values = np.linalg.norm(weighted @ found.T, axis=0)
    assert np.all(np.diff(values) <= 1e-6)
    assert np.all(found[np.arange(rank), np.argmax(np.abs(found), axis=1)] > 0)
    assert np.array_equal(leading_components(weighted, rank, seed), found)  # the seed fixes them


def test_a_tiny_matrix_has_components_below_its_size():
    counts = sparse.csr_matrix(np.array([[1, 0, 2], [0, 3, 0], [1, 1, 0]], dtype=np.float32))
    weighted, _ = sublinear_tfidf(counts)
    found = leading_components(weighted, 2)
    assert found.shape == (2, 3) and np.allclose(np.linalg.norm(found, axis=1), 1.0, atol=1e-5)
