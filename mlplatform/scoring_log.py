"""The scoring log: every scored transaction as a JSON line in the landing zone, the platform's fourth
kind of source (`raw_scoring_logs` ingests it like the others).

Lines are buffered and written by a background thread, one new file per flush and day of the
transaction: `scoring_logs/date=YYYY-MM-DD/part-<writer>-<sequence>.ndjson`, each written whole
(the landing zone's writes are atomic), so a reader never sees half a file.
"""

from __future__ import annotations

import os
import socket
import threading
from collections import defaultdict

import orjson

from mlplatform.sources.landing import LandingZone

DATASET = "scoring_logs"


class ScoringLog:
    def __init__(self, zone: LandingZone, flush_seconds: float = 1.0, writer: str | None = None) -> None:
        self.zone = zone
        self.writer = writer or f"{socket.gethostname()}-{os.getpid()}"
        self._pending: list[dict[str, object]] = []
        self._lock = threading.Lock()
        self._sequence = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(flush_seconds,), name="scoring-log", daemon=True)
        self._thread.start()

    def extend(self, records: list[dict[str, object]]) -> None:
        with self._lock:
            self._pending.extend(records)

    def flush(self) -> list[str]:
        """Writes what is pending; returns the keys written."""
        with self._lock:
            pending, self._pending = self._pending, []
        by_day: dict[str, list[bytes]] = defaultdict(list)
        for record in pending:
            by_day[str(record["tx_datetime"])[:10]].append(orjson.dumps(record))
        keys = []
        for day, lines in sorted(by_day.items()):
            self._sequence += 1
            key = f"{DATASET}/date={day}/part-{self.writer}-{self._sequence:06d}.ndjson"
            self.zone.put(key, b"\n".join(lines) + b"\n")
            keys.append(key)
        return keys

    def _run(self, flush_seconds: float) -> None:
        while not self._stop.wait(flush_seconds):
            self.flush()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(10)
        self.flush()
