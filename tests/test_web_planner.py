"""The web UI walked as a planner would, through the TestClient, on a real 高梁市 workspace.

Every page a planner opens is checked for English words (outside a short list of technical
words) and for raw JSON; the analyses are listed by Japanese name in a planner's order; the
shopping-refugees form offers shop kinds by name, the city's real shops to close and a map to
add stops, and the posted form starts the job; the result page states the headline, the city
and the census year; bad input and bad URLs come back as Japanese pages, while the API keeps
its JSON.
"""

from __future__ import annotations

import re
import time

import pytest
from fastapi import Query
from fastapi.testclient import TestClient

from _planner_words import english_words, raw_json, visible_text
from api.security import PUBLIC, allow

pytestmark = pytest.mark.realdata

PASSWORD = "planner-walk-password-1"
USERS = {"keikaku": ("planner", "計画 太郎"), "etsuran": ("viewer", "閲覧 花子")}
PAGES = ["/web/", "/web/map", "/web/analyses", "/web/jobs", "/web/resources", "/web/scenarios"]  # /web/stations: below
PLANNER_ORDER = ["サロンの空白地域", "新しいサロンの候補地", "買い物弱者", "圏域（キャッチメント）", "移動販売の計画"]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory, data_dir):
    """A 高梁市 workspace built from the open data (with its sample salons), and its accounts."""
    from api.accounts import AccountStore, accounts_path
    from api.importing import build_city_workspace
    from api.store.connect import open_store

    folder = tmp_path_factory.mktemp("planner")
    path = folder / "tsunagu.gpkg"
    with open_store(str(path)) as store:
        build_city_workspace(store, data_dir=data_dir)
    accounts = AccountStore(accounts_path(path))
    for username, (role, name) in USERS.items():
        accounts.create_user(username, PASSWORD, role=role, display_name=name)
    accounts.close()
    with open_store(str(path), create=False) as store:
        resources = store.resources()
        builders = [str(r.get("by") or "") for r in store.import_log()]
    for text in [*resources["name"].astype(str), *resources["address"].astype(str), *builders]:
        _DATA_WORDS.update(re.findall(r"[A-Za-z][A-Za-z_]*", text))
    return path


@pytest.fixture(scope="module")
def client(workspace, data_dir, tmp_path_factory):
    from api.app import create_app
    from api.settings import Settings

    settings = Settings(workspace=str(workspace), data_dir=data_dir, upload_dir=tmp_path_factory.mktemp("uploads"))
    app = create_app(settings)

    @app.get("/web/test-boom", dependencies=[allow(PUBLIC)], include_in_schema=False)
    def boom():  # a page that fails: the 500 page
        msg = "boom"
        raise RuntimeError(msg)

    @app.get("/web/test-number", dependencies=[allow(PUBLIC)], include_in_schema=False)
    def number(n: int = Query()):  # a page with a typed query: the 422 page
        return {"n": n}

    with TestClient(app, raise_server_exceptions=False, follow_redirects=False) as c:
        yield c


def _login(client, username: str = "keikaku") -> None:
    client.cookies.clear()
    r = client.post("/web/login", data={"username": username, "password": PASSWORD, "next": "/web/"})
    assert r.status_code == 303, r.text


def _shop_rows(workspace) -> list[dict]:
    from api.store.connect import open_store
    from gis.kinds import food_shop_kinds

    with open_store(str(workspace), create=False) as store:
        shops = store.resources(kinds=list(food_shop_kinds()))
    return shops.drop(columns="geometry").assign(lon=shops.geometry.x, lat=shops.geometry.y).to_dict("records")


#: Words of the data, not of the tool: names and addresses of the city's resources (「DCM高梁店」), and
#: the OS user who built the workspace in this test (the build log names it).
_DATA_WORDS: set[str] = set()


def _without_test_analyses(page: str) -> str:
    """The page without the forms of analyses that other test modules register (「テスト用」 in their name)."""
    return re.sub(r'<section class="card analysis" id="analysis-[^"]+">\s*<h2>テスト用.*?</section>', "", page,
                  flags=re.DOTALL)


