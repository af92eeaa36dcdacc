"""Lands the event stream as the landing zone's files, exactly once per transaction id.

The consumer reads its group's entries in stream order and decides each one from what came before it in
the stream, never from how entries were batched, so any crash and restart gives the same decisions:

- an event is staged (a durable SQLite file beside the consumer) unless it is malformed, late or a
  conflicting duplicate, which go to the stream's quarantine with the reason; an identical duplicate (a
  producer's retry) is dropped and counted;
- a day is closed once the watermark passes its end: the latest event time minus `lateness`, or a
  producer's punctuation (`{"watermark": "<time>"}`, which the replay sends at each day's end). An event
  of a closed day is late.

Each batch is staged (each event with its landing line, formatted once) and its position recorded in one
SQLite transaction, then its hours' files are rewritten from the staging state (a file is always every
staged line of its hour, in stream order), then
the entries are acknowledged; a closed day gets its `_SUCCESS` marker after its last file. Entries are
acknowledged only after they are durably staged; on restart, unacknowledged entries are claimed again and
those already staged are only acknowledged. The hourly files are what `mlplatform replay` writes for the
same events, byte for byte (`hour_file`), so the landing-zone sensor and everything downstream are unchanged.
"""

from __future__ import annotations

import fcntl
import gc
import math
import re
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import NamedTuple

import orjson
import pandas as pd

from mlplatform.online_store import OnlineStore
from mlplatform.sources.landing import LandingZone
from mlplatform.sources.replay import EVENT_FIELDS, hour_file, hour_key, success_key, success_marker
from mlplatform.stream import LATENESS, Entry, EventStream, entry_order

QUARANTINE = "quarantine/transactions"
_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}")
_INT64 = 2**63
_QUARANTINE_HOUR = -1  # the dirty mark of a day's quarantine file

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
  seq INTEGER PRIMARY KEY, transaction_id INTEGER NOT NULL UNIQUE, tx_datetime TEXT NOT NULL,
  customer_id INTEGER NOT NULL, terminal_id INTEGER NOT NULL, tx_amount REAL NOT NULL,
  day TEXT NOT NULL, hour INTEGER NOT NULL, line BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS events_hour ON events (day, hour);
CREATE TABLE IF NOT EXISTS rejected (stream_id TEXT PRIMARY KEY, ms INTEGER, seq INTEGER, day TEXT, reason TEXT,
  payload TEXT);
