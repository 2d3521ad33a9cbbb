"""Readers for Japanese open data as planners download it: e-Stat, 国土数値情報, GSI shelter and food-permit lists."""

from __future__ import annotations

import copy
import os
import re
import unicodedata
from pathlib import Path

import geopandas as gpd
import numpy as np
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
    key = parsed_key(path)
    if key is None:
        return _parse(path)  # says what is wrong with the path
    gdf = _parsed.get_or_build(key, lambda: _parse(path))
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
        key = parsed_key(path)
        if key is None:
            continue
        try:
            _parsed.get_or_build(key, lambda p=path: _parse(p))
        except Exception:  # noqa: BLE001, S112 - said by the reader later, where it belongs
            continue


def parsed_key(path: str | Path) -> tuple[str, int, int] | None:
    """The key a file is kept parsed under: its resolved path, modification time (ns) and size; None if it is not there."""
    path = Path(path)
    try:
        st = path.stat()
    except OSError:
        return None
    return (str(path.resolve()), st.st_mtime_ns, st.st_size)


def is_parsed(path: str | Path) -> bool:
    """True when this process keeps the file parsed as it is now (same modification time and size)."""
    key = parsed_key(path)
    return key is not None and _parsed.get(key) is not None


def export_parsed(path: Path, *, sources: list[Path] | None = None) -> int:
    """Write the open-data files parsed so far in this process to ``path`` (a pickle); returns how many.

    For a process that would parse the same files again (:func:`import_parsed`): a fan-out's
    workers on another machine, the next run on the same data. ``sources`` keeps only those
    files (default: every file parsed). Only for a folder this user alone writes (a pickle runs
    code when loaded). Written to a temporary file and renamed, so a reader never sees half a file.
    """
    import pickle

    wanted = None if sources is None else {parsed_key(s) for s in sources} - {None}
    entries = [(key, _parsed.get(key)) for key in _parsed.keys() if wanted is None or key in wanted]
    entries = [(k, v) for k, v in entries if v is not None]
    tmp = Path(path).with_name(f"{Path(path).name}.{os.getpid()}.tmp")  # two writers never share one
    tmp.write_bytes(pickle.dumps(entries, protocol=pickle.HIGHEST_PROTOCOL))
    tmp.replace(path)
    return len(entries)


def import_parsed(path: Path) -> int:
    """Take the parsed files :func:`export_parsed` wrote into this process's cache; returns how many.

    Each entry's key holds its file's path, modification time and size: an entry of a file
    changed (or gone) since is left out, and that file is parsed again when read.
    """
    import pickle

    entries = pickle.loads(Path(path).read_bytes())  # noqa: S301 - written by this user's own process
    taken = 0
    for key, value in entries:
        if parsed_key(key[0]) == tuple(key):
            _parsed.get_or_build(tuple(key), lambda v=value: v)
            taken += 1
    return taken


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
        msg = f"{what}のファイルではないようです（列 {'、'.join(missing)} がありません）"
        raise InputDataError(
            msg, en=f"this does not look like {what}: columns {missing} are missing", source=Path(path).name,
            hint=f"ファイルにある列: {'、'.join(map(str, list(gdf.columns)[:15]))}",
            hint_en=f"columns present: {list(gdf.columns)[:15]}",
        )


def _five_digit(code) -> str:
    code = str(code).strip()
    if len(code) == 6:  # with check digit
        code = code[:5]
    if len(code) != 5 or not code.isdigit():
        msg = f"「{code}」は市区町村コードではありません。5桁の全国地方公共団体コード（例: 高梁市は 33209）を使ってください"
        raise InputDataError(
            msg,
            en=f"{code!r} is not a municipality code; use the 5-digit JIS code, e.g. 33209 for 高梁市",
        )
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
        raise UnknownMunicipalityError(
            msg,
            en=f"municipality code {code} is not in this administrative-boundary (N03) file",
            source=Path(path).name,
            hint=f"ある市区町村: {listing}",
            hint_en=f"municipalities present: {listing}",
        )
    return row.reset_index(drop=True)


