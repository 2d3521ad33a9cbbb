"""Real stations: import them from CSV / Excel / GeoJSON (all or nothing, replacing the sample ones).

The rows are checked like resource files (:func:`api.importing.check_resource_file`: coordinates
missing, not numbers, swapped or outside Japan; blank or duplicate ids; NUL characters), plus the
station kind (社協地域ステーション, 地域包括支援センター …, gis/kinds.toml ``[stations]``) and the
assigned areas (担当地域: ids or names of areas of any level of the workspace).
"""

from __future__ import annotations

import datetime as _dt
import unicodedata
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from api import uploads
from api.importing import ResourceCheck, RowProblem, _diagnose, _nul_characters, _who
from api.store.base import Store
from api.uploads import UploadLimits
from gis.crs import STORAGE_CRS
from gis.errors import InputDataError
from gis.io import _blank, read_table, read_vector
from gis.kinds import station_kinds
from gis.schema import STATION_KINDS, _as_id_list, coerce_stations

#: Headers (NFKC, lower case) of the column listing a station's areas.
AREA_COLUMN_NAMES = ("担当地域", "担当地域id", "担当圏域", "担当地区", "area_ids", "areas")
#: Headers of the station-kind column.
KIND_COLUMN_NAMES = ("種別", "kind", "種類", "分類", "station_kind")
_TABLE_SUFFIXES = (".csv", ".tsv", ".txt", ".xlsx", ".xlsm", ".xls")


def _norm(text) -> str:
    return unicodedata.normalize("NFKC", str(text)).strip().lower().replace(" ", "")


def station_kind(value) -> str | None:
    """Return the station kind key for a key or Japanese label (None if unknown)."""
    if _blank(value):
        return None
    words = {_norm(k): k for k in station_kinds()} | {_norm(v.label): k for k, v in station_kinds().items()}
    return words.get(_norm(value))


def _column(table: pd.DataFrame, names: tuple[str, ...]) -> str | None:
    by_norm = {_norm(c): c for c in table.columns}
    return next((by_norm[n] for n in map(_norm, names) if n in by_norm), None)


def _kind_list() -> str:
    return "、".join(STATION_KINDS.values())


def _read(path: Path, source: str) -> pd.DataFrame:
    """The file as a table; a point layer gets 緯度/経度 columns (NaN and a problem later for other geometries)."""
    if path.suffix.lower() in _TABLE_SUFFIXES:
        return read_table(path, source_name=source)
    gdf = read_vector(path, source_name=source)
    geoms = [g.geoms[0] if g is not None and g.geom_type == "MultiPoint" and len(g.geoms) == 1 else g for g in gdf.geometry]
    table = pd.DataFrame(gdf.drop(columns=gdf.geometry.name))
    table["緯度"] = [g.y if g is not None and g.geom_type == "Point" else np.nan for g in geoms]
    table["経度"] = [g.x if g is not None and g.geom_type == "Point" else np.nan for g in geoms]
    table.attrs["geom_types"] = [None if g is None else g.geom_type for g in geoms]
    return table


