"""The event stream transactions arrive on: a small interface (`EventStream`), Redis Streams behind it, and the
consumer that lands the stream as the landing zone's files (consumer.py).

Only what a consumer group needs is in the interface, so another broker is one class: Kafka would map a
stream to a topic (one partition, or a partition per day key with the watermark kept per partition), the
group to a consumer group, `ack` to committing offsets after the write (at-least-once delivery; the
consumer's staging state makes it exactly once), `pending` to restarting from the last committed offset,
and `publish` to a producer with `acks=all` and idempotence on. It is not implemented or tested here.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from datetime import timedelta

DEFAULT_STREAM = "mlplatform:transactions"
LATENESS = timedelta(minutes=10)  # how long after a day's end the consumer still accepts its events

Entry = tuple[str, bytes]  # (entry id, payload), ids increasing in stream order


class EventStream(ABC):
    """An append-only log of byte payloads read by consumer groups with acknowledgements."""

    @abstractmethod
    def publish(self, payloads: Sequence[bytes]) -> list[str]:
        """Appends payloads in order; returns their entry ids."""

    @abstractmethod
    def ensure_group(self, group: str) -> None:
        """Creates the consumer group (reading from the start) unless it exists."""

    @abstractmethod
    def pending(self, group: str, consumer: str, count: int) -> list[Entry]:
        """Entries delivered to the group but never acknowledged (a consumer died), claimed by `consumer`, in
        stream order; at most `count`, oldest first."""

    @abstractmethod
    def read(self, group: str, consumer: str, count: int, block_ms: int) -> list[Entry]:
        """Up to `count` entries never delivered to the group, waiting up to `block_ms` for the first."""

    @abstractmethod
    def ack(self, group: str, ids: Sequence[str]) -> None: ...

    @abstractmethod
    def length(self) -> int: ...

    def close(self) -> None:  # noqa: B027 - nothing to release by default
        """Releases connections."""


def open_stream(uri: str, name: str = DEFAULT_STREAM) -> EventStream:
    """`redis://host:port/db` (Redis Streams, key `name`)."""
    if uri.startswith(("redis://", "rediss://", "unix://")):
        from mlplatform.stream.redis_stream import RedisStream

        return RedisStream(uri, name)
    raise ValueError(f"{uri!r}: expected an event stream URI such as redis://127.0.0.1:6379/0")


def entry_order(entry_id: str) -> tuple[int, int]:
    """The stream position of an entry id ("<ms>-<seq>")."""
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)
