"""The scoring log: every scored transaction as a JSON line in the landing zone, the platform's fourth
kind of source (`raw_scoring_logs` ingests it like the others).

Each line is serialised by the thread that scored it (`ndjson`); the lines are buffered and written
by a background thread, one new file per flush and day of the transaction:
`scoring_logs/date=YYYY-MM-DD/part-<writer>-<sequence>.ndjson`, each written whole (the landing
zone's writes are atomic), so a reader never sees half a file.

A file's first line is its header, `{"feature_names": [...]}`; each line after it is one transaction,
its features a JSON array in the header's order. With the names once a file rather than on every line, a
line of the service's log holds ~520 bytes rather than ~1,290, and 1,000 of them are built in 1.4-1.6 ms
rather than 3.6-3.7 ms (measured here).
"""

from __future__ import annotations

import itertools
import os
import socket
import threading
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import TypeAlias

import numpy as np
import orjson

from mlplatform.online_store.base import DAY_US
from mlplatform.sources.landing import LandingZone

DATASET = "scoring_logs"
FEATURE_NAMES = "feature_names"  # the header's field: the names of the values of each line's features
BY_COLUMN = 16  # lines from which ndjson builds them a column at a time
# A field of `ndjson`: the same value on every line (str, int, float), one value a line (a NumPy array
# of numbers or datetime64, or a list of str), a JSON array a line (a tuple of 2D NumPy arrays of numbers:
# each one's row in turn), or a nested object of such fields.
Value: TypeAlias = "str | int | float | np.ndarray | tuple[np.ndarray, ...] | list[str] | Mapping[str, Value]"


def json_lines(fields: Mapping[str, Value]) -> list[str]:
    """One JSON object a line, the fields in order: `ndjson`'s lines."""
    return ndjson(fields).decode().split("\n")[:-1]  # JSON escapes a newline inside a string


def ndjson(fields: Mapping[str, Value]) -> bytes:
    """The fields as JSON lines (UTF-8), one object a line, each line ending in a newline. From `BY_COLUMN`
    lines on, they are built a column at a time: orjson encodes each array in one call (datetime64 as
    `datetime.isoformat` does), the text is cut at its commas, and one join interleaves the columns with
    the keys and constants between them. Measured here for 1,000 lines of 31 values, as the scorer logs
    them: 3.6 ms, against 4.6 ms filling a `%` template a line and joining the lines after, and ~9 ms
    building a dict a line for orjson; for one line, ~100 us against ~20 us, so fewer lines are built a
    dict at a time (the same text). The pieces are bytes, so that the join is the only copy: a `str`
    joined, then encoded, made two ~1 MB buffers a batch, and freeing them made the next ones page-fault
    in again (~450 page faults a batch here, ~0.8 ms)."""
    if _length(fields) < BY_COLUMN:
        return b"".join(orjson.dumps(record) + b"\n" for record in _records(fields))
    between, columns = _pieces(fields)
    parts: list[Iterable[bytes]] = [itertools.repeat(between[0])]
    for column, after in zip(columns, between[1:], strict=True):
        parts += [column, itertools.repeat(after)]
    return b"".join(itertools.chain.from_iterable(zip(*parts, itertools.repeat(b"\n"))))


def _length(fields: Mapping[str, Value]) -> int:
    for value in fields.values():
        if isinstance(value, np.ndarray | list):
            return len(value)
        if isinstance(value, tuple) and value:
            return len(value[0])
        if isinstance(value, Mapping):
            try:
                return _length(value)
            except ValueError:  # constants only: the lines' count is in another field
                continue
    raise ValueError("ndjson needs at least one field with a value a line")


def _records(fields: Mapping[str, Value]) -> list[dict[str, object]]:
    n = _length(fields)
    columns = {key: _per_line(value, n) for key, value in fields.items()}
    return [{key: column[i] for key, column in columns.items()} for i in range(n)]


def _per_line(value: Value, n: int) -> list:
    if isinstance(value, Mapping):
        return _records(value)
    if isinstance(value, np.ndarray):
        return value.tolist()  # datetime64[us] as datetimes, which orjson writes as isoformat does
    if isinstance(value, tuple):
        return [[x for row in rows for x in row] for rows in zip(*(array.tolist() for array in value), strict=True)]
    if isinstance(value, list):
        return value
    return [value] * n


