"""New-salon siting: candidate sites, coverage sets and exact MCLP / LSCP (HiGHS MILP) with a greedy baseline."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
from scipy import sparse
from scipy.optimize import Bounds, LinearConstraint, milp

from gis import kinds as _kinds
from gis.access import DistanceEngine, check_threshold
from gis.crs import STORAGE_CRS
from gis.errors import InputDataError
from gis.schema import RESOURCE_KINDS

#: Resource kinds that can host a new salon by default (more than 80 % of 通いの場 meet there).
DEFAULT_CANDIDATE_KINDS: tuple[str, ...] = _kinds.salon_candidate_kinds()
#: Kind recorded for points the user gives.
USER_KIND = "user"
USER_KIND_LABEL = "利用者指定の候補地"

CANDIDATE_COLUMNS = ["site_id", "name", "kind", "kind_label", "is_sample", "geometry"]

#: HiGHS status codes of scipy.optimize.milp → short English status.
_STATUS = {0: "optimal", 1: "time_limit", 2: "infeasible", 3: "unbounded", 4: "error"}
#: Japanese status labels for tables.
STATUS_LABELS = {"optimal": "最適（証明済み）", "time_limit": "時間切れ（暫定解）", "infeasible": "実行不能",
                 "unbounded": "非有界", "error": "ソルバーエラー", "trivial": "自明（需要なし）"}


# --- candidates ---------------------------------------------------------------------------


def candidate_sites(
    resources: gpd.GeoDataFrame | None,
    *,
    kinds: Sequence[str] = DEFAULT_CANDIDATE_KINDS,
    user_points: gpd.GeoDataFrame | None = None,
    boundary=None,
    existing: gpd.GeoDataFrame | None = None,
    crs: str | None = None,
    same_place_m: float = 1.0,
) -> gpd.GeoDataFrame:
    """Candidate sites for a new salon: resources of the given kinds plus the user's points.

    Candidates outside ``boundary`` are dropped and named in ``attrs["dropped"]``; candidates
    within ``same_place_m`` of an ``existing`` salon are dropped too (they add no coverage).

    Parameters
    ----------
    resources
        Resource points (``resource_id``, ``kind``, ``name``, ``is_sample``).
    kinds
        Resource kinds to take (keys of :data:`gis.schema.RESOURCE_KINDS`).
    user_points
        Extra points (``name``, geometry), e.g. a vacant house the council could rent.
    boundary
        The city polygon (shapely geometry in EPSG:4326, or a GeoDataFrame / GeoSeries).
    existing
        Existing salons.
    crs
        Projected CRS used to measure ``same_place_m`` (required with ``existing``).

    Returns
    -------
    GeoDataFrame
        :data:`CANDIDATE_COLUMNS` in EPSG:4326; ``attrs["dropped"]`` (list of
        ``{"name", "reason"}``) and ``attrs["notes"]`` (Japanese).

    Raises
    ------
    InputDataError
        Unknown kinds, or no candidate left.
    """
    unknown = [k for k in kinds if k not in RESOURCE_KINDS]
    if unknown:
        msg = f"候補地の種類 {unknown} はありません"
        raise InputDataError(
            msg,
            en=f"no candidate kind {unknown}",
            hint=f"{'、'.join(DEFAULT_CANDIDATE_KINDS)} などの種類を指定してください（一覧は gis.schema.RESOURCE_KINDS）",
            hint_en=f"give kinds such as {', '.join(DEFAULT_CANDIDATE_KINDS)} (gis.schema.RESOURCE_KINDS lists them)",
        )
    frames = []
    if resources is not None and len(resources) and kinds:
        part = resources[resources["kind"].isin(list(kinds))]
        if len(part):
            part = part.to_crs(STORAGE_CRS)
            frames.append(gpd.GeoDataFrame({
                "site_id": part["resource_id"].astype(str).to_numpy(),
                "name": part["name"].astype(str).to_numpy(),
                "kind": part["kind"].astype(str).to_numpy(),
                "kind_label": part["kind"].map(RESOURCE_KINDS).to_numpy(),
                "is_sample": part["is_sample"].fillna(False).astype(bool).to_numpy() if "is_sample" in part.columns else False,
            }, geometry=part.geometry.values, crs=STORAGE_CRS))
    if user_points is not None and len(user_points):
        if user_points.crs is None:
            msg = "候補地の座標に座標系（CRS）がありません"
            raise InputDataError(
                msg,
                en="the candidate coordinates have no CRS",
                hint="経度・緯度（EPSG:4326）で指定してください",
                hint_en="give longitude/latitude (EPSG:4326)",
            )
        up = user_points.to_crs(STORAGE_CRS).reset_index(drop=True)
        names = up["name"].astype(str) if "name" in up.columns else pd.Series([f"候補地{i + 1}" for i in range(len(up))])
        frames.append(gpd.GeoDataFrame({
            "site_id": [f"user-{i + 1}" for i in range(len(up))],
            "name": names.to_numpy(),
            "kind": USER_KIND,
            "kind_label": USER_KIND_LABEL,
            "is_sample": False,
        }, geometry=up.geometry.values, crs=STORAGE_CRS))
    if not frames:
        msg = f"候補地がありません：ワークスペースに{'・'.join(RESOURCE_KINDS.get(k, k) for k in kinds) or '指定した種類の地域資源'}がなく、候補地の座標も指定されていません"
        raise InputDataError(
            msg,
            en=f"no candidates: the workspace has no {', '.join(kinds) or 'resources of the kinds given'} and no candidate coordinates were given",
            hint="公民館・集会所を取り込む（tsunagu import resources）か、候補地の座標を指定してください",
            hint_en="import community halls (tsunagu import resources) or give candidate coordinates",
        )
    cand = pd.concat(frames, ignore_index=True)
    cand = gpd.GeoDataFrame(cand, geometry="geometry", crs=STORAGE_CRS)
    dropped: list[dict] = []
    notes: list[str] = []
    bad_geom = cand.geometry.isna() | cand.geometry.is_empty | (cand.geometry.geom_type != "Point")
    for name in cand.loc[bad_geom, "name"]:
        dropped.append({"name": name, "reason": "位置が点ではない・空"})
    cand = cand[~bad_geom]
    if boundary is not None:
        if isinstance(boundary, (gpd.GeoDataFrame, gpd.GeoSeries)):
            boundary = boundary.to_crs(STORAGE_CRS).union_all()
        inside = cand.geometry.within(boundary) | cand.geometry.touches(boundary)
        for name in cand.loc[~inside, "name"]:
            dropped.append({"name": name, "reason": "市域の外"})
        if (~inside).any():
            names = "、".join(cand.loc[~inside, "name"].head(10))
            notes.append(f"市域の外にある候補地 {int((~inside).sum())} か所を除外しました（{names}）")
        cand = cand[inside]
    if existing is not None and len(existing) and len(cand):
        if crs is None:
            msg = "候補地と既存のサロンを比べるには平面直角座標系が要ります"
            raise InputDataError(
                msg,
                en="comparing candidates with existing salons needs a plane-rectangular CRS",
                hint="crs=gis.crs.plane_rectangular_crs(city_code) を渡してください",
                hint_en="pass crs=gis.crs.plane_rectangular_crs(city_code)",
            )
        ex = existing.to_crs(crs).geometry.union_all()
        near = cand.to_crs(crs).geometry.distance(ex) <= same_place_m
        for name in cand.loc[near, "name"]:
            dropped.append({"name": name, "reason": "既にサロンがある"})
        if near.any():
            notes.append(f"既にサロンが開かれている候補地 {int(near.sum())} か所は候補から除きました")
        cand = cand[~near]
    if len(cand) == 0:
        reasons = "、".join(sorted({d["reason"] for d in dropped})) or "なし"
        msg = f"候補地が残りません（{len(dropped)} か所を除外: {reasons}）"
        raise InputDataError(
            msg,
            en=f"no candidates left ({len(dropped)} dropped: {reasons})",
            hint="市域の中の候補地か、別の種類の候補地を指定してください",
            hint_en="give candidates inside the city or of another kind",
        )
    dup = cand["site_id"].duplicated()
    cand = cand[~dup].reset_index(drop=True)[CANDIDATE_COLUMNS]
    cand.attrs["dropped"] = dropped
    cand.attrs["notes"] = notes
    return cand


def coverage_matrix(
    demand: gpd.GeoDataFrame, candidates: gpd.GeoDataFrame, *, engine: DistanceEngine, threshold_m: float
) -> sparse.csr_matrix:
    """Boolean (demand × candidate) matrix: True where the candidate is within ``threshold_m``."""
    threshold = check_threshold(threshold_m, what="候補地の距離のしきい値", what_en="siting threshold")
    pairs = engine.within(demand, candidates, max_distance_m=threshold)
    data = np.ones(len(pairs), dtype=bool)
    return sparse.csr_matrix((data, (pairs["origin"].to_numpy(), pairs["facility"].to_numpy())),
                             shape=(len(demand), len(candidates)), dtype=bool)


# --- demand aggregation -------------------------------------------------------------------


@dataclass
class AggregatedDemand:
    """Demand points merged by identical coverage sets (the standard MCLP/LSCP reduction).

    Attributes
    ----------
    weights
        Weight per group (sum of its points' weights); only groups with positive weight.
    coverage
        (group × candidate) boolean CSR matrix.
    group_of_point
        Group index of every input point (-1: zero weight, or no candidate covers it).
    uncoverable_weight
        Weight no candidate reaches.
    n_points
        Points with positive weight.
    """

    weights: np.ndarray
    coverage: sparse.csr_matrix
    group_of_point: np.ndarray
    uncoverable_weight: float
    n_points: int

    @property
    def n_groups(self) -> int:
        """Number of demand groups left for the solver."""
        return len(self.weights)


def _as_csr(coverage, n: int | None = None) -> sparse.csr_matrix:
    m = sparse.csr_matrix(coverage, dtype=bool)
    m.eliminate_zeros()
    m.sort_indices()
    if n is not None and m.shape[0] != n:
        msg = f"到達できるかの表（coverage）は {m.shape[0]} 行ですが、需要点の重みは {n} 個です。数を合わせてください"
        raise InputDataError(msg, en=f"coverage has {m.shape[0]} rows but there are {n} demand weights")
    return m


def _check_weights(demand_weights) -> np.ndarray:
    w = np.asarray(demand_weights, dtype=float).ravel()
    if not np.isfinite(w).all() or (w < 0).any():
        msg = "需要点の重みは、マイナスでない有限の数にしてください"
        raise InputDataError(
            msg, en="demand weights must be finite and not negative",
            hint="重みは需要点ごとの、届いていない高齢者の数です", hint_en="weights are uncovered elderly per demand point",
        )
    return w


def aggregate_demand(demand_weights, coverage) -> AggregatedDemand:
    """Merge demand points that the same set of candidates covers; drop zero-weight points.

    Points no candidate covers are left out of the groups and summed in ``uncoverable_weight``.
    """
    w = _check_weights(demand_weights)
    m = _as_csr(coverage, len(w))
    group = np.full(len(w), -1, dtype=np.int64)
    keys: dict[bytes, int] = {}
    gw: list[float] = []
    rows: list[np.ndarray] = []
    uncoverable = 0.0
    indptr, indices = m.indptr, m.indices
    for i in np.flatnonzero(w > 0):
        cols = indices[indptr[i]:indptr[i + 1]]
        if len(cols) == 0:
            uncoverable += w[i]
            continue
        key = cols.tobytes()
        g = keys.get(key)
        if g is None:
            g = keys[key] = len(gw)
            gw.append(0.0)
            rows.append(cols)
        gw[g] += w[i]
        group[i] = g
    if rows:
        ptr = np.concatenate([[0], np.cumsum([len(r) for r in rows])])
        cov = sparse.csr_matrix((np.ones(ptr[-1], dtype=bool), np.concatenate(rows), ptr), shape=(len(rows), m.shape[1]))
    else:
        cov = sparse.csr_matrix((0, m.shape[1]), dtype=bool)
    return AggregatedDemand(np.asarray(gw, dtype=float), cov, group, float(uncoverable), int((w > 0).sum()))


# --- results ------------------------------------------------------------------------------


@dataclass
class SitingResult:
    """Result of one siting model.

    Attributes
    ----------
    model
        ``"MCLP"``, ``"LSCP"`` or ``"greedy"``.
    sites
        Chosen candidate positions, in rank order (largest contribution first).
    objective
        Covered weight (MCLP, greedy) or number of sites (LSCP).
    covered_weight, total_weight, uncoverable_weight
        Weight covered by the chosen sites, all positive weight, weight no candidate reaches.
    status
        ``optimal`` (proven), ``time_limit``, ``infeasible``, ``error`` or ``trivial``.
    mip_gap
        Proven relative optimality gap (0 when proven optimal; None for greedy).
    dual_bound
        Best bound on the objective the solver proved.
    solve_time_s
        Wall time of the solver (s).
    n_groups
        Demand groups after aggregation.
    alternative
        Another layout with the same objective (candidate positions), when one was found.
    notes
        Japanese notes.
    """

    model: str
    k: int | None
    sites: list[int]
    objective: float
    covered_weight: float
    total_weight: float
    uncoverable_weight: float
    status: str
    mip_gap: float | None
    dual_bound: float | None
    solve_time_s: float
    n_groups: int
    gains: list[float] = field(default_factory=list)
    alternative: list[int] | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def optimal(self) -> bool:
        """True when the solver proved the optimum (gap 0)."""
        return self.status in ("optimal", "trivial") and (self.mip_gap is None or self.mip_gap <= 1e-9)

    def to_dict(self) -> dict:
        """JSON-ready summary."""
        return {
            "model": self.model, "k": self.k, "sites": [int(s) for s in self.sites],
            "objective": float(self.objective), "covered_weight": float(self.covered_weight),
            "total_weight": float(self.total_weight), "uncoverable_weight": float(self.uncoverable_weight),
            "status": self.status, "mip_gap": None if self.mip_gap is None else float(self.mip_gap),
            "dual_bound": None if self.dual_bound is None else float(self.dual_bound),
            "solve_time_s": float(self.solve_time_s), "n_groups": int(self.n_groups),
            "gains": [float(g) for g in self.gains],
            "alternative": None if self.alternative is None else [int(s) for s in self.alternative],
            "notes": list(self.notes),
        }


def _check_k(k, n_candidates: int) -> int:
    if n_candidates == 0:
        msg = "候補地がありません（選べる場所が0か所）"
        raise InputDataError(
            msg,
            en="no candidates (0 places to choose from)",
            hint="公民館・集会所か、候補地の座標を指定してください",
            hint_en="give community halls or candidate coordinates",
        )
    try:
        kk = int(k)
    except (TypeError, ValueError) as exc:
        raise InputDataError(
            f"k（新しいサロンの数）は整数で指定してください（{k!r} が指定されました）",
            en=f"k (the number of new salons) must be a whole number (got {k!r})",
        ) from exc
    if kk != k or kk <= 0:
        msg = f"k（新しいサロンの数）は 1 以上の整数で指定してください（{k!r} が指定されました）"
        raise InputDataError(
            msg,
            en=f"k (the number of new salons) must be a whole number of 1 or more (got {k!r})",
            hint="例: k=3",
            hint_en="e.g. k=3",
        )
    if kk > n_candidates:
        msg = f"k={kk} は候補地の数（{n_candidates} か所）より多いです"
        raise InputDataError(
            msg,
            en=f"k={kk} is more than the {n_candidates} candidates",
            hint=f"k を {n_candidates} 以下にするか、候補地を増やしてください",
            hint_en=f"make k {n_candidates} or less, or add candidates",
        )
    return kk


def _covered(agg: AggregatedDemand, sites: Sequence[int]) -> float:
    if not len(sites) or agg.n_groups == 0:
        return 0.0
    hit = np.asarray(agg.coverage[:, list(sites)].sum(axis=1)).ravel() > 0
    return float(agg.weights[hit].sum())


def _prune(agg: AggregatedDemand, sites: Sequence[int]) -> list[int]:
    """Drop chosen sites whose removal loses no coverage (the solver may add idle sites when k is slack)."""
    keep = list(sites)
    full = _covered(agg, keep)
    for j in sorted(keep, key=lambda s: _covered(agg, [s])):
        rest = [s for s in keep if s != j]
        if _covered(agg, rest) >= full - 1e-9 * max(1.0, full):
            keep = rest
    return keep


def _rank(agg: AggregatedDemand, sites: Sequence[int]) -> tuple[list[int], list[float]]:
    """Order chosen sites greedily (biggest additional coverage first); return order and gains."""
    left = list(sites)
    covered = np.zeros(agg.n_groups, dtype=bool)
    order, gains = [], []
    cov = agg.coverage.tocsc()
    while left:
        best, best_gain = None, -1.0
        for j in left:
            rows = cov.indices[cov.indptr[j]:cov.indptr[j + 1]]
            gain = float(agg.weights[rows][~covered[rows]].sum())
            if gain > best_gain + 1e-12:
                best, best_gain = j, gain
        order.append(best)
        gains.append(best_gain)
        rows = cov.indices[cov.indptr[best]:cov.indptr[best + 1]]
        covered[rows] = True
        left.remove(best)
    return order, gains


def _solve(c, constraints, integrality, bounds, time_limit_s):
    t0 = time.perf_counter()
    res = milp(c, constraints=constraints, integrality=integrality, bounds=bounds,
               options={"time_limit": float(time_limit_s), "mip_rel_gap": 0.0, "disp": False})
    return res, time.perf_counter() - t0


def _agg(demand_weights, coverage) -> AggregatedDemand:
    return demand_weights if isinstance(demand_weights, AggregatedDemand) else aggregate_demand(demand_weights, coverage)


def _mclp_model(agg: AggregatedDemand, k: int, forbid: list[list[int]] | None = None):
    g, n = agg.n_groups, agg.coverage.shape[1]
    # variables: x_0..x_{n-1} (sites, binary), y_0..y_{g-1} (groups, 0..1)
    c = np.concatenate([np.zeros(n), -agg.weights])
    a_cov = sparse.hstack([-agg.coverage.astype(float), sparse.identity(g, format="csr")], format="csr")
    cons = [LinearConstraint(a_cov, -np.inf, 0.0),
            LinearConstraint(sparse.csr_matrix(np.concatenate([np.ones(n), np.zeros(g)])), 0, k)]
    for sites in forbid or []:
        row = np.zeros(n + g)
        row[list(sites)] = 1.0
        cons.append(LinearConstraint(sparse.csr_matrix(row), -np.inf, len(sites) - 1))
    integrality = np.concatenate([np.ones(n), np.zeros(g)])
    return c, cons, integrality, Bounds(0, 1)


def mclp(
    demand_weights,
    coverage=None,
    *,
    k: int,
    time_limit_s: float = 60.0,
    check_ties: bool = True,
) -> SitingResult:
    """Maximal covering location problem, solved exactly (HiGHS through scipy.optimize.milp).

    Choose at most ``k`` candidates to maximise the weight (uncovered elderly) of demand within
    the threshold of a chosen site. Demand points with identical coverage sets are merged first.

    Parameters
    ----------
    demand_weights
        Weight per demand point (≥ 0), or an :class:`AggregatedDemand` (then ``coverage`` is ignored).
    coverage
        (demand × candidate) boolean matrix (sparse or dense), e.g. :func:`coverage_matrix`.
    k
        Number of new sites (1 ≤ k ≤ number of candidates).
    time_limit_s
        Solver time limit; on timeout the result says ``time_limit`` with the proven gap.
    check_ties
        Solve once more excluding the found layout to detect an equally good alternative.

    Returns
    -------
    SitingResult
    """
    agg = _agg(demand_weights, coverage)
    n = agg.coverage.shape[1]
    k = _check_k(k, n)
    total = float(agg.weights.sum()) + agg.uncoverable_weight
    notes: list[str] = []
    if agg.n_groups == 0:
        notes.append("候補地の圏内に未カバーの高齢者がいないため、新しいサロンを置いても増えません")
        return SitingResult("MCLP", k, [], 0.0, 0.0, total, agg.uncoverable_weight, "trivial", 0.0, 0.0, 0.0, 0,
                            notes=notes)
    c, cons, integ, bounds = _mclp_model(agg, k)
    res, elapsed = _solve(c, cons, integ, bounds, time_limit_s)
    status = _STATUS.get(res.status, "error")
    if res.x is None:
        return SitingResult("MCLP", k, [], 0.0, 0.0, total, agg.uncoverable_weight, status, None, None, elapsed,
                            agg.n_groups, notes=[f"ソルバーが解を返しませんでした: {res.message}"])
    chosen = _prune(agg, [int(j) for j in np.flatnonzero(res.x[:n] > 0.5)])
    order, gains = _rank(agg, chosen)
    useful = [j for j, g in zip(order, gains) if g > 1e-9]
    gains = [g for g in gains if g > 1e-9]
    covered = _covered(agg, useful)
    dual = -float(res.mip_dual_bound) if getattr(res, "mip_dual_bound", None) is not None else None
    gap = float(res.mip_gap) if getattr(res, "mip_gap", None) is not None else None
    if status == "optimal" and dual is not None and covered > 0:
        gap = max(0.0, (dual - covered) / covered)
        gap = 0.0 if gap < 1e-9 else gap
    if len(useful) < k:
        notes.append(f"{len(useful)} か所で圏内の未カバー高齢者を最大限カバーでき、{k} か所目以降は増えません")
    alternative = None
    if check_ties and status == "optimal" and useful:
        c2, cons2, integ2, b2 = _mclp_model(agg, k, forbid=[useful])
        res2, _ = _solve(c2, cons2, integ2, b2, time_limit_s)
        if res2.status == 0 and res2.x is not None:
            alt = [int(j) for j in np.flatnonzero(res2.x[:n] > 0.5)]
            alt_cov = _covered(agg, alt)
            if alt_cov >= covered - 1e-6 * max(1.0, covered):
                alternative = alt
                notes.append("最適解は一つではありません：別の候補地の組み合わせでも同じ人数をカバーできます")
    return SitingResult("MCLP", k, useful, covered, covered, total, agg.uncoverable_weight, status, gap, dual,
                        elapsed, agg.n_groups, gains=gains, alternative=alternative, notes=notes)


def greedy_mclp(demand_weights, coverage=None, *, k: int) -> SitingResult:
    """Greedy baseline: add the site with the largest additional coverage, k times (ties: lowest index)."""
    agg = _agg(demand_weights, coverage)
    n = agg.coverage.shape[1]
    k = _check_k(k, n)
    t0 = time.perf_counter()
    order, gains = _greedy_order(agg, k)
    elapsed = time.perf_counter() - t0
    total = float(agg.weights.sum()) + agg.uncoverable_weight
    useful = [j for j, g in zip(order, gains) if g > 1e-9]
    gains = [g for g in gains if g > 1e-9]
    covered = float(sum(gains))
    return SitingResult("greedy", k, useful, covered, covered, total, agg.uncoverable_weight, "heuristic", None, None,
                        elapsed, agg.n_groups, gains=gains)


def _greedy_order(agg: AggregatedDemand, k: int) -> tuple[list[int], list[float]]:
    cov = agg.coverage.tocsc()
    n = cov.shape[1]
    left = np.ones(agg.n_groups, dtype=bool)
    chosen = np.zeros(n, dtype=bool)
    order, gains = [], []
    for _ in range(min(k, n)):
        w = agg.weights * left
        gain = np.asarray(cov.T @ w).ravel() if agg.n_groups else np.zeros(n)
        gain[chosen] = -1.0
        j = int(np.argmax(gain))
        order.append(j)
        gains.append(float(max(gain[j], 0.0)))
        chosen[j] = True
        rows = cov.indices[cov.indptr[j]:cov.indptr[j + 1]]
        left[rows] = False
    return order, gains


def lscp(demand_weights, coverage=None, *, time_limit_s: float = 60.0, check_ties: bool = True) -> SitingResult:
    """Location set covering problem: the fewest candidates that cover every coverable demand point.

    Demand no candidate reaches is reported in ``uncoverable_weight`` (and a note), not forced.
    """
    agg = _agg(demand_weights, coverage)
    n = agg.coverage.shape[1]
    if n == 0:
        _check_k(1, 0)
    total = float(agg.weights.sum()) + agg.uncoverable_weight
    notes: list[str] = []
    if agg.uncoverable_weight > 0:
        notes.append(f"どの候補地からも圏外の高齢者 {agg.uncoverable_weight:,.1f} 人はカバーできません（別の手段が必要です）")
    if agg.n_groups == 0:
        notes.append("カバーすべき未カバー高齢者がいません")
        return SitingResult("LSCP", None, [], 0.0, 0.0, total, agg.uncoverable_weight, "trivial", 0.0, 0.0, 0.0, 0,
                            notes=notes)

    def model(forbid):
        cons = [LinearConstraint(agg.coverage.astype(float), 1.0, np.inf)]
        for sites in forbid:
            row = np.zeros(n)
            row[list(sites)] = 1.0
            cons.append(LinearConstraint(sparse.csr_matrix(row), -np.inf, len(sites) - 1))
        return np.ones(n), cons, np.ones(n), Bounds(0, 1)

    res, elapsed = _solve(*model([]), time_limit_s)
    status = _STATUS.get(res.status, "error")
    if res.x is None:
        return SitingResult("LSCP", None, [], 0.0, 0.0, total, agg.uncoverable_weight, status, None, None, elapsed,
                            agg.n_groups, notes=notes + [f"ソルバーが解を返しませんでした: {res.message}"])
    chosen = [int(j) for j in np.flatnonzero(res.x > 0.5)]
    order, gains = _rank(agg, chosen)
    obj = float(len(chosen))
    dual = float(res.mip_dual_bound) if getattr(res, "mip_dual_bound", None) is not None else None
    gap = None
    if dual is not None:
        gap = max(0.0, (obj - np.ceil(dual - 1e-9)) / obj)
    alternative = None
    if check_ties and status == "optimal":
        res2, _ = _solve(*model([chosen]), time_limit_s)
        if res2.status == 0 and res2.x is not None and res2.x.sum() <= obj + 1e-6:
            alternative = [int(j) for j in np.flatnonzero(res2.x > 0.5)]
            notes.append("最少か所数の組み合わせは一つではありません：別の組み合わせでも同じか所数で全員をカバーできます")
    covered = _covered(agg, chosen)
    return SitingResult("LSCP", len(chosen), order, obj, covered, total, agg.uncoverable_weight, status, gap, dual,
                        elapsed, agg.n_groups, gains=gains, alternative=alternative, notes=notes)


def marginal_gain_curve(
    demand_weights, coverage=None, *, k_max: int, time_limit_s: float = 60.0
) -> pd.DataFrame:
    """Newly covered weight for k = 1..k_max: exact MCLP, greedy, and the exact marginal gain.

    Returns
    -------
    DataFrame
        ``k``, ``exact``, ``greedy``, ``marginal_gain`` (exact[k] − exact[k−1]), ``greedy_ratio``
        (greedy / exact, NaN when exact is 0), ``status``, ``mip_gap``, ``solve_time_s``,
        ``greedy_time_s``; ``attrs["n_groups"]``. k_max is capped at the number of candidates.
    """
    agg = _agg(demand_weights, coverage)
    n = agg.coverage.shape[1]
    _check_k(1, n)
    if isinstance(k_max, (int, np.integer)) and k_max > n:
        k_max = n
    k_max = _check_k(k_max, n)
    t0 = time.perf_counter()
    order, gains = _greedy_order(agg, k_max)
    greedy_total = time.perf_counter() - t0
    greedy_cum = np.cumsum(gains)
    rows = []
    prev = 0.0
    for k in range(1, k_max + 1):
        r = mclp(agg, k=k, time_limit_s=time_limit_s, check_ties=False)
        exact = r.covered_weight
        g = float(greedy_cum[k - 1])
        rows.append({
            "k": k, "exact": exact, "greedy": g, "marginal_gain": exact - prev,
            "greedy_ratio": g / exact if exact > 0 else np.nan,
            "status": r.status, "mip_gap": r.mip_gap, "solve_time_s": r.solve_time_s,
            "greedy_time_s": greedy_total * k / k_max,
        })
        prev = exact
    out = pd.DataFrame(rows)
    out.attrs["n_groups"] = agg.n_groups
    out.attrs["greedy_order"] = order
    return out
