"""Shopping refugees (買い物弱者 / 食料品アクセス困難人口): the MAFF method, on roads, with mobile sales and scenarios."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
from shapely.geometry import Point

from gis import kinds as _kinds
from gis.access import DistanceEngine, check_threshold, missing_columns_error
from gis.crs import STORAGE_CRS, in_japan
from gis.errors import InputDataError
from gis.schema import RESOURCE_KINDS, TIER_TABLE_LABELS as _TIER_BASE_LABELS
from gis.tiers import CityProfile

#: Food shops counted by the MAFF method, 2020 edition (農林水産政策研究所「食料品アクセス困難人口」):
#: supermarkets, convenience stores, department stores / general supermarkets, greengrocers,
#: fishmongers, butchers, other food shops and — new in 2020 — drugstores. The one place to
#: change it is ``food_shop`` in gis/kinds.toml.
FOOD_SHOP_KINDS: tuple[str, ...] = _kinds.food_shop_kinds()
#: Resource kind of a mobile-sales (移動販売) stop; its ``attributes["days"]`` says when the truck comes.
MOBILE_STOP_KIND = _kinds.MOBILE_STOP_KIND
#: MAFF threshold: 500 m in straight line, "a distance people can walk to shop without strain".
DEFAULT_THRESHOLD_M = 500.0
#: Walk to a mobile-sales stop counted as served.
DEFAULT_STOP_WALK_M = 300.0
#: Days of the week, Monday first (Python's ``date.weekday()`` order).
WEEKDAYS = ("月", "火", "水", "木", "金", "土", "日")
_ENGLISH_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

#: Column → Japanese label of :func:`shopping_access` results.
ACCESS_LABELS = {
    "point_id": "需要点ID",
    "area_id": "地域ID",
    "population": "人口",
    "elderly": "65歳以上人口",
    "shop_id": "最寄りの食料品店ID",
    "shop_name": "最寄りの食料品店",
    "shop_kind": "店の種類",
    "shop_distance_m": "最寄りの食料品店までの距離（m）",
    "refugee": "買い物弱者の地点",
    "refugees": "買い物弱者数",
    "stop_id": "最寄りの移動販売停留所ID",
    "stop_distance_m": "移動販売停留所までの距離（m）",
    "served_mobile": "移動販売でカバー",
    "served_refugees": "移動販売でカバーされる買い物弱者数",
    "remaining": "残る買い物弱者数",
}

#: Status of a demand point, used by scenarios and maps.
STATUS_OK = "徒歩圏に食料品店あり"
STATUS_MOBILE = "買い物弱者（移動販売でカバー）"
STATUS_REFUGEE = "買い物弱者"


# --- days of mobile sales -------------------------------------------------------------------


def parse_days(value) -> frozenset[str] | None:
    """Days of the week a mobile-sales truck stops, from how people write them.

    Accepts a list (``["火", "金"]``) or text (「毎週火・金」, 「火曜日・金曜日」, 「第1・3金曜」,
    「平日」, 「毎日」, ``"Tue, Fri"``). Week-of-month qualifiers (第1・3) are ignored: the stop
    counts on that weekday.

    Returns
    -------
    frozenset of str or None
        Japanese weekday characters (月…日); None when no day can be read (unknown).
    """
    if value is None or (not isinstance(value, (str, list, tuple, set, frozenset)) and pd.isna(value)):
        return None
    if isinstance(value, (list, tuple, set, frozenset)):
        days: set[str] = set()
        for v in value:
            got = parse_days(v)
            if got:
                days |= got
        return frozenset(days) or None
    text = unicodedata.normalize("NFKC", str(value)).strip().lower()
    if not text:
        return None
    if "毎日" in text or "daily" in text or "every day" in text:
        return frozenset(WEEKDAYS)
    days = set()
    if "平日" in text or "weekday" in text:
        days |= set(WEEKDAYS[:5])
        text = text.replace("平日", "").replace("weekdays", "").replace("weekday", "")
    if "土日" in text or "週末" in text or "weekend" in text:
        days |= {"土", "日"}
    for word in ("曜日", "曜", "祝日", "祝", "休日", "毎日"):
        text = text.replace(word, "")
    days |= {c for c in text if c in WEEKDAYS}
    days |= {WEEKDAYS[i] for i, e in enumerate(_ENGLISH_DAYS) if re.search(rf"\b{e}", text)}
    return frozenset(days) or None


def _weekday(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        if 0 <= int(value) <= 6:
            return WEEKDAYS[int(value)]
    else:
        days = parse_days(value)
        if days is not None and len(days) == 1:
            return next(iter(days))
    msg = f"曜日は1つの曜日で指定してください（月〜日、'tue'、または月曜を 0 とする 0〜6）。指定は「{value}」です"
    raise InputDataError(
        msg, en=f"weekday must be one day of the week (月…日, 'tue', or 0–6 with Monday 0), got {value!r}",
        hint="例: 火曜日なら weekday='火'。指定しなければ、停留所はどの運行日でも数えます",
        hint_en="e.g. weekday='火' for Tuesdays; leave it out to count a stop on any of its days",
    )


def _stop_days(stops: gpd.GeoDataFrame) -> list[frozenset[str] | None]:
    if "days" in stops.columns:
        return [parse_days(v) for v in stops["days"]]
    if "attributes" in stops.columns:
        return [parse_days(a.get("days") if isinstance(a, Mapping) else None) for a in stops["attributes"]]
    return [None] * len(stops)


# --- inputs ---------------------------------------------------------------------------------


def food_shops(resources: gpd.GeoDataFrame, *, kinds: Iterable[str] = FOOD_SHOP_KINDS) -> gpd.GeoDataFrame:
    """The food shops among ``resources`` (kinds of :data:`FOOD_SHOP_KINDS` unless others are given).

    Raises :class:`InputDataError` for a kind :data:`gis.schema.RESOURCE_KINDS` does not know.
    """
    kinds = _check_kinds(kinds)
    if "kind" not in resources.columns:
        return resources
    return resources[resources["kind"].isin(kinds)].reset_index(drop=True)


#: What a result says instead of a share when the workspace has no shop to measure from.
NO_SHOP_DATA = "店舗データなし"


def require_shops(shops: gpd.GeoDataFrame, *, city_name: str, kinds: Iterable[str] = FOOD_SHOP_KINDS) -> None:
    """Refuse to count shopping refugees where the workspace holds no food shop at all.

    With no shop every older person is "far from a shop", and 100 % would be reported for a
    town whose shops were simply never imported (早島町 and 里庄町 have no permit file).
    Raises :class:`InputDataError` starting with :data:`NO_SHOP_DATA`.
    """
    if len(shops):
        return
    labels = "、".join(RESOURCE_KINDS.get(k, k) for k in kinds)
    msg = (f"{NO_SHOP_DATA}：{city_name} のワークスペースには食料品店（{labels}）が1件もないため、"
           "買い物弱者の割合は出せません（100 % と数えると誤りになります）")
    raise InputDataError(
        msg,
        en=f"no food shops ({', '.join(FOOD_SHOP_KINDS)}) in the workspace of {city_name}: the share of shopping refugees cannot be given (counting it as 100 % would be wrong)",
        hint="食料品店の一覧（営業許可の台帳など）を tsunagu import resources で取り込んでから実行してください",
        hint_en="import a list of food shops (e.g. the food permit register) with tsunagu import resources first",
    )


def _check_kinds(kinds: Iterable[str]) -> tuple[str, ...]:
    kinds = tuple(dict.fromkeys(str(k) for k in kinds))
    unknown = [k for k in kinds if k not in RESOURCE_KINDS]
    if unknown:
        msg = f"店の種別「{unknown[0]}」はありません"
        raise InputDataError(
            msg, en=f"unknown shop kind {unknown[0]!r}",
            hint=f"食料品店の種別: {'、'.join(FOOD_SHOP_KINDS)}", hint_en=f"food shop kinds: {', '.join(FOOD_SHOP_KINDS)}",
        )
    if not kinds:
        msg = "店の種別が指定されていません"
        raise InputDataError(
            msg, en="no shop kinds given",
            hint=f"農林水産省（2020年）の種別は {'、'.join(FOOD_SHOP_KINDS)} です",
            hint_en=f"the MAFF 2020 kinds are {', '.join(FOOD_SHOP_KINDS)}",
        )
    return kinds


#: The layers and points named in messages, in Japanese.
_WHAT_JA = {"shop": "店", "mobile-sales stop": "移動販売の停留所", "added stop": "追加する停留所",
            "added shop": "追加する店"}


def _with_crs(gdf: gpd.GeoDataFrame | None, what: str) -> gpd.GeoDataFrame:
    if gdf is None:
        return gpd.GeoDataFrame({"geometry": []}, geometry="geometry", crs=STORAGE_CRS)
    if gdf.crs is None:
        msg = f"{_WHAT_JA.get(what, what)}のレイヤーに座標系がありません"
        raise InputDataError(
            msg, en=f"the {what} layer has no CRS",
            hint="座標系を指定してください（経度・緯度なら EPSG:4326、岡山県の平面直角座標なら EPSG:6673）",
            hint_en="set one (EPSG:4326 for longitude/latitude, EPSG:6673 for 岡山県 plane coordinates)",
        )
    gdf = gdf.to_crs(STORAGE_CRS).reset_index(drop=True)
    keep = gdf.geometry.notna() & ~gdf.geometry.is_empty
    return gdf[keep].reset_index(drop=True)


def maff_label(*, car_factor: bool, threshold_m: float) -> str:
    """How the straight-line figure is named: 農水省方式 only when the car-use factor is applied.

    MAFF (農林水産政策研究所) counts people aged 65+ who live ≥ 500 m in a straight line from a food
    shop *and* cannot easily use a car; without the car factor the figure is MAFF's distance rule only.
    """
    if car_factor:
        return f"農水省方式（直線{threshold_m:g} m 以上 × 自動車を使えない人の割合）"
    return f"直線{threshold_m:g} m 以上（農水省の距離基準。自動車の利用は考慮していません）"


def _car_free(demand: pd.DataFrame, share) -> tuple[np.ndarray, str]:
    if share is None:
        return np.ones(len(demand)), (
            "自動車を使えない人の割合を指定していないため、食料品店から基準距離以上離れた65歳以上の全員を数えています"
            "（農林水産政策研究所の推計は自動車の利用が困難な人に限ります）"
        )
    if isinstance(share, Mapping):
        values = demand["area_id"].astype(str).map({str(k): v for k, v in share.items()})
        if values.isna().any():
            first = demand.loc[values.isna(), "area_id"].iloc[0]
            msg = f"地域 {first} の「車を使えない人の割合」が指定されていません"
            raise InputDataError(
                msg, en=f"no car-free share given for area {first}", feature=str(first),
                hint="すべての地域の割合か、市全体で1つの割合を指定してください",
                hint_en="give a share for every area, or one share for the city",
            )
        arr = values.astype(float).to_numpy()
        basis = "地域別の自動車を使えない人の割合"
    else:
        try:
            arr = np.full(len(demand), float(share))
        except (TypeError, ValueError) as exc:
            msg = f"車を使えない人の割合は 0〜1 の数値にしてください（指定は「{share}」）"
            raise InputDataError(
                msg,
                en=f"car-free share must be a number between 0 and 1, got {share!r}",
            ) from exc
        basis = f"自動車を使えない人の割合 {float(share):.1%}"
    if len(arr) and (not np.isfinite(arr).all() or (arr < 0).any() or (arr > 1).any()):
        msg = f"車を使えない人の割合は 0〜1 にしてください（指定は「{share}」）"
        raise InputDataError(
            msg, en=f"car-free share must be between 0 and 1, got {share!r}",
            hint="例: 65歳以上の 30% が車を使えないなら 0.3", hint_en="e.g. 0.3 when 30 % of people aged 65+ cannot use a car",
        )
    return arr, f"買い物弱者数は65歳以上人口 ×{basis}です"


# --- per demand point -----------------------------------------------------------------------


def shopping_access(
    demand: gpd.GeoDataFrame,
    shops: gpd.GeoDataFrame | None,
    *,
    engine: DistanceEngine,
    threshold_m: float = DEFAULT_THRESHOLD_M,
    car_free_share: float | Mapping[str, float] | None = None,
    mobile_stops: gpd.GeoDataFrame | None = None,
    stop_walk_m: float = DEFAULT_STOP_WALK_M,
    weekday: str | int | None = None,
    shop_kinds: Iterable[str] = FOOD_SHOP_KINDS,
) -> gpd.GeoDataFrame:
    """Nearest food shop of every demand point, and who is a shopping refugee.

    A point's 65+ are refugees when the nearest food shop is ``threshold_m`` or more away (by the
    engine: straight line is the MAFF method), or when no shop can be reached at all. Refugees
    are the point's elderly times ``car_free_share`` (1 when not given). Refugees within
    ``stop_walk_m`` of a mobile-sales stop that comes on ``weekday`` (or on any day, when no
    weekday is given) are counted separately as served by mobile sales.

    Parameters
    ----------
    demand
        Demand points (:func:`gis.demand.demand_points`): ``point_id``, ``area_id``,
        ``population``, ``elderly``; ``attrs["age_note"]`` is repeated in the notes.
    shops
        Food shops (resources); rows whose ``kind`` is not in ``shop_kinds`` are ignored. Any CRS.
        None or empty: everybody is a refugee (said so in the notes).
    engine
        Distance engine (measures in its own CRS).
    threshold_m
        Distance from which a point counts as far from shops (m, > 0).
    car_free_share
        Share (0–1) of people aged 65+ who cannot use a car, for the city or per area id.
    mobile_stops
        Mobile-sales stops: points with ``days`` (column, or ``attributes["days"]``).
    stop_walk_m
        Walking distance to a stop counted as served (m, > 0).
    weekday
        Count a stop only on this day (「火」, ``"tue"``, 0–6 with Monday 0).
    shop_kinds
        Resource kinds that count as food shops.

    Returns
    -------
    GeoDataFrame
        One row per demand point (EPSG:4326): the demand columns plus ``shop_id``, ``shop_name``,
        ``shop_kind``, ``shop_distance_m`` (NaN when no shop is reachable, never infinity),
        ``refugee`` (bool), ``refugees``, ``stop_id``, ``stop_distance_m``, ``served_mobile``,
        ``served_refugees``, ``remaining``. ``attrs``: ``notes`` (Japanese), ``threshold_m``,
        ``engine_mode``, ``engine_description``, ``n_shops``, ``n_stops``, ``weekday``,
        ``labels`` (:data:`ACCESS_LABELS`).
    """
    threshold = check_threshold(threshold_m, what="買い物の距離のしきい値（threshold_m）", what_en="shopping threshold_m")
    walk = check_threshold(stop_walk_m, what="移動販売の停留所まで歩く距離（stop_walk_m）", what_en="stop_walk_m")
    day = _weekday(weekday)
    kinds = _check_kinds(shop_kinds)
    if demand.crs is None:
        msg = "人口の点（需要点）に座標系がありません"
        raise InputDataError(
            msg, en="demand points have no CRS",
            hint="先に gis.demand.demand_points を実行して、その結果の点を使ってください",
            hint_en="build them with gis.demand.demand_points",
        )
    missing = [c for c in ("area_id", "population") if c not in demand.columns]
    if missing:
        raise missing_columns_error(missing)
    if "elderly" not in demand.columns:
        msg = "人口の点（需要点）に65歳以上人口の列（elderly）がありません。買い物困難者は65歳以上の人で数えます"
        raise InputDataError(
            msg, en="demand points have no 65+ column ('elderly'): shopping refugees are people aged 65+",
            hint="e-Stat の年齢別人口の表を取り込むか、需要点を作るときに65歳以上の割合を指定してください（例: 高梁市なら 0.41）",
            hint_en="import an e-Stat age table or give an elderly share to demand_points (e.g. 0.41 for 高梁市)",
        )
    notes: list[str] = []
    if demand.attrs.get("age_note"):
        notes.append(str(demand.attrs["age_note"]))
    elif "elderly_estimated" in demand.columns and demand["elderly_estimated"].astype(bool).any():
        notes.append("65歳以上人口の一部は推計値です（国勢調査の年齢別集計がない地域）")
    points = demand.to_crs(STORAGE_CRS).reset_index(drop=True)
    elderly = pd.to_numeric(points["elderly"], errors="coerce").to_numpy(dtype=float)
    if np.isnan(elderly).any():
        n = int(np.isnan(elderly).sum())
        notes.append(f"65歳以上人口が不明な需要点が {n:,} 点あり、買い物弱者数に含めていません")

    shops = _with_crs(shops, "shop")
    if "kind" in shops.columns:
        shops = shops[shops["kind"].astype(str).isin(kinds)].reset_index(drop=True)
    car_free, car_note = _car_free(points, car_free_share)
    notes.append(car_note)

    n = len(points)
    if len(shops) == 0:
        near = pd.DataFrame({"facility": np.full(n, -1), "distance_m": np.full(n, np.nan), "reachable": np.zeros(n, bool)})
        notes.append(
            "食料品店が1件もないため、65歳以上の全員を買い物弱者として数えています（店までの距離は計算できません）"
        )
    else:
        near = engine.nearest(points, shops) if n else pd.DataFrame({"facility": [], "distance_m": [], "reachable": []})
    fac = near["facility"].to_numpy(dtype=np.int64)
    dist = near["distance_m"].to_numpy(dtype=float)
    dist = np.where(np.isfinite(dist), dist, np.nan)
    reachable = (fac >= 0) & ~np.isnan(dist)
    if len(shops) and (~reachable).any():
        notes.append(
            f"{int((~reachable).sum()):,} 地点からは道路網でどの食料品店にも行けないため、買い物弱者として数えています"
            "（道路がつながっていない地域）"
        )
    refugee = ~reachable | (dist >= threshold)
    with np.errstate(invalid="ignore"):
        refugees = np.where(refugee, elderly * car_free, 0.0)
    refugees = np.where(np.isnan(elderly), np.nan, refugees)

    def _shop_col(col: str) -> list:
        if col not in shops.columns:
            return [None] * n
        values = shops[col].astype(object).to_numpy()
        return [values[j] if ok else None for j, ok in zip(fac, reachable)]

    out = points.copy()
    out["shop_id"] = _shop_col("resource_id")
    out["shop_name"] = _shop_col("name")
    out["shop_kind"] = _shop_col("kind")
    out["shop_distance_m"] = dist
    out["refugee"] = refugee
    out["refugees"] = refugees

    stops = _with_crs(mobile_stops, "mobile-sales stop")
    if "kind" in stops.columns and len(stops):
        stops = stops[stops["kind"].astype(str) == MOBILE_STOP_KIND].reset_index(drop=True)
    days = _stop_days(stops)
    unknown_days = [i for i, d in enumerate(days) if d is None]
    if day is None:
        active = list(range(len(stops)))
        if unknown_days:
            notes.append(f"運行曜日が不明な移動販売停留所 {len(unknown_days)} か所も、運行しているものとして数えています")
    else:
        active = [i for i, d in enumerate(days) if d is not None and day in d]
        if unknown_days:
            notes.append(f"運行曜日が不明な移動販売停留所 {len(unknown_days)} か所は、{day}曜日の集計に含めていません")
    stop_id = np.full(n, None, dtype=object)
    stop_dist = np.full(n, np.nan)
    served = np.zeros(n, dtype=bool)
    todo = np.flatnonzero(refugee)
    if len(active) and len(todo):
        act = stops.iloc[active].reset_index(drop=True)
        sn = engine.nearest(points.iloc[todo], act)
        sf = sn["facility"].to_numpy(dtype=np.int64)
        sd = sn["distance_m"].to_numpy(dtype=float)
        ok = (sf >= 0) & np.isfinite(sd)
        ids = act["resource_id"].astype(object).to_numpy() if "resource_id" in act.columns else act.index.to_numpy()
        stop_id[todo[ok]] = ids[sf[ok]]
        stop_dist[todo[ok]] = sd[ok]
        served[todo[ok]] = sd[ok] <= walk
    out["stop_id"] = stop_id
    out["stop_distance_m"] = stop_dist
    out["served_mobile"] = served
    out["served_refugees"] = np.where(served, refugees, 0.0)
    out["remaining"] = out["refugees"] - out["served_refugees"]
    if len(stops):
        when = f"{day}曜日に" if day else "いずれかの運行日に"
        notes.append(f"移動販売停留所から{walk:,.0f} m 以内（{engine.description}）の買い物弱者は、{when}移動販売でカバーされるものとして別に数えています")
    out.attrs = {
        "notes": notes,
        "threshold_m": threshold,
        "stop_walk_m": walk,
        "engine_mode": engine.mode,
        "engine_description": engine.description,
        "n_shops": int(len(shops)),
        "n_stops": int(len(stops)),
        "weekday": day,
        "labels": dict(ACCESS_LABELS),
        "age_note": demand.attrs.get("age_note", ""),
    }
    return out


def point_status(points: pd.DataFrame) -> pd.Series:
    """Status of every point: 徒歩圏に食料品店あり / 買い物弱者（移動販売でカバー） / 買い物弱者."""
    status = np.where(points["refugee"], np.where(points["served_mobile"], STATUS_MOBILE, STATUS_REFUGEE), STATUS_OK)
    return pd.Series(status, index=points.index)


# --- per tier -------------------------------------------------------------------------------

#: Tier-table column → Japanese label (``_straight`` = straight line, MAFF's distance rule; ``_network`` = road
#: network). "農水省方式" is not in a column name: it is MAFF's method only with the car-use factor (see
#: :func:`maff_label`).
TIER_LABELS = {
    **_TIER_BASE_LABELS,
    "refugees_straight": "買い物弱者（直線）",
    "share_straight": "割合（直線）",
    "served_straight": "移動販売でカバー（直線）",
    "remaining_straight": "残る買い物弱者（直線）",
    "remaining_share_straight": "残る割合（直線）",
    "refugees_network": "買い物弱者（道路網）",
    "share_network": "割合（道路網）",
    "served_network": "移動販売でカバー（道路網）",
    "remaining_network": "残る買い物弱者（道路網）",
    "remaining_share_network": "残る割合（道路網）",
}


def _sums(points: pd.DataFrame) -> pd.DataFrame:
    g = points.groupby(points["area_id"].astype(str))
    return pd.DataFrame({
        "population": g["population"].sum(min_count=1),
        "elderly": g["elderly"].sum(min_count=1),
        "refugees": g["refugees"].sum(min_count=1),
        "served": g["served_refugees"].sum(min_count=1),
        "remaining": g["remaining"].sum(min_count=1),
    }).fillna(0.0)


def _share(num: pd.Series, den: pd.Series) -> pd.Series:
    den = den.astype(float)
    return (num.astype(float) / den.where(den > 0)).astype(float)


def roll_up_sums(base: pd.DataFrame, areas: pd.DataFrame, *, profile: CityProfile) -> pd.DataFrame:
    """Sum innermost-area figures up the tiers through ``parent_id`` (parents = sum of children).

    Parameters
    ----------
    base
        Numeric figures indexed by innermost ``area_id`` (areas absent from it hold 0).
    areas
        Areas of every level (``area_id``, ``level``, ``name``, ``parent_id``).
    profile
        The city's tiers, inner to outer.

    Returns
    -------
    DataFrame
        ``level``, ``level_label``, ``area_id``, ``name``, ``parent_id`` and the figures, one row per
        area of every level, levels outer to inner. ``attrs["orphans"]``: area ids whose parent is
        missing (their figures do not reach the outer levels).
    """
    rows = []
    orphans: list[str] = []
    values = base.copy()
    values.index = values.index.astype(str)
    for i, lv in enumerate(profile.levels):
        part = areas[areas["level"] == lv.key]
        ids = part["area_id"].astype(str)
        fig = values.reindex(ids).fillna(0.0)
        fig.index = part.index
        rows.append(pd.concat([pd.DataFrame({
            "level": lv.key, "level_label": lv.label, "area_id": ids, "name": part["name"].astype(str),
            "parent_id": part["parent_id"],
        }), fig], axis=1))
        if i + 1 < len(profile.levels):
            parent_ids = set(areas.loc[areas["level"] == profile.levels[i + 1].key, "area_id"].astype(str))
            pid = part["parent_id"].map(lambda v: None if v is None or pd.isna(v) else str(v))
            lost = ~pid.isin(parent_ids)
            orphans += ids[lost].tolist()
            fig = fig[~lost.to_numpy()]
            values = fig.groupby(pid[~lost].to_numpy()).sum()
    order = {lv.key: -k for k, lv in enumerate(profile.levels)}
    table = pd.concat(rows[::-1], ignore_index=True)
    table = table.sort_values("level", key=lambda s: s.map(order), kind="stable").reset_index(drop=True)
    table.attrs["orphans"] = orphans
    return table


def refugees_by_tier(
    points: pd.DataFrame,
    areas: pd.DataFrame,
    *,
    profile: CityProfile,
    network_points: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Shopping refugees per area of every tier, the MAFF straight-line and the network figure side by side.

    Parameters
    ----------
    points
        :func:`shopping_access` with a straight-line engine (the MAFF method).
    areas
        Areas of every level; innermost ids match ``points["area_id"]``.
    profile
        The city's tiers.
    network_points
        :func:`shopping_access` on the road network for the same demand (optional).

    Returns
    -------
    DataFrame
        One row per area of every level (outer levels first, then by refugee share, worst first):
        ``population``, ``elderly``, ``refugees_straight``, ``share_straight`` (of 65+; NaN where
        nobody is 65+), ``served_straight``, ``remaining_straight``, ``remaining_share_straight``
        and, with ``network_points``, the same ``_network`` columns. ``attrs``: ``labels``
        (:data:`TIER_LABELS`), ``notes``, ``orphans``.
    """
    straight = _sums(points)
    base = straight[["population", "elderly"]].copy()
    for key in ("refugees", "served", "remaining"):
        base[f"{key}_straight"] = straight[key]
    if network_points is not None:
        if len(network_points) != len(points):
            msg = "道路網の結果と直線距離の結果で、人口の点（需要点）が違います"
            raise InputDataError(
                msg, en="network and straight-line results are for different demand points",
                hint="同じ需要点で shopping_access を2回実行してください",
                hint_en="run shopping_access twice on the same demand points",
            )
        net = _sums(network_points)
        for key in ("refugees", "served", "remaining"):
            base[f"{key}_network"] = net[key].reindex(base.index).fillna(0.0)
    table = roll_up_sums(base, areas, profile=profile)
    methods = ["straight"] + (["network"] if network_points is not None else [])
    for m in methods:
        table[f"share_{m}"] = _share(table[f"refugees_{m}"], table["elderly"])
        table[f"remaining_share_{m}"] = _share(table[f"remaining_{m}"], table["elderly"])
    cols = ["level", "level_label", "area_id", "name", "parent_id", "population", "elderly"]
    for m in methods:
        cols += [f"refugees_{m}", f"share_{m}"]
    for m in methods:
        cols += [f"served_{m}", f"remaining_{m}", f"remaining_share_{m}"]
    order = {lv.key: -k for k, lv in enumerate(profile.levels)}
    table = table.assign(_o=table["level"].map(order), _s=table[f"share_{methods[-1]}"].fillna(-1))
    table = table.sort_values(["_o", "_s", "area_id"], ascending=[True, False, True], kind="stable")
    out = table[cols].reset_index(drop=True)
    notes = list(points.attrs.get("notes", []))
    orphans = table.attrs.get("orphans", [])
    if orphans:
        notes.append(f"上位の圏域が見つからない地域が {len(orphans)} あり、上位の集計に含まれていません")
    out.attrs = {"labels": {c: TIER_LABELS[c] for c in cols}, "notes": notes, "orphans": orphans}
    return out


