"""Station catchment job (catchments): areas per station, given or nearest, workload and polygons."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import pandas as pd
from pydantic import Field

from api.analyses.base import (
    AnalysisParams,
    AnalysisResult,
    CellSize,
    ElderlyShare,
    Progress,
    WalkOrDrive,
    choose_engine,
    register,
    sample_note,
    workspace_demand,
)
from api.importing import SAMPLE_STATION_AT_CENTRE
from api.store.base import Store
from gis.access import StraightLineEngine
from gis.catchments import WORKLOAD_LABELS, assign_catchments, catchment_polygons, station_workload
from gis.crs import plane_rectangular_crs
from gis.errors import InputDataError
from gis.schema import STATION_KINDS
from gis.shopping import food_shops, require_shops, shopping_access
from layers.catchments import catchment_map
from layers.maps import render_html


class CatchmentParams(AnalysisParams):
    """Parameters of catchments."""

    by: Literal["given", "nearest"] = Field("given", title="担当地域の決め方", description="担当地域の決め方：指定（given）／最寄り（nearest）")
    mode: WalkOrDrive = "drive"  # to a station, by car
    uncovered: Literal["shopping", "none"] = Field(
        "shopping", title="未カバーの高齢者として数えるもの", description="未カバーの高齢者として数えるもの：買い物弱者（農水省方式・直線500 m）／なし"
    )
    elderly_share: ElderlyShare = None
    cell_size_m: CellSize = 100.0


def _workload_table(w: pd.DataFrame, *, uncovered_label: str | None) -> pd.DataFrame:
    out = w.copy()
    out["kind"] = out["kind"].map(lambda k: STATION_KINDS.get(k, k))
    out["is_sample"] = out["is_sample"].map({True: "はい", False: ""})
    for col in ("population", "elderly", "single_elderly_households", "uncovered_elderly"):
        out[col] = out[col].map(lambda v: None if v is None or pd.isna(v) else round(float(v), 1))
    out["area_km2"] = out["area_km2"].round(2)
    out["farthest_m"] = out["farthest_m"].map(lambda v: None if v is None or pd.isna(v) else round(float(v)))
    labels = dict(WORKLOAD_LABELS)
    if uncovered_label:
        labels["uncovered_elderly"] = uncovered_label
    out = out.rename(columns=labels)
    out.attrs["labels"] = labels
    return out


@register("catchments", params=CatchmentParams)
def run_catchments(store: Store, params: CatchmentParams, *, progress: Progress, data_dir=None) -> AnalysisResult:
    """Assign areas to stations (given or nearest), report each station's workload and draw the catchments."""
    ws = store.workspace()
    profile = ws["profile"]
    crs = plane_rectangular_crs(ws["city_code"])
    progress(0.05, "人口をメッシュに配分中")
    demand, age_notes = workspace_demand(store, elderly_share=params.elderly_share, cell_size_m=params.cell_size_m)
    stations = store.stations()
    areas = store.areas()
    progress(0.2, "距離の計算方法を選択中")
    engine, engine_notes = choose_engine(ws["city_code"], data_dir=Path(data_dir) if data_dir else None, mode=params.mode)
    progress(0.3, "地域を拠点に割り当て中" if params.by == "given" else "各世帯を最寄りの拠点に割り当て中")
    assignment = assign_catchments(areas, stations, profile=profile, engine=engine, demand=demand, by=params.by)
    uncovered = None
    uncovered_label = None
    extra_notes = []
    if params.uncovered == "shopping":
        progress(0.5, "買い物弱者（食料品店まで直線500 m 以上）を数えています")
        shops = food_shops(store.resources())
        uncovered_label = "未カバーの高齢者（買い物弱者・直線500 m）"
        try:
            require_shops(shops, city_name=ws["city_name"])
        except InputDataError as exc:
            # the catchments do not need shops: only this one column does, so it stays blank and says why
            extra_notes.append(f"{exc.reason}。担当圏域には店舗は要らないので圏域と負担は出し、"
                               f"「{uncovered_label}」だけを空欄にしています（{exc.hint}）")
        else:
            uncovered = shopping_access(demand, shops, engine=StraightLineEngine(crs=crs))
            extra_notes.append("未カバーの高齢者は、最寄りの食料品店まで直線500 m 以上の65歳以上（農水省の距離基準。自動車の利用は考慮なし）で数えています")
    progress(0.6, "拠点ごとの負担（人口・高齢者・面積・最遠距離）を集計中")
    workload = station_workload(assignment, stations, areas=areas, engine=engine, uncovered=uncovered,
                                uncovered_column="refugees", municipality_code=ws["city_code"])
    polygons = catchment_polygons(assignment, stations)
    at_centre = stations["address"].eq(SAMPLE_STATION_AT_CENTRE) if "address" in stations.columns else pd.Series(False)
    if at_centre.any():
        extra_notes.insert(0, f"サンプル拠点 {int(at_centre.sum())} か所は、公民館・集会所のデータがないため"
                              "担当地域の人口重心に仮に置いています（最遠距離はその位置からの値です）")
    notes = [*engine_notes, *age_notes, *sample_note(stations), *assignment.attrs["notes"], *extra_notes,
             *workload.attrs["notes"]]
    per_area = pd.DataFrame({
        "地域ID": assignment["area_id"], "名称": assignment["name"],
        "拠点ID": assignment["station_id"], "拠点名": assignment["station_name"],
        "担当を申告した拠点数": assignment["claimed_by"].map(len),
    })
    if params.by == "nearest":
        per_area["拠点までの最大距離（m）"] = assignment["distance_m"].round(0)
    tables = {"拠点ごとの負担": _workload_table(workload, uncovered_label=uncovered_label), "町丁・字の担当拠点": per_area}
    problems = [{"問題": "担当拠点なし", "地域": n, "拠点": ""} for n in assignment.attrs["unclaimed"]]
    problems += [{"問題": "複数の拠点が担当", "地域": d["name"], "拠点": "・".join(d["stations"])}
                 for d in assignment.attrs["double_claimed"]]
    problems += [{"問題": "存在しない地域ID", "地域": i, "拠点": s} for s, ids in assignment.attrs["unknown_ids"].items() for i in ids]
    problems += [{"問題": "道路網で拠点に行けない", "地域": n, "拠点": ""} for n in assignment.attrs["unreachable"]]
    if problems:
        tables["割り当ての問題"] = pd.DataFrame(problems)
    total_pop = float(workload["population"].sum())
    summary = {
        "by": params.by,
        "engine": engine.description,
        "stations": int(len(stations)),
        "sample_stations": int(stations["is_sample"].sum()) if "is_sample" in stations.columns else 0,
        "population": round(total_pop, 1),
        "elderly": round(float(pd.to_numeric(workload["elderly"]).sum()), 1),
        "unclaimed": assignment.attrs["unclaimed"],
        "double_claimed": [d["name"] for d in assignment.attrs["double_claimed"]],
        "unreachable": assignment.attrs["unreachable"],
    }
    progress(0.85, "地図を作成中")
    unassigned = assignment[assignment["station_id"].isna()]
    fmap = catchment_map(polygons=polygons, stations=stations, workload=workload, city_name=ws["city_name"],
                         by=params.by, unassigned=unassigned, notes=notes)
    progress(1.0, "完了")
    return AnalysisResult(tables=tables, map_html=render_html(fmap), summary=summary, notes=notes)
