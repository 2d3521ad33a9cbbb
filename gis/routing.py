"""Vehicle routing with time windows: the problem model, PyVRP/VROOM adapters and an independent plan checker.

The model and its validation live in :mod:`gis.routing_model`, the checker in
:mod:`gis.routing_check`; this module holds travel matrices, scheduling and the solver adapters,
and re-exports both. Travel durations (:func:`travel_matrix`) come from a matrix handed in, a
driving road graph's per-road speeds (:mod:`gis.travel_times`) or distance ÷ average speed, and
the result names which. Times are integer seconds since midnight, distances integer metres. The
travel matrices are square over the depot (index 0), the stops (index i is ``stops[i-1]``) and
then ``RoutingProblem.places`` (index n+1+k), the vehicles' own start and end places.

Solvers
-------
* PyVRP (iterated local search) for plan quality, with one vehicle type per group of identical
  vehicles (``num_available`` = the group's size) and PyVRP's default search settings (30
  neighbours and up to 40 perturbations were tried and lost on Solomon R1 at 10 s: see
  benchmarks/README.md).
  With every stop required and two workers, two independent PyVRP searches (seeds ``seed`` and
  ``seed + 1``) run on the full problem for the whole time; the second, if it has no plan
  serving everyone by :data:`RESCUE_AT` of its time (a tight fleet), asks VROOM at full
  exploration for one and goes on from it; the better plan is kept. Otherwise a quick VROOM plan
  first, then ``workers`` seeded PyVRP searches (the second warm-started).
* VROOM (pyvroom) where breaks are needed (PyVRP has none) and for quick re-plans.

What a stop is worth when not every stop fits
---------------------------------------------
Stops with a ``value`` (a mobile-sales stop's expected customers) are ranked by it: VROOM
priorities (0..100) and PyVRP prizes are proportional to it, PyVRP's prize for the smallest unit
larger than any plan's travel cost, so the most value is served first, then the least travel
(prize-collecting; one stop of 30 beats two of 10). When VROOM cannot fit every valued stop,
PyVRP searches the prize-collecting model and its plan is kept when it serves at least VROOM's
value. Without values, required stops outrank optional ones and ``priority`` orders each class.

Pinned visits (re-planning a day)
---------------------------------
``Stop.pin`` fixes a visit to one vehicle/CSW, its service starting within the appointment time
± tolerance (:func:`replan_problem` builds them from the previous plan after a cancellation).
VROOM: every vehicle its own skill, a pinned job asking for its vehicle's, priority 100. PyVRP
(no per-client vehicle list): a pinned vehicle is its own vehicle type, and each type gets a
routing profile in which arcs into another vehicle's pinned visits take longer than a day, so no
other vehicle reaches the pin's window. The checker reports a pinned visit on another vehicle,
off its time, or dropped without a reason.

Own start and end places (CSWs from home, trucks from partner shops)
--------------------------------------------------------------------
``Vehicle.start`` / ``Vehicle.end`` name a position in ``RoutingProblem.places`` (None = the
depot). VROOM: the vehicle's ``start``/``end`` matrix indices. PyVRP: every place used becomes
one more PyVRP depot and the vehicle type's ``start_depot``/``end_depot`` (vehicles of a group
share their places). ``Route.start_place``/``end_place`` record where each route ran from and to,
and the checker re-adds the first and last legs from the vehicle's own places.

Fixed cost per vehicle-day
--------------------------
``Vehicle.fixed_cost`` is charged once for a vehicle that leaves at all, in the objective's
unit (metres of travel): PyVRP's ``VehicleType.fixed_cost``; VROOM's ``VehicleCosts(fixed=)``.
PyVRP weighs it against the prizes of optional stops (about one leg each per priority step), so
a second truck goes out only when what it adds is worth more; required stops outweigh any fixed
cost. VROOM serves every stop it can before weighing costs, so with fixed costs the two plans
are compared on PyVRP's objective (travel + fixed costs + prizes of stops left out). With stop
values, the value served comes first and a fixed cost only decides between plans of equal value.
``RoutingPlan.fixed_cost`` is the sum over the vehicles used; the checker recomputes it.

Skills and continuity
---------------------
``Stop.skills`` must all be in the serving vehicle's ``Vehicle.skills`` (a household needing a
qualified CSW); continuity with the same CSW is a skill only that CSW has
(:func:`continuity_skill`). VROOM has skills natively (named skills mapped to integers, the
per-vehicle pin skills after them). PyVRP has none: as for pins, each vehicle type's routing
profile makes the arcs into stops it may not serve longer than a day. A stop nobody can serve is
listed unassigned before solving. The checker reports a visit by a vehicle lacking a skill.

Every stop that is not served is listed in ``RoutingPlan.unassigned`` with a reason; none is
dropped silently. Given a seed the result is reproducible whenever the search stops on
"no improvement" (small problems) or on ``max_iterations``; a pure wall-clock stop on a large
problem may let a faster machine search further.
"""

from __future__ import annotations

import math
import multiprocessing as mp
import time
from typing import NamedTuple

import numpy as np

from gis.errors import InputDataError
from gis.routing_check import check_plan
from gis.routing_model import (
    DAY_END,
    REASON_CAPACITY,
    REASON_FLEET,
    REASON_OPTIONAL,
    REASON_SHIFT,
    REASON_SKILL,
    REASON_UNREACHABLE,
    REASON_WINDOW,
    Break,
    Location,
    Pin,
    ProblemCheck,
    Route,
    RoutingPlan,
    RoutingProblem,
    Stop,
    Vehicle,
    Visit,
    _windows,
    can_serve,
    continuity_skill,
    format_hhmm,
    replan_problem,
    validate_problem,
)

