"""No leak: with client households present, run every job type through the HTTP API, then search every public
response, every export and all log output for a client's name, address or coordinates — there must be none.

The households are SAMPLE data (tests/_clients_sample.py: 「漏洩検査太郎」… at invented addresses, coordinates
chosen so that their 3–6 decimal forms appear nowhere else in the workspace). "Public" is every GET route the
roles viewer, planner and coordinator may call, found from the app's own routes (a new route is searched
automatically), with every job's tables as CSV and Excel and its map; every registered job type runs (a new
job type is run automatically, with its default parameters unless FAST_PARAMS says otherwise).
"""

from __future__ import annotations

import io
import itertools
import json
import logging
import zipfile

import pytest
from fastapi.testclient import TestClient

from _auth import login
from _clients_sample import HOUSEHOLDS, fill_workspace, household_json, households_table, leaks, wait_for_job
from api.app import create_app
from api.jobs import load_analyses, write_job_outputs
from api.security import api_routes, route_rule
from api.settings import Settings

#: The roles that must never see client data.
PUBLIC_ROLES = ("viewer", "planner", "coordinator")

#: Small parameters so every job stays quick on the sample workspace.
FAST_PARAMS = {
    "salon-sites": {"k": 2, "k_max": 3, "time_limit_s": 5},
    "mobile-sales": {"time_limit_s": 1, "days": "火,金", "cell_size_m": 200},
    "salon-gaps": {"cell_size_m": 200},
    "shopping-refugees": {"cell_size_m": 200},
    "catchments": {"cell_size_m": 200},
    "activity-coverage": {"kinds": ["kodomo_shokudo", "salon"], "target": "children", "share": 0.12, "cell_size_m": 200},
}


def _start_import(client) -> list[str]:
    """import-resources runs from an upload (POST /resources/import)."""
    login(client, "planner")
    csv = "名称,緯度,経度\n漏れなしサロン（サンプル）,34.79123,133.60912\n".encode()
    r = client.post("/resources/import", params={"kind": "salon"},
                    files={"file": ("サロン.csv", csv, "text/csv")})
    assert r.status_code == 202, r.text
    return [r.json()["job_id"]]


def _start_outreach(client) -> list[str]:
    """outreach: each station's CSW plans their day; an administrator through POST /jobs too."""
    ids = []
    for station in ("s1", "s2"):
        login(client, "csw", station_id=station)
        r = client.post("/outreach/plans", json={"csws": 2, "time_limit_s": 1, "date": "2025-06-02"})
        assert r.status_code == 202, r.text
        ids.append(r.json()["job_id"])
    login(client, "admin")
    r = client.post("/jobs", json={"analysis": "outreach", "params": {"station_id": "s1", "csws": 1, "time_limit_s": 1}})
    assert r.status_code == 202, r.text
    return [*ids, r.json()["job_id"]]


#: Job types started some other way than POST /jobs with parameters.
STARTERS = {"import-resources": _start_import, "outreach": _start_outreach}


def _start(client, name: str) -> list[str]:
    if name in STARTERS:
        return STARTERS[name](client)
    login(client, "admin" if name.startswith("test-") else "planner")
    r = client.post("/jobs", json={"analysis": name, "params": FAST_PARAMS.get(name, {})})
    assert r.status_code == 202, f"{name}: {r.text} (give it small parameters in FAST_PARAMS)"
    return [r.json()["job_id"]]


# --------------------------------------------------------------------------- reading responses


def _text(response) -> str:
    """A response as searchable text: Excel workbooks and other zips unpacked, everything decoded."""
    body = response.content
    if body[:2] == b"PK":
        with zipfile.ZipFile(io.BytesIO(body)) as z:
            return "\n".join(z.read(n).decode("utf-8", "replace") for n in z.namelist())
    return body.decode("utf-8", "replace") + "\n" + json.dumps(dict(response.headers), ensure_ascii=False)


def _file_text(path) -> str:
    data = path.read_bytes()
    if data[:2] == b"PK":
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            return "\n".join(z.read(n).decode("utf-8", "replace") for n in z.namelist())
    return data.decode("utf-8", "replace")


def _urls(app, route, path: str, values: dict) -> list[str]:
    """Every URL of a route with real values in its path and its required query parameters."""
    params = [p.split(":")[0] for p in _path_params(path)]
    if {"job_id", "filename"} <= set(params):
        combos = [{"job_id": j, "filename": f} for j, files in values["job_files"].items() for f in files]
    else:
        combos = [dict(zip(params, c)) for c in itertools.product(*(values.get(p, ["x"]) for p in params))]
    urls = []
    for combo in combos:
        url = path
        for name, value in combo.items():
            url = url.replace("{" + name + "}", str(value)).replace("{" + name + ":path}", str(value))
        required = [q for q in route.dependant.query_params if q.field_info.is_required()]
        if required:
            for qs in itertools.product(*(values.get(q.alias or q.name, ["x"]) for q in required)):
                urls.append(url + "?" + "&".join(f"{(q.alias or q.name)}={v}" for q, v in zip(required, qs)))
        else:
            urls.append(url)
    return urls


