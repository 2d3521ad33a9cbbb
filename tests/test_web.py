"""The web UI through the TestClient: login flow, every page for every role, forms from schemas, escaping."""

from __future__ import annotations

import html
import json
import re
import shutil
import time
from types import SimpleNamespace

import _fake_analysis as fake
import geopandas as gpd
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from shapely.geometry import Point, box

from _auth import PASSWORD, accounts_of, ensure_user, login
from api.accounts import ROLES
from api.app import create_app
from api.security import SESSION_COOKIE
from api.settings import Settings
from api.store.geopackage import GeoPackageStore
from api.web._render import safe_next
from api.web.forms import form_fields, model_defaults
from api.web.pages import NOT_ON_FORMS
from gis.schema import coerce_areas, coerce_resources, coerce_stations
from gis.tiers import DEFAULT_PROFILE

HOSTILE = "<script>alert(1)</script>"
ROLE_NAMES = list(ROLES)
#: Pages every logged-in role may open, and the one only administrators may.
ANY_ROLE_PAGES = ["/web/", "/web/map", "/web/analyses", "/web/jobs", "/web/resources"]
ADMIN_PAGES = ["/web/users"]


def _fill(store: GeoPackageStore) -> None:
    areas = coerce_areas(gpd.GeoDataFrame(
        {
            "area_id": ["a1", "a2", "k1", "j1", "c1"],
            "level": ["neighbourhood", "neighbourhood", "kominkan", "junior_high", "city"],
            "name": ["落合町阿部", "成羽町下原", "高梁小学校区", "高梁中学校区", "高梁市"],
            "parent_id": ["k1", "k1", "j1", "c1", None],
            "population": [1200, 30, 1230, 1230, 1230],
        },
        geometry=[box(133.60, 34.78, 133.62, 34.80), box(133.62, 34.78, 133.64, 34.80)]
        + [box(133.60, 34.78, 133.64, 34.80)] * 3,
        crs="EPSG:4326",
    ))
    resources = coerce_resources(gpd.GeoDataFrame(
        {"resource_id": ["r1", "r2"], "kind": ["salon", "supermarket"],
         "name": ["いきいきサロン松山", "天満屋ハピーズ高梁店"], "is_sample": [True, False]},
        geometry=[Point(133.61, 34.79), Point(133.63, 34.79)], crs="EPSG:4326",
    ))
    stations = coerce_stations(gpd.GeoDataFrame(
        {"station_id": ["sample-station-01"], "name": ["高梁市社協本所"], "kind": ["shakyo_station"],
         "area_ids": [["a1", "a2"]]},
        geometry=[Point(133.615, 34.785)], crs="EPSG:4326",
    ))
    with store.transaction() as tx:
        tx.set_workspace(city_code="33209", city_name="高梁市", profile=DEFAULT_PROFILE)
        tx.replace_areas(areas)
        tx.replace_stations(stations)
        tx.add_resources(resources)


@pytest.fixture(scope="module")
def _template(tmp_path_factory):
    path = tmp_path_factory.mktemp("web") / "ws.gpkg"
    store = GeoPackageStore(path, create=True)
    _fill(store)
    store.close()
    return path


@pytest.fixture()
def settings(tmp_path, _template):
    shutil.copyfile(_template, tmp_path / "ws.gpkg")
    return Settings(workspace=str(tmp_path / "ws.gpkg"), upload_dir=tmp_path / "uploads",
                    max_login_failures=3, lockout_minutes=15)


@pytest.fixture()
def client(settings):
    with TestClient(create_app(settings), raise_server_exceptions=False, follow_redirects=False) as c:
        yield c


def web_login(client, role: str = "planner", **kwargs):
    """Log in through the login form (the browser's way: a session cookie, no Authorization header)."""
    user = ensure_user(client.app, role, **kwargs)
    client.headers.pop("Authorization", None)
    client.cookies.clear()
    r = client.post("/web/login", data={"username": user.username, "password": PASSWORD, "next": "/web/"})
    assert r.status_code == 303, r.text
    return user


def _page_data(page: str) -> dict:
    """The JSON the resources page embeds for its script."""
    return json.loads(page.split('<script type="application/json" id="resource-data">')[1].split("</script>")[0])


def _store(client) -> GeoPackageStore:
    return GeoPackageStore(client.app.state.settings.workspace, create=False)


# ------------------------------------------------------------------------------ login


