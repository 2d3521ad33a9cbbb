"""The HTTP API against a GeoPackage workspace: every endpoint, error statuses, streaming uploads."""

from __future__ import annotations

import json
import shutil

import pytest
from fastapi.testclient import TestClient

from _auth import login
from _sample_workspace import fill_small_workspace
from api.app import create_app
from api.security import PUBLIC, allow
from api.settings import Settings
from api.store.geopackage import GeoPackageStore
from gis.errors import UnknownMunicipalityError
from gis.tiers import DEFAULT_PROFILE

NOTE = "公民館区は小学校区（国土数値情報 A27）で代用"


def _fill(store: GeoPackageStore) -> None:
    fill_small_workspace(store, note=NOTE)


@pytest.fixture()
def settings(tmp_path):
    return Settings(workspace=str(tmp_path / "ws.gpkg"), upload_dir=tmp_path / "uploads",
                    max_upload_bytes=1024 * 1024)


@pytest.fixture(scope="module")
def _template(tmp_path_factory):
    """One filled workspace per module (writing a GeoPackage takes a while); tests get copies."""
    path = tmp_path_factory.mktemp("template") / "ws.gpkg"
    store = GeoPackageStore(path, create=True)
    _fill(store)
    store.close()
    return path


@pytest.fixture()
def filled(settings, _template):
    shutil.copyfile(_template, settings.workspace)
    return settings


@pytest.fixture()
def client(filled):
    with TestClient(create_app(filled), raise_server_exceptions=False) as c:
        login(c, "planner")
        yield c


# --------------------------------------------------------------------------- reading


def test_health(client, filled):
    body = client.get("/health").json()
    assert body["status"] == "ok"
    assert body["store"] == filled.workspace
    assert body["city"]["name"] == "高梁市" and body["city"]["code"] == "33209"
    assert body["counts"] == {
        "areas": {"neighbourhood": 2, "kominkan": 1, "junior_high": 1, "city": 1},
        "stations": 1,
        "resources": 2,
    }


def test_tiers_list(client):
    body = client.get("/tiers").json()
    assert [lv["key"] for lv in body["levels"]] == DEFAULT_PROFILE.keys
    kominkan = body["levels"][1]
    assert kominkan["label"] == "公民館区" and kominkan["count"] == 1 and kominkan["note"] == NOTE
    assert body["city_name"] == "高梁市"


def test_tier_geojson_with_unknown_as_null(client):
    r = client.get("/tiers/neighbourhood")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/geo+json")
    fc = json.loads(r.content.decode("utf-8"))
    assert fc["type"] == "FeatureCollection" and fc["label"] == "近隣・自治会（町丁・字）"
    by_id = {f["id"]: f for f in fc["features"]}
    assert set(by_id) == {"a1", "a2"}
    assert by_id["a1"]["properties"]["population"] == 1200
    assert by_id["a2"]["properties"]["population"] is None  # <NA> → null, never 0 or NaN
    assert by_id["a1"]["properties"]["name"] == "落合町阿部"
    assert by_id["a1"]["geometry"]["type"] == "MultiPolygon"
    assert "落合町阿部" in r.text  # UTF-8, not \u escapes


def test_unknown_tier_404_names_known_levels(client):
    r = client.get("/tiers/shogakko")
    assert r.status_code == 404
    body = r.json()
    assert "shogakko" in body["message"]
    for key in DEFAULT_PROFILE.keys:
        assert key in body["message"]


