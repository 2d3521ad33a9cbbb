"""Travel times: driving speeds by road class, and duration matrices handed in from outside.

One source of truth for the speeds a road graph's travel times are computed with
(:data:`DRIVE_SPEED_KMH`, :data:`ACCESS_SPEED_KMH`), for reading an OpenStreetMap ``maxspeed``
(:func:`parse_maxspeed`) and for reading a duration matrix computed elsewhere — a CSV/Excel
table or the JSON an OSRM ``/table`` request returns (:func:`read_travel_matrix`).

Speeds: OSM ``maxspeed`` when the way has one (the legal limit, used as given, as OSMnx's
``add_edge_speeds`` does), else the class's typical speed below. The table is an assumption for
Japanese roads outside towns' rush hours (rural 県道 and 市道 on hilly ground are slower than the
60 km/h legal default for unsigned roads); give ``speeds=`` to change it.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gis.errors import InputDataError

#: Typical driving speed (km/h) per OSM ``highway`` class when a way has no ``maxspeed``.
DRIVE_SPEED_KMH: dict[str, float] = {
    "motorway": 80.0, "motorway_link": 50.0,
    "trunk": 50.0, "trunk_link": 40.0,
    "primary": 40.0, "primary_link": 30.0,
    "secondary": 40.0, "secondary_link": 30.0,
    "tertiary": 30.0, "tertiary_link": 25.0,
    "unclassified": 25.0, "road": 20.0,
    "residential": 20.0, "living_street": 10.0, "service": 15.0,
}
#: Speed (km/h) of a car's leg between a point and its nearest road node (a driveway, a lane
#: not in the map): the slowest class, so an off-road leg never looks fast.
ACCESS_SPEED_KMH = 15.0
#: Fallback for a class not in the table.
OTHER_SPEED_KMH = 20.0
#: A ``maxspeed`` above this is treated as a typing error and ignored.
MAX_PLAUSIBLE_KMH = 130.0

#: How durations were obtained, as stored in results (``travel_time_source``).
SOURCE_ROAD_SPEEDS = "road_speeds"
SOURCE_AVERAGE_SPEED = "average_speed"
SOURCE_MATRIX = "matrix"

_MPH = 1.609344
_NUMBER = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(km/h|kmh|kph|mph)?\s*$", re.IGNORECASE)
#: Labels that name the depot (row/column 0) in a CSV matrix, besides the depot's own name.
DEPOT_LABELS = ("拠点", "depot", "0")


def parse_maxspeed(value) -> float | None:
    """The speed limit in km/h of an OSM ``maxspeed`` value, or None when it gives no number.

    ``"40"``, ``"40 km/h"`` → 40; ``"30 mph"`` → 48.3; ``"40;50"`` or a list (OSMnx merges
    parallel ways into lists) → the lowest; ``"none"``, ``"signals"``, ``"JP:urban"``, blank or an
    implausible figure → None.
    """
    if value is None:
        return None
    if isinstance(value, (list, tuple, set)):
        parts = [str(x) for x in value]
    else:
        text = str(value).strip()
        if text.startswith("["):
            text = text.strip("[]").replace("'", "").replace('"', "")
            parts = text.split(",")
        else:
            parts = re.split(r"[;|]", text)
    found = []
    for part in parts:
        m = _NUMBER.match(part)
        if not m:
            continue
        kmh = float(m.group(1)) * (_MPH if (m.group(2) or "").lower() == "mph" else 1.0)
        if 0 < kmh <= MAX_PLAUSIBLE_KMH:
            found.append(kmh)
    return min(found) if found else None


def edge_speed_kmh(highway, maxspeed=None, *, speeds: Mapping[str, float] | None = None) -> float:
    """Driving speed (km/h) of one road segment: its ``maxspeed``, else its class's speed.

    Parameters
    ----------
    highway
        The OSM ``highway`` value (a list when OSMnx merged ways: the slowest known class).
    maxspeed
        The OSM ``maxspeed`` value, if any (see :func:`parse_maxspeed`).
    speeds
        Speed per class; default :data:`DRIVE_SPEED_KMH`.
    """
    limit = parse_maxspeed(maxspeed)
    if limit is not None:
        return limit
    table = DRIVE_SPEED_KMH if speeds is None else speeds
    classes = list(highway) if isinstance(highway, (list, tuple, set)) else [highway]
    known = [float(table[c]) for c in classes if c in table]
    return min(known) if known else OTHER_SPEED_KMH


def seconds(length_m, speed_kmh):
    """Travel time in seconds of ``length_m`` metres at ``speed_kmh`` (arrays welcome)."""
    return np.asarray(length_m, dtype=float) / (np.asarray(speed_kmh, dtype=float) / 3.6)


# --------------------------------------------------------------------------- external matrices


@dataclass(frozen=True)
class TravelMatrix:
    """A travel-time matrix handed in from outside.

    Attributes
    ----------
    durations_s
        ``(n, n)`` seconds from row point to column point; NaN where there is no way.
    distances_m
        ``(n, n)`` metres, or None when the file gave only durations.
    source
        File name (said in outputs).
    """

    durations_s: np.ndarray
    distances_m: np.ndarray | None
    source: str


def read_travel_matrix(
    path: str | Path,
    *,
    labels: Sequence[str],
    locations: Sequence[tuple[float, float]] | None = None,
    tolerance_m: float = 500.0,
) -> TravelMatrix:
    """Read a travel-time matrix for the depot and stops of a plan.

    Two formats:

    * **CSV / Excel**: the first row and the first column name the points (the depot as
      ``拠点``, ``depot`` or its name, then the stop ids, in any order); cells are seconds, or
      minutes when the top-left cell says ``分``; a blank cell means no way.
    * **OSRM table JSON** (``{"code": "Ok", "durations": [[...]], "distances": [[...]],
      "sources": [...], "destinations": [...]}``, as ``/table/v1/driving/...`` returns it):
      rows in the order of ``labels`` (the depot first); where the file gives the snapped
      locations they must lie within ``tolerance_m`` of ``locations``, which catches a matrix
      made for other points or in another order.

    Parameters
    ----------
    path
        The file.
    labels
        The point names in plan order (depot first).
    locations
        ``(lon, lat)`` of each point, in the same order, to check an OSRM file's locations.
    tolerance_m
        Largest distance between a point and the location the OSRM file gives for it.

    Returns
    -------
    TravelMatrix

    Raises
    ------
    InputDataError
        Unknown format, a matrix of the wrong size, missing or unknown point names, a cell that
        is not a number or is negative, locations that do not match. The message says what to fix.
    """
    path = Path(path)
    if not path.is_file():
        raise InputDataError(
            "所要時間行列のファイルがありません",
            en="no travel-time matrix file",
            source=str(path),
            hint="CSV・Excel（先頭の行と列に地点名）か OSRM の table JSON を指定してください",
            hint_en="give CSV/Excel (place names in the first row and column) or an OSRM table JSON",
        )
    labels = [str(x) for x in labels]
    if path.suffix.lower() == ".json":
        return _read_osrm(path, labels=labels, locations=locations, tolerance_m=tolerance_m)
    return _read_table_matrix(path, labels=labels)


def _read_osrm(path: Path, *, labels: list[str], locations, tolerance_m: float) -> TravelMatrix:
    name = path.name
    try:
        doc = json.loads(path.read_text(encoding="utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputDataError(
            f"所要時間行列の JSON を読めません（{exc}）",
            en=f"cannot read the travel-time JSON ({exc})",
            source=name,
            hint="OSRM の /table が返した JSON をそのまま保存してください",
            hint_en="save the JSON OSRM /table returned as it is",
        ) from exc
    if not isinstance(doc, dict) or "durations" not in doc:
        raise InputDataError(
            "所要時間行列の JSON に durations がありません",
            en="the travel-time JSON has no durations",
            source=name,
            hint="OSRM の /table（annotations=duration,distance）の応答を指定してください",
            hint_en="give the answer of OSRM /table (annotations=duration,distance)",
        )
    if str(doc.get("code", "Ok")) != "Ok":
        raise InputDataError(
            f"OSRM の応答がエラーです（code: {doc.get('code')}, {doc.get('message', '')}）",
            en=f"OSRM answered with an error (code: {doc.get('code')}, {doc.get('message', '')})",
            source=name,
        )
    n = len(labels)
    durations = _square(doc["durations"], n, name, "durations")
    distances = _square(doc["distances"], n, name, "distances") if doc.get("distances") is not None else None
    if locations is not None:
        for key in ("sources", "destinations"):
            points = doc.get(key)
            if not points:
                continue
            if len(points) != n:
                raise InputDataError(
                    f"OSRM の {key} が {len(points)} 地点ですが、計画の地点は {n} です",
                    en=f"OSRM {key} has {len(points)} points but the plan has {n}",
                    source=name,
                )
            for i, (p, want) in enumerate(zip(points, locations)):
                loc = p.get("location") if isinstance(p, dict) else None
                if not loc or len(loc) != 2:
                    continue
                off = _metres(float(loc[0]), float(loc[1]), float(want[0]), float(want[1]))
                if off > tolerance_m:
                    raise InputDataError(
                        f"OSRM の {key} の {i + 1} 番目の地点が「{labels[i]}」から {off:,.0f}m 離れています", en=f"OSRM {key} point {i + 1} is {off:,.0f} m from {labels[i]!r}",
                        source=name,
                        hint="拠点を先頭に、停留所の表と同じ順で地点を並べて /table を取り直してください", hint_en="take /table again with the depot first and the points in the order of the stops table")
    return TravelMatrix(durations_s=durations, distances_m=distances, source=name)


def _square(rows, n: int, name: str, key: str) -> np.ndarray:
    if not isinstance(rows, list) or len(rows) != n or any(not isinstance(r, list) or len(r) != n for r in rows):
        size = f"{len(rows)} 行" if isinstance(rows, list) else "行列ではありません"
        raise InputDataError(
            f"{key} の大きさが違います（{size}）。拠点と停留所の {n}×{n} が必要です",
            en=f"{key} has the wrong size ({size}); depot and stops need {n}×{n}",
            source=name,
            hint="拠点を先頭に、停留所の表と同じ地点で行列を作り直してください",
            hint_en="rebuild the matrix with the depot first and the same points as the stops table",
        )
    out = np.full((n, n), np.nan)
    for i, row in enumerate(rows):
        for j, value in enumerate(row):
            if value is None:
                continue
            try:
                x = float(value)
            except (TypeError, ValueError):
                raise InputDataError(
                    f"{key} の {i + 1} 行 {j + 1} 列が数値ではありません: {value!r}",
                    en=f"{key} row {i + 1} column {j + 1} is not a number: {value!r}",
                    source=name,
                ) from None
            if not math.isfinite(x) or x < 0:
                raise InputDataError(
                    f"{key} の {i + 1} 行 {j + 1} 列が負か無限大です: {value!r}",
                    en=f"{key} row {i + 1} column {j + 1} is negative or infinite: {value!r}",
                    source=name,
                )
            out[i, j] = x
    np.fill_diagonal(out, 0.0)
    return out


def _read_table_matrix(path: Path, *, labels: list[str]) -> TravelMatrix:
    from gis.io import read_table

    name = path.name
    df = read_table(path)
    corner = str(df.columns[0])
    factor = 60.0 if "分" in corner else 1.0
    cols = [str(c).strip() for c in df.columns[1:]]
    rows = [str(x).strip() for x in df.iloc[:, 0].tolist()]
    depot_names = {labels[0], *DEPOT_LABELS}

    def _index(names: list[str], what: str) -> list[int]:
        where = {}
        for k, label in enumerate(names):
            key = "\0depot" if label in depot_names else label
            if key in where:
                raise InputDataError(
                    f"所要時間行列の{what}に「{label}」が2回あります",
                    en=f"{label!r} appears twice in the travel-time matrix's {({'列（先頭の行）': 'columns (first row)', '行（先頭の列）': 'rows (first column)'}).get(what, what)}",
                    source=name,
                )
            where[key] = k
        wanted = ["\0depot"] + labels[1:]
        missing = [labels[0] if w == "\0depot" else w for w in wanted if w not in where]
        extra = [names[k] for key, k in where.items() if key not in set(wanted)]
        if missing:
            raise InputDataError(
                f"所要時間行列の{what}に地点がありません: {'、'.join(missing[:10])}" + (" ほか" if len(missing) > 10 else ""), en=f"the travel-time matrix's {({'列（先頭の行）': 'columns (first row)', '行（先頭の列）': 'rows (first column)'}).get(what, what)} lack points: {', '.join(missing[:10])}" + (" ..." if len(missing) > 10 else ""),
                source=name, hint="先頭の行と列に拠点（「拠点」）とすべての停留所 ID を書いてください", hint_en="write the depot (拠点) and every stop ID in the first row and column")
        if extra:
            raise InputDataError(
                f"所要時間行列の{what}に計画にない地点があります: {'、'.join(extra[:10])}",
                en=f"the travel-time matrix's {({'列（先頭の行）': 'columns (first row)', '行（先頭の列）': 'rows (first column)'}).get(what, what)} hold points not in the plan: {', '.join(extra[:10])}",
                source=name,
                hint="停留所の表にない行・列を消してください",
                hint_en="remove the rows and columns that are not in the stops table",
            )
        return [where[w] for w in wanted]

    ci = _index(cols, "列（先頭の行）")
    ri = _index(rows, "行（先頭の列）")
    n = len(labels)
    out = np.full((n, n), np.nan)
    for a, r in enumerate(ri):
        for b, c in enumerate(ci):
            cell = df.iat[r, c + 1]
            if cell is None or (isinstance(cell, float) and math.isnan(cell)) or str(cell).strip() == "":
                continue
            try:
                x = float(str(cell).replace(",", ""))
            except ValueError:
                raise InputDataError(
                    f"所要時間行列の「{rows[r]}」行「{cols[c]}」列が数値ではありません: {cell!r}",
                    en=f"the travel-time matrix row {rows[r]!r}, column {cols[c]!r} is not a number: {cell!r}",
                    source=name,
                ) from None
            if not math.isfinite(x) or x < 0:
                raise InputDataError(
                    f"所要時間行列の「{rows[r]}」行「{cols[c]}」列が負の値です: {cell!r}",
                    en=f"the travel-time matrix row {rows[r]!r}, column {cols[c]!r} is negative: {cell!r}",
                    source=name,
                )
            out[a, b] = x * factor
    np.fill_diagonal(out, 0.0)
    return TravelMatrix(durations_s=out, distances_m=None, source=name)


def _metres(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    from pyproj import Geod

    return float(Geod(ellps="GRS80").inv(lon1, lat1, lon2, lat2)[2])


__all__ = [
    "ACCESS_SPEED_KMH", "DEPOT_LABELS", "DRIVE_SPEED_KMH", "OTHER_SPEED_KMH", "SOURCE_AVERAGE_SPEED",
    "SOURCE_MATRIX", "SOURCE_ROAD_SPEEDS", "TravelMatrix", "edge_speed_kmh", "parse_maxspeed",
    "read_travel_matrix", "seconds",
]
