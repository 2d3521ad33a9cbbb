"""Imports into a workspace: good files land; bad input gets a clear message naming file/row/feature and leaves the store unchanged.

Runs against both stores (GeoPackage and PostGIS) on a small synthetic workspace in 岡山県's
plane (JGD2011 zone V), so coordinates are genuinely in Japan.
"""

from __future__ import annotations

import json

import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import Polygon, box

from api.importing import import_resource_file, import_tier_file
from gis.errors import InputDataError, NestingError
from gis.nesting import TierSource, build_tiers
from gis.tiers import DEFAULT_PROFILE

CRS = "EPSG:6673"
X0, Y0 = -40_000.0, -130_000.0  # about 133.56E, 34.83N (高梁市 area)


def _km_box(a, b, c, d):
    return box(X0 + a * 1000, Y0 + b * 1000, X0 + c * 1000, Y0 + d * 1000)


def _frame(rows):
    return gpd.GeoDataFrame(
        {"area_id": [r[0] for r in rows], "name": [r[1] for r in rows],
         "population": pd.array([r[3] for r in rows], dtype="Int64"),
         "households": pd.array([r[3] for r in rows], dtype="Int64")},
        geometry=[_km_box(*r[2]) for r in rows], crs=CRS,
    ).to_crs(4326)


@pytest.fixture(params=["geopackage", "postgis"])
def store(request):
    fixture = "tmp_store" if request.param == "geopackage" else "pg_store"
    store = request.getfixturevalue(fixture)
    small = _frame([(f"3399900{i}{j}", f"字{i}{j}", (i, j, i + 1, j + 1), 10 * i + j + 1) for i in range(4) for j in range(2)])
    elem = _frame([("e1", "東小学校", (0, 0, 2, 2), None), ("e2", "西小学校", (2, 0, 4, 2), None)])
    junior = _frame([("j1", "中央中学校", (0, 0, 4, 2), None)])
    city = _frame([("33999", "テスト市", (0, 0, 4, 2), None)])
    build = build_tiers(small, profile=DEFAULT_PROFILE, city=city, city_code="33999", city_name="テスト市",
                        sources={"kominkan": TierSource(polygons=elem, source="test"),
                                 "junior_high": TierSource(polygons=junior, source="test")}, crs=CRS)
    resources = gpd.GeoDataFrame(
        {"resource_id": ["r1"], "kind": ["kominkan"], "name": ["東公民館"]},
        geometry=gpd.GeoSeries([_km_box(0.4, 0.4, 0.6, 0.6).centroid], crs=CRS).to_crs(4326).values, crs=4326)
    from gis.schema import coerce_resources

    with store.transaction() as tx:
        tx.set_workspace(city_code="33999", city_name="テスト市", profile=DEFAULT_PROFILE)
        tx.replace_areas(build.areas)
        tx.replace_resources(coerce_resources(resources))
        tx.set_nesting_report(build.report)
    return store


def _snapshot(store) -> dict:
    areas = store.areas()
    return {
        "areas": areas.drop(columns="geometry").to_json(),
        "geoms": [g.wkt for g in areas.geometry],
        "resources": store.resources().drop(columns="geometry").to_json(),
        "report": json.dumps(store.nesting_report(), sort_keys=True),
        "log": len(store.import_log()),
    }


def _lonlat(i, j):
    p = gpd.GeoSeries([_km_box(i, j, i + 0.1, j + 0.1).centroid], crs=CRS).to_crs(4326).iloc[0]
    return round(p.x, 6), round(p.y, 6)


def _refused(store, call, *needles):
    before = _snapshot(store)
    with pytest.raises(InputDataError) as err:
        call()
    for needle in needles:
        assert needle in str(err.value), (needle, str(err.value))
    assert _snapshot(store) == before, "a refused import must leave the store unchanged"
    return err.value


def test_good_salon_csv_in_shift_jis_is_imported(store, tmp_path):
    lon, lat = _lonlat(1, 1)
    path = tmp_path / "サロン一覧.csv"
    path.write_bytes(f"ID,名称,緯度,経度,開催日\ns1,いきいきサロン東,{lat},{lon},毎週火曜\n".encode("cp932"))
    result = import_resource_file(store, path, kind="salon")
    assert result["imported"] == 1
    salon = store.resources(kinds=["salon"]).iloc[0]
    assert salon["name"] == "いきいきサロン東"


def test_mojibake_csv_is_refused(store, tmp_path):
    lon, lat = _lonlat(1, 1)
    text = f"名称,緯度,経度\nふれあいサロン,{lat},{lon}\n"
    garbled = text.encode("cp932").decode("utf-8", errors="replace")
    path = tmp_path / "salons_utf8.csv"
    path.write_text(garbled, encoding="utf-8")
    _refused(store, lambda: import_resource_file(store, path, kind="salon"), "salons_utf8.csv", "Shift_JIS")


