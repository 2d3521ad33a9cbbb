"""Read the files users bring (vector layers, CSV/Excel tables, e-Stat tables) and check them on the way in."""

from __future__ import annotations

import csv
import io
import re
import unicodedata
import zipfile
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from gis.crs import STORAGE_CRS, in_japan
from gis.errors import InputDataError

#: Columns tried, in order, to label a feature in messages (besides its 1-based number).
_LABEL_COLUMNS = (
    "id", "fid", "key_code", "共通id", "code", "resource_id", "area_id", "station_id",
    "name", "名称", "施設名", "施設・場所名", "moji", "n03_004", "a27_007", "a32_008",
)

#: e-Stat columns that are not counts.
ESTAT_META_COLUMNS = ("KEY_CODE", "HYOSYO", "CITYNAME", "NAME", "HTKSYORI", "HTKSAKI", "GASSAN")

#: Marks e-Stat puts in value cells that are not published (秘匿) or not applicable.
_ESTAT_MISSING = {"*", "-", "－", "ー", "X", "x", "…", "...", ""}

_TABLE_SUFFIXES = {".csv", ".tsv", ".txt", ".xlsx", ".xlsm"}

_CJK = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")
# Characters UTF-8 Japanese turns into when its bytes are read as cp932 (縺 = E3 81, 繧 = E3 82 ...).
_UTF8_AS_CP932 = re.compile(r"[縺繧繝譁蜷莉隱髢]")
# Characters of the Latin-1 / cp1252 upper half (what cp932 or UTF-8 bytes become when read as Latin-1).
_LATIN_HIGH = re.compile(r"[\u0080-\u00ff\u0152\u0153\u0160\u0161\u0178\u017d\u017e\u0192\u02c6\u02dc\u2013\u2014\u2018-\u201e\u2020-\u2022\u2026\u2030\u2039\u203a\u20ac\u2122]")


# --------------------------------------------------------------------------------------------
# vector layers
# --------------------------------------------------------------------------------------------


def read_vector(
    path: str | Path,
    *,
    layer: str | None = None,
    crs: str | None = None,
    source_name: str | None = None,
    repair: bool = False,
    encoding: str | None = None,
) -> gpd.GeoDataFrame:
    """Read a vector layer (GeoJSON, TopoJSON, zipped Shapefile, GeoPackage ...) and check it.

    Parameters
    ----------
    path
        File to read. A ``.zip`` is opened through GDAL's ``/vsizip/`` and the Shapefile
        (or other layer file) inside it is read.
    layer
        Layer to read when the file holds several (GeoPackage, TopoJSON with several objects).
    crs
        CRS the coordinates are in, when the file carries none or carries a wrong one
        (e.g. ``"EPSG:6673"`` for metres in JGD2011 zone V, 岡山県). Overrides the file's label.
    source_name
        Name used in messages (the upload's name); defaults to the file name.
    repair
        Fix invalid geometries with :func:`shapely.make_valid` instead of raising. The labels of
        the repaired features are listed in ``gdf.attrs["repaired"]``.
    encoding
        Text encoding of a Shapefile's attributes when its .cpg does not say (e.g. ``"cp932"``
        for the Shift_JIS files of e-Stat and 国土数値情報).

    Returns
    -------
    geopandas.GeoDataFrame
        The layer in EPSG:4326, with ``attrs["repaired"]`` (labels of fixed features) and
        ``attrs["dropped"]`` (labels of features without geometry, dropped only with ``repair``).

    Raises
    ------
    InputDataError
        When the file is missing, empty or unreadable, has several layers and none was chosen,
        has no CRS and is not longitude/latitude, is labelled longitude/latitude but holds metres,
        has longitude and latitude swapped, or has a missing or invalid geometry (without
        ``repair``). The message names the file and the feature.
    """
    path = Path(path)
    source = source_name or path.name
    _check_file(path, source)
    target, layer = _gdal_target(path, source, layer)
    try:
        gdf = pyogrio.read_dataframe(target, layer=layer, encoding=encoding)
    except Exception as exc:  # pyogrio raises several error classes (DataSourceError, DataLayerError ...)
        raise _not_a_layer(exc, source) from exc
    if not isinstance(gdf, gpd.GeoDataFrame) or gdf.geometry.name not in gdf.columns:
        msg = "位置（図形）の列がありません。地図のレイヤーではなく表のファイルです"
        raise InputDataError(
            msg, en="the file has no geometry column; it is a table, not a map layer", source=source,
            hint="表として取り込んでください（緯度・経度の列がある CSV・Excel）",
            hint_en="use a table upload (CSV/Excel with 緯度/経度 columns)",
        )
    if len(gdf) == 0:
        msg = "レイヤーに地物が1つもありません"
        raise InputDataError(
            msg, en="the layer has no features", source=source,
            hint="書き出したファイル・レイヤーが正しいか確かめてください",
            hint_en="check that the right file or layer was exported",
        )
    gdf = gdf.reset_index(drop=True)
    gdf.attrs = {}
    labels = _feature_labels(gdf)
    gdf, labels, dropped = _check_missing_geometry(gdf, source, labels, drop=repair)
    if crs is not None:
        try:
            gdf = gdf.set_crs(crs, allow_override=True)
        except Exception as exc:
            msg = f"座標系「{crs}」は知られていない座標系です（{_short(exc)}）"
            raise InputDataError(
                msg, en=f"{crs!r} is not a CRS GDAL knows ({_short(exc)})", source=source,
                hint="「EPSG:6673」のような EPSG コードで指定してください",
                hint_en="give an EPSG code such as 'EPSG:6673'",
            ) from exc
    gdf = _check_crs(gdf, source, labels, declared=crs is not None or _declares_crs(target))
    gdf, repaired = _check_validity(gdf, source, labels, repair=repair)
    gdf = gdf.to_crs(STORAGE_CRS)
    gdf.attrs["repaired"] = repaired
    gdf.attrs["dropped"] = dropped
    return gdf