def assert_reads_as_japanese(page: str, where: str, *, typed=()) -> None:
    """No English outside the technical words, the data's names and what the user ``typed``; no raw JSON."""
    texts = visible_text(_without_test_analyses(page))
    assert texts, where
    allowed = {*USERS, *_DATA_WORDS, *typed}
    english = [t.strip()[:160] for t in texts if english_words([t], also_allowed=allowed)]
    assert english == [], f"English on {where}"
    assert raw_json(texts) == [], f"raw JSON on {where}"


def _wait(client, job_id: str, timeout: float = 300) -> dict:
    deadline = time.monotonic() + timeout
    while (record := client.get(f"/jobs/{job_id}").json())["status"] in ("queued", "running"):
        assert time.monotonic() < deadline, f"job {job_id} did not end"
        time.sleep(0.3)
    return record


def test_every_page_a_planner_opens_reads_as_japanese(client):
    _login(client)
    for path in PAGES:
        r = client.get(path)
        assert r.status_code == 200, (path, r.text[:300])
        assert_reads_as_japanese(r.text, path)


def test_analyses_are_listed_by_japanese_name_in_a_planners_order(client):
    _login(client)
    page = client.get("/web/analyses").text
    headings = re.findall(r"<h2>([^<]+)</h2>", page)
    assert headings[: len(PLANNER_ORDER)] == PLANNER_ORDER
    for slug in ("salon-gaps", "shopping-refugees", "mobile-sales"):
        assert all(slug not in t for t in visible_text(page)), slug  # codes only in URLs and ids


def test_shopping_form_offers_kind_names_real_shops_and_a_map_for_stops(client, workspace):
    _login(client)
    page = client.get("/web/analyses").text
    form = page.split('data-analysis="shopping-refugees"')[1].split("</form>")[0]
    assert "supermarket, convenience_store" not in form and "resource_id" not in form
    # shop kinds: a checkbox per kind with its Japanese name, the MAFF kinds ticked
    assert re.search(r'<input type="checkbox" name="shop_kinds" value="supermarket" checked> <span>スーパーマーケット</span>', form)
    assert re.search(r'name="shop_kinds" value="convenience_store" checked> <span>コンビニエンスストア</span>', form)
    assert 'value="mobile_sales_stop"' not in form
    # shops to close: the workspace's own shops by name and kind, on a map too
    shops = _shop_rows(workspace)
    assert len(shops) >= 5
    for shop in shops[:5]:
        assert f'name="close_shop_ids" value="{shop["resource_id"]}"' in form
    assert shops[0]["name"] in form
    assert 'data-picker="shops"' in form and 'data-picker="points"' in form
    assert '<textarea' not in form  # no JSON to type: stops are added on the map
    assert 'data-name="add_stops" data-days="yes"' in form


def test_shopping_refugees_run_from_the_form_states_its_result_in_japanese(client, workspace):
    _login(client)
    kinds = ["supermarket", "convenience_store", "grocery"]
    shops = sorted((s for s in _shop_rows(workspace) if s["kind"] in kinds), key=lambda s: s["resource_id"])
    closed = shops[0]
    r = client.post("/web/analyses/shopping-refugees", headers={"Origin": "http://testserver"}, data={
        "threshold_m": "500", "shop_kinds": kinds,
        "close_shop_ids": [closed["resource_id"]], "mode": "walk", "stop_walk_m": "300", "cell_size_m": "250",
        "add_stops.name": ["川上の停留所"], "add_stops.lon": [f"{closed['lon'] + 0.01:.6f}"],
        "add_stops.lat": [f"{closed['lat']:.6f}"], "add_stops.days": ["火,金"],
    })
    assert r.status_code == 303, r.text[:2000]
    job_id = r.headers["location"].rsplit("/", 1)[-1]
    record = _wait(client, job_id)
    assert record["status"] == "done", record.get("error")
    params = record["params"]
    assert params["shop_kinds"] == ["supermarket", "convenience_store", "grocery"]
    assert params["close_shop_ids"] == [closed["resource_id"]]
    assert params["add_stops"][0]["name"] == "川上の停留所" and params["add_stops"][0]["days"] == ["火", "金"]
    assert params["cell_size_m"] == 250 and "scenario" in record["summary"]

    page = client.get(f"/web/jobs/{job_id}").text
    headline = re.search(r'<p class="headline" id="headline">([^<]+)</p>', page)
    assert headline, page[:3000]
    assert "65歳以上" in headline.group(1) and "人" in headline.group(1) and "%" in headline.group(1)
    elderly = round(record["summary"]["elderly"])
    assert f"{elderly:,}人" in headline.group(1)  # the figure of the summary, rounded and grouped
    assert "高梁市" in page and "2010年（平成22年）国勢調査" in page
    assert "by_threshold" not in page and "share_straight" not in page
    assert closed["name"] in page.split('id="job-params"')[1]  # the closed shop by its name, not its id
    assert "スーパーマーケット、コンビニエンスストア" in page
    assert "計画 太郎" in page  # who started it, by name
    assert_reads_as_japanese(page, "job page")
    assert_reads_as_japanese(client.get("/web/jobs").text, "jobs page")
    assert "買い物弱者" in client.get("/web/jobs").text


