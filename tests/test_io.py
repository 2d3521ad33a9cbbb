"""Readers: vector layers, tables, e-Stat tables; every error names the file and the row/feature."""

from __future__ import annotations

import json
import zipfile

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import Point, Polygon

from _paths import require_data_dir
from gis.errors import InputDataError
from gis.io import (
    estat_age_columns,
    looks_swapped,
    mojibake_reason,
    read_estat_table,
    read_table,
    read_vector,
)

JP_TEXT = "名称,住所\n高梁市役所,岡山県高梁市松原通2043\n宇治地域市民センター,岡山県高梁市宇治町宇治1681\n"


def _feature_collection(features, crs=None) -> dict:
    fc = {"type": "FeatureCollection", "features": features}
    if crs:
        fc["crs"] = {"type": "name", "properties": {"name": crs}}
    return fc


def _point(x, y, **props) -> dict:
    return {"type": "Feature", "properties": props, "geometry": {"type": "Point", "coordinates": [x, y]}}


def _write_json(path, obj):
    path.write_text(json.dumps(obj, ensure_ascii=False), encoding="utf-8")
    return path


# ------------------------------------------------------------------ tables


def test_shift_jis_csv_is_read(tmp_path):
    path = tmp_path / "sjis.csv"
    path.write_bytes(JP_TEXT.encode("cp932"))
    df = read_table(path)
    assert df.attrs["encoding"] == "cp932"
    assert list(df.columns) == ["名称", "住所"]
    assert df.loc[1, "名称"] == "宇治地域市民センター"


def test_utf8_bom_csv_and_headers_are_stripped(tmp_path):
    path = tmp_path / "bom.csv"
    path.write_bytes(" ID , 名称 \n 001 ,高梁\n".encode("utf-8-sig"))
    df = read_table(path)
    assert list(df.columns) == ["ID", "名称"]
    assert df.attrs["encoding"] == "utf-8"


def test_codes_stay_text(tmp_path):
    path = tmp_path / "codes.csv"
    path.write_text("code,n\n00123,5\n", encoding="utf-8")
    assert read_table(path).loc[0, "code"] == "00123"


def test_mojibake_replacement_characters(tmp_path):
    broken = JP_TEXT.encode("cp932").decode("utf-8", errors="replace")
    path = tmp_path / "broken.csv"
    path.write_text(broken, encoding="utf-8")
    with pytest.raises(InputDataError) as err:
        read_table(path)
    text = str(err.value)
    assert "broken.csv" in text
    assert err.value.row is None  # the header is already broken
    assert "Shift_JIS" in text and "UTF-8" in text


def test_mojibake_latin1_names_first_row(tmp_path):
    # header in ASCII, data rows cp932 bytes read as latin-1 then saved as UTF-8
    text = "name,address\nok,plain\n" + "高梁市役所,岡山県高梁市\n".encode("cp932").decode("latin-1")
    path = tmp_path / "latin.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputDataError) as err:
        read_table(path)
    assert err.value.row == 2
    assert "latin.csv: 2行目" in str(err.value)


def test_mojibake_utf8_read_as_cp932(tmp_path):
    garbage = "名称\n公民館の集会\n".encode("utf-8").decode("cp932", errors="replace")
    path = tmp_path / "garbage.csv"
    path.write_text("name\n" + garbage.split("\n", 1)[1], encoding="utf-8")
    with pytest.raises(InputDataError) as err:
        read_table(path)
    assert err.value.row == 1 and "garbage.csv" in str(err.value)


@pytest.mark.parametrize("text", ["高梁市の公民館", "Café Müller 高梁", "ふれあいサロン「ひまわり」", "ＡＢＣ①②"])
def test_no_mojibake_false_alarm(text):
    assert mojibake_reason(text) is None


