"""The event stream on Redis Streams: XADD, consumer groups (XREADGROUP), XAUTOCLAIM for what a dead consumer
left unacknowledged, XACK."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import redis

from mlplatform.stream import Entry, EventStream

FIELD = b"e"  # each entry holds one field: the payload
_PIPELINE = 2_000  # entries per round trip when publishing


class RedisStream(EventStream):
    def __init__(self, url: str, name: str) -> None:
        self.client = redis.Redis.from_url(url)
        # Entries as Redis sends them ([id, [field, value]]), not as a dict per entry: a third of the read cost.
        self.client.set_response_callback("XREADGROUP", lambda response, **options: response)
        self.name = name

    def publish(self, payloads: Sequence[bytes]) -> list[str]:
        ids: list[str] = []
        for start in range(0, len(payloads), _PIPELINE):
            pipe = self.client.pipeline(transaction=False)
            for payload in payloads[start : start + _PIPELINE]:
                pipe.xadd(self.name, {FIELD: payload})
            ids.extend(i.decode() for i in pipe.execute())
        return ids

    def ensure_group(self, group: str) -> None:
        try:
            self.client.xgroup_create(self.name, group, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def pending(self, group: str, consumer: str, count: int) -> list[Entry]:
        # Claims every consumer's unacknowledged entries (the consumer of a group is one process at a time).
        answer = self.client.xautoclaim(self.name, group, consumer, min_idle_time=0, start_id="0-0", count=count)
        claimed = answer[1]
        return _entries(claimed)

    def read(self, group: str, consumer: str, count: int, block_ms: int) -> list[Entry]:
        answer: Any = self.client.xreadgroup(group, consumer, {self.name: ">"}, count=count, block=block_ms or None)
        if not answer:
            return []
        # {stream: [[id, [field, payload]], ...]} (or [[stream, ...]], as the server's protocol has it)
        raw = next(iter(answer.values())) if isinstance(answer, dict) else answer[0][1]
        return [(i.decode(), fields[1]) for i, fields in raw if fields]

    def ack(self, group: str, ids: Sequence[str]) -> None:
        for start in range(0, len(ids), 10_000):
            self.client.xack(self.name, group, *ids[start : start + 10_000])

    def length(self) -> int:
        return int(self.client.xlen(self.name))

    def close(self) -> None:
        self.client.close()


def _entries(raw: list) -> list[Entry]:
    # A claimed entry deleted from the stream meanwhile comes back without fields: nothing to process.
    return [(i.decode(), fields[FIELD]) for i, fields in raw if fields]
