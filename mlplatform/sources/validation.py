"""Validation at ingestion: every record is either accepted (typed) or quarantined with a reason.

Rules run in order and a record gets the reason of the first rule it breaks, so the counts of
accepted and quarantined records always add up to the records read.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

Kind = Literal["int", "float", "str", "datetime", "json"]  # json: a JSON object, kept as its (sorted) text

QUARANTINE_COLUMNS = ["reason", "record", "origin"]


@dataclass(frozen=True)
class Field:
    name: str
    kind: Kind
    non_negative: bool = False


@dataclass(frozen=True)
class Validated:
    accepted: pd.DataFrame
    quarantined: pd.DataFrame  # QUARANTINE_COLUMNS: reason, the raw record as JSON, where it came from

    @property
    def rows_in(self) -> int:
        return len(self.accepted) + len(self.quarantined)

    def counts(self) -> dict[str, int]:
        return {"rows_in": self.rows_in, "accepted": len(self.accepted), "quarantined": len(self.quarantined)}


class RecordChecker:
    """Types records against a schema, then applies further row rules, collecting reasons."""

    def __init__(self, records: list[Any], fields: list[Field], origins: list[str] | None = None) -> None:
        self.fields = fields
        self.raw = records
        self.origins = origins or [""] * len(records)
        self.reason = np.full(len(records), "", dtype=object)
        dicts = [r if isinstance(r, dict) else {} for r in records]
        self._flag(np.array([isinstance(r, _MalformedLine) for r in records], dtype=bool), "malformed JSON")
        self._flag(
            np.array([not isinstance(r, dict) for r in records], dtype=bool), "malformed record: not a JSON object"
        )
        self.frame = pd.DataFrame({f.name: [d.get(f.name) for d in dicts] for f in fields})
        for f in fields:
            present = np.array([d.get(f.name) is not None for d in dicts], dtype=bool)
            self._flag(~present, f"missing field: {f.name}")
            self.frame[f.name] = self._typed(f, present)

    @classmethod
    def from_ndjson(cls, files: list[tuple[str, bytes]], fields: list[Field]) -> RecordChecker:
        """Checks NDJSON files: Arrow parses a well-typed file in bulk; any other file goes record by record."""
        parts = []
        for origin, data in files:
            lines = [line for line in data.splitlines() if line.strip()]  # bytes: kept verbatim if quarantined
            part = _bulk_checker(data, lines, origin, fields)
            if part is None:
                records, origins = parse_ndjson(data, origin)
                part = cls(records, fields, origins)
            parts.append(part)
        if not parts:
            return cls([], fields)
        merged = cls.__new__(cls)
        merged.fields = fields
        merged.raw = [r for p in parts for r in p.raw]
        merged.origins = [o for p in parts for o in p.origins]
        merged.reason = np.concatenate([p.reason for p in parts])
        merged.frame = pd.concat([p.frame for p in parts], ignore_index=True)
        return merged

    def _typed(self, f: Field, present: np.ndarray) -> pd.Series:
        col = self.frame[f.name]
        if f.kind == "str":
            ok = col.map(lambda v: isinstance(v, str))
            self._flag(present & ~ok.to_numpy(dtype=bool), f"wrong type: {f.name} must be a string")
            return col.where(ok, None).astype("string")
        if f.kind == "json":
            ok = col.map(lambda v: isinstance(v, dict))
            self._flag(present & ~ok.to_numpy(dtype=bool), f"wrong type: {f.name} must be a JSON object")
            text = col.map(lambda v: json.dumps(v, sort_keys=True) if isinstance(v, dict) else None)
            return text.astype("string")
        if f.kind == "datetime":
            parsed = pd.to_datetime(
                col.where(col.map(lambda v: isinstance(v, str)), None), errors="coerce", format="ISO8601"
            )
            self._flag(present & parsed.isna().to_numpy(), f"wrong type: {f.name} must be an ISO-8601 timestamp")
            return parsed.astype("datetime64[ns]")
        numeric_ok = col.map(lambda v: isinstance(v, (int, float)) and not isinstance(v, bool))
        values = pd.to_numeric(col.where(numeric_ok, np.nan), errors="coerce").astype(float)
        self._flag(present & ~numeric_ok.to_numpy(dtype=bool), f"wrong type: {f.name} must be a number")
        if f.kind == "int":
            fractional = numeric_ok.to_numpy(dtype=bool) & (np.isnan(values) | (values != np.floor(values)))
            self._flag(present & fractional, f"wrong type: {f.name} must be an integer")
            return pd.Series(np.where(np.isnan(values), 0, values).astype(np.int64), index=col.index)
        self._flag(present & numeric_ok.to_numpy(dtype=bool) & np.isnan(values), f"invalid value: {f.name} is NaN")
        if f.non_negative:
            self._flag(values < 0, f"invalid value: {f.name} is negative")
        return values

    def _flag(self, mask: Iterable[bool], reason: str) -> None:
        fresh = np.asarray(mask, dtype=bool) & (self.reason == "")
        self.reason[fresh] = reason

    def require(self, ok: pd.Series | np.ndarray, reason: str) -> None:
        """Quarantines rows (not already quarantined) where `ok` is False."""
        self._flag(~np.asarray(ok, dtype=bool), reason)

    def unique(self, column: str) -> None:
        """Quarantines the second and later occurrences of a key among still-valid rows."""
        valid = self.reason == ""
        dup = np.zeros(len(self.reason), dtype=bool)
        dup[valid] = self.frame.loc[valid, column].duplicated(keep="first").to_numpy()
        self._flag(dup, f"duplicate {column}")

    def result(self) -> Validated:
        bad = self.reason != ""
        accepted = self.frame.loc[~bad].reset_index(drop=True)
        quarantined = pd.DataFrame(
            {
                "reason": self.reason[bad].astype(str),
                "record": [_as_json(r) for r, b in zip(self.raw, bad, strict=True) if b],
                "origin": [o for o, b in zip(self.origins, bad, strict=True) if b],
            },
            columns=QUARANTINE_COLUMNS,
        )
        return Validated(accepted, quarantined.astype({"reason": "string", "record": "string", "origin": "string"}))


def parse_ndjson(data: bytes, origin: str) -> tuple[list[Any], list[str]]:
    """Records of an NDJSON file; a line that is not JSON becomes a `_MalformedLine` record."""
    records: list[Any] = []
    for line in data.decode("utf-8", errors="replace").splitlines():
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            records.append(_MalformedLine(line))
    return records, [origin] * len(records)


def _arrow_type(kind: Kind) -> pa.DataType:
    return {"int": pa.int64(), "float": pa.float64(), "str": pa.string(), "datetime": pa.timestamp("ns")}[kind]


def _bulk_checker(data: bytes, lines: list[bytes], origin: str, fields: list[Field]) -> RecordChecker | None:
    """The fast path: None unless Arrow parses every line with the declared types."""
    if any(f.kind == "json" for f in fields):
        return None  # nested objects: the record-by-record path keeps them as text
    schema = pa.schema([(f.name, _arrow_type(f.kind)) for f in fields])
    options = pj.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore")
    try:
        table = pj.read_json(io.BytesIO(data), parse_options=options)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return None
    if table.num_rows != len(lines):
        return None
    checker = RecordChecker.__new__(RecordChecker)
    checker.fields = fields
    checker.raw = lines
    checker.origins = [origin] * len(lines)
    checker.reason = np.full(len(lines), "", dtype=object)
    columns = {}
    for f in fields:  # the same rules, in the same order, as the record-by-record path
        col = table.column(f.name)
        checker._flag(pc.is_null(col).to_numpy(zero_copy_only=False), f"missing field: {f.name}")
        if f.kind == "float":
            checker._flag(
                pc.is_nan(col).fill_null(False).to_numpy(zero_copy_only=False), f"invalid value: {f.name} is NaN"
            )
            if f.non_negative:
                checker._flag(
                    pc.less(col, 0).fill_null(False).to_numpy(zero_copy_only=False),
                    f"invalid value: {f.name} is negative",
                )
        if f.kind == "int":
            col = col.fill_null(0)
        columns[f.name] = col
    checker.frame = pa.table(columns).to_pandas()
    for f in fields:
        if f.kind == "str":  # the same dtype as the record-by-record path gives
            checker.frame[f.name] = checker.frame[f.name].astype("string")
    return checker


class _MalformedLine(str):
    """Text of a line that did not parse as JSON (kept verbatim in the quarantine)."""


def _as_json(record: Any) -> str:
    if isinstance(record, bytes):  # a line kept verbatim by the bulk path
        return record.decode("utf-8", errors="replace")
    if isinstance(record, _MalformedLine):
        return str(record)
    return json.dumps(record, default=str, allow_nan=True)
