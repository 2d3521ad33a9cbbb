"""Light maps on real data: 倉敷市's and 高梁市's maps stay small, coordinates ~1 m, neighbours without gaps, compressed bodies.

Measured before this work (commit a921aa2) on 倉敷市 (33202): tier map 2.60 MB, shopping map
2.21 MB, salon-gaps 1.49 MB, salon-sites 1.52 MB, catchments 0.48 MB, mobile-sales 2.46 MB;
高梁市 tier map 1.59 MB (benchmarks/map_sizes.py prints today's).
"""

from __future__ import annotations

import gzip
import json
import re
import shutil

import numpy as np
import pytest
import shapely
from fastapi.testclient import TestClient

from _auth import login

pytestmark = pytest.mark.realdata

MB = 1_000_000
_DATA = re.compile(r'_add\((\{"features".*?\})\);\n')


@pytest.fixture(scope="module")
def workspaces(tmp_path_factory, data_dir):
    """GeoPackage workspaces of 倉敷市 and 高梁市 built from the open data (once per module)."""
    from api.importing import build_city_workspace
    from api.store.geopackage import GeoPackageStore

    folder = tmp_path_factory.mktemp("light_maps")
    paths = {}
    for code in ("33202", "33209"):
        paths[code] = folder / f"{code}.gpkg"
        with GeoPackageStore(paths[code], create=True) as store:
            build_city_workspace(store, data_dir=data_dir, city_code=code)
    return paths


def _store(path):
    from api.store.geopackage import GeoPackageStore

    return GeoPackageStore(path)


def _geojson_blocks(html: str) -> list[dict]:
    return [json.loads(m.group(1)) for m in _DATA.finditer(html)]


def _coordinates(geometry: dict) -> np.ndarray:
    return shapely.get_coordinates(shapely.from_geojson(json.dumps(geometry)))


def test_kurashiki_every_map_is_at_most_1_2_mb(workspaces, data_dir):
    from api.analysis_registry import load_analyses
    from api.maps import tier_map_html

    registry = load_analyses()
    with _store(workspaces["33202"]) as store:
        sizes = {"tier map": len(tier_map_html(store).encode("utf-8"))}
        # mobile-sales takes minutes on 倉敷市 (1,170 candidate stops); its map's bulk, the stops no
        # day reaches, is tested on its own below
        runs = {"shopping-refugees": {}, "salon-gaps": {}, "salon-sites": {}, "catchments": {}}
        for name, params in runs.items():
            spec = registry[name]
            result = spec.run(store, spec.params.model_validate(params), progress=lambda f, m: None,
                              data_dir=data_dir)
            assert result.map_html, name
            sizes[name] = len(result.map_html.encode("utf-8"))
    print("倉敷市 map sizes (bytes):", sizes)
    assert all(size <= 1.2 * MB for size in sizes.values()), sizes
    assert sizes["tier map"] > 0.3 * MB  # still the whole city, not an empty page


def test_takahashi_tier_map_is_at_most_0_9_mb_and_has_every_layer(workspaces):
    from api.maps import tier_map_html

    with _store(workspaces["33209"]) as store:
        html = tier_map_html(store)
        ws = store.workspace()
        resources = store.resources()
    print("高梁市 tier map (bytes):", len(html.encode("utf-8")))
    assert len(html.encode("utf-8")) <= 0.9 * MB
    for lv in ws["profile"].levels:
        assert f'"{lv.label}"' in html or lv.label in html
    # one L.geoJson per tier level and per point kind, not one marker per point
    kinds = resources["kind"].nunique()
    assert html.count("L.geoJson(") >= len(ws["profile"].levels) + kinds
    assert html.count("L.circleMarker(") == 0 and html.count("L.popup(") == 0
    # only the main layers are on at first: every other layer is listed but switched off
    assert "tsunagu-legend" in html and "L.control.layers" in html


def test_every_coordinate_written_has_at_most_5_decimals(workspaces):
    from api.maps import tier_map_html

    with _store(workspaces["33209"]) as store:
        blocks = _geojson_blocks(tier_map_html(store))
    assert len(blocks) >= 4
    coords = np.concatenate([_coordinates(f["geometry"]) for b in blocks for f in b["features"]])
    assert len(coords) > 10_000
    assert np.array_equal(coords, np.round(coords, 5))
    # written as short decimals too, not as 133.61000000000001
    text = json.dumps(blocks[0])
    assert not re.search(r"\d\.\d{6,}", text)


def _holes(geometry) -> int:
    return sum(len(p.interiors) for p in getattr(geometry, "geoms", [geometry]))


