"""Client households over HTTP: per-station access, 404 for others' ids, audit, uploads, counts with suppression,
outreach plans as private jobs, deletion everywhere — on a GeoPackage workspace and on PostGIS (private schema)."""

from __future__ import annotations

import io
import json
import uuid

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from _auth import login
from _clients_sample import HOUSEHOLDS, SAMPLE_MARK, fill_workspace, household_json, households_table, leaks, wait_for_job
from api.app import create_app
from api.settings import Settings

S1 = [h for h in HOUSEHOLDS if h[1] == "s1"]
S2 = [h for h in HOUSEHOLDS if h[1] == "s2"]


def _settings(tmp_path, **extra) -> Settings:
    return Settings(workspace=str(tmp_path / "ws.gpkg"), upload_dir=tmp_path / "uploads", data_dir=tmp_path,
                    max_upload_bytes=256 * 1024, job_runner="thread", **extra)


@pytest.fixture(params=["gpkg", pytest.param("postgis", marks=pytest.mark.postgis)])
def app(request, tmp_path):
    """The API on a small SAMPLE workspace; on PostGIS the households live in schema tsunagu_private."""
    from api.store.geopackage import GeoPackageStore

    if request.param == "gpkg":
        store = GeoPackageStore(tmp_path / "ws.gpkg", create=True)
        fill_workspace(store)
        store.close()
        application = create_app(_settings(tmp_path))
        yield application
    else:
        import sqlalchemy as sa

        from api.private import PRIVATE_SCHEMA, client_store_for

        store = request.getfixturevalue("pg_store_factory")()
        fill_workspace(store)
        application = create_app(_settings(tmp_path), store=store)
        yield application
        with client_store_for(store) as clients, clients._engine.begin() as conn:
            for table in ("client_households", "access_log", "outreach_plans"):
                conn.execute(sa.text(f"DELETE FROM {PRIVATE_SCHEMA}.{table} WHERE workspace = :w"),
                             {"w": store.workspace_name})
    from api.routers.clients import close_client_stores

    close_client_stores(application)


@pytest.fixture
def client(app):
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def _add_all(client) -> None:
    for station, rows in (("s1", S1), ("s2", S2)):
        login(client, "csw", station_id=station)
        for h in rows:
            r = client.post("/clients", json={k: v for k, v in household_json(h).items() if k != "station_id"})
            assert r.status_code == 201, r.text


def _no_store(response) -> None:
    assert "no-store" in response.headers.get("cache-control", ""), response.request.url


# --------------------------------------------------------------------------- reading and writing


def test_csws_see_their_station_and_others_ids_are_404(client):
    _add_all(client)
    login(client, "csw", station_id="s1")
    r = client.get("/clients")
    _no_store(r)
    assert [h["household_id"] for h in r.json()] == [h[0] for h in S1]
    one = client.get("/clients/S1-001")
    _no_store(one)
    body = one.json()
    assert body["name"] == "漏洩検査太郎" and body["windows"] == "10:00-11:30" and body["priority_label"] == "高"
    assert body["lat"] == pytest.approx(34.78437) and body["is_sample"] is True and body["notes"] == SAMPLE_MARK
    other, unknown = client.get("/clients/S2-001"), client.get("/clients/S9-999")
    assert other.status_code == unknown.status_code == 404
    assert other.json()["message"].replace("S2-001", "X") == unknown.json()["message"].replace("S9-999", "X")
    assert "非公開検査" not in other.text
    assert client.get("/clients", params={"station_id": "s2"}).status_code == 403
    assert client.delete("/clients/S2-001").status_code == 404  # not theirs: the same as unknown
    login(client, "admin")
    assert len(client.get("/clients").json()) == len(HOUSEHOLDS)
    assert [h["household_id"] for h in client.get("/clients", params={"station_id": "s2"}).json()] == ["S2-001", "S2-002"]
    assert client.get("/clients/S2-001").json()["name"] == "非公開検査一郎"


@pytest.mark.parametrize("role", ["planner", "coordinator", "viewer"])
def test_other_roles_get_403_for_client_data(client, role):
    _add_all(client)
    login(client, role)
    for method, path in (("GET", "/clients"), ("GET", "/clients/S1-001"), ("DELETE", "/clients/S1-001"),
                         ("GET", "/clients/audit"), ("GET", "/outreach/plans")):
        r = client.request(method, path)
        assert r.status_code == 403, (method, path)
        assert "漏洩検査" not in r.text
    assert client.post("/clients", json=household_json(S1[0])).status_code == 403
    assert client.post("/outreach/plans", json={"station_id": "s1"}).status_code == 403
    assert client.post("/jobs", json={"analysis": "outreach", "params": {"station_id": "s1"}}).status_code == 403


