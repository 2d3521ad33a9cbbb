"""CSW outreach days: route each community social worker from their station to the households they visit.

A station's CSWs (コミュニティソーシャルワーカー) visit client households: appointments with a
time window, "today if possible" visits without one, each with a visit duration and a priority
(1 高 / 2 中 / 3 低). :func:`plan_outreach` gives each CSW an ordered day — leave the station,
visit, lunch break, return within working hours — and lists every visit that could not be
fitted with the reason in Japanese. When not everything fits, higher priority visits are kept.

Privacy: this module only ever sees a household's *label* (「H-003」), location, duration,
windows and priority — never a name or an address — and every message names the household
by its label only (coordinates are never echoed). Names are joined back to the plan only in
the CSW's private output (``api/cli_outreach.py``).

Solving uses :mod:`gis.routing` (VROOM, which handles breaks; PyVRP when no CSW takes a break)
and every plan is re-checked with :func:`gis.routing.check_plan`.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from gis.crs import in_japan
from gis.errors import InputDataError, TsunaguError

#: Average travel speeds (km/h) by CSW travel mode, used on straight line × circuity.
DEFAULT_SPEED_KMH = {"car": 30.0, "walk": 4.0}
MODE_LABELS = {"car": "車", "walk": "徒歩"}
PRIORITY_LABELS = {1: "高", 2: "中", 3: "低"}

#: Default working day and lunch break of a CSW.
DEFAULT_HOURS = (8 * 3600 + 30 * 60, 17 * 3600 + 15 * 60)
DEFAULT_BREAK_WINDOW = (12 * 3600, 13 * 3600)
DEFAULT_BREAK_S = 45 * 60

#: How a visit's priority and appointment enter the solver: (required, solver priority).
#: 高 visits are "required" (listed unassigned with a reason when impossible), so VROOM ranks them
#: above any optional visit; among optional ones 中 outweighs up to four 低, and an appointment
#: (a promise to the household) outweighs a "today if possible" visit of the same priority.
_SOLVER_PRIORITY = {(1, True): (True, 49), (1, False): (True, 45), (2, True): (False, 9),
                    (2, False): (False, 7), (3, True): (False, 2), (3, False): (False, 1)}

REASON_UNREACHABLE = "道路網で到達できない（拠点との往復経路がありません）"
REASON_WINDOW = "時間枠に間に合わない（勤務開始後に拠点を出ても希望時間帯に着けません）"
REASON_SHIFT = "勤務時間内に収まらない（拠点との往復と訪問で勤務時間を超えます）"
REASON_BREAK = "休憩時間と重なる（訪問すると休憩が取れません）"
REASON_FULL = "他の訪問で勤務時間が埋まっている（優先度の高い訪問・予約を優先しました）"
REASON_SKILL = "必要な資格・担当（{need}）をすべて持つ CSW がいない"


class OutreachPlanError(TsunaguError, RuntimeError):
    """A solved plan that fails the independent check (a bug, never shown to a CSW as a plan)."""


# --------------------------------------------------------------------------- times


_HHMM = re.compile(r"^\s*(\d{1,2})\s*[:：時]\s*(\d{2})?\s*分?\s*$")


def parse_hhmm(text) -> int:
    """``"8:30"`` / ``"08:30"`` / ``"8時30分"`` → seconds after midnight (InputDataError when unreadable)."""
    m = _HHMM.match(str(text))
    if not m:
        msg = f"時刻 {text!r} が読めません（例 8:30）"
        raise InputDataError(msg, en=f"cannot read the time {text!r} (e.g. 8:30)")
    h, mm = int(m.group(1)), int(m.group(2) or 0)
    if not (0 <= h <= 24 and 0 <= mm < 60) or (h == 24 and mm):
        msg = f"時刻 {text!r} は 0:00〜24:00 の範囲にありません"
        raise InputDataError(msg, en=f"the time {text!r} is not between 0:00 and 24:00")
    return h * 3600 + mm * 60


def format_hhmm(seconds: float) -> str:
    """Seconds after midnight → ``"9:05"`` (rounded to the minute)."""
    total = int(round(float(seconds) / 60.0))
    return f"{total // 60}:{total % 60:02d}"


def parse_span(text) -> tuple[int, int]:
    """``"8:30-17:15"`` (also 〜 ～ ~ –) → (start_s, end_s); order is not checked."""
    bits = re.split(r"\s*[-–—~〜～]\s*", str(text).strip())
    if len(bits) != 2:
        msg = f"時間帯 {text!r} が読めません（例 10:00-11:00）"
        raise InputDataError(msg, en=f"cannot read the time span {text!r} (e.g. 10:00-11:00)")
    return parse_hhmm(bits[0]), parse_hhmm(bits[1])


def parse_windows(text) -> list[tuple[int, int]]:
    """``"10:00-11:00、14:00～15:00"`` → ``[(36000, 39600), (50400, 54000)]``; empty → ``[]`` (any time)."""
    if text is None or (isinstance(text, float) and math.isnan(text)):
        return []
    if isinstance(text, (list, tuple)):
        return [(int(a), int(b)) for a, b in text]
    s = str(text).strip()
    if not s or s in ("-", "なし", "指定なし", "随時"):
        return []
    return [parse_span(part) for part in re.split(r"\s*[,、;／/]\s*", s) if part.strip()]


def format_windows(windows) -> str:
    """``[(36000, 39600)]`` → ``"10:00-11:00"``; ``[]`` → ``"指定なし"``."""
    if not windows:
        return "指定なし"
    return "、".join(f"{format_hhmm(a)}-{format_hhmm(b)}" for a, b in windows)


# --------------------------------------------------------------------------- model


@dataclass(frozen=True)
class OutreachVisit:
    """A household to visit today, known to the planner by its label only.

    Parameters
    ----------
    visit_id
        The household's label (「H-003」): what plans and messages show.
    lon, lat
        Location (WGS84).
    duration_s
        Visit length in seconds.
    windows
        Appointment time windows (open, close) in seconds after midnight: the whole visit
        takes place inside one of them. Empty = no appointment, "today if possible".
    priority
        1 高, 2 中, 3 低.
    skills
        What the visiting CSW must have (e.g. 「看護師」); 「担当:csw-1」 keeps the household with
        CSW csw-1 (continuity: every CSW has the skill 「担当:<own id>」, see
        :func:`gis.routing.continuity_skill`).
    """

    visit_id: str
    lon: float
    lat: float
    duration_s: int = 45 * 60
    windows: tuple[tuple[int, int], ...] = ()
    priority: int = 2
    skills: tuple[str, ...] = ()

    @property
    def appointment(self) -> bool:
        return bool(self.windows)


@dataclass(frozen=True)
class CSW:
    """One CSW of the station: working hours, a break taken inside a window, and a travel mode.

    ``break_window=None`` or ``break_s=0`` means no break. ``start`` / ``end``: (lon, lat) where
    the day starts / ends when not at the station (home, another centre); ``skills``: the CSW's
    qualifications (``OutreachVisit.skills``).
    """

    csw_id: str
    label: str = ""
    hours: tuple[int, int] = DEFAULT_HOURS
    break_window: tuple[int, int] | None = DEFAULT_BREAK_WINDOW
    break_s: int = DEFAULT_BREAK_S
    mode: str = "car"
    start: tuple[float, float] | None = None
    end: tuple[float, float] | None = None
    skills: frozenset[str] = frozenset()

    def all_skills(self) -> frozenset[str]:
        """Its qualifications and its own continuity skill 「担当:<id>」."""
        from gis.routing import continuity_skill

        return frozenset(self.skills) | {continuity_skill(self.csw_id)}

    @property
    def name(self) -> str:
        return self.label or self.csw_id


@dataclass
class OutreachStop:
    """One visit on a CSW's day: order, arrival, start and end of the visit, travel before it."""

    order: int
    visit_id: str
    arrival_s: int
    start_s: int
    end_s: int
    travel_s: int
    wait_s: int
    priority: int
    windows: tuple[tuple[int, int], ...]