def _estat_city_codes(gdf: pd.DataFrame) -> pd.Series:
    """The 5-digit municipality code of each e-Stat small-area feature (prefecture KEN + city CITY)."""
    return gdf["KEN"].astype(str).str.zfill(2) + gdf["CITY"].astype(str).str.zfill(3)


def census_municipalities(path: str | Path) -> pd.DataFrame:
    """List the municipalities an e-Stat small-area file covers: code, features, KEY_CODEs, population."""
    gdf = _read(path)
    _require(gdf, ["KEY_CODE", "KEN", "CITY", "JINKO"], path, "e-Stat 国勢調査 小地域 境界データ")
    code = _estat_city_codes(gdf)
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
    codes = _estat_city_codes(gdf)
    part = gdf[codes == city_code].copy()
    if part.empty:
        present = sorted(set(codes))
        msg = f"市区町村コード {city_code} の小地域はこのファイルにありません"
        raise UnknownMunicipalityError(
            msg,
            en=f"no small areas of municipality {city_code} in this file",
            source=Path(path).name,
            hint=f"ある市区町村コード: {'、'.join(present)}",
            hint_en=f"municipality codes present: {', '.join(present)}",
        )
    part["KEY_CODE"] = part["KEY_CODE"].astype(str)
    hcode = pd.to_numeric(part.get("HCODE", ESTAT_ORDINARY_HCODE), errors="coerce").fillna(ESTAT_ORDINARY_HCODE)
    water = part[hcode != ESTAT_ORDINARY_HCODE]
    land = part[hcode == ESTAT_ORDINARY_HCODE].copy()
    water_people = int(pd.to_numeric(water["JINKO"], errors="coerce").fillna(0).sum())
    if water_people:
        msg = f"人が住まない部分（水面）に {water_people} 人が記録されています。このままでは数から抜けてしまいます"
        raise InputDataError(
            msg, en=f"{water_people} people are recorded on non-residential (water) parts; they would be lost",
            source=Path(path).name,
            hint="ファイルにあるその部分の HCODE を確かめてください", hint_en="check HCODE of the parts named in the file",
        )
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
        msg = "国土数値情報 A27（小学校区）のファイルではないようです（A27_005/A27_007 の列も A27_001/A27_003 の列もありません）"
        raise InputDataError(
            msg, en="this does not look like 国土数値情報 A27 (小学校区): no A27_005/A27_007 or A27_001/A27_003 columns",
            source=Path(path).name,
        )
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
        msg = "国土数値情報 A32（中学校区）のファイルではないようです（A32_006/A32_008 の列も A32_001/A32_003 の列もありません）"
        raise InputDataError(
            msg, en="this does not look like 国土数値情報 A32 (中学校区): no A32_006/A32_008 or A32_001/A32_003 columns",
            source=Path(path).name,
        )

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
        raise UnknownMunicipalityError(
            msg,
            en=f"no school districts ({label}) of municipality {city_code} in this file",
            source=Path(path).name,
            hint=f"ある市区町村コード: {'、'.join(present[:60])}",
            hint_en=f"municipality codes present: {', '.join(present[:60])}",
        )
    names = part[name_col].fillna("").astype(str)
    addr = part[addr_col].fillna("").astype(str) if addr_col in part.columns else pd.Series("", index=part.index)
    out = gpd.GeoDataFrame(
        {"name": names.values, "address": addr.values}, geometry=part.geometry.values, crs=STORAGE_CRS
    )
    # A school whose district comes as several features is one district.
    out = out.dissolve("name", aggfunc={"address": "first"}, sort=False).reset_index()
    out.insert(0, "district_id", [f"{city_code}-{label}-{i + 1:02d}" for i in range(len(out))])
    return out[["district_id", "name", "address", "geometry"]]


# --------------------------------------------------------------------------------------------
# point tables as downloaded: 国土地理院 指定緊急避難場所・指定避難所, 食品営業許可・届出
# --------------------------------------------------------------------------------------------

