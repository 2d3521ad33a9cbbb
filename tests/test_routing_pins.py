"""Re-planning a day with pinned visits: appointments keep their vehicle and time (issue 10)."""

from __future__ import annotations

import copy
from dataclasses import replace

import pytest

from gis.errors import InputDataError
from gis.routing import Break, Pin, check_plan, replan_problem, solve
from test_routing import H, line_problem, random_problem

SOLVERS = [("pyvrp", False), ("vroom", True)]  # PyVRP without breaks, VROOM with a lunch break


def _where(plan):
    return {x.stop_id: (r.vehicle_id, x.start_s) for r in plan.routes for x in r.visits}


@pytest.mark.parametrize("solver,breaks", SOLVERS)
def test_replan_after_a_cancellation_keeps_three_pinned_visits_at_their_times(solver, breaks):
    """Two visits cancelled, three appointments pinned (on both vehicles): the re-plan keeps them."""
    p = random_problem(n=16, seed=5, vehicles=2, breaks=breaks)
    plan = solve(p, solver=solver, time_limit_s=1, seed=0, workers=1)
    assert check_plan(p, plan) == [] and not plan.unassigned
    r0, r1 = plan.routes
    pinned = [r0.visits[-1].stop_id, r1.visits[1].stop_id, r1.visits[-1].stop_id]
    cancelled = [r0.visits[0].stop_id, r0.visits[1].stop_id]
    q = replan_problem(p, plan, cancelled=cancelled, pinned=pinned, tolerance_s=5 * 60)
    assert {s.stop_id for s in q.stops} == {s.stop_id for s in p.stops} - set(cancelled)
    new = solve(q, solver=solver, time_limit_s=1, seed=1, workers=1)
    assert check_plan(q, new) == []
    before, after = _where(plan), _where(new)
    for sid in pinned:
        assert after[sid][0] == before[sid][0], f"{sid} moved to another vehicle"
        assert abs(after[sid][1] - before[sid][1]) <= 5 * 60, f"{sid} moved from its appointment time"
    assert not set(cancelled) & set(after)
    assert set(after) | {sid for sid, _ in new.unassigned} == {s.stop_id for s in q.stops}


@pytest.mark.parametrize("solver,breaks", SOLVERS)
def test_a_pin_puts_the_visit_on_the_named_vehicle_at_its_time(solver, breaks):
    """One vehicle could serve the whole line; pins send A to v1 and B to v0, both at exactly 9:00."""
    p = line_problem(n_vehicles=2, breaks=[Break((12 * H, 14 * H), 1800)] if breaks else None)
    a, b, c, d = p.stops
    p.stops = [replace(a, pin=Pin("v1", 9 * H, 0)), replace(b, pin=Pin("v0", 9 * H, 0)), c, d]
    plan = solve(p, solver=solver, time_limit_s=1, seed=0, workers=1)
    assert check_plan(p, plan) == [] and not plan.unassigned
    where = _where(plan)
    assert where["A"] == ("v1", 9 * H) and where["B"] == ("v0", 9 * H)
    assert plan.solver == solver  # the pin is in the solver's own model, not a fallback


@pytest.mark.parametrize("solver,breaks", SOLVERS)
def test_two_appointments_at_once_on_one_vehicle_one_is_listed_with_the_reason(solver, breaks):
    p = line_problem(n_vehicles=2)
    a, b, c, d = p.stops
    p.stops = [replace(a, pin=Pin("v0", 10 * H, 0)), replace(d, pin=Pin("v0", 10 * H, 0)), b, c]
    plan = solve(p, solver=solver, time_limit_s=1, seed=0, workers=1)
    assert check_plan(p, plan) == []
    assert len(plan.unassigned) == 1
    sid, why = plan.unassigned[0]
    assert sid in {"A", "D"} and "予約（1号車、10:00±0分）" in why and "重なる" in why
    kept = next(s for s in ("A", "D") if s != sid)
    assert _where(plan)[kept] == ("v0", 10 * H)


# --------------------------------------------------------------------------- the checker catches broken pins

@pytest.fixture(scope="module")
def pinned_plan():
    p = line_problem(n_vehicles=2)
    a, b, c, d = p.stops
    p.stops = [replace(a, pin=Pin("v1", 9 * H, 60)), b, c, d]
    plan = solve(p, solver="vroom", time_limit_s=1)
    assert check_plan(p, plan) == []
    return p, plan


def test_check_catches_a_pinned_visit_on_another_vehicle(pinned_plan):
    p, plan = copy.deepcopy(pinned_plan)
    for r in plan.routes:
        if r.vehicle_id == "v1":
            r.vehicle_id = "v0"
    plan.routes = [r for r in plan.routes if r.visits]
    if len(plan.routes) == 2:  # both vehicles used: swap their ids
        plan.routes[1].vehicle_id = "v1"
    found = check_plan(p, plan)
    assert any("予約は「2号車」の訪問です" in m and "（A）" in m for m in found), found


def test_check_catches_a_pinned_visit_off_its_time(pinned_plan):
    p, plan = copy.deepcopy(pinned_plan)
    # the same route, but the appointment moved 30 minutes later than pinned (±1 min)
    p.stops[0] = replace(p.stops[0], pin=Pin("v1", 9 * H - 30 * 60, 60))
    found = check_plan(p, plan)
    assert any("予約時刻 8:30（±1分）から外れています" in m and "（A）" in m for m in found), found


def test_check_catches_a_pinned_visit_dropped_silently(pinned_plan):
    p, plan = copy.deepcopy(pinned_plan)
    p.stops[0] = replace(p.stops[0], required=False)  # pinned: still must be visited or listed
    for r in plan.routes:
        r.visits = [x for x in r.visits if x.stop_id != "A"]
    assert any("黙って落とされています" in m and "A" in m for m in check_plan(p, plan))


def test_pins_refused_with_a_clear_message():
    p = line_problem(n_vehicles=1)
    p.stops[0] = replace(p.stops[0], pin=Pin("nobody", 9 * H))
    with pytest.raises(InputDataError, match="予約の車両・担当「nobody」がいません"):
        solve(p, time_limit_s=1)
    p.stops[0] = replace(p.stops[0], pin=Pin("v0", 20 * H))
    with pytest.raises(InputDataError, match="勤務時間 8:00–17:00 の外です"):
        solve(p, time_limit_s=1)
    q = line_problem(n_vehicles=1)
    plan = solve(q, solver="vroom", time_limit_s=1)
    with pytest.raises(InputDataError, match="この日の計画にありません"):
        replan_problem(q, plan, pinned=["Z"])
    with pytest.raises(InputDataError, match="取り消しと固定の両方"):
        replan_problem(q, plan, pinned=["A"], cancelled=["A"])