@dataclass
class CSWRoute:
    """A CSW's day: leave the station, the visits in order, the break, back at the station."""

    csw: CSW
    visits: list[OutreachStop]
    breaks: list[tuple[int, int]]
    leave_s: int | None
    return_s: int | None
    travel_s: int
    distance_m: int
    #: Where the day starts and ends (「拠点」, 「自宅など」).
    start_name: str = "拠点"
    end_name: str = "拠点"


@dataclass
class OutreachPlan:
    """A station's outreach day: one route per CSW and the visits that could not be fitted.

    ``unfitted`` holds (visit label, Japanese reason). ``checks`` holds, per solved group of
    CSWs, the routing problem and plan (already validated with ``gis.routing.check_plan``).
    """

    station_id: str
    station_name: str
    date: dt.date | None
    routes: list[CSWRoute]
    unfitted: list[tuple[str, str]]
    notes: list[str]
    solver: str
    runtime_s: float
    seed: int
    checks: list = field(default_factory=list, repr=False)
    #: Per travel mode, how durations were obtained (``gis.travel_times.SOURCE_*``).
    travel_time_sources: dict = field(default_factory=dict)

    @property
    def n_visits(self) -> int:
        return sum(len(r.visits) for r in self.routes)

    def timetable(self) -> pd.DataFrame:
        """Every CSW's day as one table (labels only, no names, addresses or coordinates)."""
        rows = []
        for r in self.routes:
            events = []
            if r.leave_s is not None:
                events.append((r.leave_s, 0, "出発", r.start_name, None, None, None))
            for v in r.visits:
                events.append((v.start_s, 1, "訪問", v.visit_id, v.arrival_s, v.end_s, v))
            for bs, be in r.breaks:
                events.append((bs, 2, "休憩", "", None, be, None))
            if r.return_s is not None:
                events.append((r.return_s, 3, "帰着", r.end_name, None, None, None))
            for t, _k, kind, label, arr, end, v in sorted(events, key=lambda e: (e[0], e[1])):
                rows.append({
                    "CSW": r.csw.name,
                    "移動手段": MODE_LABELS.get(r.csw.mode, r.csw.mode),
                    "順番": v.order if v else None,
                    "種別": kind,
                    "訪問先": label,
                    "到着": format_hhmm(arr) if arr is not None else "",
                    "開始": format_hhmm(t),
                    "終了": format_hhmm(end) if end is not None else "",
                    "移動（分）": round(v.travel_s / 60) if v else None,
                    "待ち（分）": round(v.wait_s / 60) if v else None,
                    "希望時間帯": format_windows(v.windows) if v else "",
                    "優先度": PRIORITY_LABELS.get(v.priority, "") if v else "",
                })
        return pd.DataFrame(rows, columns=["CSW", "移動手段", "順番", "種別", "訪問先", "到着", "開始", "終了",
                                           "移動（分）", "待ち（分）", "希望時間帯", "優先度"])

    def summary(self) -> dict:
        """Headline figures, JSON-ready: counts, times, unfitted labels with reasons (nothing identifying)."""
        return {
            "station_id": self.station_id,
            "date": self.date.isoformat() if self.date else None,
            "csws": [{
                "csw": r.csw.name,
                "mode": MODE_LABELS.get(r.csw.mode, r.csw.mode),
                "visits": len(r.visits),
                "order": [v.visit_id for v in r.visits],
                "leave": format_hhmm(r.leave_s) if r.leave_s is not None else None,
                "return": format_hhmm(r.return_s) if r.return_s is not None else None,
                "breaks": [f"{format_hhmm(a)}-{format_hhmm(b)}" for a, b in r.breaks],
                "travel_min": round(r.travel_s / 60),
                "distance_km": round(r.distance_m / 1000, 1),
            } for r in self.routes],
            "visits_planned": self.n_visits,
            "unfitted": [{"visit": v, "reason": why} for v, why in self.unfitted],
            "solver": self.solver,
            "runtime_s": self.runtime_s,
            "notes": list(self.notes),
        }


