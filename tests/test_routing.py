"""Routing core: hand-made problems with known optimal routes, the independent checker, bad input."""

from __future__ import annotations

import copy
from dataclasses import replace

import numpy as np
import pytest

from gis.access import StraightLineEngine
from gis.errors import InputDataError
from gis.routing import (
    REASON_UNREACHABLE,
    Break,
    Location,
    RoutingProblem,
    Stop,
    Vehicle,
    check_plan,
    solve,
    travel_matrix,
    validate_problem,
)

H = 3600
DEPOT = Location(133.62, 34.79, "拠点")


def line_problem(windows=None, capacity=None, n_vehicles=1, demand=(0, 0, 0, 0), breaks=None, shift=(8 * H, 17 * H)):
    """Depot at km 0, stops A–D at km 1, 2, 3, 4 on a straight road (1 km = 120 s)."""
    km = np.array([0, 1, 2, 3, 4], dtype=float)
    dist = np.abs(km[:, None] - km[None, :]) * 1000
    dur = dist * 0.12
    windows = windows or [[] for _ in range(4)]
    stops = [Stop(sid, f"停留所{sid}", Location(133.62 + 0.01 * (k + 1), 34.79), 600, demand[k], list(windows[k]))
             for k, sid in enumerate("ABCD")]
    vehicles = [Vehicle(f"v{j}", f"{j + 1}号車", shift, capacity=capacity, breaks=list(breaks or []))
                for j in range(n_vehicles)]
    return RoutingProblem(DEPOT, stops, vehicles, dur, dist)


def random_problem(n=14, seed=3, vehicles=2, breaks=False):
    rng = np.random.default_rng(seed)
    stops = []
    for i in range(n):
        loc = Location(133.62 + rng.uniform(-0.05, 0.05), 34.79 + rng.uniform(-0.05, 0.05))
        win = [(9 * H, 12 * H)] if i % 3 == 0 else ([(13 * H, 16 * H)] if i % 3 == 1 else [])
        stops.append(Stop(f"s{i}", f"停留所{i}", loc, 900, demand=int(rng.integers(1, 6)), time_windows=win))
    dur, dist, note, _source = travel_matrix(StraightLineEngine(crs="EPSG:6673"), [DEPOT] + [s.location for s in stops],
                                    speed_kmh=30)
    brk = [Break((12 * H, 13 * H + 1800), 45 * 60)] if breaks else []
    veh = [Vehicle(f"v{j}", f"{j + 1}号車", (8 * H, 17 * H), capacity=30, breaks=list(brk)) for j in range(vehicles)]
    return RoutingProblem(DEPOT, stops, veh, dur, dist, note)


def order(plan):
    return [[v.stop_id for v in r.visits] for r in plan.routes]


# --------------------------------------------------------------------------- known optima

@pytest.mark.parametrize("solver", ["pyvrp", "vroom"])
def test_line_optimum_out_and_back(solver):
    prob = line_problem()
    plan = solve(prob, solver=solver, time_limit_s=1, workers=1, max_iterations=500)
    assert check_plan(prob, plan) == []
    assert plan.unassigned == []
    assert plan.distance_m == 8000  # out to km 4 and back (several visit orders reach it, e.g. ABCD, ABDC)
    assert sorted(order(plan)[0]) == list("ABCD")


@pytest.mark.parametrize("solver", ["pyvrp", "vroom"])
def test_time_windows_force_far_stop_first(solver):
    # D must be served before 8:30; A only after 10:00: the optimum serves D early and ends at A
    wins = [[(10 * H, 11 * H)], [], [], [(8 * H, 8 * H + 1800)]]
    prob = line_problem(windows=wins)
    plan = solve(prob, solver=solver, time_limit_s=1, workers=1, max_iterations=500)
    assert check_plan(prob, plan) == []
    seq = order(plan)[0]
    assert seq.index("D") < seq.index("A") and seq[-1] == "A"  # DCBA and CDBA both reach 8 km
    a = plan.routes[0].visits[-1]
    assert a.stop_id == "A" and a.start_s == 10 * H  # waits for A to open
    assert plan.distance_m == 8000


