"""The independent plan checker: every hard-constraint violation of a routing plan, recomputed from the problem.

Shares nothing with the solver adapters but the problem model. Re-exported by :mod:`gis.routing`.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from gis.routing_model import RoutingPlan, RoutingProblem, _windows, can_serve, format_hhmm


# --------------------------------------------------------------------------------------------
# independent checker


def check_plan(problem: RoutingProblem, plan: RoutingPlan) -> list[str]:
    """Every hard-constraint violation in a plan, recomputed from the matrices (empty = valid).

    Does not trust the solver: travel times are re-added along each route and the reported times
    are checked against them, the time windows, the shifts (leaving the vehicle's own start —
    the depot or its place — and arriving at its own end), capacities, breaks (in their window,
    full length, not during a visit), pinned visits (on the vehicle of their appointment,
    starting within its tolerance), skills (the vehicle has every skill the stop needs), the
    plan's fixed cost (the sum over the vehicles used) and coverage (every stop visited at most
    once; every required or pinned stop visited or listed unassigned).
    """
    out: list[str] = []
    D = np.asarray(problem.durations_s, dtype=float)
    X = np.asarray(problem.distances_m, dtype=float)
    pos = {s.stop_id: i for i, s in enumerate(problem.stops)}
    vehicles = {v.vehicle_id: v for v in problem.vehicles}
    visited: Counter[str] = Counter()
    route_ids: Counter[str] = Counter()
    for r in plan.routes:
        v = vehicles.get(r.vehicle_id)
        route_ids[r.vehicle_id] += 1
        if v is None:
            out.append(f"{r.vehicle_id}: 存在しない車両のルートです")
            continue
        vn = v.name or v.vehicle_id
        for what, said, own in (("出発地", r.start_place, v.start), ("到着地", r.end_place, v.end)):
            if said != own:
                out.append(f"{vn}: ルートの{what}が「{problem.place_name(said)}」ですが、"
                           f"この車両・担当の{what}は「{problem.place_name(own)}」です")
        if r.start_s < v.shift[0]:
            out.append(f"{vn}: 出発 {format_hhmm(r.start_s)} が勤務開始 {format_hhmm(v.shift[0])} より前です")
        if r.end_s > v.shift[1]:
            out.append(f"{vn}: 帰着 {format_hhmm(r.end_s)} が勤務終了 {format_hhmm(v.shift[1])} より後です")
        # breaks
        brk_taken = sorted(r.breaks)
        if len(brk_taken) != len(v.breaks):
            out.append(f"{vn}: 休憩が {len(v.breaks)} 回必要ですが {len(brk_taken)} 回です")
        for (bs, be), brk in zip(brk_taken, sorted(v.breaks, key=lambda b: b.window)):
            if be - bs < brk.duration_s:
                out.append(f"{vn}: 休憩 {format_hhmm(bs)}–{format_hhmm(be)} が {brk.duration_s // 60} 分に足りません")
            if bs < brk.window[0] or be > brk.window[1]:
                out.append(f"{vn}: 休憩 {format_hhmm(bs)}–{format_hhmm(be)} が時間帯 "
                           f"{format_hhmm(brk.window[0])}–{format_hhmm(brk.window[1])} の外です")
            if bs < v.shift[0] or be > v.shift[1]:
                out.append(f"{vn}: 休憩 {format_hhmm(bs)}–{format_hhmm(be)} が勤務時間の外です")
        # walk the route
        nodes = [problem.start_node(v)]
        prev_dep = r.start_s
        load = sum(problem.stops[pos[x.stop_id]].demand for x in r.visits if x.stop_id in pos)
        if v.capacity is not None and load > v.capacity:
            out.append(f"{vn}: 積載 {load} が積載量 {v.capacity} を超えています")
        for x in r.visits:
            if x.stop_id not in pos:
                out.append(f"{vn}: 存在しない停留所 {x.stop_id} を訪問しています")
                continue
            i = pos[x.stop_id]
            s = problem.stops[i]
            label = f"{vn} の停留所「{s.name or s.stop_id}」（{s.stop_id}）"
            visited[x.stop_id] += 1
            travel = D[nodes[-1], i + 1]
            if not np.isfinite(travel):
                out.append(f"{label}: 前の地点から到達できません")
                travel = 0
            in_leg = [(bs, be) for bs, be in brk_taken if prev_dep <= bs and be <= x.start_s]
            brk_time = sum(be - bs for bs, be in in_leg)
            if x.arrival_s < prev_dep + travel + brk_time - 1e-6:
                out.append(f"{label}: 到着 {format_hhmm(x.arrival_s)} が移動時間から計算した "
                           f"{format_hhmm(prev_dep + travel)} より早いです")
            if x.start_s < prev_dep + travel + brk_time - 1e-6:
                out.append(f"{label}: 開始 {format_hhmm(x.start_s)} に間に合いません（前の出発 "
                           f"{format_hhmm(prev_dep)}＋移動 {int(travel) // 60}分"
                           + (f"＋休憩 {int(brk_time) // 60}分" if brk_time else "") + "）")
            if x.start_s < x.arrival_s:
                out.append(f"{label}: 到着前に開始しています")
            if x.departure_s - x.start_s < s.service_s:
                out.append(f"{label}: 滞在 {(x.departure_s - x.start_s) // 60} 分が必要な {s.service_s // 60} 分より短いです")
            if not can_serve(v, s):
                lack = "、".join(sorted(set(s.skills) - set(v.skills)))
                out.append(f"{label}: 必要な資格・担当（{lack}）がこの車両・担当にありません")
            if s.pin is not None:
                a, b = s.pin.window
                if r.vehicle_id != s.pin.vehicle_id:
                    pv = vehicles.get(s.pin.vehicle_id)
                    out.append(f"{label}: 予約は「{(pv.name or pv.vehicle_id) if pv else s.pin.vehicle_id}」の訪問です"
                               "（固定した車両・担当と違います）")
                if not a <= x.start_s <= b:
                    out.append(f"{label}: 開始 {format_hhmm(x.start_s)} が予約時刻 {format_hhmm(s.pin.start_s)}"
                               f"（±{s.pin.tolerance_s // 60}分）から外れています")
            elif not any(a <= x.start_s <= b for a, b in _windows(s)):
                wins = "、".join(f"{format_hhmm(a)}–{format_hhmm(b)}" for a, b in _windows(s))
                out.append(f"{label}: 開始 {format_hhmm(x.start_s)} が時間帯（{wins}）の外です")
            for bs, be in brk_taken:
                if bs < x.departure_s and be > x.start_s:
                    out.append(f"{label}: 訪問中（{format_hhmm(x.start_s)}–{format_hhmm(x.departure_s)}）に"
                               f"休憩 {format_hhmm(bs)}–{format_hhmm(be)} が重なっています")
            load -= s.demand
            nodes.append(i + 1)
            prev_dep = x.departure_s
        end = problem.end_node(v)
        travel = D[nodes[-1], end]
        in_leg = [(bs, be) for bs, be in brk_taken if prev_dep <= bs and be <= r.end_s]
        brk_time = sum(be - bs for bs, be in in_leg)
        if r.end_s < prev_dep + travel + brk_time - 1e-6:
            out.append(f"{vn}: 帰着 {format_hhmm(r.end_s)} は最後の出発 {format_hhmm(prev_dep)}＋移動 "
                       f"{int(travel) // 60}分 に間に合いません")
        dist = sum(X[a, b] for a, b in zip(nodes, nodes[1:] + [end]))
        if np.isfinite(dist) and abs(dist - r.distance_m) > 1 + 1e-6 * dist:
            out.append(f"{vn}: 距離 {r.distance_m} m が行列から計算した {int(dist)} m と違います")
    fixed = sum(vehicles[r.vehicle_id].fixed_cost for r in plan.routes if r.vehicle_id in vehicles)
    if plan.fixed_cost != fixed:
        out.append(f"固定費の合計 {plan.fixed_cost} が、使った車両の固定費から計算した {fixed} と違います")
    for vid, k in route_ids.items():
        if k > 1:
            out.append(f"{vid}: 同じ車両のルートが {k} 本あります")
    for sid, k in visited.items():
        if k > 1:
            out.append(f"停留所 {sid} を {k} 回訪問しています")
    un = Counter(sid for sid, _ in plan.unassigned)
    for s in problem.stops:
        if visited[s.stop_id] and un[s.stop_id]:
            out.append(f"停留所 {s.stop_id} は訪問済みなのに未割当にも載っています")
        if s.must_visit and not visited[s.stop_id] and not un[s.stop_id]:
            out.append(f"停留所「{s.name or s.stop_id}」（{s.stop_id}）が訪問も未割当の一覧にもありません（黙って落とされています）")
        if un[s.stop_id]:
            reason = next(r for sid, r in plan.unassigned if sid == s.stop_id)
            if not reason:
                out.append(f"停留所 {s.stop_id} の未割当の理由がありません")
    return out