# --------------------------------------------------------------------------- validation


def _who(visit_id: str) -> str:
    return f"訪問先 {visit_id}"


def _check_csws(csws: list[CSW]) -> None:
    if not csws:
        msg = "CSW が0人です。訪問ルートを作るには少なくとも1人の CSW が必要です"
        raise InputDataError(
            msg,
            en="there are no CSWs: a visit plan needs at least one CSW",
            hint="CSW の人数（--csws）と勤務時間を指定してください",
            hint_en="give the number of CSWs (--csws) and their hours",
        )
    seen: set[str] = set()
    for c in csws:
        who = f"CSW {c.name}"
        if c.csw_id in seen:
            msg = f"{who} が重複しています"
            raise InputDataError(msg, en=f"CSW {c.name} appears twice", feature=c.csw_id)
        seen.add(c.csw_id)
        a, b = c.hours
        if b <= a:
            msg = f"{who} の勤務時間 {format_hhmm(a)}-{format_hhmm(b)} は終了が開始より前です"
            raise InputDataError(
                msg,
                en=f"CSW {c.name}: working hours {format_hhmm(a)}-{format_hhmm(b)} end before they start",
                feature=c.csw_id,
                hint="例 8:30-17:15",
                hint_en="e.g. 8:30-17:15",
            )
        for what, place in (("出発地", c.start), ("帰着地", c.end)):
            if place is None:
                continue
            try:
                lon, lat = float(place[0]), float(place[1])
            except (TypeError, ValueError, IndexError):
                lon = lat = float("nan")
            if not in_japan(lon, lat):
                msg = f"{who} の{what}の座標が日本の範囲外か読めません"
                raise InputDataError(
                    msg,
                    en=f"CSW {c.name}: the {({'出発地': 'start', '帰着地': 'end'}).get(what, what)} is outside Japan or unreadable",
                    feature=c.csw_id,
                    hint="経度,緯度 の順（例 133.62,34.79）で指定してください",
                    hint_en="longitude,latitude (e.g. 133.62,34.79)",
                )
        if c.mode not in DEFAULT_SPEED_KMH:
            msg = f"{who} の移動手段 {c.mode!r} は使えません（car・walk）"
            raise InputDataError(
                msg,
                en=f"CSW {c.name}: travel mode {c.mode!r} cannot be used (car, walk)",
                feature=c.csw_id,
            )
        if c.break_window is not None and c.break_s:
            ba, bb = c.break_window
            if c.break_s < 0 or bb - ba < c.break_s:
                msg = (f"{who} の休憩 {c.break_s // 60}分が時間帯 {format_hhmm(ba)}-{format_hhmm(bb)} に"
                       "収まりません")
                raise InputDataError(
                    msg,
                    en=f"CSW {c.name}: a {c.break_s // 60}-minute break does not fit in {format_hhmm(ba)}-{format_hhmm(bb)}",
                    feature=c.csw_id,
                    hint="例 12:00-13:00/45（12時〜13時の間に45分）",
                    hint_en="e.g. 12:00-13:00/45 (45 minutes between 12 and 13)",
                )
            if ba < a or bb > b:
                msg = (f"{who} の休憩の時間帯 {format_hhmm(ba)}-{format_hhmm(bb)} が勤務時間 "
                       f"{format_hhmm(a)}-{format_hhmm(b)} の外にはみ出しています")
                raise InputDataError(
                    msg,
                    en=f"CSW {c.name}: the break window {format_hhmm(ba)}-{format_hhmm(bb)} is outside the working hours {format_hhmm(a)}-{format_hhmm(b)}",
                    feature=c.csw_id,
                )


