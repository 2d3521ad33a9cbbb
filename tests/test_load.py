"""Bounded load test on loopback (the CI setting of benchmarks/load.py): zero errors.

Ten users browse the maps of 高梁市 while two others run analysis jobs, against a real
``tsunagu serve`` process; the figures in the issue note come from the full run
(``python3 benchmarks/load.py``: 50 users + 5 job users for 60 s).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import load  # noqa: E402


@pytest.mark.realdata
def test_bounded_load_has_no_errors(data_dir, capsys):
    alone, loaded, text = load.run(users=10, jobs=2, duration=8, baseline=2, think=0.5, data_dir=str(data_dir))
    print(text)
    assert not alone.errors and not loaded.errors, text
    assert loaded.jobs_done >= 1 and loaded.jobs_failed == 0, text
    for label in ("map /maps/tiers", "GeoJSON /tiers/{level}"):
        assert loaded.latencies.get(label), f"{label} was never requested under load:\n{text}"
