"""Turn users' tables and public open data into resource points (salons, 公民館, shops, stations ...)."""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Sequence
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from data import manifest as _manifest
from gis import kinds as _kinds
from gis import opendata
from gis.crs import STORAGE_CRS
from gis.errors import InputDataError
from gis.io import _blank, is_table_file, looks_japanese, looks_swapped, read_table, read_vector
from gis.schema import RESOURCE_KINDS, coerce_resources

#: Header names (normalised: NFKC, lower case, no spaces) recognised for each role.
_COLUMN_NAMES = {
    "lat": ("緯度", "lat", "latitude", "y", "ido", "北緯"),
    "lon": ("経度", "lon", "lng", "long", "longitude", "x", "keido", "東経"),
    "name": ("名称", "施設名", "name", "施設・場所名", "店舗名", "サロン名", "名前", "事業所名"),
    "address": ("住所", "所在地", "address", "addr", "所在地住所"),
    "kind": ("種別", "kind", "種類", "分類", "resource_kind"),
    "id": ("id", "resource_id", "番号", "no", "no."),
}

#: Extra columns given a standard attribute name (see gis.schema.KIND_ATTRIBUTES).
_ATTRIBUTE_NAMES = {
    "開催日": "meeting_days", "開催曜日": "meeting_days", "開催時間": "meeting_hours",
    "営業時間": "opening_hours", "主催者": "organiser", "運営者": "organiser", "運営団体": "organiser",
    "定員": "capacity", "電話": "phone", "電話番号": "phone", "運行日": "days", "曜日": "days",
    "時刻": "time", "販売事業者": "operator", "路線": "routes",
}

#: Kind names users write, besides the English keys and the Japanese labels (gis/kinds.toml).
_KIND_SYNONYMS = _kinds.synonyms()

PDL_FOOD_ATTRIBUTION = _manifest()["food_permits"]["attribution"] + "（PDL1.0）"
GSI_SHELTER_ATTRIBUTION = _manifest()["shelters"]["attribution"]
RAIL_STATION_SOURCE = (
    "zaiyingzhao/Jinshin_Visualization (座標: uedayou.net jrslod); ライセンス記載なし・位置は未検証"
)


def _norm(text) -> str:
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", str(text))).lower()


def _kind_lookup() -> dict[str, str]:
    table = {}
    for key, label in RESOURCE_KINDS.items():
        table[_norm(key)] = key
        table[_norm(label)] = key
        for part in re.split(r"[・/]", label):
            table.setdefault(_norm(part), key)
    for word, key in _KIND_SYNONYMS.items():
        table[_norm(word)] = key
    return table


_KINDS = _kind_lookup()


def resource_kind(value) -> str | None:
    """Return the resource kind key for an English key, a Japanese label or a synonym (None if unknown)."""
    if _blank(value):
        return None
    return _KINDS.get(_norm(value))


def resources_from_table(
    df: pd.DataFrame,
    *,
    source_name: str,
    kind: str | None = None,
    id_column: str | None = None,
) -> gpd.GeoDataFrame:
    """Turn a table of places with coordinates into resource points.

    Parameters
    ----------
    df
        One row per place; Japanese or English headers: 緯度/lat/latitude/y, 経度/lon/lng/
        longitude/x, 名称/施設名/name, 住所/所在地/address, 種別/kind, ID/id. Other columns go
        into ``attributes`` (開催日 → ``meeting_days``, 営業時間 → ``opening_hours`` ...; others
        under their own header).
    source_name
        The file or upload the table came from; named in messages and stored as ``source``.
    kind
        Kind of every row (English key, Japanese label or a synonym such as サロン), used when
        the table has no 種別 column or a row leaves it blank.
    id_column
        Column holding the ids; by default an ``ID``/``id`` column, else ids are made from the
        source name and the row number.

    Returns
    -------
    geopandas.GeoDataFrame
        :func:`gis.schema.coerce_resources` output in EPSG:4326.

    Raises
    ------
    InputDataError
        Naming the row: missing or non-numeric coordinates, latitude and longitude swapped,
        coordinates outside Japan, unknown kind, duplicate ids, no coordinate columns.
    """
    return _build(df, source=source_name, kind=kind, id_column=id_column, xy=None)