def _path_params(path: str) -> list[str]:
    import re

    return re.findall(r"\{([^}]+)\}", path)


def _all_loggers_at_debug(caplog) -> None:
    caplog.set_level(logging.DEBUG)
    for name in list(logging.root.manager.loggerDict):
        logger = logging.getLogger(name)
        caplog.set_level(logging.DEBUG, logger=name)
        if not logger.propagate and caplog.handler not in logger.handlers:
            logger.addHandler(caplog.handler)


# --------------------------------------------------------------------------- the test


@pytest.fixture(params=["gpkg", pytest.param("postgis", marks=pytest.mark.postgis)])
def leak_app(request, tmp_path):
    from api.store.geopackage import GeoPackageStore

    settings = Settings(workspace=str(tmp_path / "ws.gpkg"), upload_dir=tmp_path / "uploads", data_dir=tmp_path,
                        job_runner="thread")
    from api.routers.clients import close_client_stores

    if request.param == "gpkg":
        store = GeoPackageStore(tmp_path / "ws.gpkg", create=True)
        fill_workspace(store)
        store.close()
        app = create_app(settings)
        yield app, None
        close_client_stores(app)
    else:
        import sqlalchemy as sa

        from api.private import PRIVATE_SCHEMA, client_store_for

        store = request.getfixturevalue("pg_store_factory")()
        fill_workspace(store)
        app = create_app(settings, store=store)
        yield app, store
        close_client_stores(app)
        with client_store_for(store) as clients, clients._engine.begin() as conn:
            for table in ("client_households", "access_log", "outreach_plans"):
                conn.execute(sa.text(f"DELETE FROM {PRIVATE_SCHEMA}.{table} WHERE workspace = :w"),
                             {"w": store.workspace_name})


