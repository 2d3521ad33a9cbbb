"""Shopping-refugee job (shopping-refugees): MAFF straight-line and road-network figures side by side, mobile sales, scenarios."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

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
from gis.access import StraightLineEngine
from gis.crs import plane_rectangular_crs
from gis.shopping import (
    DEFAULT_STOP_WALK_M,
    DEFAULT_THRESHOLD_M,
    FOOD_SHOP_KINDS,
    MOBILE_STOP_KIND,
    SCENARIO_LABELS,
    TIER_LABELS,
    food_shops,
    new_stops_frame,
    maff_label,
    refugees_by_tier,
    require_shops,
    scenario,
    shopping_access,
)
from layers.maps import render_html
from layers.shopping import shopping_map

#: What the network columns say when the city has no road network.
NO_NETWORK = "道路網なし"


class MobileStop(AnalysisParams):
    """A mobile-sales stop to add in a scenario (longitude/latitude, days such as 「毎週火・金」 or ["火", "金"])."""

    name: PlaceName
    lon: Longitude
    lat: Latitude
    days: list[str] | str | None = Field(None, description="来る曜日（例 「毎週火・金」 または [\"火\", \"金\"]。空欄は曜日不明）")


class ShoppingParams(AnalysisParams):
    """Parameters of shopping-refugees."""

    threshold_m: float = Field(DEFAULT_THRESHOLD_M, gt=0, le=20000, description="食料品店からの距離の基準（m、農水省は直線500 m）")
    car_free_share: float | None = Field(None, ge=0, le=1, description="65歳以上のうち自動車を使えない人の割合（0〜1）")
    shop_kinds: list[str] = Field(default_factory=lambda: list(FOOD_SHOP_KINDS), description="食料品店とみなす種類")
    mode: WalkOrDrive = "walk"
    close_shop_ids: list[str] = Field(default_factory=list, description="シナリオ：閉店する店の resource_id")
    add_stops: list[MobileStop] = Field(default_factory=list, description="シナリオ：追加する移動販売停留所")
    stop_walk_m: float = Field(DEFAULT_STOP_WALK_M, gt=0, le=5000, description="移動販売停留所まで歩ける距離（m）")
    weekday: str | None = Field(None, description="この曜日に来る移動販売だけを数える（例：火）")
    elderly_share: ElderlyShare = None
    cell_size_m: CellSize = 100.0


_PERCENT = ("share_straight", "share_network", "remaining_share_straight", "remaining_share_network")


def _presentable(table: pd.DataFrame, *, has_network: bool) -> pd.DataFrame:
    """Japanese columns, people rounded to 0.1, shares in %; network columns say 道路網なし when absent."""
    out = table.drop(columns=["level", "parent_id"]).copy()
    labels = {c: TIER_LABELS[c] for c in out.columns}
    for col in out.columns:
        if col in _PERCENT:
            out[col] = (out[col] * 100).round(1)
            labels[col] = TIER_LABELS[col] + "（%）"
        elif col in ("population", "elderly") or col.startswith(("refugees_", "served_", "remaining_")):
            out[col] = out[col].round(1)
    if not has_network:
        at = out.columns.get_loc("share_straight") + 1
        out.insert(at, "refugees_network", NO_NETWORK)
        labels["refugees_network"] = TIER_LABELS["refugees_network"]
    out = out.rename(columns=labels)
    out.attrs["labels"] = labels
    return out


def _scenario_table(table: pd.DataFrame) -> pd.DataFrame:
    out = table.drop(columns=["level", "parent_id"]).copy()
    for col in out.columns[3:]:
        out[col] = out[col].round(1)
    labels = {c: SCENARIO_LABELS[c] for c in out.columns}
    out = out.rename(columns=labels)
    out.attrs["labels"] = labels
    return out


def _figure(value) -> float | None:
    return None if value is None or pd.isna(value) else round(float(value), 1)


def shopping_tier_table(store: Store, params: ShoppingParams, *, progress: Progress | None = None,
                        data_dir=None) -> tuple[pd.DataFrame, list[str], dict]:
    """The shopping-refugees tier figures without scenario and map: :func:`gis.shopping.refugees_by_tier`, notes, facts.

    The job (:func:`run_shopping`) and the area report (:mod:`api.reports`) both take their figures
    from here. ``facts``: ``method`` (how the straight-line figure is named), ``has_network``,
    ``shops`` and ``mobile_stops`` (counts). Raises :class:`InputDataError` (店舗データなし) when the
    workspace has no food shop.
    """
    base = _tier_figures(store, params, progress or (lambda f, m: None), data_dir)
    facts = {"method": base["method"], "has_network": base["has_network"], "shops": int(len(base["shops"])),
             "mobile_stops": int(len(base["stops"]))}
    return base["table"], base["notes"], facts


def _tier_figures(store: Store, params: ShoppingParams, progress: Progress, data_dir) -> dict:
    ws = store.workspace()
    profile = ws["profile"]
    crs = plane_rectangular_crs(ws["city_code"])
    progress(0.05, "人口をメッシュに配分中")
    demand, age_notes = workspace_demand(store, elderly_share=params.elderly_share, cell_size_m=params.cell_size_m)
    progress(0.2, "食料品店と移動販売停留所を読み込み中")
    resources = store.resources(kinds=list(dict.fromkeys([*params.shop_kinds, MOBILE_STOP_KIND])))
    shops = food_shops(resources, kinds=params.shop_kinds)
    require_shops(shops, city_name=ws["city_name"], kinds=params.shop_kinds)
    stops = resources[resources["kind"] == MOBILE_STOP_KIND].reset_index(drop=True)
    progress(0.25, "距離の計算方法を選択中")
    engine, engine_notes = choose_engine(ws["city_code"], data_dir=Path(data_dir) if data_dir else None, mode=params.mode)
    has_network = engine.mode == "network"
    common = dict(threshold_m=params.threshold_m, car_free_share=params.car_free_share, mobile_stops=stops,
                  stop_walk_m=params.stop_walk_m, weekday=params.weekday, shop_kinds=params.shop_kinds)
    progress(0.3, f"最寄りの食料品店までの直線距離を計算中（{params.threshold_m:g} m）")
    straight = shopping_access(demand, shops, engine=StraightLineEngine(crs=crs), **common)
    network = None
    if has_network:
        progress(0.45, "最寄りの食料品店までの道路距離を計算中")
        network = shopping_access(demand, shops, engine=engine, **common)
    progress(0.6, "圏域ごとに集計中")
    areas = store.areas()
    table = refugees_by_tier(straight, areas, profile=profile, network_points=network)
    notes = [*engine_notes]
    if not has_network:
        notes.append("道路網データがないため、道路網の列は「道路網なし」です（直線距離のみ）")
    notes += [*age_notes, *sample_note(shops, stops)]
    notes += [n for n in table.attrs.get("notes", []) if n not in notes]
    if network is not None:
        notes += [n for n in network.attrs.get("notes", []) if n not in notes]
    method = maff_label(car_factor=params.car_free_share is not None, threshold_m=params.threshold_m)
    notes.append(f"買い物弱者（直線）は {method}：最寄りの食料品店（{len(shops)}店）からの距離で数えています")
    return {"ws": ws, "profile": profile, "demand": demand, "shops": shops, "stops": stops, "engine": engine,
            "has_network": has_network, "common": common, "areas": areas, "table": table, "notes": notes,
            "method": method}


@register("shopping-refugees", params=ShoppingParams)
def run_shopping(store: Store, params: ShoppingParams, *, progress: Progress, data_dir=None) -> AnalysisResult:
    """65+ living ≥ threshold from the nearest food shop, per tier: MAFF straight line next to the road network."""
    base = _tier_figures(store, params, progress, data_dir)
    ws, profile, demand, shops, stops, engine = (base[k] for k in ("ws", "profile", "demand", "shops", "stops", "engine"))
    has_network, common, areas, table, notes, method = (
        base[k] for k in ("has_network", "common", "areas", "table", "notes", "method"))
    tables = {"圏域別の買い物弱者": _presentable(table, has_network=has_network)}

    city = table[table["level"] == profile.top.key].iloc[0]
    summary = {
        "method": method,
        "threshold_m": float(params.threshold_m),
        "shops": int(len(shops)),
        "mobile_stops": int(len(stops)),
        "demand_points": int(len(demand)),
        "engine": engine.description,
        "elderly": _figure(city["elderly"]),
        "refugees_straight": _figure(city["refugees_straight"]),
        "share_straight": None if pd.isna(city["share_straight"]) else float(city["share_straight"]),
        "refugees_network": _figure(city["refugees_network"]) if has_network else NO_NETWORK,
        "share_network": (None if pd.isna(city["share_network"]) else float(city["share_network"])) if has_network else NO_NETWORK,
        "served_mobile": _figure(city[f"served_{'network' if has_network else 'straight'}"]),
        "remaining": _figure(city[f"remaining_{'network' if has_network else 'straight'}"]),
    }

    changed = None
    added = None
    if params.close_shop_ids or params.add_stops:
        progress(0.7, "シナリオ（閉店・移動販売の追加）を計算中")
        added = new_stops_frame(params.add_stops)
        sc = scenario(demand, shops, engine=engine, areas=areas, profile=profile, close_shop_ids=params.close_shop_ids,
                      add_stops=params.add_stops, mobile_stops=stops, **{k: v for k, v in common.items() if k != "mobile_stops"})
        changed = sc.changed
        notes += sc.notes
        tables["シナリオの比較"] = _scenario_table(sc.table)
        ch = pd.DataFrame({
            "地域ID": changed["area_id"], "変更前": changed["status_before"], "変更後": changed["status_after"],
            "65歳以上人口": changed["elderly"].round(2),
            "残る買い物弱者の増減": changed["remaining_change"].round(2),
            "経度": changed.geometry.x.round(6), "緯度": changed.geometry.y.round(6),
        })
        tables["シナリオで変わる地点"] = ch
        top = sc.table[sc.table["level"] == profile.top.key].iloc[0]
        summary["scenario"] = {
            "engine": engine.description,
            "refugees_before": _figure(top["refugees_before"]), "refugees_after": _figure(top["refugees_after"]),
            "remaining_before": _figure(top["remaining_before"]), "remaining_after": _figure(top["remaining_after"]),
            "points_changed": int(len(changed)),
        }

    shop_list = pd.DataFrame({
        "店ID": shops["resource_id"], "名称": shops["name"], "種類": shops["kind"].map(lambda k: _kind_label(k)),
        "住所": shops["address"], "経度": shops.geometry.x.round(6), "緯度": shops.geometry.y.round(6),
        "サンプルデータ": shops["is_sample"].map({True: "はい", False: ""}),
    })
    tables["食料品店"] = shop_list

    progress(0.85, "地図を作成中")
    fmap = shopping_map(tier_table=table, areas=areas, profile=profile, shops=shops, city_name=ws["city_name"],
                        threshold_m=params.threshold_m, mobile_stops=stops, stop_walk_m=params.stop_walk_m,
                        added_stops=added, changed=changed, notes=notes)
    progress(1.0, "完了")
    return AnalysisResult(tables=tables, map_html=render_html(fmap), summary=summary, notes=notes)


def _kind_label(kind: str) -> str:
    from gis.schema import RESOURCE_KINDS

    return RESOURCE_KINDS.get(kind, kind)


__all__ = ["ShoppingParams", "MobileStop", "run_shopping", "NO_NETWORK"]
