"""Map layers: tier choropleths, points, legend, attributions, and a page that needs no CDN."""

from __future__ import annotations

import os
import re
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import Point, box

from gis.schema import coerce_areas, coerce_resources, coerce_stations
from gis.tiers import DEFAULT_PROFILE, load_profile
from layers import style
from layers.maps import render_html, tier_map
from layers.points import resource_layers
from layers.tiers import area_density, tier_frame

DATA_DIR = Path(os.environ.get("TSUNAGU_DATA_DIR", Path(__file__).resolve().parents[2] / "shared" / "data"))
if not DATA_DIR.exists():
    DATA_DIR = Path("/work/shared/data")


def _point_popups(groups) -> dict[str, dict]:
    """名称 → what the popup of that point shows (layer constants and the point's own properties)."""
    import folium

    from layers.geojson import PropertyPopup

    out = {}
    for group in groups:
        for layer in group._children.values():
            if isinstance(layer, folium.GeoJson):
                popup = next(c for c in layer._children.values() if isinstance(c, PropertyPopup))
                for feature in layer.data["features"]:
                    shown = {**popup.constants, **feature["properties"]}
                    out[shown["名称"]] = shown
    return out


def _unescape(text: str) -> str:
    """Decode the \\uXXXX escapes folium uses inside embedded JSON, so Japanese can be searched."""
    return re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), text)


@pytest.fixture()
def frames():
    # 1 km ≈ 0.011° of longitude at 34.8°N; each neighbourhood box is about 1.83 km × 2.22 km.
    areas = coerce_areas(gpd.GeoDataFrame(
        {
            "area_id": ["a1", "a2", "k1", "j1", "c1"],
            "level": ["neighbourhood", "neighbourhood", "kominkan", "junior_high", "city"],
            "name": ["落合町阿部", "成羽町下原", "高梁公民館区", "高梁中学校区", "高梁市"],
            "parent_id": ["k1", "k1", "j1", "c1", None],
            "population": [1200, pd.NA, 1200, 1200, 1200],
            "households": [500, pd.NA, 500, 500, 500],
            "pop_65plus": [480, pd.NA, pd.NA, pd.NA, pd.NA],
        },
        geometry=[box(133.60, 34.78, 133.62, 34.80), box(133.62, 34.78, 133.64, 34.80)]
        + [box(133.60, 34.78, 133.64, 34.80)] * 3,
        crs="EPSG:4326",
    ))
    resources = coerce_resources(gpd.GeoDataFrame(
        {
            "resource_id": ["r1", "r2"],
            "kind": ["salon", "supermarket"],
            "name": ["いきいきサロン松山", "天満屋ハピーズ高梁店"],
            "address": ["高梁市松山1", "高梁市正宗町"],
            "is_sample": [True, False],
        },
        geometry=[Point(133.61, 34.79), Point(133.63, 34.79)],
        crs="EPSG:4326",
    ))
    stations = coerce_stations(gpd.GeoDataFrame(
        {"station_id": ["s1"], "name": ["高梁市社協本所"], "kind": ["shakyo_station"], "area_ids": [["a1", "a2"]]},
        geometry=[Point(133.615, 34.785)],
        crs="EPSG:4326",
    ))
    return areas, stations, resources


def test_density_is_measured_in_metres(frames):
    areas, _, _ = frames
    nb = areas[areas.level == "neighbourhood"]
    stats = area_density(nb, municipality_code="33209")
    # 0.02° × 0.02° at 34.79°N ≈ 1.828 km × 2.219 km ≈ 4.06 km²
    assert stats["area_km2"].iloc[0] == pytest.approx(4.06, rel=0.01)
    assert stats["density"].iloc[0] == pytest.approx(1200 / stats["area_km2"].iloc[0])
    assert pd.isna(stats["density"].iloc[1])  # unknown population stays unknown, not 0