#: The eight hazards of 指定緊急避難場所, as the GSI list names its flag columns (the 自治体標準
#: オープンデータセット writes them 災害種別_洪水 ...).
SHELTER_HAZARDS = ("洪水", "崖崩れ、土石流及び地滑り", "高潮", "地震", "津波", "大規模な火事", "内水氾濫", "火山現象")
SHELTER_EMERGENCY = "指定緊急避難場所"
SHELTER_EVACUATION = "指定避難所"

#: Header names (normalised by :func:`_header`) of the GSI list, its national merged file and
#: the 自治体標準オープンデータセット 指定緊急避難場所一覧 / 指定避難所一覧.
_SHELTER_HEADERS = {
    "name": ("施設・場所名", "名称", "施設名", "施設名称", "避難場所名", "避難所名", "施設・場所名称"),
    "address": ("住所", "所在地", "所在地_連結表記", "所在地住所"),
    "common_id": ("共通id",),
    "city": ("都道府県名及び市町村名", "市区町村名"),
    "code": ("市町村コード", "市区町村コード", "都道府県コード又は市区町村コード", "全国地方公共団体コード"),
    "lat": ("緯度", "lat", "latitude"),
    "lon": ("経度", "lon", "lng", "longitude"),
}
#: Columns only the 指定避難所 list has (the emergency list has the hazard flags instead).
_EVACUATION_ONLY = ("指定緊急避難場所との住所同一", "受入対象者", "その他市町村長が必要と認める事項")

#: Header names of the food-permit open data: 厚生労働省 食品衛生申請等システム's national schema
#: (営業施設名称、屋号又は商号 / 営業の種類 / 営業施設所在地 / 緯度 / 経度 ...) and the 自治体標準
#: オープンデータセット 食品等営業許可・届出一覧 and prefecture portals (営業所名称, 施設の名称,
#: 所在地_連結表記 ...). Operators' own names (営業者氏名, 法人名) and addresses are never read.
_PERMIT_HEADERS = {
    "name": ("営業施設名称、屋号又は商号", "施設の名称", "営業所名称", "施設名称", "施設名称1", "屋号", "屋号名称",
             "営業所名", "営業所の名称", "施設屋号", "営業施設名称", "営業施設屋号", "施設名", "名称", "name"),
    "name_kana": ("営業施設名称、屋号又は商号(フリガナ)", "営業所名称_カナ", "施設名称_カナ", "施設の名称_カナ",
                  "namekana"),
    "business_type": ("営業の種類", "業種", "業種名", "許可業種名", "営業種目", "業種分類", "category"),
    "address": ("営業施設所在地", "施設の所在地", "営業所所在地", "所在地_連結表記", "施設所在地", "営業所住所",
                "営業所の所在地", "営業施設住所", "fulladdress", "所在地", "住所"),
    "lat": ("緯度", "lat", "latitude"),
    "lon": ("経度", "lon", "lng", "longitude"),
    "phone": ("営業施設電話番号", "営業所電話番号", "施設電話番号", "電話番号"),
    "license_no": ("許可番号", "営業許可番号", "許可届出番号"),
    "license_date": ("許可年月日", "許可開始日", "現在の許可年月日"),
    "expire_date": ("許可満了日", "許可終了日", "有効期限", "有効期間終了日"),
    "status": ("申請区分",),
    "closed": ("廃業年月日",),
    "code": ("自治体コード", "都道府県コード又は市区町村コード", "市区町村コード", "全国地方公共団体コード"),
}

_PREFECTURE = re.compile(r"^(北海道|東京都|京都府|大阪府|[^\d\s]{2,3}県)")


