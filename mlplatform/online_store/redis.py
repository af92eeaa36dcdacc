"""The online store in Redis (production: MLPLATFORM_ONLINE_STORE=redis://host:port/db).

Keys, under a prefix named for the feature set:
  <prefix>:h:<entity>:<key>   a string of packed records (RECORD: id, time, amount, fraud flag), appended
  <prefix>:tx                 a hash: transaction id -> "<key of each entity>,<time_us>" (labels find records by it)
  <prefix>:loaded             a hash: published day -> content hash of what was loaded
Writing and labelling run as Lua scripts, so each is atomic and idempotent; reads are one pipeline of GETs.
A script blocks every other client while it runs, so a large write or labelling goes in chunks: loading
the 374 k transactions before a day in one script stalled a concurrent GET for 4.1 s here (and met
redis-py's 5 s socket timeout on a slower run).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import redis

from mlplatform.online_store.base import RECORD, History, OnlineStore, Transactions

# Sets the fraud flag (the record's last 8 bytes) of the record whose first 8 bytes are `id`; true if it changed.
_SET_FLAG = """
local function set_flag(key, id)
  local blob, changed = redis.call('GET', key) or '', false
  for off = 1, #blob, 32 do
    if string.sub(blob, off, off + 7) == id and string.sub(blob, off + 24, off + 24) ~= '\\1' then
      redis.call('SETRANGE', key, off + 23, '\\1')
      changed = true
    end
  end
  return changed
end
local prefix, n = ARGV[1], tonumber(ARGV[2])
local function key(e, k) return prefix .. ':h:' .. ARGV[2 + e] .. ':' .. k end
"""

# ARGV: prefix, number of entities, the entities, then per transaction: id, fraud (0/1), info, record, its keys.
_WRITE = (
    _SET_FLAG
    + """
local added, i = 0, 3 + n
while i <= #ARGV do
  local id, fraud, info, record = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  if redis.call('HSETNX', KEYS[1], id, info) == 1 then
    added = added + 1
    for e = 1, n do redis.call('APPEND', key(e, ARGV[i + 3 + e]), record) end
  elseif fraud == '1' then
    for e = 1, n do set_flag(key(e, ARGV[i + 3 + e]), string.sub(record, 1, 8)) end
  end
  i = i + 4 + n
end
return added
"""
)

# ARGV: prefix, number of entities, the entities, delay_us, then per report: id, packed id (8 bytes), reported_us.
_LABEL = (
    _SET_FLAG
    + """