def _not_a_layer(exc: Exception, source: str) -> InputDataError:
    """The error for a file GDAL cannot open or read as a map layer (listing its layers or reading them)."""
    msg = f"地図のレイヤーとして読めませんでした（{_short(exc)}）"
    return InputDataError(
        msg, en=f"could not read the file as a map layer ({_short(exc)})", source=source,
        hint="GeoJSON・TopoJSON・GeoPackage、または .shp・.shx・.dbf・.prj をまとめた zip（シェープファイル）を指定してください",
        hint_en="upload GeoJSON, TopoJSON, a GeoPackage or a zipped Shapefile (.shp with .shx, .dbf and .prj)",
    )


def _check_file(path: Path, source: str) -> None:
    if not path.exists():
        msg = f"ファイルが見つかりません（{path}）"
        raise InputDataError(
            msg, en=f"file not found at {path}", source=source,
            hint="場所（パス）を確かめるか、もう一度アップロードしてください",
            hint_en="check the path or upload the file again",
        )
    if path.is_dir():
        msg = f"{path} はフォルダーで、ファイルではありません"
        raise InputDataError(
            msg, en=f"{path} is a folder, not a file", source=source,
            hint="ファイルそのものを指定してください（シェープファイルは構成ファイルを zip にまとめて）",
            hint_en="give the file itself (zip a Shapefile's parts)",
        )
    if path.stat().st_size == 0:
        msg = "ファイルが空です（0 バイト）"
        raise InputDataError(
            msg, en="the file is empty (0 bytes)", source=source,
            hint="アップロードか書き出しに失敗したようです。もう一度書き出してください",
            hint_en="the upload or export may have failed; export it again",
        )


def _gdal_target(path: Path, source: str, layer: str | None) -> tuple[str, str | None]:
    """Return the GDAL path to open and the layer to read (checked against the file's layers)."""
    target = str(path)
    if path.suffix.lower() == ".zip":
        target = _zip_target(path, source)
    try:
        layers = [str(name) for name, _ in pyogrio.list_layers(target)]
    except Exception as exc:
        raise _not_a_layer(exc, source) from exc
    if not layers:
        msg = "ファイルにレイヤーがありません"
        raise InputDataError(msg, en="the file holds no layer", source=source)
    if layer is None:
        if len(layers) > 1:
            msg = f"ファイルに {len(layers)} 個のレイヤーがあります: {'、'.join(layers)}"
            raise InputDataError(
                msg, en=f"the file holds {len(layers)} layers: {', '.join(layers)}", source=source,
                hint="どれか1つを選んでください（layer=...）", hint_en="choose one of them (layer=...)",
            )
        return target, None
    if layer not in layers:
        msg = f"レイヤー「{layer}」はファイルにありません。あるのは {'、'.join(layers)} です"
        raise InputDataError(
            msg, en=f"no layer {layer!r} in the file; its layers are {', '.join(layers)}", source=source,
            hint="この中から選んでください", hint_en="choose one of those layers",
        )
    return target, layer


