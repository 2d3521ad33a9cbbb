"""Salon jobs: coverage gaps per tier (salon-gaps) and optimal new-salon sites (salon-sites)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import geopandas as gpd
import numpy as np
import pandas as pd
from pydantic import Field

from api.analyses.base import (
    AnalysisParams,
    AnalysisResult,
    CellSize,
    choose_engine,
    ElderlyShare,
    Latitude,
    Longitude,
    PlaceName,
    Progress,
    register,
    sample_note,
    WalkOrDrive,
    workspace_demand,
)
from api.store.base import Store
from gis.access import check_threshold
from gis.crs import STORAGE_CRS, plane_rectangular_crs
from gis.errors import InputDataError
from gis.salons import TIER_TABLE_LABELS, check_thresholds, coverage_by_tier, reconcile_tiers, salon_catchments, salon_coverage
from gis.siting import (
    DEFAULT_CANDIDATE_KINDS,
    STATUS_LABELS,
    aggregate_demand,
    candidate_sites,
    coverage_matrix,
    greedy_mclp,
    lscp,
    marginal_gain_curve,
    mclp,
)
from layers.maps import render_html
from layers.salons import salon_map


class SalonGapsParams(AnalysisParams):
    """Parameters of salon-gaps."""

    thresholds_m: list[Annotated[float, Field(gt=0, le=20000)]] = Field(
        default_factory=lambda: [500.0, 1000.0], min_length=1, max_length=10, description="徒歩圏の距離（m）")
    elderly_share: ElderlyShare = None
    cell_size_m: CellSize = 100.0
    mode: WalkOrDrive = "walk"


class CandidatePoint(AnalysisParams):
    """A candidate site the user gives (longitude/latitude)."""

    name: PlaceName
    lon: Longitude
    lat: Latitude


class SalonSitesParams(AnalysisParams):
    """Parameters of salon-sites."""

    k: int = Field(5, ge=1, le=10000, description="新しく開くサロンの数")
    k_max: int = Field(10, ge=1, le=10000, description="限界効果の曲線を描く最大か所数")
    k_up_to_candidates: bool = Field(False, description="候補地が k か所より少ないときは候補地の数まで減らす"
                                     "（減らしたことは注記に書く。全市区町村の一括実行で使用）")
    threshold_m: float = Field(500.0, gt=0, le=20000, description="徒歩圏の距離（m）")
    candidate_kinds: list[str] = Field(
        default_factory=lambda: list(DEFAULT_CANDIDATE_KINDS),
        description="候補地にする施設の種類（種別のキーか日本語名、例 kominkan・公民館）")
    candidate_points: list[CandidatePoint] = Field(default_factory=list, max_length=5000, description="利用者指定の候補地")
    time_limit_s: float = Field(60.0, gt=0, le=3600, description="ソルバーの制限時間（秒）")
    elderly_share: ElderlyShare = None
    cell_size_m: CellSize = 100.0
    mode: WalkOrDrive = "walk"


def _rounded_tier_table(table: pd.DataFrame) -> pd.DataFrame:
    out = table.drop(columns=["level", "parent_id"]).copy()
    for col in ("population", "elderly", "covered_elderly", "uncovered_elderly"):
        out[col] = out[col].round(1)
    out["uncovered_share"] = (out["uncovered_share"] * 100).round(1)
    labels = dict(TIER_TABLE_LABELS)
    labels["uncovered_share"] = "未カバー率（%）"
    out = out.rename(columns=labels)
    out.attrs["labels"] = labels
    return out


def _common(store: Store, params, data_dir, progress: Progress, thresholds):
    ws = store.workspace()
    progress(0.05, "人口をメッシュに配分中")
    demand, age_notes = workspace_demand(store, elderly_share=params.elderly_share, cell_size_m=params.cell_size_m)
    progress(0.25, "距離の計算方法を選択中")
    engine, engine_notes = choose_engine(ws["city_code"], data_dir=Path(data_dir) if data_dir else None, mode=params.mode)
    salons = store.resources(kinds=["salon"])
    progress(0.35, "最寄りのサロンまでの距離を計算中")
    cov = salon_coverage(demand, salons, engine=engine, thresholds_m=thresholds)
    notes = [*engine_notes, *age_notes, *sample_note(salons), *cov.attrs.get("notes", [])]
    return ws, demand, engine, salons, cov, notes


def salon_gap_tables(store: Store, params: SalonGapsParams, *, progress: Progress | None = None,
                     data_dir=None) -> tuple[dict[float, pd.DataFrame], list[str]]:
    """The salon-gaps figures without the map: threshold → :func:`gis.salons.coverage_by_tier` table, and the notes.

    The job (:func:`run_salon_gaps`) and the area report (:mod:`api.reports`) both take their
    figures from here, so they cannot differ.
    """
    raw, notes, _ = _gap_tables(store, params, progress or (lambda f, m: None), data_dir)
    return raw, notes


def _gap_tables(store: Store, params: SalonGapsParams, progress: Progress, data_dir):
    check_thresholds(params.thresholds_m)  # before the slow steps
    ws, demand, engine, salons, cov, notes = _common(store, params, data_dir, progress, params.thresholds_m)
    areas = store.areas()
    progress(0.6, "圏域ごとに集計中")
    raw = {t: coverage_by_tier(cov, areas, profile=ws["profile"], threshold_m=t) for t in cov.attrs["thresholds_m"]}
    return raw, notes, (ws, demand, engine, salons, cov, areas)


@register("salon-gaps", params=SalonGapsParams)
def run_salon_gaps(store: Store, params: SalonGapsParams, *, progress: Progress, data_dir=None) -> AnalysisResult:
    """Covered / uncovered elderly per tier for each walking threshold, and the map."""
    raw, notes, (ws, demand, engine, salons, cov, areas) = _gap_tables(store, params, progress, data_dir)
    thresholds = cov.attrs["thresholds_m"]
    profile = ws["profile"]
    tables, summary = {}, {"thresholds_m": thresholds, "salons": int(len(salons)), "engine": engine.description,
                           "demand_points": int(len(demand)), "by_threshold": {}}
    for t in thresholds:
        table = raw[t]
        bad = reconcile_tiers(table, profile=profile)
        tables[f"圏域別（徒歩{t:g} m）"] = _rounded_tier_table(table)
        city = table[table["level"] == profile.top.key].iloc[0]
        summary["by_threshold"][f"{t:g}"] = {
            "elderly": float(city["elderly"]), "uncovered_elderly": float(city["uncovered_elderly"]),
            "uncovered_share": None if pd.isna(city["uncovered_share"]) else float(city["uncovered_share"]),
            "reconciles": bool(bad.empty),
        }
    dist = cov["salon_distance_m"]
    summary["unreachable_points"] = int(dist.isna().sum())
    progress(0.8, "地図を作成中")
    t0 = thresholds[0]
    crs = plane_rectangular_crs(ws["city_code"])
    catch = salon_catchments(salons, engine=engine, threshold_m=t0, demand=demand, crs=crs)
    fmap = salon_map(areas=areas, table=raw[t0], profile=profile, salons=salons, catchments=catch, threshold_m=t0,
                     title=f"{ws['city_name']} サロンの空白地域（徒歩{t0:g} m）", notes=notes)
    progress(1.0, "完了")
    return AnalysisResult(tables=tables, map_html=render_html(fmap), summary=summary, notes=notes)


def _user_points(points: list[CandidatePoint]) -> gpd.GeoDataFrame | None:
    if not points:
        return None
    return gpd.GeoDataFrame({"name": [p.name for p in points]},
                            geometry=gpd.points_from_xy([p.lon for p in points], [p.lat for p in points]), crs=STORAGE_CRS)


def _stat_row(label: str, r) -> dict:
    return {
        "モデル": label,
        "か所数": len(r.sites),
        "新たにカバーする高齢者": round(r.covered_weight, 1),
        "状態": STATUS_LABELS.get(r.status, "貪欲法（最適性の保証なし）" if r.model == "greedy" else r.status),
        "最適性ギャップ": None if r.mip_gap is None else float(r.mip_gap),
        "証明された上界": None if r.dual_bound is None else round(float(r.dual_bound), 1),
        "計算時間（秒）": round(r.solve_time_s, 4),
        "需要グループ数": r.n_groups,
        "同点の別解": "あり" if r.alternative else "なし／未確認",
    }


@register("salon-sites", params=SalonSitesParams)
def run_salon_sites(store: Store, params: SalonSitesParams, *, progress: Progress, data_dir=None) -> AnalysisResult:
    """MCLP (k sites), LSCP, greedy baseline and marginal-gain curve for new salons."""
    if params.k <= 0 or params.k_max <= 0:
        msg = f"k と k_max は正の整数にしてください（k={params.k}, k_max={params.k_max}）"
        en = f"k and k_max must be positive whole numbers, got k={params.k}, k_max={params.k_max}"
        raise InputDataError(msg, en=en, hint="例: k=5, k_max=10", hint_en="e.g. k=5, k_max=10")
    check_threshold(params.threshold_m, what="salon walking threshold")
    ws = store.workspace()
    profile = ws["profile"]
    crs = plane_rectangular_crs(ws["city_code"])
    areas = store.areas()
    progress(0.02, "候補地を準備中")
    city = areas[areas["level"] == profile.top.key]
    cand = candidate_sites(store.resources(), kinds=params.candidate_kinds, user_points=_user_points(params.candidate_points),
                           boundary=city if len(city) else None, existing=store.resources(kinds=["salon"]), crs=crs)
    fitted, k_requested = [], params.k
    if params.k > len(cand):
        if not params.k_up_to_candidates:
            msg = f"k={params.k} は候補地の数（{len(cand)} か所）より多いです"
            raise InputDataError(msg, hint=f"k を {len(cand)} 以下にするか、候補地の種類・座標を増やしてください（k_up_to_candidates=true で自動的に減らせます）",
                                 en=f"k={params.k} is more than the number of candidate sites ({len(cand)})",
                                 hint_en=f"make k at most {len(cand)} or add candidate kinds or points (k_up_to_candidates=true lowers k by itself)")
        fitted.append(f"候補地が {len(cand)} か所しかないため、新しいサロンの数を k={params.k} から {len(cand)} に減らしました")
        params = params.model_copy(update={"k": len(cand)})
    ws, demand, engine, salons, cov, notes = _common(store, params, data_dir, progress, [params.threshold_m])
    notes = fitted + notes
    t = cov.attrs["thresholds_m"][0]
    notes += cand.attrs["notes"]
    covered = cov[f"covered_{t:g}"].to_numpy()
    weights = np.where(covered, 0.0, cov["elderly"].to_numpy(dtype=float))
    progress(0.5, "候補地ごとの徒歩圏を計算中")
    matrix = coverage_matrix(demand, cand, engine=engine, threshold_m=t)
    agg = aggregate_demand(weights, matrix)
    progress(0.6, f"最大被覆問題（MCLP, k={params.k}）を解いています")
    best = mclp(agg, k=params.k, time_limit_s=params.time_limit_s)
    greedy = greedy_mclp(agg, k=params.k)
    progress(0.7, "最少か所数で全員をカバーする組み合わせ（LSCP）を解いています")
    cover_all = lscp(agg, time_limit_s=params.time_limit_s)
    progress(0.75, "か所数ごとの効果（限界効果曲線）を計算中")
    curve = marginal_gain_curve(agg, k_max=min(params.k_max, len(cand)), time_limit_s=params.time_limit_s)
    notes += best.notes + cover_all.notes
    notes.append("最適解は HiGHS（混合整数計画）で厳密に解き、最適性ギャップを表示しています。貪欲法は比較用です")

    def site_rows(res):
        rows = []
        for rank, (j, gain) in enumerate(zip(res.sites, res.gains), start=1):
            c = cand.iloc[j]
            rows.append({"順位": rank, "名称": c["name"], "種別": c["kind_label"], "新たにカバーする高齢者": round(gain, 1),
                         "経度": round(c.geometry.x, 6), "緯度": round(c.geometry.y, 6), "候補地ID": c["site_id"]})
        return pd.DataFrame(rows, columns=["順位", "名称", "種別", "新たにカバーする高齢者", "経度", "緯度", "候補地ID"])

    chosen = site_rows(best)
    curve_t = pd.DataFrame({
        "か所数 k": curve["k"],
        "最適解でカバー（人）": curve["exact"].round(1),
        "貪欲法でカバー（人）": curve["greedy"].round(1),
        "k か所目の追加効果（人）": curve["marginal_gain"].round(1),
        "貪欲法／最適解": curve["greedy_ratio"].round(4),
        "状態": curve["status"].map(STATUS_LABELS),
        "最適性ギャップ": curve["mip_gap"],
        "計算時間（秒）": curve["solve_time_s"].round(4),
    })
    stats = pd.DataFrame([_stat_row(f"MCLP（k={params.k}）", best), _stat_row(f"貪欲法（k={params.k}）", greedy),
                          _stat_row("LSCP（全員カバーの最少か所数）", cover_all)])
    lscp_sites = site_rows(cover_all)
    alt = pd.DataFrame({"名称": [cand.iloc[j]["name"] for j in (best.alternative or [])]})
    total_unc = float(weights.sum())
    summary = {
        "threshold_m": t, "k": params.k, "k_requested": k_requested, "candidates": int(len(cand)),
        "dropped_candidates": cand.attrs["dropped"], "uncovered_elderly": total_unc,
        "uncoverable_elderly": agg.uncoverable_weight, "demand_points": int(len(demand)), "demand_groups": agg.n_groups,
        "mclp": best.to_dict(), "greedy": greedy.to_dict(), "lscp": cover_all.to_dict(),
        "engine": engine.description,
    }
    progress(0.9, "地図を作成中")
    new_sites = gpd.GeoDataFrame({
        "rank": chosen["順位"], "name": chosen["名称"], "kind_label": chosen["種別"],
        "gain": chosen["新たにカバーする高齢者"]},
        geometry=[cand.geometry.iloc[j] for j in best.sites], crs=STORAGE_CRS)
    table = coverage_by_tier(cov, areas, profile=profile, threshold_m=t)
    catch = salon_catchments(salons, engine=engine, threshold_m=t, demand=demand, crs=crs)
    fmap = salon_map(areas=areas, table=table, profile=profile, salons=salons, catchments=catch, threshold_m=t,
                     title=f"{ws['city_name']} 新しいサロンの候補地（{params.k}か所・徒歩{t:g} m）", notes=notes,
                     candidates=cand, new_sites=new_sites)
    tables = {"選ばれた候補地": chosen, "か所数と効果": curve_t, "ソルバーの結果": stats,
              "全員カバーの最少構成（LSCP）": lscp_sites}
    if len(alt):
        tables["同じ効果の別の組み合わせ"] = alt
    progress(1.0, "完了")
    return AnalysisResult(tables=tables, map_html=render_html(fmap), summary=summary, notes=notes)