def resources_from_file(
    path: str | Path,
    *,
    kind: str | None = None,
    source_name: str | None = None,
) -> gpd.GeoDataFrame:
    """Read resource points from a CSV/Excel table or a point layer (GeoJSON, GeoPackage, zip).

    Parameters
    ----------
    path
        Table (``.csv``, ``.tsv``, ``.xlsx``) with coordinate columns, or a vector file of points.
    kind
        Kind of every row when the file has no 種別/kind column.
    source_name
        Name used in messages and stored as ``source``; defaults to the file name.

    Returns
    -------
    geopandas.GeoDataFrame
        Resources as :func:`resources_from_table` returns them.
    """
    path = Path(path)
    source = source_name or path.name
    if path.suffix.lower() in (".csv", ".tsv", ".txt", ".xlsx", ".xlsm", ".xls"):
        return resources_from_table(read_table(path, source_name=source), source_name=source, kind=kind)
    gdf = read_vector(path, source_name=source)
    types = gdf.geom_type
    single = types == "MultiPoint"
    if single.any():
        counts = gdf.geometry[single].map(lambda g: len(g.geoms))
        if (counts == 1).all():
            gdf = gdf.set_geometry(gdf.geometry.map(lambda g: g.geoms[0] if g.geom_type == "MultiPoint" else g))
            types = gdf.geom_type
    bad = types != "Point"
    if bad.any():
        i = int(np.argmax(bad.to_numpy()))
        msg = f"地域資源は点で指定してください（{i + 1}番目の地物は {types.iloc[i]} です）"
        raise InputDataError(
            msg, en=f"resources must be points (feature {i + 1} is a {types.iloc[i]})", source=source, row=i + 1,
            hint="1か所につき1つの点にしてください", hint_en="give one point per place",
        )
    table = pd.DataFrame(gdf.drop(columns=gdf.geometry.name))
    return _build(table, source=source, kind=kind, id_column=None, xy=(gdf.geometry.x.to_numpy(), gdf.geometry.y.to_numpy()))


def _find_columns(df: pd.DataFrame) -> dict[str, str]:
    normalised = {}
    for col in df.columns:
        normalised.setdefault(_norm(col), col)
    found = {}
    for role, names in _COLUMN_NAMES.items():
        for name in names:
            if _norm(name) in normalised:
                found[role] = normalised[_norm(name)]
                break
    return found


def _build(
    df: pd.DataFrame, *, source: str, kind: str | None, id_column: str | None, xy: tuple | None
) -> gpd.GeoDataFrame:
    if df is None or len(df) == 0:
        msg = "表に行がありません"
        raise InputDataError(msg, en="the table has no rows", source=source,
                             hint="1か所につき1行を書いてください", hint_en="write one row per place")
    df = df.reset_index(drop=True)
    cols = _find_columns(df)
    if id_column is not None:
        if id_column not in df.columns:
            msg = f"列「{id_column}」がありません（ある列: {'、'.join(map(str, df.columns))}）"
            raise InputDataError(
                msg, en=f"no column {id_column!r} (columns: {', '.join(map(str, df.columns))})", source=source
            )
        cols["id"] = id_column
    default_kind = None
    if kind is not None:
        default_kind = resource_kind(kind)
        if default_kind is None:
            msg = f"種別「{kind}」はありません（使える種別: {_known_kinds()}）"
            raise InputDataError(
                msg,
                en=f"unknown kind {kind!r}",
                source=source,
                hint="種別の一覧は tsunagu kinds で確かめられます",
                hint_en="tsunagu kinds lists the kinds",
            )
    if xy is None:
        if "lat" not in cols or "lon" not in cols:
            msg = (f"座標の列がありません: 緯度と経度の列が要ります（ある列: {'、'.join(map(str, df.columns))}）")
            raise InputDataError(
                msg, en=f"no coordinate columns: latitude and longitude are needed (columns: {', '.join(map(str, df.columns))})",
                source=source,
                hint="緯度・経度の列を10進数の度で加えてください（例: 34.79、133.62）。住所の列（住所・所在地）があれば住所から位置を求めます",
                hint_en="add latitude and longitude columns in decimal degrees (e.g. 34.79, 133.62); "
                "with an address column (住所/所在地) the places are found from their addresses",
            )
        lon, lat = _coordinates(df, cols, source)
    else:
        lon, lat = (np.asarray(v, dtype=float) for v in xy)
    _check_positions(lon, lat, source)
    kinds = _kinds(df, cols.get("kind"), default_kind, source)
    ids = _ids(df, cols.get("id"), source)
    used = {c for role, c in cols.items() if role in ("lat", "lon", "name", "address", "kind", "id")}
    if xy is not None:
        used |= {c for role, c in cols.items() if role in ("lat", "lon")}
    extra = [c for c in df.columns if c not in used]
    attributes = [_attributes(row, extra) for row in df[extra].itertuples(index=False)] if extra else [{}] * len(df)
    name = df[cols["name"]].map(lambda v: "" if _blank(v) else str(v).strip()) if "name" in cols else ""
    address = df[cols["address"]].map(lambda v: "" if _blank(v) else str(v).strip()) if "address" in cols else ""
    gdf = gpd.GeoDataFrame(
        {
            "resource_id": ids,
            "kind": kinds,
            "name": name,
            "address": address,
            "attributes": attributes,
            "source": source,
            "is_sample": False,
        },
        geometry=gpd.points_from_xy(lon, lat),
        crs=STORAGE_CRS,
    )
    return coerce_resources(gdf)