def test_unauthenticated_pages_redirect_to_login_with_next(client):
    for path in [*ANY_ROLE_PAGES, *ADMIN_PAGES, "/web/jobs/abc"]:
        r = client.get(path)
        assert r.status_code == 303, path
        assert r.headers["location"] == f"/web/login?next={path}"
    r = client.get("/web/jobs?status=done")
    assert r.headers["location"] == "/web/login?next=/web/jobs%3Fstatus%3Ddone"
    assert client.get("/").headers["location"] == "/web/"


def test_login_sets_the_session_cookie_and_goes_to_next(client):
    user = ensure_user(client.app, "planner")
    page = client.get("/web/login", params={"next": "/web/jobs?status=done"})
    assert page.status_code == 200
    assert 'name="next" value="/web/jobs?status=done"' in page.text
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page.text
    r = client.post("/web/login", data={"username": user.username, "password": PASSWORD,
                                        "next": "/web/jobs?status=done"})
    assert r.status_code == 303 and r.headers["location"] == "/web/jobs?status=done"
    cookie = r.headers["set-cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=")
    assert "HttpOnly" in cookie and "samesite=strict" in cookie.lower() and "Path=/" in cookie
    token = r.cookies[SESSION_COOKIE]
    assert accounts_of(client.app).session_user(token).username == user.username
    page = client.get("/web/jobs")
    assert page.status_code == 200 and "ジョブ" in page.text
    # logged in already: the login page goes straight on
    assert client.get("/web/login", params={"next": "/web/map"}).headers["location"] == "/web/map"


@pytest.mark.parametrize("target", [
    "https://evil.example/web/", "//evil.example/web/", "/\\evil.example", "\\\\evil.example",
    "http:/web/", "javascript:alert(1)", "/docs", "/web/../docs", "/web\r\nSet-Cookie: x=1", "/web/\t",
    "web/", "", "/web/login", "/web/logout", "/webx",
])
def test_login_refuses_a_foreign_or_odd_next(client, target):
    user = ensure_user(client.app, "viewer")
    r = client.post("/web/login", data={"username": user.username, "password": PASSWORD, "next": target})
    assert r.status_code == 303
    assert r.headers["location"] == "/web/"
    assert client.get("/web/login", params={"next": target}).headers["location"] == "/web/"


def test_safe_next_keeps_local_pages_only():
    assert safe_next("/web/") == "/web/"
    assert safe_next("/web/%0d%0a") == "/web/%0d%0a"  # still encoded: a local page, no header break
    assert safe_next("/web") == "/web"
    assert safe_next("/web/jobs/123?x=1#top") == "/web/jobs/123?x=1#top"
    assert safe_next("https://evil.example", default="/web/map") == "/web/map"
    for bad in (None, "//evil", "/\\evil", "https://evil/web/", "/web/x\x00", "/web/../../etc", "/x" * 1500):
        assert safe_next(bad) == "/web/"


def test_wrong_password_locked_and_disabled_say_so_in_japanese(client):
    user = ensure_user(client.app, "planner")
    r = client.post("/web/login", data={"username": user.username, "password": "wrong-password-000"})
    assert r.status_code == 401
    assert "ユーザー名またはパスワードが違います" in r.text and SESSION_COOKIE not in r.headers.get("set-cookie", "")
    assert f'value="{user.username}"' in r.text  # the name is kept, the password is not
    assert "wrong-password-000" not in r.text
    r = client.post("/web/login", data={"username": "nobody-here", "password": "x" * 12})
    assert r.status_code == 401 and "ユーザー名またはパスワードが違います" in r.text
    for _ in range(2):
        client.post("/web/login", data={"username": user.username, "password": "wrong-password-000"})
    r = client.post("/web/login", data={"username": user.username, "password": PASSWORD})
    assert r.status_code == 423
    assert "ロックされています" in r.text and re.search(r"約 1[45] 分後", r.text), r.text
    assert SESSION_COOKIE not in r.headers.get("set-cookie", "")
    other = ensure_user(client.app, "viewer")
    accounts_of(client.app).update_user(other.username, disabled=True)
    r = client.post("/web/login", data={"username": other.username, "password": PASSWORD})
    assert r.status_code == 403 and "無効" in r.text and "管理者に連絡してください" in r.text
    r = client.post("/web/login", data={"username": "", "password": ""})
    assert r.status_code == 422 and "入力してください" in r.text


