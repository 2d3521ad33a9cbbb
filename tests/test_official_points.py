"""The official GSI shelter lists and MHLW food-permit open data, as downloaded, read like the bundled conversions."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest
from _official_forms import (
    GSI_EMERGENCY_HEADER,
    MHLW_HEADER,
    gsi_rows,
    write_gsi_csvs,
    write_mhlw_csv,
)

from gis import opendata
from gis import resources as res
from gis.errors import InputDataError, UnknownMunicipalityError


@pytest.fixture
def okayama(data_dir) -> Path:
    return Path(data_dir) / "okayama"


def _bundled_shelters(okayama: Path, code: str = "33209"):
    return res.read_shelters(sorted((okayama / "shelters").glob(f"*_{code}?.json")))


def _summary(gdf):
    return sorted(zip(gdf["kind"], gdf["name"], gdf["address"]))


def test_gsi_csvs_read_like_the_bundled_geojson(data_dir, okayama, tmp_path):
    files = write_gsi_csvs(data_dir, tmp_path)
    assert files[0].read_bytes()[:2] != b"\xef\xbb"  # Shift_JIS, as the emergency list comes
    emergency = opendata.read_gsi_shelters(files[0], city_code="33209")
    evacuation = opendata.read_gsi_shelters(files[1], city_code="33209")
    assert (len(emergency), len(evacuation)) == (117, 113)
    assert emergency.attrs["designation"] == "指定緊急避難場所" and evacuation.attrs["designation"] == "指定避難所"
    official = res.read_shelters(sorted(files), city_code="33209")  # 33209_1.csv (shelters) first
    bundled = _bundled_shelters(okayama)
    assert len(official) == len(bundled) == 120
    assert _summary(official) == _summary(bundled)
    assert sorted(official["resource_id"]) == sorted(bundled["resource_id"])  # gsi-<共通ID>, as before
    assert official["kind"].value_counts().to_dict() == bundled["kind"].value_counts().to_dict()
    hazards = {r["name"]: r["attributes"]["hazards"] for _, r in official.iterrows()}
    assert hazards == {r["name"]: r["attributes"]["hazards"] for _, r in bundled.iterrows()}
    assert sum(1 for h in hazards.values() if "洪水" in h) > 0


def test_national_merged_file_keeps_only_the_city(data_dir, okayama, tmp_path):
    rows = []
    for code in ("33209", "33210"):  # 高梁市 and 新見市 in one national file
        rows += gsi_rows(next((okayama / "shelters").glob(f"emergency_{code}?.json")), with_city=True)
    path = tmp_path / "mergeFromCity_2.csv"
    header = GSI_EMERGENCY_HEADER[:2] + ["都道府県名及び市町村名"] + GSI_EMERGENCY_HEADER[2:]
    with open(path, "w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=header, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    takahashi = opendata.read_gsi_shelters(path, city_code="33209")
    assert len(takahashi) == 117 and takahashi.attrs["skipped"]["ほかの市区町村"] == len(rows) - 117
    assert takahashi["住所"].str.startswith("岡山県高梁市").all()
    with pytest.raises(UnknownMunicipalityError) as err:
        opendata.read_gsi_shelters(path, city_code="33202")
    assert "33202 の避難場所・避難所はこのファイルにありません" in str(err.value) and "33209" in str(err.value)


def test_mhlw_csv_reads_like_the_bundled_json(data_dir, okayama, tmp_path):
    path = write_mhlw_csv(data_dir, tmp_path)
    table = opendata.read_food_permit_table(path, city_code="33209", city_name="高梁市")
    assert len(table) == 492  # the 高梁市 permits; 新見市's and the closed ones are left out
    assert table.attrs["skipped"]["廃業"] == 3 and table.attrs["skipped"]["ほかの市区町村"] > 0
    official = res.read_food_permits(path, city_code="33209", city_name="高梁市")
    bundled = res.read_food_permits(okayama / "food_permits" / "高梁市.json")
    assert len(official) == len(bundled) == 74
    assert _summary(official) == _summary(bundled)


def test_mhlw_csv_in_shift_jis_and_other_headers(data_dir, tmp_path):
    """A prefecture portal's list: Shift_JIS, 施設の名称 / 施設の所在地 / 業種 headers."""
    path = write_mhlw_csv(data_dir, tmp_path, cities=("小田郡矢掛町",), closed_copies=0)
    text = re.sub(r"[\u2460-\u24ff\u3251-\u32bf] ?", "", path.read_text(encoding="utf-8-sig"))  # 食肉販売業, no ③
    text = text.replace("営業施設名称、屋号又は商号,", "施設の名称,", 1)
    text = text.replace("営業施設所在地", "施設の所在地", 1).replace("営業の種類", "業種", 1)
    portal = tmp_path / "岡山県食品営業許可施設一覧.csv"
    portal.write_text(text, encoding="cp932", errors="replace")  # as a Shift_JIS export writes ë
    shops = res.read_food_permits(portal, city_code="33461", city_name="小田郡矢掛町")
    assert len(shops) > 10 and shops["address"].str.startswith("岡山県小田郡矢掛町").all()
    short = res.read_food_permits(portal, city_code="33461", city_name="矢掛町")
    assert len(short) == len(shops)