local delay, marked, i = tonumber(ARGV[3 + n]), 0, 4 + n
while i <= #ARGV do
  local info = redis.call('HGET', KEYS[1], ARGV[i])
  if info then
    local parts = {}
    for part in string.gmatch(info, '[^,]+') do parts[#parts + 1] = part end
    if tonumber(ARGV[i + 2]) <= tonumber(parts[n + 1]) + delay then
      local changed = false
      for e = 1, n do changed = set_flag(key(e, parts[e]), ARGV[i + 1]) or changed end
      if changed then marked = marked + 1 end
    end
  end
  i = i + 3
end
return marked
"""
)


Arg = bytes | str | int | float  # what a Lua script takes
CHUNK = 2_000  # transactions or reports per script


def _bytes(value: bytes | str) -> bytes:
    """Replies are bytes (the client does not decode them)."""
    return value if isinstance(value, bytes) else value.encode()


class RedisStore(OnlineStore):
    def __init__(self, url: str, entities: Sequence[str], prefix: str) -> None:
        super().__init__(entities)
        self.client = redis.Redis.from_url(url)
        self.prefix = prefix
        self._tx = f"{prefix}:tx"
        self._write = self.client.register_script(_WRITE)
        self._label = self.client.register_script(_LABEL)
        self._load_scripts()

    def _load_scripts(self) -> None:
        """Scripts are sent once; a pipeline then calls them by hash (redis-py would ask Redis on every call)."""
        for script in (self._write, self._label):
            self.client.script_load(script.script)

    def _key(self, entity: str, key: int) -> str:
        return f"{self.prefix}:h:{entity}:{key}"

    def _head(self) -> list[Arg]:
        return [self.prefix, len(self.entities), *self.entities]

    def _write_args(self, batch: Transactions) -> list[Arg]:
        records = np.zeros(len(batch), dtype=RECORD)
        records["transaction_id"], records["time_us"] = batch.transaction_id, batch.time_us
        records["amount_micros"], records["fraud"] = batch.amount_micros, batch.fraud
        args = self._head()
        keys = [batch.keys[e].tolist() for e in self.entities]
        for i, transaction_id in enumerate(batch.transaction_id.tolist()):
            own = [column[i] for column in keys]
            info = ",".join(map(str, [*own, int(batch.time_us[i])]))
            args += [transaction_id, int(batch.fraud[i]), info, records[i].tobytes(), *own]
        return args

    def histories(self, entity: str, keys: np.ndarray) -> History:
        return self._parse(self.client.mget([self._key(entity, k) for k in keys.tolist()]) if len(keys) else [])

    @staticmethod
    def _parse(blobs: Sequence[bytes | str | None]) -> History:
        sizes = [len(b) // RECORD.itemsize if b else 0 for b in blobs]
        if not any(sizes):
            return History.empty()
        records = np.frombuffer(b"".join(_bytes(b) for b in blobs if b), dtype=RECORD)
        return History.of_records(np.repeat(np.arange(len(blobs)), sizes), records)

    def write(self, batch: Transactions) -> int:
        added = 0
        for start in range(0, len(batch), CHUNK):
            chunk = batch.take(np.arange(start, min(start + CHUNK, len(batch))))
            added += int(self._write(keys=[self._tx], args=self._write_args(chunk)))
        return added

    def read_and_write(self, keys: dict[str, np.ndarray], batch: Transactions) -> dict[str, History]:
        """One round trip: the histories, then the write (reads come first, so they are as before the batch)."""
        pipe = self.client.pipeline(transaction=False)
        for entity in self.entities:
            pipe.mget([self._key(entity, k) for k in keys[entity].tolist()])
        if len(batch):
            pipe.evalsha(self._write.sha, 1, self._tx, *self._write_args(batch))
        try:
            replies = pipe.execute()
        except redis.exceptions.NoScriptError:  # Redis restarted and forgot the scripts: once more, after loading
            self._load_scripts()
            return self.read_and_write(keys, batch)
        return {entity: self._parse(replies[i]) for i, entity in enumerate(self.entities)}

    def label(self, transaction_ids: np.ndarray, reported_us: np.ndarray, delay_us: int) -> int:
        marked = 0
        for start in range(0, len(transaction_ids), CHUNK):
            args: list[Arg] = [*self._head(), delay_us]
            ids, reported = transaction_ids[start : start + CHUNK], reported_us[start : start + CHUNK]
            for transaction_id, at in zip(ids.tolist(), reported.tolist(), strict=True):
                args += [transaction_id, np.int64(transaction_id).astype("<i8").tobytes(), at]
            marked += int(self._label(keys=[self._tx], args=args))
        return marked

    def trim(self, before_us: int) -> int:
        """Rewrites each key without its old records (optimistically: a key appended to meanwhile is retried)."""
        removed = 0
        for key in self.client.scan_iter(match=f"{self.prefix}:h:*", count=1000):
            while True:
                try:
                    with self.client.pipeline() as pipe:
                        pipe.watch(key)
                        records = np.frombuffer(_bytes(pipe.get(key) or b""), dtype=RECORD)
                        keep = records[records["time_us"] >= before_us]
                        pipe.multi()
                        if len(keep):
                            pipe.set(key, keep.tobytes())
                        else:
                            pipe.delete(key)
                        pipe.execute()
                    break
                except redis.WatchError:
                    continue
        for name, info in self.client.hscan_iter(self._tx, count=1000):
            if int(_bytes(info).rsplit(b",", 1)[1]) < before_us:
                removed += self.client.hdel(self._tx, name)
        return removed

    def loaded(self) -> dict[str, str]:
        stored = self.client.hgetall(f"{self.prefix}:loaded")
        return {_bytes(k).decode(): _bytes(v).decode() for k, v in stored.items()}

    def mark_loaded(self, day: str, content_hash: str) -> None:
        self.client.hset(f"{self.prefix}:loaded", day, content_hash)

    def close(self) -> None:
        self.client.close()