def _coordinates(df: pd.DataFrame, cols: dict[str, str], source: str) -> tuple[np.ndarray, np.ndarray]:
    out = []
    for role, label, label_en in (("lon", "経度", "longitude"), ("lat", "緯度", "latitude")):
        raw = df[cols[role]]
        text = raw.map(lambda v: None if _blank(v) else unicodedata.normalize("NFKC", str(v)).strip())
        values = pd.to_numeric(text, errors="coerce")
        bad = values.isna()
        if bad.any():
            i = int(np.argmax(bad.to_numpy()))
            if _blank(raw.iloc[i]):
                msg = f"{label}の列「{cols[role]}」が空欄です"
                en = f"the {label_en} column {cols[role]!r} is blank"
            else:
                msg = f"{label}の列「{cols[role]}」の値「{raw.iloc[i]}」は数値ではありません"
                en = f"the {label_en} column {cols[role]!r} holds {raw.iloc[i]!r}, not a number"
            more = int(bad.sum())
            if more > 1:
                msg += f"（{label}が使えない行は全部で {more} 行）"
                en += f" ({more} rows without a usable {label_en})"
            raise InputDataError(
                msg, en=en, source=source, row=i + 1,
                hint="10進数の度で書いてください（例: 34.7889、133.6166）。緯度・経度の列をなくして住所の列だけにすると、住所から位置を求めます",
                hint_en="write decimal degrees (e.g. 34.7889, 133.6166); without latitude/longitude columns, "
                "an address column places the rows from their addresses",
            )
        out.append(values.to_numpy(dtype=float))
    return out[0], out[1]


def _check_positions(lon: np.ndarray, lat: np.ndarray, source: str) -> None:
    swapped = looks_swapped(lon, lat)
    if swapped.any():
        rows = np.flatnonzero(swapped)
        listed = ", ".join(str(r + 1) for r in rows[:10]) + (" ..." if len(rows) > 10 else "")
        i = int(rows[0])
        msg = f"緯度と経度が入れ替わっているようです（緯度={lat[i]}、経度={lon[i]}。該当する行: {listed}）"
        raise InputDataError(
            msg, en=f"latitude and longitude look swapped (latitude={lat[i]}, longitude={lon[i]}; rows {listed})",
            source=source, row=i + 1,
            hint="日本では緯度がおよそ 20〜46、経度がおよそ 122〜154 です。列を入れ替えてください",
            hint_en="in Japan latitude is about 20–46 and longitude about 122–154; swap the columns",
        )
    outside = ~looks_japanese(lon, lat)
    if outside.any():
        i = int(np.argmax(outside))
        msg = f"位置（緯度={lat[i]}、経度={lon[i]}）が日本の外です"
        en = f"the position (latitude={lat[i]}, longitude={lon[i]}) is outside Japan"
        more = int(outside.sum())
        if more > 1:
            msg += f"（全部で {more} 行）"
            en += f" ({more} rows in all)"
        raise InputDataError(
            msg, en=en, source=source, row=i + 1,
            hint="座標が JGD2011/WGS84 の10進数の度か確かめてください（メートルや度分秒ではありません）",
            hint_en="check the coordinates are JGD2011/WGS84 decimal degrees (not metres or degrees-minutes-seconds)",
        )


def _known_kinds() -> str:
    return "、".join(f"{v}（{k}）" for k, v in RESOURCE_KINDS.items())


def _kinds(df: pd.DataFrame, column: str | None, default: str | None, source: str) -> list[str]:
    if column is None:
        if default is None:
            msg = "種別の列がなく、種別の指定もありません"
            raise InputDataError(
                msg, en="no kind column and no kind given", source=source,
                hint=f"種別の列を加えるか、全行の種別を選んでください（使える種別: {_known_kinds()}）",
                hint_en="add a kind column or choose one kind for every row (tsunagu kinds lists them)",
            )
        return [default] * len(df)
    out = []
    for i, value in enumerate(df[column].tolist()):
        key = resource_kind(value)
        if key is None and _blank(value):
            key = default
        if key is None:
            shown = "空欄" if _blank(value) else f"「{value}」"
            msg = f"種別の列「{column}」の値 {shown} は知らない種別です（使える種別: {_known_kinds()}）"
            raise InputDataError(
                msg, en=f"the kind column {column!r} holds {'a blank' if _blank(value) else repr(value)}, not a known kind",
                source=source, row=i + 1,
                hint="使える種別の日本語名かキーを書いてください（一覧: tsunagu kinds）",
                hint_en="write a kind's Japanese name or key (tsunagu kinds lists them)",
            )
        out.append(key)
    return out


