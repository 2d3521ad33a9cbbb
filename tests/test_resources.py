"""Resource importers: user tables and the Okayama open data; errors name the file and the row."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from _paths import require_data_dir
from gis.errors import InputDataError
from gis.resources import (
    read_food_permits,
    read_rail_stations,
    read_shelters,
    resource_kind,
    resources_from_file,
    resources_from_table,
)
from gis.schema import RESOURCE_COLUMNS, RESOURCE_KINDS

SALONS = pd.DataFrame(
    {
        "ID": ["s1", "s2"],
        "名称": ["サロンひまわり", "サロンすみれ"],
        "住所": ["岡山県高梁市宇治町宇治1681", "岡山県高梁市成羽町下原"],
        "緯度": ["34.8276", "34.7827"],
        "経度": ["133.4903", "133.5473"],
        "開催日": ["第2火曜", "毎週木曜"],
        "参加者数": ["12", ""],
    }
)


def test_japanese_salon_table():
    gdf = resources_from_table(SALONS, source_name="salons.csv", kind="サロン")
    assert list(gdf.columns) == RESOURCE_COLUMNS
    assert gdf["resource_id"].tolist() == ["s1", "s2"]
    assert set(gdf["kind"]) == {"salon"}
    assert gdf.loc[0, "attributes"] == {"meeting_days": "第2火曜", "参加者数": "12"}
    assert gdf.loc[1, "attributes"] == {"meeting_days": "毎週木曜"}
    assert gdf.geometry.x[0] == pytest.approx(133.4903)
    assert gdf.loc[0, "source"] == "salons.csv"


def test_english_columns_and_kind_column():
    df = pd.DataFrame({"name": ["A", "B", "C"], "lat": [34.79, 34.78, 34.80], "lng": [133.61, 133.60, 133.62],
                       "kind": ["コンビニ", "supermarket", "ドラッグストア"], "営業時間": ["24h", "9-21", None]})
    gdf = resources_from_table(df, source_name="shops.csv")
    assert gdf["kind"].tolist() == ["convenience_store", "supermarket", "drugstore"]
    assert gdf.loc[0, "attributes"] == {"opening_hours": "24h"}
    assert gdf.loc[2, "attributes"] == {}


def test_generated_ids_are_deterministic():
    df = SALONS.drop(columns=["ID"])
    a = resources_from_table(df, source_name="salons.csv", kind="salon")
    b = resources_from_table(df, source_name="salons.csv", kind="salon")
    assert a["resource_id"].tolist() == b["resource_id"].tolist() == ["salons-1", "salons-2"]


@pytest.mark.parametrize("value,key", [("公民館", "kominkan"), ("集会所", "meeting_hall"), ("スーパー", "supermarket"),
                                       ("コンビニエンスストア", "convenience_store"), ("ふれあい・いきいきサロン", "salon"),
                                       ("地域市民センター", "kominkan"), ("ＳＡＬＯＮ", "salon"), ("bus_stop", "bus_stop")])
def test_kind_names(value, key):
    assert resource_kind(value) == key


def test_every_kind_key_and_label_maps_to_itself():
    for key, label in RESOURCE_KINDS.items():
        assert resource_kind(key) == key
        assert resource_kind(label) == key


def test_unknown_kind_names_row_and_value():
    df = SALONS.assign(種別=["サロン", "カラオケ"])
    with pytest.raises(InputDataError) as err:
        resources_from_table(df, source_name="mixed.csv")
    text = str(err.value)
    assert text.startswith("mixed.csv: 2行目: 種別の列「種別」の値 「カラオケ」 は知らない種別です")
    assert "salon" in text and "kominkan" in text


def test_no_kind_at_all():
    with pytest.raises(InputDataError, match=r"nokind\.csv: 種別の列がなく、種別の指定もありません"):
        resources_from_table(SALONS, source_name="nokind.csv")


def test_duplicate_ids_name_the_rows():
    df = pd.concat([SALONS, SALONS.iloc[[0]]], ignore_index=True)
    with pytest.raises(InputDataError) as err:
        resources_from_table(df, source_name="dup.csv", kind="salon")
    assert "dup.csv" in str(err.value) and "「s1」が 1, 3 行目" in str(err.value)


@pytest.mark.parametrize("bad,shown", [("", "が空欄です"), ("北緯34度", "の値「北緯34度」は数値ではありません"),
                                        (None, "が空欄です")])
def test_bad_coordinates_name_the_row(bad, shown):
    df = SALONS.copy()
    df.loc[1, "緯度"] = bad
    with pytest.raises(InputDataError) as err:
        resources_from_table(df, source_name="coords.csv", kind="salon")
    assert str(err.value).startswith(f"coords.csv: 2行目: 緯度の列「緯度」{shown}")


def test_swapped_csv_names_the_rows(tmp_path):
    path = tmp_path / "swapped.csv"
    path.write_text("名称,緯度,経度\nA,34.79,133.61\nB,133.6,34.8\nC,133.62,34.81\n", encoding="utf-8")
    with pytest.raises(InputDataError) as err:
        resources_from_file(path, kind="salon")
    assert err.value.row == 2
    assert "swapped.csv: 2行目: 緯度と経度が入れ替わっているようです" in str(err.value)
    assert "該当する行: 2, 3" in str(err.value)


def test_outside_japan_names_the_row():
    df = SALONS.copy()
    df.loc[1, ["緯度", "経度"]] = ["51.5", "-0.12"]
    with pytest.raises(InputDataError, match=r"far\.csv: 2行目: 位置（.*）が日本の外です"):
        resources_from_table(df, source_name="far.csv", kind="salon")


def test_missing_coordinate_columns():
    with pytest.raises(InputDataError, match=r"nocoords\.csv: 座標の列がありません"):
        resources_from_table(SALONS.drop(columns=["経度"]), source_name="nocoords.csv", kind="salon")


def test_cp932_csv_file(tmp_path):
    path = tmp_path / "サロン一覧.csv"
    SALONS.to_csv(path, index=False, encoding="cp932")
    gdf = resources_from_file(path, kind="salon")
    assert gdf["name"].tolist() == ["サロンひまわり", "サロンすみれ"]
    assert gdf.loc[0, "source"] == "サロン一覧.csv"


def test_excel_file(tmp_path):
    path = tmp_path / "shops.xlsx"
    df = pd.DataFrame({"施設名": ["ローソン高梁駅前店"], "所在地": ["岡山県高梁市旭町1321-1"], "種別": ["コンビニ"],
                       "緯度": [34.789271], "経度": [133.616125], "ID": [101]})
    df.to_excel(path, index=False)
    gdf = resources_from_file(path)
    assert gdf.loc[0, "resource_id"] == "101"
    assert gdf.loc[0, "kind"] == "convenience_store"
    assert gdf.loc[0, "address"] == "岡山県高梁市旭町1321-1"


def test_geojson_points(tmp_path):
    fc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"名称": "長代公民館", "種別": "公民館"},
         "geometry": {"type": "Point", "coordinates": [133.55, 34.80]}}]}
    path = tmp_path / "k.geojson"
    path.write_text(json.dumps(fc, ensure_ascii=False), encoding="utf-8")
    gdf = resources_from_file(path)
    assert gdf.loc[0, "kind"] == "kominkan" and gdf.geometry.y[0] == pytest.approx(34.80)


def test_geojson_polygons_are_refused(tmp_path):
    fc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"name": "区"},
         "geometry": {"type": "Polygon", "coordinates": [[[133.5, 34.7], [133.6, 34.7], [133.6, 34.8], [133.5, 34.7]]]}}]}
    path = tmp_path / "poly.geojson"
    path.write_text(json.dumps(fc), encoding="utf-8")
    with pytest.raises(InputDataError, match=r"poly\.geojson: 1行目: 地域資源は点で指定してください"):
        resources_from_file(path, kind="salon")


jp = st.tuples(st.floats(min_value=24.0, max_value=45.5), st.floats(min_value=123.0, max_value=153.0))


@settings(max_examples=50, deadline=None)
@given(points=st.lists(jp, min_size=1, max_size=5))
def test_genuine_positions_always_accepted_swapped_always_refused(points):
    df = pd.DataFrame({"名称": [f"p{i}" for i in range(len(points))],
                       "緯度": [p[0] for p in points], "経度": [p[1] for p in points]})
    assert len(resources_from_table(df, source_name="ok.csv", kind="salon")) == len(points)
    swapped = df.rename(columns={"緯度": "経度", "経度": "緯度"})
    with pytest.raises(InputDataError, match="入れ替わっている"):
        resources_from_table(swapped, source_name="sw.csv", kind="salon")


# ------------------------------------------------------------------ real data


@pytest.mark.realdata
def test_food_permits_takahashi():
    okayama = require_data_dir() / "okayama"
    shops = read_food_permits(okayama / "food_permits" / "高梁市.json")
    counts = shops["kind"].value_counts().to_dict()
    assert counts["convenience_store"] == 9  # 4 ローソン + 5 セブン-イレブン
    assert counts["drugstore"] == 4  # 2 ドラッグコスモス (⑪) + 2 ザグザグ (乳類販売業 only)
    assert counts["department_store"] == 3  # ゆめタウン高梁, ペルソナ, 池田本店
    by_name = dict(zip(shops["name"], shops["kind"]))
    assert by_name["ドラッグコスモス高梁店"] == "drugstore"
    assert by_name["ゆめタウン高梁"] == "department_store"
    assert by_name["かしま青果"] == "greengrocer"
    assert "からおストアー" not in by_name  # 県内一円: a mobile seller, no shop address
    assert shops["resource_id"].is_unique
    assert not shops[["name", "address"]].duplicated().any()
    assert all("PDL1.0" in s for s in shops["source"])
    assert shops.attrs["skipped"]["移動販売（店舗の住所なし）"] > 0
    yume = shops[shops["name"] == "ゆめタウン高梁"].iloc[0]["attributes"]
    assert "⑪ 百貨店、総合スーパー" in yume["business_types"] and len(yume["business_types"]) >= 2


@pytest.mark.realdata
def test_food_permits_supermarket_rule():
    okayama = require_data_dir() / "okayama"
    shops = read_food_permits(okayama / "food_permits" / "倉敷市.json")
    by_name = dict(zip(shops["name"], shops["kind"]))
    assert by_name["マルナカ中島店"] == "supermarket"
    assert by_name["イオン倉敷店"] == "department_store"
    assert by_name["ウエルシア倉敷駅前店"] == "drugstore"


@pytest.mark.realdata
def test_shelters_takahashi_deduplicated():
    shelters_dir = require_data_dir() / "okayama" / "shelters"
    both = read_shelters([shelters_dir / "emergency_332097.json", shelters_dir / "evacuation_332097.json"])
    assert len(both) < 117 + 113
    assert not both[["name", "address"]].duplicated().any()
    by_name = dict(zip(both["name"], both["kind"]))
    assert by_name["高倉地域市民センター"] == "kominkan"
    assert by_name["長代公民館"] == "kominkan"
    assert by_name["田原集会所"] == "meeting_hall"
    assert by_name["宇治小学校"] == "school"
    assert by_name["旧平川小学校"] == "shelter"
    uji = both[both["name"] == "宇治小学校"].iloc[0]["attributes"]
    assert uji["designations"] == ["指定緊急避難場所", "指定避難所"]
    assert all("国土地理院" in s for s in both["source"])


@pytest.mark.realdata
def test_rail_stations():
    rail = require_data_dir() / "okayama" / "rail_stations"
    stations = read_rail_stations(sorted(rail.glob("*_line_stations.geojson")))
    names = set(stations["name"])
    assert {"備中高梁駅", "備中広瀬駅", "木野山駅", "備中川面駅", "方谷駅"} <= names
    assert (stations["kind"] == "rail_station").all()
    assert stations["resource_id"].is_unique
    assert all("未検証" in s for s in stations["source"])
    assert not any(a["position_verified"] for a in stations["attributes"])