def test_empty_csv(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    with pytest.raises(InputDataError, match=r"empty\.csv: ファイルが空です（0 バイト）"):
        read_table(path)


def test_header_only_csv(tmp_path):
    path = tmp_path / "header.csv"
    path.write_text("名称,緯度,経度\n", encoding="utf-8")
    with pytest.raises(InputDataError, match=r"header\.csv: .*データの行がありません"):
        read_table(path)


def test_undecodable_csv(tmp_path):
    path = tmp_path / "binary.csv"
    path.write_bytes(b"a,b\n\xff\xfe\x80\x81\xfd\n")
    with pytest.raises(InputDataError, match=r"binary\.csv: .*UTF-8 でも Shift_JIS（cp932）でもありません"):
        read_table(path)


def test_excel_roundtrip(tmp_path):
    path = tmp_path / "salons.xlsx"
    src = pd.DataFrame({"名称": ["サロンひまわり", "サロンすみれ"], "緯度": [34.79, 34.80], "経度": [133.61, 133.62]})
    src.to_excel(path, index=False)
    df = read_table(path)
    assert list(df.columns) == ["名称", "緯度", "経度"]
    assert df["名称"].tolist() == ["サロンひまわり", "サロンすみれ"]
    assert float(df.loc[1, "緯度"]) == pytest.approx(34.80)


def test_tsv(tmp_path):
    path = tmp_path / "t.tsv"
    path.write_text("a\tb\n1\t2\n", encoding="utf-8")
    assert read_table(path).loc[0, "b"] == "2"


# ------------------------------------------------------------------ vector layers


def test_geojson_without_crs_is_lonlat(tmp_path):
    path = _write_json(tmp_path / "pts.geojson", _feature_collection([_point(133.6, 34.8, name="高梁")]))
    gdf = read_vector(path)
    assert gdf.crs.to_epsg() == 4326
    assert gdf.attrs["repaired"] == []


def test_empty_feature_collection(tmp_path):
    path = _write_json(tmp_path / "none.geojson", _feature_collection([]))
    with pytest.raises(InputDataError, match=r"none\.geojson: .*地物が1つもありません"):
        read_vector(path)


def test_empty_vector_file(tmp_path):
    path = tmp_path / "zero.geojson"
    path.write_bytes(b"")
    with pytest.raises(InputDataError, match=r"zero\.geojson: .*0 バイト"):
        read_vector(path)


def test_not_a_geo_file(tmp_path):
    path = tmp_path / "notes.geojson"
    path.write_text("this is not json", encoding="utf-8")
    with pytest.raises(InputDataError, match=r"notes\.geojson: 地図のレイヤーとして読めませんでした"):
        read_vector(path)


def test_projected_metres_labelled_4326(tmp_path):
    features = [_point(-30000.0 + i, -140000.0, name=f"p{i}") for i in range(3)]
    path = _write_json(tmp_path / "metres.geojson", _feature_collection(features, "urn:ogc:def:crs:OGC:1.3:CRS84"))
    with pytest.raises(InputDataError) as err:
        read_vector(path)
    text = str(err.value)
    assert "metres.geojson" in text and "地物 1 (name='p0')" in text
    assert "平面直角座標" in text and "EPSG:6673" in text
    # and the suggested fix works: the coordinates are JGD2011 zone V metres near 高梁市
    gdf = read_vector(path, crs="EPSG:6673")
    assert 133 < gdf.geometry.x[0] < 134.5 and 34 < gdf.geometry.y[0] < 35.5


def test_projected_without_crs_asks_for_crs(tmp_path):
    path = _write_json(tmp_path / "nocrs.geojson", _feature_collection([_point(-30000.0, -140000.0, id=7)]))
    with pytest.raises(InputDataError, match=r"nocrs\.geojson: 地物 1 \(id=7\): レイヤーの座標系の指定がありません"):
        read_vector(path)


def test_swapped_geojson(tmp_path):
    features = [_point(34.79, 133.61, name="高梁市役所"), _point(34.80, 133.62, name="宇治")]
    path = _write_json(tmp_path / "swapped.geojson", _feature_collection(features))
    with pytest.raises(InputDataError) as err:
        read_vector(path)
    assert "swapped.geojson" in str(err.value) and "経度と緯度が入れ替わって" in err.value.reason
    assert err.value.feature == "1 (name='高梁市役所')"


def _bowtie_file(tmp_path):
    bowtie = Polygon([(133.60, 34.78), (133.62, 34.80), (133.62, 34.78), (133.60, 34.80), (133.60, 34.78)])
    good = Polygon([(133.5, 34.7), (133.51, 34.7), (133.51, 34.71), (133.5, 34.7)])
    gdf = gpd.GeoDataFrame({"name": ["良い区", "蝶ネクタイ区"]}, geometry=[good, bowtie], crs="EPSG:4326")
    path = tmp_path / "areas.geojson"
    gdf.to_file(path, driver="GeoJSON")
    return path


def test_bowtie_polygon_is_named(tmp_path):
    path = _bowtie_file(tmp_path)
    with pytest.raises(InputDataError) as err:
        read_vector(path)
    text = str(err.value)
    assert "areas.geojson: 地物 2 (name='蝶ネクタイ区')" in text
    assert "Self-intersection" in text


def test_bowtie_polygon_repaired(tmp_path):
    gdf = read_vector(_bowtie_file(tmp_path), repair=True)
    assert gdf.attrs["repaired"] == ["2 (name='蝶ネクタイ区')"]
    assert gdf.is_valid.all()
    assert set(gdf.geom_type) <= {"Polygon", "MultiPolygon"}
    assert gdf.geometry[1].area > 0


def test_shapefile_in_zip_roundtrip(tmp_path):
    src = gpd.GeoDataFrame(
        {"名称": ["高梁市役所", "成羽"], "n": [1, 2]},
        geometry=[Point(133.6166, 34.7889), Point(133.5473, 34.7827)],
        crs="EPSG:4326",
    ).to_crs("EPSG:6673")
    shp_dir = tmp_path / "shp"
    shp_dir.mkdir()
    src.to_file(shp_dir / "places.shp", encoding="utf-8")
    path = tmp_path / "places.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for part in shp_dir.iterdir():
            zf.write(part, f"data/{part.name}")
    gdf = read_vector(path)
    assert gdf.crs.to_epsg() == 4326
    assert gdf["名称"].tolist() == ["高梁市役所", "成羽"]
    assert gdf.geometry.x[0] == pytest.approx(133.6166, abs=1e-6)


def test_zip_without_layer(tmp_path):
    path = tmp_path / "docs.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("readme.txt", "hello")
    with pytest.raises(InputDataError, match=r"docs\.zip: zip の中に読める地図のレイヤーがありません（中身: readme\.txt）"):
        read_vector(path)


def test_geopackage_layers(tmp_path):
    path = tmp_path / "two.gpkg"
    a = gpd.GeoDataFrame({"name": ["a"]}, geometry=[Point(133.6, 34.8)], crs="EPSG:4326")
    a.to_file(path, layer="salons")
    a.to_file(path, layer="shops")
    with pytest.raises(InputDataError, match=r"two\.gpkg: ファイルに 2 個のレイヤーがあります: salons、shops"):
        read_vector(path)
    assert read_vector(path, layer="shops")["name"].tolist() == ["a"]
    with pytest.raises(InputDataError, match="レイヤー「kominkan」はファイルにありません"):
        read_vector(path, layer="kominkan")


jp_lon = st.floats(min_value=123.0, max_value=153.0)
jp_lat = st.floats(min_value=24.0, max_value=45.5)


@settings(max_examples=200, deadline=None)
@given(lon=jp_lon, lat=jp_lat)
def test_swap_detection_never_fires_on_japanese_lonlat(lon, lat):
    assert not looks_swapped([lon], [lat])[0]


@settings(max_examples=200, deadline=None)
@given(lon=jp_lon, lat=jp_lat)
def test_swap_detection_always_fires_on_swapped(lon, lat):
    assert looks_swapped([lat], [lon])[0]



@settings(max_examples=200, deadline=None)
@given(lon=st.floats(allow_nan=True, allow_infinity=True), lat=st.floats(allow_nan=True, allow_infinity=True))
def test_in_japan_is_one_predicate_for_numbers_and_arrays(lon, lat):
    from gis.crs import JAPAN_LAT, JAPAN_LON, in_japan

    one = in_japan(lon, lat)
    assert isinstance(one, bool)
    assert one == (JAPAN_LON[0] <= lon <= JAPAN_LON[1] and JAPAN_LAT[0] <= lat <= JAPAN_LAT[1])
    assert in_japan([lon, 133.6], [lat, 34.8]).tolist() == [one, True]


# ------------------------------------------------------------------ e-Stat


def _estat_fixture(path, *, layout=2020):
    """A small e-Stat age table as downloaded: cp932, codes row, labels row, HYOSYO 1/2/3."""
    if layout == 2020:
        codes = ["T001082001", "T001082002", "T001082019", "T001082020", "T001082021", "T001082022"]
        labels = ["総数、年齢「不詳」含む", "総数０～４歳", "総数６５歳以上", "総数７５歳以上",
                  "男の総数、年齢「不詳」含む", "男６５歳以上"]
    else:  # 2010-like: five-year bands only, 全角 tilde variants
        codes = ["T000608001", "T000608002", "T000608003", "T000608004", "T000608005", "T000608006"]
        labels = ["総数　年齢「不詳」含む", "総数６５～６９歳", "総数７０～７４歳", "総数７５～７９歳",
                  "総数８０歳以上", "男　総数"]
    meta = ["KEY_CODE", "HYOSYO", "CITYNAME", "NAME", "HTKSYORI", "HTKSAKI", "GASSAN"]
    rows = [
        ["33209", "1", "高梁市", "", "0", "", "", "29072", "650", "11925", "7200", "13800", "5200"],
        ["332090010", "2", "高梁市", "宇治町", "0", "", "", "420", "8", "210", "130", "200", "95"],
        ["33209001001", "3", "高梁市", "宇治町宇治", "1", "", "33209001002", "400", "8", "200", "125", "190", "90"],
        ["33209001002", "3", "高梁市", "宇治町穴田", "2", "33209001001", "", "*", "*", "*", "*", "-", "*"],
    ]
    meta_labels = ["地域識別番号", "表章単位", "市区町村名", "町丁字名", "秘匿処理", "秘匿先情報", "合算地域"]
    lines = [",".join(meta + codes), ",".join(meta_labels + labels), *(",".join(r) for r in rows)]
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("cp932"))
    return path