def test_swapped_lat_lon_is_refused(store, tmp_path):
    lon, lat = _lonlat(1, 1)
    path = tmp_path / "swapped.csv"
    path.write_text(f"名称,緯度,経度\n東サロン,{lon},{lat}\n西サロン,{lon},{lat}\n", encoding="utf-8")
    err = _refused(store, lambda: import_resource_file(store, path, kind="salon"), "swapped.csv", "swapped")
    assert err.row == 1 or "row" in str(err)


def test_unknown_kind_is_refused(store, tmp_path):
    lon, lat = _lonlat(1, 1)
    path = tmp_path / "kinds.csv"
    path.write_text(f"名称,種別,緯度,経度\nA,salon,{lat},{lon}\nB,カラオケ,{lat},{lon}\n", encoding="utf-8")
    _refused(store, lambda: import_resource_file(store, path), "kinds.csv", "カラオケ", "2行目")


def test_duplicate_ids_are_refused(store, tmp_path):
    lon, lat = _lonlat(1, 1)
    path = tmp_path / "dups.csv"
    path.write_text(f"ID,名称,緯度,経度\nx1,A,{lat},{lon}\nx1,B,{lat},{lon}\n", encoding="utf-8")
    _refused(store, lambda: import_resource_file(store, path, kind="salon"), "dups.csv", "x1")


def test_id_already_in_the_workspace_is_refused(store, tmp_path):
    lon, lat = _lonlat(1, 1)
    path = tmp_path / "again.csv"
    path.write_text(f"ID,名称,緯度,経度\nr1,東公民館,{lat},{lon}\n", encoding="utf-8")
    _refused(store, lambda: import_resource_file(store, path, kind="kominkan"), "again.csv", "ID「r1」")


@pytest.mark.parametrize("content", [b"", b"ID,\xe5\x90\x8d\xe7\xa7\xb0,lat,lon\n"])
def test_empty_file_is_refused(store, tmp_path, content):
    path = tmp_path / "empty.csv"
    path.write_bytes(content)
    _refused(store, lambda: import_resource_file(store, path, kind="salon"), "empty.csv")


def _tier_geojson(tmp_path, features, *, name="kominkan.geojson", crs="EPSG:4326"):
    path = tmp_path / name
    gpd.GeoDataFrame(
        {"area_id": [f[0] for f in features], "name": [f[1] for f in features]},
        geometry=[f[2] for f in features], crs=crs,
    ).to_file(path, driver="GeoJSON")
    return path


def _wgs(geom):
    return gpd.GeoSeries([geom], crs=CRS).to_crs(4326).iloc[0]


def test_good_tier_polygons_replace_the_stand_in(store, tmp_path):
    path = _tier_geojson(tmp_path, [("k1", "北公民館区", _wgs(_km_box(0, 0, 4, 1))), ("k2", "南公民館区", _wgs(_km_box(0, 1, 4, 2)))])
    result = import_tier_file(store, path, level="kominkan")
    assert result["areas"] == 2
    k = store.areas(level="kominkan").set_index("area_id")
    assert int(k["population"].sum()) == int(store.areas(level="neighbourhood")["population"].sum())


def test_self_intersecting_polygon_is_refused(store, tmp_path):
    bowtie = Polygon([(X0, Y0), (X0 + 2000, Y0 + 2000), (X0 + 2000, Y0), (X0, Y0 + 2000)])
    path = _tier_geojson(tmp_path, [("k1", "ねじれ区", _wgs(bowtie)), ("k2", "南公民館区", _wgs(_km_box(2, 0, 4, 2)))])
    _refused(store, lambda: import_tier_file(store, path, level="kominkan"), "kominkan.geojson", "地物 1", "k1", "Self-intersection")


def test_projected_coordinates_labelled_4326_are_refused(store, tmp_path):
    path = _tier_geojson(tmp_path, [("k1", "北", _km_box(0, 0, 4, 2))], name="metres.geojson", crs="EPSG:4326")
    _refused(store, lambda: import_tier_file(store, path, level="kominkan"), "metres.geojson", "EPSG:66")


def test_area_straddling_two_parents_is_refused_when_strict(store, tmp_path):
    # one 公民館区 split half and half between two 中学校区
    with store.transaction() as tx:
        areas = store.areas()
        junior = areas[areas["level"] == "junior_high"]
        two = gpd.GeoDataFrame(
            {"area_id": ["j1", "j2"], "level": "junior_high", "name": ["東中学校", "西中学校"]},
            geometry=[_wgs(_km_box(0, 0, 2, 2)), _wgs(_km_box(2, 0, 4, 2))], crs=4326)
        from gis.schema import coerce_areas

        assert len(junior) == 1
        tx.replace_areas(coerce_areas(two))
    path = _tier_geojson(tmp_path, [("k1", "中央公民館区", _wgs(_km_box(1, 0, 3, 2))), ("k2", "東端区", _wgs(_km_box(0, 0, 1, 2))),
                                    ("k3", "西端区", _wgs(_km_box(3, 0, 4, 2)))])
    err = _refused(store, lambda: import_tier_file(store, path, level="kominkan", strict=True), "中央公民館区", "東中学校", "西中学校")
    assert isinstance(err, NestingError)