def _zip_target(path: Path, source: str) -> str:
    try:
        with zipfile.ZipFile(path) as zf:
            names = [n for n in zf.namelist() if not n.endswith("/") and "__MACOSX" not in n]
    except zipfile.BadZipFile as exc:
        msg = "名前は .zip ですが、zip ファイルとして読めません"
        raise InputDataError(
            msg, en="the file ends in .zip but is not a readable zip archive", source=source,
            hint="レイヤーを zip にまとめ直して、もう一度アップロードしてください",
            hint_en="zip the layer again and re-upload",
        ) from exc
    preferred = (".shp", ".gpkg", ".geojson", ".json", ".topojson", ".kml", ".gml")
    for suffix in preferred:
        found = sorted(n for n in names if n.lower().endswith(suffix))
        if len(found) > 1 and suffix == ".shp":
            msg = f"zip にシェープファイルが {len(found)} 個入っています: {'、'.join(found)}"
            raise InputDataError(
                msg, en=f"the zip holds {len(found)} Shapefiles: {', '.join(found)}", source=source,
                hint="1つの zip には1つのレイヤーだけを入れてください", hint_en="zip one layer per file",
            )
        if found:
            return f"/vsizip/{path}/{found[0]}"
    listing = ", ".join(names[:10]) or "nothing"
    listing_ja = "、".join(names[:10]) or "なし"
    msg = f"zip の中に読める地図のレイヤーがありません（中身: {listing_ja}）"
    raise InputDataError(
        msg, en=f"the zip holds no readable map layer (found {listing})", source=source,
        hint="シェープファイルの zip には .shp・.shx・.dbf・.prj の4つを入れてください",
        hint_en="a zipped Shapefile needs the .shp, .shx, .dbf and .prj files inside",
    )


def _feature_labels(gdf: pd.DataFrame) -> list[str]:
    """Labels such as ``"3 (name='宇治小学校')"``: 1-based number plus id/name when there is one."""
    lower = {str(c).lower(): c for c in gdf.columns}
    column = next((lower[c] for c in _LABEL_COLUMNS if c in lower), None)
    numbers = [str(i + 1) for i in range(len(gdf))]
    if column is None:
        return numbers
    values = gdf[column].tolist()
    return [n if _blank(v) else f"{n} ({column}={v!r})" for n, v in zip(numbers, values)]


def _check_missing_geometry(
    gdf: gpd.GeoDataFrame, source: str, labels: list[str], *, drop: bool
) -> tuple[gpd.GeoDataFrame, list[str], list[str]]:
    # Published layers (e.g. N03 after TopoJSON simplification) can carry features whose tiny
    # islands vanished; with repair they are dropped and listed, otherwise refused.
    missing = np.asarray(gdf.geometry.isna() | gdf.geometry.is_empty)
    if not missing.any():
        return gdf, labels, []
    if not drop or missing.all():
        first = int(np.argmax(missing))
        msg = f"地物に位置（図形）がありません（{len(gdf)} 件中 {int(missing.sum())} 件）"
        raise InputDataError(
            msg, en=f"the feature has no geometry ({int(missing.sum())} of {len(gdf)} features have none)",
            source=source, feature=labels[first],
            hint="図形を描くか住所から位置を付けるか、その地物を削除してください",
            hint_en="draw or geocode it, or remove it",
        )
    dropped = [lab for lab, m in zip(labels, missing) if m]
    keep = ~missing
    return gdf[keep].reset_index(drop=True), [lab for lab, k in zip(labels, keep) if k], dropped


