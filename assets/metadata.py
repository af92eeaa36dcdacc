"""Metadata values the assets share."""

import base64

from dagster import MetadataValue


def image(title: str, png: bytes) -> MetadataValue:
    """A PNG shown inline in the UI (markdown with a data URI)."""
    return MetadataValue.md(f"![{title}](data:image/png;base64,{base64.b64encode(png).decode()})")
