"""DuckDB connections configured for this platform: no network, no progress bar."""

from __future__ import annotations

import duckdb


def connect(
    database: str = ":memory:", memory_limit: str | None = None, threads: int | None = None
) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(database)
    # Extensions come from their PyPI wheels, never downloaded at run time.
    con.execute("set autoinstall_known_extensions = false")
    con.execute("set autoload_known_extensions = false")
    con.execute("set enable_progress_bar = false")
    if memory_limit:
        con.execute(f"set memory_limit = '{memory_limit}'")
    if threads:
        con.execute(f"set threads = {int(threads)}")
    return con