def check_station_file(store: Store, path: str | Path, *, kind: str | None = None, source_name: str | None = None,
                       limits: UploadLimits | None = None) -> ResourceCheck:
    """Check a station file against the workspace without writing anything.

    Parameters
    ----------
    path
        CSV / Excel with 緯度・経度 (or a GeoJSON / GeoPackage of points); optional columns 種別,
        ID, 名称, 住所 and 担当地域 (area ids or names of any level, separated by 、 , or ;).
    kind
        Station kind of every row without one (key or Japanese label).
    source_name
        Name shown in messages (the upload's file name).
    limits
        Zip limits of :func:`api.uploads.readable`.

    Returns
    -------
    ResourceCheck
        ``points`` are the stations (:data:`gis.schema.STATION_COLUMNS`) when there is no problem.
    """
    from gis.resources import resources_from_table

    name = source_name or Path(path).name
    store.workspace()
    try:
        with uploads.readable(path, source=name, limits=limits) as readable:
            raw = _read(readable, name)
            geom_types = raw.attrs.get("geom_types") or []
            table = raw.reset_index(drop=True)
    except InputDataError as exc:
        return ResourceCheck(name, 0, None, [RowProblem(None, exc.reason)], exc, True)
    if table.empty:
        exc = InputDataError("拠点の行がありません", source=name, en="the file has no station rows")
        return ResourceCheck(name, 0, None, [RowProblem(None, "拠点の行がありません")], exc, True)
    kind_col, area_col = _column(table, KIND_COLUMN_NAMES), _column(table, AREA_COLUMN_NAMES)
    rest = table.drop(columns=[c for c in (kind_col, area_col) if c is not None])
    rest.attrs = {}
    rows_read, problems = _diagnose(Path(name), kind="other", source=name, table=rest)
    not_points = {i + 1: t for i, t in enumerate(geom_types) if t != "Point"}
    problems = [p for p in problems if p.row not in not_points]  # their blank 緯度/経度 say the same again
    problems += [RowProblem(r, f"点ではなく {t or '空のジオメトリ'} です。拠点は1か所につき1つの点にしてください")
                 for r, t in not_points.items()]
    default = None
    if kind is not None:
        default = station_kind(kind)
        if default is None:
            problems.insert(0, RowProblem(None, f"指定された拠点の種別「{kind}」が分かりません（使える種別: {_kind_list()}）"))
    kinds = []
    for i in range(len(table)):
        value = table[kind_col].iloc[i] if kind_col else None
        k = station_kind(value) or (default if _blank(value) else None)
        if k is None:
            if _blank(value) and kind is None:
                reason = f"拠点の種別がありません。種別の列に書くか、--kind で指定してください（使える種別: {_kind_list()}）"
            elif _blank(value):
                reason = ""  # the file-level problem says the given kind is unknown
            else:
                reason = f"拠点の種別「{str(value).strip()}」が分かりません（使える種別: {_kind_list()}）"
            if reason:
                problems.append(RowProblem(i + 1, reason))
        kinds.append(k)
    resolve = _area_lookup(store.areas(), store.workspace()["profile"])
    area_ids = []
    for i in range(len(table)):
        ids = []
        for item in (_as_id_list(table[area_col].iloc[i]) if area_col else []):
            aid, reason = resolve(item)
            if aid is None:
                problems.append(RowProblem(i + 1, "担当" + reason))
            else:
                ids.append(aid)
        area_ids.append(list(dict.fromkeys(ids)))
    problems.sort(key=lambda p: (p.row is not None, p.row or 0))
    if problems:
        first = problems[0]
        exc = InputDataError(first.reason, source=name, row=first.row,
                             en=f"{len(problems):,} problems in the stations file; the first: {first.reason}")
        return ResourceCheck(name, rows_read, None, problems, exc, True)
    try:
        points = resources_from_table(rest, source_name=name, kind="other")
    except InputDataError as exc:  # _diagnose found nothing the builder refuses: keep its own words
        return ResourceCheck(name, rows_read, None, [RowProblem(exc.row, exc.reason)], exc, True)
    nul, exc = _nul_characters(points, name)
    if nul:
        return ResourceCheck(name, rows_read, None, nul, exc, True)
    stations = coerce_stations(gpd.GeoDataFrame({
        "station_id": points["resource_id"].to_numpy(), "name": points["name"].to_numpy(), "kind": kinds,
        "address": points["address"].to_numpy(), "area_ids": area_ids, "source": name, "is_sample": False,
    }, geometry=points.geometry.values, crs=STORAGE_CRS))
    return ResourceCheck(name, rows_read, stations, [], None, True)


