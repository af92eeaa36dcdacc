"""Personal data: which columns hold it. PII stays in the raw layer; dbt staging drops it or keeps
only a keyed hash (dbt/models/staging/stg_source_db__customers.sql), and checks prove it is gone."""

from __future__ import annotations

from collections.abc import Iterable

PII_COLUMNS = frozenset({"name", "email", "card_number"})


def pii_columns(columns: Iterable[str]) -> list[str]:
    """The PII columns among `columns` (case-insensitive)."""
    return sorted(c for c in columns if c.lower() in PII_COLUMNS)
