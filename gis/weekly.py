"""Weekly mobile-sales planning: which stops on which weekday, then each day's routes (Tsunagu's layer over the VRP solvers).

No VRP solver plans a week: PyVRP and VROOM route one day. This module chooses the days of every
stop-visit (visits per week, allowed weekdays, twice-weekly stops never on consecutive days),
routes each day with :func:`gis.routing.solve`, and improves the day assignment by local search.

Method (:func:`plan_week`)
-------------------------
1. Day patterns: for every stop, every set of ``visits_per_week`` allowed service days whose
   visits are at least ``min_days_apart`` days apart (cyclically over the week).
2. Assignment on a fast surrogate: the travel of a day is estimated by a tour through the depot
   and that day's stops (farthest insertion + 2-opt on the travel-time matrix), plus a
   heavy penalty for a day whose estimated work (service + travel) or load exceeds what the
   fleet can do that day. Several starts (geographic sweep around the depot, greedy clustering,
   and the naive round-robin split) are improved by local search (move a stop to another day
   pattern, swap the patterns of two stops) and the best is kept.
3. Every day is routed with the VRP solver; stop-visits a day cannot fit are moved to another
   feasible pattern and the affected days re-solved (VROOM, fast); then moves suggested by the
   surrogate are tried with real re-solves while time remains, keeping improvements
   (fewer unassigned visits first, then less driving time).

Stable weekly slots: a stop with ``slots`` (day → :class:`gis.routing.Pin`, from last week's
timetable by :func:`keep_slots`) keeps those weekdays (its day patterns must contain them) and,
on each, its vehicle and start time (a pin in that day's routing problem); the planner frees a
stop by leaving it out of ``keep_slots``. :func:`check_weekly` reports a slot not kept.

:func:`naive_weekly_plan` is the baseline: stops in id order dealt round-robin over the days
(respecting allowed days and spacing), then each day routed.
Deterministic given the seed as long as the time limit does not cut a phase short.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
from scipy.sparse.csgraph import minimum_spanning_tree

from gis.errors import InputDataError
from gis.routing import (
    Location,
    Pin,
    RoutingPlan,
    RoutingProblem,
    Stop,
    Vehicle,
    check_plan,
    format_hhmm,
    solve,
    validate_problem,
)
from gis.routing_model import stop_label

#: Days of the week, Monday first (as gis.shopping.WEEKDAYS).
WEEKDAYS = ("月", "火", "水", "木", "金", "土", "日")
DEFAULT_DAYS = ("月", "火", "水", "木", "金")
#: Default service time at a stop: fixed (setting up, paying) + per expected customer.
DEFAULT_SERVICE_FIXED_S = 10 * 60
DEFAULT_SERVICE_PER_CUSTOMER_S = 3 * 60

REASON_NO_DAY = "割り当てられる曜日がありません"


@dataclass
class WeeklyStop:
    """A mobile-sales stop for the week.

    ``allowed_days`` (None = every service day) and ``time_windows`` (start of service; empty =
    any time in working hours) apply to every visit. ``demand`` is the load one visit takes
    (default: expected customers × ``load_per_customer`` of the problem, rounded up).
    ``slots``: weekday → :class:`gis.routing.Pin` kept from last week (that day, that vehicle,
    that start of service ± the pin's tolerance); see :func:`keep_slots`.
    """

    stop_id: str
    name: str
    location: Location
    expected_customers: float = 0.0
    visits_per_week: int = 1
    allowed_days: tuple[str, ...] | None = None
    time_windows: list[tuple[int, int]] = field(default_factory=list)
    demand: int | None = None
    slots: dict[str, Pin] = field(default_factory=dict)


@dataclass
class WeeklyProblem:
    """The week: depot (the partner's shop), stops, the fleet (the same every service day), matrices.

    ``durations_s`` / ``distances_m`` are square over the depot (index 0), the stops (i =
    ``stops[i-1]``) and ``places`` (the vehicles' own starts and ends, e.g. other partner shops:
    ``Vehicle.start``/``end`` index them, as in :class:`gis.routing.RoutingProblem`)
    (:func:`gis.routing.travel_matrix`). The day-assignment surrogate measures from the depot;
    each day's routes from the vehicles' own places. Service time at a stop = ``service_fixed_s`` +
    ``service_per_customer_s`` × expected customers. Visits of one stop are at least
    ``min_days_apart`` days apart (2: never on consecutive days).
    """

    depot: Location
    stops: list[WeeklyStop]
    vehicles: list[Vehicle]
    durations_s: np.ndarray
    distances_m: np.ndarray
    days: tuple[str, ...] = DEFAULT_DAYS
    service_fixed_s: int = DEFAULT_SERVICE_FIXED_S
    service_per_customer_s: int = DEFAULT_SERVICE_PER_CUSTOMER_S
    load_per_customer: float = 1.0
    min_days_apart: int = 2
    note: str = ""
    places: list[Location] = field(default_factory=list)


@dataclass
class WeeklyPlan:
    """A week's plan: stop → days, one routing problem and plan per day, what could not be fitted.

    ``unassigned`` lists stop-visits not served as (stop id, visit number 1-based, reason).
    """

    days: tuple[str, ...]
    assignment: dict[str, tuple[str, ...]]
    day_problems: dict[str, RoutingProblem]
    day_plans: dict[str, RoutingPlan]
    unassigned: list[tuple[str, int, str]]
    method: str
    runtime_s: float
    seed: int
    visits_required: int
    notes: list[str] = field(default_factory=list)

    def driving_s(self, day: str) -> int:
        """Driving time of a day (all vehicles): travel legs only, from the day's matrix."""
        prob, plan = self.day_problems[day], self.day_plans[day]
        return _driving(prob, plan)

    def distance_m(self, day: str) -> int:
        """Distance driven on a day (all vehicles)."""
        return int(self.day_plans[day].distance_m)

    @property
    def total_driving_s(self) -> int:
        return int(sum(self.driving_s(d) for d in self.days))

    @property
    def total_distance_m(self) -> int:
        return int(sum(self.distance_m(d) for d in self.days))

    @property
    def vehicle_days(self) -> int:
        """Vehicle-days used: routes that leave the depot, over the week."""
        return int(sum(len([r for r in self.day_plans[d].routes if r.visits]) for d in self.days))

    @property
    def visits_served(self) -> int:
        return int(sum(len(v) for v in self.assignment.values()))

    @property
    def stops_served(self) -> int:
        """Stops visited at least once."""
        return int(sum(1 for v in self.assignment.values() if v))

    def summary(self) -> dict:
        """JSON-ready figures."""
        return {
            "method": self.method, "visits_served": self.visits_served, "visits_required": self.visits_required,
            "stops_served": self.stops_served, "vehicle_days": self.vehicle_days,
            "driving_s": self.total_driving_s, "distance_m": self.total_distance_m,
            "driving_s_by_day": {d: self.driving_s(d) for d in self.days},
            "unassigned": [list(u) for u in self.unassigned], "runtime_s": self.runtime_s, "seed": self.seed,
        }


def _driving(prob: RoutingProblem, plan: RoutingPlan) -> int:
    D = np.asarray(prob.durations_s, dtype=float)
    pos = {s.stop_id: i + 1 for i, s in enumerate(prob.stops)}
    total = 0.0
    for r in plan.routes:
        v = next(x for x in prob.vehicles if x.vehicle_id == r.vehicle_id)
        nodes = [prob.start_node(v)] + [pos[x.stop_id] for x in r.visits] + [prob.end_node(v)]
        if len(nodes) > 2:
            total += sum(D[a, b] for a, b in zip(nodes, nodes[1:]))
    return int(total)


# --------------------------------------------------------------------------------------------
# validation and day patterns


def _day_gap(a: str, b: str) -> int:
    d = abs(WEEKDAYS.index(a) - WEEKDAYS.index(b))
    return min(d, 7 - d)


def _check_days(days: Sequence[str]) -> tuple[str, ...]:
    out = []
    for d in days:
        d = str(d).strip().rstrip("曜日").rstrip("曜")
        if d not in WEEKDAYS:
            raise InputDataError(
                f"曜日「{d}」が分かりません",
                en=f"unknown day {d!r}",
                hint="月・火・水・木・金・土・日 で指定してください",
                hint_en="use 月, 火, 水, 木, 金, 土, 日",
            )
        if d in out:
            raise InputDataError(f"運行曜日「{d}」が重複しています", en=f"service day {d!r} is given twice")
        out.append(d)
    if not out:
        raise InputDataError("運行曜日がありません", en="no service days", hint="例：月,火,水,木,金", hint_en="e.g. 月,火,水,木,金")
    return tuple(sorted(out, key=WEEKDAYS.index))


def service_seconds(problem: WeeklyProblem, stop: WeeklyStop) -> int:
    """Service time of one visit: fixed + per expected customer (s)."""
    return int(round(problem.service_fixed_s + problem.service_per_customer_s * max(0.0, float(stop.expected_customers))))


def visit_demand(problem: WeeklyProblem, stop: WeeklyStop) -> int:
    """Load one visit takes."""
    if stop.demand is not None:
        return int(stop.demand)
    return int(math.ceil(max(0.0, float(stop.expected_customers)) * problem.load_per_customer - 1e-9))


def stop_value(stop: WeeklyStop) -> float:
    """What serving one visit of a stop is worth: its expected customers (0 when not given)."""
    try:
        v = float(stop.expected_customers)
    except (TypeError, ValueError):
        return 0.0
    return v if math.isfinite(v) and v > 0 else 0.0


def _routing_stop(problem: WeeklyProblem, s: WeeklyStop) -> Stop:
    # The stop's value is its expected customers: when a day cannot take every visit, the solvers
    # keep the most customers (VROOM priorities and PyVRP prizes proportional to it), so one stop
    # of 30 outranks two of 10.
    return Stop(stop_id=s.stop_id, name=s.name, location=s.location, service_s=service_seconds(problem, s),
                demand=visit_demand(problem, s), time_windows=[(int(a), int(b)) for a, b in s.time_windows],
                value=stop_value(s))


def _whole_problem(problem: WeeklyProblem) -> RoutingProblem:
    return RoutingProblem(depot=problem.depot, stops=[_routing_stop(problem, s) for s in problem.stops],
                          vehicles=problem.vehicles, durations_s=np.asarray(problem.durations_s),
                          distances_m=np.asarray(problem.distances_m), note=problem.note, places=list(problem.places))


def day_patterns(problem: WeeklyProblem) -> list[list[tuple[str, ...]]]:
    """Every feasible set of visit days of every stop (validating the week's input).

    Raises
    ------
    InputDataError
        No vehicles, no or unknown service days, duplicated stop ids, a stop needing more visits
        than it has allowed service days, twice-weekly visits that cannot be kept apart, a time
        window that closes before it opens or lies outside working hours, coordinates outside
        Japan, a visit's load above every vehicle's capacity, a stop the roads do not reach —
        each message names the stop.
    """
    days = _check_days(problem.days)
    if not problem.vehicles:
        raise InputDataError(
            "車両が0台です",
            en="there are no vehicles",
            hint="--vehicles 1 以上を指定してください",
            hint_en="give --vehicles 1 or more",
        )
    if problem.min_days_apart < 1:
        raise InputDataError(
            f"min_days_apart は1以上です: {problem.min_days_apart}",
            en=f"min_days_apart must be 1 or more: {problem.min_days_apart}",
        )
    whole = _whole_problem(problem)
    check = validate_problem(whole)  # duplicates, windows, coordinates, shifts, matrices
    for sid, reason in check.unassigned:
        s = next(x for x in problem.stops if x.stop_id == sid)
        raise InputDataError(
            f"{stop_label(s)}: {reason}",
            en=f"stop {s.stop_id}: {reason}",
            feature=sid,
            hint="積載量を増やすか停留所を見直してください" if "積載" in reason else "停留所の位置を見直してください",
            hint_en="raise the capacity or review the stops" if "積載" in reason else "review the stop's position",
        )
    out = []
    for k, s in enumerate(problem.stops, start=1):
        try:
            v = int(s.visits_per_week)
        except (TypeError, ValueError) as exc:
            raise InputDataError(
                f"{stop_label(s)}の週あたり訪問回数が数ではありません: {s.visits_per_week!r}",
                en=f"stop {s.stop_id}: visits per week is not a number: {s.visits_per_week!r}",
                row=k,
                feature=s.stop_id,
            ) from exc
        if v != s.visits_per_week or v < 1:
            raise InputDataError(
                f"{stop_label(s)}の週あたり訪問回数は1以上の整数です: {s.visits_per_week!r}",
                en=f"stop {s.stop_id}: visits per week must be a whole number of 1 or more: {s.visits_per_week!r}",
                row=k,
                feature=s.stop_id,
            )
        allowed = days if s.allowed_days is None else tuple(d for d in days if d in _check_days(s.allowed_days))
        if not allowed:
            raise InputDataError(
                f"{stop_label(s)}の訪問できる曜日（{'・'.join(s.allowed_days or ())}）が運行曜日"
                                 f"（{'・'.join(days)}）と重なりません",
                en=f"stop {s.stop_id}: its visiting days ({', '.join(s.allowed_days or ())}) do not overlap the service days ({', '.join(days)})",
                row=k,
                feature=s.stop_id,
                hint="訪問できる曜日か運行曜日を見直してください",
                hint_en="review the visiting days or the service days",
            )
        if v > len(allowed):
            raise InputDataError(
                f"{stop_label(s)}は週{v}回の訪問が必要ですが、訪問できる運行曜日は"
                                 f"{len(allowed)}日（{'・'.join(allowed)}）しかありません",
                en=f"stop {s.stop_id} needs {v} visits a week but only {len(allowed)} service days allow it ({', '.join(allowed)})",
                row=k,
                feature=s.stop_id,
                hint="訪問回数を減らすか運行曜日を増やしてください",
                hint_en="fewer visits or more service days",
            )
        pats = [p for p in itertools.combinations(allowed, v)
                if all(_day_gap(a, b) >= problem.min_days_apart for a, b in itertools.combinations(p, 2))]
        if s.slots:
            vids = {x.vehicle_id for x in problem.vehicles}
            for d, pin in s.slots.items():
                if d not in allowed:
                    raise InputDataError(
                        f"{stop_label(s)}の前週の曜日「{d}」が訪問できる運行曜日（{'・'.join(allowed)}）にありません",
                        en=f"stop {s.stop_id}: last week's day {d!r} is not among its service days ({', '.join(allowed)})",
                        row=k,
                        feature=s.stop_id,
                        hint="この停留所を固定から外す（--free）か運行曜日を見直してください",
                        hint_en="free this stop (--free) or review the service days",
                    )
                if pin.vehicle_id not in vids:
                    raise InputDataError(
                        f"{stop_label(s)}の前週の車両「{pin.vehicle_id}」が今週の車両にいません",
                        en=f"stop {s.stop_id}: last week's vehicle {pin.vehicle_id!r} is not among this week's vehicles",
                        row=k,
                        feature=s.stop_id,
                        hint="この停留所を固定から外す（--free）か車両の台数を見直してください",
                        hint_en="free this stop (--free) or review the number of vehicles",
                    )
            pats = [p for p in pats if set(s.slots) <= set(p)]
            if not pats:
                raise InputDataError(
                    f"{stop_label(s)}の前週の曜日（{'・'.join(s.slots)}）を週{v}回の訪問に含められません",
                    en=f"stop {s.stop_id}: last week's days ({', '.join(s.slots)}) cannot be part of {v} visits a week",
                    row=k,
                    feature=s.stop_id,
                    hint="この停留所を固定から外してください（--free）",
                    hint_en="free this stop (--free)",
                )
        if not pats:
            raise InputDataError(
                f"{stop_label(s)}の週{v}回の訪問を、{problem.min_days_apart}日以上あけて"
                                 f"{'・'.join(allowed)}に置けません（連続した曜日しかありません）",
                en=f"stop {s.stop_id}: {v} visits a week cannot be {problem.min_days_apart}+ days apart on {', '.join(allowed)} (only consecutive days)",
                row=k,
                feature=s.stop_id,
                hint="訪問できる曜日を増やすか、週1回にしてください",
                hint_en="allow more days or visit once a week",
            )
        out.append(pats)
    return out


# --------------------------------------------------------------------------------------------
# surrogate cost of a day


class _Surrogate:
    """Estimated cost of a day's stop set: MST travel on the duration matrix + capacity/time overflow penalties."""

    def __init__(self, problem: WeeklyProblem) -> None:
        D = np.nan_to_num(np.asarray(problem.durations_s, dtype=float), nan=1e7)
        self.D = np.minimum(D, D.T)  # MST needs symmetric costs
        self.service = np.array([service_seconds(problem, s) for s in problem.stops], dtype=float)
        self.demand = np.array([visit_demand(problem, s) for s in problem.stops], dtype=float)
        vs = problem.vehicles
        self.time_budget = float(sum(v.shift[1] - v.shift[0] - sum(b.duration_s for b in v.breaks) for v in vs))
        caps = [v.capacity for v in vs]
        self.cap_budget = None if any(c is None for c in caps) else float(sum(caps))
        self.per_vehicle = max(v.shift[1] - v.shift[0] for v in vs)
        self.n_vehicles = len(vs)
        self.penalty = 50.0
        self.cache: dict[frozenset, float] = {}

    def travel(self, stops: frozenset) -> float:
        """Tour length through the depot and ``stops``: farthest insertion then 2-opt (a TSP estimate)."""
        if not stops:
            return 0.0
        idx = np.array([0] + [i + 1 for i in sorted(stops)])
        sub = self.D[np.ix_(idx, idx)]
        n = len(idx)
        if n <= 3:
            return float(sum(sub[a, b] for a, b in zip(range(n), list(range(1, n)) + [0])))
        tour = [0, int(np.argmax(sub[0]))]
        left = np.ones(n, dtype=bool)
        left[tour] = False
        near = np.minimum(sub[0], sub[tour[1]])
        while left.any():
            k = int(np.flatnonzero(left)[np.argmax(near[left])])
            t = np.asarray(tour)
            nxt = np.roll(t, -1)
            extra = sub[t, k] + sub[k, nxt] - sub[t, nxt]
            at = int(np.argmin(extra))
            tour.insert(at + 1, k)
            left[k] = False
            near = np.minimum(near, sub[k])
        t = np.asarray(tour)
        improved = True
        while improved:  # 2-opt
            improved = False
            for a in range(0, n - 2):
                b = np.arange(a + 2, n)
                b = b[(b + 1) % n != a]
                if not len(b):
                    continue
                gain = sub[t[a], t[a + 1]] + sub[t[b], t[(b + 1) % n]] - sub[t[a], t[b]] - sub[t[a + 1], t[(b + 1) % n]]
                j = int(np.argmax(gain))
                if gain[j] > 1e-6:
                    bb = int(b[j])
                    t[a + 1:bb + 1] = t[a + 1:bb + 1][::-1].copy()
                    improved = True
        return float(sub[t, np.roll(t, -1)].sum())

    def cost(self, stops: frozenset) -> float:
        c = self.cache.get(stops)
        if c is not None:
            return c
        mst = self.travel(stops)
        work = mst + float(self.service[list(stops)].sum()) if stops else 0.0
        over = max(0.0, work - 0.9 * self.time_budget)
        if self.cap_budget is not None and stops:
            over += max(0.0, float(self.demand[list(stops)].sum()) - self.cap_budget) * 600.0
        c = mst + self.penalty * over
        self.cache[stops] = c
        return c


class _Assignment:
    """Pattern choice per stop and the resulting day sets, with the surrogate total."""

    def __init__(self, sur: _Surrogate, days: tuple[str, ...], patterns, choice: list[int]) -> None:
        self.sur, self.days, self.patterns = sur, days, patterns
        self.choice = list(choice)
        self.sets = {d: set() for d in days}
        for i, c in enumerate(self.choice):
            for d in patterns[i][c]:
                self.sets[d].add(i)

    def day_cost(self, d: str, sets=None) -> float:
        return self.sur.cost(frozenset((sets or self.sets)[d]))

    def total(self) -> float:
        return sum(self.day_cost(d) for d in self.days)

    def delta_move(self, i: int, c_new: int) -> float:
        old, new = set(self.patterns[i][self.choice[i]]), set(self.patterns[i][c_new])
        before = after = 0.0
        for d in old | new:
            s = self.sets[d]
            t = (s - {i}) | ({i} if d in new else set())
            before += self.sur.cost(frozenset(s))
            after += self.sur.cost(frozenset(t))
        return after - before

    def apply(self, i: int, c_new: int) -> None:
        for d in self.patterns[i][self.choice[i]]:
            self.sets[d].discard(i)
        self.choice[i] = c_new
        for d in self.patterns[i][c_new]:
            self.sets[d].add(i)

    def delta_swap(self, i: int, ci: int, j: int, cj: int) -> float:
        oi, oj = self.choice[i], self.choice[j]
        base = {d: set(s) for d, s in self.sets.items()}
        touched = set(self.patterns[i][oi]) | set(self.patterns[j][oj]) | set(self.patterns[i][ci]) | set(self.patterns[j][cj])
        before = sum(self.sur.cost(frozenset(base[d])) for d in touched)
        for d in self.patterns[i][oi]:
            base[d].discard(i)
        for d in self.patterns[j][oj]:
            base[d].discard(j)
        for d in self.patterns[i][ci]:
            base[d].add(i)
        for d in self.patterns[j][cj]:
            base[d].add(j)
        after = sum(self.sur.cost(frozenset(base[d])) for d in touched)
        return after - before


def _local_search(a: _Assignment, rng: np.random.Generator, deadline: float) -> None:
    n = len(a.choice)
    improved = True
    while improved and time.perf_counter() < deadline:
        improved = False
        for i in rng.permutation(n):
            best, best_c = -1e-6, None
            for c in range(len(a.patterns[i])):
                if c == a.choice[i]:
                    continue
                dl = a.delta_move(i, c)
                if dl < best:
                    best, best_c = dl, c
            if best_c is not None:
                a.apply(i, best_c)
                improved = True
        if time.perf_counter() >= deadline:
            break
        # swaps between stops with the same number of visits (keeps day loads balanced)
        for i in rng.permutation(n):
            if time.perf_counter() >= deadline:
                break
            for j in range(i + 1, n):
                if len(a.patterns[i][0]) != len(a.patterns[j][0]):
                    continue
                pi, pj = a.patterns[i][a.choice[i]], a.patterns[j][a.choice[j]]
                if pi == pj:
                    continue
                ci = next((c for c, p in enumerate(a.patterns[i]) if p == pj), None)
                cj = next((c for c, p in enumerate(a.patterns[j]) if p == pi), None)
                if ci is None or cj is None:
                    continue
                if a.delta_swap(i, ci, j, cj) < -1e-6:
                    a.apply(i, ci)
                    a.apply(j, cj)
                    improved = True


def _naive_choice(problem: WeeklyProblem, patterns) -> list[int]:
    """Round-robin: stops in id order, each on the first feasible pattern from a rotating day pointer."""
    days = _check_days(problem.days)
    order = sorted(range(len(problem.stops)), key=lambda i: problem.stops[i].stop_id)
    choice = [0] * len(problem.stops)
    ptr = 0
    for i in order:
        pats = patterns[i]
        # the pattern whose first day comes soonest from the pointer
        def key(p):
            return min((days.index(d) - ptr) % len(days) for d in p)
        c = min(range(len(pats)), key=lambda c: (key(pats[c]), c))
        choice[i] = c
        ptr = (days.index(min(pats[c], key=lambda d: (days.index(d) - ptr) % len(days))) + 1) % len(days)
    return choice


def _sweep_choice(problem: WeeklyProblem, patterns, sur: _Surrogate) -> list[int]:
    """Angular sweep around the depot: stops in angle order, cut into day sectors by estimated work."""
    days = _check_days(problem.days)
    d0 = problem.depot
    ang = [math.atan2(s.location.lat - d0.lat, (s.location.lon - d0.lon) * math.cos(math.radians(d0.lat)))
           for s in problem.stops]
    order = sorted(range(len(problem.stops)), key=lambda i: ang[i])
    if len(order) > 1:  # start after the widest angular gap, so no sector straddles it
        a = sorted(ang)
        gaps = [(a[(k + 1) % len(a)] - a[k]) % (2 * math.pi) for k in range(len(a))]
        k = int(np.argmax(gaps))
        order = order[k + 1:] + order[:k + 1]
    work = [sur.service[i] * len(patterns[i][0]) + 2 * sur.D[0, i + 1] * 0.2 for i in order]
    total = sum(work) or 1.0
    choice = [0] * len(problem.stops)
    acc = 0.0
    for i, w in zip(order, work):
        sector = min(len(days) - 1, int(len(days) * (acc + w / 2) / total))
        acc += w
        target = days[sector]
        pats = patterns[i]
        choice[i] = min(range(len(pats)), key=lambda c: (0 if target in pats[c] else 1,
                                                         min(abs(days.index(d) - sector) for d in pats[c]), c))
    return choice


def _greedy_choice(problem: WeeklyProblem, patterns, sur: _Surrogate) -> list[int]:
    """Greedy clustering: most constrained and farthest stops first, each on its cheapest pattern."""
    days = _check_days(problem.days)
    order = sorted(range(len(problem.stops)),
                   key=lambda i: (len(patterns[i]), -len(patterns[i][0]), -sur.D[0, i + 1], problem.stops[i].stop_id))
    sets = {d: set() for d in days}
    choice = [0] * len(problem.stops)
    for i in order:
        best = None
        for c, p in enumerate(patterns[i]):
            dl = sum(sur.cost(frozenset(sets[d] | {i})) - sur.cost(frozenset(sets[d])) for d in p)
            if best is None or dl < best[0] - 1e-9:
                best = (dl, c)
        choice[i] = best[1]
        for d in patterns[i][best[1]]:
            sets[d].add(i)
    return choice


# --------------------------------------------------------------------------------------------
# routing the days


def _day_problem(problem: WeeklyProblem, rstops: list[Stop], members: Sequence[int], day: str) -> RoutingProblem:
    n = len(problem.stops)
    idx = [0] + [i + 1 for i in members] + [n + 1 + k for k in range(len(problem.places))]
    D = np.asarray(problem.durations_s)[np.ix_(idx, idx)]
    X = np.asarray(problem.distances_m)[np.ix_(idx, idx)]
    vehicles = [replace(v, breaks=list(v.breaks)) for v in problem.vehicles]
    # a slot kept from last week: that vehicle, that start of service (a pin on this day)
    stops = [replace(rstops[i], pin=problem.stops[i].slots[day]) if day in problem.stops[i].slots else rstops[i]
             for i in members]
    return RoutingProblem(depot=problem.depot, stops=stops, vehicles=vehicles,
                          durations_s=D, distances_m=X, note=problem.note, places=list(problem.places))


class _DaySolver:
    """Solves days (cached by stop set); keeps the time budget."""

    def __init__(self, problem: WeeklyProblem, *, solver: str, seed: int) -> None:
        self.problem = problem
        self.rstops = [_routing_stop(problem, s) for s in problem.stops]
        self.solver, self.seed = solver, seed
        self.cache: dict[tuple, tuple[RoutingProblem, RoutingPlan, int]] = {}
        # kept slots pin a stop's time on its day only: the day is then part of a day's problem
        self.by_day = any(s.slots for s in problem.stops)

    def run(self, day: str, members: set[int], *, solver: str | None = None, time_limit_s: float = 1.0):
        key = (solver or self.solver, frozenset(members), day if self.by_day else None)
        hit = self.cache.get(key)
        if hit is not None:
            return hit
        mem = sorted(members, key=lambda i: self.problem.stops[i].stop_id)
        prob = _day_problem(self.problem, self.rstops, mem, day)
        if mem:
            plan = solve(prob, solver=solver or self.solver, time_limit_s=max(0.1, time_limit_s), seed=self.seed, workers=1)
        else:
            plan = RoutingPlan(routes=[], unassigned=[], distance_m=0, duration_s=0, solver="-", runtime_s=0.0,
                               seed=self.seed)
        out = (prob, plan, _driving(prob, plan))
        self.cache[key] = out
        return out


def _score(results: dict, values: dict[str, float]) -> tuple[float, int, int]:
    """(expected customers of the visits left out, visits left out, driving s): lower is better.

    Visits are worth their expected customers (prize-collecting): leaving out one stop of 30
    customers is worse than leaving out two of 10.
    """
    lost = sum(values.get(sid, 0.0) for r in results.values() for sid, _ in r[1].unassigned)
    return (round(lost, 6), sum(len(r[1].unassigned) for r in results.values()), sum(r[2] for r in results.values()))


#: Reason for a visit left out so that a stop with more expected customers fits the day.
REASON_OUTRANKED = "見込み客数のより多い停留所（{by}）を優先したため入りません"
#: Added to a visit's reason when even dropping every stop with fewer expected customers does not make it fit.
REASON_NO_SWAP = "（見込み客数の少ない停留所と入れ替えても入りません）"
#: Added when it fits only by dropping stops whose expected customers add up to more than its own.
REASON_SWAP_LOSES = "（見込み客数の少ない停留所と入れ替えると、外れる停留所の見込み客数の合計（{lost:.1f}人）の方が多くなります）"


def _served(plan: RoutingPlan) -> set[str]:
    return {v.stop_id for r in plan.routes for v in r.visits}


def _serve_by_value(problem: WeeklyProblem, a, results: dict, ds, *,
                    deadline: float) -> tuple[dict[tuple[str, str], str], dict[tuple[str, str], str]]:
    """Swap visits so that no stop is left out while one with fewer expected customers is served.

    For every visit the solver left out (most expected customers first), each day its day
    pattern could move it to is tried with every stop of fewer expected customers taken off
    that day; if it fits, those stops are put back one by one (most customers first) while
    everything still fits, and the ones that do not are moved to another allowed day or left
    out with :data:`REASON_OUTRANKED` (a visit in a slot kept from last week is never taken off). Repeats until a whole round changes nothing. Changes
    ``a`` (the assignment) and ``results`` in place; returns the reasons of the visits taken off,
    keyed by (stop id, day), and for the visits still left out why no swap took them in
    (:data:`REASON_NO_SWAP` or :data:`REASON_SWAP_LOSES`), given only when the last round changed
    nothing, so that every such visit was tried against every stop with fewer customers on every
    day it could go to. ``deadline`` stops further rounds, never a round half-way.
    """
    stops = problem.stops
    values = [stop_value(s) for s in stops]
    index = {s.stop_id: i for i, s in enumerate(stops)}
    days = tuple(results)
    dropped: dict[int, set[str]] = {i: set() for i in range(len(stops))}  # stop -> days it was taken off
    reasons: dict[tuple[str, str], str] = {}

    def day_members(d: str) -> set[int]:
        return {i for i in a.sets[d] if d not in dropped[i]}

    def move_days(i: int, d: str) -> list[tuple[str, int | None]]:
        """(day, pattern index) where visit (i, d) can go: d itself, or another day by a pattern change."""
        cur = set(a.patterns[i][a.choice[i]])
        out: list[tuple[str, int | None]] = [(d, None)]
        for c, pat in enumerate(a.patterns[i]):
            extra = set(pat) - cur
            if c != a.choice[i] and set(pat) - extra == cur - {d} and len(extra) == 1:
                out.append((extra.pop(), c))
        return out

    for _round in range(4 * len(stops) + 1):
        kept_out: dict[tuple[str, str], str] = {}
        left = sorted(((index[sid], d) for d in days for sid, _ in results[d][1].unassigned),
                      key=lambda t: (-values[t[0]], stops[t[0]].stop_id, t[1]))
        changed = False
        for i, d in left:
            if d not in a.patterns[i][a.choice[i]] or i not in a.sets[d]:
                continue  # moved by an earlier swap of this round
            best, cheapest = None, None
            for day, c in move_days(i, d):
                if c is not None and day in dropped[i]:
                    continue
                base = day_members(day) - {i}
                served_now = _served(results[day][1])
                # a visit in its slot kept from last week is never taken off for another
                lower = sorted((j for j in base if values[j] < values[i] and stops[j].stop_id in served_now
                                and day not in stops[j].slots),
                               key=lambda j: (values[j], stops[j].stop_id))
                keep = base - set(lower)
                r = ds.run(day, keep | {i})
                if stops[i].stop_id not in _served(r[1]):
                    continue
                must = {stops[j].stop_id for j in keep if stops[j].stop_id in served_now} | {stops[i].stop_id}
                for j in reversed(lower):  # put back, most customers first
                    r2 = ds.run(day, keep | {i, j})
                    if must | {stops[j].stop_id} <= _served(r2[1]):
                        keep, r = keep | {j}, r2
                        must.add(stops[j].stop_id)
                off = [j for j in lower if j not in keep]
                lost = sum(values[j] for j in off)
                cheapest = lost if cheapest is None else min(cheapest, lost)
                if lost < values[i] - 1e-9 and (best is None or lost < best[0]):
                    best = (lost, day, c, keep, r, off)
            if best is None:
                kept_out[(stops[i].stop_id, d)] = (REASON_NO_SWAP if cheapest is None
                                                   else REASON_SWAP_LOSES.format(lost=cheapest))
                continue
            _lost, day, c, keep, r, off = best
            if c is not None:
                a.apply(i, c)
                # the day it leaves is re-solved without it
                results[d] = ds.run(d, day_members(d))
            results[day] = r
            for j in off:
                # another allowed day with room for it, else left out for the larger stop
                moved = False
                for day2, c2 in move_days(j, day)[1:]:
                    if day2 in dropped[j]:
                        continue
                    before = _served(results[day2][1])
                    r3 = ds.run(day2, day_members(day2) | {j})
                    if before | {stops[j].stop_id} <= _served(r3[1]):
                        a.apply(j, c2)
                        results[day2] = r3
                        moved = True
                        break
                if not moved:
                    dropped[j].add(day)
                    reasons[(stops[j].stop_id, day)] = REASON_OUTRANKED.format(by=stops[i].name or stops[i].stop_id)
            changed = True
        if not changed or time.perf_counter() > deadline:
            break
    for (sid, d), _why in list(reasons.items()):
        if sid not in index or index[sid] not in a.sets.get(d, ()):
            reasons.pop((sid, d))
    if changed:  # the last round moved visits: what it said about the others may be stale
        kept_out = {}
    return reasons, kept_out


def _finish(problem: WeeklyProblem, patterns, sets: dict[str, set[int]], results: dict, *, method: str,
            t0: float, seed: int, notes: list[str], taken_off: dict[tuple[str, str], str] | None = None,
            kept_out: dict[tuple[str, str], str] | None = None) -> WeeklyPlan:
    days = _check_days(problem.days)
    stops = problem.stops
    served: dict[str, list[str]] = {s.stop_id: [] for s in stops}
    reasons: dict[str, list[tuple[str, str]]] = {s.stop_id: [] for s in stops}
    for d in days:
        prob, plan, _ = results[d]
        for r in plan.routes:
            for v in r.visits:
                served[v.stop_id].append(d)
        for sid, why in plan.unassigned:
            reasons[sid].append((d, why + (kept_out or {}).get((sid, d), "")))
    for (sid, d), why in (taken_off or {}).items():
        reasons[sid].append((d, why))
    unassigned = []
    for s in stops:
        got = len(served[s.stop_id])
        need = int(s.visits_per_week)
        for k, (d, why) in enumerate(reasons[s.stop_id][: max(0, need - got)], start=got + 1):
            unassigned.append((s.stop_id, k, f"{d}曜日に入りません：{why}"))
        for k in range(got + len(reasons[s.stop_id]) + 1, need + 1):
            unassigned.append((s.stop_id, k, REASON_NO_DAY))
    assignment = {s.stop_id: tuple(sorted(served[s.stop_id], key=WEEKDAYS.index)) for s in stops}
    return WeeklyPlan(days=days, assignment=assignment, day_problems={d: results[d][0] for d in days},
                      day_plans={d: results[d][1] for d in days}, unassigned=unassigned, method=method,
                      runtime_s=round(time.perf_counter() - t0, 3), seed=seed,
                      visits_required=int(sum(int(s.visits_per_week) for s in stops)),
                      notes=([problem.note] if problem.note else []) + notes)


def naive_weekly_plan(problem: WeeklyProblem, *, time_limit_s: float = 10.0, seed: int = 0,
                      solver: str = "auto") -> WeeklyPlan:
    """Baseline: stops dealt round-robin over the days in id order (allowed days and spacing kept), then each day routed.

    The time limit is shared equally by the days.
    """
    t0 = time.perf_counter()
    patterns = day_patterns(problem)
    days = _check_days(problem.days)
    choice = _naive_choice(problem, patterns)
    sets = {d: set() for d in days}
    for i, c in enumerate(choice):
        for d in patterns[i][c]:
            sets[d].add(i)
    ds = _DaySolver(problem, solver=solver, seed=seed)
    results = {d: ds.run(d, sets[d], time_limit_s=time_limit_s / len(days)) for d in days}
    return _finish(problem, patterns, sets, results, method="naive", t0=t0, seed=seed,
                   notes=["単純な割り振り（停留所ID順に曜日を順番に割り当て、各曜日のルートを計算）"])


def plan_week(problem: WeeklyProblem, *, time_limit_s: float = 30.0, seed: int = 0, solver: str = "auto") -> WeeklyPlan:
    """Plan the week: days per stop (geographic clustering + local search), each day routed, then improved.

    Parameters
    ----------
    problem
        The week (validated: see :func:`day_patterns` for what is refused, each naming the stop).
    time_limit_s
        Wall-clock budget for the whole week (assignment search, day routing and improvement).
    seed
        Seed of the local search and the solvers.
    solver
        Passed to :func:`gis.routing.solve` for the final day routes (``auto``: VROOM with
        breaks, PyVRP otherwise); improvement re-solves use VROOM.

    Returns
    -------
    WeeklyPlan
        Every required stop-visit is either on a day route or in ``unassigned`` with the reason.
    """
    t0 = time.perf_counter()
    if time_limit_s is None or not time_limit_s > 0:
        raise InputDataError(
            f"time_limit_s は正の秒数で指定してください: {time_limit_s!r}",
            en=f"time_limit_s must be a positive number of seconds: {time_limit_s!r}",
        )
    patterns = day_patterns(problem)
    days = _check_days(problem.days)
    rng = np.random.default_rng(seed)
    sur = _Surrogate(problem)
    notes: list[str] = []

    # 1. assignment on the surrogate, from several starts
    budget = t0 + 0.25 * time_limit_s
    starts = [("sweep", _sweep_choice(problem, patterns, sur)), ("greedy", _greedy_choice(problem, patterns, sur)),
              ("naive", _naive_choice(problem, patterns))]
    ds = _DaySolver(problem, solver="vroom", seed=seed)
    candidates = []
    for k, (name, choice) in enumerate(starts):
        a = _Assignment(sur, days, patterns, choice)
        share = t0 + (budget - t0) * (k + 1) / len(starts)
        _local_search(a, rng, share)
        candidates.append(a)
    candidates.append(_Assignment(sur, days, patterns, starts[-1][1]))  # the naive split itself
    # 2. route every day of each candidate (VROOM: fast) and keep the best; repair unassigned visits
    values = {st.stop_id: stop_value(st) for st in problem.stops}
    a, results, score = None, None, None
    for cand in candidates:
        res = {d: ds.run(d, cand.sets[d]) for d in days}
        sc = _score(res, values)
        if score is None or sc < score:
            a, results, score = cand, res, sc
    deadline = t0 + 0.75 * time_limit_s

    def try_choice(i: int, c: int) -> bool:
        nonlocal score, results
        old = a.choice[i]
        touched = set(a.patterns[i][old]) | set(a.patterns[i][c])
        a.apply(i, c)
        trial = dict(results)
        for d in touched:
            trial[d] = ds.run(d, a.sets[d])
        new = _score(trial, values)
        if new < score:
            results, score = trial, new
            return True
        a.apply(i, old)
        return False

    changed = True
    while changed and score[1] > 0 and time.perf_counter() < deadline:
        changed = False
        left = sorted({problem.stops.index(next(s for s in problem.stops if s.stop_id == sid))
                       for d in days for sid, _ in results[d][1].unassigned})
        for i in left:
            if time.perf_counter() >= deadline:
                break
            cands = sorted((c for c in range(len(patterns[i])) if c != a.choice[i]), key=lambda c: (a.delta_move(i, c), c))
            for c in cands:
                if try_choice(i, c):
                    changed = True
                    break

    # 3. improvement: moves the surrogate likes, checked by real re-solves
    tried: set[tuple[int, int]] = set()
    while time.perf_counter() < deadline:
        moves = sorted(((a.delta_move(i, c), i, c) for i in range(len(a.choice)) for c in range(len(patterns[i]))
                        if c != a.choice[i] and (i, c) not in tried), key=lambda m: (m[0], m[1], m[2]))
        if not moves:
            break
        progressed = False
        for _, i, c in moves[:40]:
            if time.perf_counter() >= deadline:
                break
            tried.add((i, c))
            if try_choice(i, c):
                progressed = True
                tried.clear()
                break
        if not progressed and len(moves) <= 40:
            break
    # 4. final routes with the chosen solver in the remaining time
    if solver != "vroom":
        final = _DaySolver(problem, solver=solver, seed=seed)
        left_s = max(0.3, t0 + time_limit_s - time.perf_counter())
        busy = [d for d in days if a.sets[d]]
        for d in busy:
            r = final.run(d, a.sets[d], time_limit_s=left_s / max(1, len(busy)))
            if _score({d: r}, values) < _score({d: results[d]}, values):
                results[d] = r
    # 5. no stop left out while one with fewer expected customers is served (when a swap fits)
    taken_off, kept_out = _serve_by_value(problem, a, results, ds, deadline=t0 + 2 * time_limit_s)
    if not kept_out and any(r[1].unassigned for r in results.values()):
        notes.append("時間の上限のため、見込み客数による停留所の入れ替えを最後まで確かめていません")
    notes.append("曜日の割り当て：停留所を地理的にまとめ（拠点まわりの方位と巡回路の移動時間の見積もり）、"
                 "局所探索で改善したうえで各曜日のルートを計算しました")
    plan = _finish(problem, patterns, a.sets, results, method="tsunagu", t0=t0, seed=seed, notes=notes,
                   taken_off=taken_off, kept_out=kept_out)
    # 6. post-check: say so when a bigger stop is still out for a smaller one without a stated constraint
    wrong = value_order_violations(problem, plan)
    if wrong:
        plan.notes.append(f"見込み客数の多い停留所が、理由を示せないまま{len(wrong)}件未割当です"
                          f"（計算時間を延ばすと入れ替えられる場合があります）: {wrong[0]}")
    return plan


def check_weekly(problem: WeeklyProblem, plan: WeeklyPlan) -> list[str]:
    """Every hard-constraint violation of a weekly plan, independent of the solvers (empty = valid).

    Each day's routes are checked by :func:`gis.routing.check_plan` on that day's problem
    (rebuilt here from the weekly input, not taken from the plan); on top: every stop's visits
    are on allowed service days, at least ``min_days_apart`` apart, and visits served +
    unassigned visits = visits per week; a stop's slots kept from last week are on their days
    (their vehicle and time are pins, checked by ``check_plan``), or listed unassigned that day.
    """
    out: list[str] = []
    days = _check_days(problem.days)
    rstops = [_routing_stop(problem, s) for s in problem.stops]
    pos = {s.stop_id: i for i, s in enumerate(problem.stops)}
    visited: dict[str, list[str]] = {s.stop_id: [] for s in problem.stops}
    for d in days:
        dp = plan.day_plans.get(d)
        if dp is None:
            out.append(f"{d}曜日の計画がありません")
            continue
        listed = [v.stop_id for r in dp.routes for v in r.visits] + [sid for sid, _ in dp.unassigned]
        unknown = [sid for sid in listed if sid not in pos]
        for sid in unknown:
            out.append(f"{d}曜日: 存在しない停留所 {sid} があります")
        members = sorted({pos[sid] for sid in listed if sid in pos}, key=lambda i: problem.stops[i].stop_id)
        prob = _day_problem(problem, rstops, members, d)
        out += [f"{d}曜日: {m}" for m in check_plan(prob, dp)]
        for r in dp.routes:
            for v in r.visits:
                if v.stop_id in visited:
                    visited[v.stop_id].append(d)
    for d in plan.day_plans:
        if d not in days:
            out.append(f"運行曜日でない {d}曜日に計画があります")
    unassigned = {}
    for sid, _k, why in plan.unassigned:
        unassigned[sid] = unassigned.get(sid, 0) + 1
        if not why:
            out.append(f"停留所 {sid} の未割当の理由がありません")
    for s in problem.stops:
        got = visited[s.stop_id]
        lab = stop_label(s)
        allowed = set(days if s.allowed_days is None else s.allowed_days)
        for d in got:
            if d not in allowed:
                out.append(f"{lab}: 訪問できない {d}曜日に訪問しています")
        for a_, b_ in itertools.combinations(got, 2):
            if _day_gap(a_, b_) < problem.min_days_apart:
                out.append(f"{lab}: {a_}曜日と{b_}曜日の訪問が {problem.min_days_apart} 日以上あいていません")
        if len(got) + unassigned.get(s.stop_id, 0) != int(s.visits_per_week):
            out.append(f"{lab}: 訪問 {len(got)} 回＋未割当 {unassigned.get(s.stop_id, 0)} 回が週 {s.visits_per_week} 回と合いません")
        for d in s.slots:
            if d not in got and d in days:
                listed = any(sid == s.stop_id for sid, _ in plan.day_plans[d].unassigned) if d in plan.day_plans else False
                if not listed:
                    out.append(f"{lab}: 前週の{d}曜日の枠で訪問していません（固定した曜日が変わっています）")
        if tuple(sorted(got, key=WEEKDAYS.index)) != tuple(plan.assignment.get(s.stop_id, ())):
            out.append(f"{lab}: 曜日の割り当て {plan.assignment.get(s.stop_id)} がルートの訪問 {got} と合いません")
    return out


def keep_slots(problem: WeeklyProblem, previous, *, free=(), tolerance_s: int = 5 * 60) -> WeeklyProblem:
    """The week with every stop's weekday, vehicle and time kept from last week's timetable, except the freed ones.

    Parameters
    ----------
    problem
        This week's problem (stops with the same ids as last week, e.g. planned from the edited
        stops.csv).
    previous
        Last week's timetable (:func:`gis.timetable.timetable`, or its CSV read back): rows
        of 種別 「停留所」 with 曜日, 車両 (vehicle name or id), 停留所ID, 出発 and 滞在（分）.
    free
        Stop ids the planner frees: planned again on any day and time.
    tolerance_s
        How far a kept start of service may move (± seconds).

    Returns
    -------
    WeeklyProblem
        A copy whose stops carry ``slots``; stops not in last week's timetable stay free.

    Raises
    ------
    InputDataError
        A timetable without the needed columns, an unreadable time, a vehicle that is not in
        this week's fleet, or a freed stop id that is in neither week.
    """
    import pandas as pd

    table = pd.DataFrame(previous)
    need = ["曜日", "車両", "種別", "停留所ID", "出発", "滞在（分）"]
    missing = [c for c in need if c not in table.columns]
    if missing:
        raise InputDataError(
            f"前週の時刻表に列 {'・'.join(missing)} がありません",
            en=f"last week's timetable has no {', '.join(missing)} column",
            hint="前週の mobile-sales が出力した timetable.csv を指定してください",
            hint_en="give the timetable.csv last week's mobile-sales wrote",
        )
    if tolerance_s is None or tolerance_s < 0:
        raise InputDataError(
            f"時刻の許容幅は0以上です: {tolerance_s!r}",
            en=f"the time tolerance must be 0 or more: {tolerance_s!r}",
        )
    vid = {**{v.name: v.vehicle_id for v in problem.vehicles if v.name}, **{v.vehicle_id: v.vehicle_id for v in problem.vehicles}}
    ids = {s.stop_id for s in problem.stops}
    free = {str(x).strip() for x in free if str(x).strip()}
    prev_ids = set(table.loc[table["種別"] == "停留所", "停留所ID"].astype(str))
    unknown = sorted(free - ids - prev_ids)
    if unknown:
        raise InputDataError(
            f"固定を外す停留所 {'、'.join(unknown)} が前週にも今週にもありません",
            en=f"stops to unpin {', '.join(unknown)} are neither in last week's nor this week's plan",
            hint="停留所ID（例 S003）を指定してください",
            hint_en="give stop IDs (e.g. S003)",
        )
    slots: dict[str, dict[str, Pin]] = {}
    for n, r in enumerate(table.to_dict("records"), start=1):
        if str(r["種別"]) != "停留所":
            continue
        sid = str(r["停留所ID"])
        if sid in free or sid not in ids:
            continue
        day = str(r["曜日"]).strip()
        who = vid.get(str(r["車両"]).strip())
        if who is None:
            raise InputDataError(
                f"前週の時刻表 {n}行目の車両「{r['車両']}」が今週の車両にいません",
                en=f"last week's timetable row {n}: vehicle {r['車両']!r} is not among this week's vehicles",
                row=n,
                feature=sid,
                hint="同じ台数で計画するか、この停留所を --free で外してください",
                hint_en="plan with as many vehicles or free this stop with --free",
            )
        try:
            start = parse_hhmm(str(r["出発"])) - int(round(float(r["滞在（分）"]) * 60))
        except (TypeError, ValueError, InputDataError) as exc:
            raise InputDataError(
                f"前週の時刻表 {n}行目（停留所 {sid}）の出発・滞在が読めません",
                en=f"last week's timetable row {n} (stop {sid}): cannot read the departure or the stay",
                row=n,
                feature=sid,
            ) from exc
        slots.setdefault(sid, {})[day] = Pin(who, int(start), int(tolerance_s))
    stops = [replace(s, slots=dict(slots.get(s.stop_id, {}))) for s in problem.stops]
    return replace(problem, stops=stops)


def _states_why_no_swap(why: str, value: float) -> bool:
    """Whether a left-out visit's reason names the constraint that keeps it out (see :func:`value_order_violations`)."""
    import re

    from gis import routing

    if REASON_NO_SWAP in why or why.endswith(REASON_OUTRANKED.split("}")[-1]) or why == REASON_NO_DAY:
        return True
    m = re.search(re.escape(REASON_SWAP_LOSES.split("{")[0]) + r"([\d.]+)", why)
    if m:
        return float(m.group(1)) >= value - 0.05  # the swap would leave out at least as many customers
    # does not fit even on a day of its own: a stated hard constraint
    return any(r in why for r in (routing.REASON_CAPACITY, routing.REASON_UNREACHABLE, routing.REASON_WINDOW,
                                  routing.REASON_SHIFT))


def value_order_violations(problem: WeeklyProblem, plan: WeeklyPlan) -> list[str]:
    """Visits left out while a stop with fewer expected customers is served where they could go (empty = none).

    The post-check of :func:`plan_week`: a visit of stop A may be unassigned while stop B with
    fewer expected customers is visited on a day A could take (an allowed service day, far
    enough from A's other visits) only when A's reason names the constraint that forbids the
    swap: it does not fit even without every smaller stop of that day; the swap would leave out
    at least as many customers (the figure stated); it was taken off for a stop with more
    customers; or it fits no route on its own (time window, working hours, capacity, roads).
    Independent of the solvers: reads the plan and the weekly input only.
    """
    days = _check_days(problem.days)
    values = {s.stop_id: stop_value(s) for s in problem.stops}
    by_id = {s.stop_id: s for s in problem.stops}
    out: list[str] = []
    for sid, k, why in plan.unassigned:
        s = by_id.get(sid)
        if s is None:
            continue
        allowed = days if s.allowed_days is None else tuple(d for d in days if d in _check_days(s.allowed_days))
        mine = plan.assignment.get(sid, ())
        free = [d for d in allowed if d not in mine and all(_day_gap(d, e) >= problem.min_days_apart for e in mine)]
        smaller = [(values[o], o, d) for o, got in plan.assignment.items() for d in got
                   if d in free and values.get(o, 0.0) < values[sid] - 1e-9]
        if not smaller or _states_why_no_swap(why, values[sid]):
            continue
        v_o, o, d = min(smaller)
        out.append(f"{stop_label(s)}（見込み客 {values[sid]:.1f}人）の{k}回目の訪問が未割当なのに、見込み客の少ない"
                   f"{stop_label(by_id[o])}（{v_o:.1f}人）を{d}曜日に訪問しています。入れ替えを妨げる制約が示されていません"
                   f"（理由: {why}）")
    return out


def parse_hhmm(text: str) -> int:
    """「9:00」 → seconds since midnight."""
    t = str(text).strip().replace("：", ":")
    try:
        h, m = t.split(":")
        h, m = int(h), int(m)
    except ValueError as exc:
        raise InputDataError(
            f"時刻「{text}」が読めません",
            en=f"cannot read the time {text!r}",
            hint="9:00 のように 時:分 で指定してください",
            hint_en="write hours:minutes, e.g. 9:00",
        ) from exc
    if not (0 <= h <= 47 and 0 <= m < 60):
        raise InputDataError(f"時刻「{text}」が範囲外です", en=f"the time {text!r} is out of range")
    return h * 3600 + m * 60


__all__ = [
    "WEEKDAYS", "DEFAULT_DAYS", "DEFAULT_SERVICE_FIXED_S", "DEFAULT_SERVICE_PER_CUSTOMER_S",
    "WeeklyStop", "WeeklyProblem", "WeeklyPlan", "day_patterns", "plan_week", "naive_weekly_plan",
    "check_weekly", "keep_slots", "value_order_violations", "service_seconds", "visit_demand", "stop_value", "parse_hhmm",
    "format_hhmm",
]