def _check_visits(visits: list[OutreachVisit], csws: list[CSW]) -> None:
    seen: set[str] = set()
    hours = [c.hours for c in csws]
    hours_text = "、".join(sorted({f"{format_hhmm(a)}-{format_hhmm(b)}" for a, b in hours}))
    for v in visits:
        who = _who(v.visit_id)
        if not str(v.visit_id).strip():
            msg = "ラベル（id）のない訪問先があります"
            raise InputDataError(
                msg,
                en="a visit has no label (id)",
                hint="世帯ごとに一意の id（例 H-003）を付けてください",
                hint_en="give every household its own id (e.g. H-003)",
            )
        if v.visit_id in seen:
            msg = f"{who} が重複しています（同じ世帯が2回あります）"
            raise InputDataError(
                msg,
                en=f"visit {v.visit_id} appears twice (the same household twice)",
                feature=v.visit_id,
                hint="同じ世帯は1件にまとめてください",
                hint_en="merge the household into one visit",
            )
        seen.add(v.visit_id)
        try:
            lon, lat = float(v.lon), float(v.lat)
        except (TypeError, ValueError):
            lon = lat = float("nan")
        if not (np.isfinite(lon) and np.isfinite(lat)):
            msg = f"{who} の緯度・経度がありません"
            raise InputDataError(msg, en=f"visit {v.visit_id} has no latitude/longitude", feature=v.visit_id)
        if not in_japan(lon, lat):
            msg = f"{who} の座標が日本の範囲外です"
            raise InputDataError(
                msg,
                en=f"visit {v.visit_id}: coordinates outside Japan",
                feature=v.visit_id,
                hint="緯度と経度が入れ替わっていないか、10進数の度か確かめてください",
                hint_en="check latitude and longitude are not swapped and are decimal degrees",
            )
        if not v.duration_s or v.duration_s <= 0:
            msg = f"{who} の訪問時間が0分以下です"
            raise InputDataError(
                msg,
                en=f"visit {v.visit_id}: the visit lasts 0 minutes or less",
                feature=v.visit_id,
                hint="例 45（分）",
                hint_en="e.g. 45 (minutes)",
            )
        if v.priority not in PRIORITY_LABELS:
            msg = f"{who} の優先度 {v.priority!r} は 1（高）・2（中）・3（低）のいずれかにしてください"
            raise InputDataError(
                msg,
                en=f"visit {v.visit_id}: priority {v.priority!r} must be 1 (high), 2 (medium) or 3 (low)",
                feature=v.visit_id,
            )
        for a, b in v.windows:
            span = f"{format_hhmm(a)}-{format_hhmm(b)}"
            if b <= a:
                msg = f"{who} の希望時間帯 {span} は終わりが始まりより前です"
                raise InputDataError(
                    msg,
                    en=f"visit {v.visit_id}: the wished time {span} ends before it starts",
                    feature=v.visit_id,
                    hint="例 10:00-11:00",
                    hint_en="e.g. 10:00-11:00",
                )
            if b - a < v.duration_s:
                msg = f"{who} の希望時間帯 {span} が訪問時間 {v.duration_s // 60}分より短いです"
                raise InputDataError(
                    msg,
                    en=f"visit {v.visit_id}: the wished time {span} is shorter than the {v.duration_s // 60}-minute visit",
                    feature=v.visit_id,
                    hint="時間帯を広げるか訪問時間を短くしてください",
                    hint_en="widen the window or shorten the visit",
                )
        if v.windows and not any(a < he and b > hs for a, b in v.windows for hs, he in hours):
            msg = f"{who} の希望時間帯 {format_windows(v.windows)} が勤務時間（{hours_text}）の外です"
            raise InputDataError(
                msg,
                en=f"visit {v.visit_id}: the wished time {format_windows(v.windows)} is outside the working hours ({hours_text})",
                feature=v.visit_id,
                hint="時間帯か CSW の勤務時間を見直してください",
                hint_en="change the time window or the CSWs' hours",
            )


