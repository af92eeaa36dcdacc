"""Data frames stored as Parquet objects in the lake, one object per asset partition."""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from mlplatform.lake.base import Lake, NothingToCommit


@dataclass(frozen=True)
class StoredTable:
    path: str
    rows: int
    content_hash: str  # sha256 of the Parquet bytes: equal data gives equal bytes, so an equal hash
    schema: dict[str, str]


def table_path(asset: Sequence[str], partition: str | None) -> str:
    """`tables/<asset key>/date=<partition>/data.parquet` (or without the partition folder)."""
    folder = "/".join(["tables", *asset])
    return f"{folder}/date={partition}/data.parquet" if partition else f"{folder}/data.parquet"


# Where a raw partition's records came from (e.g. landing-zone files): kept in the Parquet footer.
SOURCE_FILES = "source_files"
_SOURCE_FILES_KEY = b"mlplatform.source_files"


def to_parquet(df: pd.DataFrame) -> bytes:
    """The frame's data as Parquet; of its `attrs` only the source files are kept. (pyarrow would store them
    all, and a frame inherits attrs such as the lake commit it was read at: equal data must give equal bytes.)"""
    bare = df.copy(deep=False)
    bare.attrs = {}
    table = pa.Table.from_pandas(bare, preserve_index=False)
    if df.attrs.get(SOURCE_FILES):
        metadata = {**(table.schema.metadata or {}), _SOURCE_FILES_KEY: json.dumps(df.attrs[SOURCE_FILES]).encode()}
        table = table.replace_schema_metadata(metadata)
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue()


def from_parquet(data: bytes) -> pd.DataFrame:
    table = pq.read_table(io.BytesIO(data))
    frame = table.to_pandas()
    sources = (table.schema.metadata or {}).get(_SOURCE_FILES_KEY)
    if sources:
        frame.attrs[SOURCE_FILES] = json.loads(sources)
    return frame


def source_files(lake: Lake, ref: str, path: str) -> list[str]:
    """The source files recorded with a stored table (read from the footer only)."""
    metadata = pq.read_schema(io.BytesIO(lake.get(ref, path))).metadata or {}
    return json.loads(metadata[_SOURCE_FILES_KEY]) if _SOURCE_FILES_KEY in metadata else []


def write_table(lake: Lake, branch: str, path: str, df: pd.DataFrame) -> StoredTable:
    data = to_parquet(df)
    lake.put(branch, path, data)
    return StoredTable(
        path=path,
        rows=len(df),
        content_hash=hashlib.sha256(data).hexdigest(),
        schema={str(c): str(t) for c, t in df.dtypes.items()},
    )


def read_table(lake: Lake, ref: str, path: str) -> pd.DataFrame:
    return from_parquet(lake.get(ref, path))


def frames_hash(frames: dict[str, pd.DataFrame]) -> str:
    """The content hash the lake IO manager records for these partitions (one partition: its Parquet sha256)."""
    return combined_hash([hashlib.sha256(to_parquet(frames[k])).hexdigest() for k in sorted(frames)])


def combined_hash(hashes: list[str]) -> str:
    return hashes[0] if len(hashes) == 1 else hashlib.sha256("".join(hashes).encode()).hexdigest()


Key = TypeVar("Key", bound=str | None)  # a partition key, or None for an unpartitioned asset


def write_partitions(
    lake: Lake, branch: str, asset: Sequence[str], frames: Mapping[Key, pd.DataFrame], metadata: dict[str, str]
) -> tuple[dict[Key, StoredTable], str]:
    """Writes each partition's table on `branch` and commits them together; returns them and the commit id.

    Rewriting identical content leaves nothing to commit: the branch head already holds it.
    """
    stored = {key: write_table(lake, branch, table_path(asset, key), frame) for key, frame in frames.items()}
    keys = [str(k) for k in frames if k]
    span = "" if not keys else keys[0] if len(keys) == 1 else f"{keys[0]}..{keys[-1]}"
    name = "/".join(asset)
    try:
        commit_id = lake.commit(
            branch, f"{name} [{span}]" if span else name, {**metadata, "asset_key": name, "partitions": span}
        ).id
    except NothingToCommit:
        commit_id = lake.resolve(branch)
    return stored, commit_id


def stored_partitions(lake: Lake, ref: str, asset: Sequence[str]) -> list[str]:
    """The partition keys of `asset` stored at `ref`, sorted."""
    prefix = "/".join(["tables", *asset]) + "/date="
    return sorted(p[len(prefix) :].split("/", 1)[0] for p in lake.list(ref, prefix) if p.endswith("/data.parquet"))


def read_recent(lake: Lake, ref: str, asset: Sequence[str], before: str, days: int) -> pd.DataFrame:
    """The stored partitions of `asset` in the `days` days before `before`, concatenated (empty if none)."""
    start = str((pd.Timestamp(before) - pd.Timedelta(days=days)).date())
    keys = [k for k in stored_partitions(lake, ref, asset) if start <= k < before]
    frames = [read_table(lake, ref, table_path(asset, k)) for k in keys]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