def test_a_wrong_form_comes_back_in_japanese_with_the_input_kept(client, workspace):
    _login(client)
    r = client.post("/web/analyses/shopping-refugees", headers={"Origin": "http://testserver"},
                    data={"threshold_m": "abc", "stop_walk_m": "-5", "add_stops.name": ["停留所A"],
                          "add_stops.lon": ["133.6"], "add_stops.lat": ["34.8"]})
    assert r.status_code == 422
    form = r.text.split('data-analysis="shopping-refugees"')[1].split("</form>")[0]
    assert "入力に誤りがあります" in form
    assert "「食料品店とみなす店の種類」：少なくとも1つ選んでください" in form
    assert "数値を入力してください" in form
    assert 'value="abc"' in form and 'value="停留所A"' in form  # what was typed stays
    assert 'name="shop_kinds" value="supermarket"> ' in form  # unticked as posted
    assert_reads_as_japanese(r.text, "form with problems", typed=("abc", "A"))
    drugstore = next(s for s in _shop_rows(workspace) if s["kind"] == "drugstore")
    r = client.post("/web/analyses/shopping-refugees", headers={"Origin": "http://testserver"},
                    data={"shop_kinds": ["supermarket"], "close_shop_ids": [drugstore["resource_id"]]})
    assert r.status_code == 422  # closing a shop of a kind not counted would change nothing
    assert f"「{drugstore['name']}」はドラッグストアです。" in r.text
    r = client.post("/web/analyses/salon-gaps", headers={"Origin": "http://testserver"},
                    data={"thresholds_m": "500", "cell_size_m": "5"})
    assert r.status_code == 422 and "：25 以上" in r.text  # pydantic's bound, in Japanese
    before = client.get("/jobs").json()
    assert all(j["params"].get("cell_size_m") != 5 for j in before)  # no job was made


def test_web_errors_are_japanese_pages_and_the_api_keeps_its_json(client):
    _login(client)
    for path, status in (("/web/no-such-page", 404), ("/web/jobs/not-a-job", 404), ("/web/test-boom", 500),
                         ("/web/test-number?n=abc", 422)):
        r = client.get(path, headers={"Referer": "http://testserver/web/analyses"})
        assert r.status_code == status, (path, r.status_code)
        assert r.headers["content-type"].startswith("text/html"), path
        assert 'href="/web/"' in r.text, path  # a way back
        if path != "/web/jobs/not-a-job":  # that one is the job page's own 「ジョブが見つかりません」
            assert '<a class="btn btn-primary" href="/web/analyses" id="go-back">' in r.text, path
        assert "Not Found" not in r.text and "boom" not in r.text and "Traceback" not in r.text
        assert_reads_as_japanese(r.text, path)
    r = client.post("/web/analyses/no-such-analysis", headers={"Origin": "http://testserver"}, data={})
    assert r.status_code == 404 and "解析が見つかりません" in r.text
    # the API answers as before: JSON bodies
    r = client.get("/no-such-endpoint")
    assert r.status_code == 404 and r.headers["content-type"].startswith("application/json") and "detail" in r.json()
    r = client.get("/jobs/not-a-job")
    assert r.status_code == 404 and r.headers["content-type"].startswith("application/json")
    # a viewer may not start analyses: a Japanese 403 page, no job
    _login(client, "etsuran")
    r = client.post("/web/analyses/salon-gaps", headers={"Origin": "http://testserver"}, data={"thresholds_m": "500"})
    assert r.status_code == 403 and r.headers["content-type"].startswith("text/html") and "権限がありません" in r.text
    # a form posted from another site is refused the same way
    _login(client)
    r = client.post("/web/analyses/salon-gaps", headers={"Origin": "https://evil.example"}, data={})
    assert r.status_code == 403 and "権限がありません" in r.text
    # after the session ended, a posted form leads to the login and back to the form's page
    client.cookies.clear()
    r = client.post("/web/analyses/salon-gaps", headers={"Referer": "http://testserver/web/analyses"}, data={})
    assert r.status_code == 303 and r.headers["location"] == "/web/login?next=/web/analyses"