@pytest.mark.parametrize("solver", ["pyvrp", "vroom"])
def test_capacity_splits_into_two_routes(solver):
    # each stop 5 units, capacity 10: optimum {C, D} and {A, B} = 8 km + 4 km
    prob = line_problem(capacity=10, n_vehicles=2, demand=(5, 5, 5, 5))
    plan = solve(prob, solver=solver, time_limit_s=1, workers=1, max_iterations=500)
    assert check_plan(prob, plan) == []
    assert plan.distance_m == 12000
    assert sorted(sorted(r) for r in order(plan)) == [["A", "B"], ["C", "D"]]
    for r in plan.routes:
        assert r.visits[-1].load_after == 0


@pytest.mark.parametrize("solver", ["pyvrp", "vroom"])
def test_solved_plans_pass_the_independent_check(solver):
    prob = random_problem()
    plan = solve(prob, solver=solver, time_limit_s=1.5, seed=1)
    assert check_plan(prob, plan) == []
    assert plan.solver == solver
    served = {v.stop_id for r in plan.routes for v in r.visits}
    assert served | {s for s, _ in plan.unassigned} == {s.stop_id for s in prob.stops}
    assert plan.distance_m == sum(r.distance_m for r in plan.routes)


def test_pyvrp_two_parallel_searches_pass_check():
    prob = random_problem(n=18, seed=5)
    plan = solve(prob, solver="pyvrp", time_limit_s=1.5, workers=2, seed=0)
    assert check_plan(prob, plan) == []
    assert plan.unassigned == []


# --------------------------------------------------------------------------- vehicle types

@pytest.mark.parametrize("workers", [1, 2])
def test_identical_vehicles_are_one_pyvrp_type_and_routes_name_distinct_vehicles(workers):
    from gis.routing import _pyvrp_data

    # four 5-unit stops, capacity 5: every stop needs its own vehicle, so all four drive
    prob = line_problem(capacity=5, n_vehicles=4, demand=(5, 5, 5, 5))
    data = _pyvrp_data(prob, list(range(4)), all_required=True)[0]
    assert data.num_vehicle_types == 1
    assert data.vehicle_type(0).num_available == 4
    plan = solve(prob, solver="pyvrp", time_limit_s=2, workers=workers, max_iterations=300)
    assert plan.solver == "pyvrp"
    assert check_plan(prob, plan) == []
    assert plan.unassigned == []
    ids = [r.vehicle_id for r in plan.routes]
    assert sorted(ids) == ["v0", "v1", "v2", "v3"]
    assert sorted(order(plan)) == [["A"], ["B"], ["C"], ["D"]]


def test_different_vehicles_keep_their_own_types_and_routes():
    from gis.routing import _pyvrp_data

    # v0, v1 small (capacity 5), v2 large (capacity 10): the large one must take two stops
    prob = line_problem(capacity=5, n_vehicles=3, demand=(5, 5, 5, 5))
    prob.vehicles[2] = replace(prob.vehicles[2], capacity=10)
    data = _pyvrp_data(prob, list(range(4)), all_required=True)[0]
    assert [data.vehicle_type(t).num_available for t in range(data.num_vehicle_types)] == [2, 1]
    plan = solve(prob, solver="pyvrp", time_limit_s=2, workers=2, max_iterations=300)
    assert check_plan(prob, plan) == []
    assert plan.unassigned == []
    assert sorted(r.vehicle_id for r in plan.routes) == ["v0", "v1", "v2"]
    assert len(plan.route_of("v2").visits) == 2
    assert all(len(plan.route_of(v).visits) == 1 for v in ("v0", "v1"))


# --------------------------------------------------------------------------- breaks

