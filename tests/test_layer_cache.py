"""Cached public layers follow the data: at once after an edit here, within the TTL after one elsewhere."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient

from _auth import login
from _sample_workspace import fill_small_workspace
from api import layer_cache
from api.app import create_app
from api.settings import Settings


@pytest.mark.postgis
def test_postgis_layers_follow_edits(pg_store_factory, tmp_path, monkeypatch):
    monkeypatch.setattr(layer_cache, "VERSION_TTL_S", 0.3)
    store = pg_store_factory()
    fill_small_workspace(store)
    app = create_app(Settings(workspace=str(tmp_path / "ws.gpkg")), store=store)
    with TestClient(app) as client:
        login(client, "planner")
        names = lambda: {f["properties"]["name"] for f in client.get("/resources").json()["features"]}  # noqa: E731
        first_map = client.get("/maps/tiers")
        first_tier = client.get("/tiers/neighbourhood")
        assert names() == {"いきいきサロン松山", "天満屋ハピーズ高梁店"}
        r = client.post("/resources", json={"name": "新しいサロン", "kind": "salon", "lon": 133.615, "lat": 34.79})
        assert r.status_code == 201
        assert "新しいサロン" in names()  # this process's edit shows at once
        other = pg_store_factory(store.workspace_name)  # another process edits the same workspace
        with other.transaction() as tx:
            tx.delete_resources(["r2"])
            areas = other.areas()
            tx.replace_areas(areas[areas["area_id"] != "a2"].reset_index(drop=True))
        time.sleep(0.4)
        assert "天満屋ハピーズ高梁店" not in names()
        again = client.get("/maps/tiers")
        assert again.headers["etag"] != first_map.headers["etag"] and "新しいサロン" in again.text
        tier = client.get("/tiers/neighbourhood")
        assert tier.headers["etag"] != first_tier.headers["etag"]
        assert [f["id"] for f in tier.json()["features"]] == ["a1"]


def _tier_names(client, level: str) -> tuple[set[str], str]:
    r = client.get(f"/tiers/{level}")
    assert r.status_code == 200, r.text
    return {f["properties"]["name"] for f in r.json()["features"]}, r.headers["etag"]


def test_tier_geojson_and_tier_list_follow_a_change_of_the_areas(tmp_path):
    from api.store.geopackage import GeoPackageStore

    path = tmp_path / "ws.gpkg"
    with GeoPackageStore(path) as store:
        fill_small_workspace(store)
    app = create_app(Settings(workspace=str(path), job_runner="thread"))
    with TestClient(app) as client:
        login(client, "planner")
        names, etag = _tier_names(client, "neighbourhood")
        assert names == {"落合町阿部", "成羽町下原"}
        again = client.get("/tiers/neighbourhood", headers={"If-None-Match": etag})
        assert again.status_code == 304  # cached: same version, same body
        counts = {lv["key"]: lv["count"] for lv in client.get("/tiers").json()["levels"]}
        assert counts["neighbourhood"] == 2
        with GeoPackageStore(path, create=False) as other, other.transaction() as tx:  # an import elsewhere
            areas = other.areas()
            areas = areas[areas["area_id"] != "a2"].reset_index(drop=True)
            areas.loc[areas["area_id"] == "a1", "name"] = "落合町阿部（改）"
            tx.replace_areas(areas)
        names, new_etag = _tier_names(client, "neighbourhood")
        assert names == {"落合町阿部（改）"} and new_etag != etag
        assert client.get("/tiers/neighbourhood", headers={"If-None-Match": etag}).status_code == 200
        counts = {lv["key"]: lv["count"] for lv in client.get("/tiers").json()["levels"]}
        assert counts["neighbourhood"] == 1


def test_one_request_at_a_time_recomputes_a_database_version(monkeypatch):
    import threading

    import api.jobs

    calls = []
    release = threading.Event()

    def slow_version(store):
        calls.append(1)
        release.wait(5)
        return f"v{len(calls)}"

    monkeypatch.setattr(api.jobs, "data_version", slow_version)
    monkeypatch.setattr(layer_cache, "VERSION_TTL_S", 0.05)
    store = object()  # no file: a database, trusted for VERSION_TTL_S
    release.set()
    assert layer_cache.layer_version(store) == "v1"
    time.sleep(0.1)  # stale now
    release.clear()
    seen = []
    threads = [threading.Thread(target=lambda: seen.append(layer_cache.layer_version(store))) for _ in range(8)]
    for t in threads:
        t.start()
    time.sleep(0.3)
    assert len(calls) == 2  # one refresh, not eight
    assert seen.count("v1") == 7  # the others answered at once with the version being replaced
    release.set()
    for t in threads:
        t.join()
    monkeypatch.setattr(layer_cache, "VERSION_TTL_S", 60)
    assert sorted(seen) == ["v1"] * 7 + ["v2"] and layer_cache.layer_version(store) == "v2"
    layer_cache.forget(store)