def _station(station) -> tuple[str, str, float, float]:
    """(id, name, lon, lat) of a station row (Series/dict with geometry) or a routing Location."""
    if hasattr(station, "lon") and hasattr(station, "lat") and not hasattr(station, "get"):
        return str(getattr(station, "name", "") or "station"), str(getattr(station, "name", "")), float(station.lon), float(station.lat)
    get = station.get if hasattr(station, "get") else (lambda k, d=None: getattr(station, k, d))
    geom = get("geometry")
    if geom is not None:
        lon, lat = float(geom.x), float(geom.y)
    else:
        lon, lat = float(get("lon")), float(get("lat"))
    sid = str(get("station_id", None) or get("id", None) or "station")
    name = str(get("name", None) or sid)
    if not in_japan(lon, lat):
        msg = f"拠点 {sid} の座標が日本の範囲外です"
        raise InputDataError(
            msg,
            en=f"station {sid}: coordinates outside Japan",
            feature=sid,
            hint="拠点の緯度・経度を確かめてください",
            hint_en="check the station's latitude and longitude",
        )
    return sid, name, lon, lat


# --------------------------------------------------------------------------- planning


def visits_from_table(table: pd.DataFrame) -> list[OutreachVisit]:
    """Visits from a household table (``api.private.HOUSEHOLD_COLUMNS``): label, place, minutes, windows, priority.

    Names, addresses and notes are not read.
    """
    out = []
    for rec in table.to_dict("records"):
        label = rec.get("label") or rec.get("household_id")
        minutes = rec.get("visit_min")
        out.append(OutreachVisit(
            visit_id=str(label),
            lon=float(rec["lon"]),
            lat=float(rec["lat"]),
            duration_s=int(round(float(minutes) * 60)) if minutes is not None and not pd.isna(minutes) else 45 * 60,
            windows=tuple(tuple(int(x) for x in w) for w in parse_windows(rec.get("windows"))),
            priority=int(rec.get("priority") or 2),
            skills=tuple(str(x) for x in (rec.get("skills") or ()) if str(x).strip()),
        ))
    return out