def test_adding_checks_station_duplicates_and_bad_values_by_id(client):
    login(client, "csw", station_id="s1")
    h = household_json(S1[0])
    assert client.post("/clients", json={**h, "station_id": "s2"}).status_code == 403
    assert client.post("/clients", json=h).status_code == 201
    dup = client.post("/clients", json=h)
    assert dup.status_code == 409 and "S1-001" in dup.json()["message"] and "漏洩検査" not in dup.text
    bad = client.post("/clients", json={**h, "household_id": "S1-050", "lat": 3.4, "lon": 133.6})
    assert bad.status_code == 422 and "訪問先 S1-050" in bad.json()["message"] and "漏洩検査" not in bad.text
    bad = client.post("/clients", json={**h, "household_id": "S1-051", "windows": "15:00-14:00"})
    assert bad.status_code == 422 and "S1-051" in bad.text and "漏洩検査" not in bad.text
    login(client, "admin")
    assert client.post("/clients", json={**h, "household_id": "A-1", "station_id": None}).status_code == 422
    r = client.post("/clients", json={**h, "household_id": "A-1", "station_id": "no-such"})
    assert r.status_code == 404 and "s1" in r.json()["message"]


def _multipart(name: str, data: bytes, **fields):
    return {"files": {"file": (name, data, "application/octet-stream")}, "data": fields}


def test_import_a_visits_file_streamed_then_deleted(client, app, tmp_path):
    settings = app.state.settings
    login(client, "csw", station_id="s1")
    csv = households_table("s1").to_csv(index=False).encode("utf-8")
    r = client.post("/clients/import", **_multipart("訪問先.csv", csv))
    _no_store(r)
    assert r.status_code == 200, r.text
    assert r.json()["added"] == 5 and r.json()["station_id"] == "s1" and "漏洩検査" not in r.text
    assert len(client.get("/clients").json()) == 5
    # Shift_JIS and Excel update the same ids
    sjis = households_table("s1").to_csv(index=False).encode("cp932")
    assert client.post("/clients/import", **_multipart("v.csv", sjis)).json() == {
        "station_id": "s1", "source": "v.csv", "added": 0, "updated": 5, "household_ids": [h[0] for h in S1]}
    buf = io.BytesIO()
    households_table("s1").to_excel(buf, index=False)
    assert client.post("/clients/import", **_multipart("v.xlsx", buf.getvalue())).json()["updated"] == 5
    # another station's file: refused for a CSW; an admin names the station
    s2 = households_table("s2").to_csv(index=False).encode("utf-8")
    assert client.post("/clients/import", **_multipart("v.csv", s2, station_id="s2")).status_code == 403
    login(client, "admin")
    assert client.post("/clients/import", params={"station_id": "s2"}, **_multipart("v.csv", s2)).json()["added"] == 2
    assert client.post("/clients/import", **_multipart("v.csv", s2)).status_code == 422  # which station?
    # the uploads are gone
    left = [p for p in settings.upload_dir.rglob("*") if p.is_file()] if settings.upload_dir.exists() else []
    assert left == []


def test_a_bad_visits_file_names_the_row_not_the_person(client, app):
    login(client, "csw", station_id="s1")
    table = households_table("s1")
    table.loc[1, "緯度"] = None  # 漏洩検査花子
    r = client.post("/clients/import", **_multipart("訪問先.csv", table.to_csv(index=False).encode("utf-8")))
    assert r.status_code == 422
    body = r.json()
    assert body["detail"]["row"] == 2 and "S1-002" in body["message"] and "訪問先.csv" in body["message"]
    assert leaks(r.text) == []
    table = households_table("s1").drop(columns=["id"])
    r = client.post("/clients/import", **_multipart("訪問先.csv", table.to_csv(index=False).encode("utf-8")))
    assert r.status_code == 422 and "id" in r.json()["message"] and leaks(r.text) == []
    assert client.get("/clients").json() == []  # all or nothing
    big = "id,緯度,経度\n".encode() + b"x" * (300 * 1024)
    assert client.post("/clients/import", **_multipart("big.csv", big)).status_code == 413
    fake = client.post("/clients/import", **_multipart("v.csv", b"\x89PNG\r\n\x1a\n" + b"\0" * 200))
    assert fake.status_code == 422