def import_station_file(store: Store, path: str | Path, *, kind: str | None = None, source_name: str | None = None,
                        limits: UploadLimits | None = None, by: str | None = None) -> dict:
    """Replace every station (the sample ones too) with those of a file, all or nothing.

    ``by`` is the user named in the import log (default: the operating-system user).

    Returns
    -------
    dict
        ``imported``, ``rows_read``, ``kinds`` (count per kind), ``replaced`` (stations before,
        of which ``replaced_sample`` were sample data), ``unassigned`` (stations without areas),
        ``source``, ``message`` (Japanese).

    Raises
    ------
    InputDataError
        Every problem found, one per line with its row (nothing is written).
    """
    check = check_station_file(store, path, kind=kind, source_name=source_name, limits=limits)
    if not check.ok:
        raise InputDataError(check.message(), source=check.source, row=check.problems[0].row,
                             en=check.message(english=True))
    stations = check.points
    before = store.stations()
    kinds = {k: int(v) for k, v in stations["kind"].value_counts().items()}
    with store.transaction() as tx:
        tx.replace_stations(stations)
        tx.log_import({
            "kind": "stations", "source": check.source, "rows": int(len(stations)), "kinds": kinds, "replace": True,
            "replaced": int(len(before)), "at": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"), "by": by or _who(),
        })
    n_sample = int(before["is_sample"].fillna(False).astype(bool).sum()) if len(before) else 0
    unassigned = [str(n) for n, ids in zip(stations["name"], stations["area_ids"]) if not ids]
    message = check.message() + f"（それまでの拠点 {len(before)} か所" + (f"、うちサンプル {n_sample} か所" if n_sample else "") + "は削除）"
    if unassigned:
        message += f"。担当地域のない拠点が {len(unassigned)} か所あります: {'、'.join(unassigned[:5])}（tsunagu import station-areas で割り当てられます）"
    return {"imported": int(len(stations)), "rows_read": int(check.rows_read), "kinds": kinds,
            "replaced": int(len(before)), "replaced_sample": n_sample, "unassigned": unassigned,
            "source": check.source, "message": message}


#: Headers of the station column of an assignment table (ID or name).
STATION_COLUMN_NAMES = ("拠点", "拠点id", "拠点名", "station", "station_id", "ステーション")


def _area_lookup(areas: pd.DataFrame, profile):
    by_id = set(areas["area_id"].astype(str))
    labels = {lv.key: lv.label for lv in profile.levels}
    level_of = dict(zip(areas["area_id"].astype(str), areas["level"].astype(str).map(lambda k: labels.get(k, k))))
    by_name: dict[str, list[str]] = {}
    for aid, nm in zip(areas["area_id"].astype(str), areas["name"].astype(str)):
        by_name.setdefault(_norm(nm), []).append(aid)

    def resolve(item: str) -> tuple[str | None, str]:
        if item in by_id:
            return item, ""
        hits = by_name.get(_norm(item), [])
        if len(hits) == 1:
            return hits[0], ""
        if hits:
            shown = "、".join(f"{h}（{level_of.get(h, '')}）" for h in hits[:5])
            return None, f"地域「{item}」は同じ名前の地域が複数あります（{shown}）。地域IDで書いてください"
        return None, f"地域「{item}」はワークスペースのどの地域にもありません（地域IDか地域名で書いてください）"

    return resolve