def test_login_posted_from_another_site_is_refused(client):
    user = ensure_user(client.app, "planner")
    r = client.post("/web/login", data={"username": user.username, "password": PASSWORD},
                    headers={"Origin": "https://evil.example"})
    assert r.status_code == 403 and SESSION_COOKIE not in r.headers.get("set-cookie", "")
    r = client.post("/web/login", data={"username": user.username, "password": PASSWORD},
                    headers={"Origin": "http://testserver"})
    assert r.status_code == 303


def test_logout_ends_the_session_and_clears_the_cookie(client):
    web_login(client, "planner")
    token = client.cookies[SESSION_COOKIE]
    assert client.get("/web/").status_code == 200
    r = client.post("/web/logout", headers={"Origin": "https://evil.example"})
    assert r.status_code == 403  # cross-site logout with the cookie: refused
    r = client.post("/web/logout")
    assert r.status_code == 303 and r.headers["location"] == "/web/login"
    assert f'{SESSION_COOKIE}=""' in r.headers["set-cookie"] or "Max-Age=0" in r.headers["set-cookie"]
    assert accounts_of(client.app).session_user(token) is None
    client.cookies.set(SESSION_COOKIE, token)
    assert client.get("/web/").status_code == 303  # the old cookie no longer works
    client.cookies.clear()
    assert client.post("/web/logout").status_code == 303  # no session: still fine


# ------------------------------------------------------------------------------ pages and roles


@pytest.mark.parametrize("role", ROLE_NAMES)
def test_every_page_for_every_role(client, role):
    user = web_login(client, role)
    for path in ANY_ROLE_PAGES:
        r = client.get(path)
        assert r.status_code == 200, (role, path, r.text[:300])
        assert r.headers["content-type"].startswith("text/html")
        assert r.headers["cache-control"] == "no-store"
        assert "script-src 'self'" in r.headers["content-security-policy"]
        assert '<html lang="ja">' in r.text and 'name="viewport"' in r.text
        assert html.escape(user.username) in r.text and ROLES[role].split("（")[0] in r.text
    for path in ADMIN_PAGES:
        r = client.get(path)
        assert r.status_code == (200 if role == "admin" else 403), (role, path)
    nav = client.get("/web/").text
    assert ('href="/web/users"' in nav) == (role == "admin")


def test_pages_also_work_with_a_bearer_token(client):
    login(client, "viewer")
    assert client.get("/web/map").status_code == 200


def test_editor_controls_only_for_editors(client):
    for role in ROLE_NAMES:
        web_login(client, role)
        editor = role in ("admin", "planner", "coordinator")
        resources = client.get("/web/resources").text
        assert ('id="edit-mode"' in resources) == editor, role
        assert ('id="import-form"' in resources) == editor, role
        assert ('"editor": true' in resources) == editor, role
        analyses = client.get("/web/analyses").text
        run = re.search(r'<button type="submit" class="btn btn-primary run-button" data-run="salon-gaps"( disabled)?>',
                        analyses)
        assert run is not None and (run.group(1) is None) == editor, role


def test_workspace_page_shows_city_tiers_and_counts(client):
    web_login(client, "viewer")
    page = client.get("/web/").text
    assert "高梁市" in page and "33209" in page
    for lv in DEFAULT_PROFILE.levels:
        assert lv.label in page
    assert "1,230 人" in page and "ふれあい・いきいきサロン" in page and "サンプルデータ" in page
    assert 'src="/maps/tiers"' in client.get("/web/map").text


def test_workspace_not_built_yet_says_what_to_do(tmp_path):
    settings = Settings(workspace=str(tmp_path / "empty.gpkg"))
    GeoPackageStore(settings.workspace, create=True).close()
    with TestClient(create_app(settings), raise_server_exceptions=False, follow_redirects=False) as c:
        web_login(c, "planner")
        for path in ("/web/", "/web/resources"):
            r = c.get(path)
            assert r.status_code == 409 and "tsunagu demo" in r.text and "まだ" in r.text
        assert c.get("/web/analyses").status_code == 200