def _ids(df: pd.DataFrame, column: str | None, source: str) -> list[str]:
    if column is None:
        stem = Path(source).stem or "resource"
        return [f"{stem}-{i + 1}" for i in range(len(df))]
    values = df[column].map(lambda v: None if _blank(v) else _id_text(v))
    blank = values.isna()
    if blank.any():
        i = int(np.argmax(blank.to_numpy()))
        msg = f"ID の列「{column}」が空欄です"
        raise InputDataError(
            msg, en=f"the ID column {column!r} is blank", source=source, row=i + 1,
            hint="すべての行に ID を書くか、ID の列を消して自動で付けてください",
            hint_en="give every row an ID, or drop the ID column to number them automatically",
        )
    dup = values[values.duplicated(keep=False)]
    if len(dup):
        parts, parts_en = [], []
        for value in list(dict.fromkeys(dup))[:10]:
            rows = ", ".join(str(i + 1) for i in np.flatnonzero((values == value).to_numpy()))
            parts.append(f"「{value}」が {rows} 行目")
            parts_en.append(f"{value!r} on rows {rows}")
        first = int(np.flatnonzero(values.duplicated(keep=False).to_numpy())[0])
        msg = f"ID が重複しています: {'、'.join(parts)}"
        raise InputDataError(
            msg, en=f"duplicate IDs: {'; '.join(parts_en)}", source=source, row=first + 1,
            hint="1か所ごとに別の ID を付けてください", hint_en="give every place its own ID",
        )
    return values.tolist()


def _id_text(value) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _attributes(row, columns: list) -> dict:
    out = {}
    for col, value in zip(columns, row):
        if _blank(value):
            continue
        key = _ATTRIBUTE_NAMES.get(str(col).strip(), str(col).strip())
        out[key] = _plain(value)
    return out


def _plain(value):
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, (str, int, float, bool)):
        return value.strip() if isinstance(value, str) else value
    return str(value)


# --------------------------------------------------------------------------------------------
# real open data of western Okayama (see ../shared/data/README.md)
# --------------------------------------------------------------------------------------------

_DRUGSTORE = re.compile(r"ドラッグ|薬局|薬品|ザグザグ|ウエルシア|くすりの|マツモトキヨシ|ツルハ|ウォンツ")
_CONVENIENCE = re.compile(r"セブン.?イレブン|ローソン|ファミリーマート|ミニストップ|デイリーヤマザキ|ポプラ|セーブオン")
_SUPERMARKET = re.compile(
    r"スーパー|マルナカ|ハローズ|ハピーズ|ディオ|エブリイ|ザ・ビッグ|ニシナ|マルイ|コープ|フレスタ|"
    r"マックスバリュ|新鮮市場|キョーエイ|ゆめマート|フードセンター"
)
_MOBILE_ADDRESS = re.compile(r"県内一円|市内一円|町内一円|管内一円")
#: Reasons a food permit is left out (the keys of ``attrs["skipped"]``, shown to users as they are).
_NOT_FOOD, _MOBILE, _NO_XY = "食料品店ではない", "移動販売（店舗の住所なし）", "緯度・経度なし"

#: Food-permit categories (business_type without its circled number) and the kind they give.
FOOD_PERMIT_KINDS = {
    "コンビニエンスストア": "convenience_store",
    "百貨店、総合スーパー": "department_store",
    "野菜果物販売業": "greengrocer",
    "魚介類販売業": "fishmonger",
    "食肉販売業": "butcher",
    "その他の食料・飲料販売業": "grocery",
    # Notification (届出) categories for shops selling packaged meat or fish only: small
    # general stores in rural areas, village co-op shops, convenience stores.
    "食肉販売業（包装済みの食肉のみの販売）": "grocery",
    "魚介類販売業（包装済みの魚介類のみの販売）": "grocery",
}
#: Other retail categories: they make a shop only when its name says drugstore or convenience store.
_RETAIL_ONLY_BY_NAME = {"乳類販売業", "米穀類販売業", "弁当販売業"}
_KIND_PRIORITY = ["convenience_store", "drugstore", "supermarket", "department_store",
                  "butcher", "fishmonger", "greengrocer", "grocery"]


def _category(business_type: str) -> str:
    return re.sub(r"^[\u2460-\u24ff\u3251-\u32bf\d\s]+", "", str(business_type)).strip()


