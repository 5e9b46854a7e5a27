"""Names reduced for the loose duplicate rule and the recommender's "same artist": no accents,
case, featuring credits or version tags (`normalise_names`), vectorised in Arrow."""

from __future__ import annotations

import os
import unicodedata
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from songscope.textcolumns import arrow_strings, held_by_arrow, utf8_buffers

# Tags that name the same recording (a remaster, a mono mix, a radio edit), not a new one: remixes,
# live takes and covers sound different, so they never match. RE2 syntax (Arrow's regex engine).
_SAME_RECORDING = r"(?:remaster(?:ed)?|mono|stereo|radio edit|single version|album version|explicit|clean)"
#: What is cut from a name, in this order: credits and version tags, each replaced by a space.
_TAG_RULES = (
    (r"[\(\[]\s*(?:feat\.?|ft\.?|featuring|with)\s[^\)\]]*[\)\]]", " "),  # (feat. X), [with Y]
    (r"\s(?:feat\.?|ft\.?|featuring)\s.*$", " "),  # trailing "feat. X"
    (r"[\(\[][^\)\]]*\b" + _SAME_RECORDING + r"\b[^\)\]]*[\)\]]", " "),  # (2011 Remaster)
    (r"\s-\s[^-]*\b" + _SAME_RECORDING + r"\b[^-]*$", " "),  # - Remastered 2011
)
#: What every tag rule needs in a name to match: the names without it (most) skip the four passes.
_MAY_BE_TAGGED = r"[\(\[]|\s-\s|\s(?:feat|ft)"
#: Punctuation and white space, a run at a time, become one space: every run of two or more,
#: and any one character but a space (a lone space, between most words, is already what it would
#: become, and RE2 then has nothing to replace). With it, no run of white space is left to squeeze.
_PUNCTUATION = r"[^\p{L}\p{N}_]{2,}|[^\p{L}\p{N}_ ]"


#: Names from which `normalise_names` works on slices in threads, one per core (Arrow's string
#: kernels free the interpreter, but each call runs on one core).
PARALLEL_NAMES = 100_000


def normalise_names(names: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """Names reduced for the loose rule: no accents, case, featuring credits or version tags.

    Vectorised in Arrow (a million titles in about a second), on every core for many names.
    Accents are folded (combining marks removed after decomposition); every script is kept.
    """
    workers = min(os.cpu_count() or 1, len(names) // PARALLEL_NAMES)
    if workers < 2:
        return _normalise_slice(names)
    names = arrow_strings(names)
    size = -(-len(names) // workers)
    with ThreadPoolExecutor(workers, thread_name_prefix="normalise-names") as pool:
        parts = list(pool.map(_normalise_slice, [names.slice(start, size) for start in range(0, len(names), size)]))
    return pa.concat_arrays(parts)


def _normalise_slice(names: pa.Array | pa.ChunkedArray) -> pa.Array:
    """The names lower-cased and folded, their tags cut (`_TAG_RULES`, only where one may be:
    `_MAY_BE_TAGGED`), their punctuation and white space made single spaces, trimmed. What the
    rules applied in turn to every name, then ``\\s+`` squeezed to one space, give
    (tests/test_normalise.py), in a third to a fifth of the time."""
    text = pc.utf8_lower(_fold_accents(names))
    tagged = np.flatnonzero(pc.fill_null(pc.match_substring_regex(text, _MAY_BE_TAGGED), False).to_numpy(zero_copy_only=False))
    if len(tagged):
        cut = text.take(pa.array(tagged))
        for pattern, replacement in _TAG_RULES:
            cut = pc.replace_substring_regex(cut, pattern, replacement)
        mask = np.zeros(len(text), dtype=bool)
        mask[tagged] = True
        text = pc.replace_with_mask(text, pa.array(mask), cut)
    return pc.utf8_trim_whitespace(pc.replace_substring_regex(text, _PUNCTUATION, " "))


def _fold_accents(names: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Remove accents from the non-ASCII names only (few in any catalogue), with Python's
    unicodedata: Arrow's NFC does not recompose Hangul, so it would garble Korean."""
    names = pa.array(names.to_pylist() if isinstance(names, pa.ChunkedArray) else names, type=pa.string())
    non_ascii = np.flatnonzero(~np.asarray(pc.fill_null(pc.string_is_ascii(names), True).to_numpy(zero_copy_only=False)))
    if not len(non_ascii):
        return names
    values = names.to_numpy(zero_copy_only=False).copy()
    for i in non_ascii:
        decomposed = unicodedata.normalize("NFKD", values[i])
        values[i] = unicodedata.normalize("NFC", "".join(ch for ch in decomposed if not unicodedata.combining(ch)))
    return pa.array(values, type=pa.string())


def normalise_name(name: str) -> str:
    """One name reduced for the loose rule (see `normalise_names`).

    >>> normalise_name("Here Comes The Sun - Remastered 2009")
    'here comes the sun'
    >>> normalise_name("Señorita (feat. Camila Cabello)")
    'senorita'
    """
    return normalise_names(pa.array([str(name)]))[0].as_py()


def name_keys(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """The loose rule's key of each name (`normalise_names`), as a 64-bit hash, and whether it has
    one: a missing name, or one that normalises to nothing, matches nothing. Each distinct name is
    normalised once (an artist is on many rows), found in Arrow: no Python string per row."""
    from songscope._text_hash import pandas_text_hashes

    text = pc.cast(arrow_strings(values) if held_by_arrow(values) else pa.array(values.astype(str).where(values.notna()), from_pandas=True),
                   pa.string())
    distinct = pc.dictionary_encode(text)
    normalised = normalise_names(distinct.dictionary)
    hashed = pandas_text_hashes(*utf8_buffers(normalised))  # pandas' hash of each, from Arrow's bytes
    usable = np.asarray(pc.not_equal(normalised, "").to_numpy(zero_copy_only=False), dtype=bool)
    codes = pc.fill_null(distinct.indices, -1).to_numpy(zero_copy_only=False).astype(np.int64)
    named = codes >= 0
    named[named] = usable[codes[named]]
    return np.where(named, hashed[np.maximum(codes, 0)] if len(hashed) else 0, 0).astype(np.uint64), named
