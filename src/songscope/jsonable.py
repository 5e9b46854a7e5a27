"""One JSON encoding for every shell: the CLI's ``--json`` and the web API's answers.

`jsonable` turns what result objects hold (numpy scalars and arrays, NaN, timestamps, data frames,
paths, dataclasses with ``to_dict``) into plain JSON values; `dumps` writes them.
"""

from __future__ import annotations

import json
import math
from datetime import date, datetime
from pathlib import PurePath
from typing import Any

import numpy as np
import pandas as pd


def jsonable(value: Any) -> Any:
    """`value` as plain JSON data: NaN and infinities become None, numpy scalars Python numbers.

    >>> jsonable({"a": np.float64("nan"), "b": np.arange(2), "c": (np.int64(3),)})
    {'a': None, 'b': [0, 1], 'c': [3]}
    """
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.ndarray):
        return [jsonable(v) for v in value.tolist()]
    if isinstance(value, pd.DataFrame):
        return [jsonable(row) for row in value.to_dict("records")]
    if isinstance(value, pd.Series):
        return jsonable(value.to_dict())
    if isinstance(value, (pd.Timestamp, datetime, date)):
        return value.isoformat()
    if isinstance(value, PurePath):
        return str(value)
    if hasattr(value, "to_dict"):
        return jsonable(value.to_dict())
    if value is pd.NA or value is pd.NaT:
        return None
    return str(value)


def encode(value: Any) -> bytes:
    """`value` as compact UTF-8 JSON, by `jsonable`'s rules, in C (orjson): what the web app
    answers and the database stores, where `jsonable`'s walk in Python cost more than the rest
    of a small answer. orjson writes plain values, numpy scalars and arrays itself (NaN as
    null, as `jsonable` does); everything else goes through `jsonable`.

    >>> encode({"a": np.float64("nan"), "b": np.arange(2), 3: (pd.Timestamp("2026-01-02"),), "d": {1, 2}})
    b'{"a":null,"b":[0,1],"3":["2026-01-02T00:00:00"],"d":[1,2]}'
    >>> encode({np.int64(1): 2**70})
    b'{"1":1180591620717411303424}'
    """
    import orjson

    options = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_DATETIME
    try:
        return orjson.dumps(value, default=jsonable, option=options)
    except orjson.JSONEncodeError:  # what orjson refuses outright (an integer past 64 bits, a numpy key)
        return json.dumps(jsonable(value), allow_nan=False, separators=(",", ":"), ensure_ascii=False).encode()


def embedded(text: str) -> Any:
    """JSON text already written (a stored reason, say), to be embedded as it is by `encode` rather
    than parsed and written again.

    >>> encode([1, embedded('{"a":[2]}')])
    b'[1,{"a":[2]}]'
    """
    import orjson

    return orjson.Fragment(text)


def dumps(value: Any, *, indent: int | None = None, compact: bool = False, ascii_only: bool = True) -> str:
    """`value` as JSON text (by `jsonable`'s rules; never NaN, which JSON does not have);
    `compact`: no spaces and UTF-8 as it is, for what is stored many times over; `ascii_only`
    False keeps other characters as they are (a cell's text, shown to people)."""
    if compact:
        return encode(value).decode()
    return json.dumps(jsonable(value), indent=indent, allow_nan=False, ensure_ascii=ascii_only)