def test_lunch_break_is_honoured_vroom():
    lunch = Break((12 * H, 13 * H), 3600)  # exactly 12:00–13:00
    wins = [[(11 * H, 14 * H)], [(11 * H + 1800, 14 * H)], [(12 * H - 600, 15 * H)], [(9 * H, 15 * H)]]
    prob = line_problem(windows=wins, breaks=[lunch])
    plan = solve(prob, time_limit_s=1)  # auto → vroom because of the break
    assert plan.solver == "vroom"
    assert check_plan(prob, plan) == []
    assert plan.routes[0].breaks == [(12 * H, 13 * H)]
    for v in plan.routes[0].visits:
        assert v.departure_s <= 12 * H or v.start_s >= 13 * H


def test_breaks_on_random_problem_pass_check():
    prob = random_problem(breaks=True)
    plan = solve(prob, solver="pyvrp", time_limit_s=1)  # falls back to VROOM and says so
    assert plan.solver == "vroom" and any("休憩" in n for n in plan.notes)
    assert check_plan(prob, plan) == []
    assert all(len(r.breaks) == 1 for r in plan.routes)


# --------------------------------------------------------------------------- the checker is tested

@pytest.fixture(scope="module")
def good():
    prob = line_problem(capacity=20, demand=(5, 5, 5, 5), breaks=[Break((12 * H, 14 * H), 1800)],
                        windows=[[(9 * H, 16 * H)]] * 4)
    plan = solve(prob, solver="vroom", time_limit_s=1)
    assert check_plan(prob, plan) == []
    return prob, plan


def broken(good, edit):
    prob, plan = copy.deepcopy(good)
    edit(prob, plan)
    return check_plan(prob, plan)


def test_check_catches_time_window(good):
    def edit(prob, plan):
        prob.stops[0].time_windows = [(15 * H, 16 * H)]
    assert any("時間帯" in m and "A" in m for m in broken(good, edit))


def test_check_catches_too_fast_travel(good):
    def edit(prob, plan):
        v = plan.routes[0].visits[1]
        plan.routes[0].visits[1] = replace(v, arrival_s=v.arrival_s - 600, start_s=v.start_s - 600)
    msgs = broken(good, edit)
    assert any("間に合いません" in m or "早い" in m for m in msgs)


def test_check_catches_capacity(good):
    def edit(prob, plan):
        prob.vehicles[0].capacity = 12
    assert any("積載" in m for m in broken(good, edit))


def test_check_catches_shift_end_and_start(good):
    def edit(prob, plan):
        prob.vehicles[0].shift = (plan.routes[0].start_s + 60, plan.routes[0].end_s - 60)
    msgs = broken(good, edit)
    assert any("勤務開始" in m for m in msgs) and any("勤務終了" in m for m in msgs)


def test_check_catches_return_too_early(good):
    def edit(prob, plan):
        plan.routes[0].end_s = plan.routes[0].visits[-1].departure_s + 1
    assert any("帰着" in m for m in broken(good, edit))


def test_check_catches_break_problems(good):
    def missing(prob, plan):
        plan.routes[0].breaks = []
    assert any("休憩" in m for m in broken(good, missing))

    def short(prob, plan):
        bs, be = plan.routes[0].breaks[0]
        plan.routes[0].breaks = [(bs, bs + 600)]
    assert any("足りません" in m for m in broken(good, short))

    def outside(prob, plan):
        plan.routes[0].breaks = [(8 * H, 8 * H + 1800)]
    assert any("時間帯" in m and "休憩" in m for m in broken(good, outside))

    def overlap(prob, plan):
        v = plan.routes[0].visits[0]
        prob.vehicles[0].breaks = [Break((v.start_s, v.start_s + 3600), 1800)]
        plan.routes[0].breaks = [(v.start_s, v.start_s + 1800)]
    assert any("重なって" in m for m in broken(good, overlap))


