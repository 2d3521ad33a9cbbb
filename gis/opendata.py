"""Readers for Japanese open data as planners download it: e-Stat small areas, 国土数値情報 N03 / A27 / A32."""

from __future__ import annotations

import copy
from pathlib import Path

import geopandas as gpd
import pandas as pd

from gis._once import BuildOnceLRU
from gis.crs import STORAGE_CRS
from gis.errors import InputDataError, UnknownMunicipalityError

#: e-Stat 境界データ HCODE: 8101 ordinary area, 8154 water (水面調査区) and similar non-residential parts.
ESTAT_ORDINARY_HCODE = 8101


#: Open-data files kept parsed per process (the four national layers of one prefecture, with room).
_PARSED_MAX = 8
_parsed: BuildOnceLRU[gpd.GeoDataFrame] = BuildOnceLRU(_PARSED_MAX)


def _read(path: str | Path) -> gpd.GeoDataFrame:
    """The file's layer, parsed once per process per (path, mtime, size); each caller gets its own copy.

    Building a city reads the prefecture-wide files (the e-Stat small areas take most of a
    second to parse) after listing or naming the municipalities read them already, and a fan-out
    worker builds city after city from the same files: they are parsed once.
    """
    path = Path(path)
    try:
        st = path.stat()
    except OSError:
        return _parse(path)  # says what is wrong with the path
    gdf = _parsed.get_or_build((str(path.resolve()), st.st_mtime_ns, st.st_size), lambda: _parse(path))
    out = gdf.copy()
    out.attrs = copy.deepcopy(gdf.attrs)
    return out


def preparse(paths: list[Path]) -> None:
    """Parse these open-data files into this process's cache now (each once), ahead of the readers.

    A file that cannot be parsed is left out: its reader raises the error, with its message, when
    a caller reads it.
    """
    for path in paths:
        path = Path(path)
        try:
            st = path.stat()
            _parsed.get_or_build((str(path.resolve()), st.st_mtime_ns, st.st_size), lambda p=path: _parse(p))
        except Exception:  # noqa: BLE001, S112 - said by the reader later, where it belongs
            continue


def export_parsed(path: Path) -> int:
    """Write the open-data files parsed so far in this process to ``path`` (a pickle); returns how many.

    For the worker processes of one fan-out (:func:`import_parsed`): the prefecture-wide files
    are parsed once by the main process instead of once more by every worker. Only for a file
    this run wrote itself (a pickle runs code when loaded).
    """
    import pickle

    entries = [(key, _parsed.get(key)) for key in _parsed.keys()]
    entries = [(k, v) for k, v in entries if v is not None]
    tmp = Path(path).with_suffix(".tmp")
    tmp.write_bytes(pickle.dumps(entries, protocol=pickle.HIGHEST_PROTOCOL))
    tmp.replace(path)
    return len(entries)


def import_parsed(path: Path) -> int:
    """Take the parsed files :func:`export_parsed` wrote into this process's cache; returns how many.

    Each entry's key holds its file's path, modification time and size, so a file changed since
    is not matched and is parsed again when read.
    """
    import pickle

    entries = pickle.loads(Path(path).read_bytes())  # noqa: S301 - written by this run's main process
    for key, value in entries:
        _parsed.get_or_build(key, lambda v=value: v)
    return len(entries)


def clear_parsed() -> None:
    """Forget the open-data files parsed so far in this process (the next read parses them again)."""
    _parsed.clear()


def _parse(path: Path) -> gpd.GeoDataFrame:
    # One reader for everything GDAL reads (validation of CRS, emptiness, geometry). The official
    # downloads (e-Stat 境界データ, 国土数値情報 ZIPs) are Shapefiles in Shift_JIS, often without a
    # .cpg saying so: text read as Latin-1 is read again as cp932.
    from gis.io import read_vector

    gdf = read_vector(path, repair=True)
    if Path(path).suffix.lower() == ".zip" and _looks_misdecoded(gdf):
        gdf = read_vector(path, repair=True, encoding="cp932")
    return gdf


def _looks_misdecoded(gdf: gpd.GeoDataFrame) -> bool:
    """True when text columns hold Latin-1 letters and no Japanese: Shift_JIS read as the wrong code page."""
    text = gdf.select_dtypes(include=["object", "string"]).drop(columns=[gdf.geometry.name], errors="ignore")
    sample = " ".join(map(str, text.head(200).to_numpy().ravel().tolist()))
    latin = sum(1 for c in sample if "\u0080" <= c <= "\u00ff")
    japanese = sum(1 for c in sample if "\u3040" <= c <= "\u9fff")
    return latin > 0 and japanese == 0


def _require(gdf: gpd.GeoDataFrame, columns: list[str], path: str | Path, what: str) -> None:
    missing = [c for c in columns if c not in gdf.columns]
    if missing:
        msg = f"this does not look like {what}: columns {missing} are missing"
        raise InputDataError(msg, source=Path(path).name, hint=f"columns present: {list(gdf.columns)[:15]}")