def _header(text) -> str:
    """A header as compared: NFKC (full-width ＿ and （） become _ and ()), no spaces, lower case."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", str(text))).lower()


def _columns(columns, names: dict[str, tuple[str, ...]]) -> dict[str, str]:
    """Map each role to the first column of the file whose header is one of its names."""
    by_header = {}
    for col in columns:
        by_header.setdefault(_header(col), col)
    out = {}
    for role, options in names.items():
        for option in options:
            if _header(option) in by_header:
                out[role] = by_header[_header(option)]
                break
    return out


def _text(value) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    return str(value).strip()  # as written: the permit categories are matched with their full-width brackets


def _in_city(address: str, city_name: str) -> bool:
    """True when ``address`` (with or without the prefecture) lies in ``city_name`` (小田郡矢掛町 or 矢掛町)."""
    rest = _PREFECTURE.sub("", _header(address))
    name = _header(city_name)
    if rest.startswith(name):
        return True
    # 矢掛町 for 小田郡矢掛町 (either side may leave the 郡 out)
    return re.sub(r"^[^\d]+?郡", "", rest).startswith(re.sub(r"^[^\d]+?郡", "", name))


def _lon_lat(frame: pd.DataFrame, lon_col: str, lat_col: str) -> tuple[np.ndarray, np.ndarray]:
    def number(col):
        text = frame[col].map(lambda v: unicodedata.normalize("NFKC", _text(v)))
        return pd.to_numeric(text.replace("", None), errors="coerce").to_numpy(dtype=float)

    return number(lon_col), number(lat_col)


def _usable_positions(lon: np.ndarray, lat: np.ndarray, *, source: str, rows: np.ndarray) -> np.ndarray:
    """Rows with a position in Japan; a file whose latitude and longitude are swapped is an error."""
    from gis.io import looks_japanese, looks_swapped

    given = ~(np.isnan(lon) | np.isnan(lat))
    inside = given & looks_japanese(np.nan_to_num(lon), np.nan_to_num(lat))
    swapped = given & looks_swapped(np.nan_to_num(lon), np.nan_to_num(lat))
    if swapped.sum() > inside.sum():  # a few swapped rows are bad rows; most of them, swapped columns
        i = int(np.argmax(swapped))
        msg = f"緯度と経度の列が入れ替わっているようです（緯度={lat[i]}、経度={lon[i]}）"
        raise InputDataError(msg, en=f"latitude and longitude look swapped (lat={lat[i]}, lon={lon[i]})",
                             source=source, row=int(rows[i]),
                             hint="日本では緯度がおよそ 20〜46、経度がおよそ 122〜154 です",
                             hint_en="in Japan latitude is about 20-46 and longitude 122-154")
    return inside


def _read_points_table(path: Path, source: str) -> tuple[pd.DataFrame, np.ndarray | None, np.ndarray | None]:
    """A CSV / Excel table as text, or a GeoJSON's properties with the point coordinates."""
    from gis.io import is_table_file, read_table, read_vector

    if is_table_file(path):
        return read_table(path, source_name=source), None, None
    layer = read_vector(path, source_name=source)
    points = layer.geometry
    bad = ~points.geom_type.isin(["Point"])
    if bad.any():
        i = int(np.argmax(bad.to_numpy()))
        msg = f"地点のファイルですが、点でない地物があります（{points.iloc[i].geom_type}）"
        raise InputDataError(msg, en=f"expected points, feature is a {points.iloc[i].geom_type}",
                             source=source, feature=str(i + 1))
    frame = pd.DataFrame(layer.drop(columns=layer.geometry.name))
    return frame, points.x.to_numpy(dtype=float), points.y.to_numpy(dtype=float)


def _shelter_designation(columns, file_name: str) -> str:
    """指定緊急避難場所 or 指定避難所: by the columns (hazard flags or the shelter-only ones), else by the file name.

    The GSI download names them ``<code>_2.csv`` / ``mergeFromCity_2.csv`` (emergency sites) and
    ``_1`` (shelters); the bundled conversion ``emergency_<code6>.json`` / ``evacuation_<code6>.json``.
    """
    headers = {_header(c) for c in columns}
    if any(_header(h) in headers or _header(f"災害種別_{h}") in headers for h in SHELTER_HAZARDS):
        return SHELTER_EMERGENCY
    if any(_header(c) in headers for c in _EVACUATION_ONLY):
        return SHELTER_EVACUATION
    stem = Path(file_name).stem.lower()
    if stem.startswith("emergency") or stem.endswith("_2"):
        return SHELTER_EMERGENCY
    if stem.startswith("evacuation") or stem.endswith("_1"):
        return SHELTER_EVACUATION
    return Path(file_name).stem


