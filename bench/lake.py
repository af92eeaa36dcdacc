"""LocalLake: commit and merge of 1,000 changed files, against copying a directory snapshot."""

import os
import shutil
import tempfile
import time
from pathlib import Path

from mlplatform.lake import MAIN, LocalLake

FILE_SIZE = 64 * 1024


def main(quick: bool = False) -> None:
    n = 200 if quick else 1_000
    with tempfile.TemporaryDirectory() as tmp:
        lake = LocalLake(Path(tmp) / "lake")
        payloads = [os.urandom(FILE_SIZE) for _ in range(n)]
        # A main with n existing files, then a branch that changes all of them.
        for i, data in enumerate(payloads):
            lake.put(MAIN, f"tables/t/date={i:05d}/data.parquet", data)
        lake.commit(MAIN, "base")
        lake.create_branch("runs/bench", MAIN)

        started = time.perf_counter()
        for i in range(n):
            lake.put("runs/bench", f"tables/t/date={i:05d}/data.parquet", os.urandom(FILE_SIZE))
        write_s = time.perf_counter() - started
        started = time.perf_counter()
        lake.commit("runs/bench", f"{n} changed files")
        commit_s = time.perf_counter() - started
        started = time.perf_counter()
        lake.merge("runs/bench", MAIN, "publish")
        merge_s = time.perf_counter() - started

        # The obvious alternative: version by copying the dataset folder (snapshot per publish).
        plain = Path(tmp) / "plain" / "v1"
        for i, data in enumerate(payloads):
            path = plain / f"date={i:05d}" / "data.parquet"
            path.parent.mkdir(parents=True)
            path.write_bytes(data)
        started = time.perf_counter()
        shutil.copytree(plain, plain.parent / "v2")
        copy_s = time.perf_counter() - started

    mib = n * FILE_SIZE / 2**20
    print(f"{n} changed files of {FILE_SIZE // 1024} KiB ({mib:.0f} MiB)")
    print(f"  write to branch   {write_s * 1000:8.1f} ms")
    print(f"  commit            {commit_s * 1000:8.1f} ms")
    print(f"  merge into main   {merge_s * 1000:8.1f} ms")
    print(f"  snapshot by copy  {copy_s * 1000:8.1f} ms  (commit+merge is {copy_s / (commit_s + merge_s):.1f}x faster)")