__all__ = [
    "Break",
    "Location",
    "Pin",
    "ProblemCheck",
    "Route",
    "RoutingPlan",
    "RoutingProblem",
    "Stop",
    "TravelTimes",
    "Vehicle",
    "Visit",
    "can_serve",
    "check_plan",
    "continuity_skill",
    "format_hhmm",
    "replan_problem",
    "solve",
    "travel_matrix",
    "validate_problem",
]

# --------------------------------------------------------------------------------------------
# travel matrices


class TravelTimes(NamedTuple):
    """Travel matrices of a plan, and how the durations were obtained (said in its outputs)."""

    durations_s: np.ndarray
    distances_m: np.ndarray
    note: str
    #: :data:`gis.travel_times.SOURCE_ROAD_SPEEDS`, ``SOURCE_AVERAGE_SPEED`` or ``SOURCE_MATRIX``.
    source: str


def travel_matrix(engine, points: list[Location], *, speed_kmh: float, circuity: float = 1.3,
                  mode: str = "drive", matrix=None) -> TravelTimes:
    """Distances (m) and durations (s) between all points, from the distance engine or a given matrix.

    Durations come from, in this order: ``matrix`` when given (computed elsewhere, e.g. by
    OSRM); the road graph's segment speeds when the engine is a driving road network and
    ``mode`` is ``"drive"`` (``maxspeed``, else the road class's speed,
    :data:`gis.travel_times.DRIVE_SPEED_KMH`); otherwise distance ÷ ``speed_kmh`` (walkers, and
    straight-line engines).

    Parameters
    ----------
    engine
        A ``gis.access.DistanceEngine``. Straight-line engines: distance × ``circuity``;
        network engines: the shortest-path length (circuity ignored).
    points
        Depot first, then the stops, then the vehicles' own places (``RoutingProblem.places``)
        (longitude/latitude).
    speed_kmh
        Average travel speed for durations without road speeds (walking speed for walkers).
    circuity
        Road distance ÷ straight-line distance when no road graph is used.
    mode
        ``"drive"`` or ``"walk"``: walkers go at ``speed_kmh`` on any graph.
    matrix
        A :class:`gis.travel_times.TravelMatrix` for these points in this order (see
        :func:`gis.travel_times.read_travel_matrix`); its distances are used when it has them.

    Returns
    -------
    TravelTimes
        ``(durations_s, distances_m, note, source)``: integer-valued float matrices, unreachable
        pairs NaN (``validate_problem`` reports the stop unassigned); the note states the method
        in Japanese.
    """
    import geopandas as gpd
    from shapely.geometry import Point

    from gis import travel_times as tt

    if not speed_kmh or speed_kmh <= 0:
        raise InputDataError(
            f"速度は正の値（km/h）で指定してください: {speed_kmh!r}",
            en=f"the speed must be a positive km/h: {speed_kmh!r}",
        )
    if mode not in ("drive", "walk"):
        raise InputDataError(
            f"移動手段は drive か walk です: {mode!r}",
            en=f"the travel mode must be drive or walk: {mode!r}",
        )
    n = len(points)
    if matrix is not None and np.shape(matrix.durations_s) != (n, n):
        raise InputDataError(
            f"所要時間行列が {np.shape(matrix.durations_s)} ですが、拠点・停留所・発着地は {n} 地点です",
            en=f"the travel-time matrix is {np.shape(matrix.durations_s)} but depot, stops and places are {n} points",
            source=matrix.source,
            hint="拠点を先頭に、停留所、発着地（自宅など）の順に同じ地点で行列を作り直してください",
            hint_en="rebuild the matrix with the same points: the depot first, then the stops, then the places (homes ...)",
        )
    gdf = gpd.GeoDataFrame({"i": range(n)}, geometry=[Point(p.lon, p.lat) for p in points], crs="EPSG:4326")
    straight = getattr(engine, "mode", "straight") != "network"
    factor = float(circuity) if straight else 1.0
    desc = getattr(engine, "description", "")
    if matrix is not None and matrix.distances_m is not None:
        dist = np.round(np.asarray(matrix.distances_m, dtype=float))
        dist_note = f"移動距離は{matrix.source}の距離"
    else:
        dist = np.full((n, n), np.nan)
        if n:
            pairs = engine.within(gdf, gdf, max_distance_m=1e9)
            dist[pairs["origin"].to_numpy(), pairs["facility"].to_numpy()] = pairs["distance_m"].to_numpy(dtype=float)
            np.fill_diagonal(dist, 0.0)
        dist = np.round(dist * factor)
        dist_note = f"移動距離は{desc or '直線距離'}×迂回係数{factor:g}" if straight else f"移動距離は{desc or '道路網上の経路距離'}"
    graph = getattr(engine, "graph", None)
    if matrix is not None:
        dur = np.round(np.asarray(matrix.durations_s, dtype=float))
        note = f"{dist_note}、移動時間は指定の所要時間行列（{matrix.source}）を使いました"
        source = tt.SOURCE_MATRIX
    elif not straight and mode == "drive" and getattr(graph, "durations", None) is not None:
        dur = np.round(engine.travel_time_matrix(gdf)) if n else np.zeros((0, 0))
        note = (f"{dist_note}、移動時間は道路網の道路種別ごとの速度（最高速度の指定があればその値）で"
                f"最速経路を計算しました（{graph.source}）")
        source = tt.SOURCE_ROAD_SPEEDS
    else:
        dur = np.round(dist / (speed_kmh * 1000.0 / 3600.0))
        note = f"{dist_note}、移動時間は平均時速{speed_kmh:g}kmで計算しました"
        if straight:
            note += "（道路網データがないため概算です）"
        source = tt.SOURCE_AVERAGE_SPEED
    return TravelTimes(dur, dist, note, source)