def read_gsi_shelters(path: str | Path, *, city_code: str | None = None, city_name: str | None = None,
                      source_name: str | None = None) -> gpd.GeoDataFrame:
    """Read a 国土地理院 指定緊急避難場所・指定避難所 list as downloaded, as points of one municipality.

    Reads the GSI site's per-municipality CSV (``33209_2.csv``: NO, 共通ID, 施設・場所名, 住所, the
    eight hazard flags 洪水 … 火山現象, 指定避難所との住所同一, 緯度, 経度, 備考), its national merged
    file (``mergeFromCity_2.csv``, with 都道府県名及び市町村名), the GeoJSON of either, the bundled
    per-municipality GeoJSON and the 自治体標準オープンデータセット form (名称, 住所, 緯度, 経度,
    災害種別_洪水 …). CSV in UTF-8 (with or without BOM) or Shift_JIS.

    Parameters
    ----------
    path
        The file.
    city_code
        Keep the places of this municipality (5 digits): by 共通ID (``E`` + the code), else a code
        column, else the address (needs ``city_name``). None keeps every row.
    city_name
        The municipality's name (高梁市, 小田郡矢掛町), for files without 共通ID or code.
    source_name
        Name used in messages; defaults to the file name.

    Returns
    -------
    GeoDataFrame
        The bundled layout: ``施設・場所名``, ``住所``, ``共通ID``, the hazard columns present (``"1"``
        when designated for it), points in EPSG:4326. ``attrs["designation"]`` is 指定緊急避難場所 or
        指定避難所; ``attrs["skipped"]`` counts rows left out (no usable position, other municipality).
    """
    path = Path(path)
    source = source_name or path.name
    frame, x, y = _read_points_table(path, source)
    cols = _columns(frame.columns, _SHELTER_HEADERS)
    if "name" not in cols:
        msg = "国土地理院の避難場所・避難所のファイルに見えません: 「施設・場所名」の列がありません"
        raise InputDataError(msg, en="not a GSI shelter list: no 施設・場所名 column", source=source,
                             hint=f"ある列: {'、'.join(map(str, list(frame.columns)[:15]))}",
                             hint_en=f"columns present: {list(frame.columns)[:15]}")
    if x is None:
        missing = [label for role, label in (("lat", "緯度"), ("lon", "経度")) if role not in cols]
        if missing:
            msg = f"避難場所・避難所の表に「{'」「'.join(missing)}」の列がありません"
            raise InputDataError(msg, en=f"the shelter table has no {'/'.join(missing)} column", source=source,
                                 hint="国土地理院のサイトの CSV をそのまま置いてください（緯度・経度の列があります）",
                                 hint_en="use the CSV as downloaded from the GSI site (it has 緯度 and 経度)")
        x, y = _lon_lat(frame, cols["lon"], cols["lat"])
    designation = _shelter_designation(frame.columns, path.name)
    hazards = {}
    headers = {_header(c): c for c in frame.columns}
    for h in SHELTER_HAZARDS:
        col = headers.get(_header(h)) or headers.get(_header(f"災害種別_{h}"))
        if col is not None:
            hazards[h] = frame[col].map(_text)
    skipped = {"位置がない・日本の外": 0, "ほかの市区町村": 0}
    keep = np.ones(len(frame), dtype=bool)
    if city_code is not None:
        keep = np.array(_shelter_rows_of(frame, cols, _five_digit(city_code), city_name, source), dtype=bool)
        skipped["ほかの市区町村"] = int((~keep).sum())
    rows = np.arange(1, len(frame) + 1)
    usable = _usable_positions(x, y, source=source, rows=rows)
    skipped["位置がない・日本の外"] = int((keep & ~usable).sum())
    keep &= usable
    if not keep.any():
        where = f"市区町村コード {city_code} の" if city_code else ""
        msg = f"{where}避難場所・避難所で位置（緯度・経度）の使える行がありません"
        raise InputDataError(msg, en="no shelter rows with a usable position", source=source,
                             hint="緯度・経度が10進数の度で入った国土地理院の CSV か確かめてください",
                             hint_en="check the file is the GSI CSV with decimal-degree 緯度/経度")
    out = gpd.GeoDataFrame(
        {"施設・場所名": frame[cols["name"]].map(_text).to_numpy()[keep],
         "住所": (frame[cols["address"]].map(_text).to_numpy()[keep] if "address" in cols else ""),
         "共通ID": (frame[cols["common_id"]].map(_text).to_numpy()[keep] if "common_id" in cols else ""),
         **{h: v.to_numpy()[keep] for h, v in hazards.items()}},
        geometry=gpd.points_from_xy(x[keep], y[keep]), crs=STORAGE_CRS,
    )
    out.attrs["designation"] = designation
    out.attrs["skipped"] = skipped
    return out