def test_estat_table(tmp_path):
    df = read_estat_table(_estat_fixture(tmp_path / "h32_33209.csv"))
    assert df["KEY_CODE"].tolist() == ["33209", "332090010", "33209001001", "33209001002"]
    assert df["HYOSYO"].tolist() == [1, 2, 3, 3]
    assert str(df["T001082019"].dtype) == "Int64"
    assert df["T001082019"].tolist()[:3] == [11925, 210, 200]
    assert df["T001082019"].isna().tolist() == [False, False, False, True]  # '*' is not published, not 0
    assert df["T001082021"].isna()[3]  # '-' too
    assert df.loc[3, "HTKSAKI"] == "33209001001" and df.loc[2, "GASSAN"] == "33209001002"
    assert df.attrs["labels"]["T001082019"] == "総数６５歳以上"
    cols = estat_age_columns(df.attrs["labels"])
    assert cols == {"population": ["T001082001"], "pop_65plus": ["T001082019"], "pop_75plus": ["T001082020"]}


def test_estat_age_columns_from_bands(tmp_path):
    df = read_estat_table(_estat_fixture(tmp_path / "h22.csv", layout=2010))
    cols = estat_age_columns(df.attrs["labels"])
    assert cols["population"] == ["T000608001"]
    assert cols["pop_65plus"] == ["T000608002", "T000608003", "T000608004", "T000608005"]
    assert cols["pop_75plus"] == ["T000608004", "T000608005"]