# --------------------------------------------------------------------------------------------
# scheduling (shared by plan building and the checker)


def _leg_with_breaks(dep: int, travel: int, pending: list[Break]) -> tuple[int, list[tuple[int, int]]]:
    """Time ready at the next place after leaving at ``dep`` and taking ``pending`` breaks on the way."""
    t_travel_end = dep + travel
    cur = dep
    taken = []
    for brk in pending:
        bs = max(cur, brk.window[0])
        ready_before = max(t_travel_end, bs)  # travel done (partly before the break) or waiting
        taken.append((bs, bs + brk.duration_s))
        t_travel_end = ready_before + brk.duration_s
        cur = bs + brk.duration_s
    return t_travel_end, taken


def _schedule(problem: RoutingProblem, vehicle: Vehicle, seq: list[int], break_pos: list[int] | None = None,
              windows: list[tuple[int, int]] | None = None) -> Route:
    """Earliest schedule along ``seq`` (stop positions, 0-based) leaving so as not to wait at the first stop.

    ``break_pos[k]`` = number of visits done before break k is taken (breaks in vehicle order).
    ``windows[j]`` = the window chosen for seq[j] (default: the first one the arrival fits).
    """
    D = np.asarray(problem.durations_s)
    X = np.asarray(problem.distances_m)
    brks = list(vehicle.breaks)
    if break_pos is None:
        break_pos = []
    nodes = [problem.start_node(vehicle)] + [i + 1 for i in seq] + [problem.end_node(vehicle)]
    load = sum(problem.stops[i].demand for i in seq)

    def run(t0: int):
        t = t0
        visits, taken = [], []
        ld = load
        for j in range(len(nodes) - 1):
            pend = [brks[k] for k, p in enumerate(break_pos) if p == j]
            ready, tk = _leg_with_breaks(t, int(D[nodes[j], nodes[j + 1]]), pend)
            taken += tk
            if j == len(nodes) - 2:
                return visits, taken, ready
            st = problem.stops[seq[j]]
            if windows is not None and windows[j] is not None:
                a, _b = windows[j]
                start = max(ready, a)
            else:
                wins = _windows(st)
                fit = [max(ready, a) for a, b in wins if max(ready, a) <= b]
                start = min(fit) if fit else max(ready, wins[-1][0])
            ld -= st.demand
            visits.append(Visit(st.stop_id, int(ready), int(start), int(start + st.service_s), int(ld)))
            t = start + st.service_s
        return visits, taken, t

    t0 = int(vehicle.shift[0])
    visits, taken, end = run(t0)
    if visits and not break_pos.count(0):
        wait = visits[0].start_s - visits[0].arrival_s
        if wait > 0:
            later = run(t0 + wait)
            if [v.start_s for v in later[0]] == [v.start_s for v in visits]:
                visits, taken, end = later
                t0 += wait
    dist = int(sum(X[nodes[j], nodes[j + 1]] for j in range(len(nodes) - 1)))
    return Route(vehicle.vehicle_id, visits, taken, t0, int(end), dist, int(end - t0),
                 start_place=vehicle.start, end_place=vehicle.end)


# --------------------------------------------------------------------------------------------
# diagnosis of unserved stops


def _reason(problem: RoutingProblem, i: int) -> str:
    """Why stop ``i`` (0-based) could not be served, judged on a route that visits it alone."""
    s = problem.stops[i]
    D = np.nan_to_num(np.asarray(problem.durations_s, dtype=float), nan=10 * DAY_END)

    def legs(v: Vehicle) -> tuple[int, int]:  # from the vehicle's start, back to its end
        return int(D[problem.start_node(v), i + 1]), int(D[i + 1, problem.end_node(v)])

    if s.pin is not None:
        v = next(v for v in problem.vehicles if v.vehicle_id == s.pin.vehicle_id)
        out_t, back_t = legs(v)
        a, b = s.pin.window
        alone = (v.capacity is None or s.demand <= v.capacity) and max(v.shift[0] + out_t, a) <= b and \
            max(v.shift[0] + out_t, a) + s.service_s + back_t <= v.shift[1]
        return REASON_PIN.format(who=v.name or v.vehicle_id, at=format_hhmm(s.pin.start_s), tol=s.pin.tolerance_s // 60,
                                 why=REASON_PIN_CLASH if alone else REASON_PIN_ALONE)
    able = [v for v in problem.vehicles if can_serve(v, s)]
    if not able:
        return REASON_SKILL.format(need="、".join(sorted(s.skills)))
    cap_ok = [v for v in able if v.capacity is None or s.demand <= v.capacity]
    if not cap_ok:
        return REASON_CAPACITY
    shift_ok = [v for v in cap_ok if sum(legs(v)) + s.service_s <= v.shift[1] - v.shift[0]]
    if not shift_ok:
        return REASON_SHIFT
    for v in shift_ok:
        out_t, back_t = legs(v)
        for a, b in _windows(s):
            start = max(v.shift[0] + out_t, a)
            if start <= b and start + s.service_s + back_t <= v.shift[1]:
                return REASON_FLEET if s.required else REASON_OPTIONAL
    return REASON_WINDOW


#: Why a pinned visit is not in the plan (who, at, tol, why).
REASON_PIN = "予約（{who}、{at}±{tol}分）を守って計画に入れられません（{why}）"
REASON_PIN_CLASH = "同じ時間帯の他の予約・休憩と重なるか、前後の予約から移動が間に合いません"
REASON_PIN_ALONE = "この車両・担当の勤務時間と積載量では、予約時刻に着いて戻れません"


# --------------------------------------------------------------------------------------------
# what a stop is worth when not every stop fits (prize-collecting)