def plan_outreach(
    station,
    visits: Iterable[OutreachVisit],
    csws: Iterable[CSW],
    *,
    engine,
    date: dt.date | None = None,
    speed_kmh: Mapping[str, float] | None = None,
    circuity: float = 1.3,
    time_limit_s: float = 5.0,
    seed: int = 0,
    pinned: Mapping[str, tuple[str, int]] | None = None,
    pin_tolerance_s: int = 5 * 60,
    travel_matrix=None,
) -> OutreachPlan:
    """Plan a station's outreach day: a route per CSW and every visit not fitted, with the reason.

    Parameters
    ----------
    station
        The station the CSWs leave from and return to: a row of ``store.stations()`` (with
        ``station_id``, ``name``, ``geometry``) or a mapping with ``lon``/``lat``.
    visits
        Households to visit (:class:`OutreachVisit`; see :func:`visits_from_table`).
    csws
        The station's CSWs (:class:`CSW`): working hours, break, travel mode, and optionally
        their own start/end (home, another centre) and qualifications.
    engine
        Distance engine (``gis.access.DistanceEngine``): a road network, or straight line ×
        ``circuity`` (the plan's notes say which).
    date
        The day planned (shown on sheets only).
    speed_kmh
        Average speeds by mode; default :data:`DEFAULT_SPEED_KMH` (車 30 km/h, 徒歩 4 km/h).
    circuity
        Road ÷ straight-line distance when the engine is straight line.
    time_limit_s
        Solver time limit (PyVRP, used when no CSW takes a break; VROOM finishes in well under a second).
    seed
        Random seed (the same inputs and seed give the same plan).
    pinned
        Re-planning a day: visit label → (CSW id, start of the visit in seconds after midnight)
        for appointments that stand; each stays with that CSW, starting within
        ``pin_tolerance_s`` of its time (``gis.routing.Pin``), and the rest is planned again.
    travel_matrix
        Driving times computed elsewhere (:func:`gis.travel_times.read_travel_matrix`, points:
        the station, the visits in order, then the CSWs' own starts and ends labelled as
        :func:`place_labels` says) for the CSWs who drive; walkers keep their speed.
        Without it, a driving road graph's road-class speeds, else the average speed.

    Returns
    -------
    OutreachPlan
        One :class:`CSWRoute` per CSW (possibly without visits) and ``unfitted``
        (label, reason). CSWs of different travel modes are planned walkers first (they can
        reach only nearby households), then the drivers with what is left; the notes say so.

    Raises
    ------
    InputDataError
        Zero CSWs; bad working hours or break; a visit duplicated, outside Japan, with a window
        that closes before it opens, is shorter than the visit, or lies outside working hours;
        the message names the visit by its label, never by name, address or coordinates.
    """
    from gis import routing

    visits = list(visits)
    csws = list(csws)
    sid, sname, slon, slat = _station(station)
    _check_csws(csws)
    _check_visits(visits, csws)
    pins = _check_pins(pinned, visits, csws, pin_tolerance_s)
    speeds = {**DEFAULT_SPEED_KMH, **(dict(speed_kmh) if speed_kmh else {})}
    for mode in {c.mode for c in csws}:
        if not speeds.get(mode) or speeds[mode] <= 0:
            msg = f"移動手段 {MODE_LABELS.get(mode, mode)} の速度は正の km/h で指定してください"
            raise InputDataError(msg, en=f"the speed of travel mode {mode} must be a positive km/h")

    depot = routing.Location(slon, slat, "拠点")
    # the CSWs' own starts and ends (home, another centre) after the visits in the matrices
    places: list[routing.Location] = []
    place_of: dict[tuple[str, str], int] = {}
    for (csw_id, key), label, at in _places(csws):
        place_of[(csw_id, key)] = len(places)
        places.append(routing.Location(float(at[0]), float(at[1]), label))
    points = ([depot] + [routing.Location(float(v.lon), float(v.lat), v.visit_id) for v in visits] + places)
    matrices: dict[str, routing.TravelTimes] = {}
    for mode in sorted({c.mode for c in csws}, key=lambda m: list(DEFAULT_SPEED_KMH).index(m)):
        driving = mode == "car"
        matrices[mode] = routing.travel_matrix(engine, points, speed_kmh=speeds[mode], circuity=circuity,
                                               mode="drive" if driving else "walk",
                                               matrix=travel_matrix if driving else None)

    notes: list[str] = []
    for mode, (_d, _x, note, _source) in matrices.items():
        notes.append(f"{MODE_LABELS[mode]}: {note}")
    order = ["walk", "car"]
    groups = [(m, [c for c in csws if c.mode == m]) for m in order if any(c.mode == m for c in csws)]
    if len(groups) > 1:
        notes.append("徒歩の CSW の訪問を先に計画し、残りの訪問を車の CSW で計画しました")
    by_id = {v.visit_id: i for i, v in enumerate(visits)}
    remaining = list(range(len(visits)))
    routes: dict[str, CSWRoute] = {}
    checks = []
    solvers = []
    runtime = 0.0
    for mode, group in groups:
        D, X = matrices[mode].durations_s, matrices[mode].distances_m
        ids = {c.csw_id for c in group}
        here = [i for i in remaining if visits[i].visit_id not in pins or pins[visits[i].visit_id].vehicle_id in ids]
        idx = [0] + [i + 1 for i in here] + [len(visits) + 1 + k for k in range(len(places))]
        stops = []
        for i in here:
            v = visits[i]
            required, prio = _SOLVER_PRIORITY[(v.priority, v.appointment)]
            stops.append(routing.Stop(
                stop_id=v.visit_id, name=v.visit_id, location=points[i + 1], service_s=int(v.duration_s),
                time_windows=[(int(a), int(b - v.duration_s)) for a, b in v.windows],
                priority=prio, required=required, pin=pins.get(v.visit_id), skills=frozenset(v.skills)))
        vehicles = [routing.Vehicle(
            vehicle_id=c.csw_id, name=f"CSW {c.name}", shift=(int(c.hours[0]), int(c.hours[1])),
            breaks=[routing.Break((int(c.break_window[0]), int(c.break_window[1])), int(c.break_s))]
            if c.break_window is not None and c.break_s else [],
            start=place_of.get((c.csw_id, "start")), end=place_of.get((c.csw_id, "end")), skills=c.all_skills())
            for c in group]
        problem = routing.RoutingProblem(depot=depot, stops=stops, vehicles=vehicles,
                                         durations_s=D[np.ix_(idx, idx)], distances_m=X[np.ix_(idx, idx)],
                                         places=places)
        if stops:
            plan = routing.solve(problem, solver="auto", time_limit_s=time_limit_s, seed=seed)
            problems = routing.check_plan(problem, plan)
            if problems:
                msg = "訪問ルートの検算で制約違反が見つかりました（計画は使えません）: " + "; ".join(problems)
                raise OutreachPlanError(
                    msg,
                    en="the visit plan breaks its constraints when checked (the plan cannot be used): " + "; ".join(problems),
                )
            checks.append((problem, plan))
            solvers.append(plan.solver)
            runtime += plan.runtime_s
        else:
            plan = routing.RoutingPlan(routes=[], unassigned=[], distance_m=0, duration_s=0, solver="-",
                                       runtime_s=0.0, seed=seed)
        for c in group:
            routes[c.csw_id] = _csw_route(c, plan.route_of(c.csw_id), visits, by_id, problem)
        served = {x.stop_id for r in plan.routes for x in r.visits}
        remaining = [i for i in remaining if visits[i].visit_id not in served]

    ends = {c.csw_id: tuple(0 if k is None else len(visits) + 1 + k
                            for k in (place_of.get((c.csw_id, "start")), place_of.get((c.csw_id, "end"))))
            for c in csws}
    unfitted = [(visits[i].visit_id, _diagnose(visits[i], i, csws, matrices, ends)) for i in remaining]
    if not visits:
        notes.append("訪問先がありません")
    return OutreachPlan(
        station_id=sid, station_name=sname, date=date,
        routes=[routes[c.csw_id] for c in csws], unfitted=unfitted, notes=notes,
        solver="+".join(dict.fromkeys(solvers)) or "-", runtime_s=round(runtime, 3), seed=seed, checks=checks,
        travel_time_sources={mode: m.source for mode, m in matrices.items()},
    )