def _representative_xy(gdf: gpd.GeoDataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature midpoint of the bounding box (cheap and enough to tell degrees from metres)."""
    b = shapely.bounds(np.asarray(gdf.geometry.values))
    return (b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2


def _declares_crs(target: str) -> bool:
    """False for a GeoJSON/TopoJSON file without a ``crs`` member (GDAL then reports EPSG:4326)."""
    if target.startswith("/vsi") or not target.lower().endswith((".json", ".geojson", ".topojson")):
        return True
    with open(target, "rb") as fh:
        head = fh.read(1 << 18)
    return re.search(rb'"crs"\s*:', head) is not None


def _check_crs(gdf: gpd.GeoDataFrame, source: str, labels: list[str], *, declared: bool = True) -> gpd.GeoDataFrame:
    b = shapely.bounds(np.asarray(gdf.geometry.values))
    beyond = (np.abs(b[:, [0, 2]]) > 180).any(axis=1) | (np.abs(b[:, [1, 3]]) > 90).any(axis=1)
    geographic = gdf.crs is None or gdf.crs.is_geographic
    if geographic:
        _check_swapped(gdf, source, labels)
    if geographic and beyond.any():
        first = int(np.argmax(beyond))
        x, y = b[first, 0], b[first, 1]
        unlabelled = gdf.crs is None or not declared
        said = "carries no CRS" if unlabelled else f"is labelled {gdf.crs.to_string()} (longitude/latitude)"
        said_ja = "座標系の指定がありません" if unlabelled else f"座標系は {gdf.crs.to_string()}（経度・緯度）となっています"
        msg = (
            f"レイヤーの{said_ja}が、座標（{x:.1f}, {y:.1f}）が経度 ±180・緯度 ±90 の範囲を大きく外れています。"
            "メートル単位の平面直角座標のようです"
        )
        raise InputDataError(
            msg, source=source, feature=labels[first],
            en=f"the layer {said} but its coordinates ({x:.1f}, {y:.1f}) are far outside ±180/±90: "
            "they look like projected metres",
            hint="レイヤーの本当の座標系を指定してください。ふつうは JGD2011 平面直角座標系 EPSG:6669〜6687 です"
            "（岡山県なら crs='EPSG:6673'）。または .prj 付きで書き出し直してください",
            hint_en="give the layer's real CRS, usually a JGD2011 plane-rectangular zone EPSG:6669–6687 "
            "(e.g. crs='EPSG:6673' for 岡山県), or re-export it with its .prj",
        )
    if gdf.crs is None:
        gdf = gdf.set_crs(STORAGE_CRS)
    return gdf


def _check_swapped(gdf: gpd.GeoDataFrame, source: str, labels: list[str]) -> None:
    x, y = _representative_xy(gdf)
    swapped = looks_swapped(x, y)
    inside = looks_japanese(x, y)
    if swapped.sum() > len(gdf) / 2 and swapped.sum() > inside.sum():
        first = int(np.argmax(swapped))
        msg = (
            f"経度と緯度が入れ替わっているようです: {len(gdf)} 件中 {int(swapped.sum())} 件で、x が日本の緯度の範囲、"
            f"y が日本の経度の範囲にあります（最初の地物: x={x[first]:.4f}, y={y[first]:.4f}）"
        )
        raise InputDataError(
            msg, source=source, feature=labels[first],
            en=f"longitude and latitude look swapped: {int(swapped.sum())} of {len(gdf)} features have "
            f"x in Japan's latitude range and y in its longitude range (first: x={x[first]:.4f}, y={y[first]:.4f})",
            hint="x を経度、y を緯度にして書き出し直してください",
            hint_en="export the layer with x = longitude (経度) and y = latitude (緯度)",
        )


def looks_japanese(x, y) -> np.ndarray:
    """True where (x, y) = (longitude, latitude) falls in Japan's bounding box."""
    return np.asarray(in_japan(x, y))


def looks_swapped(x, y) -> np.ndarray:
    """True where (x, y) only falls in Japan read the other way round (latitude, longitude)."""
    return looks_japanese(y, x) & ~looks_japanese(x, y)


def _check_validity(
    gdf: gpd.GeoDataFrame, source: str, labels: list[str], *, repair: bool
) -> tuple[gpd.GeoDataFrame, list[str]]:
    geoms = np.asarray(gdf.geometry.values)
    invalid = ~shapely.is_valid(geoms)
    if not invalid.any():
        return gdf, []
    idx = np.flatnonzero(invalid)
    if not repair:
        first = int(idx[0])
        reason = shapely.is_valid_reason(geoms[first])
        more = f" ({len(idx)} invalid features in all)" if len(idx) > 1 else ""
        more_ja = f"（不正な地物は全部で {len(idx)} 件）" if len(idx) > 1 else ""
        msg = f"図形が不正です（自己交差など）: {reason}{more_ja}"
        raise InputDataError(
            msg, en=f"invalid geometry: {reason}{more}", source=source, feature=labels[first],
            hint="GIS ソフトで直す（QGIS の「ジオメトリを修正」など）か、repair=True で読み込んでください",
            hint_en="fix it in a GIS (e.g. QGIS 'Fix geometries') or read the file with repair=True",
        )
    polygonal = set(gdf.geom_type.dropna()) <= {"Polygon", "MultiPolygon"}
    fixed = shapely.make_valid(geoms[idx])
    if polygonal:
        fixed = np.array([_polygonal_part(g) for g in fixed], dtype=object)
        empty = shapely.is_empty(fixed)
        if empty.any():
            first = int(idx[np.argmax(empty)])
            msg = "不正なポリゴンを直すと面積がなくなります（線か点になってしまいます）"
            raise InputDataError(
                msg, en="invalid polygon has no area left once repaired (it collapses to lines or points)",
                source=source, feature=labels[first],
                hint="描き直すか、その地物を削除してください", hint_en="redraw or remove it",
            )
    gdf = gdf.copy()
    geoms = geoms.copy()
    geoms[idx] = fixed
    gdf = gdf.set_geometry(gpd.GeoSeries(geoms, index=gdf.index, crs=gdf.crs))
    return gdf, [labels[i] for i in idx]


def _polygonal_part(geom):
    if geom.geom_type in ("Polygon", "MultiPolygon"):
        return geom
    parts = [g for g in shapely.get_parts(geom) if g.geom_type in ("Polygon", "MultiPolygon")]
    polys = [p for g in parts for p in shapely.get_parts(g)]
    if not polys:
        return shapely.Polygon()
    return polys[0] if len(polys) == 1 else shapely.MultiPolygon(polys)


def _short(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:200]


def _blank(value) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


# --------------------------------------------------------------------------------------------
# tables
# --------------------------------------------------------------------------------------------


def read_table(
    path: str | Path,
    *,
    source_name: str | None = None,
    encoding: str | None = None,
    header_rows: int | None = None,
) -> pd.DataFrame:
    """Read a CSV, TSV or Excel (.xlsx) table with every cell as text.

    Parameters
    ----------
    path
        ``.csv``, ``.tsv``/``.txt`` (tab or comma separated) or ``.xlsx`` file.
    source_name
        Name used in messages (the upload's name); defaults to the file name.
    encoding
        Text encoding of a CSV; by default UTF-8 (with or without BOM) is tried, then
        Shift_JIS (cp932).
    header_rows
        Number of header rows (default 1). With more than one, columns are a MultiIndex.

    Returns
    -------
    pandas.DataFrame
        Cells as ``str`` (blank cells are missing), headers stripped of whitespace;
        ``attrs["encoding"]`` says how a CSV was decoded.

    Raises
    ------
    InputDataError
        When the file is missing, empty or has no data rows, is neither UTF-8 nor Shift_JIS,
        or holds mojibake (Japanese text already decoded with the wrong encoding). The message
        names the file and the first affected row.
    """
    path = Path(path)
    source = source_name or path.name
    _check_file(path, source)
    n_header = 1 if header_rows is None else int(header_rows)
    if n_header < 1:
        msg = f"見出しの行数（header_rows）は1以上にしてください（指定は {header_rows}）"
        raise InputDataError(msg, en=f"header_rows must be 1 or more, got {header_rows}", source=source)
    header = 0 if n_header == 1 else list(range(n_header))
    suffix = path.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        df = _read_excel(path, source, header)
        used = "xlsx"
    elif suffix == ".xls":
        msg = "古い Excel 形式（.xls）は読めません"
        raise InputDataError(
            msg, en="old Excel .xls files are not supported", source=source,
            hint=".xlsx か CSV（UTF-8）で保存し直して、もう一度アップロードしてください",
            hint_en="save the sheet as .xlsx or CSV (UTF-8) and upload again",
        )
    else:
        text, used = _decode(path.read_bytes(), source, encoding)
        _check_mojibake_lines(text.splitlines(), source, n_header)
        sep = "\t" if suffix == ".tsv" or _looks_tab_separated(text) else ","
        try:
            df = pd.read_csv(io.StringIO(text), sep=sep, header=header, dtype=str, skipinitialspace=False)
        except pd.errors.EmptyDataError as exc:
            msg = "ファイルに表がありません（空の行だけです）"
            raise InputDataError(
                msg, en="the file holds no table (only blank lines)", source=source,
                hint="表をもう一度書き出してください", hint_en="export the table again",
            ) from exc
        except (pd.errors.ParserError, csv.Error) as exc:
            msg = f"表として読めませんでした（{_short(exc)}）"
            raise InputDataError(
                msg, en=f"could not parse the table ({_short(exc)})", source=source,
                hint="どの行も見出しと同じ列数になっているか確かめてください",
                hint_en="check that every row has the same number of columns as the header",
            ) from exc
    df = _strip_headers(df)
    df = df.dropna(how="all").reset_index(drop=True)
    if len(df) == 0:
        msg = "見出しの行はありますが、データの行がありません"
        raise InputDataError(
            msg, en="the table has a header but no data rows", source=source,
            hint="見出しの下にデータの行を入れて、もう一度アップロードしてください",
            hint_en="add the rows below the header and upload again",
        )
    if suffix in (".xlsx", ".xlsm"):
        _check_mojibake_frame(df, source)
    df.attrs["encoding"] = used
    return df


def _read_excel(path: Path, source: str, header) -> pd.DataFrame:
    try:
        return pd.read_excel(path, header=header, dtype=str, engine="openpyxl")
    except ValueError as exc:
        if "empty" in str(exc).lower() or "no columns" in str(exc).lower():
            msg = "シートが空です"
            raise InputDataError(
                msg, en="the sheet is empty", source=source,
                hint="表を最初のシートに置いてください", hint_en="put the table on the first sheet",
            ) from exc
        msg = f"Excel ファイルを読めませんでした（{_short(exc)}）"
        raise InputDataError(
            msg, en=f"could not read the Excel file ({_short(exc)})", source=source,
            hint=".xlsx で保存し直してください", hint_en="save it again as .xlsx",
        ) from exc
    except Exception as exc:  # zipfile.BadZipFile, openpyxl errors
        msg = f"Excel ファイルを読めませんでした（{_short(exc)}）"
        raise InputDataError(
            msg, en=f"could not read the Excel file ({_short(exc)})", source=source,
            hint=".xlsx で保存し直してください", hint_en="save it again as .xlsx",
        ) from exc


def _decode(data: bytes, source: str, encoding: str | None) -> tuple[str, str]:
    if encoding is not None:
        try:
            return data.decode(encoding), encoding
        except (UnicodeDecodeError, LookupError) as exc:
            msg = f"ファイルが文字コード {encoding} のテキストとして読めません（{_short(exc)}）"
            raise InputDataError(
                msg, en=f"the file is not valid {encoding} text ({_short(exc)})", source=source,
                hint="文字コードを指定せずに読み込むと自動で判定します",
                hint_en="leave the encoding out to detect it",
            ) from exc
    for candidate in ("utf-8-sig", "cp932"):
        try:
            return data.decode(candidate), ("utf-8" if candidate == "utf-8-sig" else candidate)
        except UnicodeDecodeError:
            continue
    msg = "ファイルの文字コードが UTF-8 でも Shift_JIS（cp932）でもありません"
    raise InputDataError(
        msg, en="the file is neither UTF-8 nor Shift_JIS (cp932) text", source=source,
        hint="Excel の「CSV UTF-8（コンマ区切り）」で保存し直して、もう一度アップロードしてください",
        hint_en="save the table as 'CSV UTF-8' and upload it again",
    )


def _looks_tab_separated(text: str) -> bool:
    first = text.split("\n", 1)[0]
    return "\t" in first and "," not in first


def _strip_headers(df: pd.DataFrame) -> pd.DataFrame:
    if isinstance(df.columns, pd.MultiIndex):
        df.columns = pd.MultiIndex.from_tuples(
            [tuple(str(v).strip() for v in col) for col in df.columns]
        )
    else:
        df.columns = [str(c).strip() for c in df.columns]
    return df


def mojibake_reason(text: str, *, english: bool = False) -> str | None:
    """Say (in Japanese, or English with ``english=True``) why ``text`` looks like Japanese decoded
    with the wrong encoding, or None if it does not.

    Catches replacement characters (U+FFFD, Shift_JIS bytes read as UTF-8), Shift_JIS or UTF-8
    bytes read as Latin-1/cp1252 (``'\\x82Ì'``, ``'ã\\x81\\x82'``) and UTF-8 bytes read as
    Shift_JIS (``縺``, ``繧``, ``繝``).
    """
    reasons = _mojibake_reasons(text)
    return None if reasons is None else reasons[1 if english else 0]


def _mojibake_reasons(text: str) -> tuple[str, str] | None:
    """(Japanese, English) reason for :func:`mojibake_reason`."""
    if not text or text.isascii():
        return None
    if "\ufffd" in text:
        return "文字化けの記号（�）が入っています", "it contains replacement characters (�)"
    if len(_LATIN_HIGH.findall(text)) >= 2:
        for enc in ("cp1252", "latin-1"):
            try:
                raw = text.encode(enc)
            except UnicodeEncodeError:
                continue
            for dec in ("utf-8", "cp932"):
                try:
                    fixed = raw.decode(dec)
                except UnicodeDecodeError:
                    continue
                if _CJK.search(fixed):
                    return (f"文字コード {dec} で読み直すと日本語になります（「{fixed[:20]}」）",
                            f"it reads as Japanese once decoded as {dec} ({fixed[:20]!r})")
    if _UTF8_AS_CP932.search(text):
        try:
            fixed = text.encode("cp932").decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            fixed = None
        if fixed and _CJK.search(fixed):
            return (f"文字コード UTF-8 で読み直すと日本語になります（「{fixed[:20]}」）",
                    f"it reads as Japanese once decoded as UTF-8 ({fixed[:20]!r})")
        if len(_UTF8_AS_CP932.findall(text)) >= 2:
            return ("UTF-8 の文字を Shift_JIS として読んだときの「縺」「繧」「繝」のような文字が入っています",
                    "it contains 縺/繧/繝-style characters of UTF-8 text read as Shift_JIS")
    return None


def _mojibake_error(source: str, row: int | None, reasons: tuple[str, str]) -> InputDataError:
    where = "in the header" if row is None else "in this row"
    where_ja = "見出し" if row is None else "この行"
    msg = f"{where_ja}の文字が化けています（違う文字コードで読んだ日本語のようです）: {reasons[0]}"
    return InputDataError(
        msg, en=f"the text {where} looks like Japanese read with the wrong encoding: {reasons[1]}",
        source=source, row=row,
        hint="Shift_JIS のファイルを違う文字コードで開いて保存したようです。元のファイルを"
        "「CSV UTF-8（コンマ区切り）」で保存し直すか、元のファイルをそのままアップロードしてください",
        hint_en="the file looks like Shift_JIS text that was opened with the wrong encoding and saved; "
        "re-save the original as 'CSV UTF-8' or upload the original file unchanged",
    )


def _check_mojibake_lines(lines: list[str], source: str, n_header: int) -> None:
    for i, line in enumerate(lines):
        reason = _mojibake_reasons(line)
        if reason:
            raise _mojibake_error(source, None if i < n_header else i - n_header + 1, reason)


def _check_mojibake_frame(df: pd.DataFrame, source: str) -> None:
    for col in df.columns:
        reason = _mojibake_reasons(" ".join(map(str, col)) if isinstance(col, tuple) else str(col))
        if reason:
            raise _mojibake_error(source, None, reason)
    for i, row in enumerate(df.itertuples(index=False), start=1):
        reason = _mojibake_reasons(" ".join(str(v) for v in row if isinstance(v, str)))
        if reason:
            raise _mojibake_error(source, i, reason)


# --------------------------------------------------------------------------------------------
# e-Stat tables
# --------------------------------------------------------------------------------------------


def read_estat_table(path: str | Path, *, source_name: str | None = None) -> pd.DataFrame:
    """Read an e-Stat small-area (町丁・字) or mesh statistics CSV.

    The file has two header rows (column codes, then Japanese labels) and is usually
    Shift_JIS (cp932).

    Parameters
    ----------
    path
        The CSV as downloaded from e-Stat (Shift_JIS or UTF-8).
    source_name
        Name used in messages; defaults to the file name.

    Returns
    -------
    pandas.DataFrame
        Columns named by code (``KEY_CODE, HYOSYO, CITYNAME, NAME, HTKSYORI, HTKSAKI, GASSAN,
        T001082001 ...``); ``KEY_CODE``, ``HTKSAKI``, ``GASSAN`` as text, ``HYOSYO`` and
        ``HTKSYORI`` and the value columns as nullable ``Int64`` where ``*``/``-`` (not
        published) are ``<NA>``, never 0. ``attrs["labels"]`` maps each code to its Japanese label.

    Raises
    ------
    InputDataError
        When the file is not such a table (no ``KEY_CODE`` column, a single header row) or a
        value cell is not a number; the message names the file, row and column.
    """
    path = Path(path)
    source = source_name or path.name
    raw = read_table(path, source_name=source, header_rows=2)
    codes = [str(c[0]).strip() for c in raw.columns]
    labels = [str(c[1]).strip() for c in raw.columns]
    if "KEY_CODE" not in codes:
        msg = f"1行目の見出しに KEY_CODE の列がありません（あるのは {'、'.join(codes[:8])} など）"
        raise InputDataError(
            msg, en=f"no KEY_CODE column in the first header row (found {', '.join(codes[:8])} ...)",
            source=source,
            hint="e-Stat からダウンロードしたままの CSV を指定してください（1行目にコード、2行目に項目名）",
            hint_en="give the e-Stat CSV as downloaded: codes in row 1, labels in row 2",
        )
    if labels[codes.index("KEY_CODE")] == "KEY_CODE" or all(lbl.isascii() for lbl in labels):
        msg = "2行目の見出しに日本語の項目名がありません"
        raise InputDataError(
            msg, en="the second header row does not hold Japanese labels", source=source,
            hint="見出しの2行がそろった e-Stat の CSV を指定してください",
            hint_en="give the e-Stat CSV with both header rows",
        )
    df = raw.copy()
    df.columns = codes
    df.attrs = {"labels": dict(zip(codes, labels)), "encoding": raw.attrs.get("encoding")}
    df["KEY_CODE"] = df["KEY_CODE"].map(lambda v: None if _blank(v) else str(v).strip()).astype(object)
    for col in ("HTKSAKI", "GASSAN", "CITYNAME", "NAME"):
        if col in df.columns:
            df[col] = df[col].map(lambda v: None if _blank(v) else str(v).strip()).astype(object)
    for col in df.columns:
        if col in ("KEY_CODE", "HTKSAKI", "GASSAN", "CITYNAME", "NAME"):
            continue
        df[col] = _estat_numbers(df[col], source=source, column=col, label=df.attrs["labels"].get(col, ""))
    return df


def _estat_numbers(values: pd.Series, *, source: str, column: str, label: str) -> pd.Series:
    text = values.map(lambda v: "" if _blank(v) else str(v).strip().replace(",", ""))
    missing = text.isin(_ESTAT_MISSING)
    numbers = pd.to_numeric(text.where(~missing, None), errors="coerce")
    bad = numbers.isna() & ~missing
    if bad.any():
        i = int(np.argmax(bad.to_numpy()))
        msg = f"列 {column}（{label}）の値「{values.iloc[i]}」が数値でも「*」「-」でもありません"
        raise InputDataError(
            msg, en=f"column {column} ({label}) holds {values.iloc[i]!r}, not a number or '*'/'-'",
            source=source, row=i + 1,
            hint="e-Stat の表を手で直していないか確かめてください",
            hint_en="check the file is an unedited e-Stat table",
        )
    finite = numbers.dropna()
    if (finite != finite.round()).any():
        return numbers.astype("Float64")
    return numbers.round().astype("Int64")


def estat_age_columns(labels: dict[str, str]) -> dict[str, list[str]]:
    """Find the total, 65+ and 75+ columns of an e-Stat age table by their Japanese labels.

    Works on the 2010, 2015 and 2020 layouts: uses a ``65歳以上`` / ``75歳以上`` column of the
    both-sexes (総数) block when there is one, otherwise the five-year bands from 65 (75) up.

    Parameters
    ----------
    labels
        Code → label, as in ``read_estat_table(...).attrs["labels"]``.

    Returns
    -------
    dict
        ``{"population": [...], "pop_65plus": [...], "pop_75plus": [...]}``: the columns to sum
        for each (usually one). A key is missing when the table has no such column.

    Raises
    ------
    InputDataError
        When neither a total nor any age column is found.
    """
    both = {code: _norm_label(lbl) for code, lbl in labels.items() if _both_sexes(lbl)}
    out: dict[str, list[str]] = {}
    totals = [c for c, lbl in both.items() if lbl.startswith("総数") and ("不詳" in lbl or lbl == "総数")]
    if not totals:
        totals = [c for c, lbl in both.items() if lbl in ("総数", "人口総数", "総人口")]
    if totals:
        out["population"] = [totals[0]]
    for key, age in (("pop_65plus", 65), ("pop_75plus", 75)):
        cols = _age_from(both, age)
        if cols:
            out[key] = cols
    if not out:
        msg = "表の項目名に「総数」「65歳以上」「75歳以上」のどの列も見つかりません"
        raise InputDataError(
            msg, en="no total, 65歳以上 or 75歳以上 column found in the table's labels",
            hint="e-Stat の「年齢（5歳階級）別人口」の表を、項目名の行ごと指定してください",
            hint_en="give an e-Stat 年齢（5歳階級）別人口 table with its label row",
        )
    return out


def _norm_label(label: str) -> str:
    text = unicodedata.normalize("NFKC", str(label))
    return re.sub(r"\s+", "", text).replace("〜", "~").replace("～", "~").replace("－", "~")


def _both_sexes(label: str) -> bool:
    text = _norm_label(label)
    return not (text.startswith(("男", "女")) or "男の" in text or "女の" in text or "(男)" in text or "(女)" in text)


def _age_from(both: dict[str, str], age: int) -> list[str]:
    direct = [c for c, lbl in both.items() if re.search(rf"(?<!\d){age}歳以上", lbl)]
    if direct:
        return [direct[0]]
    bands = {}
    open_band = {}
    for code, lbl in both.items():
        m = re.search(r"(?<!\d)(\d+)~(\d+)歳", lbl)
        if m:
            bands.setdefault(int(m.group(1)), (int(m.group(2)), code))
            continue
        m = re.search(r"(?<!\d)(\d+)歳以上", lbl)
        if m:
            open_band.setdefault(int(m.group(1)), code)
    cols, lower = [], age
    while lower in bands:
        upper, code = bands[lower]
        cols.append(code)
        lower = upper + 1
    if cols and lower in open_band:
        return [*cols, open_band[lower]]
    return []


def is_table_file(path: str | Path) -> bool:
    """True for files :func:`read_table` reads (CSV, TSV, TXT, Excel)."""
    return Path(path).suffix.lower() in _TABLE_SUFFIXES