def test_tier_frame_japanese_fields_and_unknowns(frames):
    areas, _, _ = frames
    frame = tier_frame(areas[areas.level == "neighbourhood"])
    first, second = frame.iloc[0], frame.iloc[1]
    assert first["名称"] == "落合町阿部" and first["人口"] == "1,200" and first["65歳以上"] == "480"
    assert second["人口"] == "不明" and second["65歳以上"] == "不明" and second[style.DENSITY_LABEL] == "不明"
    assert second["_fill"] == style.NO_DATA_COLOUR and bool(second["_unknown"])
    assert first["_fill"] == style.density_colour(1200 / 4.06)


def test_density_colour_classes():
    assert style.density_colour(pd.NA) == style.NO_DATA_COLOUR
    assert style.density_colour(0) == style.DENSITY_COLOURS[0]
    assert style.density_colour(99.9) == style.DENSITY_COLOURS[2]
    assert style.density_colour(100) == style.DENSITY_COLOURS[3]
    assert style.density_colour(1e6) == style.DENSITY_COLOURS[-1]


def _assert_offline(html: str) -> None:
    external = re.findall(r"<script[^>]+src=[\"']?(?:https?:)?//[^>]*>", html, flags=re.I)
    external += re.findall(r"<link[^>]+href=[\"']?(?:https?:)?//[^>]*>", html, flags=re.I)
    assert external == [], external
    assert "jquery" not in html.lower() and "bootstrap" not in html.lower()
    assert "awesome-markers" not in html and "L.AwesomeMarkers" not in html
    assert "Leaflet 1.9.4" in html  # inlined from layers/static
    assert "url(images/" not in html  # control images are data URIs


def test_tier_map_synthetic(frames):
    areas, stations, resources = frames
    profile = DEFAULT_PROFILE.with_note("kominkan", "公民館区は小学校区（国土数値情報 A27）で代用")
    html = render_html(tier_map(areas=areas, stations=stations, resources=resources, profile=profile,
                                city_name="高梁市"))
    text = _unescape(html)
    for lv in profile.levels:
        assert lv.label in text
    assert "高梁市 福祉圏域マップ" in text
    # legend
    assert style.DENSITY_LABEL in text and style.NO_DATA_LABEL in text
    assert "ふれあい・いきいきサロン" in text and "社協地域ステーション" in text
    # attributions
    assert "https://maps.gsi.go.jp/development/ichiran.html" in text and "出典：国土地理院" in text
    for attribution in style.DATA_ATTRIBUTIONS:
        assert attribution in text
    # popups with Japanese names and fields
    for name in ("落合町阿部", "成羽町下原", "いきいきサロン松山", "天満屋ハピーズ高梁店", "高梁市社協本所"):
        assert name in text
    for field in ("人口", "世帯数", "65歳以上", "面積 km²", "不明"):
        assert field in text
    # sample marking: in the sample's popup and its layer name, not in the real shop's popup
    popups = _point_popups(resource_layers(resources))
    assert "サンプルデータ" in popups["いきいきサロン松山"]["データ"]
    assert not popups["天満屋ハピーズ高梁店"].get("データ")
    assert popups["天満屋ハピーズ高梁店"]["住所"] == "高梁市正宗町"
    assert "ふれあい・いきいきサロン（1件）［サンプルデータ］" in text
    # stand-in note
    assert "公民館区は小学校区（国土数値情報 A27）で代用" in text
    # native Leaflet layer control; points drawn as circle markers of one L.geoJson per kind
    assert "L.control.layers" in html and "new L.CircleMarker(latlng" in html and "L.marker(" not in html
    assert html.count("L.geoJson(") == len(profile.levels) + 3  # tiers, 1 station kind, 2 resource kinds
    _assert_offline(html)
    # folium builds Popup elements with jQuery's $(...)[0]; no jQuery is loaded offline, so the
    # page defines a $ for that before any such popup (else the script stops at the first one)
    first_popup = html.find("$(`")
    assert -1 < html.find("window.$ = window.$ ||") < (first_popup if first_popup > -1 else len(html))


