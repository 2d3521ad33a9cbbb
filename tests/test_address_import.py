"""Address-only resource lists: placed at census 町丁・字 on real 高梁市 names, unmatched rows listed, all or nothing."""

from __future__ import annotations

import sys
import types

import pandas as pd
import pytest
from click.testing import CliRunner

from api.cli import main
from api.importing import check_resource_file, import_resource_file
from gis.errors import InputDataError
from gis.geocoding import SMALL_AREA_NOTE, SmallAreaGazetteer, normalise_address
from gis.crs import plane_rectangular_crs
from gis.tiers import DEFAULT_PROFILE


@pytest.fixture(scope="module")
def small_areas(data_dir):
    from gis import opendata

    return opendata.read_census_small_areas(data_dir / "okayama" / "h22_small_areas_west_okayama.topo.json",
                                            city_code="33209")


@pytest.fixture
def takahashi(tmp_path, small_areas):
    """A GeoPackage workspace holding 高梁市's real census small areas (the innermost tier)."""
    from api.store.geopackage import GeoPackageStore
    from gis.schema import coerce_areas

    areas = small_areas.assign(level="neighbourhood", parent_id=None, source="e-Stat 平成22年国勢調査 小地域")
    path = tmp_path / "ws.gpkg"
    with GeoPackageStore(path, create=True) as store:
        with store.transaction() as tx:
            tx.set_workspace(city_code="33209", city_name="高梁市", profile=DEFAULT_PROFILE)
            tx.replace_areas(coerce_areas(areas))
    return path


def _names(small_areas, *wanted):
    """Real MOJI names of 高梁市, read from the data (failing if the data changed)."""
    names = set(small_areas["name"])
    for w in wanted:
        assert w in names, w
    return wanted


def _csv(tmp_path, small_areas):
    # Real names in several written forms: 全角 digits, kanji 丁目, 大字, spaces, prefecture and city prefix,
    # ヶ for ケ, an alternative name after 「，」, a 字 of a 町丁 split into parts.
    _names(small_areas, "成羽町下原", "本町３", "中井町津々入野，横内", "川上町上大竹上谷，川原ケ高瀬", "栄町１上", "栄町１下")
    rows = [
        ("下原サロン", "岡山県高梁市成羽町下原３０１番地"),
        ("本町サロン", "高梁市 本町三丁目5"),
        ("横内サロン", "中井町津々 横内120"),
        ("高瀬サロン", "高梁市川上町上大竹川原ヶ高瀬5-2"),
        ("栄町サロン", "高梁市大字栄町1丁目2-3"),
        ("架空サロン", "高梁市夢見ヶ丘9丁目99"),
    ]
    path = tmp_path / "salons.csv"
    pd.DataFrame(rows, columns=["サロン名", "住所"]).to_csv(path, index=False, encoding="utf-8-sig")
    return path


def test_normalise_address_forms():
    assert normalise_address("岡山県高梁市 成羽町大字下原３０１番地", city_names=["高梁市"]) == "成羽町下原301番地"
    assert normalise_address("高梁市本町三丁目5", city_names=["高梁市"]) == "本町3-5"
    assert normalise_address("川原ヶ高瀬") == normalise_address("川原ケ高瀬")


def test_gazetteer_places_real_names_inside_their_area(small_areas):
    gaz = SmallAreaGazetteer.from_areas(small_areas, city_name="高梁市", crs=plane_rectangular_crs("33209"))
    m = gaz.match("高梁市成羽町下原301")
    assert m.name == "成羽町下原"
    part = small_areas[small_areas["area_id"].isin(m.area_ids)]
    from shapely.geometry import Point

    assert part.union_all().contains(Point(m.lon, m.lat))
    assert gaz.match("高梁市本町三丁目5").name == "本町３"
    assert gaz.match("本町35番地").name == "本町"  # a lot number is not 3丁目
    assert set(gaz.match("栄町1丁目").area_ids) == set(
        small_areas.loc[small_areas["name"].isin(["栄町１上", "栄町１下"]), "area_id"])
    assert gaz.match("高梁市夢見ヶ丘9丁目") is None
    assert "浜町" in gaz.closest("高梁市浜町9") or gaz.match("高梁市浜町9") is not None


def test_unmatched_rows_refuse_the_import_with_candidates(takahashi, tmp_path, small_areas):
    from api.store.geopackage import GeoPackageStore

    csv = _csv(tmp_path, small_areas)
    with GeoPackageStore(takahashi) as store:
        check = check_resource_file(store, csv, kind="salon")
        assert not check.ok
        assert [p.row for p in check.problems] == [6]
        assert "夢見ヶ丘" in check.problems[0].reason and "近い町丁・字" in check.problems[0].reason
        with pytest.raises(InputDataError) as err:
            import_resource_file(store, csv, kind="salon")
        assert "6行目" in str(err.value.reason) and "何も書き込んでいません" in str(err.value.reason)
        assert store.resources().empty  # nothing imported until the user decides