def _places(csws: list[CSW]):
    """The CSWs' own starts and ends in matrix order: ((csw id, "start"/"end"), label, (lon, lat))."""
    out = []
    for c in csws:
        for key, at, word in (("start", c.start, "出発地"), ("end", c.end, "帰着地")):
            if at is not None:
                out.append(((c.csw_id, key), f"{c.csw_id} {word}", at))
    return out


def place_labels(csws: Iterable[CSW]) -> list[str]:
    """Labels of the CSWs' own starts and ends (「csw-1 出発地」…), in the order they follow the visits in a matrix."""
    return [label for _key, label, _at in _places(list(csws))]


def _check_pins(pinned, visits: list[OutreachVisit], csws: list[CSW], tolerance_s: int) -> dict:
    """Visit label → ``gis.routing.Pin``, each label and CSW checked (messages name the label only)."""
    from gis import routing

    if not pinned:
        return {}
    labels = {v.visit_id for v in visits}
    staff = {c.csw_id: c for c in csws}
    if tolerance_s is None or tolerance_s < 0:
        msg = f"予約時刻の許容幅は0分以上です: {tolerance_s!r}"
        raise InputDataError(msg, en=f"the booking-time tolerance must be 0 minutes or more: {tolerance_s!r}")
    out = {}
    for label, (csw_id, start_s) in dict(pinned).items():
        if label not in labels:
            msg = f"固定する訪問 {_who(label)} が訪問先にありません"
            raise InputDataError(
                msg,
                en=f"the visit to pin, {label}, is not among the visits",
                feature=label,
                hint="取り消していない訪問のラベルを指定してください",
                hint_en="give the label of a visit that was not cancelled",
            )
        c = staff.get(str(csw_id))
        if c is None:
            msg = f"{_who(label)} を固定する CSW「{csw_id}」がいません（この日の CSW: {'、'.join(staff)}）"
            raise InputDataError(
                msg,
                en=f"no CSW {csw_id!r} to pin visit {label} to (CSWs of the day: {', '.join(staff)})",
                feature=label,
            )
        out[label] = routing.Pin(c.csw_id, int(start_s), int(tolerance_s))
    return out


def _csw_route(csw: CSW, route, visits, by_id, problem) -> CSWRoute:
    vehicle = next(v for v in problem.vehicles if v.vehicle_id == csw.csw_id)
    names = {"start_name": "拠点" if vehicle.start is None else "出発地（自宅など）",
             "end_name": "拠点" if vehicle.end is None else "帰着地（自宅など）"}
    if route is None or not route.visits:
        return CSWRoute(csw=csw, visits=[], breaks=[], leave_s=None, return_s=None, travel_s=0, distance_m=0, **names)
    D = np.asarray(problem.durations_s, dtype=float)
    pos = {s.stop_id: k + 1 for k, s in enumerate(problem.stops)}
    prev = problem.start_node(vehicle)
    out = []
    travel_total = 0
    for n, x in enumerate(route.visits, start=1):
        v = visits[by_id[x.stop_id]]
        t = int(D[prev, pos[x.stop_id]])
        travel_total += t
        out.append(OutreachStop(order=n, visit_id=v.visit_id, arrival_s=int(x.arrival_s), start_s=int(x.start_s),
                                end_s=int(x.departure_s), travel_s=t, wait_s=int(x.start_s - x.arrival_s),
                                priority=v.priority, windows=v.windows))
        prev = pos[x.stop_id]
    travel_total += int(D[prev, problem.end_node(vehicle)])
    return CSWRoute(csw=csw, visits=out, breaks=[(int(a), int(b)) for a, b in route.breaks],
                    leave_s=int(route.start_s), return_s=int(route.end_s), travel_s=travel_total,
                    distance_m=int(route.distance_m), **names)