def test_check_catches_double_visit_and_silent_drop(good):
    def twice(prob, plan):
        plan.routes[0].visits.append(copy.deepcopy(plan.routes[0].visits[-1]))
    assert any("2 回訪問" in m for m in broken(good, twice))

    def dropped(prob, plan):
        plan.routes[0].visits.pop()
    msgs = broken(good, dropped)
    assert any("黙って落とされて" in m for m in msgs)

    def both(prob, plan):
        plan.unassigned.append((plan.routes[0].visits[0].stop_id, "理由"))
    assert any("未割当にも" in m for m in broken(good, both))


def test_check_catches_short_service(good):
    def edit(prob, plan):
        v = plan.routes[0].visits[0]
        plan.routes[0].visits[0] = replace(v, departure_s=v.start_s + 60)
    assert any("滞在" in m for m in broken(good, edit))


# --------------------------------------------------------------------------- bad input

def test_window_closing_before_opening_names_stop():
    prob = line_problem(windows=[[], [(11 * H, 10 * H)], [], []])
    with pytest.raises(InputDataError, match="停留所B"):
        validate_problem(prob)


def test_window_outside_working_hours_names_stop():
    prob = line_problem(windows=[[], [], [(19 * H, 20 * H)], []])
    with pytest.raises(InputDataError, match="停留所C.*勤務時間"):
        solve(prob, time_limit_s=1)


def test_zero_vehicles():
    prob = line_problem()
    prob.vehicles = []
    with pytest.raises(InputDataError, match="車両が0台"):
        solve(prob, time_limit_s=1)


def test_outside_japan_names_stop():
    prob = line_problem()
    prob.stops[3].location = Location(34.79, 133.62)  # swapped
    with pytest.raises(InputDataError, match="停留所D.*日本の範囲外"):
        validate_problem(prob)


def test_duplicate_stop_ids():
    prob = line_problem()
    prob.stops[2].stop_id = "A"
    with pytest.raises(InputDataError, match="重複.*A"):
        validate_problem(prob)


def test_duplicate_name_and_place_is_a_note():
    prob = line_problem()
    prob.stops[1].name = prob.stops[0].name
    prob.stops[1].location = prob.stops[0].location
    check = validate_problem(prob)
    assert any("同じ名前・座標" in n and "A" in n and "B" in n for n in check.notes)


def test_matrix_shape_mismatch():
    prob = line_problem()
    prob.durations_s = prob.durations_s[:4, :4]
    with pytest.raises(InputDataError, match="行列"):
        validate_problem(prob)


@pytest.mark.parametrize("solver", ["pyvrp", "vroom"])
def test_demand_above_capacity_gives_partial_plan(solver):
    prob = line_problem(capacity=10, demand=(2, 50, 2, 2))
    plan = solve(prob, solver=solver, time_limit_s=1, workers=1, max_iterations=300)
    assert [s for s, _ in plan.unassigned] == ["B"]
    assert "積載量" in plan.unassigned[0][1] and "50" in plan.unassigned[0][1]
    assert sorted(v.stop_id for r in plan.routes for v in r.visits) == ["A", "C", "D"]
    assert check_plan(prob, plan) == []


@pytest.mark.parametrize("solver", ["pyvrp", "vroom"])
def test_fleet_too_small_lists_the_rest_with_a_reason(solver):
    # four 5-unit stops, one vehicle of capacity 10: two must be left out, with a reason
    prob = line_problem(capacity=10, demand=(5, 5, 5, 5))
    plan = solve(prob, solver=solver, time_limit_s=1, workers=1, max_iterations=300)
    assert check_plan(prob, plan) == []
    assert len(plan.unassigned) == 2 and all(r for _, r in plan.unassigned)
    assert sorted(order(plan)[0]) == ["A", "B"]  # the cheaper pair


def test_unreachable_stop_is_unassigned_not_a_crash():
    prob = line_problem()
    prob.durations_s[0, 3] = prob.durations_s[3, 0] = np.nan
    prob.distances_m[0, 3] = prob.distances_m[3, 0] = np.nan
    plan = solve(prob, time_limit_s=1, workers=1, max_iterations=300)
    assert plan.unassigned == [("C", REASON_UNREACHABLE)]
    assert check_plan(prob, plan) == []