def test_delete_and_the_audit_log(client):
    _add_all(client)
    login(client, "csw", station_id="s1")
    client.get("/clients")
    client.get("/clients/S1-002")
    assert client.delete("/clients/S1-002").json() == {"deleted": "S1-002"}
    assert client.get("/clients/S1-002").status_code == 404
    assert client.delete("/clients/S1-002").status_code == 404
    assert client.get("/clients/audit").status_code == 403
    login(client, "viewer")
    client.get("/clients/counts", params={"level": "kominkan"})
    login(client, "admin")
    r = client.get("/clients/audit")
    _no_store(r)
    log = r.json()
    assert leaks(json.dumps(log, ensure_ascii=False)) == []
    actions = [(e["user"], e["action"], e["household_ids"]) for e in log]
    assert ("test-csw-s1", "delete", ["S1-002"]) in actions
    assert ("test-csw-s1", "read", ["S1-002"]) in actions
    assert ("test-csw-s1", "read", [h[0] for h in S1]) in actions
    assert any(u == "test-viewer" and a == "aggregate:count_by_area" for u, a, _ in actions)
    assert log[0]["at"] >= log[-1]["at"]


# --------------------------------------------------------------------------- counts for everyone


def test_counts_per_area_with_small_cells_suppressed(client):
    _add_all(client)
    login(client, "viewer")
    # true counts: n1 1, n2 2, n3 1, n4 1, n5 2 → k1 5, k2 2 → j1 7 → city 7
    levels = {}
    for level in ("neighbourhood", "kominkan", "junior_high", "city"):
        r = client.get("/clients/counts", params={"level": level})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["k"] == 3 and leaks(r.text) == []
        levels[level] = {a["area_id"]: a["count"] for a in body["areas"]}
        for a in body["areas"]:
            assert a["count"] is None or a["count"] == 0 or a["count"] >= 3
            assert a["suppressed"] == (a["count"] is None) and (a["display"] == "秘匿") == a["suppressed"]
    total = body["total"]["count"]
    assert levels["neighbourhood"] == dict.fromkeys(["n1", "n2", "n3", "n4", "n5"])
    assert levels["kominkan"] == {"k1": None, "k2": None}  # k2 (2) hidden, so k1 too: 7 - k1 would give it away
    assert levels["junior_high"] == {"j1": 7} and levels["city"] == {"c1": 7} and total == 7
    assert client.get("/clients/counts", params={"level": "ward"}).status_code == 404
    assert client.get("/clients/counts").status_code == 422


def test_counts_follow_the_small_cell_setting(tmp_path):
    from api.store.geopackage import GeoPackageStore

    store = GeoPackageStore(tmp_path / "ws.gpkg", create=True)
    fill_workspace(store)
    store.close()
    with TestClient(create_app(_settings(tmp_path, small_cell_k=2))) as c:
        _add_all(c)
        login(c, "planner")
        body = c.get("/clients/counts", params={"level": "neighbourhood"}).json()
        assert body["k"] == 2
        # n1, n3, n4 (1 each) hidden; with n2 (2) shown, k1 (5) would give n1 + n3 + n4 = 3, so 1 each: n2 goes too
        counts = {a["area_id"]: a["count"] for a in body["areas"]}
        assert counts == {"n1": None, "n2": None, "n3": None, "n4": None, "n5": 2}
        kominkan = c.get("/clients/counts", params={"level": "kominkan"}).json()
        assert {a["area_id"]: a["count"] for a in kominkan["areas"]} == {"k1": 5, "k2": 2}


# --------------------------------------------------------------------------- outreach plans


def _plan(client, station: str | None = None, **params) -> str:
    body = {"csws": 2, "time_limit_s": 1, "date": "2025-06-02", **params}
    if station:
        body["station_id"] = station
    r = client.post("/outreach/plans", json=body)
    assert r.status_code == 202, r.text
    _no_store(r)
    return r.json()["job_id"]


def test_outreach_plan_by_a_csw_seen_only_by_the_station(client):
    _add_all(client)
    login(client, "csw", station_id="s1")
    job_id = _plan(client)
    record = wait_for_job(client, job_id)
    assert record["status"] == "done", record
    assert leaks(json.dumps(record, ensure_ascii=False)) == [] and "S1-00" not in json.dumps(record)
    assert record["created_by"] == "test-csw-s1" and record["params"]["station_id"] == "s1"
    r = client.get(f"/outreach/plans/{job_id}")
    _no_store(r)
    plan = r.json()
    visits = [v for c in plan["csws"] for v in c["visits"]]
    named = {v["household_id"]: v["name"] for v in visits} | {u["household_id"]: u["name"] for u in plan["unfitted"]}
    assert named == {h[0]: h[2] for h in S1}
    assert plan["marking"] == ["要配慮個人情報・取扱注意", SAMPLE_MARK] and len(visits) + len(plan["unfitted"]) == 5
    m = client.get(f"/outreach/plans/{job_id}/map")
    _no_store(m)
    assert "要配慮個人情報" in m.text and any(v["name"] in m.text for v in visits)
    csv = client.get(f"/outreach/plans/{job_id}/routes.csv")
    _no_store(csv)
    assert csv.content.startswith("\ufeff# 要配慮個人情報".encode()) and "attachment" in csv.headers["content-disposition"]
    assert all(v["name"] in csv.text for v in visits)
    xlsx = client.get(f"/outreach/plans/{job_id}/routes.xlsx")
    sheets = pd.read_excel(io.BytesIO(xlsx.content), sheet_name=None)
    assert {"訪問ルート", "訪問できなかった世帯", "注記"} <= set(sheets)
    assert [(p["job_id"], p["households"]) for p in client.get("/outreach/plans").json()] == [(job_id, 5)]
    # another station's CSW: the same 404 as an unknown job; other roles 403
    login(client, "csw", station_id="s2")
    for path in ("", "/map", "/routes.csv", "/routes.xlsx"):
        assert client.get(f"/outreach/plans/{job_id}{path}").status_code == 404
    assert client.get(f"/outreach/plans/{uuid.uuid4()}").status_code == 404
    assert client.get("/outreach/plans").json() == []
    assert client.post("/outreach/plans", json={"station_id": "s1"}).status_code == 403
    login(client, "admin")
    assert client.get(f"/outreach/plans/{job_id}").status_code == 200


