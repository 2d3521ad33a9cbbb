"""Constraints CSWs and trucks have (issue 10): own start/end places, fixed cost per vehicle-day, skills.

Each constraint is checked in both solvers where they support it, and the independent checker
is shown plans that break it.
"""

from __future__ import annotations

import copy
from dataclasses import replace

import numpy as np
import pytest

from gis.errors import InputDataError
from gis.routing import (
    REASON_OPTIONAL,
    Location,
    Pin,
    RoutingProblem,
    Stop,
    Vehicle,
    check_plan,
    continuity_skill,
    solve,
)

H = 3600
SOLVERS = ["pyvrp", "vroom"]


def km_problem(stop_km, place_km=(), n_vehicles=1, shift=(8 * H, 17 * H), service_s=600, required=True,
               vehicles=None):
    """Depot at km 0, stops and places at the given km on one straight road (1 km = 120 s).

    Matrix order: depot, stops (S0, S1, ...), places (P0, P1, ...).
    """
    km = np.array([0.0, *stop_km, *place_km])
    dist = np.abs(km[:, None] - km[None, :]) * 1000
    dur = dist * 0.12
    loc = lambda x: Location(133.62 + 0.01 * x, 34.79)  # noqa: E731
    stops = [Stop(f"S{k}", f"停留所{k}", loc(x), service_s, required=required) for k, x in enumerate(stop_km)]
    places = [Location(loc(x).lon, loc(x).lat, f"発着地{k}") for k, x in enumerate(place_km)]
    if vehicles is None:
        vehicles = [Vehicle(f"v{j}", f"{j + 1}号車", shift) for j in range(n_vehicles)]
    return RoutingProblem(Location(133.62, 34.79, "拠点"), stops, vehicles, dur, dist, places=places)


def where(plan):
    return {x.stop_id: r.vehicle_id for r in plan.routes for x in r.visits}


# --------------------------------------------------------------------------- own start and end places

@pytest.mark.parametrize("solver", SOLVERS)
def test_a_csw_leaving_from_home_starts_at_the_nearest_visit_and_ends_at_the_centre(solver):
    """Home at km 10, visits at km 1–4, back to the centre at km 0: 10 km, the far visit first."""
    p = km_problem([1, 2, 3, 4], place_km=[10])
    p.vehicles[0] = replace(p.vehicles[0], start=0)
    plan = solve(p, solver=solver, time_limit_s=1, workers=1, max_iterations=500)
    assert check_plan(p, plan) == [] and not plan.unassigned
    (r,) = plan.routes
    assert (r.start_place, r.end_place) == (0, None)
    assert [x.stop_id for x in r.visits] == ["S3", "S2", "S1", "S0"]
    assert plan.distance_m == 10_000
    assert r.visits[0].arrival_s == r.start_s + 6 * 120  # 6 km from home


@pytest.mark.parametrize("solver", SOLVERS)
def test_multi_depot_trucks_each_serve_the_stops_near_their_own_shop(solver):
    """Shops at km −5 and +9; stops at −4, −3 and +7, +8: each truck serves its side, 8 km in all."""
    p = km_problem([-4, -3, 7, 8], place_km=[-5, 9], n_vehicles=2)
    p.vehicles = [replace(p.vehicles[0], start=0, end=0), replace(p.vehicles[1], start=1, end=1)]
    plan = solve(p, solver=solver, time_limit_s=1, workers=1, max_iterations=500)
    assert check_plan(p, plan) == [] and not plan.unassigned
    assert where(plan) == {"S0": "v0", "S1": "v0", "S2": "v1", "S3": "v1"}
    assert plan.distance_m == 8_000
    assert plan.solver == solver


def test_all_required_two_searches_with_own_places():
    """The two-core search (every stop required, workers=2) uses the places too."""
    p = km_problem([-4, -3, 7, 8], place_km=[-5, 9], n_vehicles=2)
    p.vehicles = [replace(p.vehicles[0], start=0, end=0), replace(p.vehicles[1], start=1, end=1)]
    plan = solve(p, solver="pyvrp", time_limit_s=1, workers=2, max_iterations=300)
    assert check_plan(p, plan) == [] and plan.distance_m == 8_000