def test_no_client_data_in_any_public_response_export_or_log(leak_app, tmp_path, caplog, capfd):
    app, pg_store = leak_app
    _all_loggers_at_debug(caplog)
    found: dict[str, list[str]] = {}
    with TestClient(app, raise_server_exceptions=False) as client:
        # client data in, by every path: one by one (s1) and a visits file (s2)
        login(client, "csw", station_id="s1")
        for h in (h for h in HOUSEHOLDS if h[1] == "s1"):
            assert client.post("/clients", json=household_json(h)).status_code == 201
        login(client, "csw", station_id="s2")
        r = client.post("/clients/import", files={"file": ("訪問先.csv", households_table("s2").to_csv(index=False).encode(),
                                                           "text/csv")})
        assert r.status_code == 200, r.text

        # every registered job type, through the API
        registry = load_analyses()
        assert {"salon-gaps", "salon-sites", "shopping-refugees", "catchments", "mobile-sales", "outreach"} <= set(registry)
        job_ids: dict[str, list[str]] = {name: _start(client, name) for name in sorted(registry)}
        # a scenario, and the salon-gaps job on it (compared below with the baseline job)
        login(client, "planner")
        made = client.post("/scenarios", json={"name": "漏れ検査シナリオ", "changes": [
            {"action": "add", "kind": "salon", "name": "シナリオのサロン（サンプル）", "lon": 133.6091, "lat": 34.7912}]})
        assert made.status_code == 201, made.text
        r = client.post("/jobs", json={"analysis": "salon-gaps",
                                       "params": {**FAST_PARAMS["salon-gaps"], "scenario": "漏れ検査シナリオ"}})
        assert r.status_code == 202, r.text
        job_ids["salon-gaps on a scenario"] = [r.json()["job_id"]]
        login(client, "admin")
        for name, ids in job_ids.items():
            for job_id in ids:
                record = wait_for_job(client, job_id)
                assert record["status"] == "done", f"{name}: {record.get('error')} (give it FAST_PARAMS)"
        # and one outreach plan that fails on a household's data
        login(client, "csw", station_id="s2")
        late = {**household_json(HOUSEHOLDS[-1]), "household_id": "S2-099", "windows": "20:00-21:00"}
        assert client.post("/clients", json=late).status_code == 201
        failing = client.post("/outreach/plans", json={"time_limit_s": 1}).json()["job_id"]
        assert wait_for_job(client, failing)["status"] == "failed"
        assert client.delete("/clients/S2-099").status_code == 200

        # the control: the private side does show the clients (so the search below would see a leak)
        login(client, "csw", station_id="s1")
        private = client.get(f"/outreach/plans/{job_ids['outreach'][0]}").text + client.get("/clients").text
        assert "漏洩検査太郎" in private and leaks(private)

        # a CSW asking for another station's client; a planner asking for clients; a bad visits file
        assert client.get("/clients/S2-001").status_code == 404
        bad = households_table("s1").astype(object)
        bad.loc[2, "経度"] = "東の方"  # 秘密試験次郎
        r = client.post("/clients/import", files={"file": ("bad.csv", bad.to_csv(index=False).encode(), "text/csv")})
        assert r.status_code == 422 and r.json()["detail"]["row"] == 3 and "S1-003" in r.text and leaks(r.text) == []
        login(client, "planner")
        assert client.get("/clients").status_code == 403

        # every public GET route, for each public role
        login(client, "admin")
        jobs = client.get("/jobs", params={"limit": 1000}).json()
        profile_levels = [lv["key"] for lv in client.get("/tiers").json()["levels"]]
        values = {
            "level": profile_levels,
            "job_id": [j["job_id"] for j in jobs],
            "job_files": {j["job_id"]: [f"{t}.{ext}" for t in j["tables"] for ext in ("csv", "xlsx")] + ["all.xlsx"]
                          for j in jobs if j["status"] == "done"},
            "resource_id": [f["properties"]["resource_id"] for f in client.get("/resources").json()["features"]][:3],
            "station_id": ["s1", "s2"],
            "name": ["漏れ検査シナリオ"],
            "job_a": job_ids["salon-gaps"],
            "job_b": job_ids["salon-gaps on a scenario"],
            "area_id": ["k1", "n5"],  # /reports/{level}/{area_id}: an area of k1's level and of n5's; the rest 404
        }
        assert len(values["job_files"]) == sum(len(v) for v in job_ids.values())
        fetched = 0
        seen: set[str] = set()
        for role in PUBLIC_ROLES:
            login(client, role)
            for path, methods, route in api_routes(app):
                rule = route_rule(route)
                if "GET" not in methods or rule is None or not (rule.public or role in rule.roles):
                    continue
                seen.add(path)
                for url in _urls(app, route, path, values):
                    response = client.get(url)
                    assert response.status_code < 500, (url, response.text[:300])
                    fetched += 1
                    hits = leaks(_text(response))
                    if hits:
                        found[f"{role} GET {url} ({response.status_code})"] = hits
        assert fetched > 100
        # the comparison's other forms (a query parameter the route walk above leaves at its default)
        for fmt in ("xlsx", "html"):
            url = f"/jobs/{values['job_a'][0]}/compare/{values['job_b'][0]}?format={fmt}"
            response = client.get(url)
            assert response.status_code == 200, (url, response.text[:300])
            hits = leaks(_text(response))
            if hits:
                found[f"GET {url}"] = hits
        assert {"/tiers/{level}", "/maps/tiers", "/clients/counts", "/jobs", "/jobs/{job_id}",
                "/jobs/{job_id}/tables/{filename}", "/maps/jobs/{job_id}", "/stations", "/resources", "/scenarios",
                "/scenarios/{name}", "/jobs/{job_a}/compare/{job_b}", "/reports/{level}", "/reports/{level}/{area_id}"} <= seen

        # exports as the CLI writes them, and the public store itself
        store = app.state.store
        for job in jobs:
            if job["status"] != "done":
                continue
            for path in write_job_outputs(store, store.get_job(job["job_id"]), tmp_path / "out" / job["job_id"]).values():
                hits = leaks(_file_text(path))
                if hits:
                    found[f"export {path.name} of {job['analysis']}"] = hits
        if pg_store is None:
            store.close()  # the jobs database checkpoints its WAL into the file
            for name, what in (("ws.gpkg", "the public GeoPackage"), ("ws.jobs.sqlite", "the jobs database"),
                               ("ws.jobs.sqlite-wal", "the jobs database's WAL")):
                if not (tmp_path / name).exists():
                    continue
                data = (tmp_path / name).read_bytes().decode("utf-8", "replace")
                hits = [s for s in leaks(data) if not s.startswith("(?")]  # names/addresses only: coordinates are binary here
                if hits:
                    found[what] = hits
            assert (tmp_path / "ws.jobs.sqlite").exists()  # the jobs' tables were searched too
        else:
            import sqlalchemy as sa

            with pg_store._engine.connect() as conn:
                tables = [r[0] for r in conn.execute(sa.text(
                    "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' "
                    "AND table_type = 'BASE TABLE' AND table_name <> 'spatial_ref_sys'"))]
                for table in tables:
                    rows = conn.execute(sa.text(f'SELECT * FROM public."{table}"')).fetchall()
                    hits = leaks(repr(rows))
                    if hits:
                        found[f"PostGIS public.{table}"] = hits

    # the logs (every logger at DEBUG) and everything printed
    out = capfd.readouterr()
    for where, text in (("log records", caplog.text), ("stdout", out.out), ("stderr", out.err)):
        hits = leaks(text)
        if hits:
            found[where] = hits
    assert len(caplog.records) > 0
    assert not found, json.dumps(found, ensure_ascii=False, indent=1)