def test_skip_unmatched_imports_the_placed_rows_marked_approximate(takahashi, tmp_path, small_areas):
    from api.store.geopackage import GeoPackageStore

    csv = _csv(tmp_path, small_areas)
    with GeoPackageStore(takahashi) as store:
        result = import_resource_file(store, csv, kind="salon", skip_unmatched=True)
        assert result["imported"] == 5 and result["left_out"] == [6]
        assert "照合できなかった 1 行" in result["message"]
        res = store.resources()
    assert len(res) == 5
    assert all(a["location_precision"] == SMALL_AREA_NOTE for a in res["attributes"])
    assert set(res["resource_id"]) == {f"salons-{i}" for i in range(1, 6)}  # ids keep the file's rows
    by_name = dict(zip(res["name"], res.geometry))
    area = small_areas[small_areas["name"] == "中井町津々入野，横内"].union_all()
    assert area.contains(by_name["横内サロン"])


def test_cli_lists_unmatched_then_skip_unmatched(takahashi, tmp_path, small_areas):
    csv = _csv(tmp_path, small_areas)
    out = CliRunner().invoke(main, ["import", "resources", str(csv), "--kind", "salon", "--workspace", str(takahashi)])
    assert out.exit_code != 0
    assert "夢見ヶ丘" in out.output and "--skip-unmatched" in out.output
    out = CliRunner().invoke(main, ["import", "resources", str(csv), "--kind", "salon", "--skip-unmatched",
                                    "--workspace", str(takahashi)])
    assert out.exit_code == 0, out.output
    assert "5 件" in out.output and "照合できなかった 1 行" in out.output and SMALL_AREA_NOTE in out.output


def test_jageocoder_is_used_when_its_dictionary_is_installed(takahashi, tmp_path, small_areas, monkeypatch):
    """With jageocoder and a dictionary, its point is used; rows it cannot place fall back to the census names."""
    fake = types.ModuleType("jageocoder")
    fake.is_initialized = lambda: True
    asked = []

    def search(query):
        asked.append(query)
        if "下原" in query:
            return {"matched": query, "candidates": [{"x": 133.5301, "y": 34.7702, "level": 7,
                                                      "fullname": ["岡山県", "高梁市", "成羽町下原", "301番地"]}]}
        return {"matched": "", "candidates": []}

    fake.search = search
    monkeypatch.setitem(sys.modules, "jageocoder", fake)
    from api.store.geopackage import GeoPackageStore

    csv = _csv(tmp_path, small_areas)
    with GeoPackageStore(takahashi) as store:
        result = import_resource_file(store, csv, kind="salon", skip_unmatched=True)
        res = store.resources()
    assert result["located"]["method"] == "jageocoder"
    row = res[res["name"] == "下原サロン"].iloc[0]
    assert (round(row.geometry.x, 4), round(row.geometry.y, 4)) == (133.5301, 34.7702)
    assert row["attributes"]["location_precision"] == "位置は住所から推定（jageocoder）"
    other = res[res["name"] == "本町サロン"].iloc[0]
    assert other["attributes"]["location_precision"] == SMALL_AREA_NOTE
    assert all("高梁市" in q for q in asked)


def test_without_jageocoder_dictionary_falls_back(monkeypatch):
    fake = types.ModuleType("jageocoder")
    fake.is_initialized = lambda: False

    def init(**_kw):
        raise RuntimeError("dictionary not installed")

    fake.init = init
    monkeypatch.setitem(sys.modules, "jageocoder", fake)
    from gis.geocoding import jageocoder_available

    assert not jageocoder_available()


def test_map_popup_names_the_approximate_position():
    import geopandas as gpd
    from shapely.geometry import Point

    from gis.schema import coerce_resources
    from layers.points import resource_layers

    res = coerce_resources(gpd.GeoDataFrame(
        {"resource_id": ["s1"], "kind": ["salon"], "name": ["下原サロン"], "address": ["高梁市成羽町下原301"],
         "attributes": [{"location_precision": SMALL_AREA_NOTE}]},
        geometry=[Point(133.53, 34.77)], crs="EPSG:4326"))
    import folium

    m = folium.Map()
    for g in resource_layers(res):
        g.add_to(m)
    assert SMALL_AREA_NOTE in m.get_root().render()