def test_check_catches_a_route_that_starts_at_the_depot_instead_of_home():
    p = km_problem([1, 2, 3, 4], place_km=[10])
    plan = solve(p, solver="vroom", time_limit_s=1)  # planned from the depot
    assert check_plan(p, plan) == []
    home = copy.deepcopy(p)
    home.vehicles[0] = replace(home.vehicles[0], start=0)
    found = check_plan(home, plan)
    assert any("出発地が「拠点」ですが" in m and "「発着地0」です" in m for m in found), found
    # the same route claiming to start from home: the times and distance do not add up from there
    lying = copy.deepcopy(plan)
    lying.routes[0].start_place = 0
    found = check_plan(home, lying)
    assert not any("出発地" in m for m in found)
    assert any("間に合いません" in m for m in found), found
    assert any("行列から計算した" in m for m in found), found


def test_check_catches_a_truck_ending_at_another_shop():
    p = km_problem([-4, -3, 7, 8], place_km=[-5, 9], n_vehicles=2)
    p.vehicles = [replace(p.vehicles[0], start=0, end=0), replace(p.vehicles[1], start=1, end=1)]
    plan = solve(p, solver="vroom", time_limit_s=1)
    assert check_plan(p, plan) == []
    bad = copy.deepcopy(plan)
    bad.routes[0].end_place = 1
    assert any("到着地が「発着地1」ですが" in m for m in check_plan(p, bad))


def test_places_are_validated_with_clear_messages():
    p = km_problem([1, 2], place_km=[10])
    p.vehicles[0] = replace(p.vehicles[0], start=3)
    with pytest.raises(InputDataError, match=r"出発地 3 が地点一覧（places、1か所）にありません"):
        solve(p, time_limit_s=1)
    q = km_problem([1, 2], place_km=[10])
    q.durations_s = q.durations_s[:3, :3]  # matrices without the place
    with pytest.raises(InputDataError, match=r"拠点1＋停留所2＋発着地1＝4×4 が必要です"):
        solve(q, time_limit_s=1)
    r = km_problem([1, 2], place_km=[10])
    r.places[0] = Location(34.79, 133.62, "自宅")  # longitude and latitude swapped
    with pytest.raises(InputDataError, match="発着地「自宅」の座標"):
        solve(r, time_limit_s=1)


def test_a_stop_unreachable_from_a_vehicles_own_start_is_reported():
    p = km_problem([1, 2], place_km=[10])
    p.vehicles[0] = replace(p.vehicles[0], start=0)
    p.durations_s = p.durations_s.copy()
    p.durations_s[3, 2] = np.nan  # from home to S1: no road
    plan = solve(p, solver="vroom", time_limit_s=1)
    assert ("S1", "道路網で到達できません") in plan.unassigned
    assert check_plan(p, plan) == []


# --------------------------------------------------------------------------- fixed cost per vehicle-day

def two_far_clusters(fixed_cost):
    """Required stops at km +20, optional ones at km −20; a 3-hour shift reaches only one side.

    One vehicle must go out for the required stops; a second one would add the four optional
    stops (each worth about one leg of travel, a few ten km in all).
    """
    p = km_problem([20, 20.5, 21, 21.5, -20, -20.5, -21, -21.5], n_vehicles=2, shift=(8 * H, 11 * H))
    p.stops[4:] = [replace(s, required=False) for s in p.stops[4:]]
    p.vehicles = [replace(v, fixed_cost=fixed_cost) for v in p.vehicles]
    return p


@pytest.mark.parametrize("fixed_cost,n_routes,n_served", [(0, 2, 8), (1_000_000, 1, 4)])
def test_a_second_vehicle_is_used_only_when_its_stops_outweigh_its_fixed_cost(fixed_cost, n_routes, n_served):
    p = two_far_clusters(fixed_cost)
    plan = solve(p, solver="pyvrp", time_limit_s=2, workers=1, max_iterations=2000)
    assert check_plan(p, plan) == []
    assert plan.solver == "pyvrp"
    assert len(plan.routes) == n_routes
    assert sum(len(r.visits) for r in plan.routes) == n_served
    assert plan.fixed_cost == fixed_cost * n_routes
    assert all(why == REASON_OPTIONAL for _, why in plan.unassigned) and len(plan.unassigned) == 8 - n_served
    assert {x.stop_id for r in plan.routes for x in r.visits} >= {"S0", "S1", "S2", "S3"}