def _shop_key(name: str, address: str) -> str:
    addr = _norm(address)
    addr = re.sub(r"^(北海道|東京都|京都府|大阪府|.{2,3}県)", "", addr)
    addr = addr.replace("番地の", "-").replace("番地", "-").replace("番", "-").replace("号", "").replace("ー", "-").replace("−", "-")
    return f"{_norm(name)}|{addr.rstrip('-')}"


def _food_kind(name: str, categories: set[str]) -> str | None:
    """The rule: name first (drugstore, convenience chain), then category priority."""
    retail = {c for c in categories if c in FOOD_PERMIT_KINDS or c in _RETAIL_ONLY_BY_NAME}
    if not retail:
        return None
    if _DRUGSTORE.search(name):
        return "drugstore"
    if _CONVENIENCE.search(name):
        return "convenience_store"
    kinds = {FOOD_PERMIT_KINDS[c] for c in retail if c in FOOD_PERMIT_KINDS}
    if "department_store" in kinds and _SUPERMARKET.search(name):
        kinds = (kinds - {"department_store"}) | {"supermarket"}
    fresh = kinds & {"butcher", "fishmonger", "greengrocer"}
    if fresh and len(kinds) > 1 and not kinds & {"convenience_store", "department_store", "supermarket"}:
        # a shop with a fresh-food permit and other food permits sells a range: a general food shop
        kinds = (kinds - fresh) | {"grocery"}
    for key in _KIND_PRIORITY:
        if key in kinds:
            return key
    return None