def labelled(table: pd.DataFrame) -> pd.DataFrame:
    """The table with its columns renamed to the Japanese labels in ``attrs["labels"]``."""
    labels = table.attrs.get("labels", {})
    out = table.rename(columns=labels)
    out.attrs = {k: v for k, v in table.attrs.items() if k != "labels"}
    return out


# --- scenarios ------------------------------------------------------------------------------


def _points_from(spec, *, kind: str, prefix: str, what: str) -> gpd.GeoDataFrame:
    """Points from a GeoDataFrame or a list of ``{name, lon, lat, days, kind}`` mappings."""
    if spec is None:
        return gpd.GeoDataFrame({"resource_id": [], "kind": [], "name": [], "days": []}, geometry=[], crs=STORAGE_CRS)
    if isinstance(spec, gpd.GeoDataFrame):
        gdf = _with_crs(spec, what)
        if "kind" not in gdf.columns:
            gdf["kind"] = kind
        if "resource_id" not in gdf.columns:
            gdf["resource_id"] = [f"{prefix}-{i + 1}" for i in range(len(gdf))]
        if "name" not in gdf.columns:
            gdf["name"] = gdf["resource_id"]
        return gdf
    rows = []
    for i, item in enumerate(spec, start=1):
        if hasattr(item, "model_dump"):
            item = item.model_dump()
        if not isinstance(item, Mapping):
            msg = f"{_WHAT_JA.get(what, what)} {i} は name・lon・lat を持つ項目にしてください"
            raise InputDataError(msg, en=f"{what} {i} must be a mapping with name, lon, lat", row=i)
        try:
            lon, lat = float(item["lon"]), float(item["lat"])
        except (KeyError, TypeError, ValueError) as exc:
            msg = f"{_WHAT_JA.get(what, what)} {i} の経度（lon）・緯度（lat）が数値ではありません"
            raise InputDataError(
                msg, en=f"{what} {i} needs numeric lon and lat", row=i,
                hint="経度・緯度を度の数値で入れてください（例: 133.62, 34.79）",
                hint_en="longitude/latitude in degrees (EPSG:4326)",
            ) from exc
        if not in_japan(lon, lat):
            msg = f"{_WHAT_JA.get(what, what)} {i} の位置（経度 {lon}、緯度 {lat}）が日本の外です"
            raise InputDataError(
                msg, en=f"{what} {i} at lon {lon}, lat {lat} is outside Japan", row=i,
                hint="経度と緯度が入れ替わっていないか確かめてください",
                hint_en="check that longitude and latitude are not swapped",
            )
        k = str(item.get("kind") or kind)
        if k not in RESOURCE_KINDS:
            msg = f"{_WHAT_JA.get(what, what)} {i} の種別「{k}」はありません"
            raise InputDataError(
                msg, en=f"{what} {i} has unknown kind {k!r}", row=i,
                hint=f"食料品店の種別: {'、'.join(FOOD_SHOP_KINDS)}", hint_en=f"food shop kinds: {', '.join(FOOD_SHOP_KINDS)}",
            )
        rows.append({
            "resource_id": str(item.get("id") or item.get("resource_id") or f"{prefix}-{i}"),
            "kind": k,
            "name": str(item.get("name") or f"{prefix}-{i}"),
            "days": item.get("days"),
            "geometry": Point(lon, lat),
        })
    if not rows:
        return _points_from(None, kind=kind, prefix=prefix, what=what)
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=STORAGE_CRS)