def test_outreach_jobs_through_post_jobs_only_for_admins(client):
    _add_all(client)
    for role in ("planner", "coordinator"):
        login(client, role)
        r = client.post("/jobs", json={"analysis": "outreach", "params": {"station_id": "s2"}})
        assert r.status_code == 403, role
    login(client, "admin")
    r = client.post("/jobs", json={"analysis": "outreach", "params": {"station_id": "s2", "time_limit_s": 1,
                                                                      "requested_by": "someone-else"}})
    assert r.status_code == 202, r.text
    record = wait_for_job(client, r.json()["job_id"])
    assert record["status"] == "done" and record["params"]["requested_by"] == "test-admin"
    assert len(record["params"]["plan_id"]) == 32
    assert client.post("/outreach/plans", json={"station_id": "no-such"}).status_code == 404
    assert client.post("/outreach/plans", json={"csws": 0, "station_id": "s1"}).status_code == 422


def test_a_failed_plan_tells_the_station_why_and_the_public_nothing(client):
    login(client, "csw", station_id="s2")
    late = {**household_json(S2[0]), "household_id": "S2-010", "windows": "20:00-21:00"}
    late.pop("station_id")
    assert client.post("/clients", json=late).status_code == 201
    job_id = _plan(client)
    record = wait_for_job(client, job_id)
    assert record["status"] == "failed" and "S2-010" not in record["error"] and "非公開" in record["error"]
    r = client.get(f"/outreach/plans/{job_id}")
    _no_store(r)
    assert r.status_code == 409 and "訪問先 S2-010 の希望時間帯" in r.json()["job_error"]


def test_deleting_a_client_removes_it_from_stored_plans(client):
    _add_all(client)
    login(client, "csw", station_id="s1")
    job_id = _plan(client)
    assert wait_for_job(client, job_id)["status"] == "done"
    before = client.get(f"/outreach/plans/{job_id}").json()
    assert "S1-001" in json.dumps(before)
    assert client.delete("/clients/S1-001").status_code == 200
    after = client.get(f"/outreach/plans/{job_id}")
    text = after.text + client.get(f"/outreach/plans/{job_id}/map").text + \
        client.get(f"/outreach/plans/{job_id}/routes.csv").text
    assert "S1-001" not in text and "漏洩検査太郎" not in text
    assert "34.78437" not in text and "133.60619" not in text
    assert after.json()["removed_after_deletion"] == 1
    assert "漏洩検査花子" in text  # the others stay
    login(client, "admin")
    public = client.get(f"/jobs/{job_id}").text + client.get("/jobs").text
    assert leaks(public) == []


def test_each_workspace_has_its_own_clients(tmp_path):
    """Two GeoPackage workspaces of one server: households added in one are not in the other."""
    from api.private import private_path
    from api.store.geopackage import GeoPackageStore

    for name in ("ws", "other"):
        store = GeoPackageStore(tmp_path / f"{name}.gpkg", create=True)
        fill_workspace(store)
        store.close()
    with TestClient(create_app(_settings(tmp_path))) as c:
        login(c, "csw", station_id="s1")
        other = {"X-Tsunagu-Workspace": "other"}
        r = c.post("/clients", json=household_json(S1[0]), headers=other)
        assert r.status_code == 201, r.text
        assert [h["household_id"] for h in c.get("/clients", headers=other).json()] == ["S1-001"]
        assert c.get("/clients").json() == [] and c.get("/clients/S1-001").status_code == 404
        assert private_path(tmp_path / "other.gpkg").exists()
        login(c, "viewer")
        counts = c.get("/clients/counts", params={"level": "city"}, headers=other).json()
        assert counts["total"]["suppressed"] is True
        assert c.get("/clients/counts", params={"level": "city"}).json()["total"]["count"] == 0
