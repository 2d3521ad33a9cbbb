"""Editing stations one at a time (add, move, rename, change kind or areas, delete), as the web map and API do.

Stations are few: each edit reads them, changes one row, checks the whole layer (kinds, points in
Japan, unique ids, area ids that exist) and writes it back in one transaction, so an edit that
fails changes nothing. Editing a station ends its sample mark (it is the 社協's own now).
"""

from __future__ import annotations

import math
import re

import geopandas as gpd
import pandas as pd
from shapely.geometry import Point

from api.store.base import Store
from gis.crs import STORAGE_CRS
from gis.errors import InputDataError
from gis.io import looks_japanese, looks_swapped
from gis.schema import STATION_COLUMNS, STATION_KINDS, coerce_stations

_ID = re.compile(r"^[^\x00-\x1f\x7f/\\?#%]{1,100}$")


def _kind(value) -> str:
    from api.station_import import station_kind

    kind = station_kind(value)
    if kind is None:
        known = "、".join(f"{label}（{key}）" for key, label in STATION_KINDS.items())
        raise InputDataError(f"拠点の種別「{value}」は分かりません", feature="kind", hint=f"種別: {known}",
                             en=f"unknown station kind {value!r}",
                             hint_en=f"kinds: {', '.join(STATION_KINDS)}")
    return kind


def _point(lon, lat) -> Point:
    try:
        x, y = float(lon), float(lat)
    except (TypeError, ValueError):
        raise InputDataError(f"経度・緯度が数値ではありません（{lon!r}, {lat!r}）", feature="lon",
                             en=f"longitude and latitude are not numbers ({lon!r}, {lat!r})") from None
    if not (math.isfinite(x) and math.isfinite(y)):
        raise InputDataError("経度・緯度が数値ではありません", feature="lon",
                             en="longitude and latitude are not numbers")
    if not bool(looks_japanese([x], [y])[0]):
        if bool(looks_swapped([x], [y])[0]):
            raise InputDataError(f"経度と緯度が逆のようです（経度 {x}, 緯度 {y}）", feature="lon",
                                 hint="経度（日本では 122〜154）と緯度（20〜46）を入れ替えてください",
                                 en=f"longitude and latitude look swapped (lon {x}, lat {y})",
                                 hint_en="swap longitude (122-154 in Japan) and latitude (20-46)")
        raise InputDataError(f"場所（経度 {x}, 緯度 {y}）が日本の範囲外です", feature="lon",
                             en=f"the place (lon {x}, lat {y}) is outside Japan")
    return Point(x, y)


def _area_ids(store: Store, values) -> list[str]:
    if values is None:
        return []
    if isinstance(values, str):
        values = [v for v in re.split(r"[,、\s]+", values) if v]
    ids = [str(v).strip() for v in values if str(v).strip()]
    known = set(store.areas()["area_id"].astype(str))
    missing = [v for v in ids if v not in known]
    if missing:
        raise InputDataError(f"担当地域にワークスペースにない地域IDがあります: {'、'.join(missing[:10])}", feature="area_ids",
                             hint="地域ID は地図の地域をクリックすると表示されます",
                             en=f"the served areas include ids not in the workspace: {', '.join(missing[:10])}",
                             hint_en="click an area on the map to see its id")
    return list(dict.fromkeys(ids))


def _write(store: Store, frame: gpd.GeoDataFrame) -> None:
    out = coerce_stations(gpd.GeoDataFrame(frame, geometry="geometry", crs=STORAGE_CRS))
    with store.transaction() as w:
        w.replace_stations(out)


def add_station(store: Store, *, name: str, kind, lon, lat, address: str = "", area_ids=None,
                station_id: str | None = None, by: str = "") -> dict:
    """Add one station; returns its row (``station_id`` made from the name's order when not given)."""
    name = str(name or "").strip()
    if not name:
        raise InputDataError("拠点の名前を入れてください", feature="name",
                             en="give the station a name")
    current = store.stations().to_crs(STORAGE_CRS)
    ids = set(current["station_id"].astype(str))
    if station_id:
        station_id = str(station_id).strip()
        if not _ID.match(station_id):
            raise InputDataError(f"拠点ID「{station_id}」は使えません（/ \\ ? # % と制御文字は使えません）", feature="station_id",
                                 en=f"station id {station_id!r} cannot be used (no / \\ ? # % or control characters)")
        if station_id in ids:
            raise InputDataError(f"拠点ID {station_id} はすでにあります", feature="station_id", hint="別の ID にしてください",
                                 en=f"station id {station_id} already exists",
                                 hint_en="choose another id")
    else:
        k = len(current) + 1
        while f"station-{k:02d}" in ids:
            k += 1
        station_id = f"station-{k:02d}"
    row = {"station_id": station_id, "name": name, "kind": _kind(kind), "address": str(address or "") or None,
           "area_ids": _area_ids(store, area_ids), "source": f"手入力（{by}）" if by else "手入力", "is_sample": False,
           "geometry": _point(lon, lat)}
    added = gpd.GeoDataFrame([row], geometry="geometry", crs=STORAGE_CRS)
    _write(store, pd.concat([current[STATION_COLUMNS], added[STATION_COLUMNS]], ignore_index=True))
    return _row(store, station_id)


def update_station(store: Store, station_id: str, changes: dict) -> dict:
    """Change a station's name, kind, address, place (``lon``/``lat``) or areas (``area_ids``); returns its row."""
    current = store.stations().to_crs(STORAGE_CRS).reset_index(drop=True)
    hit = current.index[current["station_id"].astype(str) == str(station_id)]
    if not len(hit):
        raise InputDataError(f"拠点 {station_id} はありません", feature="station_id",
                             en=f"no station {station_id}")
    i = hit[0]
    if "name" in changes and changes["name"] is not None:
        name = str(changes["name"]).strip()
        if not name:
            raise InputDataError("拠点の名前を空にはできません", feature="name",
                                 en="a station's name cannot be empty")
        current.at[i, "name"] = name
    if changes.get("kind") is not None:
        current.at[i, "kind"] = _kind(changes["kind"])
    if "address" in changes and changes["address"] is not None:
        current.at[i, "address"] = str(changes["address"]) or None
    if changes.get("lon") is not None or changes.get("lat") is not None:
        current.loc[[i], "geometry"] = gpd.GeoSeries([_point(changes.get("lon"), changes.get("lat"))], index=[i],
                                                      crs=STORAGE_CRS)
    if "area_ids" in changes and changes["area_ids"] is not None:
        current.at[i, "area_ids"] = _area_ids(store, changes["area_ids"])
    current.at[i, "is_sample"] = False
    _write(store, current)
    return _row(store, station_id)


def delete_station(store: Store, station_id: str) -> bool:
    """Delete a station; False when there was none."""
    current = store.stations().to_crs(STORAGE_CRS)
    keep = current["station_id"].astype(str) != str(station_id)
    if keep.all():
        return False
    _write(store, current[keep].reset_index(drop=True))
    return True


def _row(store: Store, station_id: str) -> dict:
    st = store.stations().to_crs(STORAGE_CRS)
    r = st[st["station_id"].astype(str) == str(station_id)].iloc[0]
    return {"station_id": str(r["station_id"]), "name": r["name"], "kind": r["kind"], "kind_label": STATION_KINDS.get(r["kind"]),
            "address": r["address"], "area_ids": list(r["area_ids"] or []), "is_sample": bool(r["is_sample"]),
            "lon": round(float(r.geometry.x), 6), "lat": round(float(r.geometry.y), 6)}


__all__ = ["add_station", "delete_station", "update_station"]
