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
        assert names() == {"いきいきサロン松山", "天満屋ハピーズ高梁店"}
        r = client.post("/resources", json={"name": "新しいサロン", "kind": "salon", "lon": 133.615, "lat": 34.79})
        assert r.status_code == 201
        assert "新しいサロン" in names()  # this process's edit shows at once
        other = pg_store_factory(store.workspace_name)  # another process edits the same workspace
        with other.transaction() as tx:
            tx.delete_resources(["r2"])
        time.sleep(0.4)
        assert "天満屋ハピーズ高梁店" not in names()
        again = client.get("/maps/tiers")
        assert again.headers["etag"] != first_map.headers["etag"] and "新しいサロン" in again.text