@dataclass
class ScenarioResult:
    """Before/after of a shopping scenario.

    Attributes
    ----------
    before, after
        :func:`shopping_access` results without and with the changes.
    table
        Per area of every tier: elderly, refugees, served by mobile sales and remaining refugees
        before and after, and the change (``attrs["labels"]`` Japanese).
    changed
        The demand points whose status changes (``status_before``, ``status_after``,
        ``refugees_change``, ``remaining_change``), EPSG:4326.
    notes
        Japanese notes.
    """

    before: gpd.GeoDataFrame
    after: gpd.GeoDataFrame
    table: pd.DataFrame
    changed: gpd.GeoDataFrame
    notes: list[str] = field(default_factory=list)


SCENARIO_LABELS = {
    **_TIER_BASE_LABELS,
    "refugees_before": "買い物弱者（変更前）",
    "refugees_after": "買い物弱者（変更後）",
    "refugees_change": "買い物弱者の増減",
    "served_before": "移動販売でカバー（変更前）",
    "served_after": "移動販売でカバー（変更後）",
    "remaining_before": "残る買い物弱者（変更前）",
    "remaining_after": "残る買い物弱者（変更後）",
    "remaining_change": "残る買い物弱者の増減",
    "status_before": "変更前",
    "status_after": "変更後",
}