def _five_digit(code) -> str:
    code = str(code).strip()
    if len(code) == 6:  # with check digit
        code = code[:5]
    if len(code) != 5 or not code.isdigit():
        msg = f"{code!r} is not a municipality code; use the 5-digit JIS code, e.g. 33209 for 高梁市"
        raise InputDataError(msg)
    return code


def read_municipalities(path: str | Path) -> gpd.GeoDataFrame:
    """Read 国土数値情報 N03 行政区域 as one row per municipality.

    Returns
    -------
    GeoDataFrame
        ``code`` (5 digits), ``name`` (郡 + 町村 for towns, e.g. 小田郡矢掛町; 区 of 政令市
        with the city name), ``short_name`` (高梁市, 矢掛町), ``geometry`` (EPSG:4326), one row per code.
    """
    gdf = _read(path)
    _require(gdf, ["N03_004", "N03_007"], path, "国土数値情報 N03 (行政区域)")
    gdf = gdf[gdf["N03_007"].notna()].copy()
    gun = gdf.get("N03_003", pd.Series(None, index=gdf.index)).fillna("")
    gdf["code"] = gdf["N03_007"].astype(str).str.zfill(5)
    gdf["short_name"] = gdf["N03_004"].astype(str)
    gdf["name"] = gun.astype(str) + gdf["N03_004"].astype(str)
    out = gdf[["code", "name", "short_name", "geometry"]].dissolve("code", aggfunc="first").reset_index()
    return out.set_crs(STORAGE_CRS, allow_override=True)


def municipality(path: str | Path, code: str) -> gpd.GeoDataFrame:
    """Return the one-row N03 boundary of municipality ``code``; the error lists the codes present."""
    code = _five_digit(code)
    munis = read_municipalities(path)
    row = munis[munis["code"] == code]
    if row.empty:
        listing = "、".join(f"{c} {n}" for c, n in zip(munis["code"], munis["name"]))
        msg = f"市区町村コード {code} はこの行政区域（N03）のファイルにありません"
        raise UnknownMunicipalityError(msg, source=Path(path).name, hint=f"ある市区町村: {listing}")
    return row.reset_index(drop=True)


def census_municipalities(path: str | Path) -> pd.DataFrame:
    """List the municipalities an e-Stat small-area file covers: code, features, KEY_CODEs, population."""
    gdf = _read(path)
    _require(gdf, ["KEY_CODE", "KEN", "CITY", "JINKO"], path, "e-Stat 国勢調査 小地域 境界データ")
    code = gdf["KEN"].astype(str).str.zfill(2) + gdf["CITY"].astype(str).str.zfill(3)
    return (
        pd.DataFrame({"code": code, "KEY_CODE": gdf["KEY_CODE"], "JINKO": gdf["JINKO"], "GST_NAME": gdf.get("GST_NAME")})
        .groupby("code")
        .agg(features=("KEY_CODE", "size"), key_codes=("KEY_CODE", "nunique"), population=("JINKO", "sum"),
             name=("GST_NAME", "first"))
        .reset_index()
    )


def read_census_small_areas(path: str | Path, *, city_code: str) -> gpd.GeoDataFrame:
    """Read e-Stat census small areas (町丁・字等) of one municipality as residential areas.

    Parts that share a ``KEY_CODE`` are dissolved into one area (the population sits on one
    part and 0 on the others); water and other non-residential parts (``HCODE`` ≠ 8101) are
    kept out of the population base.

    Parameters
    ----------
    path
        The e-Stat 境界データ file (Shapefile zip, GeoJSON, TopoJSON...).
    city_code
        5-digit municipality code (e.g. ``"33209"``).

    Returns
    -------
    GeoDataFrame
        ``area_id`` (KEY_CODE), ``name`` (MOJI), ``population`` (JINKO), ``households`` (SETAI),
        ``geometry``; ``attrs["import"]`` holds the counts (features, KEY_CODEs, water parts).
    """
    city_code = _five_digit(city_code)
    gdf = _read(path)
    _require(gdf, ["KEY_CODE", "KEN", "CITY", "JINKO", "SETAI", "MOJI"], path, "e-Stat 国勢調査 小地域 境界データ")
    codes = gdf["KEN"].astype(str).str.zfill(2) + gdf["CITY"].astype(str).str.zfill(3)
    part = gdf[codes == city_code].copy()
    if part.empty:
        present = sorted(set(codes))
        msg = f"市区町村コード {city_code} の小地域はこのファイルにありません"
        raise UnknownMunicipalityError(msg, source=Path(path).name, hint=f"ある市区町村コード: {'、'.join(present)}")
    part["KEY_CODE"] = part["KEY_CODE"].astype(str)
    hcode = pd.to_numeric(part.get("HCODE", ESTAT_ORDINARY_HCODE), errors="coerce").fillna(ESTAT_ORDINARY_HCODE)
    water = part[hcode != ESTAT_ORDINARY_HCODE]
    land = part[hcode == ESTAT_ORDINARY_HCODE].copy()
    water_people = int(pd.to_numeric(water["JINKO"], errors="coerce").fillna(0).sum())
    if water_people:
        msg = f"{water_people} people are recorded on non-residential (water) parts; they would be lost"
        raise InputDataError(msg, source=Path(path).name, hint="check HCODE of the parts named in the file")
    land["JINKO"] = pd.to_numeric(land["JINKO"], errors="coerce")
    land["SETAI"] = pd.to_numeric(land["SETAI"], errors="coerce")
    # Name from the part that carries the population (parts share the name anyway).
    land = land.sort_values("JINKO", ascending=False, kind="stable")
    areas = land.dissolve(
        "KEY_CODE", aggfunc={"MOJI": "first", "JINKO": "sum", "SETAI": "sum"}
    ).reset_index()
    out = gpd.GeoDataFrame(
        {
            "area_id": areas["KEY_CODE"],
            "name": areas["MOJI"].fillna("").astype(str),
            "population": areas["JINKO"].astype("Int64"),
            "households": areas["SETAI"].astype("Int64"),
        },
        geometry=areas.geometry.values,
        crs=STORAGE_CRS,
    ).sort_values("area_id", kind="stable").reset_index(drop=True)
    out.attrs["import"] = {
        "features": int(len(part)),
        "key_codes": int(part["KEY_CODE"].nunique()),
        "water_parts": int(len(water)),
        "water_only_key_codes": sorted(set(water["KEY_CODE"]) - set(land["KEY_CODE"])),
        "residential_areas": int(len(out)),
        "population": int(out["population"].sum()),
    }
    return out


