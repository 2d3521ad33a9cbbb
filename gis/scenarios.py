"""Scenarios: a named set of changes over the workspace, applied to copies, never to the base data.

A planner asks 「ここにサロンを開き、あの店が閉まったら」: a :class:`Scenario` holds that as
resource changes — add, move, remove, change (kind, name or attributes such as a salon's
``capacity``) — and analysis parameter overrides (a different 65+ share, a threshold). Any
analysis runs on the resources :func:`apply_scenario` returns; the base layers stay as imported.

Scenarios travel as plain dicts (:func:`scenario_from_dict`, :func:`scenario_to_dict`) so both
stores keep them as JSON and a job records the exact scenario it ran on.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import geopandas as gpd
import pandas as pd
from shapely.geometry import Point

from gis.crs import STORAGE_CRS
from gis.errors import InputDataError
from gis.schema import RESOURCE_COLUMNS, RESOURCE_KINDS, coerce_resources

#: What a change can do, with its Japanese label.
ACTIONS: dict[str, str] = {"add": "追加", "move": "移動", "remove": "削除", "change": "変更"}
#: Analysis parameters a scenario may override (any analysis that has the parameter takes it).
PARAMETERS: dict[str, str] = {
    "elderly_share": "65歳以上人口の比率",
    "thresholds_m": "距離の基準（m）",
    "threshold_m": "距離の基準（m）",
    "walk_m": "停留所まで歩ける距離（m）",
    "shop_kinds": "食料品店とみなす種類",
    "car_free_share": "自動車を使えない人の割合",
    "add_stops": "移動販売停留所の追加（name, lon, lat）",
    "stop_walk_m": "移動販売停留所まで歩ける距離（m）",
}
_NAME = re.compile(r"^[^/\\?#%\s][^/\\?#%]{0,59}$")
#: Prefix of the resource ids a scenario gives the resources it adds.
ADDED_PREFIX = "scn"


@dataclass(frozen=True)
class ResourceChange:
    """One change to the resources.

    Attributes
    ----------
    action
        ``"add"``, ``"move"``, ``"remove"`` or ``"change"`` (:data:`ACTIONS`).
    resource_id
        The resource moved, removed or changed (for ``add``: optional, else one is made).
    kind, name
        ``add``: required; ``change``: the new values, if any.
    lon, lat
        ``add`` and ``move``: the place (WGS84).
    attributes
        ``add``: the new resource's attributes; ``change``: attributes set (``None`` removes one).
    """

    action: str
    resource_id: str | None = None
    kind: str | None = None
    name: str | None = None
    lon: float | None = None
    lat: float | None = None
    attributes: Mapping = field(default_factory=dict)


@dataclass(frozen=True)
class Scenario:
    """A named, saved set of changes; see the module docstring."""

    name: str
    description: str = ""
    changes: tuple[ResourceChange, ...] = ()
    params: Mapping = field(default_factory=dict)
    created_by: str = ""
    created_at: str = ""


# --------------------------------------------------------------------------- (de)serialising


def scenario_from_dict(data: Mapping) -> Scenario:
    """Validate a scenario given as a dict (as stored, or as a user wrote it in JSON).

    Raises
    ------
    InputDataError
        A missing or unusable name, an unknown action or kind, an ``add`` without a name or a
        place, a place outside Japan (or latitude and longitude swapped), a ``move``/``remove``/
        ``change`` without ``resource_id``, an unknown parameter. The message names the change
        by its number (1 = first).
    """
    if not isinstance(data, Mapping):
        raise InputDataError(
            "シナリオは「名前」「変更」を持つオブジェクト（JSON）で指定してください",
            en="give a scenario as an object (JSON) with a name and changes",
        )
    name = str(data.get("name") or "").strip()
    if not name or not _NAME.match(name):
        raise InputDataError(
            f"シナリオ名「{name}」は使えません",
            en=f"the scenario name {name!r} cannot be used",
            feature="name",
            hint="60文字以内で、/ \\ ? # % を含まない名前にしてください（例: サロン3か所追加）",
            hint_en="up to 60 characters, without / \\ ? # % (e.g. サロン3か所追加)",
        )
    raw = data.get("changes") or []
    if not isinstance(raw, (list, tuple)):
        raise InputDataError(
            "シナリオの changes は変更のリストで指定してください",
            en="a scenario's changes must be a list of changes",
            feature="changes",
        )
    changes = tuple(_change(c, k + 1) for k, c in enumerate(raw))
    params = dict(data.get("params") or {})
    unknown = sorted(set(params) - set(PARAMETERS))
    if unknown:
        raise InputDataError(
            f"シナリオで変えられないパラメータです: {'、'.join(unknown)}",
            en=f"parameters a scenario cannot change: {', '.join(unknown)}",
            feature="params",
            hint=f"変えられるもの: {'、'.join(f'{k}（{v}）' for k, v in PARAMETERS.items())}",
            hint_en=f"changeable: {', '.join(PARAMETERS)}",
        )
    if "elderly_share" in params:
        share = _number(params["elderly_share"], "65歳以上人口の比率")
        if not 0 < share < 1:
            raise InputDataError(
                f"65歳以上人口の比率は0より大きく1より小さい値です: {share}",
                en=f"the 65+ share must be above 0 and below 1: {share}",
                feature="params",
            )
        params["elderly_share"] = share
    return Scenario(name=name, description=str(data.get("description") or ""), changes=changes, params=params,
                    created_by=str(data.get("created_by") or ""), created_at=str(data.get("created_at") or ""))


def scenario_to_dict(scenario: Scenario) -> dict:
    """The JSON-ready dict :func:`scenario_from_dict` reads back."""
    changes = []
    for c in scenario.changes:
        item = {"action": c.action}
        for key in ("resource_id", "kind", "name", "lon", "lat"):
            value = getattr(c, key)
            if value is not None:
                item[key] = value
        if c.attributes:
            item["attributes"] = dict(c.attributes)
        changes.append(item)
    return {"name": scenario.name, "description": scenario.description, "changes": changes,
            "params": dict(scenario.params), "created_by": scenario.created_by, "created_at": scenario.created_at}


def _number(value, what: str) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise InputDataError(f"{what}が数値ではありません: {value!r}", en=f"not a number ({what}): {value!r}") from None
    if not math.isfinite(x):
        raise InputDataError(f"{what}が数値ではありません: {value!r}", en=f"not a number ({what}): {value!r}")
    return x


def _change(raw, k: int) -> ResourceChange:
    if not isinstance(raw, Mapping):
        raise InputDataError(
            f"変更{k}: 変更はオブジェクト（action, resource_id など）で書いてください",
            en=f"change {k}: write a change as an object (action, resource_id ...)",
        )
    action = str(raw.get("action") or "").strip().lower()
    action = {v: k2 for k2, v in ACTIONS.items()}.get(action, action)  # 追加 → add …
    if action not in ACTIONS:
        raise InputDataError(
            f"変更{k}: 操作「{raw.get('action')}」は使えません",
            en=f"change {k}: the action {raw.get('action')!r} cannot be used",
            hint="add（追加）、move（移動）、remove（削除）、change（変更）のどれかです",
            hint_en="one of add, move, remove, change",
        )
    rid = raw.get("resource_id")
    rid = str(rid).strip() if rid is not None and str(rid).strip() else None
    kind = raw.get("kind")
    kind = str(kind).strip() if kind is not None and str(kind).strip() else None
    if kind is not None:
        from gis.resources import resource_kind

        known = resource_kind(kind)
        if known is None:
            raise InputDataError(
                f"変更{k}: 種類「{kind}」は地域資源の種類にありません",
                en=f"change {k}: {kind!r} is not a resource kind",
                hint="種類: " + "、".join(f"{v}（{key}）" for key, v in list(RESOURCE_KINDS.items())[:12]) + " など",
                hint_en="kinds: " + ", ".join(list(RESOURCE_KINDS)[:12]) + " ...",
            )
        kind = known
    name = raw.get("name")
    name = str(name).strip() if name is not None and str(name).strip() else None
    attrs = raw.get("attributes") or {}
    if not isinstance(attrs, Mapping):
        raise InputDataError(
            f"変更{k}: attributes は「名前 → 値」のオブジェクトです",
            en=f"change {k}: attributes must be an object of name → value",
        )
    if "capacity" in attrs and attrs["capacity"] is not None:
        cap = _number(attrs["capacity"], f"変更{k}: 定員")
        if cap < 0:
            raise InputDataError(
                f"変更{k}: 定員は0以上です: {attrs['capacity']!r}",
                en=f"change {k}: the capacity must be 0 or more: {attrs['capacity']!r}",
            )
    lon = lat = None
    if action in ("add", "move"):
        if raw.get("lon") is None or raw.get("lat") is None:
            raise InputDataError(
                f"変更{k}（{ACTIONS[action]}）: 場所（lon 経度, lat 緯度）がありません",
                en=f"change {k} ({action}): no place (lon, lat)",
            )
        lon = _number(raw["lon"], f"変更{k}: 経度")
        lat = _number(raw["lat"], f"変更{k}: 緯度")
        _check_japan(lon, lat, k)
    if action == "add":
        if kind is None or name is None:
            raise InputDataError(
                f"変更{k}（追加）: 種類（kind）と名前（name）を指定してください",
                en=f"change {k} (add): give a kind and a name",
            )
    elif rid is None:
        raise InputDataError(
            f"変更{k}（{ACTIONS[action]}）: 対象の地域資源 ID（resource_id）を指定してください",
            en=f"change {k} ({action}): give the resource_id of the resource",
        )
    if action == "change" and kind is None and name is None and not attrs:
        raise InputDataError(
            f"変更{k}（変更）: 変える項目（kind, name, attributes）がありません",
            en=f"change {k} (change): nothing to change (kind, name, attributes)",
        )
    return ResourceChange(action=action, resource_id=rid, kind=kind, name=name, lon=lon, lat=lat,
                          attributes=dict(attrs))


def _check_japan(lon: float, lat: float, k: int) -> None:
    from gis.io import looks_japanese, looks_swapped

    if bool(looks_japanese([lon], [lat])[0]):
        return
    if bool(looks_swapped([lon], [lat])[0]):
        raise InputDataError(
            f"変更{k}: 経度と緯度が逆のようです（経度 {lon}, 緯度 {lat}）",
            en=f"change {k}: longitude and latitude look swapped (longitude {lon}, latitude {lat})",
            hint="lon に経度（日本では 122〜154）、lat に緯度（20〜46）を入れてください",
            hint_en="lon is the longitude (122–154 in Japan), lat the latitude (20–46)",
        )
    raise InputDataError(
        f"変更{k}: 場所（経度 {lon}, 緯度 {lat}）が日本の範囲外です",
        en=f"change {k}: the place (longitude {lon}, latitude {lat}) is outside Japan",
    )


# --------------------------------------------------------------------------- applying


def apply_scenario(resources: gpd.GeoDataFrame, scenario: Scenario) -> gpd.GeoDataFrame:
    """The resources as they would be under the scenario (a new frame; ``resources`` unchanged).

    Changes apply in order. Added resources get the id ``scn-<k>`` (unless the change gave
    one) and the source 「シナリオ「名前」」.

    Raises
    ------
    InputDataError
        A change names a resource the workspace does not have (listing them), or adds an id
        that exists already.
    """
    base = coerce_resources(resources.to_crs(STORAGE_CRS) if resources.crs else resources.set_crs(STORAGE_CRS))
    rows = {str(r): i for i, r in enumerate(base["resource_id"].astype(str))}
    frame = base.copy()
    frame["resource_id"] = frame["resource_id"].astype(str)
    frame = frame.set_index("resource_id", drop=False)
    missing = []
    for k, c in enumerate(scenario.changes, start=1):
        if c.action != "add" and c.resource_id not in frame.index:
            missing.append(f"変更{k}: {c.resource_id}")
    if missing:
        raise InputDataError(
            "シナリオの変更が、ワークスペースにない地域資源を指しています: " + "、".join(missing[:10]),
            en="the scenario's changes name resources the workspace does not have: " + ", ".join(missing[:10]),
            hint="地域資源のページ（または tsunagu の地域資源一覧）にある ID を使ってください。"
                                  "取り込み直しで ID が変わった場合はシナリオを作り直してください",
            hint_en="use the IDs on the resources page (or tsunagu resources); if a re-import changed the IDs, make the scenario again",
        )
    added = []
    for k, c in enumerate(scenario.changes, start=1):
        if c.action == "add":
            rid = c.resource_id or f"{ADDED_PREFIX}-{k}"
            if rid in frame.index or rid in rows:
                raise InputDataError(
                    f"変更{k}（追加）: 地域資源 ID {rid} はすでにあります",
                    en=f"change {k} (add): the resource ID {rid} already exists",
                    hint="別の resource_id にしてください",
                    hint_en="use another resource_id",
                )
            row = {"resource_id": rid, "kind": c.kind, "name": c.name, "address": None,
                   "attributes": dict(c.attributes), "source": f"シナリオ「{scenario.name}」", "is_sample": False,
                   "geometry": Point(c.lon, c.lat)}
            frame = pd.concat([frame, gpd.GeoDataFrame([row], geometry="geometry", crs=STORAGE_CRS).set_index(
                "resource_id", drop=False)])
            added.append(rid)
        elif c.action == "remove":
            frame = frame.drop(index=c.resource_id)
        elif c.action == "move":
            frame.loc[c.resource_id, "geometry"] = Point(c.lon, c.lat)
        else:  # change
            if c.kind is not None:
                frame.loc[c.resource_id, "kind"] = c.kind
            if c.name is not None:
                frame.loc[c.resource_id, "name"] = c.name
            if c.attributes:
                attrs = dict(frame.at[c.resource_id, "attributes"] or {})
                for key, value in c.attributes.items():
                    if value is None:
                        attrs.pop(key, None)
                    else:
                        attrs[key] = value
                frame.at[c.resource_id, "attributes"] = attrs
    out = gpd.GeoDataFrame(frame.reset_index(drop=True)[RESOURCE_COLUMNS], geometry="geometry", crs=STORAGE_CRS)
    out = coerce_resources(out)
    out.attrs["scenario"] = scenario.name
    out.attrs["added"] = added
    return out


def apply_parameters(params: Mapping, scenario: Scenario, *, known: set[str] | frozenset[str]) -> dict:
    """``params`` with the scenario's overrides for the parameters this analysis knows."""
    out = dict(params)
    for key, value in scenario.params.items():
        if key in known:
            out[key] = value
    return out


