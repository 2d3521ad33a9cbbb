"""Coordinate reference systems: store in EPSG:4326, measure in a JGD2011 plane-rectangular zone."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from gis.errors import InputDataError

if TYPE_CHECKING:  # geopandas and shapely load on use: gis.routing_model imports this module
    import geopandas as gpd

#: CRS every layer is stored and served in.
STORAGE_CRS = "EPSG:4326"

#: JGD2011 plane-rectangular coordinate system (平面直角座標系) zone by prefecture code.
#: Zones I–XIX are EPSG:6669–6687. Where a prefecture spans two zones (北海道, 東京都 islands,
#: 沖縄県) the zone of its main settled area is used.
_PREFECTURE_ZONE = {
    "01": 12, "02": 10, "03": 10, "04": 10, "05": 10, "06": 10, "07": 9, "08": 9, "09": 9,
    "10": 9, "11": 9, "12": 9, "13": 9, "14": 9, "15": 8, "16": 7, "17": 7, "18": 6,
    "19": 8, "20": 8, "21": 7, "22": 8, "23": 7, "24": 6, "25": 6, "26": 6, "27": 6,
    "28": 5, "29": 6, "30": 6, "31": 5, "32": 3, "33": 5, "34": 3, "35": 1, "36": 4,
    "37": 4, "38": 4, "39": 4, "40": 2, "41": 2, "42": 1, "43": 2, "44": 2, "45": 2,
    "46": 2, "47": 15,
}

#: Decimals of a degree kept in coordinates written for display and the API (1e-5° ≈ 1.1 m).
COORD_DECIMALS = 5

#: Rough bounding box of Japan (lon/lat) used to catch swapped or projected coordinates.
JAPAN_LON = (122.0, 154.0)
JAPAN_LAT = (20.0, 46.0)


def in_japan(lon, lat):
    """Whether (``lon``, ``lat``) lies in Japan's bounding box (:data:`JAPAN_LON`, :data:`JAPAN_LAT`).

    The one check behind every "coordinates outside Japan" error: a bool for two numbers, a
    boolean array for arrays. NaN (an unreadable coordinate) is never inside.
    """
    x, y = np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)
    inside = (x >= JAPAN_LON[0]) & (x <= JAPAN_LON[1]) & (y >= JAPAN_LAT[0]) & (y <= JAPAN_LAT[1])
    return bool(inside) if inside.ndim == 0 else inside


def plane_rectangular_crs(municipality_code: str) -> str:
    """Return the JGD2011 plane-rectangular zone for a municipality or prefecture code.

    Parameters
    ----------
    municipality_code
        A 2-digit prefecture code or a 5/6-digit municipality code (e.g. ``"33209"``).

    Returns
    -------
    str
        ``"EPSG:66xx"``; 高梁市 (岡山県, zone V) gives ``"EPSG:6673"``.
    """
    pref = str(municipality_code).strip()[:2]
    if pref not in _PREFECTURE_ZONE:
        msg = f"市区町村コード「{municipality_code}」の上2桁（都道府県コード「{pref}」）が都道府県を表していません"
        raise InputDataError(
            msg, en=f"unknown prefecture code {pref!r} in {municipality_code!r}",
            hint="5桁の全国地方公共団体コードを指定してください（例: 高梁市は 33209）",
            hint_en="give a JIS code such as 33209",
        )
    return f"EPSG:{6668 + _PREFECTURE_ZONE[pref]}"


def measuring_crs(gdf: gpd.GeoDataFrame, *, municipality_code: str | None = None) -> str:
    """Choose the plane-rectangular zone to measure ``gdf`` in.

    Uses the municipality code when given, otherwise the zone whose origin meridian is
    closest to the layer's centre.
    """
    if municipality_code:
        return plane_rectangular_crs(municipality_code)
    lon = float(gdf.to_crs(STORAGE_CRS).total_bounds[[0, 2]].mean())
    # Origins (longitude) of zones I..XIX; nearest meridian as a fallback.
    origins = [129.5, 131.0, 132 + 1 / 6, 133.5, 134 + 1 / 3, 136.0, 137 + 1 / 6, 138.5,
               139 + 5 / 6, 140 + 5 / 6, 140.25, 142.25, 144.25, 142.0, 127.5, 124.0, 131.0,
               136.0, 154.0]
    zone = min(range(13), key=lambda i: abs(origins[i] - lon)) + 1
    return f"EPSG:{6668 + zone}"


def to_storage(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Return ``gdf`` in the storage CRS (EPSG:4326)."""
    if gdf.crs is None:
        msg = "レイヤーに座標系がないので保存できません"
        raise InputDataError(
            msg, en="the layer has no CRS, so it cannot be stored",
            hint="座標系を指定してください（経度・緯度なら EPSG:4326）", hint_en="set one (EPSG:4326 for longitude/latitude)",
        )
    return gdf.to_crs(STORAGE_CRS)


def round_coordinates(geometries, *, decimals: int = COORD_DECIMALS) -> np.ndarray:
    """Return the geometries with every coordinate rounded to ``decimals`` decimals (for writing out).

    Shared vertices round to the same value, so neighbours that shared an edge still do.

    Parameters
    ----------
    geometries
        Array-like of shapely geometries (None allowed), in longitude/latitude.
    decimals
        Decimals kept.
    """
    import shapely

    geoms = np.asarray(geometries, dtype=object)
    return shapely.transform(geoms, lambda xy: np.round(xy, decimals))