def import_station_areas(store: Store, path: str | Path, *, source_name: str | None = None,
                         limits: UploadLimits | None = None, by: str | None = None) -> dict:
    """Assign areas to stations from a table (CSV / Excel), all or nothing.

    One row per station and area, or one row per station with several areas separated by
    「、」 or ``,``. Columns: 拠点 (station ID or name) and 担当地域 (area IDs or names of any
    level: a 中学校区 stands for the areas inside it). The stations in the table get exactly
    the areas listed for them; the stations the table does not name keep theirs. ``by`` is the
    user named in the import log.

    Returns
    -------
    dict
        ``stations`` (station id → area ids now assigned), ``rows_read``, ``source``, ``message``.

    Raises
    ------
    InputDataError
        Every problem with its row (unknown station or area, blank cells, missing columns);
        nothing is written.
    """
    name = source_name or Path(path).name
    store.workspace()
    with uploads.readable(path, source=name, limits=limits) as readable:
        if readable.suffix.lower() not in _TABLE_SUFFIXES:
            msg = "担当地域の割り当ては CSV か Excel の表で指定してください"
            raise InputDataError(msg, source=name, hint="列: 拠点（ID か名称）、担当地域（地域ID か地域名）",
                                 en="give the areas' assignment as a CSV or Excel table",
                                 hint_en="columns: 拠点 (station id or name), 担当地域 (area ids or names)")
        table = read_table(readable, source_name=name).reset_index(drop=True)
    st_col, area_col = _column(table, STATION_COLUMN_NAMES), _column(table, AREA_COLUMN_NAMES + ("地域", "地域id", "area_id"))
    missing = [label for label, col in (("拠点", st_col), ("担当地域", area_col)) if col is None]
    if missing:
        msg = f"列「{'」「'.join(missing)}」がありません（列: {'、'.join(map(str, table.columns))}）"
        raise InputDataError(msg, source=name, hint="列: 拠点（ID か名称）、担当地域（地域ID か地域名）",
                             en=f"no column {', '.join(map(repr, missing))} (columns: {', '.join(map(str, table.columns))})",
                             hint_en="columns: 拠点 (station id or name), 担当地域 (area ids or names)")
    stations = store.stations()
    sids = stations["station_id"].astype(str).tolist()
    by_name: dict[str, list[str]] = {}
    for sid, nm in zip(sids, stations["name"].astype(str)):
        by_name.setdefault(_norm(nm), []).append(sid)
    resolve = _area_lookup(store.areas(), store.workspace()["profile"])
    problems: list[RowProblem] = []
    assigned: dict[str, list[str]] = {}
    for i in range(len(table)):
        raw_station, raw_areas = table[st_col].iloc[i], table[area_col].iloc[i]
        if _blank(raw_station):
            problems.append(RowProblem(i + 1, "拠点が空欄です"))
            continue
        text = str(raw_station).strip()
        hits = [text] if text in sids else by_name.get(_norm(text), [])
        if len(hits) != 1:
            why = ("同じ名前の拠点が複数あります。拠点IDで書いてください" if hits
                   else "ワークスペースにありません（tsunagu import stations で先に取り込んでください）")
            problems.append(RowProblem(i + 1, f"拠点「{text}」は{why}"))
            continue
        sid = hits[0]
        items = _as_id_list(raw_areas)
        if not items:
            problems.append(RowProblem(i + 1, f"拠点「{text}」の担当地域が空欄です"))
        for item in items:
            aid, reason = resolve(item)
            if aid is None:
                problems.append(RowProblem(i + 1, reason))
            else:
                assigned.setdefault(sid, [])
                if aid not in assigned[sid]:
                    assigned[sid].append(aid)
    check = ResourceCheck(name, len(table), None, problems, None, True)
    if problems:
        raise InputDataError(check.message(), source=name, row=problems[0].row,
                             en=check.message(english=True))
    if not assigned:
        msg = "割り当ての行がありません"
        raise InputDataError(msg, source=name,
                             en="no assignment rows")
    out = stations.copy()
    out["area_ids"] = [assigned.get(sid, list(ids)) for sid, ids in zip(sids, out["area_ids"])]
    with store.transaction() as tx:
        tx.replace_stations(coerce_stations(out))
        tx.log_import({"kind": "station-areas", "source": name, "rows": int(len(table)),
                       "stations": {k: len(v) for k, v in assigned.items()},
                       "at": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"), "by": by or _who()})
    names = dict(zip(sids, stations["name"].astype(str)))
    message = (f"{len(table):,} 行を読み、{len(assigned)} か所の拠点に担当地域を割り当てました: "
               + "、".join(f"{names[s]} {len(a)} 地域" for s, a in assigned.items()))
    return {"stations": assigned, "rows_read": int(len(table)), "source": name, "message": message}