def test_official_files_errors_are_japanese_and_name_the_file(data_dir, tmp_path):
    path = write_mhlw_csv(data_dir, tmp_path, cities=("高梁市",), closed_copies=0)
    with pytest.raises(UnknownMunicipalityError) as err:
        opendata.read_food_permit_table(path, city_code="13101", city_name="千代田区")
    assert "33000_food_business_all.csv" in str(err.value) and "別の都道府県" in str(err.value)

    swapped = tmp_path / "33209_2.csv"
    rows = gsi_rows(next((Path(data_dir) / "okayama" / "shelters").glob("emergency_33209?.json")))
    with open(swapped, "w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=GSI_EMERGENCY_HEADER)
        writer.writeheader()
        writer.writerows({**r, "緯度": r["経度"], "経度": r["緯度"]} for r in rows)
    with pytest.raises(InputDataError) as err:
        opendata.read_gsi_shelters(swapped, city_code="33209")
    assert "緯度と経度の列が入れ替わっている" in str(err.value) and "33209_2.csv" in str(err.value)

    no_name = tmp_path / "33209_1.csv"
    no_name.write_text("NO,住所,緯度,経度\n1,岡山県高梁市,34.79,133.62\n", encoding="utf-8")
    with pytest.raises(InputDataError) as err:
        opendata.read_gsi_shelters(no_name, city_code="33209")
    assert "「施設・場所名」の列がありません" in str(err.value)

    no_xy = tmp_path / "food.csv"
    no_xy.write_text(",".join(h for h in MHLW_HEADER if h not in ("緯度", "経度")) + "\n" + "x," * 22 + "x\n",
                     encoding="utf-8")
    with pytest.raises(InputDataError) as err:
        opendata.read_food_permit_table(no_xy)
    assert "「緯度」「経度」の列がありません" in str(err.value)


def test_rows_outside_japan_are_left_out_and_counted(data_dir, tmp_path):
    path = write_gsi_csvs(data_dir, tmp_path)[1]
    lines = path.read_text(encoding="utf-8-sig").splitlines()
    head, first = lines[0].split(","), lines[1].split(",")
    first[head.index("緯度")] = "999"
    path.write_text("\n".join([lines[0], ",".join(first), *lines[2:]]) + "\n", encoding="utf-8-sig")
    evacuation = opendata.read_gsi_shelters(path, city_code="33209")
    assert len(evacuation) == 112 and evacuation.attrs["skipped"]["位置がない・日本の外"] == 1


def test_authority_files_of_several_cities_are_read_together(data_dir, okayama, tmp_path):
    """岡山県's file and 倉敷市's own (a city with its health centre): each city's shops from the file that has them."""
    from _official_forms import mhlw_rows, write_csv

    prefecture = write_mhlw_csv(data_dir, tmp_path, closed_copies=0)
    kurashiki = write_csv(tmp_path / "33202_food_business_all.csv", MHLW_HEADER,
                       mhlw_rows(okayama / "food_permits" / "倉敷市.json", authority="33202"), encoding="utf-8-sig")
    both = [kurashiki, prefecture]
    takahashi = res.read_food_permits(both, city_code="33209", city_name="高梁市")
    assert len(takahashi) == 74
    bundled = res.read_food_permits(okayama / "food_permits" / "倉敷市.json")
    assert len(res.read_food_permits(both, city_code="33202", city_name="倉敷市")) == len(bundled)
    with pytest.raises(InputDataError) as err:
        res.read_food_permits(both, city_code="33461", city_name="小田郡矢掛町")
    assert "小田郡矢掛町の営業施設がこの食品営業許可のファイルにありません" in str(err.value)


def test_national_geojson_keeps_only_the_city(okayama, tmp_path):
    import geopandas as gpd
    import pandas as pd

    parts = [gpd.read_file(next((okayama / "shelters").glob(f"evacuation_{c}?.json"))) for c in ("33209", "33202")]
    merged = tmp_path / "mergeFromCity_1.geojson"
    gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), crs="EPSG:4326").to_file(merged, driver="GeoJSON")
    takahashi = opendata.read_gsi_shelters(merged, city_code="33209")
    assert len(takahashi) == 113 and takahashi.attrs["designation"] == "指定避難所"
    assert takahashi.attrs["skipped"]["ほかの市区町村"] == len(parts[1])
