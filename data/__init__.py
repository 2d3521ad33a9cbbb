"""The source manifest: where each dataset comes from, its licence and attribution (sources.toml)."""

from __future__ import annotations

import tomllib
from functools import cache
from importlib import resources


@cache
def manifest() -> dict[str, dict]:
    """Return the datasets of ``sources.toml`` keyed by name (small_areas, municipalities...)."""
    text = (resources.files("data") / "sources.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)["sources"]


def attributions(*keys: str) -> list[str]:
    """Attribution lines for the given datasets (all when none given), without repeats."""
    sources = manifest()
    lines = [sources[k]["attribution"] for k in (keys or sources)]
    return list(dict.fromkeys(lines))


def download_pages() -> dict[str, str]:
    """Official download page of each dataset, for messages when a file is missing."""
    return {k: v["download"] for k, v in manifest().items() if "download" in v}
