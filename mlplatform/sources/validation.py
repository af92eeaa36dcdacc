"""Validation at ingestion: every record is either accepted (typed) or quarantined with a reason.

Rules run in order and a record gets the reason of the first rule it breaks, so the records read
always equal the accepted plus the quarantined. An NDJSON file is split on newlines only (a U+2028
inside a string is part of its record) and each quarantined record names its file and line.

Values are checked exactly: integers are JSON integers (never routed through floating point) within
their field's range, numbers are finite and within range, times are ISO 8601 without a time-zone
offset (the platform's times are UTC and carry none) within range. A well-formed file is parsed in
bulk by Arrow; a file Arrow cannot type, or with anything that needs a closer look, goes record by
record, with the same rules and reasons.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

Kind = Literal["int", "float", "str", "datetime", "json"]  # json: a JSON object, kept as its (sorted) text
INT64 = (0, 2**63 - 1)
QUARANTINE_COLUMNS = ["reason", "record", "origin"]
NAIVE_ISO = r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?$"


@dataclass(frozen=True)
class Field:
    name: str
    kind: Kind
    low: Any = None  # inclusive bounds (an int, a float, or a pd.Timestamp for times); None: the kind's own
    high: Any = None

    def bounds(self) -> tuple[Any, Any]:
        if self.kind == "int":
            return (INT64[0] if self.low is None else self.low, INT64[1] if self.high is None else self.high)
        return self.low, self.high


@dataclass(frozen=True)
class Validated:
    accepted: pd.DataFrame
    quarantined: pd.DataFrame  # QUARANTINE_COLUMNS: reason, the raw record, where it came from (file:line)

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
        self._flag([isinstance(r, _MalformedLine) for r in records], "malformed JSON")
        self._flag([not isinstance(r, dict) for r in records], "malformed record: not a JSON object")
        dicts = [r if isinstance(r, dict) else {} for r in records]
        columns = {}
        for f in fields:
            values = [d.get(f.name) for d in dicts]
            self._flag([v is None for v in values], f"missing field: {f.name}")
            columns[f.name] = self._typed(f, values)
        self.frame = pd.DataFrame(columns, index=pd.RangeIndex(len(records)))

    @classmethod
    def from_ndjson(cls, files: list[tuple[str, bytes]], fields: list[Field]) -> RecordChecker:
        """Checks NDJSON files: Arrow parses a well-typed file in bulk; any other file goes record by record."""
        parts = []
        for origin, data in files:
            numbered = _numbered(data)
            part = _bulk_checker(data, numbered, origin, fields)
            if part is None:
                records, origins = read_ndjson(origin, data, numbered)
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

    def _typed(self, f: Field, values: list[Any]) -> pd.Series:
        low, high = f.bounds()
        where = f"{f.name} must be from {low} to {high}"
        if f.kind == "str":
            ok = [isinstance(v, str) for v in values]
            self._flag(_present_and_not(values, ok), f"wrong type: {f.name} must be a string")
            return pd.Series([v if good else None for v, good in zip(values, ok, strict=True)], dtype="string")
        if f.kind == "json":
            ok = [isinstance(v, dict) for v in values]
            self._flag(_present_and_not(values, ok), f"wrong type: {f.name} must be a JSON object")
            text = [json.dumps(v, sort_keys=True) if good else None for v, good in zip(values, ok, strict=True)]
            return pd.Series(text, dtype="string")
        if f.kind == "datetime":
            parsed = [_naive_time(v) for v in values]
            self._flag([p == "offset" for p in parsed], f"invalid value: {f.name} has a time-zone offset")
            times = [p if isinstance(p, datetime) else None for p in parsed]
            self._flag(
                _present_and_not(values, [t is not None for t in times]),
                f"wrong type: {f.name} must be ISO 8601",
            )
            inside = [t is None or ((low is None or t >= low) and (high is None or t <= high)) for t in times]
            self._flag([not ok for ok in inside], f"out of range: {where}")  # before pandas: year 9999 overflows ns
            kept = [t if ok else None for t, ok in zip(times, inside, strict=True)]
            return pd.Series(pd.to_datetime(kept) if kept else [], dtype="datetime64[ns]")
        if f.kind == "int":
            ok = [type(v) is int for v in values]  # a JSON integer: exact, whatever its size (bool is not one)
            self._flag(_present_and_not(values, ok), f"wrong type: {f.name} must be an integer")
            inside = [good and low <= v <= high for v, good in zip(values, ok, strict=True)]
            self._flag([good and not fits for good, fits in zip(ok, inside, strict=True)], f"out of range: {where}")
            return pd.Series(
                np.array([v if fits else 0 for v, fits in zip(values, inside, strict=True)], dtype=np.int64)
            )
        ok = [type(v) in (int, float) for v in values]
        self._flag(_present_and_not(values, ok), f"wrong type: {f.name} must be a number")
        numbers = np.array([float(v) if good and _finite(v) else np.nan for v, good in zip(values, ok, strict=True)])
        self._flag(
            [good and not _finite(v) for v, good in zip(values, ok, strict=True)],
            f"invalid value: {f.name} is not finite",
        )
        self._flag(_outside(pd.Series(numbers), low, high), f"out of range: {where}")
        return pd.Series(numbers)

    def _flag(self, mask: Iterable[bool], reason: str) -> None:
        fresh = np.asarray(mask, dtype=bool) & (self.reason == "")
        self.reason[fresh] = reason

    def require(self, ok: pd.Series | np.ndarray, reason: str | Sequence[str]) -> None:
        """Quarantines rows (not already quarantined) where `ok` is False; `reason` may be one per row."""
        bad = ~np.asarray(ok, dtype=bool) & (self.reason == "")
        self.reason[bad] = reason if isinstance(reason, str) else np.asarray(reason, dtype=object)[bad]

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
                "record": [_as_text(r) for r, b in zip(self.raw, bad, strict=True) if b],
                "origin": [o for o, b in zip(self.origins, bad, strict=True) if b],
            },
            columns=QUARANTINE_COLUMNS,
        )
        return Validated(accepted, quarantined.astype({"reason": "string", "record": "string", "origin": "string"}))


def read_ndjson(
    origin: str, data: bytes, numbered: list[tuple[int, bytes]] | None = None
) -> tuple[list[Any], list[str]]:
    """An NDJSON file's records, a line at a time (a line that is not JSON kept as such, to be quarantined), and
    where each one is (origin:line)."""
    numbered = _numbered(data) if numbered is None else numbered
    return [_parse(line) for _, line in numbered], [f"{origin}:{n}" for n, _ in numbered]


def _numbered(data: bytes) -> list[tuple[int, bytes]]:
    """The file's lines that are not blank, with their numbers (from 1)."""
    return [(n, line) for n, line in enumerate(data.split(b"\n"), 1) if line.strip()]