@pytest.mark.parametrize("solver", SOLVERS)
def test_the_vehicle_without_a_fixed_cost_does_the_day(solver):
    """One vehicle suffices; 1号車 costs 100 km-equivalents to take out, 2号車 nothing."""
    p = km_problem([1, 2, 3, 4], n_vehicles=2)
    p.vehicles[0] = replace(p.vehicles[0], fixed_cost=100_000)
    plan = solve(p, solver=solver, time_limit_s=1, workers=1, max_iterations=500)
    assert check_plan(p, plan) == [] and not plan.unassigned
    assert [r.vehicle_id for r in plan.routes] == ["v1"]
    assert plan.fixed_cost == 0


def test_check_catches_a_wrong_fixed_cost_total():
    p = km_problem([1, 2, 3, 4], n_vehicles=2)
    p.vehicles = [replace(v, fixed_cost=5_000) for v in p.vehicles]
    plan = solve(p, solver="vroom", time_limit_s=1)
    assert check_plan(p, plan) == [] and plan.fixed_cost == 5_000
    plan.fixed_cost = 0  # the second... or any vehicle's fixed cost left out
    assert any("固定費の合計 0 が、使った車両の固定費から計算した 5000 と違います" in m for m in check_plan(p, plan))


def test_negative_fixed_cost_refused():
    p = km_problem([1, 2])
    p.vehicles[0] = replace(p.vehicles[0], fixed_cost=-1)
    with pytest.raises(InputDataError, match="固定費は0以上の整数です"):
        solve(p, time_limit_s=1)


# --------------------------------------------------------------------------- skills and continuity

def skilled_line():
    """One vehicle could do the whole line; S2 needs a nurse (only 2号車), S0 stays with its CSW 1号車."""
    p = km_problem([1, 2, 3, 4], n_vehicles=2)
    p.vehicles = [replace(p.vehicles[0], skills=frozenset({continuity_skill("v0")})),
                  replace(p.vehicles[1], skills=frozenset({"看護師"}))]
    p.stops[2] = replace(p.stops[2], skills=frozenset({"看護師"}))
    p.stops[0] = replace(p.stops[0], skills=frozenset({continuity_skill("v0")}))
    return p


@pytest.mark.parametrize("solver", SOLVERS)
def test_a_visit_needing_a_qualification_goes_to_the_qualified_csw(solver):
    p = skilled_line()
    plan = solve(p, solver=solver, time_limit_s=1, workers=1, max_iterations=500)
    assert check_plan(p, plan) == [] and not plan.unassigned
    w = where(plan)
    assert w["S2"] == "v1" and w["S0"] == "v0"
    assert plan.solver == solver  # in the solver's own model, not a fallback


@pytest.mark.parametrize("solver", SOLVERS)
def test_a_visit_nobody_is_qualified_for_is_listed_with_the_reason(solver):
    p = skilled_line()
    p.stops[3] = replace(p.stops[3], skills=frozenset({"手話"}))
    plan = solve(p, solver=solver, time_limit_s=1, workers=1, max_iterations=500)
    assert check_plan(p, plan) == []
    assert plan.unassigned == [("S3", "必要な資格・担当（手話）をすべて持つ車両・担当がいません")]


def test_check_catches_a_visit_by_an_unqualified_csw():
    p = skilled_line()
    plan = solve(p, solver="vroom", time_limit_s=1)
    assert check_plan(p, plan) == []
    for r in plan.routes:  # swap the CSWs' days
        r.vehicle_id = {"v0": "v1", "v1": "v0"}[r.vehicle_id]
    found = check_plan(p, plan)
    assert any("（S2）: 必要な資格・担当（看護師）がこの車両・担当にありません" in m for m in found), found
    assert any("（S0）: 必要な資格・担当（担当:v0）" in m for m in found), found


def test_a_pin_to_an_unqualified_csw_is_refused():
    p = skilled_line()
    p.stops[2] = replace(p.stops[2], pin=Pin("v0", 9 * H))
    with pytest.raises(InputDataError, match="（看護師）が必要ですが、予約の「1号車」にはありません"):
        solve(p, time_limit_s=1)