def _valued(problem: RoutingProblem) -> bool:
    """Whether the stops carry values (then value, not required/priority, ranks them)."""
    return any(s.value is not None for s in problem.stops)


def _value(s: Stop) -> float:
    try:
        v = float(s.value) if s.value is not None else 0.0
    except (TypeError, ValueError):
        return 0.0
    return v if math.isfinite(v) and v > 0 else 0.0


def _worth(problem: RoutingProblem) -> list[float]:
    """Each stop's worth on one scale: its value, or (without values) 50 + priority when required, else priority.

    Solvers serve the most total worth first; the weights are proportional, so serving one stop
    of worth 30 beats serving two of 10 (a swap that frees the time is taken).
    """
    if _valued(problem):
        return [_value(s) for s in problem.stops]
    return [float((50 if s.required else 0) + max(0, min(49, int(s.priority)))) for s in problem.stops]


def _vroom_priorities(problem: RoutingProblem) -> list[int]:
    """VROOM priorities (integers 0..100, maximised in sum before cost) proportional to the worth."""
    w = _worth(problem)
    if not _valued(problem):
        return [int(min(100, x)) for x in w]
    top = max(w, default=0.0)
    return [int(round(100 * x / top)) if top > 0 else 0 for x in w]


def _pin_priority(problem: RoutingProblem, prios: list[int]) -> list[int]:
    """Pinned visits (appointments) above everything else."""
    return [100 if s.pin is not None else p for s, p in zip(problem.stops, prios)]