def _parse(line: bytes) -> Any:
    """A record; a line that is not strict JSON (NaN and Infinity included) becomes a `_MalformedLine`."""
    try:
        return json.loads(line, parse_constant=_no_constant)
    except (ValueError, UnicodeDecodeError):  # JSONDecodeError is a ValueError
        return _MalformedLine(line.decode("utf-8", errors="replace"))


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _naive_time(value: Any) -> datetime | str | None:
    """A naive datetime, "offset" for a time with a time-zone offset, None when not an ISO-8601 time."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return "offset" if parsed.tzinfo is not None else parsed


def _present_and_not(values: list[Any], ok: list[bool]) -> list[bool]:
    return [v is not None and not good for v, good in zip(values, ok, strict=True)]


def _finite(value: Any) -> bool:
    return type(value) is int or math.isfinite(value)


def _outside(values: pd.Series, low: Any, high: Any) -> np.ndarray:
    out = np.zeros(len(values), dtype=bool)
    if low is not None:
        out |= (values < low).to_numpy(dtype=bool, na_value=False)
    if high is not None:
        out |= (values > high).to_numpy(dtype=bool, na_value=False)
    return out


def _arrow_type(kind: Kind) -> pa.DataType:
    # Times are read as text: Arrow would turn an offset into UTC silently; they are parsed below.
    return {"int": pa.int64(), "float": pa.float64(), "str": pa.string(), "datetime": pa.string()}[kind]


def _bulk_checker(
    data: bytes, numbered: list[tuple[int, bytes]], origin: str, fields: list[Field]
) -> RecordChecker | None:
    """The fast path, for a file whose every line is a JSON object Arrow types as declared; None otherwise."""
    if any(f.kind == "json" for f in fields) or not all(line.lstrip().startswith(b"{") for _, line in numbered):
        return None  # nested objects, or a line that is not an object (a JSON null crashes Arrow's reader)
    schema = pa.schema([(f.name, _arrow_type(f.kind)) for f in fields])
    options = pj.ParseOptions(explicit_schema=schema, unexpected_field_behavior="ignore")
    try:
        table = pj.read_json(io.BytesIO(data), parse_options=options)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return None
    if table.num_rows != len(numbered):
        return None
    for f in fields:
        if f.kind == "datetime":
            text = table.column(f.name)
            if not pc.all(pc.or_kleene(pc.is_null(text), pc.match_substring_regex(text, NAIVE_ISO))).as_py():
                return None  # an offset or another spelling: the record path gives each its reason
        if f.kind == "float" and not pc.all(pc.fill_null(pc.is_finite(table.column(f.name)), True)).as_py():
            return None
    checker = RecordChecker.__new__(RecordChecker)
    checker.fields = fields
    checker.raw = [line for _, line in numbered]
    checker.origins = [f"{origin}:{n}" for n, _ in numbered]
    checker.reason = np.full(len(numbered), "", dtype=object)
    columns = {}
    for f in fields:  # the same rules, in the same order, as the record-by-record path
        col = table.column(f.name)
        checker._flag(pc.is_null(col).to_numpy(zero_copy_only=False), f"missing field: {f.name}")
        low, high = f.bounds()
        if f.kind == "datetime":
            text = col.to_pandas()
            parsed = pd.to_datetime(text, format="ISO8601", errors="coerce")  # in the unit the values need (us, s)
            inside = parsed.notna() & (parsed >= pd.Timestamp(low)) & (parsed <= pd.Timestamp(high))
            values = parsed.where(inside).astype("datetime64[ns]")  # year 9999 overflows ns: flagged, not cast
            checker._flag((text.notna() & ~inside).to_numpy(), f"out of range: {f.name} must be from {low} to {high}")
        elif f.kind == "int":
            values = col.fill_null(0).to_pandas()
        else:
            values = col.to_pandas()
        if f.kind != "str":
            checker._flag(_outside(values, low, high), f"out of range: {f.name} must be from {low} to {high}")
        columns[f.name] = values.astype("string") if f.kind == "str" else values
    checker.frame = pd.DataFrame(columns)
    return checker


class _MalformedLine(str):
    """Text of a line that did not parse as JSON (kept verbatim in the quarantine)."""


def _as_text(record: Any) -> str:
    if isinstance(record, bytes):  # a line kept verbatim by the bulk path
        return record.decode("utf-8", errors="replace")
    if isinstance(record, _MalformedLine):
        return str(record)
    return json.dumps(record, default=str)
