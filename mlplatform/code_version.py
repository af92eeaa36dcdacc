"""The version of the code that runs: recorded with every publication and every trained model."""

from __future__ import annotations

import subprocess
from functools import cache
from pathlib import Path


@cache
def code_version() -> str:
    """The git commit of the checkout this package runs from ('unknown' outside a checkout)."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).parent,
            capture_output=True,
            text=True,
            check=True,
            timeout=5,
        )
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