def test_workspace_chooser_switches_the_city_of_every_page(client, settings, tmp_path):
    other = tmp_path / "kurashiki.gpkg"
    store = GeoPackageStore(other, create=True)
    with store.transaction() as tx:
        tx.set_workspace(city_code="33202", city_name="倉敷市", profile=DEFAULT_PROFILE)
    store.close()
    web_login(client, "viewer")
    page = client.get("/web/").text
    assert 'id="workspace-chooser"' in page and "高梁市" in page
    assert 'data-workspace="kurashiki"' in page and 'data-workspace="ws" aria-pressed="true"' not in page
    assert re.search(r'data-workspace="ws"\s+aria-pressed="true" disabled', page)
    r = client.post("/workspaces/select", json={"name": "kurashiki"}, headers={"Origin": "http://testserver"})
    assert r.status_code == 200  # what the chooser's script posts
    page = client.get("/web/").text
    assert "<h1>倉敷市" in page and re.search(r'data-workspace="kurashiki"\s+aria-pressed="true"', page)
    r = client.get("/web/resources")  # no areas or resources yet: still a page, of the chosen city
    assert r.status_code == 200 and "倉敷市" in r.text and "高梁市" not in r.text
    client.cookies.set("tsunagu_workspace", "gone")  # a workspace the server no longer has
    r = client.get("/web/")
    assert r.status_code == 404 and "選び直してください" in r.text and 'id="workspace-chooser"' in r.text
    r = client.get("/web/jobs")
    assert r.status_code == 404 and "ワークスペースのページで選び直してください" in r.text


def test_times_are_shown_in_japan_time():
    from api.web._render import jst

    assert jst("2026-04-01T00:30:00+00:00") == "2026-04-01 09:30"
    assert jst("2026-03-31T20:00:00.123456Z") == "2026-04-01 05:00"
    assert jst("") == "" and jst(None) == "" and jst("きのう") == "きのう"


def test_static_files_and_leaflet_are_public(client):
    for path in ("/web/static/web.css", "/web/static/web.js", "/web/static/resources.js",
                 "/web/leaflet/leaflet.js", "/web/leaflet/leaflet.css", "/web/leaflet/images/layers.png"):
        r = client.get(path)
        assert r.status_code == 200, path
    assert "Leaflet" in client.get("/web/leaflet/leaflet.js").text
    assert client.get("/web/static/../templates/base.html").status_code == 404


# ------------------------------------------------------------------------------ analyses


def test_analysis_forms_are_generated_from_the_schemas(client):
    web_login(client, "planner")
    page = client.get("/web/analyses").text
    analyses = client.get("/analyses").json()
    for a in analyses:
        if a["name"] in NOT_ON_FORMS:  # the upload form; the private outreach pages
            assert f'data-analysis="{a["name"]}"' not in page
            continue
        assert f'data-analysis="{a["name"]}"' in page
        for name in a["params"].get("properties", {}):
            assert f'id="{a["name"]}--{name}" data-param="{name}"' in page, (a["name"], name)
    form = page.split('data-analysis="salon-gaps"')[1].split("</form>")[0]
    assert 'data-param="thresholds_m" data-kind="list-number" value="500, 1000"' in form  # a default_factory
    assert re.search(r'data-param="cell_size_m" data-kind="number" value="100"', form)
    assert '<option value="walk" selected>徒歩</option>' in form  # Japanese names, not the codes
    assert '<option value="drive">車</option>' in form
    assert "65歳以上人口の比率" in form


def test_form_fields_cover_every_kind_of_parameter():
    from pydantic import BaseModel, Field
    from typing import Literal

    class Point_(BaseModel):
        name: str
        lon: float
        lat: float

    class Params(BaseModel):
        k: int = Field(5, description="数")
        share: float | None = Field(None, description="比率")
        mode: Literal["walk", "drive"] = "walk"
        strict: bool = True
        days: list[str] = Field(default_factory=lambda: ["火", "金"])
        radii: list[float] = Field(default_factory=list)
        counts: list[int] = Field(default_factory=list)
        points: list[Point_] = Field(default_factory=list)
        label: str = Field(description="名前")
        weekday: str | None = None

    assert {f.name: f.value for f in form_fields(Params.model_json_schema())}["days"] == ""  # factory: not in the schema
    fields = {f.name: f for f in form_fields(Params.model_json_schema(), defaults=model_defaults(Params))}
    assert fields["k"].kind == "integer" and fields["k"].value == "5" and fields["k"].label == "数"
    assert fields["share"].kind == "number" and fields["share"].value == "" and fields["share"].nullable
    assert fields["mode"].kind == "enum" and fields["mode"].options == (("walk", "徒歩"), ("drive", "車"))
    assert fields["strict"].kind == "boolean" and fields["strict"].checked
    assert fields["days"].kind == "list-string" and fields["days"].value == "火, 金"
    assert fields["radii"].kind == "list-number" and fields["counts"].kind == "list-integer"
    assert fields["points"].kind == "json" and '"lon"' in fields["points"].placeholder
    assert fields["label"].kind == "string" and fields["label"].required
    assert fields["weekday"].kind == "string" and not fields["weekday"].required
    assert fields["mode"].label == "経路の種類"  # no description: the Japanese label table