def test_duplicate_tier_ids_are_refused(store, tmp_path):
    path = _tier_geojson(tmp_path, [("k1", "北", _wgs(_km_box(0, 0, 4, 1))), ("k1", "南", _wgs(_km_box(0, 1, 4, 2)))])
    _refused(store, lambda: import_tier_file(store, path, level="kominkan"), "kominkan.geojson", "'k1'")


def test_small_area_table_with_unknown_key_code_is_refused(store, tmp_path):
    path = tmp_path / "table.csv"
    rows = ["KEY_CODE,地区コード,地区名"] + [f"3399900{i}{j},k1,北" for i in range(4) for j in range(2)] + ["339990099,k2,南"]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    _refused(store, lambda: import_tier_file(store, path, level="kominkan"), "339990099")


def _age_csv(tmp_path, rows, *, name="h22_age.csv"):
    """An e-Stat 年齢別人口 table as downloaded: cp932, code row, label row, HYOSYO 1/2/3 rows mixed."""
    meta = ["KEY_CODE", "HYOSYO", "CITYNAME", "NAME", "HTKSYORI", "HTKSAKI", "GASSAN"]
    codes = ["T000608001", "T000608014", "T000608015", "T000608016", "T000608017", "T000608018", "T000608019", "T000608020"]
    labels = ["総数　年齢「不詳」含む", "総数６５～６９歳", "総数７０～７４歳", "総数７５～７９歳", "総数８０～８４歳",
              "総数８５～８９歳", "総数９０～９４歳", "総数９５歳以上"]
    meta_labels = ["地域識別番号", "表章単位", "市区町村名", "町丁字名", "秘匿処理", "秘匿先情報", "合算地域"]
    lines = [",".join(meta + codes), ",".join(meta_labels + labels)]
    lines.append(",".join(["33999", "1", "テスト市", "", "0", "", ""] + ["999"] * 8))  # municipality row: not summed
    lines += [",".join(r) for r in rows]
    path = tmp_path / name
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("cp932"))
    return path


def _age_row(key, *, bands=(1, 1, 1, 1, 1, 1, 1), htk="0", saki="", gassan="", total="10"):
    return [key, "3", "テスト市", "字", htk, saki, gassan, total, *map(str, bands)]


def test_age_table_sets_65_and_75_plus_on_every_tier(store, tmp_path):
    from api.importing import import_age_table

    base_ids = [f"3399900{i}{j}" for i in range(4) for j in range(2)]
    rows = [_age_row(k, bands=(1, 2, 3, 4, 5, 6, 7)) for k in base_ids]
    result = import_age_table(store, _age_csv(tmp_path, rows))
    assert result["matched"] == 8 and result["unmatched"] == [] and result["rollup_problems"] == []
    areas = store.areas()
    base = areas[areas["level"] == "neighbourhood"]
    assert base["pop_65plus"].tolist() == [28] * 8 and base["pop_75plus"].tolist() == [25] * 8
    for level in ("kominkan", "junior_high", "city"):
        assert int(areas.loc[areas["level"] == level, "pop_65plus"].sum()) == 8 * 28
    assert store.nesting_report()["age_table"]["columns"]["pop_65plus"][0] == "T000608014"


def test_age_table_suppressed_area_stays_unknown_and_totals_reconcile(store, tmp_path):
    from api.importing import import_age_table

    base_ids = [f"3399900{i}{j}" for i in range(4) for j in range(2)]
    rows = [_age_row(k) for k in base_ids[2:]]
    # 字00 absorbed 字01's people (both in 東小学校区): 字01 is '*', not 0
    rows.insert(0, _age_row(base_ids[0], bands=(2, 2, 2, 2, 2, 2, 2), htk="1", gassan=base_ids[1]))
    rows.insert(1, _age_row(base_ids[1], bands=("*",) * 7, htk="2", saki=base_ids[0], total="*"))
    result = import_age_table(store, _age_csv(tmp_path, rows))
    assert [s["area_id"] for s in result["suppressed"]] == [base_ids[1]]
    areas = store.areas().set_index("area_id")
    assert pd.isna(areas.loc[base_ids[1], "pop_65plus"])
    assert areas.loc[base_ids[0], "pop_65plus"] == 14
    city = store.areas(level="city")["pop_65plus"].iloc[0]
    assert city == 14 + 6 * 7 and result["rollup_problems"] == []


def test_age_table_for_another_city_is_refused(store, tmp_path):
    from api.importing import import_age_table

    path = _age_csv(tmp_path, [_age_row("332090010" + "01")], name="other_city.csv")
    _refused(store, lambda: import_age_table(store, path), "other_city.csv", "KEY_CODE がワークスペースの小地域と1つも一致しません")


def test_age_table_in_mojibake_is_refused(store, tmp_path):
    from api.importing import import_age_table

    path = _age_csv(tmp_path, [_age_row("339990000")], name="garbled.csv")
    path.write_text(path.read_bytes().decode("utf-8", errors="replace"), encoding="utf-8")
    _refused(store, lambda: import_age_table(store, path), "garbled.csv", "Shift_JIS")