@pytest.mark.parametrize("solver", SOLVERS)
def test_skills_pins_and_own_places_together(solver):
    """A nurse leaving from home at km 10 with a pinned visit, and a centre CSW: all constraints hold at once."""
    p = km_problem([1, 2, 3, 4, 8], place_km=[10], n_vehicles=2)
    p.vehicles = [replace(p.vehicles[0]), replace(p.vehicles[1], start=0, skills=frozenset({"看護師"}))]
    p.stops[0] = replace(p.stops[0], skills=frozenset({"看護師"}))
    p.stops[4] = replace(p.stops[4], pin=Pin("v0", 10 * H, 0))
    plan = solve(p, solver=solver, time_limit_s=1, workers=1, max_iterations=500)
    assert check_plan(p, plan) == [] and not plan.unassigned
    w = where(plan)
    assert w["S0"] == "v1" and w["S4"] == "v0"
    assert plan.route_of("v1").start_place == 0


# --------------------------------------------------------------------------- CSW outreach days

def test_outreach_csw_from_home_with_qualifications_and_continuity():
    """CSW 1 leaves from home 4 km east and ends at the station; CSW 2 is the nurse; H-05 stays with CSW 1; nobody signs."""
    from gis.access import StraightLineEngine
    from gis.outreach import CSW, REASON_SKILL, OutreachVisit, plan_outreach

    st = {"station_id": "st-1", "name": "テスト拠点", "lon": 133.6166, "lat": 34.7930}
    home = (st["lon"] + 0.045, st["lat"])
    near_home = [OutreachVisit(f"H-0{k}", home[0] - 0.002 * k, home[1] + 0.001, 30 * 60) for k in (1, 2)]
    near_station = [OutreachVisit("H-03", st["lon"] + 0.002, st["lat"], 30 * 60, skills=("看護師",)),
                    OutreachVisit("H-04", st["lon"] - 0.002, st["lat"], 30 * 60),
                    OutreachVisit("H-05", st["lon"], st["lat"] + 0.002, 30 * 60, skills=("担当:c1",)),
                    OutreachVisit("H-06", st["lon"], st["lat"] - 0.002, 30 * 60, skills=("手話",))]
    csws = [CSW("c1", "CSW 1", start=home, break_window=None, break_s=0),
            CSW("c2", "CSW 2", skills=frozenset({"看護師"}), break_window=None, break_s=0)]
    plan = plan_outreach(st, near_home + near_station, csws, engine=StraightLineEngine(crs="EPSG:6673"),
                         time_limit_s=1)
    for problem, routing_plan in plan.checks:
        assert check_plan(problem, routing_plan) == []
    by = {v.visit_id: r.csw.csw_id for r in plan.routes for v in r.visits}
    assert by["H-03"] == "c2" and by["H-05"] == "c1"
    assert plan.unfitted == [("H-06", REASON_SKILL.format(need="手話"))]
    r1 = plan.routes[0]
    assert r1.visits[0].visit_id == "H-01"  # nearest to home first
    assert r1.visits[0].travel_s < 120  # ~200 m from home, not the 4 km from the station
    tt = plan.timetable()
    first = tt[(tt["CSW"] == "CSW 1") & (tt["種別"] == "出発")].iloc[0]
    assert first["訪問先"] == "出発地（自宅など）"
    assert tt[(tt["CSW"] == "CSW 1") & (tt["種別"] == "帰着")].iloc[0]["訪問先"] == "拠点"


# --------------------------------------------------------------------------- stable weekly slots (mobile sales)

def _week(n_per=3):
    from test_weekly import _problem, _stops

    return _problem(_stops(n_per), vehicles=1, capacity=60)


def _visits(plan):
    return {(x.stop_id, d): x.start_s for d in plan.days for r in plan.day_plans[d].routes for x in r.visits}


def test_next_week_keeps_every_stops_weekday_and_time_unless_freed(tmp_path):
    """Next week has four new stops; last week's timetable (CSV) keeps the others' day, vehicle and time (±5 min)."""
    import pandas as pd

    from gis.timetable import timetable
    from gis.weekly import check_weekly, keep_slots, plan_week

    week = _week(3)
    first = plan_week(week, time_limit_s=3, seed=0)
    assert check_weekly(week, first) == [] and not first.unassigned
    path = tmp_path / "timetable.csv"
    timetable(week, first).to_csv(path, index=False, encoding="utf-8-sig")
    was = _visits(first)
    freed = sorted({sid for sid, _ in was})[:2]

    following = _week(4)  # S001–S012 as before, S013–S016 new
    assert [s.stop_id for s in following.stops[:12]] == [s.stop_id for s in week.stops]
    nxt = keep_slots(following, pd.read_csv(path), free=freed)
    assert all(not s.slots for s in nxt.stops if s.stop_id in freed or s.stop_id > "S012")
    second = plan_week(nxt, time_limit_s=3, seed=0)
    assert check_weekly(nxt, second) == []
    now = _visits(second)
    kept = {k: t for k, t in was.items() if k[0] not in freed}
    for key, t in kept.items():
        assert key in now, f"{key[0]} left its {key[1]} slot"
        assert abs(now[key] - t) <= 5 * 60 + 90, (key, now[key], t)  # ± tolerance + the timetable's minute rounding
    # without the slots the new stops do reshuffle the week (so the test can fail)
    unkept = _visits(plan_week(following, time_limit_s=3, seed=0))
    assert any(k not in unkept or abs(unkept[k] - t) > 5 * 60 + 90 for k, t in kept.items())