def test_neighbours_keep_one_boundary_after_simplification(workspaces):
    from layers.geojson import DISPLAY_TOLERANCE_M, display_polygons

    with _store(workspaces["33202"]) as store:
        areas = store.areas()
    plane = "EPSG:6673"
    for level in ("neighbourhood", "kominkan"):
        part = areas[areas["level"] == level]
        simplified = display_polygons(part, municipality_code="33202")
        before = np.asarray(part.to_crs(plane).geometry.values)
        after = np.asarray(simplified.to_crs(plane).geometry.values)
        assert shapely.get_num_coordinates(after).sum() < 0.5 * shapely.get_num_coordinates(before).sum()
        union_before, union_after = shapely.union_all(before), shapely.union_all(after)
        # no gaps: the union covers the same ground; no overlaps: the parts add up to the union
        assert union_after.area == pytest.approx(union_before.area, rel=2e-3), level
        assert shapely.area(after).sum() == pytest.approx(union_after.area, rel=1e-3), level
        # and no new slivers: the union has no more holes than before
        assert _holes(union_after) <= _holes(union_before), level
    # simplifying each polygon on its own (the old way) does open gaps between neighbours
    part = areas[areas["level"] == "neighbourhood"].to_crs(plane)
    alone = shapely.simplify(np.asarray(part.geometry.values), DISPLAY_TOLERANCE_M, preserve_topology=True)
    assert _holes(shapely.union_all(alone)) > _holes(shapely.union_all(np.asarray(part.geometry.values)))


def test_maps_and_layers_are_served_precompressed_with_an_etag_per_encoding(workspaces, tmp_path):
    brotli = pytest.importorskip("brotli")
    from api import layer_cache
    from api.app import create_app
    from api.settings import Settings

    path = tmp_path / "ws.gpkg"
    shutil.copy(workspaces["33209"], path)
    app = create_app(Settings(workspace=str(path), upload_dir=tmp_path / "uploads"))
    with TestClient(app) as client:
        login(client, "planner")
        pages = (("/maps/tiers", "高梁市 福祉圏域マップ".encode()), ("/tiers/neighbourhood", b"FeatureCollection"))
        for url, marker in pages:
            tags = {}
            for coding in ("br", "gzip", "identity"):
                with client.stream("GET", url, headers={"Accept-Encoding": coding}) as r:
                    raw = b"".join(r.iter_raw())
                assert r.status_code == 200 and "accept-encoding" in r.headers["vary"].lower()
                if coding == "identity":
                    assert "content-encoding" not in r.headers
                    body = raw
                else:
                    assert r.headers["content-encoding"] == coding
                    body = brotli.decompress(raw) if coding == "br" else gzip.decompress(raw)
                    assert len(raw) < len(body) / 3
                assert marker in body
                tags[coding] = r.headers["etag"]
                again = client.get(url, headers={"Accept-Encoding": coding, "If-None-Match": tags[coding]})
                assert again.status_code == 304 and again.content == b""
                assert again.headers["etag"] == tags[coding]
            assert len(set(tags.values())) == 3, tags
            # a cached body is kept compressed, never compressed again per request
            kept = [v for k, v in layer_cache._bodies._values.items() if k[1] == url.lstrip("/")]
            assert kept and kept[0].br is not None and kept[0].gzip[:2] == b"\x1f\x8b"


def test_route_map_draws_the_stops_no_day_reaches_as_one_layer():
    """倉敷市's weekly plan leaves ~1,150 stops unreached; each was a marker with its own popup (2.46 MB)."""
    from gis.access import StraightLineEngine
    from gis.routing import Location, Vehicle, travel_matrix
    from gis.weekly import WeeklyProblem, WeeklyStop, plan_week
    from layers.maps import render_html
    from layers.routes import route_map

    depot = Location(133.62, 34.79, "店")
    rng = np.random.default_rng(0)
    stops = [WeeklyStop(f"S{k:03d}", f"停留所{k}<b>",
                        Location(133.62 + rng.normal(0, 0.05), 34.79 + rng.normal(0, 0.05)), expected_customers=5)
             for k in range(150)]
    d, x, note, _source = travel_matrix(StraightLineEngine(crs="EPSG:6673"), [depot] + [s.location for s in stops], speed_kmh=30)
    problem = WeeklyProblem(depot, stops, [Vehicle("v1", "1号車", (9 * 3600, 11 * 3600))], d, x, days=("月",), note=note)
    plan = plan_week(problem, time_limit_s=1, seed=0)
    missing = {sid for sid, _k, _why in plan.unassigned}
    assert len(missing) > 100
    html = render_html(route_map(problem, plan))
    assert html.count("L.marker(") < 150 - len(missing) + 5  # numbered markers only for the visits
    blocks = _geojson_blocks(html)
    assert sum(len(b["features"]) for b in blocks) == len(missing)
    # each popup says why (a reason every stop shares is written once for the layer)
    assert all("回目" in f["properties"]["理由"] for b in blocks for f in b["features"]) if "理由" in \
        blocks[0]["features"][0]["properties"] else re.search(r'Object\.assign\(\{\}, \{"理由":"[^"]*回目', html)
    names = [f["properties"]["名称"] for b in blocks for f in b["features"]]
    assert all(n.endswith("&lt;b&gt;（訪問なし）") for n in names)  # escaped: a name shows as text, not HTML
    assert f"訪問できない停留所（{len(missing)} か所）" in html