def _pieces(fields: Mapping[str, Value]) -> tuple[list[bytes], list[list[bytes]]]:
    """Each field with a value a line as a column of JSON texts, and the text around them: one piece before
    each column and one after the last (the keys, the constants, the braces)."""
    between, columns = [b"{"], []
    for i, (key, value) in enumerate(fields.items()):
        between[-1] += (b"," if i else b"") + orjson.dumps(key) + b":"
        if isinstance(value, Mapping):
            inner, more = _pieces(value)
            between[-1] += inner[0]
            between += inner[1:]
            columns += more
        elif isinstance(value, np.ndarray):
            columns.append(_encoded(key, value)[1:-1].split(b",") if len(value) else [])  # no value holds a comma
            between.append(b"")
        elif isinstance(value, tuple):  # a JSON array a line: orjson writes each 2D array's rows in one call
            between[-1] += b"["
            for k, array in enumerate(a for a in value if a.shape[1]):
                between[-1] += b"," if k else b""
                columns.append(_encoded(key, array)[2:-2].split(b"],[") if len(array) else [])
                between.append(b"")
            between[-1] += b"]"
        elif isinstance(value, list):  # strings, cut at the quotes between them (a quote inside one is escaped)
            between[-1] += b'"'
            columns.append(orjson.dumps(value)[2:-2].split(b'","') if value else [])
            between.append(b'"')
        else:
            between[-1] += orjson.dumps(value)
    between[-1] += b"}"
    return between, columns


def _encoded(key: str, array: np.ndarray) -> bytes:
    """The array as a JSON array (of arrays, for 2D), which is cut at its commas: numbers, booleans and times only."""
    if array.dtype.kind not in "biufM":
        raise TypeError(f"ndjson: {key} is a {array.dtype} array; give strings as a list")
    return orjson.dumps(np.ascontiguousarray(array), option=orjson.OPT_SERIALIZE_NUMPY)


class ScoringLog:
    def __init__(
        self,
        zone: LandingZone,
        flush_seconds: float = 1.0,
        writer: str | None = None,
        header: Mapping[str, object] | None = None,
    ) -> None:
        """`header`, if given, is the first line of every file (the scorer's: `{FEATURE_NAMES: [...]}`)."""
        self.zone = zone
        self.writer = writer or f"{socket.gethostname()}-{os.getpid()}"
        self._header = [] if header is None else [orjson.dumps(header) + b"\n"]
        self._pending: list[tuple[str, bytes]] = []  # (the transactions' day, their lines, each ending in a newline)
        self._lock = threading.Lock()
        self._sequence = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(flush_seconds,), name="scoring-log", daemon=True)
        self._thread.start()

    def append(self, time_us: np.ndarray, fields: Mapping[str, Value]) -> None:
        """Queues the fields' lines (`ndjson`), each of the transaction whose time (microseconds since the
        epoch) is beside it. They are serialised by the caller's thread: serialised by the flush thread, a
        second's records held the GIL for up to 200 ms at a time and stalled the requests in flight
        (bench/serving.py, /score_batch from one caller: a call's p99 206 ms, 68 ms after)."""
        if not len(time_us):
            return
        days = time_us // DAY_US
        if (days == days[0]).all():
            texts = [(days[0], ndjson(fields))]
        else:
            lines = ndjson(fields).split(b"\n")  # JSON escapes a newline inside a string
            texts = [(day, b"".join(lines[i] + b"\n" for i in np.flatnonzero(days == day))) for day in np.unique(days)]
        chunks = [(str(np.datetime64(int(day), "D")), text) for day, text in texts]
        with self._lock:
            self._pending.extend(chunks)

    def flush(self) -> list[str]:
        """Writes what is pending; returns the keys written."""
        with self._lock:
            pending, self._pending = self._pending, []
        by_day: dict[str, list[bytes]] = defaultdict(list)
        for day, chunk in pending:
            by_day[day].append(chunk)
        keys = []
        for day, chunks in sorted(by_day.items()):
            self._sequence += 1
            key = f"{DATASET}/date={day}/part-{self.writer}-{self._sequence:06d}.ndjson"
            # The chunks as they are (each ends with its newline), not joined first: a second's lines are ~100 MB
            # at 90 k transactions/s, and a buffer that large is new memory, faulted in a page at a time (~25 k
            # page faults a flush, measured here) where a local file takes the chunks one after another.
            self.zone.put_parts(key, [*self._header, *chunks])
            keys.append(key)
        return keys

    def _run(self, flush_seconds: float) -> None:
        while not self._stop.wait(flush_seconds):
            self.flush()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(10)
        self.flush()