def read_ksj_elementary_districts(path: str | Path, *, city_code: str) -> gpd.GeoDataFrame:
    """Read 国土数値情報 A27 小学校区 of one municipality: ``district_id``, ``name``, ``address``, ``geometry``.

    Handles the v2.1 layout (A27_005 code, A27_007 school, A27_008 address) and the older one
    (A27_001 code, A27_003 school, A27_004 address).
    """
    city_code = _five_digit(city_code)
    gdf = _read(path)
    if "A27_005" in gdf.columns and "A27_007" in gdf.columns:
        code_col, name_col, addr_col = "A27_005", "A27_007", "A27_008"
    elif "A27_001" in gdf.columns and "A27_003" in gdf.columns:
        code_col, name_col, addr_col = "A27_001", "A27_003", "A27_004"
    else:
        msg = "this does not look like 国土数値情報 A27 (小学校区): no A27_005/A27_007 or A27_001/A27_003 columns"
        raise InputDataError(msg, source=Path(path).name)
    return _districts(gdf, path, city_code, code_col, name_col, addr_col, "A27")


def read_ksj_junior_high_districts(path: str | Path, *, city_code: str) -> gpd.GeoDataFrame:
    """Read 国土数値情報 A32 中学校区 of one municipality, normalising both published layouts.

    The 2013 edition uses A32_001 code / A32_002 city / A32_003 school; the 2016 edition uses
    A32_006 code / A32_007 city / A32_008 school / A32_009 address. Files mixing both work.
    """
    city_code = _five_digit(city_code)
    gdf = _read(path)
    new = ["A32_006", "A32_008"]
    old = ["A32_001", "A32_003"]
    if not (set(new) <= set(gdf.columns) or set(old) <= set(gdf.columns)):
        msg = "this does not look like 国土数値情報 A32 (中学校区): no A32_006/A32_008 or A32_001/A32_003 columns"
        raise InputDataError(msg, source=Path(path).name)

    def col(name: str) -> pd.Series:
        return gdf[name] if name in gdf.columns else pd.Series(None, index=gdf.index, dtype=object)

    # The 2016 layout's A32_006 is the code; in the 2013 layout A32_006 is a flag, so prefer
    # the layout whose school-name column is filled in on each row.
    is_new = col("A32_008").notna()
    norm = gdf[["geometry"]].copy()
    norm["code"] = col("A32_006").where(is_new, col("A32_001"))
    norm["name"] = col("A32_008").where(is_new, col("A32_003"))
    norm["address"] = col("A32_009").where(is_new, None)
    return _districts(norm, path, city_code, "code", "name", "address", "A32")


def _districts(gdf, path, city_code, code_col, name_col, addr_col, label) -> gpd.GeoDataFrame:
    codes = gdf[code_col].astype(str).str.strip().str.zfill(5)
    part = gdf[codes == city_code]
    if part.empty:
        present = sorted(c for c in set(codes) if c.isdigit())
        msg = f"市区町村コード {city_code} の学区（{label}）はこのファイルにありません"
        raise UnknownMunicipalityError(msg, source=Path(path).name, hint=f"ある市区町村コード: {'、'.join(present[:60])}")
    names = part[name_col].fillna("").astype(str)
    addr = part[addr_col].fillna("").astype(str) if addr_col in part.columns else pd.Series("", index=part.index)
    out = gpd.GeoDataFrame(
        {"name": names.values, "address": addr.values}, geometry=part.geometry.values, crs=STORAGE_CRS
    )
    # A school whose district comes as several features is one district.
    out = out.dissolve("name", aggfunc={"address": "first"}, sort=False).reset_index()
    out.insert(0, "district_id", [f"{city_code}-{label}-{i + 1:02d}" for i in range(len(out))])
    return out[["district_id", "name", "address", "geometry"]]