def test_resources_geojson_and_kind_filter(client):
    fc = client.get("/resources").json()
    assert {f["id"] for f in fc["features"]} == {"r1", "r2"}
    salon = next(f for f in fc["features"] if f["id"] == "r1")
    assert salon["properties"]["attributes"] == {"meeting_days": ["火", "金"]}
    assert salon["properties"]["is_sample"] is True
    assert salon["properties"]["kind_label"] == "ふれあい・いきいきサロン"
    assert salon["geometry"] == {"type": "Point", "coordinates": [133.61, 34.79]}
    only = client.get("/resources", params={"kind": "supermarket"}).json()
    assert [f["id"] for f in only["features"]] == ["r2"]
    both = client.get("/resources?kind=salon,supermarket").json()
    assert len(both["features"]) == 2
    # the Japanese name (or another name) of a kind works as well as its key
    japanese = client.get("/resources", params={"kind": "サロン、スーパーマーケット"}).json()
    assert len(japanese["features"]) == 2
    assert client.get("/resources", params={"kind": "認知症カフェ"}).json()["features"] == []


def test_unknown_resource_kind_422(client):
    r = client.get("/resources", params={"kind": "pachinko"})
    assert r.status_code == 422
    assert "pachinko" in r.json()["message"] and "salon" in r.json()["message"]


def test_stations_geojson(client):
    fc = client.get("/stations").json()
    (station,) = fc["features"]
    assert station["properties"]["area_ids"] == ["a1", "a2"]
    assert station["properties"]["kind_label"] == "社協地域ステーション"


def test_nesting_absent_then_present(client, filled):
    r = client.get("/nesting")
    assert r.status_code == 404 and r.json()["hint"]
    store = GeoPackageStore(filled.workspace, create=False)
    with store.transaction() as tx:
        tx.set_nesting_report({"levels": {"neighbourhood": {"straddling": 0}}, "uncovered_km2": 18.2})
    store.close()
    r = client.get("/nesting")
    assert r.status_code == 200 and r.json()["uncovered_km2"] == 18.2


def test_tier_map_html(client):
    r = client.get("/maps/tiers")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "高梁市 福祉圏域マップ" in r.text and "公民館区" in r.text
    assert '<script src="http' not in r.text and "Leaflet 1.9.4" in r.text