def test_a_job_started_from_the_api_shows_on_its_page(client):
    web_login(client, "planner")
    # the page's script posts exactly this (fetch, same origin, session cookie)
    r = client.post("/jobs", json={"analysis": fake.NAME, "params": {"min_population": 10}},
                    headers={"Origin": "http://testserver"})
    assert r.status_code == 202, r.text
    job_id = r.json()["job_id"]
    _wait_job(client, job_id)
    page = client.get(f"/web/jobs/{job_id}").text
    assert 'data-status="done"' in page and "完了" in page
    assert f'src="/maps/jobs/{job_id}"' in page
    assert f'href="/jobs/{job_id}/tables/all.xlsx"' in page and f'href="/jobs/{job_id}/tables/areas.csv"' in page
    assert "テスト用の解析です" in page
    listing = client.get("/web/jobs").text
    assert f'href="/web/jobs/{job_id}"' in listing and "テスト用：地域数の集計" in listing
    assert "<th>市区町村</th>" in listing and "<td>高梁市</td>" in listing  # which city each job ran on
    assert 'id="job-facts">高梁市' in page
    # a cross-site post with the cookie starts nothing
    r = client.post("/jobs", json={"analysis": fake.NAME, "params": {}}, headers={"Origin": "https://evil.example"})
    assert r.status_code == 403