def test_salon_gaps_from_the_form_says_how_many_live_beyond_a_salons_walk(client):
    _login(client)
    r = client.post("/web/analyses/salon-gaps", headers={"Origin": "http://testserver"},
                    data={"thresholds_m": "500、1000", "cell_size_m": "250"})
    assert r.status_code == 303, r.text[:2000]
    record = _wait(client, r.headers["location"].rsplit("/", 1)[-1])
    assert record["status"] == "done", record.get("error")
    page = client.get(f"/web/jobs/{record['job_id']}").text
    row = record["summary"]["by_threshold"]["500"]
    headline = re.search(r'id="headline">([^<]+)<', page).group(1)
    for figure in (f"65歳以上 {round(row['elderly']):,}人", f"{round(row['uncovered_elderly']):,}人",
                   f"{row['uncovered_share'] * 100:.1f}%"):
        assert figure in headline, (figure, headline)  # the summary's figures, rounded, in a sentence
    assert "サロン" in headline and "500" in headline
    assert re.search(r"<th>[^<]*1000 m[^<]*</th>|<th>[^<]*1 km[^<]*</th>", page)  # a figure for the second distance
    assert_reads_as_japanese(page, "salon-gaps result")


@pytest.mark.parametrize(("role", "path"), [("admin", "/web/users"), ("csw", "/web/outreach"), ("viewer", "/web/analyses")])
def test_the_other_roles_pages_read_as_japanese_too(client, role, path):
    from _auth import PASSWORD as TEST_PASSWORD
    from _auth import ensure_user

    user = ensure_user(client.app, role)
    client.cookies.clear()
    r = client.post("/web/login", data={"username": user.username, "password": TEST_PASSWORD, "next": path})
    assert r.status_code == 303
    page = client.get(path)
    assert page.status_code == 200
    assert_reads_as_japanese(page.text, path, typed=re.findall(r"[A-Za-z]+", user.username))  # the user's own name


