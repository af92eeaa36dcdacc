"""The landing zone where the event stream lands: a local directory or an S3 bucket.

Transactions land as newline-delimited JSON, one file per hour, under
`transactions/date=YYYY-MM-DD/part-HH.ndjson`; a `_SUCCESS` marker closes a complete day.
"""

from __future__ import annotations

import builtins
import os
import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any

TRANSACTIONS = "transactions"
SUCCESS = "_SUCCESS"
_DAY = re.compile(r"date=(\d{4}-\d{2}-\d{2})/" + SUCCESS + "$")


class LandingZone(ABC):
    @abstractmethod
    def put(self, key: str, data: bytes) -> None: ...

    def put_parts(self, key: str, parts: Sequence[bytes]) -> None:
        """Writes the concatenation of `parts` as one object."""
        self.put(key, b"".join(parts))

    @abstractmethod
    def get(self, key: str) -> bytes: ...

    @abstractmethod
    def list(self, prefix: str) -> builtins.list[str]:
        """Sorted keys under `prefix`."""

    def day_prefix(self, day: str, dataset: str = TRANSACTIONS) -> str:
        return f"{dataset}/date={day}/"

    def completed_days(self, dataset: str = TRANSACTIONS) -> builtins.list[str]:
        """Days whose `_SUCCESS` marker has landed, sorted."""
        return sorted(m.group(1) for key in self.list(f"{dataset}/") if (m := _DAY.search(key)))

    @abstractmethod
    def location(self, key: str) -> str:
        """Where the object lives, as a path or URI a user can open."""

    def day_files(self, day: str, dataset: str = TRANSACTIONS) -> builtins.list[str]:
        return [k for k in self.list(self.day_prefix(day, dataset)) if k.endswith(".ndjson")]


class LocalLandingZone(LandingZone):
    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def put(self, key: str, data: bytes) -> None:
        self.put_parts(key, [data])

    def put_parts(self, key: str, parts: Sequence[bytes]) -> None:
        """The parts written one after another (no copy of them all in memory)."""
        path = self.root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        with tmp.open("wb") as file:
            file.writelines(parts)
        os.replace(tmp, path)  # a reader never sees half a file

    def get(self, key: str) -> bytes:
        return (self.root / key).read_bytes()

    def location(self, key: str) -> str:
        return str(self.root / key)

    def list(self, prefix: str) -> builtins.list[str]:
        base = self.root / prefix
        folder = base if prefix.endswith("/") else base.parent
        if not folder.exists():
            return []
        keys = (p.relative_to(self.root).as_posix() for p in folder.rglob("*") if p.is_file())
        return sorted(k for k in keys if k.startswith(prefix) and not Path(k).name.startswith("."))


class S3LandingZone(LandingZone):
    def __init__(self, bucket: str, prefix: str, client: Any) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.client = client

    def put(self, key: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=self.prefix + key, Body=data)

    def get(self, key: str) -> bytes:
        return self.client.get_object(Bucket=self.bucket, Key=self.prefix + key)["Body"].read()

    def location(self, key: str) -> str:
        return f"s3://{self.bucket}/{self.prefix}{key}"

    def list(self, prefix: str) -> builtins.list[str]:
        keys: builtins.list[str] = []
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix + prefix):
            keys.extend(obj["Key"][len(self.prefix) :] for obj in page.get("Contents", []))
        return sorted(keys)


def open_landing_zone(uri: str, endpoint_url: str = "", client: Any = None) -> LandingZone:
    """`s3://bucket/prefix` (through `client`, or a boto3 client for `endpoint_url`: AWS itself when
    empty, or SeaweedFS, MinIO, ...) or a local directory."""
    if not uri.startswith("s3://"):
        return LocalLandingZone(uri)
    if client is None:
        import boto3

        client = boto3.client("s3", endpoint_url=endpoint_url or None)
    bucket, _, prefix = uri[len("s3://") :].partition("/")
    return S3LandingZone(bucket, prefix, client)