def read_food_permits(
    path: str | Path | Sequence[str | Path],
    *,
    source_name: str | None = None,
    city_code: str | None = None,
    city_name: str | None = None,
) -> gpd.GeoDataFrame:
    """Read food shops from food-sanitation permit files: the bundled ``food_permits/<市町村名>.json``
    or the official open data as downloaded (食品衛生申請等システム ``33000_food_business_all.csv``,
    a prefecture's 食品等営業許可・届出一覧; see :func:`gis.opendata.read_food_permit_table`).

    Rule, per shop (records deduplicated by name + normalised address, all its permits pooled):

    1. Only retail categories count; restaurants, factories, vending machines and the like are
       dropped. Shops whose address is 県内一円/市内一円 (mobile sellers) are dropped too: their
       point is not a shop.
    2. A name with ドラッグ/薬局/薬品/ザグザグ/ウエルシア/くすりの ... is a ``drugstore``; a
       convenience chain name (セブン-イレブン, ローソン, ファミリーマート ...) a
       ``convenience_store``, whatever the permit category.
    3. Otherwise by category: ⑩ コンビニエンスストア → convenience_store; ⑪ 百貨店、総合スーパー →
       department_store, or ``supermarket`` when the name is a known supermarket chain or says
       スーパー (マルナカ, ハローズ, ハピーズ, ディオ, エブリイ, ザ・ビッグ, ニシナ, マルイ, コープ ...);
       ③ 食肉販売業 → butcher, ④ 魚介類販売業 → fishmonger, ⑦ 野菜果物販売業 → greengrocer when that
       is the shop's only food permit (a shop holding other food permits too is a ``grocery``); ⑬ その他の食料・飲料販売業 and the packaged
       meat/fish notifications → grocery. Priority: convenience_store, drugstore, supermarket,
       department_store, butcher, fishmonger, greengrocer, grocery.

    Parameters
    ----------
    path
        The JSON file (``meta`` + ``data`` list of permits), an official CSV / Excel file, or several.
    source_name
        Name used in messages; defaults to the file names.
    city_code, city_name
        The municipality whose premises an official file (one per health-centre authority, many
        municipalities) gives; the bundled JSON is one municipality's already.

    Returns
    -------
    geopandas.GeoDataFrame
        Resources; ``attributes`` keep ``business_types``, ``license_nos``, ``name_kana``,
        ``phone``; ``source`` carries the PDL attribution. ``attrs["skipped"]`` counts dropped
        records by reason; ``attrs["skipped_by_file"]`` the same for each official table file
        (file name → reason → count; the bundled JSON is not listed).
    """
    paths = [Path(path)] if isinstance(path, (str, Path)) else [Path(p) for p in path]
    source = source_name or ", ".join(p.name for p in paths)
    records: list = []
    origins: list[str | None] = []  # the official file each record came from (None: the bundled JSON)
    skipped = {_NOT_FOOD: 0, _MOBILE: 0, _NO_XY: 0}
    by_file: dict[str, dict[str, int]] = {}

    def drop(reason: str, origin: str | None, n: int = 1) -> None:
        skipped[reason] = skipped.get(reason, 0) + n
        if origin is not None:
            by_file[origin][reason] = by_file[origin].get(reason, 0) + n

    for one in paths:
        if is_table_file(one):
            table = opendata.read_food_permit_table(one, city_code=city_code, city_name=city_name)
            records += table.to_dict("records")
            origins += [one.name] * len(table)
            by_file[one.name] = {}
            for reason, n in table.attrs.get("skipped", {}).items():
                drop(reason, one.name, n)
            continue
        data = _load_json(one, one.name)
        listed = data.get("data") if isinstance(data, dict) else None
        if not isinstance(listed, list):
            msg = "ファイルに営業許可の一覧（data）がありません"
            raise InputDataError(
                msg, en="no 'data' list of permits in the file", source=one.name,
                hint="food_permits/<市町村名>.json のファイルを指定してください",
                hint_en="give a food_permits/<市町村名>.json file",
            )
        if not listed:
            msg = "ファイルに営業許可が1件もありません"
            raise InputDataError(msg, en="the file lists no permits", source=one.name)
        records += listed
        origins += [None] * len(listed)
    if not records and city_name:
        msg = f"{city_name}の営業施設がこの食品営業許可のファイルにありません"
        raise InputDataError(msg, en=f"no premises of {city_name} in the food-permit files", source=source,
                             hint=f"{city_name}を所管する保健所設置主体（県または市）のファイルを置いてください。除いた行: {skipped}",
                             hint_en=f"use the file of the authority licensing {city_name}; rows left out: {skipped}")
    shops: dict[str, dict] = {}
    for i, rec in enumerate(records, start=1):
        if not isinstance(rec, dict):
            msg = "この記録は項目名と値の組（JSON のオブジェクト）になっていません"
            raise InputDataError(msg, en="the record is not an object", source=source, row=i)
        name = str(rec.get("name") or "").strip()
        address = str(rec.get("address") or "").strip()
        category = _category(rec.get("business_type") or "")
        if category not in FOOD_PERMIT_KINDS and category not in _RETAIL_ONLY_BY_NAME:
            drop(_NOT_FOOD, origins[i - 1])
            continue
        if _MOBILE_ADDRESS.search(address):
            drop(_MOBILE, origins[i - 1])
            continue
        if _blank(rec.get("lat")) or _blank(rec.get("lng")):
            drop(_NO_XY, origins[i - 1])
            continue
        key = _shop_key(name, address)
        shop = shops.setdefault(key, {"name": name, "address": address, "lat": rec["lat"], "lng": rec["lng"],
                                      "row": i, "origin": origins[i - 1], "categories": set(),
                                      "business_types": [], "license_nos": [],
                                      "name_kana": rec.get("name_kana") or "", "phone": rec.get("phone") or ""})
        shop["categories"].add(category)
        if rec.get("business_type") not in shop["business_types"]:
            shop["business_types"].append(rec.get("business_type"))
        if rec.get("license_no") and rec["license_no"] not in shop["license_nos"]:
            shop["license_nos"].append(rec["license_no"])
    rows = []
    for key, shop in shops.items():
        kind = _food_kind(shop["name"], shop["categories"])
        if kind is None:
            drop(_NOT_FOOD, shop["origin"], len(shop["business_types"]))
            continue
        attributes = {"business_types": shop["business_types"], "license_nos": shop["license_nos"],
                      "name_kana": shop["name_kana"], "phone": shop["phone"], "permit_row": shop["row"]}
        rows.append({"id": "fp-" + hashlib.sha1(key.encode()).hexdigest()[:12], "kind": kind,
                     "name": shop["name"], "address": shop["address"], "lat": shop["lat"],
                     "lng": shop["lng"], "attributes": attributes})
    if not rows:
        msg = "営業許可の中に食料品店がありません（飲食店・製造所・自動販売機などだけです）"
        raise InputDataError(
            msg, en="no food shops among the permits (only restaurants, factories, vending machines ...)",
            source=source,
        )
    out = _from_rows(rows, source=source, attribution=PDL_FOOD_ATTRIBUTION, skipped=skipped)
    out.attrs["skipped_by_file"] = by_file
    return out


def _from_rows(rows: list[dict], *, source: str, attribution: str, skipped: dict | None = None) -> gpd.GeoDataFrame:
    table = pd.DataFrame(rows)
    lon = pd.to_numeric(table["lng"], errors="coerce").to_numpy(dtype=float)
    lat = pd.to_numeric(table["lat"], errors="coerce").to_numpy(dtype=float)
    bad = np.isnan(lon) | np.isnan(lat)
    if bad.any():
        i = int(np.argmax(bad))
        msg = "使える緯度・経度がありません"
        raise InputDataError(
            msg, en=f"the record {table['name'].iloc[i]!r} has no usable coordinates",
            source=source, feature=str(table["name"].iloc[i]),
            hint="緯度・経度を数値（例: 34.79, 133.62）で入れてください",
            hint_en="give latitude and longitude as numbers (e.g. 34.79, 133.62)",
        )
    _check_positions(lon, lat, source)
    gdf = gpd.GeoDataFrame(
        {"resource_id": table["id"], "kind": table["kind"], "name": table["name"], "address": table["address"],
         "attributes": table["attributes"], "source": f"{source} — {attribution}", "is_sample": False},
        geometry=gpd.points_from_xy(lon, lat), crs=STORAGE_CRS,
    )
    out = coerce_resources(gdf)
    out.attrs["skipped"] = dict(skipped or {})
    return out