def scenario_changes_table(resources: gpd.GeoDataFrame, scenario: Scenario) -> gpd.GeoDataFrame:
    """One row per change, for the change map and the report: action, resource, kind, place before and after.

    Columns: ``番号``, ``操作``, ``地域資源ID``, ``種類``, ``名称``, ``経度``, ``緯度`` (after the
    change; before it for ``remove``), ``元の経度``, ``元の緯度`` (for ``move``), geometry.
    """
    base = resources.to_crs(STORAGE_CRS).copy()
    base["resource_id"] = base["resource_id"].astype(str)
    by_id = base.set_index("resource_id")
    rows = []
    for k, c in enumerate(scenario.changes, start=1):
        old = by_id.loc[c.resource_id] if c.resource_id in by_id.index else None
        if c.action in ("add", "move"):
            geom = Point(c.lon, c.lat)
        else:
            geom = old.geometry if old is not None else None
        kind = c.kind or (old["kind"] if old is not None else None)
        rows.append({
            "番号": k, "操作": ACTIONS[c.action], "action": c.action,
            "地域資源ID": c.resource_id or f"{ADDED_PREFIX}-{k}",
            "種類": RESOURCE_KINDS.get(kind, kind) if kind else None,
            "kind": kind,
            "名称": c.name or (old["name"] if old is not None else None),
            "経度": round(geom.x, 6) if geom is not None else None,
            "緯度": round(geom.y, 6) if geom is not None else None,
            "元の経度": round(old.geometry.x, 6) if c.action == "move" and old is not None else None,
            "元の緯度": round(old.geometry.y, 6) if c.action == "move" and old is not None else None,
            "geometry": geom,
        })
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=STORAGE_CRS) if rows else gpd.GeoDataFrame(
        {"番号": [], "操作": []}, geometry=[], crs=STORAGE_CRS)


__all__ = ["ACTIONS", "ADDED_PREFIX", "PARAMETERS", "ResourceChange", "Scenario", "apply_parameters",
           "apply_scenario", "scenario_changes_table", "scenario_from_dict", "scenario_to_dict"]