def test_a_scenario_made_on_the_web_runs_and_compares_with_the_baseline(client, workspace):
    """Make a scenario (a salon added on the map, a shop closed), run salon gaps on it from the form, compare."""
    _login(client)
    shop = sorted(_shop_rows(workspace), key=lambda s: s["resource_id"])[0]
    origin = {"Origin": "http://testserver"}
    bad = client.post("/web/scenarios", headers=origin, data={"name": "ウェブ案", "remove": ["no-such-id"]})
    assert bad.status_code == 422 and "no-such-id" in bad.text and "保存できませんでした" in bad.text
    assert_reads_as_japanese(bad.text, "a refused scenario", typed={"no", "such", "id"})
    made = client.post("/web/scenarios", headers=origin, data={
        "name": "ウェブ案", "description": "サロン1か所と閉店", "add_kind": "salon",
        "add.name": ["川面の新サロン"], "add.lon": [f"{shop['lon'] + 0.005:.6f}"], "add.lat": [f"{shop['lat']:.6f}"],
        "remove": [shop["resource_id"]]})
    assert made.status_code == 303, made.text[:1000]
    page = client.get("/web/scenarios").text
    assert "ウェブ案" in page and "追加 川面の新サロン" in page and f"削除 {shop['resource_id']}" in page
    assert_reads_as_japanese(page, "/web/scenarios", typed={shop["resource_id"]})
    assert "基本データ（シナリオなし）" in client.get("/web/analyses").text
    ids = []
    for scenario in ("", "ウェブ案"):
        r = client.post("/web/analyses/salon-gaps", headers=origin,
                        data={"thresholds_m": "500", "cell_size_m": "250", "mode": "walk", "__scenario": scenario})
        assert r.status_code == 303, r.text[:1000]
        ids.append(r.headers["location"].rsplit("/", 1)[-1])
    records = [_wait(client, j) for j in ids]
    assert all(rec["status"] == "done" for rec in records)
    assert "scenario" not in records[0]["params"] and records[1]["params"]["scenario"]["name"] == "ウェブ案"
    job_page = client.get(f"/web/jobs/{ids[1]}").text
    assert "シナリオ「ウェブ案」の上で計算しました" in job_page
    link = re.search(r'href="(/jobs/[^"]+/compare/[^"]+\?format=html)"', job_page)
    assert link, job_page[:3000]
    assert ids[0] in link.group(1) and ids[1] in link.group(1)
    cmp = client.get(link.group(1).replace("&amp;", "&"))
    assert cmp.status_code == 200 and "川面の新サロン" in cmp.text and "改善" in cmp.text
    gone = client.post("/web/scenarios/ウェブ案/delete", headers=origin)
    assert gone.status_code == 303 and "ウェブ案" not in client.get("/web/scenarios").text.split("新しいシナリオ")[0]


def test_stations_added_on_the_map_edited_and_deleted(client, workspace):
    """Real stations: add one where the map was clicked, rename and move it, assign areas, delete it; errors in Japanese."""
    from api.store.connect import open_store

    _login(client)
    origin = {"Origin": "http://testserver"}
    with open_store(str(workspace), create=False) as store:
        areas = store.areas(level="kominkan")
        before = len(store.stations())
        ids = {w for sid in store.stations()["station_id"].astype(str) for w in re.findall(r"[A-Za-z]+", sid)}
    page = client.get("/web/stations")
    assert page.status_code == 200 and 'data-picker="points"' in page.text
    assert_reads_as_japanese(page.text, "/web/stations", typed=ids)  # station ids are the data's (sample-station-01)
    area = areas.iloc[0]
    p = area.geometry.representative_point()
    r = client.post("/web/stations", headers=origin, data={
        "kind": "shakyo_station", "add.name": ["成羽地域ステーション"], "add.lon": [f"{p.x:.6f}"],
        "add.lat": [f"{p.y:.6f}"]})
    assert r.status_code == 303, r.text[:2000]
    with open_store(str(workspace), create=False) as store:
        st = store.stations()
    assert len(st) == before + 1
    new = st[st["name"] == "成羽地域ステーション"].iloc[0]
    assert not new["is_sample"] and new["kind"] == "shakyo_station"
    sid = str(new["station_id"])
    r = client.post(f"/web/stations/{sid}", headers=origin, data={
        "name": "成羽ステーション", "kind": "shakyo_station", "address": "", "lon": f"{p.x + 0.001:.6f}",
        "lat": f"{p.y:.6f}", "area_ids": f"{area['area_id']}"})
    assert r.status_code == 303, r.text[:2000]
    with open_store(str(workspace), create=False) as store:
        row = store.stations().set_index("station_id").loc[sid]
    assert row["name"] == "成羽ステーション" and list(row["area_ids"]) == [str(area["area_id"])]
    assert round(row.geometry.x, 6) == round(p.x + 0.001, 6)
    bad = client.post(f"/web/stations/{sid}", headers=origin, data={
        "name": "成羽ステーション", "kind": "shakyo_station", "lon": "34.8", "lat": "133.6", "area_ids": "no-area"})
    assert bad.status_code == 422 and "何も書き換えていません" in bad.text
    assert_reads_as_japanese(bad.text, "a refused station edit", typed={"no", "area", "A", *ids})  # area ids (33209-A27-01) are data
    r = client.post(f"/web/stations/{sid}/delete", headers=origin)
    assert r.status_code == 303
    with open_store(str(workspace), create=False) as store:
        assert len(store.stations()) == before
