"""JSON encoding shared by the stores: numpy/pandas scalars and dates become plain JSON values."""

from __future__ import annotations

import datetime as _dt
import json
from typing import Any

import numpy as np
import pandas as pd


def _default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (_dt.datetime, _dt.date, pd.Timestamp)):
        return value.isoformat()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    if value is pd.NA or value is pd.NaT:
        return None
    msg = f"cannot store a {type(value).__name__} as JSON ({value!r}); give strings, numbers, lists or dicts"
    raise TypeError(msg)


def dumps(value: Any) -> str:
    """Serialise ``value`` to JSON text, keeping Japanese text readable (no ``\\u`` escapes)."""
    return json.dumps(value, ensure_ascii=False, default=_default)


def loads(text: str | bytes | None) -> Any:
    """Parse JSON text (None stays None)."""
    if text is None:
        return None
    return json.loads(text)


def normalise(value: Any) -> Any:
    """Return ``value`` as it will read back from a store (tuples become lists, dates strings)."""
    return loads(dumps(value))