CREATE TABLE IF NOT EXISTS days (day TEXT PRIMARY KEY, closed INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS dirty (day TEXT, hour INTEGER, PRIMARY KEY (day, hour));
CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
_VERSION = 2  # of the staging state's layout (PRAGMA user_version); 2 stages each event's landing line


class ConsumerBusy(RuntimeError):
    pass


class IncompatibleState(RuntimeError):
    """The staging state was written by a consumer whose layout this one does not read."""


@dataclass
class ConsumeReport:
    entries: int = 0  # entries handled (each once, whatever the restarts)
    accepted: int = 0
    duplicates: int = 0  # identical redeliveries of a staged event, dropped
    quarantined: dict[str, int] = field(default_factory=dict)  # reason kind -> count
    closed: list[str] = field(default_factory=list)  # days closed by this run


class Event(NamedTuple):
    transaction_id: int
    tx_datetime: str
    customer_id: int
    terminal_id: int
    tx_amount: float


_FIELD_SET = frozenset(EVENT_FIELDS)
_CLOCK = re.compile(r"\d{4}-\d{2}-\d{2}T(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d")
_valid_dates: dict[str | bytes, bool] = {}  # "YYYY-MM-DD" -> a real date (checked once per day seen)


def parse_event(payload: object) -> Event | str:
    """The event, or why it is malformed (the hot path of the consumer: a few checks per event)."""
    if type(payload) is not dict:
        return "not a JSON object"
    if payload.keys() != _FIELD_SET:
        missing, extra = _FIELD_SET - payload.keys(), payload.keys() - _FIELD_SET
        return "; ".join(
            part
            for part in (
                f"missing {', '.join(sorted(missing))}" if missing else "",
                f"unexpected {', '.join(sorted(extra))}" if extra else "",
            )
            if part
        )
    tid, customer, terminal = payload["transaction_id"], payload["customer_id"], payload["terminal_id"]
    for name, value in (("transaction_id", tid), ("customer_id", customer), ("terminal_id", terminal)):
        if type(value) is not int or not -_INT64 <= value < _INT64:
            return f"{name} is not a 64-bit integer"
    stamp, amount = payload["tx_datetime"], payload["tx_amount"]
    if type(stamp) is not str or not _TIME.fullmatch(stamp):
        return "tx_datetime is not YYYY-MM-DDTHH:MM:SS"
    if not _CLOCK.fullmatch(stamp) or not _is_date(stamp[:10]):
        return "tx_datetime is not a valid time"
    if (type(amount) is not float and type(amount) is not int) or not math.isfinite(amount):
        return "tx_amount is not a finite number"
    return Event(tid, stamp, customer, terminal, float(amount))


class Watermark(NamedTuple):
    mark: object  # a producer's punctuation, checked when it is applied


class Malformed(NamedTuple):
    reason: str
    day: str | None  # the day it names, if any: its quarantine file is kept by day


_INT_TEXT = rb"(-?(?:0|[1-9][0-9]{0,18}))"
# The payload as producers write it (`hour_file`'s lines, orjson's output): one regular expression takes the
# fields out. Anything else (spaces, other key orders, exponents, signed or long amounts, escapes) goes through
# JSON and `parse_event`, which decide every case; this only skips their work where the answer is plain (and
# tests/stream/test_payloads.py checks that both give the same answer).
_CANONICAL = re.compile(
    rb'\{"transaction_id":' + _INT_TEXT + rb',"tx_datetime":"((\d{4}-\d{2}-\d{2})T(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d)"'
    rb',"customer_id":'
    + _INT_TEXT
    + rb',"terminal_id":'
    + _INT_TEXT
    + rb',"tx_amount":((?:0|[1-9]\d{0,14})(?:\.\d{1,17})?)\}'
)


def parse_payload(payload: bytes) -> Event | Watermark | Malformed:
    """An entry's payload as the consumer decides on it: an event, a watermark, or why it is malformed."""
    match = _CANONICAL.fullmatch(payload)
    if match is not None:
        tid_text, stamp, day, customer_text, terminal_text, amount_text = match.groups()
        tid, customer, terminal, amount = int(tid_text), int(customer_text), int(terminal_text), float(amount_text)
        if (
            -_INT64 <= tid < _INT64
            and -_INT64 <= customer < _INT64
            and -_INT64 <= terminal < _INT64
            and amount - amount == 0.0  # finite
            and (_valid_dates.get(day) or _is_date(day))
        ):
            return Event(tid, stamp.decode(), customer, terminal, amount)
    obj = _loads(payload)
    if obj is _NOT_JSON:
        return Malformed("not JSON", None)
    if type(obj) is dict and obj.keys() == {"watermark"}:
        return Watermark(obj["watermark"])
    event = parse_event(obj)
    return Malformed(event, _day_of(obj)) if isinstance(event, str) else event


def _is_date(text: str | bytes) -> bool:
    valid = _valid_dates.get(text)
    if valid is None:
        try:
            datetime.fromisoformat(text if isinstance(text, str) else text.decode())
            valid = True
        except ValueError:
            valid = False
        if len(_valid_dates) < 100_000:
            _valid_dates[text] = valid
    return valid


class LandingConsumer:
    """One consumer of `group` (a second one on the same state file is refused)."""

    def __init__(
        self,
        stream: EventStream,
        zone: LandingZone,
        state_path: Path,
        group: str = "landing",
        lateness: timedelta = LATENESS,
        online_store: OnlineStore | None = None,
        on_landed: Callable[[Sequence[Entry], float], None] | None = None,
    ) -> None:
        self.stream, self.zone, self.group, self.lateness = stream, zone, group, lateness
        self.online_store, self.on_landed = online_store, on_landed
        self.consumer = f"{group}-consumer"
        state_path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = open(state_path.with_name(state_path.name + ".lock"), "w")  # noqa: SIM115 - held until close
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._lock.close()
            raise ConsumerBusy(f"another consumer is running on {state_path}") from None
        self.db = sqlite3.connect(state_path, isolation_level=None)
        (version,) = self.db.execute("PRAGMA user_version").fetchone()
        if version != _VERSION and self.db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
            self.close()
            raise IncompatibleState(
                f"{state_path} is the staging state of another consumer version ({version}, this one reads "
                f"{_VERSION}): land its days with that version, or move it away and consume with a new group"
            )
        self.db.executescript(f"PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA user_version={_VERSION};")
        self.db.executescript(_SCHEMA)
        state = dict(self.db.execute("SELECT key, value FROM state").fetchall())
        self._last = entry_order(state.get("last_id", "0-0"))
        self._event_watermark = state.get("event_watermark", "")
        self._punctuation = state.get("punctuation", "")
        self._horizon = self._horizon_day()
        self.report = ConsumeReport()

    # ----- the loop -----------------------------------------------------------------------------------------
    def run(
        self, until_idle: bool = False, stop: Callable[[], bool] = lambda: False, batch: int = 10_000
    ) -> ConsumeReport:
        """Consumes until `stop()` (or, with `until_idle`, until the stream has nothing new for a second)."""
        self.stream.ensure_group(self.group)
        self._land()  # what a killed predecessor staged but did not write yet
        while self._step(lambda: self.stream.pending(self.group, self.consumer, batch)):
            pass
        while not stop():
            read = self._step(lambda: self.stream.read(self.group, self.consumer, batch, 1_000 if until_idle else 200))
            if until_idle and not read:
                break
        return self.report

    def _step(self, read: Callable[[], list[Entry]]) -> int:
        """Reads a batch and handles it, with the cyclic garbage collector paused (see `_cyclic_gc_paused`)."""
        with _cyclic_gc_paused():
            entries = read()
            if entries:
                self.handle(entries)
        return len(entries)

    def handle(self, entries: Sequence[Entry]) -> None:
        """Stages one batch, writes its files, then acknowledges it."""
        fresh = (
            list(entries)
            if entry_order(entries[0][0]) > self._last
            else [e for e in entries if entry_order(e[0]) > self._last]
        )
        if fresh:
            self._stage(fresh)
        self._land()
        if self.on_landed is not None:
            self.on_landed(entries, time.time())
        self.stream.ack(self.group, [e[0] for e in entries])

    # ----- deciding and staging ---------------------------------------------------------------------------
    def _stage(self, entries: Sequence[Entry]) -> None:
        parsed = [(entry_id, payload, parse_payload(payload)) for entry_id, payload in entries]
        known = self._staged([item[0] for _, _, item in parsed if type(item) is Event])
        accepted: list[Event] = []
        rejected: list[tuple[str, str | None, str, bytes]] = []
        days: set[str] = set()
        rows: list[tuple] = []  # the accepted events as staged: the event, its day and hour (then its line)
        dirty: set[tuple[str, int]] = set()
        for entry_id, payload, item in parsed:
            if type(item) is not Event:
                if isinstance(item, Malformed):
                    rejected.append((entry_id, item.day, f"malformed event: {item.reason}", payload))
                elif isinstance(item, Watermark):
                    self._punctuate(item.mark, entry_id, payload, rejected, days)
                continue
            tid, stamp = item[0], item[1]
            day = stamp[:10]
            first = known.get(tid)
            if first is not None:  # staged before (a closed day's included)
                if first == item:
                    self.report.duplicates += 1
                else:
                    reason = f"conflicting duplicate: transaction_id {tid} landed with other content"
                    rejected.append((entry_id, day, reason, payload))
                continue
            if day < self._horizon:
                reason = f"late event: {day} was closed (watermark {self._watermark_text()})"
                rejected.append((entry_id, day, reason, payload))
                continue
            known[tid] = item
            accepted.append(item)
            hour = int(stamp[11:13])
            rows.append((*item, day, hour))
            dirty.add((day, hour))
            if stamp > self._event_watermark:
                self._event_watermark = stamp
                if stamp >= self._advance_at:
                    self._horizon = self._horizon_day()
        self.report.entries += len(entries)
        days.update(day for day, _ in dirty)
        frame = pd.DataFrame(accepted, columns=EVENT_FIELDS)
        # Each event's landing line, formatted once here (by `hour_file`, so byte for byte the file replay's):
        # an hour's file is then its staged lines, in stream order.
        lines = hour_file(frame).split(b"\n")[:-1] if accepted else []
        if self.online_store is not None and accepted:  # idempotent by id, so before the commit
            from mlplatform.features.online import transactions

            frame["tx_datetime"] = pd.to_datetime(frame["tx_datetime"])
            self.online_store.write(transactions(frame, self.online_store.entities))
        last = entries[-1][0]
        with self.db:
            self.db.execute("BEGIN")
            self.db.executemany(
                "INSERT INTO events (transaction_id, tx_datetime, customer_id, terminal_id, tx_amount, day, hour, "
                "line) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [(*row, line) for row, line in zip(rows, lines, strict=True)],
            )
            self.db.executemany(
                "INSERT INTO rejected VALUES (?, ?, ?, ?, ?, ?)",
                [(i, *entry_order(i), d or "unknown", r, p.decode("utf-8", "replace")) for i, d, r, p in rejected],
            )
            self.db.executemany("INSERT OR IGNORE INTO days (day) VALUES (?)", [(d,) for d in days])
            dirty |= {(d or "unknown", _QUARANTINE_HOUR) for _, d, _, _ in rejected}
            self.db.executemany("INSERT OR IGNORE INTO dirty VALUES (?, ?)", sorted(dirty))
            self.db.executemany(
                "INSERT OR REPLACE INTO state VALUES (?, ?)",
                [("last_id", last), ("event_watermark", self._event_watermark), ("punctuation", self._punctuation)],
            )
        self._last = entry_order(last)
        self.report.accepted += len(accepted)
        for _, _, reason, _ in rejected:
            kind = reason.split(":")[0]
            self.report.quarantined[kind] = self.report.quarantined.get(kind, 0) + 1

    def _punctuate(self, mark: object, entry_id: str, payload: bytes, rejected: list, days: set[str]) -> None:
        if not isinstance(mark, str) or not _TIME.fullmatch(mark):
            rejected.append((entry_id, None, "malformed event: watermark is not YYYY-MM-DDTHH:MM:SS", payload))
            return
        if mark > self._punctuation:
            self._punctuation = mark
            self._horizon = self._horizon_day()
            days.add((datetime.fromisoformat(mark) - timedelta(seconds=1)).date().isoformat())  # the day it ends

    def _staged(self, ids: list[int]) -> dict[int, Event]:
        found: dict[int, Event] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            rows = self.db.execute(
                f"SELECT {', '.join(EVENT_FIELDS)} FROM events WHERE transaction_id IN ({', '.join('?' * len(chunk))})",
                chunk,
            ).fetchall()
            found.update((row[0], Event(*row)) for row in rows)
        return found

    def _horizon_day(self) -> str:
        """Days before this one are closed (and the event time from which the next one is)."""
        marks = [self._punctuation]
        if self._event_watermark:
            marks.append((datetime.fromisoformat(self._event_watermark) - self.lateness).isoformat())
        horizon = max(marks)[:10]
        self._advance_at = (
            (datetime.fromisoformat(horizon) + timedelta(days=1) + self.lateness).isoformat() if horizon else ""
        )
        return horizon

    def _watermark_text(self) -> str:
        return max(self._punctuation, self._event_watermark)

    # ----- landing ------------------------------------------------------------------------------------------
    def _land(self) -> None:
        """Writes every dirty hour file and quarantine file, then closes the days the watermark passed."""
        dirty = self.db.execute("SELECT day, hour FROM dirty ORDER BY day, hour").fetchall()
        for day, hour in dirty:
            self._write(day, hour)
        with self.db:  # one commit for all (a crash before it only means writing the same bytes again)
            self.db.execute("BEGIN")
            self.db.executemany("DELETE FROM dirty WHERE day = ? AND hour = ?", dirty)
        due = self.db.execute("SELECT day FROM days WHERE closed = 0 AND day < ? ORDER BY day", (self._horizon,))
        for (day,) in due.fetchall():
            (rows,) = self.db.execute("SELECT count(*) FROM events WHERE day = ?", (day,)).fetchone()
            self.zone.put(success_key(day), success_marker(rows))
            self.db.execute("UPDATE days SET closed = 1 WHERE day = ?", (day,))
            self.report.closed.append(day)

    def _write(self, day: str, hour: int) -> None:
        if hour == _QUARANTINE_HOUR:
            rows = self.db.execute(
                "SELECT stream_id, reason, payload FROM rejected WHERE day = ? ORDER BY ms, seq", (day,)
            ).fetchall()
            lines = b"".join(orjson.dumps({"stream_id": i, "reason": r, "event": p}) + b"\n" for i, r, p in rows)
            self.zone.put(f"{QUARANTINE}/date={day}/stream.ndjson", lines)
        else:
            staged = self.db.execute("SELECT line FROM events WHERE day = ? AND hour = ? ORDER BY seq", (day, hour))
            self.zone.put(hour_key(day, hour), b"".join(line + b"\n" for (line,) in staged))

    def close(self) -> None:
        self.db.close()
        self._lock.close()

    def __enter__(self) -> LandingConsumer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    """Reading and staging a batch allocate a few objects per event, none in a reference cycle (reference counting
    frees them), yet those allocations trigger the cyclic collector's passes, which walk the whole process's
    heap many times per batch (bench/stream.py measured 45-57 k events/s with them, 66-81 k without). It runs
    again between batches."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


_NOT_JSON = object()
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def _loads(payload: bytes) -> object:
    try:
        return orjson.loads(payload)
    except orjson.JSONDecodeError:
        return _NOT_JSON


def _day_of(obj: object) -> str | None:
    """The day a malformed event names, if it names one (its quarantine file is kept by day)."""
    stamp = obj.get("tx_datetime") if isinstance(obj, dict) else None
    return stamp[:10] if isinstance(stamp, str) and _DAY.fullmatch(stamp[:10]) else None
