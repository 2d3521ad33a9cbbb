"""The routing problem model: places, stops, vehicles, plans, and the checks made before solving.

Times are integer seconds since midnight, distances integer metres. The travel matrices are
(1+n+m)×(1+n+m): index 0 is the depot, index i is ``stops[i-1]``, index n+1+k is
``places[k]`` (other places vehicles start or end at: a CSW's home, another centre, a partner
shop). Re-exported by :mod:`gis.routing`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from gis.crs import in_japan
from gis.errors import InputDataError

DAY_END = 48 * 3600  # latest representable time (two days), used when a stop has no window

REASON_CAPACITY = "積載量が足りません（この停留所の需要がどの車両の積載量も超えています）"
REASON_UNREACHABLE = "道路網で到達できません"
REASON_WINDOW = "時間帯に間に合いません（どの車両の勤務時間内でも、時間帯内に到着できません）"
REASON_SHIFT = "勤務時間が短すぎます（拠点から往復すると勤務時間に収まりません）"
REASON_FLEET = "車両・時間が足りません（他の訪問と合わせると勤務時間・積載量に収まりません）"
REASON_OPTIONAL = "任意の訪問のため、今回の計画では見送りました（優先度が低いか回り道が大きい、または車両を増やす固定費に見合わない）"
REASON_SKILL = "必要な資格・担当（{need}）をすべて持つ車両・担当がいません"


# --------------------------------------------------------------------------------------------
# model


@dataclass(frozen=True)
class Location:
    """A point: longitude and latitude (WGS84), or planar x/y when ``RoutingProblem.planar``."""

    lon: float
    lat: float
    name: str = ""


@dataclass(frozen=True)
class Pin:
    """A visit fixed by an appointment: served by ``vehicle_id`` (a vehicle or CSW), starting within ``start_s`` ± ``tolerance_s``.

    Used when re-planning a day (:func:`replan_problem`): after a cancellation the appointments
    keep their vehicle and time, the rest is planned again.
    """

    vehicle_id: str
    start_s: int
    tolerance_s: int = 5 * 60

    @property
    def window(self) -> tuple[int, int]:
        return (int(self.start_s - self.tolerance_s), int(self.start_s + self.tolerance_s))


@dataclass
class Stop:
    """A place to visit.

    ``time_windows`` constrain the start of service (empty = any time); ``required`` stops must
    be visited or be reported unassigned with the reason; optional ones are visited when worth it
    (higher ``priority`` = more worth).

    ``value`` (e.g. a mobile-sales stop's expected customers) is what serving the stop is worth
    when not every stop fits: given on any stop of a problem, the solvers maximise the total value
    served before travel (prize-collecting), so one stop of 30 outranks two of 10; stops without
    a value are worth nothing then. Without values, ``required`` and ``priority`` rank the stops.

    ``pin`` fixes the visit to one vehicle and a start of service around its appointment time:
    the pin's window replaces ``time_windows`` and the stop is required.

    ``skills``: what the visitor must have, all of them (e.g. 「介護福祉士」); only vehicles whose
    ``Vehicle.skills`` include every one may serve the stop. Continuity with the same CSW is a
    skill only that CSW has (e.g. 「担当:csw1」, see :func:`continuity_skill`).
    """

    stop_id: str
    name: str
    location: Location
    service_s: int
    demand: int = 0
    time_windows: list[tuple[int, int]] = field(default_factory=list)
    priority: int = 0
    required: bool = True
    value: float | None = None
    pin: Pin | None = None
    skills: frozenset[str] = frozenset()

    @property
    def must_visit(self) -> bool:
        """Required, or pinned to an appointment."""
        return bool(self.required) or self.pin is not None


@dataclass
class Break:
    """A break (e.g. lunch) of ``duration_s`` taken entirely within ``window`` (start, end)."""

    window: tuple[int, int]
    duration_s: int


@dataclass
class Vehicle:
    """A vehicle (or a CSW on foot/by car) working ``shift`` = (leave its start not before, be at its end by).

    ``start`` / ``end``: where the day starts and ends, as a position in ``RoutingProblem.places``
    (a CSW's home, another centre, a truck's partner shop); None = the depot. ``fixed_cost``: the
    cost of using this vehicle at all on the day, in the objective's unit (metres of travel), so a
    second truck is used only when what it adds is worth more. ``skills``: what its driver/CSW
    has (see ``Stop.skills``).
    """

    vehicle_id: str
    name: str
    shift: tuple[int, int]
    capacity: int | None = None
    breaks: list[Break] = field(default_factory=list)
    start: int | None = None
    end: int | None = None
    fixed_cost: int = 0
    skills: frozenset[str] = frozenset()


@dataclass
class RoutingProblem:
    """Depot, stops, vehicles, other places and the square travel matrices over all of them.

    Matrix order: 0 = depot, i = ``stops[i-1]``, ``len(stops) + 1 + k`` = ``places[k]`` (the
    vehicles' own starts and ends, ``Vehicle.start``/``end``). ``planar=True`` marks benchmark
    instances whose coordinates are not longitude/latitude (the Japan coordinate check is skipped).
    """

    depot: Location
    stops: list[Stop]
    vehicles: list[Vehicle]
    durations_s: np.ndarray
    distances_m: np.ndarray
    note: str = ""
    planar: bool = False
    places: list[Location] = field(default_factory=list)

    def start_node(self, vehicle: Vehicle) -> int:
        """Matrix index where ``vehicle`` starts its day (0 = the depot)."""
        return 0 if vehicle.start is None else len(self.stops) + 1 + int(vehicle.start)

    def end_node(self, vehicle: Vehicle) -> int:
        """Matrix index where ``vehicle`` ends its day (0 = the depot)."""
        return 0 if vehicle.end is None else len(self.stops) + 1 + int(vehicle.end)

    def place_name(self, place: int | None) -> str:
        """A start/end place's name for messages: 「拠点」 or the place's name (else 「地点k」)."""
        if place is None:
            return self.depot.name or "拠点"
        if 0 <= place < len(self.places):
            return self.places[place].name or f"地点{place}"
        return f"地点{place}"


def continuity_skill(vehicle_id: str) -> str:
    """The skill that ties a stop to one vehicle/CSW (continuity of care): give it to that vehicle only."""
    return f"担当:{vehicle_id}"


def can_serve(vehicle: Vehicle, stop: Stop) -> bool:
    """Whether ``vehicle`` has every skill ``stop`` needs."""
    return set(stop.skills) <= set(vehicle.skills)


@dataclass
class Visit:
    """One visit on a route: arrival, start of service, departure, load on board after it."""

    stop_id: str
    arrival_s: int
    start_s: int
    departure_s: int
    load_after: int


@dataclass
class Route:
    """One vehicle's route: visits in order, breaks taken (start, end), leaving and return times."""

    vehicle_id: str
    visits: list[Visit]
    breaks: list[tuple[int, int]]
    start_s: int
    end_s: int
    distance_m: int
    duration_s: int
    #: Where the route starts and ends: a position in ``RoutingProblem.places``, None = the depot.
    start_place: int | None = None
    end_place: int | None = None


@dataclass
class RoutingPlan:
    """Routes, the stops not served (stop id, reason), totals and how it was solved."""

    routes: list[Route]
    unassigned: list[tuple[str, str]]
    distance_m: int
    duration_s: int
    solver: str
    runtime_s: float
    seed: int
    notes: list[str] = field(default_factory=list)
    #: Sum of ``Vehicle.fixed_cost`` over the vehicles used (those with a route).
    fixed_cost: int = 0

    def route_of(self, vehicle_id: str) -> Route | None:
        """The route of a vehicle, or None when it stays at the depot."""
        return next((r for r in self.routes if r.vehicle_id == vehicle_id), None)


@dataclass
class ProblemCheck:
    """What :func:`validate_problem` found that does not stop planning."""

    unassigned: list[tuple[str, str]]
    notes: list[str]


def format_hhmm(seconds: int) -> str:
    """Seconds since midnight as 「H:MM」 (hours past 24 kept, e.g. 25:10)."""
    s = int(round(seconds))
    return f"{s // 3600}:{(s % 3600) // 60:02d}"


def stop_label(stop) -> str:
    """How messages name a stop (a day's or a week's): 停留所「name」（id）, the id alone when it has no name."""
    return f"停留所「{stop.name or stop.stop_id}」（{stop.stop_id}）"


# --------------------------------------------------------------------------------------------
# validation


def _windows(stop: Stop) -> list[tuple[int, int]]:
    if stop.pin is not None:
        return [stop.pin.window]
    return [(int(a), int(b)) for a, b in stop.time_windows] if stop.time_windows else [(0, DAY_END)]


def validate_problem(problem: RoutingProblem) -> ProblemCheck:
    """Check a routing problem before solving.

    Raises
    ------
    InputDataError
        Zero vehicles; a vehicle whose shift ends before it starts, with a bad capacity, break or
        fixed cost, or starting/ending at a place not in ``places``; a pinned stop whose vehicle
        lacks its skills; duplicated stop ids; a stop with a negative
        service time or demand, a time window that closes before it opens or lies entirely
        outside every vehicle's shift; coordinates outside Japan; matrices of the wrong shape.

    Returns
    -------
    ProblemCheck
        ``unassigned``: stops that cannot be planned but do not stop the rest (demand above every
        vehicle's capacity; no vehicle with its skills; unreachable on the road network from
        every able vehicle's start and back to its end), with the reason; ``notes``:
        warnings (duplicated name and coordinates).
    """
    stops, vehicles = problem.stops, problem.vehicles
    if not vehicles:
        raise InputDataError(
            "車両が0台です",
            en="there are no vehicles",
            hint="少なくとも1台の車両（または訪問者）を登録してください",
            hint_en="register at least one vehicle (or visitor)",
        )
    seen: set[str] = set()
    vids = Counter(v.vehicle_id for v in vehicles)
    for vid, k in vids.items():
        if k > 1:
            raise InputDataError(f"車両IDが重複しています: {vid}", en=f"duplicate vehicle ID: {vid}", feature=vid)
    for v in vehicles:
        a, b = v.shift
        if b <= a:
            raise InputDataError(
                f"車両「{v.name or v.vehicle_id}」の勤務時間が終了 {format_hhmm(b)} ≦ 開始 {format_hhmm(a)} です", en=f"vehicle {v.vehicle_id}: the shift ends at {format_hhmm(b)}, not after its start {format_hhmm(a)}",
                feature=v.vehicle_id, hint="開始より後の終了時刻を指定してください", hint_en="give an end time after the start")
        if v.capacity is not None and v.capacity < 0:
            raise InputDataError(
                f"車両「{v.name or v.vehicle_id}」の積載量が負です: {v.capacity}",
                en=f"vehicle {v.vehicle_id}: negative capacity {v.capacity}",
                feature=v.vehicle_id,
            )
        for brk in v.breaks:
            ba, bb = brk.window
            if brk.duration_s < 0 or bb - ba < brk.duration_s:
                raise InputDataError(
                    f"車両「{v.name or v.vehicle_id}」の休憩（{format_hhmm(ba)}–{format_hhmm(bb)}、{brk.duration_s // 60}分）が時間帯に収まりません", en=f"vehicle {v.vehicle_id}: the break ({format_hhmm(ba)}–{format_hhmm(bb)}, {brk.duration_s // 60} min) does not fit its window",
                    feature=v.vehicle_id, hint="休憩の時間帯を休憩時間より長くしてください", hint_en="make the break window longer than the break")
        for end_name, place in (("出発地", v.start), ("到着地", v.end)):
            if place is not None and not (isinstance(place, (int, np.integer)) and 0 <= place < len(problem.places)):
                raise InputDataError(
                    f"車両「{v.name or v.vehicle_id}」の{end_name} {place!r} が地点一覧（places、{len(problem.places)}か所）にありません", en=f"vehicle {v.vehicle_id}: {({'出発地': 'start', '到着地': 'end'}).get(end_name, end_name)} {place!r} is not in places ({len(problem.places)} places)",
                    feature=v.vehicle_id,
                    hint="出発地・到着地は places の番号（0から）で指定してください。拠点なら指定しないでください", hint_en="give start and end as numbers into places (from 0); leave them out for the depot")
        fc = v.fixed_cost
        if not isinstance(fc, (int, np.integer)) or fc < 0:
            raise InputDataError(
                f"車両「{v.name or v.vehicle_id}」の固定費は0以上の整数です: {fc!r}",
                en=f"vehicle {v.vehicle_id}: the fixed cost must be a whole number of 0 or more: {fc!r}",
                feature=v.vehicle_id,
                hint="固定費は移動距離と同じ単位（m）の整数で指定してください",
                hint_en="give the fixed cost as a whole number in the unit of distance (m)",
            )
    shifts = [v.shift for v in vehicles]
    by_vid = {v.vehicle_id: v for v in vehicles}
    for k, s in enumerate(stops, start=1):
        label = stop_label(s)
        if s.pin is not None:
            pv = by_vid.get(s.pin.vehicle_id)
            if pv is None:
                raise InputDataError(
                    f"{label}の予約の車両・担当「{s.pin.vehicle_id}」がいません",
                    en=f"stop {s.stop_id}: no vehicle or CSW {s.pin.vehicle_id!r} for the booking",
                    row=k,
                    feature=s.stop_id,
                    hint="この日の車両・CSW の ID を指定するか、固定を外してください",
                    hint_en="give a vehicle or CSW ID of the day, or unpin it",
                )
            a, b = s.pin.window
            if s.pin.tolerance_s < 0 or not (a <= pv.shift[1] and b >= pv.shift[0]):
                raise InputDataError(
                    f"{label}の予約時刻 {format_hhmm(s.pin.start_s)}（±{max(0, s.pin.tolerance_s) // 60}分）が"
                    f"「{pv.name or pv.vehicle_id}」の勤務時間 {format_hhmm(pv.shift[0])}–{format_hhmm(pv.shift[1])} の外です", en=f"stop {s.stop_id}: the booked time {format_hhmm(s.pin.start_s)} (±{max(0, s.pin.tolerance_s) // 60} min) is outside the shift of {pv.vehicle_id} {format_hhmm(pv.shift[0])}–{format_hhmm(pv.shift[1])}",
                    row=k, feature=s.stop_id, hint="予約時刻か勤務時間を見直してください", hint_en="review the booked time or the shift")
            if not can_serve(pv, s):
                raise InputDataError(
                    f"{label}は資格・担当（{'、'.join(sorted(set(s.skills) - set(pv.skills)))}）が必要ですが、"
                    f"予約の「{pv.name or pv.vehicle_id}」にはありません", en=f"stop {s.stop_id} needs skills {', '.join(sorted(set(s.skills) - set(pv.skills)))} that the booked {pv.vehicle_id} lacks",
                    row=k, feature=s.stop_id, hint="資格のある担当に予約を移すか、固定を外してください", hint_en="move the booking to someone with the skills, or unpin it")
        if s.stop_id in seen:
            raise InputDataError(
                f"停留所IDが重複しています: {label}",
                en=f"duplicate stop ID: {s.stop_id}",
                row=k,
                feature=s.stop_id,
                hint="同じIDの停留所を1つにまとめてください",
                hint_en="merge the stops with the same ID",
            )
        seen.add(s.stop_id)
        if s.service_s < 0 or s.demand < 0:
            raise InputDataError(
                f"{label}の滞在時間または需要が負です",
                en=f"stop {s.stop_id}: negative service time or demand",
                row=k,
                feature=s.stop_id,
            )
        if not problem.planar:
            lon, lat = s.location.lon, s.location.lat
            if not in_japan(lon, lat):
                raise InputDataError(
                    f"{label}の座標（経度 {lon}, 緯度 {lat}）が日本の範囲外です", en=f"stop {s.stop_id}: coordinates (longitude {lon}, latitude {lat}) outside Japan", row=k, feature=s.stop_id,
                    hint="経度122〜154・緯度20〜46の範囲か、経度と緯度が入れ替わっていないか確認してください", hint_en="longitude 122–154 and latitude 20–46; check they are not swapped")
        for a, b in s.time_windows:
            if b < a:
                raise InputDataError(
                    f"{label}の時間帯が開始 {format_hhmm(a)} より前の {format_hhmm(b)} に終わっています", en=f"stop {s.stop_id}: a time window ends at {format_hhmm(b)}, before its start {format_hhmm(a)}",
                    row=k, feature=s.stop_id, hint="時間帯の開始と終了を確認してください", hint_en="check the start and end of the window")
        if s.pin is None and s.time_windows and not any(a <= se and b >= ss for a, b in s.time_windows for ss, se in shifts):
            wins = "、".join(f"{format_hhmm(a)}–{format_hhmm(b)}" for a, b in s.time_windows)
            hours = "、".join(f"{format_hhmm(a)}–{format_hhmm(b)}" for a, b in shifts)
            raise InputDataError(
                f"{label}の時間帯（{wins}）がどの車両の勤務時間（{hours}）とも重なりません", en=f"stop {s.stop_id}: its time windows ({wins}) overlap no vehicle's shift ({hours})",
                row=k, feature=s.stop_id, hint="時間帯か勤務時間を見直してください", hint_en="review the windows or the shifts")
    if not problem.planar:
        lon, lat = problem.depot.lon, problem.depot.lat
        if not in_japan(lon, lat):
            raise InputDataError(
                f"拠点「{problem.depot.name}」の座標（経度 {lon}, 緯度 {lat}）が日本の範囲外です",
                en=f"depot {problem.depot.name!r}: coordinates (longitude {lon}, latitude {lat}) outside Japan",
                feature="depot",
                hint="経度と緯度が入れ替わっていないか確認してください",
                hint_en="check longitude and latitude are not swapped",
            )
        for k, loc in enumerate(problem.places):
            if not in_japan(loc.lon, loc.lat):
                raise InputDataError(
                    f"発着地「{problem.place_name(k)}」の座標（経度 {loc.lon}, 緯度 {loc.lat}）が日本の範囲外です", en=f"place {problem.place_name(k)!r}: coordinates (longitude {loc.lon}, latitude {loc.lat}) outside Japan",
                    feature=f"place {k}", hint="経度と緯度が入れ替わっていないか確認してください", hint_en="check longitude and latitude are not swapped")
    n = len(stops) + 1 + len(problem.places)
    extra = f"＋発着地{len(problem.places)}" if problem.places else ""
    for what, m in (("durations_s", problem.durations_s), ("distances_m", problem.distances_m)):
        shape = np.shape(m)
        if shape != (n, n):
            raise InputDataError(
                f"行列 {what} の形が {shape} です（拠点1＋停留所{len(stops)}{extra}＝{n}×{n} が必要です）", en=f"matrix {what} is {shape} (needs {n}×{n}: depot + {len(stops)} stops{extra})",
                hint="travel_matrix() で拠点、停留所、発着地（places）の順に作り直してください", hint_en="rebuild it with travel_matrix(): depot, stops, then places")
    notes: list[str] = []
    dup = Counter((s.name, round(s.location.lon, 7), round(s.location.lat, 7)) for s in stops)
    for (name, lon, lat), k in dup.items():
        if k > 1:
            ids = [s.stop_id for s in stops if (s.name, round(s.location.lon, 7), round(s.location.lat, 7)) == (name, lon, lat)]
            notes.append(f"同じ名前・座標の停留所が{k}件あります（{name}: {', '.join(ids)}）。重複でないか確認してください")
    unassigned: list[tuple[str, str]] = []
    caps = [v.capacity for v in vehicles]
    max_cap = None if any(c is None for c in caps) else max(caps)
    d = np.asarray(problem.durations_s, dtype=float)
    x = np.asarray(problem.distances_m, dtype=float)
    bad = ~np.isfinite(d) | ~np.isfinite(x) | (d < 0) | (x < 0)
    for i, s in enumerate(stops, start=1):
        able = [v for v in vehicles if can_serve(v, s)]
        if not able:
            unassigned.append((s.stop_id, REASON_SKILL.format(need="、".join(sorted(s.skills)))))
        elif all(bad[problem.start_node(v), i] or bad[i, problem.end_node(v)] for v in able):
            unassigned.append((s.stop_id, REASON_UNREACHABLE))
        elif max_cap is not None and s.demand > max_cap:
            unassigned.append((s.stop_id, f"{REASON_CAPACITY}（需要 {s.demand} ＞ 最大積載量 {max_cap}）"))
    return ProblemCheck(unassigned=unassigned, notes=notes)


def replan_problem(problem: RoutingProblem, plan: RoutingPlan, *, cancelled=(), pinned=(),
                   tolerance_s: int = 5 * 60) -> RoutingProblem:
    """The problem for re-planning a day: cancelled stops removed, pinned stops kept at their vehicle and time.

    Parameters
    ----------
    problem, plan
        The day's problem and the plan made for it.
    cancelled
        Stop ids that no longer need a visit (their rows and columns leave the matrices; the
        vehicles' places stay).
    pinned
        Stop ids whose appointment stands: each gets a :class:`Pin` to the vehicle that serves
        it in ``plan`` and its start of service there, ± ``tolerance_s``.

    Raises
    ------
    InputDataError
        An unknown stop id, or a pinned stop that ``plan`` does not visit (no time to keep).
    """
    from dataclasses import replace

    ids = {s.stop_id for s in problem.stops}
    cancelled, pinned = set(cancelled), set(pinned)
    for sid in sorted((cancelled | pinned) - ids):
        raise InputDataError(
            f"停留所・訪問 {sid} はこの日の計画にありません",
            en=f"stop or visit {sid} is not in this day's plan",
            feature=sid,
        )
    when = {x.stop_id: (r.vehicle_id, x.start_s) for r in plan.routes for x in r.visits}
    for sid in sorted(pinned):
        if sid not in when:
            raise InputDataError(
                f"訪問 {sid} は元の計画で訪問されていないため、時刻を固定できません",
                en=f"visit {sid} was not made in the original plan, so its time cannot be pinned",
                feature=sid,
                hint="訪問された予約だけを固定してください",
                hint_en="pin only bookings that were visited",
            )
        if sid in cancelled:
            raise InputDataError(
                f"訪問 {sid} が取り消しと固定の両方に指定されています",
                en=f"visit {sid} is both cancelled and pinned",
                feature=sid,
            )
    keep = [i for i, s in enumerate(problem.stops) if s.stop_id not in cancelled]
    stops = [replace(problem.stops[i], pin=Pin(when[problem.stops[i].stop_id][0], when[problem.stops[i].stop_id][1],
                                                int(tolerance_s)))
             if problem.stops[i].stop_id in pinned else problem.stops[i] for i in keep]
    n = len(problem.stops)
    idx = [0] + [i + 1 for i in keep] + [n + 1 + k for k in range(len(problem.places))]
    D = np.asarray(problem.durations_s)[np.ix_(idx, idx)]
    X = np.asarray(problem.distances_m)[np.ix_(idx, idx)]
    return replace(problem, stops=stops, durations_s=D, distances_m=X)