def _load_json(path: Path, source: str):
    if not path.exists():
        msg = f"ファイルが見つかりません（{path}）"
        raise InputDataError(msg, en=f"file not found at {path}", source=source)
    if path.stat().st_size == 0:
        msg = "ファイルが空です（0 バイト）"
        raise InputDataError(msg, en="the file is empty (0 bytes)", source=source)
    try:
        return json.loads(path.read_text(encoding="utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        msg = f"UTF-8 の JSON として読めません（{exc}）"
        raise InputDataError(
            msg, en=f"not valid UTF-8 JSON ({exc})", source=source,
            hint="ダウンロードしたままのファイルを指定してください", hint_en="give the file as downloaded",
        ) from exc


def _shelter_kind(name: str) -> str:
    text = _norm(name)
    # Rural community halls go by many names: 農村生活改善センター, 集落センター and 交流センター
    # are the village's 集会所 (and salon venues); 地域福祉センター and 生涯学習センター serve
    # a district the way a 公民館 does.
    if re.search(r"地域市民センター|公民館|コミュニティセンター|地域福祉センター|生涯学習センター|総合学習センター", text):
        return "kominkan"
    if re.search(r"集会所|集会場|公会堂|生活改善センター|集落センター|交流センター|ふれあいセンター|研修センター", text):
        return "meeting_hall"
    if re.search(r"小学校|中学校|高校|学校", text) and not text.startswith("旧"):
        return "school"
    return "shelter"


def read_shelters(
    paths: str | Path | Sequence[str | Path],
    *,
    source_name: str | None = None,
    city_code: str | None = None,
    city_name: str | None = None,
) -> gpd.GeoDataFrame:
    """Read designated emergency sites and evacuation shelters (国土地理院 指定緊急避難場所・指定避難所).

    Reads the bundled per-municipality GeoJSON (``emergency_<code6>.json``, ``evacuation_<code6>.json``)
    and the GSI downloads as they come (``<code>_2.csv`` emergency sites, ``<code>_1.csv`` shelters,
    the national ``mergeFromCity_*.csv`` / ``.geojson``; see :func:`gis.opendata.read_gsi_shelters`).
    Give the emergency and evacuation files together: a place in both is kept once (same 共通ID,
    or same name and address) and lists both designations.

    Kinds by name: 地域市民センター/公民館/コミュニティセンター/地域福祉センター/生涯学習センター →
    ``kominkan``; 集会所/集会場/公会堂 and rural halls (生活改善センター, 集落センター, 交流センター,
    ふれあいセンター) → ``meeting_hall``; 小学校/中学校/高校/学校 (not 旧…, closed schools) → ``school``;
    anything else → ``shelter``.

    Parameters
    ----------
    paths
        One file or several.
    source_name
        Name used in messages and ``source``; defaults to the file names.
    city_code, city_name
        Keep this municipality's places (national or prefecture files list many).

    Returns
    -------
    geopandas.GeoDataFrame
        Resources; ``attributes`` keep ``common_ids``, ``designations`` and the hazard flags.
        ``attrs["skipped"]`` counts the rows left out by reason (no usable position, other
        municipality), ``attrs["skipped_by_file"]`` the same per file (file name → reason → count).
    """
    paths = [Path(paths)] if isinstance(paths, (str, Path)) else [Path(p) for p in paths]
    if not paths:
        msg = "避難所のファイルが指定されていません"
        raise InputDataError(
            msg, en="no shelter files given",
            hint="emergency_<コード>.json か evacuation_<コード>.json（または両方）を指定してください",
            hint_en="give emergency_<code>.json and/or evacuation_<code>.json",
        )
    source = source_name or ", ".join(p.name for p in paths)
    places: dict[str, dict] = {}
    by_id: dict[str, str] = {}
    layers = [opendata.read_gsi_shelters(p, city_code=city_code, city_name=city_name) for p in paths]
    by_file = {p.name: dict(layer.attrs.get("skipped", {})) for p, layer in zip(paths, layers)}
    skipped: dict[str, int] = {}
    for counts in by_file.values():
        for reason, n in counts.items():
            skipped[reason] = skipped.get(reason, 0) + n
    # Emergency sites first, whatever the file names: a place on both lists takes its name from there.
    layers.sort(key=lambda layer: layer.attrs["designation"] != opendata.SHELTER_EMERGENCY)
    for layer in layers:
        designation = layer.attrs["designation"]
        hazards = [c for c in opendata.SHELTER_HAZARDS if c in layer.columns]
        for row in layer.itertuples(index=False):
            rec = dict(zip(layer.columns, row))
            name = str(rec["施設・場所名"] or "").strip()
            address = str(rec["住所"] or "").strip()
            cid = None if _blank(rec.get("共通ID")) else str(rec["共通ID"])
            key = by_id.get(cid) if cid else None
            key = key or _shop_key(name, address)
            geom = rec[layer.geometry.name]
            place = places.setdefault(key, {"name": name, "address": address, "lng": geom.x, "lat": geom.y,
                                            "common_ids": [], "designations": [], "hazards": set()})
            if cid:
                by_id[cid] = key
                if cid not in place["common_ids"]:
                    place["common_ids"].append(cid)
            if designation not in place["designations"]:
                place["designations"].append(designation)
            place["hazards"] |= {h for h in hazards if str(rec.get(h) or "").strip() == "1"}
    rows = []
    for key, place in places.items():
        ident = place["common_ids"][0] if place["common_ids"] else hashlib.sha1(key.encode()).hexdigest()[:12]
        rows.append({"id": f"gsi-{ident}", "kind": _shelter_kind(place["name"]), "name": place["name"],
                     "address": place["address"], "lat": place["lat"], "lng": place["lng"],
                     "attributes": {"common_ids": place["common_ids"], "designations": place["designations"],
                                    "hazards": sorted(place["hazards"])}})
    out = _from_rows(rows, source=source, attribution=GSI_SHELTER_ATTRIBUTION, skipped=skipped)
    out.attrs["skipped_by_file"] = by_file
    return out


def read_rail_stations(
    paths: str | Path | Sequence[str | Path], *, source_name: str | None = None
) -> gpd.GeoDataFrame:
    """Read railway stations (``rail_stations/*_line_stations.geojson``) as ``rail_station`` resources.

    The positions come from a class project without a stated licence and are unverified; the
    ``source`` says so and ``attributes["position_verified"]`` is False. Prefer 国土数値情報 N02
    when a user supplies it. A station on several lines is kept once, listing its lines.

    Parameters
    ----------
    paths
        One file or several.
    source_name
        Name used in messages and ``source``; defaults to the file names.
    """
    paths = [Path(paths)] if isinstance(paths, (str, Path)) else [Path(p) for p in paths]
    if not paths:
        msg = "駅のファイルが指定されていません"
        raise InputDataError(msg, en="no station files given")
    source = source_name or ", ".join(p.name for p in paths)
    stations: dict[str, dict] = {}
    for path in paths:
        layer = read_vector(path, source_name=path.name)
        if "name" not in layer.columns:
            msg = "駅に駅名（name）の項目がありません"
            raise InputDataError(msg, en="no 'name' property on the stations", source=path.name)
        for i, (name, line, geom) in enumerate(
            zip(layer["name"], layer.get("railname", pd.Series([""] * len(layer))), layer.geometry), start=1
        ):
            if _blank(name):
                msg = "駅名がありません"
                raise InputDataError(msg, en="the station has no name", source=path.name, feature=str(i))
            if geom.geom_type != "Point":
                msg = f"駅は点で表してください（この地物は {geom.geom_type} です）"
                raise InputDataError(
                    msg, en=f"stations must be points, this is a {geom.geom_type}",
                    source=path.name, feature=f"{i} ({name})",
                )
            # Same station name within ~500 m on two lines = one station (e.g. 総社 on 伯備線 and 井原鉄道).
            key = next((k for k, s in stations.items() if s["name"] == name
                        and abs(s["lng"] - geom.x) < 0.005 and abs(s["lat"] - geom.y) < 0.005), None)
            if key is None:
                key = f"{name}|{len(stations)}"
                stations[key] = {"name": str(name), "lng": geom.x, "lat": geom.y, "lines": []}
            if not _blank(line) and line not in stations[key]["lines"]:
                stations[key]["lines"].append(str(line))
    rows = [{"id": "rail-" + hashlib.sha1(f"{s['name']}|{s['lng']:.5f}|{s['lat']:.5f}".encode()).hexdigest()[:10],
             "kind": "rail_station", "name": s["name"] + "駅" if not s["name"].endswith("駅") else s["name"],
             "address": "", "lat": s["lat"], "lng": s["lng"],
             "attributes": {"lines": s["lines"], "position_verified": False}} for s in stations.values()]
    return _from_rows(rows, source=source, attribution=RAIL_STATION_SOURCE)