def scenario(
    demand: gpd.GeoDataFrame,
    shops: gpd.GeoDataFrame | None,
    *,
    engine: DistanceEngine,
    areas: pd.DataFrame,
    profile: CityProfile,
    close_shop_ids: Sequence[str] = (),
    add_stops: gpd.GeoDataFrame | Sequence[Mapping] | None = None,
    add_shops: gpd.GeoDataFrame | Sequence[Mapping] | None = None,
    mobile_stops: gpd.GeoDataFrame | None = None,
    threshold_m: float = DEFAULT_THRESHOLD_M,
    car_free_share: float | Mapping[str, float] | None = None,
    stop_walk_m: float = DEFAULT_STOP_WALK_M,
    weekday: str | int | None = None,
    shop_kinds: Iterable[str] = FOOD_SHOP_KINDS,
) -> ScenarioResult:
    """What changes if shops close, shops open or mobile-sales stops are added.

    Parameters
    ----------
    demand, shops, engine, threshold_m, car_free_share, stop_walk_m, weekday, shop_kinds
        As :func:`shopping_access`.
    areas, profile
        Tiers for the before/after table.
    close_shop_ids
        ``resource_id`` of shops that close; an id not among the shops is an error.
    add_stops
        New mobile-sales stops: a GeoDataFrame or ``[{"name", "lon", "lat", "days"}]``.
    add_shops
        New shops: a GeoDataFrame or ``[{"name", "lon", "lat", "kind"}]`` (kind default supermarket).
    mobile_stops
        Existing mobile-sales stops.

    Returns
    -------
    ScenarioResult
    """
    shops_now = _with_crs(shops, "shop")
    if "kind" in shops_now.columns:
        shops_now = shops_now[shops_now["kind"].astype(str).isin(_check_kinds(shop_kinds))].reset_index(drop=True)
    close = [str(c) for c in close_shop_ids]
    known = set(shops_now["resource_id"].astype(str)) if "resource_id" in shops_now.columns else set()
    unknown = [c for c in close if c not in known]
    if unknown:
        msg = f"閉じる食料品店の ID「{unknown[0]}」が見つかりません"
        raise InputDataError(
            msg, en=f"no food shop with id {unknown[0]!r} to close", feature=unknown[0],
            hint="店のレイヤーの resource_id を使ってください（tsunagu resources で確かめられます）",
            hint_en="use resource_id values of the shop layer (tsunagu resources)",
        )
    new_stops = _points_from(add_stops, kind=MOBILE_STOP_KIND, prefix="new-stop", what="added stop")
    new_shops = _points_from(add_shops, kind="supermarket", prefix="new-shop", what="added shop")
    stops_now = _with_crs(mobile_stops, "mobile-sales stop")
    if len(stops_now) and "days" not in stops_now.columns:
        stops_now = stops_now.assign(days=[sorted(d) if d else None for d in _stop_days(stops_now)])
    keep_cols = ["resource_id", "kind", "name", "days", "geometry"]
    stops_after = pd.concat(
        [f.reindex(columns=keep_cols) for f in (stops_now, new_stops) if len(f)], ignore_index=True
    ) if len(stops_now) or len(new_stops) else None
    shops_after = shops_now[~shops_now["resource_id"].astype(str).isin(close)] if close else shops_now
    if len(new_shops):
        cols = list(shops_after.columns) if len(shops_after.columns) > 1 else keep_cols
        shops_after = pd.concat([shops_after.reindex(columns=cols), new_shops.reindex(columns=cols)], ignore_index=True)
    shops_after = gpd.GeoDataFrame(shops_after, geometry="geometry", crs=STORAGE_CRS)
    if stops_after is not None:
        stops_after = gpd.GeoDataFrame(stops_after, geometry="geometry", crs=STORAGE_CRS)
    common = dict(engine=engine, threshold_m=threshold_m, car_free_share=car_free_share,
                  stop_walk_m=stop_walk_m, weekday=weekday, shop_kinds=shop_kinds)
    before = shopping_access(demand, shops_now, mobile_stops=stops_now if len(stops_now) else None, **common)
    after = shopping_access(demand, shops_after, mobile_stops=stops_after, **common)

    b, a = _sums(before), _sums(after).reindex(_sums(before).index).fillna(0.0)
    base = pd.DataFrame({
        "population": b["population"], "elderly": b["elderly"],
        "refugees_before": b["refugees"], "refugees_after": a["refugees"],
        "served_before": b["served"], "served_after": a["served"],
        "remaining_before": b["remaining"], "remaining_after": a["remaining"],
    })
    table = roll_up_sums(base, areas, profile=profile)
    table["refugees_change"] = table["refugees_after"] - table["refugees_before"]
    table["remaining_change"] = table["remaining_after"] - table["remaining_before"]
    cols = ["level", "level_label", "area_id", "name", "parent_id", "population", "elderly",
            "refugees_before", "refugees_after", "refugees_change", "served_before", "served_after",
            "remaining_before", "remaining_after", "remaining_change"]
    order = {lv.key: -k for k, lv in enumerate(profile.levels)}
    table = table.assign(_o=table["level"].map(order), _c=table["remaining_change"].abs())
    table = table.sort_values(["_o", "_c", "area_id"], ascending=[True, False, True], kind="stable")[cols]
    table = table.reset_index(drop=True)
    table.attrs = {"labels": {c: SCENARIO_LABELS[c] for c in cols}}

    sb, sa = point_status(before), point_status(after)
    moved = (sb != sa).to_numpy()
    changed = before.loc[moved, ["point_id", "area_id", "population", "elderly", "geometry"]].copy()
    changed["status_before"] = sb[moved].to_numpy()
    changed["status_after"] = sa[moved].to_numpy()
    changed["shop_distance_before_m"] = before.loc[moved, "shop_distance_m"].to_numpy()
    changed["shop_distance_after_m"] = after.loc[moved, "shop_distance_m"].to_numpy()
    changed["refugees_change"] = (after.loc[moved, "refugees"] - before.loc[moved, "refugees"]).to_numpy()
    changed["remaining_change"] = (after.loc[moved, "remaining"] - before.loc[moved, "remaining"]).to_numpy()
    changed = gpd.GeoDataFrame(changed.reset_index(drop=True), geometry="geometry", crs=STORAGE_CRS)

    notes = []
    what = []
    if close:
        names = shops_now.loc[shops_now["resource_id"].astype(str).isin(close), "name"].astype(str).tolist()
        what.append(f"閉店: {'、'.join(names)}")
    if len(new_shops):
        what.append(f"新規出店: {'、'.join(new_shops['name'].astype(str))}")
    if len(new_stops):
        what.append(f"移動販売停留所の追加: {'、'.join(new_stops['name'].astype(str))}")
    notes.append("シナリオ（" + ("／".join(what) if what else "変更なし") + "）")
    top = table[table["level"] == profile.top.key]
    if len(top):
        notes.append(
            f"買い物弱者 {top['refugees_before'].sum():,.0f} 人 → {top['refugees_after'].sum():,.0f} 人、"
            f"移動販売でカバーされない買い物弱者 {top['remaining_before'].sum():,.0f} 人 → {top['remaining_after'].sum():,.0f} 人"
        )
    return ScenarioResult(before=before, after=after, table=table, changed=changed, notes=notes)


def new_stops_frame(add_stops) -> gpd.GeoDataFrame:
    """Mobile-sales stops from ``[{"name", "lon", "lat", "days"}]`` (checked), for maps and tables."""
    return _points_from(add_stops, kind=MOBILE_STOP_KIND, prefix="new-stop", what="added stop")