def test_window_too_early_to_reach_is_explained():
    # D (8 min away) must start by 8:05 but the shift starts at 8:00
    prob = line_problem(windows=[[], [], [], [(7 * H, 8 * H + 300)]])
    plan = solve(prob, solver="vroom", time_limit_s=1)
    assert [s for s, _ in plan.unassigned] == ["D"]
    assert "時間帯" in plan.unassigned[0][1]


# --------------------------------------------------------------------------- determinism, matrices

@pytest.mark.parametrize("solver", ["pyvrp", "vroom"])
def test_deterministic_given_seed(solver):
    prob = random_problem(n=16, seed=7)
    a = solve(prob, solver=solver, seed=4, time_limit_s=5, workers=2, max_iterations=400)
    b = solve(prob, solver=solver, seed=4, time_limit_s=5, workers=2, max_iterations=400)
    assert order(a) == order(b) and a.distance_m == b.distance_m
    assert [r.visits for r in a.routes] == [r.visits for r in b.routes]


def test_travel_matrix_straight_line_times_circuity():
    eng = StraightLineEngine(crs="EPSG:6673")
    pts = [DEPOT, Location(133.63, 34.79), Location(133.62, 34.80)]
    dur, dist, note, _source = travel_matrix(eng, pts, speed_kmh=36, circuity=1.5)
    straight = eng.within(*(2 * [__import__("geopandas").GeoDataFrame(
        geometry=__import__("geopandas").points_from_xy([p.lon for p in pts], [p.lat for p in pts]), crs="EPSG:4326")]),
        max_distance_m=1e9)
    d01 = straight[(straight.origin == 0) & (straight.facility == 1)].distance_m.iloc[0]
    assert dist[0, 1] == pytest.approx(round(d01 * 1.5))
    assert dur[0, 1] == pytest.approx(round(dist[0, 1] / 10))  # 36 km/h = 10 m/s
    assert dist[1, 1] == 0 and np.allclose(dist, dist.T, atol=1)
    assert "迂回係数1.5" in note and "時速36km" in note


def test_travel_matrix_refuses_bad_speed():
    with pytest.raises(InputDataError, match="速度"):
        travel_matrix(StraightLineEngine(crs="EPSG:6673"), [DEPOT], speed_kmh=0)


def _one_big_or_two_small(small_value: float):
    """3 h shift: a 2-hour stop B (value 30) at km 3, or two 1-hour stops at km 1 and 2 — not all three."""
    p = line_problem(shift=(9 * H, 12 * H))
    a, b, c, _d = p.stops
    a.service_s = b.service_s = H
    c.service_s = 2 * H
    a.value = b.value = small_value
    c.value = 30.0
    p.stops = [a, b, c]
    p.durations_s = p.durations_s[:4, :4]
    p.distances_m = p.distances_m[:4, :4]
    return p


@pytest.mark.parametrize("solver,workers", [("pyvrp", 1), ("pyvrp", 2), ("vroom", 1)])
def test_values_are_prizes_one_stop_of_30_beats_two_of_10(solver, workers):
    """Prize-collecting: the solver keeps the most value, not the most stops (issue 13)."""
    p = _one_big_or_two_small(10.0)
    plan = solve(p, solver=solver, time_limit_s=1, seed=0, workers=workers)
    assert check_plan(p, plan) == []
    assert order(plan) == [["C"]]
    assert sorted(sid for sid, _ in plan.unassigned) == ["A", "B"]
    # proportional, not a ranking: two stops of 16 are worth more than one of 30
    p = _one_big_or_two_small(16.0)
    plan = solve(p, solver=solver, time_limit_s=1, seed=0, workers=workers)
    assert check_plan(p, plan) == []
    assert sorted(sum(order(plan), [])) == ["A", "B"]
    assert [sid for sid, _ in plan.unassigned] == ["C"]