def test_tier_map_without_points_or_unknowns(frames):
    areas, _, _ = frames
    areas = areas[areas.area_id != "a2"]
    html = _unescape(render_html(tier_map(areas=areas, stations=None, resources=None,
                                          profile=load_profile("mine"), city_name="美祢市")))
    assert "美祢市 福祉圏域マップ" in html
    for label in ("住民主体地域活動圏域", "福祉圏域", "市圏域"):
        assert label in html
    assert style.NO_DATA_LABEL not in html
    assert "サンプルデータ" not in html
    _assert_offline(html)


def test_other_folium_maps_keep_their_cdn_links(frames):
    """Going offline is per map: folium's class-level defaults are untouched."""
    import folium

    areas, _, _ = frames
    render_html(tier_map(areas=areas, stations=None, resources=None, profile=DEFAULT_PROFILE, city_name="高梁市"))
    assert any("leaflet" in url for _, url in folium.Map.default_js)


@pytest.mark.realdata
@pytest.mark.skipif(not (DATA_DIR / "okayama").exists(), reason="needs ../shared/data")
def test_tier_map_takahashi_real_polygons():
    d = DATA_DIR / "okayama"
    small = gpd.read_file(d / "h22_small_areas_west_okayama.topo.json").set_crs("EPSG:4326", allow_override=True)
    small = small[small["CITY"].astype(str) == "209"]
    small = small.dissolve(by="KEY_CODE", aggfunc={"MOJI": "first", "JINKO": "sum", "SETAI": "sum"}).reset_index()
    schools = gpd.read_file(d / "ksj_a27_elementary_districts.topo.json").set_crs("EPSG:4326", allow_override=True)
    schools = schools[schools["A27_005"].astype(str) == "33209"].reset_index(drop=True)
    areas = coerce_areas(pd.concat([
        gpd.GeoDataFrame({"area_id": small["KEY_CODE"].astype(str), "level": "neighbourhood",
                          "name": small["MOJI"], "population": small["JINKO"], "households": small["SETAI"]},
                         geometry=small.geometry.values, crs="EPSG:4326"),
        gpd.GeoDataFrame({"area_id": [f"e{i}" for i in range(len(schools))], "level": "kominkan",
                          "name": schools["A27_007"] + "校区"},
                         geometry=schools.geometry.values, crs="EPSG:4326"),
    ]))
    assert len(areas[areas.level == "neighbourhood"]) == 444
    km2 = area_density(areas[areas.level == "neighbourhood"], municipality_code="33209")["area_km2"].sum()
    assert km2 == pytest.approx(546.9, rel=0.01)
    profile = DEFAULT_PROFILE.with_note("kominkan", "公民館区は小学校区（国土数値情報 A27）で代用")
    html = render_html(tier_map(areas=areas, stations=None, resources=None, profile=profile,
                                city_name="高梁市", municipality_code="33209"))
    text = _unescape(html)
    assert "高梁市 福祉圏域マップ" in text and "公民館区は小学校区" in text
    assert small["MOJI"].iloc[0] in text and schools["A27_007"].iloc[0] + "校区" in text
    assert style.NO_DATA_LABEL in text  # the stand-in 公民館区 have no population of their own
    _assert_offline(html)
    assert len(html) < 5_000_000  # simplified for the browser


def test_maps_have_a_metric_scale_and_a_grouped_legend(frames):
    """The scale bar shows m/km only (folium's control_scale adds miles); the legend groups kinds."""
    areas, stations, resources = frames
    html = render_html(tier_map(areas=areas, stations=stations, resources=resources, profile=DEFAULT_PROFILE,
                                city_name="高梁市"))
    assert "imperial: false" in html and "L.control.scale()" not in html
    legend = style.legend_html(density=False, resource_kinds=["supermarket", "salon", "dementia_cafe", "salon"])
    # vocabulary order, under each group's name, each kind once
    assert re.findall(r"<div class='grp'>([^<]+)</div>", legend) == ["集いの場", "食料品の買い物"]
    labels = re.findall(r"</span>([^<]+)</div>", legend)
    assert labels == ["ふれあい・いきいきサロン", "認知症カフェ", "スーパーマーケット"]
