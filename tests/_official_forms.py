"""Official-form point files (GSI shelter CSV, MHLW food-permit CSV) written from the real converted data.

The bundled files in TSUNAGU_DATA_DIR are conversions of the official downloads; these helpers
write them back in the layout and encoding the official sites use, into a test's tmp folder
(never into the project).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import geopandas as gpd
import pandas as pd

#: 国土地理院 指定緊急避難場所 per-municipality CSV (<code>_2.csv), as downloaded.
GSI_EMERGENCY_HEADER = ["NO", "共通ID", "施設・場所名", "住所", "洪水", "崖崩れ、土石流及び地滑り", "高潮", "地震",
                        "津波", "大規模な火事", "内水氾濫", "火山現象", "指定避難所との住所同一", "緯度", "経度", "備考"]
#: 国土地理院 指定避難所 per-municipality CSV (<code>_1.csv).
GSI_EVACUATION_HEADER = ["NO", "共通ID", "施設・場所名", "住所", "指定緊急避難場所との住所同一",
                         "その他市町村長が必要と認める事項", "受入対象者", "緯度", "経度", "備考"]
#: 厚生労働省 食品衛生申請等システム open data, the national 25-column schema.
MHLW_HEADER = ["自治体コード", "行番号", "都道府県名", "市区町村名", "営業施設名称、屋号又は商号",
               "営業施設名称、屋号又は商号（フリガナ）", "営業の種類", "業態", "営業施設所在地", "営業施設方書", "緯度",
               "経度", "営業施設電話番号", "法人名", "法人番号", "法人住所", "許可番号", "初回許可年月日", "許可年月日",
               "許可開始日", "許可満了日", "廃業年月日", "申請区分", "許可条件", "備考"]


def write_csv(path: Path, header: list[str], rows: list[dict], *, encoding: str) -> Path:
    """Write ``rows`` under ``header`` as the official sites do (CRLF line ends, blank for missing)."""
    with open(path, "w", encoding=encoding, newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=header, lineterminator="\r\n", extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: ("" if v is None else v) for k, v in row.items()})
    return path


def gsi_rows(geojson: Path, *, with_city: bool = False) -> list[dict]:
    """The rows of a bundled shelter GeoJSON as the GSI CSV has them (緯度/経度 from the points)."""
    layer = gpd.read_file(geojson)
    rows = []
    for rec, geom in zip(layer.drop(columns="geometry").to_dict("records"), layer.geometry):
        row = {k: ("" if pd.isna(v) else v) for k, v in rec.items()  # NaN: a blank cell
               if with_city or k != "都道府県名及び市町村名"}
        row["緯度"], row["経度"] = f"{geom.y:.6f}", f"{geom.x:.6f}"
        rows.append(row)
    return rows


def write_gsi_csvs(data_dir: Path, folder: Path, *, code: str = "33209") -> list[Path]:
    """<code>_2.csv (emergency sites, Shift_JIS) and <code>_1.csv (shelters, UTF-8 with BOM), from the real lists."""
    shelters = Path(data_dir) / "okayama" / "shelters"
    emergency = next(shelters.glob(f"emergency_{code}?.json"))
    evacuation = next(shelters.glob(f"evacuation_{code}?.json"))
    return [write_csv(folder / f"{code}_2.csv", GSI_EMERGENCY_HEADER, gsi_rows(emergency), encoding="cp932"),
            write_csv(folder / f"{code}_1.csv", GSI_EVACUATION_HEADER, gsi_rows(evacuation), encoding="utf-8-sig")]


def mhlw_rows(permit_json: Path, *, authority: str = "33000") -> list[dict]:
    """The permits of a bundled food_permits/<市町村名>.json as the MHLW open-data CSV has them."""
    records = json.loads(Path(permit_json).read_text(encoding="utf-8"))["data"]
    rows = []
    for i, rec in enumerate(records, start=1):
        rows.append({
            "自治体コード": authority, "行番号": i, "都道府県名": "岡山県", "市区町村名": "",
            "営業施設名称、屋号又は商号": rec["name"], "営業施設名称、屋号又は商号（フリガナ）": rec.get("name_kana"),
            "営業の種類": rec["business_type"], "営業施設所在地": rec["address"],
            "緯度": rec["lat"], "経度": rec["lng"], "営業施設電話番号": rec.get("phone"),
            "許可番号": rec.get("license_no"), "許可年月日": rec.get("license_date"),
            "許可満了日": rec.get("expire_date"), "申請区分": "許可" if rec.get("license_no") else "届出",
        })
    return rows


def write_mhlw_csv(data_dir: Path, folder: Path, *, cities: tuple[str, ...] = ("高梁市", "新見市"),
                   closed_copies: int = 3, encoding: str = "utf-8-sig") -> Path:
    """33000_food_business_all.csv: the prefecture authority's file holds several cities' premises.

    ``closed_copies`` rows are 高梁市 shops moved to another address (a shop of its own) and marked
    廃業, as the file keeps closed premises for a month: a reader that kept them would count more shops.
    """
    permits = Path(data_dir) / "okayama" / "food_permits"
    rows = []
    for city in cities:
        rows += mhlw_rows(permits / f"{city}.json")
    shops = [r for r in rows if "高梁市" in r["営業施設所在地"] and "販売" in r["営業の種類"]][:closed_copies]
    rows += [{**r, "営業施設名称、屋号又は商号": r["営業施設名称、屋号又は商号"] + "（旧店舗）",
              "営業施設所在地": r["営業施設所在地"] + "-99", "廃業年月日": "2026-08-31", "申請区分": "許可(廃業)"}
             for r in shops]
    for i, row in enumerate(rows, start=1):
        row["行番号"] = i
    return write_csv(folder / "33000_food_business_all.csv", MHLW_HEADER, rows, encoding=encoding)