def test_estat_bad_value_names_row_and_column(tmp_path):
    path = _estat_fixture(tmp_path / "edited.csv")
    text = path.read_bytes().decode("cp932").replace("420,8", "420,abc")
    path.write_bytes(text.encode("cp932"))
    with pytest.raises(InputDataError, match=r"edited\.csv: 2行目: 列 T001082002（総数０～４歳）の値「abc」が数値でも"):
        read_estat_table(path)


def test_estat_needs_two_header_rows(tmp_path):
    path = tmp_path / "plain.csv"
    path.write_text("a,b\nx,y\n1,2\n", encoding="utf-8")
    with pytest.raises(InputDataError, match=r"plain\.csv: 1行目の見出しに KEY_CODE の列がありません"):
        read_estat_table(path)


def test_estat_age_columns_unknown():
    with pytest.raises(InputDataError, match="「総数」「65歳以上」「75歳以上」のどの列も見つかりません"):
        estat_age_columns({"T1": "世帯数"})


# ------------------------------------------------------------------ real data


@pytest.mark.realdata
def test_real_topojson_layers():
    okayama = require_data_dir() / "okayama"
    areas = read_vector(okayama / "h22_small_areas_west_okayama.topo.json")
    assert len(areas) == 2028 and areas.crs.to_epsg() == 4326
    assert (areas["CITY"].astype(str) == "209").sum() == 444
    jh = read_vector(okayama / "ksj_a32_junior_high_districts.topo.json")
    assert len(jh) == 153
    b = areas.total_bounds
    assert 133 < b[0] < b[2] < 134.5 and 34 < b[1] < b[3] < 35.5


@pytest.mark.realdata
def test_real_n03_missing_geometries_named_or_dropped():
    path = require_data_dir() / "okayama" / "ksj_n03_municipalities.topo.json"
    with pytest.raises(InputDataError, match=r"ksj_n03_municipalities\.topo\.json: 地物 8: 地物に位置（図形）がありません"):
        read_vector(path)
    gdf = read_vector(path, repair=True)
    assert len(gdf) + len(gdf.attrs["dropped"]) == 96
    assert gdf.is_valid.all()