def test_tier_map_is_gzipped_cached_and_follows_the_data(client, filled):
    first = client.get("/maps/tiers", headers={"Accept-Encoding": "gzip"})
    assert first.headers["content-encoding"] == "gzip"
    etag = first.headers["etag"]
    again = client.get("/maps/tiers", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    store = GeoPackageStore(filled.workspace)  # another process edits the workspace
    with store.transaction() as tx:
        tx.delete_resources(["r1"])
    store.close()
    changed = client.get("/maps/tiers", headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["etag"] != etag
    assert "いきいきサロン松山" in first.text and "いきいきサロン松山" not in changed.text


def test_openapi_title():
    assert create_app(Settings()).title == "つなぐ Tsunagu"


# --------------------------------------------------------------------------- workspace states


def test_empty_workspace_409_with_hint(tmp_path):
    settings = Settings(workspace=str(tmp_path / "empty.gpkg"))
    GeoPackageStore(settings.workspace, create=True).close()
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        login(c, "viewer")
        for path in ("/tiers", "/tiers/kominkan", "/stations", "/resources", "/nesting", "/maps/tiers"):
            r = c.get(path)
            assert r.status_code == 409, path
            assert r.json()["hint"] == "tsunagu demo を実行してください"
        assert c.get("/health").json()["status"] == "not_initialised"


def test_missing_workspace_is_not_created_and_not_500(tmp_path):
    settings = Settings(workspace=str(tmp_path / "nowhere" / "ws.gpkg"))
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        assert c.get("/tiers").status_code == 401  # no login: refused before any store is opened
        assert c.get("/health").json()["status"] == "store_unavailable"
        r = c.post("/auth/login", json={"username": "someone", "password": "x" * 12})
        assert r.status_code == 503  # no folder for the accounts either: said so, nothing made
    assert not (tmp_path / "nowhere").exists()


def test_domain_errors_map_to_statuses_without_tracebacks(filled, monkeypatch):
    app = create_app(filled)

    @app.get("/boom/{what}", dependencies=[allow(PUBLIC)])
    def boom(what: str):
        if what == "municipality":
            raise UnknownMunicipalityError("no municipality 99999 in the data")
        raise RuntimeError("secret internal detail")

    with TestClient(app, raise_server_exceptions=False) as c:
        assert c.get("/boom/municipality").status_code == 404
        r = c.get("/boom/crash")
        assert r.status_code == 500
        assert "secret" not in r.text and "Traceback" not in r.text


# --------------------------------------------------------------------------- settings
# (uploads: tests/test_uploads.py)


def test_settings_from_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("TSUNAGU_WORKSPACE", str(tmp_path / "env.gpkg"))
    monkeypatch.setenv("TSUNAGU_MAX_UPLOAD_BYTES", "12345")
    monkeypatch.setenv("TSUNAGU_PORT", "8765")
    s = Settings()
    assert s.workspace.endswith("env.gpkg") and s.max_upload_bytes == 12345 and s.port == 8765
    assert Settings.model_fields["max_upload_bytes"].default == 200 * 1024 * 1024


# --------------------------------------------------------------------------- workspaces


def test_workspaces_listed_and_chosen_per_request(client, filled, tmp_path):
    from pathlib import Path

    folder = Path(filled.workspace).parent
    other = GeoPackageStore(folder / "kurashiki.gpkg", create=True)
    fill_small_workspace(other)
    with other.transaction() as tx:
        tx.set_workspace(city_code="33202", city_name="倉敷市", profile=DEFAULT_PROFILE)
    other.close()
    body = client.get("/workspaces").json()
    names = {w["name"]: w for w in body["workspaces"]}
    assert body["current"] == "ws" and names["ws"]["default"] and names["kurashiki"]["city_name"] == "倉敷市"
    assert client.get("/tiers").json()["city_name"] == "高梁市"
    assert client.get("/tiers", headers={"X-Tsunagu-Workspace": "kurashiki"}).json()["city_name"] == "倉敷市"
    r = client.get("/tiers", headers={"X-Tsunagu-Workspace": "../../etc/passwd"})
    assert r.status_code == 404 and "kurashiki" in r.json()["message"]
    assert client.post("/workspaces/select", json={"name": "nowhere"}).status_code == 404
    assert client.post("/workspaces/select", json={"name": "kurashiki"}).json() == {"current": "kurashiki"}
    assert client.get("/tiers").json()["city_name"] == "倉敷市"  # the cookie chooses it now


def test_nan_in_a_json_body_is_422_not_500(client):
    r = client.post("/jobs", content=b'{"analysis": "salon-gaps", "params": {"threshold_m": NaN}, "x": [Infinity]}',
                    headers={"Content-Type": "application/json"})
    assert r.status_code in (202, 422), r.text
    r = client.post("/workspaces/select", content=b'{"name": NaN}', headers={"Content-Type": "application/json"})
    assert r.status_code == 422 and r.json()["title"] == "リクエストの形式が正しくありません"
    assert r.json()["detail"][0]["input"] == "nan"


def test_docs_pages_work_offline_from_installed_files(settings):
    # /docs was blank without the internet: Swagger UI and ReDoc came from a CDN.
    import re

    with TestClient(create_app(settings)) as client:
        for path, script in (("/docs", "swagger-ui-bundle.js"), ("/redoc", "redoc.standalone.js")):
            page = client.get(path)
            assert page.status_code == 200 and "つなぐ Tsunagu" in page.text
            urls = re.findall(r"""(?:src|href)=["']([^"']+)["']|url:\\s*['"]([^'"]+)['"]""", page.text)
            external = [u for pair in urls for u in pair if u.startswith(("http://", "https://", "//"))]
            assert external == [], f"{path} loads {external}"
            assets = [u for pair in urls for u in pair if u.startswith("/static/api-docs/")]
            assert any(a.endswith(script) for a in assets), assets
            for asset in assets:
                got = client.get(asset)
                assert got.status_code == 200 and len(got.content) > 1000, asset
        assert client.get("/openapi.json").json()["info"]["title"] == "つなぐ Tsunagu"
