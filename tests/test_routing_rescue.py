"""The second search's VROOM rescue when the fleet is tight (gis.routing._pyvrp_rescue_worker).

On Solomon R102 with its best-known fleet (17 vehicles) PyVRP's first plan leaves customers
without a vehicle in time; with the rescue due at once, VROOM is asked, and whatever the search
ends with passes the independent checker.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path

import pytest

import gis.routing as routing
from gis.routing import check_plan, solve

_VRPTW = Path(os.environ.get("TSUNAGU_DATA_DIR", Path(__file__).resolve().parents[2] / "shared" / "data")) / "benchmarks" / "vrptw"


def _bench():
    spec = importlib.util.spec_from_file_location("vrptw_bench", Path(__file__).resolve().parents[1] / "benchmarks" / "vrptw.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("vrptw_bench", mod)  # its dataclasses look their module up
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def r102():
    path = _VRPTW / "solomon" / "R102.txt"
    if not path.exists():
        pytest.skip(f"Solomon R102 not found under {_VRPTW} (set TSUNAGU_DATA_DIR)")
    bench = _bench()
    fleet = json.loads((_VRPTW / "BKS.json").read_text())["R102"]["solved_with_vehicles"]
    prob, _real = bench.to_problem(bench.read_solomon(path), fleet)
    return prob


def test_no_feasible_by_fires_only_for_an_infeasible_best_after_its_time(monkeypatch):
    clock = [100.0]
    monkeypatch.setattr(routing.time, "perf_counter", lambda: clock[0])
    crit = routing._NoFeasibleBy(2.0)
    assert crit(routing._INFEASIBLE_COST) is False  # infeasible, but too early
    clock[0] = 103.0
    assert crit(12345) is False  # late, but a plan serving everyone exists
    assert crit.fired is False
    assert crit(routing._INFEASIBLE_COST) is True
    assert crit.fired is True


def test_rescue_asks_vroom_when_no_plan_serves_everyone(r102, monkeypatch):
    monkeypatch.setattr(routing, "RESCUE_AT", 0.0)  # due at once: PyVRP's first plan is infeasible
    active = list(range(len(r102.stops)))
    full = routing._pyvrp_data(r102, active, all_required=True)
    vroom_plan, (_key, routes, feasible, tag) = routing._pyvrp_rescue_worker((r102, active, full, 1.5, 1, None, None))
    assert vroom_plan is not None, "the rescue did not ask VROOM"
    vroom_routes, vroom_left = vroom_plan
    assert sum(len(seq) for _, seq, _ in vroom_routes) + len(vroom_left) == len(active)
    assert tag == 1
    assert sum(len(c) for _, c in routes) == len(active)  # every customer is on a route (maybe late)


def test_no_rescue_when_the_fleet_is_ample(monkeypatch):
    bench = _bench()
    path = _VRPTW / "solomon" / "R102.txt"
    if not path.exists():
        pytest.skip(f"Solomon R102 not found under {_VRPTW}")
    prob, _ = bench.to_problem(bench.read_solomon(path), 25)  # the file's 25 vehicles: a plan at once
    monkeypatch.setattr(routing, "RESCUE_AT", 0.5)
    active = list(range(len(prob.stops)))
    full = routing._pyvrp_data(prob, active, all_required=True)
    vroom_plan, (_key, _routes, feasible, _tag) = routing._pyvrp_rescue_worker((prob, active, full, 1.0, 1, None, None))
    assert vroom_plan is None
    assert feasible


def test_solve_with_tight_fleet_and_rescue_passes_the_check(r102, monkeypatch):
    monkeypatch.setattr(routing, "RESCUE_AT", 0.0)
    plan = solve(r102, solver="pyvrp", time_limit_s=3.0, seed=0, workers=2, no_improvement=None)
    assert check_plan(r102, plan) == []
    served = {v.stop_id for r in plan.routes for v in r.visits}
    assert served | {s for s, _ in plan.unassigned} == {s.stop_id for s in r102.stops}
    assert len(plan.routes) <= 17