def _pyvrp_prizes(problem: RoutingProblem, active: list[int], big: int) -> dict[int, int]:
    """PyVRP prizes for stops that may be left out, in the units of the travel cost.

    With values: ``big`` exceeds any plan's travel cost, so the prize of the smallest unit of
    worth (1/1000 of the largest stop's value) outweighs any detour: the search maximises the
    value served, then minimises travel; proportional, so one stop of 30 outranks two of 10.
    A stop of value 0 gets a token prize. Without values: as before, required stops far above
    optional ones, optional ones worth about one leg per priority step.
    """
    if not _valued(problem):
        # required stops (in a problem with optional ones) far above optional ones and above
        # every vehicle's fixed cost; optional ones are worth about a leg per priority step
        # (served when the detour is small, and weighed against a vehicle's fixed cost)
        fixed = int(sum(v.fixed_cost for v in problem.vehicles))
        return {i: big * 10 + fixed if problem.stops[i].required
                else big // max(1, len(active)) * (1 + max(0, int(problem.stops[i].priority))) for i in active}
    w = _worth(problem)
    top = max((w[i] for i in active), default=0.0)
    return {i: big * max(1, int(round(1000 * w[i] / top))) if top > 0 and w[i] > 0 else 1 for i in active}


# --------------------------------------------------------------------------------------------
# VROOM


def _vroom_input(problem: RoutingProblem, active: list[int]):
    import vroom

    inp = vroom.Input()
    D = np.nan_to_num(np.asarray(problem.durations_s, dtype=float), nan=0).astype(np.int64)
    X = np.nan_to_num(np.asarray(problem.distances_m, dtype=float), nan=0).astype(np.int64)
    inp.set_durations_matrix("car", D)
    inp.set_costs_matrix("car", X)
    inp.set_distances_matrix("car", X)
    has_cap = any(v.capacity is not None for v in problem.vehicles)
    big_cap = int(sum(s.demand for s in problem.stops) + 1)
    # skills are integers in VROOM: the named skills first, then (when pins are present) one per
    # vehicle, which a pinned job asks for
    named = {name: j + 1 for j, name in enumerate(sorted({x for v in problem.vehicles for x in v.skills}
                                                          | {x for i in active for x in problem.stops[i].skills}))}
    pins = ({v.vehicle_id: len(named) + 1 + k for k, v in enumerate(problem.vehicles)}
            if any(problem.stops[i].pin is not None for i in active) else {})
    for k, v in enumerate(problem.vehicles):
        kw = {}
        if has_cap:
            kw["capacity"] = [int(v.capacity) if v.capacity is not None else big_cap]
        brks = [vroom.Break(1000 * k + j, time_windows=[vroom.TimeWindow(int(b.window[0]), int(b.window[1] - b.duration_s))],
                            service=int(b.duration_s)) for j, b in enumerate(v.breaks)]
        skills = {named[x] for x in v.skills} | ({pins[v.vehicle_id]} if pins else set())
        if skills:
            kw["skills"] = skills
        if v.fixed_cost:
            kw["costs"] = vroom.VehicleCosts(fixed=int(v.fixed_cost))
        inp.add_vehicle(vroom.Vehicle(k, start=problem.start_node(v), end=problem.end_node(v),
                                      time_window=vroom.TimeWindow(int(v.shift[0]), int(v.shift[1])),
                                      breaks=brks, **kw))
    prios = _pin_priority(problem, _vroom_priorities(problem))
    for i in active:
        s = problem.stops[i]
        kw = {"delivery": [int(s.demand)]} if has_cap else {}
        skills = {named[x] for x in s.skills} | ({pins[s.pin.vehicle_id]} if s.pin is not None else set())
        if skills:
            kw["skills"] = skills
        inp.add_job(vroom.Job(i, location=i + 1, default_service=int(s.service_s), priority=prios[i],
                              time_windows=[vroom.TimeWindow(int(a), int(b)) for a, b in _windows(s)], **kw))
    return inp


def _solve_vroom(problem: RoutingProblem, active: list[int], *, exploration: int = 5, threads: int = 2,
                 timeout_s: float | None = None):
    """Routes as (vehicle index, [stop positions], [break positions]) and the unserved positions."""
    from datetime import timedelta

    kw = {"timeout": timedelta(seconds=timeout_s)} if timeout_s else {}
    sol = _vroom_input(problem, active).solve(exploration_level=exploration, nb_threads=threads, **kw)
    routes = []
    for step_route in sol.to_dict()["routes"]:
        k = int(step_route["vehicle"])
        seq, bpos = [], []
        for st in step_route["steps"]:
            if st["type"] == "job":
                seq.append(int(st["id"]))
            elif st["type"] == "break":
                bpos.append((int(st["id"]) % 1000, len(seq)))
        routes.append((k, seq, [p for _, p in sorted(bpos)]))
    served = {i for _, seq, _ in routes for i in seq}
    return routes, [i for i in active if i not in served]


# --------------------------------------------------------------------------------------------
# PyVRP


def _vehicle_groups(problem: RoutingProblem) -> list[list[int]]:
    """Vehicle positions grouped by everything the solvers see (capacity, shift, breaks, start, end, fixed cost, skills, pins).

    Groups in order of their first vehicle, vehicles in problem order within a group. PyVRP gets
    one ``VehicleType`` per group with ``num_available`` = its size: with one type per vehicle its
    search treats identical vehicles as different and spends its moves swapping routes between
    them (measured: R110 at 10 s, 2.74 % gap per-vehicle types against 0.02 % grouped).
    """
    keys: dict[tuple, list[int]] = {}
    pinned = {s.pin.vehicle_id for s in problem.stops if s.pin is not None}
    for k, v in enumerate(problem.vehicles):
        key = (v.capacity, tuple(v.shift), tuple((tuple(b.window), b.duration_s) for b in v.breaks), v.start, v.end,
               int(v.fixed_cost), frozenset(v.skills), v.vehicle_id if v.vehicle_id in pinned else None)
        keys.setdefault(key, []).append(k)
    return list(keys.values())


def _routes_to_vehicles(routes, groups: list[list[int]]):
    """PyVRP routes as (vehicle type, clients) → (vehicle position, clients).

    A type's routes go to its vehicles in order (they are identical, so which one drives which
    route does not matter); more routes than vehicles of a type is a bug and raises.
    """
    used = [0] * len(groups)
    out = []
    for vt, clients in routes:
        if not clients:
            continue
        j = used[vt]
        if j >= len(groups[vt]):
            raise RuntimeError(f"PyVRP returned {j + 1} routes for vehicle type {vt} of {len(groups[vt])} vehicles")
        used[vt] += 1
        out.append((groups[vt][j], clients))
    return out


def _pyvrp_data(problem: RoutingProblem, active: list[int], *, all_required: bool):
    """ProblemData for the active stops.

    Returns (data, client→stop position, client→window, vehicle type→vehicle positions): one
    vehicle type per group of identical vehicles (:func:`_vehicle_groups`).
    """
    import pyvrp

    D = np.nan_to_num(np.asarray(problem.durations_s, dtype=float), nan=0).astype(np.int64)
    X = np.nan_to_num(np.asarray(problem.distances_m, dtype=float), nan=0).astype(np.int64)
    # PyVRP's locations: the depot, the vehicles' own places (each one more PyVRP depot), then the
    # active stops
    n = len(problem.stops)
    used_places = sorted({p for v in problem.vehicles for p in (v.start, v.end) if p is not None})
    depot_of = {None: 0, **{p: 1 + j for j, p in enumerate(used_places)}}
    n_dep = 1 + len(used_places)
    nodes = [0] + [n + 1 + p for p in used_places] + [i + 1 for i in active]
    D = D[np.ix_(nodes, nodes)]
    X = X[np.ix_(nodes, nodes)]
    pts = [problem.depot] + [problem.places[p] for p in used_places] + [problem.stops[i].location for i in active]
    locs = [pyvrp.Location(0, 0) if problem.planar is False else pyvrp.Location(int(p.lon), int(p.lat)) for p in pts]
    has_cap = any(v.capacity is not None for v in problem.vehicles)
    big = _big(problem, active)
    clients, cgroups, owner, win_of = [], [], [], []
    prizes = _pyvrp_prizes(problem, active, big)
    for li, i in enumerate(active, start=n_dep):
        s = problem.stops[i]
        wins = _windows(s)
        required = s.pin is not None or (bool(s.required) and all_required)
        prize = 0 if required else prizes[i]
        grp = None
        if len(wins) > 1:
            grp = len(cgroups)
            cgroups.append(pyvrp.ClientGroup([len(clients) + j for j in range(len(wins))], required=required))
        for a, b in wins:
            clients.append(pyvrp.Client(li, delivery=[int(s.demand)] if has_cap else [],
                                        service_duration=int(s.service_s), tw_early=int(a), tw_late=int(b),
                                        prize=int(prize), required=required and grp is None, group=grp))
            owner.append(i)
            win_of.append((int(a), int(b)))
    vts = []
    big_cap = int(sum(s.demand for s in problem.stops) + 1)
    groups = _vehicle_groups(problem)
    # Pinned visits and skills: PyVRP has no per-client vehicle list, so each vehicle type gets
    # its own routing profile in which the arcs into the stops it may not serve (another
    # vehicle's pinned visits, stops needing a skill it lacks) take longer than any day
    # (arriving in the stop's window is then impossible for it).
    pin_at = {li: problem.stops[i].pin.vehicle_id for li, i in enumerate(active, start=n_dep)
              if problem.stops[i].pin is not None}
    skilled = {li: frozenset(problem.stops[i].skills) for li, i in enumerate(active, start=n_dep)
               if problem.stops[i].skills}
    Ds, Xs = [D], [X]
    for t, grp in enumerate(groups):
        v = problem.vehicles[grp[0]]
        cap = [int(v.capacity) if v.capacity is not None else big_cap] if has_cap else []
        profile = 0
        mine = {problem.vehicles[k].vehicle_id for k in grp}
        others = sorted({li for li, vid in pin_at.items() if vid not in mine}
                        | {li for li, need in skilled.items() if not need <= set(v.skills)})
        if others:
            Dt, Xt = D.copy(), X.copy()
            Dt[:, others] = 10 * DAY_END
            Xt[:, others] = big
            np.fill_diagonal(Dt, 0)
            np.fill_diagonal(Xt, 0)
            profile = len(Ds)
            Ds.append(Dt)
            Xs.append(Xt)
        vts.append(pyvrp.VehicleType(len(grp), capacity=cap, start_depot=depot_of[v.start], end_depot=depot_of[v.end],
                                     fixed_cost=int(v.fixed_cost), tw_early=int(v.shift[0]), tw_late=int(v.shift[1]),
                                     profile=profile,
                                     name=",".join(str(problem.vehicles[k].vehicle_id) for k in grp)))
    t0, t1 = min(v.shift[0] for v in problem.vehicles), max(v.shift[1] for v in problem.vehicles)
    depots = [pyvrp.Depot(j, tw_early=int(t0), tw_late=int(t1)) for j in range(n_dep)]
    data = pyvrp.ProblemData(locs, clients, depots, vts, Xs, Ds, cgroups)
    return data, owner, win_of, groups


def _big(problem: RoutingProblem, active: list[int]) -> int:
    """A cost larger than any plan's travel cost (the unit of the prizes)."""
    X = np.nan_to_num(np.asarray(problem.distances_m, dtype=float), nan=0)
    D = np.nan_to_num(np.asarray(problem.durations_s, dtype=float), nan=0)
    return int(X.max(initial=1) + D.max(initial=1) + 1) * (len(active) + 2)


def _objective(problem: RoutingProblem, routes_seq, active: list[int]) -> int:
    """PyVRP's objective for a plan given as (vehicle position, [stop positions], ...) routes.

    Travel distance from each vehicle's start to its end, plus the fixed cost of each vehicle
    used, plus the prize of every active stop left out: used to weigh VROOM's plan against
    PyVRP's when vehicles have fixed costs (VROOM serves all it can before weighing costs).
    """
    X = np.nan_to_num(np.asarray(problem.distances_m, dtype=float), nan=0)
    prizes = _pyvrp_prizes(problem, active, _big(problem, active))
    total, served = 0.0, set()
    for k, seq, *_ in routes_seq:
        if not seq:
            continue
        v = problem.vehicles[k]
        nodes = [problem.start_node(v)] + [i + 1 for i in seq] + [problem.end_node(v)]
        total += sum(X[a, b] for a, b in zip(nodes, nodes[1:])) + v.fixed_cost
        served.update(seq)
    return int(total + sum(prizes[i] for i in active if i not in served))


def _warm_solution(data, owner: list[int], win_of, groups, vroom_routes, problem: RoutingProblem):
    """VROOM's routes as a PyVRP Solution (each visit on the client of the window it used)."""
    import pyvrp

    type_of = {k: t for t, grp in enumerate(groups) for k in grp}

    by_stop: dict[int, list[int]] = {}
    for c, i in enumerate(owner):
        by_stop.setdefault(i, []).append(c)
    routes = []
    for k, seq, _ in vroom_routes:
        v = problem.vehicles[k]
        sched = _schedule(problem, v, seq)
        visits = []
        for i, vis in zip(seq, sched.visits):
            cands = by_stop.get(i, [])
            if not cands:
                continue
            fit = [c for c in cands if win_of[c][0] <= vis.start_s <= win_of[c][1]]
            visits.append((fit or cands)[0])
        if visits:
            routes.append(pyvrp.Route(data, visits, type_of[k]))
    return pyvrp.Solution(data, routes)


def _try_warm(built, vroom_routes, problem: RoutingProblem):
    data, owner, win_of, groups = built
    try:
        return _warm_solution(data, owner, win_of, groups, vroom_routes, problem)
    except Exception:  # noqa: BLE001 - a warm start is an optimisation only
        return None


# With every stop required, a search with no feasible plan by this share of its time asks
# VROOM for one (a tight fleet) and goes on from it; see _pyvrp_rescue_worker.
RESCUE_AT = 0.4


def _stop_criterion(time_limit_s: float, max_iterations: int | None, no_improvement: int | None):
    from pyvrp.stop import MaxIterations, MaxRuntime, MultipleCriteria, NoImprovement

    crit = [MaxRuntime(max(0.01, time_limit_s))]
    if max_iterations:
        crit.append(MaxIterations(int(max_iterations)))
    if no_improvement:
        crit.append(NoImprovement(int(no_improvement)))
    return MultipleCriteria(crit) if len(crit) > 1 else crit[0]


def _result_out(res, tag):
    best = res.best
    routes = [(r.vehicle_type(), [a.idx for a in r.schedule() if a.is_client()]) for r in best.routes()]
    key = (0 if best.is_feasible() else 1, int(res.cost()) if best.is_feasible() else int(best.distance()))
    return key, routes, best.is_feasible(), tag


def _pyvrp_worker(args):
    """One seeded PyVRP search (runs in a child process); returns (key, routes) in picklable form."""
    import warnings

    import pyvrp

    warnings.filterwarnings("ignore", module="pyvrp")
    data, init, seed, time_limit_s, max_iterations, no_improvement, tag = args
    res = pyvrp.solve(data, _stop_criterion(time_limit_s, max_iterations, no_improvement), seed=seed,
                      collect_stats=False, initial_solution=init)
    return _result_out(res, tag)


_INFEASIBLE_COST = 2**63 - 1  # the cost PyVRP gives a stop criterion while its best plan is infeasible


class _NoFeasibleBy:
    """PyVRP stop criterion: stop at ``at_s`` seconds if the best plan found is still infeasible."""

    def __init__(self, at_s: float):
        self._at = time.perf_counter() + at_s
        self.fired = False

    def __call__(self, best_cost: float) -> bool:
        if best_cost >= _INFEASIBLE_COST and time.perf_counter() >= self._at:
            self.fired = True
        return self.fired


def _pyvrp_rescue_worker(args):
    """The second core's search when every stop is required: PyVRP, with VROOM as a rescue.

    The same search as the first core (next seed). If it has no plan serving everyone by
    :data:`RESCUE_AT` of its time (a fleet too tight for it), VROOM at full exploration builds
    one, and PyVRP goes on for the rest of the time from VROOM's plan when that serves everyone,
    else from its own best. When a plan is found early — the usual case — this is an
    independent second search. Returns ``((VROOM routes, VROOM unserved) or None, PyVRP
    result)``; runs in a child process.
    """
    import warnings

    import pyvrp
    from pyvrp.stop import MultipleCriteria

    warnings.filterwarnings("ignore", module="pyvrp")
    problem, active, full, time_limit_s, seed, max_iterations, no_improvement = args
    t0 = time.perf_counter()
    check = _NoFeasibleBy(RESCUE_AT * time_limit_s)
    stop = MultipleCriteria([_stop_criterion(time_limit_s, max_iterations, no_improvement), check])
    res = pyvrp.solve(full[0], stop, seed=seed, collect_stats=False)
    if not check.fired:
        return None, _result_out(res, 1)
    left_s = time_limit_s - (time.perf_counter() - t0)
    vroom_plan = _solve_vroom(problem, active, exploration=5, threads=1, timeout_s=max(0.1, 0.5 * left_s))
    init = (_try_warm(full, vroom_plan[0], problem) if not vroom_plan[1] else None) or res.best
    rest = time_limit_s - (time.perf_counter() - t0)
    if rest < 0.05:
        return vroom_plan, _result_out(res, 1)
    more = pyvrp.solve(full[0], _stop_criterion(rest, max_iterations, no_improvement), seed=seed + 1,
                       collect_stats=False, initial_solution=init)
    return vroom_plan, _result_out(more, 1)  # res had no plan serving everyone: more is never worse


_POOL_CTX = "fork"


def pyvrp_best_of(jobs: list[tuple], *, time_limit_s: float, max_iterations: int | None = None,
                  no_improvement: int | None = None, workers: int = 2, prefer: list[int] | None = None):
    """Run one PyVRP search per job (in parallel processes when ``workers`` > 1); keep the best.

    ``jobs``: (data, initial solution or None, seed, tag). The best is the feasible one of least
    cost (ties to the earlier job, so the choice is reproducible); returns its
    ``(routes, feasible, tag)`` with routes as (vehicle type, [client indices]). ``prefer``
    ranks the jobs' models (lower first) among feasible results before cost.
    """
    args = [(d, init, s, time_limit_s, max_iterations, no_improvement, tag) for d, init, s, tag in jobs]
    if workers > 1 and len(args) > 1:
        ctx = mp.get_context(_POOL_CTX)
        with ctx.Pool(min(workers, len(args))) as pool:
            out = pool.map(_pyvrp_worker, args)
    else:
        out = [_pyvrp_worker(a) for a in args]
    rank = prefer or [0] * len(out)
    # feasible before infeasible; then the preferred model (the full problem before the one that
    # may leave stops out); then the least cost
    best = min(range(len(out)), key=lambda j: (out[j][0][0], rank[j], out[j][0][1], j))
    return out[best][1], out[best][2], out[best][3]


# --------------------------------------------------------------------------------------------
# solve


def solve(problem: RoutingProblem, *, solver: str = "auto", time_limit_s: float = 10.0, seed: int = 0,
          workers: int = 2, max_iterations: int | None = None, no_improvement: int | None = 20000) -> RoutingPlan:
    """Plan routes for the vehicles; every unserved stop is listed with the reason.

    Parameters
    ----------
    problem
        The problem (validated here; see :func:`validate_problem`).
    solver
        ``"auto"`` (VROOM when any vehicle has breaks, else PyVRP), ``"pyvrp"`` or ``"vroom"``.
        PyVRP has no breaks: asking for it with breaks falls back to VROOM, with a note.
    time_limit_s
        Wall-clock limit for the PyVRP search (VROOM runs to completion, typically < 1 s).
    seed
        Random seed (PyVRP searches use ``seed`` and ``seed + 1``).
    workers
        Parallel PyVRP searches (processes); 1 for a single search.
    max_iterations
        Optional iteration cap for strictly reproducible PyVRP runs.
    no_improvement
        Stop a PyVRP search after this many iterations without improvement (None: run to the
        time limit). Small problems then finish early and reproducibly.
    """
    t_start = time.perf_counter()
    if solver not in ("auto", "pyvrp", "vroom"):
        raise InputDataError(
            f"solver は auto / pyvrp / vroom のいずれかです: {solver!r}",
            en=f"solver must be auto, pyvrp or vroom: {solver!r}",
        )
    if time_limit_s is None or not (time_limit_s > 0):
        raise InputDataError(
            f"time_limit_s は正の秒数で指定してください: {time_limit_s!r}",
            en=f"time_limit_s must be a positive number of seconds: {time_limit_s!r}",
        )
    check = validate_problem(problem)
    notes = ([problem.note] if problem.note else []) + list(check.notes)
    excluded = {sid for sid, _ in check.unassigned}
    active = [i for i, s in enumerate(problem.stops) if s.stop_id not in excluded]
    has_breaks = any(v.breaks for v in problem.vehicles)
    use = solver
    if solver == "auto":
        use = "vroom" if has_breaks else "pyvrp"
    elif solver == "pyvrp" and has_breaks:
        use = "vroom"
        notes.append("休憩があるため VROOM で計画しました（PyVRP は休憩に未対応）")

    remaining = lambda: max(0.05, time_limit_s - (time.perf_counter() - t_start))  # noqa: E731
    all_req = bool(active) and all(problem.stops[i].must_visit for i in active)
    # Every stop required and two cores: both cores search from the start (see below), and the
    # VROOM plan comes from the second core; otherwise a VROOM plan first.
    two_searches = use == "pyvrp" and all_req and workers > 1
    if use == "vroom":
        vroom_routes, vroom_left = _solve_vroom(problem, active, timeout_s=remaining()) if active else ([], [])
    elif not two_searches:  # a quick VROOM plan: warm start for PyVRP, and a fallback
        vroom_routes, vroom_left = (_solve_vroom(problem, active, exploration=3, threads=1,
                                                 timeout_s=max(0.2, 0.1 * time_limit_s)) if active else ([], []))
    used = "vroom"
    if use == "pyvrp" and active:
        n_jobs = max(1, workers)
        no_imp = no_improvement if max_iterations is None else None
        if two_searches:
            # Two independent PyVRP searches on the full problem for the whole time limit (seeds
            # seed and seed + 1); the second asks VROOM for a plan when it has none serving
            # everyone by RESCUE_AT of its time (a tight fleet) and goes on from it. Measured at
            # equal compute against plain PyVRP best-of-2 in benchmarks/vrptw.py.
            full = _pyvrp_data(problem, active, all_required=True)
            t = remaining()
            with mp.get_context(_POOL_CTX).Pool(2) as pool:
                first = pool.apply_async(_pyvrp_worker, ((full[0], None, seed, t, max_iterations, no_imp, 0),))
                second = pool.apply_async(_pyvrp_rescue_worker, ((problem, active, full, t, seed + 1,
                                                                  max_iterations, no_imp),))
                outs = [first.get()]
                vroom_plan, second_out = second.get()
            outs.append(second_out)
            if vroom_plan is None and not any(o[2] for o in outs):
                # no search found a plan serving everyone and VROOM was not asked (the second
                # search stopped before its rescue was due): VROOM's plan is the fallback
                vroom_plan = _solve_vroom(problem, active, exploration=3, threads=1, timeout_s=0.5)
            # without a VROOM plan (both searches served everyone) nothing is compared against it
            vroom_routes, vroom_left = vroom_plan if vroom_plan is not None else ([], list(active))
            _key, routes, feasible, tag = min(outs, key=lambda o: (o[0], o[3]))
            _data, owner, win_of, vgroups = full
        else:
            # stops with values that VROOM could not all fit: PyVRP collects the most value
            # (prizes) rather than searching for a plan that serves everyone
            part = _pyvrp_data(problem, active, all_required=all_req and not (vroom_left and _valued(problem)))
            jobs = [(part, _try_warm(part, vroom_routes, problem) if j else None, seed + j, j)
                    for j in range(n_jobs)]
            routes, feasible, tag = pyvrp_best_of([(d[0], init, sd, tg) for d, init, sd, tg in jobs],
                                                  time_limit_s=remaining(), max_iterations=max_iterations,
                                                  no_improvement=no_imp, workers=workers)
            _data, owner, win_of, vgroups = part
        n_served = sum(len(c) for _, c in routes)
        pyvrp_seq = [(k, [owner[c] for c in clients], None, [win_of[c] for c in clients])
                     for k, clients in _routes_to_vehicles(routes, vgroups)]
        if _valued(problem):
            w = _worth(problem)
            vroom_out = set(vroom_left)
            got = sum(w[owner[c]] for _, clients in routes for c in clients)
            better = got >= sum(w[i] for i in active if i not in vroom_out) - 1e-9
        elif any(v.fixed_cost for v in problem.vehicles):
            # VROOM serves every stop it can before weighing costs; PyVRP weighs a vehicle's
            # fixed cost against the optional stops it would add: compare on PyVRP's objective
            better = _objective(problem, pyvrp_seq, active) <= _objective(problem, vroom_routes, active)
        else:
            better = n_served >= len(active) - len(vroom_left)
        if feasible and better:
            used = "pyvrp"
            routes_seq = pyvrp_seq
        elif feasible:
            notes.append("VROOM の計画の方が多くの停留所（価値の合計・車両の固定費を含む評価）で勝るため、VROOM の計画を使いました")
        else:
            notes.append("PyVRP で制約を満たす解が見つからなかったため、VROOM の計画を使いました")
    if used == "vroom":
        routes_seq = [(k, seq, bpos, None) for k, seq, bpos in vroom_routes]
    built: list[Route] = []
    for k, seq, bpos, wins in sorted(routes_seq, key=lambda r: r[0]):
        if not seq:
            continue
        built.append(_schedule(problem, problem.vehicles[k], seq, bpos, wins))
    served = {v.stop_id for r in built for v in r.visits}
    unassigned = list(check.unassigned)
    for i in active:
        s = problem.stops[i]
        if s.stop_id not in served:
            unassigned.append((s.stop_id, _reason(problem, i)))
    by_id = {v.vehicle_id: v for v in problem.vehicles}
    fixed = int(sum(by_id[r.vehicle_id].fixed_cost for r in built))
    plan = RoutingPlan(routes=built, unassigned=unassigned, distance_m=int(sum(r.distance_m for r in built)),
                       duration_s=int(sum(r.duration_s for r in built)), solver=used,
                       runtime_s=round(time.perf_counter() - t_start, 3), seed=seed, notes=notes, fixed_cost=fixed)
    return plan