def _diagnose(v: OutreachVisit, i: int, csws: list[CSW], matrices, ends: Mapping[str, tuple[int, int]]) -> str:
    """Why visit ``v`` (position ``i``) was not fitted, judged on a day with only this visit.

    The first reason that holds for every CSW with the skills it needs: nobody has them;
    unreachable; longer than the working day; the window cannot be reached; the return is too
    late; the break cannot be taken; otherwise the day was full with other (higher priority)
    visits. ``ends``: each CSW's start and end index in the matrices.
    """
    able = [c for c in csws if set(v.skills) <= c.all_skills()]
    if not able:
        return REASON_SKILL.format(need="、".join(sorted(v.skills)))
    reachable = []
    for c in able:
        D = matrices[c.mode][0]
        a, b = ends[c.csw_id]
        out_t, back_t = D[a, i + 1], D[i + 1, b]
        if np.isfinite(out_t) and np.isfinite(back_t):
            reachable.append((c, int(out_t), int(back_t)))
    if not reachable:
        return REASON_UNREACHABLE
    windows = v.windows or ((0, 48 * 3600),)
    found = set()
    for c, o, b in reachable:
        brk = c.break_s if (c.break_window is not None and c.break_s) else 0
        if o + v.duration_s + b + brk > c.hours[1] - c.hours[0]:
            found.add("shift")
            continue
        for wa, wb in windows:
            start = max(c.hours[0] + o, wa)
            last = min(wb, c.hours[1] - b) - v.duration_s  # latest start: inside the window, back in time
            if start + v.duration_s > wb:
                found.add("window")
            elif start > last:
                found.add("shift")
            elif not brk:
                found.add("full")
            else:
                ba, bb = c.break_window
                b_end = max(ba, c.hours[0] + o) + brk  # go, take the break there, then visit
                before = b_end <= bb and max(b_end, wa) <= last
                after = max(ba, start + v.duration_s) + brk <= bb and start + v.duration_s + brk + b <= c.hours[1]
                outside = start + v.duration_s + b + brk <= c.hours[1] and max(ba, start + v.duration_s + b) + brk <= bb
                found.add("full" if (before or after or outside) else "break")
    for key, reason in (("full", REASON_FULL), ("break", REASON_BREAK), ("shift", REASON_SHIFT), ("window", REASON_WINDOW)):
        if key in found:
            return reason
    return REASON_FULL


# --------------------------------------------------------------------------- CSWs from options


def make_csws(n: int, *, hours: tuple[int, int] = DEFAULT_HOURS, break_window: tuple[int, int] | None = DEFAULT_BREAK_WINDOW,
              break_s: int = DEFAULT_BREAK_S, mode: str = "car") -> list[CSW]:
    """``n`` CSWs with the same hours, break and mode, labelled 「CSW 1」「CSW 2」…."""
    if n is None or int(n) < 1:
        msg = "CSW が0人です。訪問ルートを作るには少なくとも1人の CSW が必要です"
        raise InputDataError(
            msg,
            en="there are no CSWs: a visit plan needs at least one CSW",
            hint="--csws に1以上の人数を指定してください",
            hint_en="give --csws a number of 1 or more",
        )
    return [CSW(csw_id=f"csw-{k}", label=f"CSW {k}", hours=hours, break_window=break_window, break_s=break_s, mode=mode)
            for k in range(1, int(n) + 1)]


def parse_break(text: str | None) -> tuple[tuple[int, int] | None, int]:
    """``"12:00-13:00/45"`` → ((43200, 46800), 2700); ``"なし"``/``"none"``/empty → (None, 0)."""
    if text is None or str(text).strip().lower() in ("", "none", "なし", "no", "0"):
        return None, 0
    s = str(text).strip()
    span, _, minutes = s.partition("/")
    window = parse_span(span)
    if minutes.strip():
        try:
            dur = int(round(float(minutes.strip().rstrip("分")) * 60))
        except ValueError as exc:
            msg = f"休憩の長さ {minutes!r} が読めません（例 12:00-13:00/45）"
            raise InputDataError(
                msg,
                en=f"cannot read the break length {minutes!r} (e.g. 12:00-13:00/45)",
            ) from exc
    else:
        dur = window[1] - window[0]
    return window, dur
