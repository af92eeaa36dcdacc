"""No tool phones home: the switches of `telemetry.env` applied to this process (and its children)."""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

SWITCHES_FILE = Path(__file__).with_name("telemetry.env")


@cache
def switches() -> dict[str, str]:
    lines = (line.strip() for line in SWITCHES_FILE.read_text().splitlines())
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


def off() -> None:
    """Sets every switch, overriding the caller's environment; call before the tools are imported."""
    os.environ.update(switches())
