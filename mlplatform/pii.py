"""Personal data: which columns hold it, and a keyed hash to replace it outside the raw layer."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

import pandas as pd

PII_COLUMNS = frozenset({"name", "email", "card_number"})


def pii_columns(columns: Iterable[str]) -> list[str]:
    """The PII columns among `columns` (case-insensitive)."""
    return sorted(c for c in columns if c.lower() in PII_COLUMNS)


def keyed_hash(values: pd.Series, key: bytes) -> pd.Series:
    """HMAC-SHA256 of each value: stable for joins, useless without the key."""
    return values.astype("string").map(
        lambda v: None if v is None or v is pd.NA else hmac.new(key, v.encode(), hashlib.sha256).hexdigest()
    )


def pseudonymise(df: pd.DataFrame, key: bytes, keep_hashed: Iterable[str] = ("card_number",)) -> pd.DataFrame:
    """Drops PII columns, replacing those in `keep_hashed` by `<column>_hash`."""
    out = df.copy()
    for col in pii_columns(df.columns):
        if col in set(keep_hashed):
            out[f"{col}_hash"] = keyed_hash(out[col], key)
        out = out.drop(columns=col)
    return out