def _wait_job(client, job_id: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while (record := client.get(f"/jobs/{job_id}").json())["status"] in ("queued", "running"):
        assert time.monotonic() < deadline, f"job {job_id} did not end"
        time.sleep(0.1)
    return record


def test_the_upload_form_imports_as_a_job_with_its_report(client):
    web_login(client, "planner")
    page = client.get("/web/resources").text
    assert 'id="import-form"' in page and 'name="file"' in page and 'name="kind"' in page
    # what the page's script sends: the form as multipart (file, kind, replace), cookie, same origin
    csv = "名称,緯度,経度\n取り込みサロン,34.79123,133.60912\n".encode()
    r = client.post("/resources/import", files={"file": ("サロン.csv", csv, "text/csv")},
                    data={"kind": "salon", "replace": ""}, headers={"Origin": "http://testserver"})
    assert r.status_code == 202, r.text
    record = _wait_job(client, r.json()["job_id"])
    assert record["status"] == "done", record
    page = client.get(f"/web/jobs/{record['job_id']}").text
    assert "地域資源の取り込み" in page and "取り込み結果（CSV）" in page
    names = [f["properties"]["name"] for f in _page_data(client.get("/web/resources").text)["resources"]["features"]]
    assert "取り込みサロン" in names
    bad = "名称,緯度,経度\n位置のないサロン,,\n".encode()
    r = client.post("/resources/import", files={"file": ("bad.csv", bad, "text/csv")}, data={"kind": "salon"},
                    headers={"Origin": "http://testserver"})
    assert r.status_code == 202, r.text
    record = _wait_job(client, r.json()["job_id"])  # the job's validation report names the row
    page = client.get(f"/web/jobs/{record['job_id']}").text
    assert record["status"] == "failed" and "取り込みができませんでした" in page
    assert "1行目" in page and "空欄です" in page and 'href="/web/resources"' in page


def _job(client, *, status: str, error: str | None = None) -> str:
    store = _store(client)
    try:
        record = store.create_job(analysis=fake.NAME, params={"level": "neighbourhood"}, created_by="test-planner",
                                  data_version="33209-test")
        job_id = record["job_id"]
        if status in ("running", "done", "failed"):
            store.update_job_progress(job_id, 0.4, "集計中")
        if status == "done":
            table = pd.DataFrame({"地域": ["落合"], "人口": [1200]})
            store.finish_job(job_id, SimpleNamespace(tables={"地域別": table}, map_html="<html>地図</html>",
                                                     summary={"by": {"areas": 2, "ok": True}, "share": 0.25},
                                                     notes=["注記です"]))
        elif status == "failed":
            store.fail_job(job_id, error or "失敗しました")
        elif status == "cancelled":
            store.cancel_job(job_id)
    finally:
        store.close()
    return job_id


def test_job_page_states(client):
    web_login(client, "planner")
    queued = client.get(f"/web/jobs/{_job(client, status='queued')}").text
    assert 'data-status="queued"' in queued and 'id="job-progress"' in queued and 'id="cancel-job"' in queued
    running = client.get(f"/web/jobs/{_job(client, status='running')}").text
    assert 'value="40"' in running and "集計中" in running and "実行中" in running
    done = client.get(f"/web/jobs/{_job(client, status='done')}").text
    assert "地域別（CSV）" in done and "注記です" in done
    assert "by › areas" not in done and "share" not in done  # summary keys a page does not know are never shown raw
    assert 'id="cancel-job"' not in done
    failed = client.get(f"/web/jobs/{_job(client, status='failed', error='サロンの位置データがありません')}").text
    assert "解析が失敗しました" in failed and "サロンの位置データがありません" in failed and "やり直して" in failed
    assert "取り消されました" in client.get(f"/web/jobs/{_job(client, status='cancelled')}").text
    missing = client.get("/web/jobs/00000000-0000-4000-8000-000000000000")
    assert missing.status_code == 404 and "ジョブが見つかりません" in missing.text
    assert client.get("/web/jobs/not-a-job-id").status_code == 404
    web_login(client, "viewer")
    assert 'id="cancel-job"' not in client.get(f"/web/jobs/{_job(client, status='queued')}").text


# ------------------------------------------------------------------------------ escaping


def test_a_malicious_resource_name_is_never_markup(client):
    login(client, "planner")
    r = client.post("/resources", json={"name": HOSTILE, "kind": "salon", "lon": 133.615, "lat": 34.792})
    assert r.status_code == 201, r.text
    web_login(client, "planner")
    page = client.get("/web/resources").text
    assert HOSTILE not in page and "alert(1)</script>" not in page
    data = page.split('<script type="application/json" id="resource-data">')[1].split("</script>")[0]
    assert "\\u003cscript\\u003ealert(1)\\u003c/script\\u003e" in data  # JSON-escaped, read with JSON.parse
    assert "<" not in data
    assert HOSTILE in [f["properties"]["name"] for f in _page_data(page)["resources"]["features"]]
    # the page's script writes names with textContent only
    script = client.get("/web/static/resources.js").text
    assert "innerHTML" not in script and "insertAdjacentHTML" not in script and "bindTooltip(tooltipOf" in script


def test_other_user_text_is_escaped_on_every_page(client):
    admin = web_login(client, "admin")
    accounts_of(client.app).update_user(admin.username, display_name=HOSTILE)
    ensure_user(client.app, "viewer", username="hostile-name")
    accounts_of(client.app).update_user("hostile-name", display_name=f'"><img src=x onerror=alert(2)>{HOSTILE}')
    job_id = _job(client, status="failed", error=f"bad value {HOSTILE}")
    for path in ("/web/", "/web/users", f"/web/jobs/{job_id}", "/web/jobs"):
        page = client.get(path).text
        assert HOSTILE not in page and "<img src=x" not in page, path
    assert html.escape(HOSTILE) in client.get("/web/users").text
    assert html.escape(HOSTILE) in client.get(f"/web/jobs/{job_id}").text
    for name in ("web.js", "analyses.js", "job.js", "users.js"):
        assert "innerHTML" not in client.get(f"/web/static/{name}").text, name


def test_users_page_lists_accounts_with_their_controls(client):
    web_login(client, "admin")
    ensure_user(client.app, "csw")
    page = client.get("/web/users").text
    assert 'data-username="test-csw-sample-station-01"' in page
    assert '<option value="csw" selected>' in page
    assert 'value="sample-station-01"' in page and "高梁市社協本所" in page  # station choices from the workspace
    for label in ROLES.values():
        assert html.escape(label) in page
    assert 'data-action="delete"' in page and 'data-action="password"' in page
    # the page's script calls these: an admin's cookie, same origin
    same = {"Origin": "http://testserver"}
    r = client.patch("/users/test-csw-sample-station-01", json={"role": "viewer", "station_id": ""}, headers=same)
    assert r.status_code == 200 and r.json()["role"] == "viewer"
    assert client.delete("/users/test-csw-sample-station-01", headers=same).status_code == 200
    assert 'data-username="test-csw-sample-station-01"' not in client.get("/web/users").text


def test_a_forbidden_web_page_is_a_japanese_page_not_json(client):
    from _auth import login as _login

    _login(client, "viewer")
    r = client.get("/web/users", follow_redirects=False)
    assert r.status_code == 403 and r.headers["content-type"].startswith("text/html")
    assert "権限がありません" in r.text and "管理者" in r.text


# --------------------------------------------------------------------------- 訪問ルート (CSW)


def test_outreach_page_plans_a_csw_day_without_showing_anyone_elsewhere(tmp_path):
    """A CSW imports their visits on the 訪問ルート page's API, plans a day, and only they open the plan."""
    from _clients_sample import fill_workspace, households_table, leaks, wait_for_job

    path = tmp_path / "clients.gpkg"
    with GeoPackageStore(path, create=True) as store:
        fill_workspace(store)
    settings = Settings(workspace=str(path), upload_dir=tmp_path / "uploads")
    with TestClient(create_app(settings), raise_server_exceptions=False, follow_redirects=False) as client:
        web_login(client, "csw", station_id="s1")
        page = client.get("/web/outreach")
        assert page.status_code == 200 and "訪問ルート（CSW）" in page.text and 'href="/web/outreach"' in page.text
        assert "s2" not in page.text  # another station is not even offered
        csv = households_table("s1").to_csv(index=False).encode("utf-8")
        r = client.post("/clients/import?station_id=s1", files={"file": ("訪問先.csv", csv, "text/csv")},
                        headers={"Origin": "http://testserver"})
        assert r.status_code in (200, 201), r.text
        page = client.get("/web/outreach")
        assert "<td>5</td>" in page.text and not leaks(page.text)  # a count, never a name
        r = client.post("/outreach/plans", json={"station_id": "s1", "csws": 2, "hours": "8:30-17:15"},
                        headers={"Origin": "http://testserver"})
        assert r.status_code == 202, r.text
        job_id = r.json()["job_id"]
        assert wait_for_job(client, job_id)["status"] == "done"
        job_page = client.get(f"/web/jobs/{job_id}")
        assert f"/outreach/plans/{job_id}/map" in job_page.text and not leaks(job_page.text)
        assert client.get(f"/outreach/plans/{job_id}/map").status_code == 200
        web_login(client, "csw", station_id="s2")  # a CSW of another station
        assert client.get(f"/outreach/plans/{job_id}/map").status_code == 404
        assert f"/outreach/plans/{job_id}/map" not in client.get(f"/web/jobs/{job_id}").text
        web_login(client, "planner")
        assert client.get("/web/outreach").status_code == 403
        assert "訪問ルート" not in client.get("/web/").text.split("<main")[0]  # not in a planner's menu


def test_kind_colours_and_labels_come_from_the_one_vocabulary(client):
    """The page's kinds (labels, colours, shown at first) and /web/kinds.css are rendered from gis/kinds.toml."""
    from gis import kinds

    css = client.get("/web/kinds.css")  # public like the other static files, served to the login page too
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    for key, kind in {**kinds.resource_kinds(), **kinds.station_kinds()}.items():
        assert f".k-{key} {{ background: {kind.colour}; }}" in css.text
    assert client.get("/web/kinds.json").json() == kinds.as_json()  # for other page scripts
    web_login(client, "planner")
    page = client.get("/web/resources").text
    assert re.search(r'href="/web/kinds\.css\?v=\w+"', page)
    data = _page_data(page)
    assert data["kinds"]["resources"]["dementia_cafe"]["label"] == "認知症カフェ"
    assert data["kinds"]["resources"]["salon"]["shown"] is True
    assert data["kinds"]["resources"]["bus_stop"]["shown"] is False
    assert data["salon_kind"] == kinds.SALON_KIND
    # every kind can be chosen when adding or importing, the common ones first, salon preselected
    options = re.findall(r'<option value="(\w+)"( selected)?>', page.split('id="add-kind"')[1].split("</select>")[0])
    assert [k for k, _ in options][: len(kinds.common_kinds())] == list(kinds.common_kinds())
    assert {k for k, _ in options} == set(kinds.resource_kinds())
    assert [k for k, sel in options if sel] == [kinds.SALON_KIND]