def test_check_weekly_catches_a_stop_moved_off_its_slot():
    from gis.routing import Pin
    from gis.weekly import check_weekly, plan_week

    week = _week()
    plan = plan_week(week, time_limit_s=2, seed=0)
    day, visit = next((d, r.visits[0]) for d in plan.days for r in plan.day_plans[d].routes if r.visits)
    other = next(d for d in week.days if d != day and d not in plan.assignment[visit.stop_id])
    s = next(s for s in week.stops if s.stop_id == visit.stop_id)
    s.slots = {other: Pin("v1", visit.start_s, 300)}  # last week it was on another day
    found = check_weekly(week, plan)
    assert any(f"前週の{other}曜日の枠で訪問していません" in m for m in found), found
    s.slots = {day: Pin("v1", visit.start_s - 3600, 300)}  # same day, an hour earlier last week
    found = check_weekly(week, plan)
    assert any("予約時刻" in m and f"（{visit.stop_id}）" in m for m in found), found


def test_keep_slots_refuses_unknown_vehicles_and_stops():
    import pandas as pd

    from gis.weekly import keep_slots

    week = _week()
    row = {"曜日": "月", "車両": "9号車", "種別": "停留所", "停留所ID": week.stops[0].stop_id, "出発": "10:00", "滞在（分）": 20}
    with pytest.raises(InputDataError, match="車両「9号車」が今週の車両にいません"):
        keep_slots(week, pd.DataFrame([row]))
    with pytest.raises(InputDataError, match="固定を外す停留所 Z99"):
        keep_slots(week, pd.DataFrame([{**row, "車両": "1号車"}]), free=["Z99"])
    with pytest.raises(InputDataError, match="列 出発"):
        keep_slots(week, pd.DataFrame([row]).drop(columns=["出発"]))


def test_weekly_trucks_from_two_partner_shops():
    """Two trucks, each leaving from and returning to its own partner shop (places), over the week."""
    from gis.access import StraightLineEngine
    from gis.routing import Break, travel_matrix
    from gis.timetable import timetable
    from gis.weekly import WeeklyProblem, check_weekly, plan_week
    from test_weekly import DEPOT, _stops

    stops = _stops(2)
    shops = [Location(133.50, 34.79, "西の店"), Location(133.74, 34.79, "東の店")]
    D, X, note, _ = travel_matrix(StraightLineEngine(crs="EPSG:6673"), [DEPOT] + [s.location for s in stops] + shops,
                                  speed_kmh=30)
    fleet = [Vehicle(f"v{k + 1}", f"{k + 1}号車", (9 * H, 16 * H), capacity=60, start=k, end=k,
                     breaks=[Break((12 * H, 13 * H), 45 * 60)]) for k in range(2)]
    week = WeeklyProblem(DEPOT, stops, fleet, D, X, days=("月", "水", "金"), note=note, places=shops)
    plan = plan_week(week, time_limit_s=3, seed=0)
    assert check_weekly(week, plan) == []
    routes = [r for d in plan.days for r in plan.day_plans[d].routes if r.visits]
    assert routes and all(r.start_place == r.end_place == int(r.vehicle_id[1:]) - 1 for r in routes)
    tt = timetable(week, plan)
    leave = tt[tt["種別"] == "出発"]
    assert set(zip(leave["車両"], leave["停留所名"])) <= {("1号車", "西の店"), ("2号車", "東の店")}
    # the checker: a route claiming to leave from the depot instead of its shop
    routes[0].start_place = None
    found = check_weekly(week, plan)
    assert any("出発地が「店」ですが" in m and ("「西の店」です" in m or "「東の店」です" in m) for m in found), found