def _shelter_rows_of(frame: pd.DataFrame, cols: dict[str, str], code: str, city_name: str | None,
                     source: str) -> np.ndarray:
    """Rows of municipality ``code``: by 共通ID (E + code), a code column, else the address."""
    present: list[str] = []
    if "common_id" in cols:
        ids = frame[cols["common_id"]].map(_text)
        id_codes = ids.str.extract(r"^[A-Za-z]?(\d{5})", expand=False)
        if id_codes.notna().all():
            present = sorted(set(id_codes))
            if code in present:
                return (id_codes == code).to_numpy()
    if "code" in cols:
        codes = frame[cols["code"]].map(_text).str.zfill(5).str[:5]
        present = present or sorted(c for c in set(codes) if c.isdigit())
        if code in set(codes):
            return (codes == code).to_numpy()
    if not present and city_name:
        where = frame[cols["address"]] if "address" in cols else frame[cols["city"]] if "city" in cols else None
        if where is not None:
            inside = where.map(lambda a: _in_city(_text(a), city_name)).to_numpy(dtype=bool)
            if inside.any():
                return inside
    if not present:
        # A per-municipality download names no municipality in its rows: take it as the city's.
        return np.ones(len(frame), dtype=bool)
    msg = f"市区町村コード {code} の避難場所・避難所はこのファイルにありません"
    raise UnknownMunicipalityError(msg, en=f"no shelters of municipality {code} in this file", source=source,
                                   hint=f"ある市区町村コード: {'、'.join(present[:40])}",
                                   hint_en=f"codes present: {', '.join(present[:40])}")


