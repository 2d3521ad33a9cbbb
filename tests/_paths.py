"""Where tests find the shared real data (../shared/data or $TSUNAGU_DATA_DIR)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

_ROOT = Path(__file__).resolve().parents[1]


def data_dir() -> Path | None:
    """Return the real-data folder, or None when it is not there."""
    env = os.environ.get("TSUNAGU_DATA_DIR")
    path = Path(env) if env else _ROOT.parent / "shared" / "data"
    return path if path.is_dir() else None


def require_data_dir() -> Path:
    """Return the real-data folder, or skip the test saying where it was looked for."""
    path = data_dir()
    if path is None:
        where = os.environ.get("TSUNAGU_DATA_DIR") or str(_ROOT.parent / "shared" / "data")
        pytest.skip(f"real data not found at {where}; set TSUNAGU_DATA_DIR to the shared data folder")
    return path