def read_food_permit_table(path: str | Path, *, city_code: str | None = None, city_name: str | None = None,
                           source_name: str | None = None) -> pd.DataFrame:
    """Read food-business permits and notifications as downloaded, as the bundled conversion's records.

    Reads 厚生労働省 食品衛生申請等システム's open data (``33000_food_business_all.csv``, one file per
    health-centre authority: 自治体コード, 行番号, 都道府県名, 市区町村名, 営業施設名称、屋号又は商号,
    its フリガナ, 営業の種類, 業態, 営業施設所在地, 営業施設方書, 緯度, 経度, 営業施設電話番号, 法人名 …,
    許可番号, 許可年月日, 許可開始日, 許可満了日, 廃業年月日, 申請区分, 許可条件, 備考), and the
    自治体標準オープンデータセット 食品等営業許可・届出一覧 or a prefecture's list with 施設の名称 /
    営業所名称, 施設の所在地 / 所在地_連結表記, 業種 / 営業の種類, 緯度, 経度. CSV in UTF-8 (with or
    without BOM) or Shift_JIS, or Excel. Operators' names and addresses are not read.

    Parameters
    ----------
    path
        The file.
    city_code
        5-digit code of the municipality; a file whose authority codes are all of another
        prefecture is refused.
    city_name
        Keep the premises whose address (with or without the prefecture) is in this municipality
        (高梁市, 小田郡矢掛町); an authority's file covers many. None keeps every row.
    source_name
        Name used in messages; defaults to the file name.

    Returns
    -------
    DataFrame
        One row per permit with the bundled JSON's keys: ``name``, ``name_kana``, ``business_type``,
        ``address``, ``lat``, ``lng``, ``phone``, ``license_no``, ``license_date``, ``expire_date``.
        Closed premises (廃業), rows without a position in Japan and other municipalities' rows are
        left out and counted in ``attrs["skipped"]``; no rows when the municipality is not in the file.
    """
    from gis.io import read_table

    path = Path(path)
    source = source_name or path.name
    frame = read_table(path, source_name=source)
    cols = _columns(frame.columns, _PERMIT_HEADERS)
    missing = [label for role, label in (("name", "営業施設名称、屋号又は商号"), ("business_type", "営業の種類"),
                                         ("address", "営業施設所在地")) if role not in cols]
    if missing:
        msg = f"食品営業許可のオープンデータに見えません: 「{'」「'.join(missing)}」にあたる列がありません"
        raise InputDataError(msg, en=f"not food-permit open data: no column for {missing}", source=source,
                             hint=f"ある列: {'、'.join(map(str, list(frame.columns)[:15]))}",
                             hint_en=f"columns present: {list(frame.columns)[:15]}")
    if "lat" not in cols or "lon" not in cols:
        msg = "食品営業許可の表に「緯度」「経度」の列がありません"
        raise InputDataError(msg, en="the food-permit table has no 緯度/経度 columns", source=source,
                             hint="食品衛生申請等システムのオープンデータ CSV（緯度・経度つき）をそのまま置いてください",
                             hint_en="use the 食品衛生申請等システム open-data CSV as downloaded (it has 緯度/経度)")
    if city_code is not None and "code" in cols:
        pref = _five_digit(city_code)[:2]
        codes = {c[:2] for c in frame[cols["code"]].map(_text) if c[:2].isdigit()}
        if codes and pref not in codes:
            msg = f"この食品営業許可のファイルは別の都道府県のもの（自治体コード {'、'.join(sorted(codes))}）です"
            raise UnknownMunicipalityError(msg, en=f"this food-permit file is of another prefecture ({sorted(codes)})",
                                           source=source,
                                           hint=f"都道府県コード {pref} の保健所設置主体のファイルを置いてください",
                                           hint_en=f"use the file of an authority of prefecture {pref}")

    def col(role: str) -> pd.Series:
        return frame[cols[role]].map(_text) if role in cols else pd.Series("", index=frame.index)

    skipped = {"廃業": 0, "ほかの市区町村": 0, "位置がない・日本の外": 0}
    keep = np.ones(len(frame), dtype=bool)
    closed = (col("closed") != "").to_numpy() | col("status").str.contains("廃業").to_numpy()
    skipped["廃業"] = int(closed.sum())
    keep &= ~closed
    if city_name:
        inside = col("address").map(lambda a: _in_city(a, city_name)).to_numpy(dtype=bool)
        skipped["ほかの市区町村"] = int((keep & ~inside).sum())
        keep &= inside
    lon, lat = _lon_lat(frame, cols["lon"], cols["lat"])
    usable = _usable_positions(lon, lat, source=source, rows=np.arange(1, len(frame) + 1))
    skipped["位置がない・日本の外"] = int((keep & ~usable).sum())
    keep &= usable
    if not usable.any():
        msg = "営業施設で位置（緯度・経度）の使える行がありません"
        raise InputDataError(msg, en="no premises with a usable position in the file", source=source,
                             hint="緯度・経度が10進数の度で入ったオープンデータの CSV か確かめてください",
                             hint_en="check the file is the open-data CSV with decimal-degree 緯度/経度")
    out = pd.DataFrame({
        "name": col("name"), "name_kana": col("name_kana"), "business_type": col("business_type"),
        "address": col("address"), "lat": lat, "lng": lon, "phone": col("phone"),
        "license_no": col("license_no"), "license_date": col("license_date"), "expire_date": col("expire_date"),
    })[keep].reset_index(drop=True)
    # Empty when the municipality is another authority's (倉敷市 licenses its own premises).
    out.attrs["skipped"] = skipped
    return out
