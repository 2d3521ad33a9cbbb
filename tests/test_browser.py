"""The web UI in a real browser (Debian's chromium + chromedriver, Selenium) on a real 高梁市 workspace.

A planner logs in, sees the tier map, runs ``salon-gaps`` from its form, watches the progress bar
reach 完了 and sees the result map with its Japanese legend; then edits salons on the resources
map (add by tapping, move by dragging, delete; a hostile name must show as text) and imports a
CSV with the upload form. An administrator adds, changes, resets and deletes a user. Any SEVERE
entry of the browser console (JavaScript errors, failed loads, CSP violations) fails the test
with its text.

This machine (and CI) has no internet, so the 地理院タイル host is mapped to a local HTTPS server
answering blank tiles (``--host-resolver-rules``, self-signed certificate): the pages load the
same tile URLs as in production, and a console error then always means a fault of the pages.

Skipped, saying why, without /usr/bin/chromium, /usr/bin/chromedriver or openssl, unless
``TSUNAGU_REQUIRE_BROWSER=1`` (CI), which turns the skip into a failure. Screenshots go to
pytest's ``tmp_path`` and, when ``TSUNAGU_SCREENSHOT_DIR`` is set, there too.
"""

from __future__ import annotations

import base64
import http.server
import importlib.util
import os
import shutil
import socket
import ssl
import subprocess
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

pytestmark = pytest.mark.realdata

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
TILE_HOST = "cyberjapandata.gsi.go.jp"
PASSWORD = "browser-test-password-1"
#: A 1×1 transparent PNG: every base-map tile.
BLANK_PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII=")
HOSTILE = "<script>alert(1)</script>"


def _missing() -> str | None:
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not Path(path).exists():
            return f"{path} is missing (apt-get install {package}; .ci/run installs it)"
    if shutil.which("openssl") is None:
        return "openssl is missing (needed for the local tile server's certificate)"
    if importlib.util.find_spec("selenium") is None:
        return "selenium is not installed (pip install -e '.[test]')"
    return None


@pytest.fixture(scope="module")
def browser_ready() -> None:
    problem = _missing()
    if problem:
        if os.environ.get("TSUNAGU_REQUIRE_BROWSER") == "1":
            pytest.fail(f"TSUNAGU_REQUIRE_BROWSER=1 but {problem}", pytrace=False)
        pytest.skip(f"no browser test: {problem}")


# ------------------------------------------------------------------------------ servers


@pytest.fixture(scope="module")
def app_server(browser_ready, tmp_path_factory, data_dir):
    """The real app (uvicorn, 127.0.0.1, a free port) on a 高梁市 workspace from the open data, with a planner."""
    import uvicorn

    from api.accounts import AccountStore, accounts_path
    from api.app import create_app
    from api.importing import build_city_workspace
    from api.settings import Settings
    from api.store.connect import open_store

    folder = tmp_path_factory.mktemp("browser")
    workspace = folder / "tsunagu.gpkg"
    with open_store(str(workspace)) as store:
        build_city_workspace(store, data_dir=data_dir)  # includes the sample salons (sample_salons)
    accounts = AccountStore(accounts_path(workspace))
    accounts.create_user("planner-b", PASSWORD, role="planner", display_name="計画 太郎")
    accounts.create_user("admin-b", PASSWORD, role="admin", display_name="管理 花子")
    accounts.close()

    settings = Settings(workspace=str(workspace), data_dir=data_dir, upload_dir=folder / "uploads")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(settings), log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("the app server did not start", pytrace=False)
        time.sleep(0.05)
    yield SimpleNamespace(base=f"http://127.0.0.1:{port}", workspace=workspace)
    server.should_exit = True
    thread.join(timeout=15)
    sock.close()


class _Tiles(http.server.BaseHTTPRequestHandler):
    served = 0

    def do_GET(self):  # noqa: N802 - http.server API
        type(self).served += 1
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", str(len(BLANK_PNG)))
        self.send_header("Access-Control-Allow-Origin", "*")
        self.end_headers()
        self.wfile.write(BLANK_PNG)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def tile_server(browser_ready, tmp_path_factory):
    """A local HTTPS server answering every 地理院タイル request with a blank tile; yields its port."""
    folder = tmp_path_factory.mktemp("tiles")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "2", "-subj", f"/CN={TILE_HOST}", "-addext", f"subjectAltName=DNS:{TILE_HOST}"],
        check=True, capture_output=True)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Tiles)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(cert), str(key))
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def driver(browser_ready, tile_server):
    """Headless chromium at a tablet's size (1024×768) with the whole browser console recorded."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1024,768", "--lang=ja-JP", "--hide-scrollbars",
                f"--host-resolver-rules=MAP {TILE_HOST} 127.0.0.1:{tile_server}",
                "--ignore-certificate-errors"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    browser = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    browser.set_page_load_timeout(120)
    browser.set_script_timeout(60)
    yield browser
    browser.quit()


# ------------------------------------------------------------------------------ helpers


class Console:
    """Collects the browser console; :meth:`check` fails the test on SEVERE entries, quoting them."""

    def __init__(self, driver) -> None:
        self.driver = driver
        self.entries: list[dict] = []
        driver.get_log("browser")  # what earlier tests left is theirs

    def until(self, condition, *, timeout: float = 30):
        """Wait for ``condition``; when it never comes, fail with the console's errors if there are any."""
        from selenium.common.exceptions import TimeoutException

        try:
            return _wait(self.driver, timeout).until(condition)
        except TimeoutException:
            self.check()
            raise

    def drain(self) -> None:
        self.entries.extend(self.driver.get_log("browser"))

    def check(self) -> None:
        self.drain()
        severe = [e for e in self.entries if e.get("level") == "SEVERE"]
        if severe:
            text = "\n".join(f"  {e.get('source', '')}: {e['message']}" for e in severe)
            pytest.fail(f"{len(severe)} SEVERE browser console entries:\n{text}", pytrace=False)


def _screenshot(driver, tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    assert driver.save_screenshot(str(path)), "the screenshot was not written"
    extra = os.environ.get("TSUNAGU_SCREENSHOT_DIR")
    if extra:
        Path(extra).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, Path(extra) / name)
    return path


def _wait(driver, timeout: float = 30):
    """A wait that tolerates elements replaced by a page reload while it looks at them."""
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(driver, timeout, poll_frequency=0.2,
                         ignored_exceptions=(NoSuchElementException, StaleElementReferenceException))
    return _ReloadTolerantWait(wait)


class _ReloadTolerantWait:
    """``WebDriverWait.until`` that also rides out chromedriver's error for a node of a page being replaced.

    While a page reloads, chromedriver may answer a lookup with a plain WebDriverException
    ("Node with given id does not belong to the document") instead of a stale-element error;
    that is the same transient state, so the condition is simply tried again.
    """

    def __init__(self, wait) -> None:
        self._wait = wait

    def until(self, condition):
        from selenium.common.exceptions import WebDriverException

        def tolerant(driver):
            try:
                return condition(driver)
            except WebDriverException as exc:
                if "does not belong to the document" in str(exc):
                    return False
                raise

        return self._wait.until(tolerant)


def _log_in(driver, base: str, *, next_path: str, username: str = "planner-b") -> None:
    """Log out whoever is logged in (the logout button), log in as ``username`` and land on ``next_path``."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec

    driver.get(base + "/web/")  # every role may see it (another page could be 403 for the last user)
    if "/web/login" not in driver.current_url:
        driver.find_element(By.CSS_SELECTOR, ".who button").click()  # ログアウト
        _wait(driver).until(ec.url_contains("/web/login"))
    driver.get(base + next_path)
    assert "/web/login?next=" in driver.current_url, "still logged in after logging out"
    driver.find_element(By.ID, "username").send_keys(username)
    driver.find_element(By.ID, "password").send_keys(PASSWORD)
    driver.find_element(By.ID, "login-button").click()
    _wait(driver).until(ec.url_to_be(base + next_path))


def _assert_legend_clear_of_metric_scale(driver) -> None:
    """In a map (frame): the scale bar shows metres/kilometres only and the legend does not cover it."""
    import re

    boxes = driver.execute_script("""
        const box = function (selector) {
          const el = document.querySelector(selector);
          if (!el) { return null; }
          const r = el.getBoundingClientRect();
          return {left: r.left, top: r.top, right: r.right, bottom: r.bottom, text: el.innerText};
        };
        return {legend: box('.tsunagu-legend'), scale: box('.leaflet-control-scale')};""")
    scale, legend = boxes["scale"], boxes["legend"]
    assert scale is not None, "the map has no scale bar"
    assert re.search(r"\d\s*k?m\b", scale["text"]), scale["text"]
    assert not re.search(r"\b(mi|ft)\b", scale["text"]), f"imperial units on the scale: {scale['text']!r}"
    assert scale["bottom"] > scale["top"] and scale["right"] > scale["left"], scale
    if legend is not None:
        apart = (legend["right"] <= scale["left"] or scale["right"] <= legend["left"]
                 or legend["bottom"] <= scale["top"] or scale["bottom"] <= legend["top"])
        assert apart, f"the legend {legend} covers the scale bar {scale}"


def _fetch_json(driver, url: str):
    """GET ``url`` from the page (same origin, session cookie) and return its JSON."""
    script = """
        const done = arguments[arguments.length - 1];
        fetch(arguments[0], {credentials: "same-origin"})
          .then(r => r.json()).then(done, e => done({fetch_error: String(e)}));
    """
    return driver.execute_async_script(script, url)


def _fetch_text(driver, url: str) -> str:
    """GET ``url`` from the page (same origin, session cookie) and return its text."""
    script = """
        const done = arguments[arguments.length - 1];
        fetch(arguments[0], {credentials: "same-origin"})
          .then(r => r.text()).then(done, e => done("fetch error: " + String(e)));
    """
    return driver.execute_async_script(script, url)


# ------------------------------------------------------------------------------ tests


def test_planner_runs_salon_gaps_and_sees_the_map_with_its_legend(driver, app_server, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec

    base = app_server.base
    console = Console(driver)

    # /web/ sends a visitor to the login page, which brings them back after logging in
    driver.get(base + "/web/")
    _wait(driver).until(ec.presence_of_element_located((By.ID, "login-form")))
    assert driver.current_url == base + "/web/login?next=/web/"
    assert driver.find_element(By.TAG_NAME, "h1").text == "ログイン"
    driver.find_element(By.ID, "username").send_keys("planner-b")
    driver.find_element(By.ID, "password").send_keys(PASSWORD)
    driver.find_element(By.ID, "login-button").click()
    _wait(driver).until(ec.url_to_be(base + "/web/"))
    assert "高梁市" in driver.find_element(By.TAG_NAME, "h1").text
    assert "計画 太郎" in driver.find_element(By.CSS_SELECTOR, ".who").text
    console.check()

    # the tier map: drawn to the end (its layer control is added last) with its legend
    driver.find_element(By.LINK_TEXT, "地図").click()
    driver.switch_to.frame(_wait(driver).until(ec.presence_of_element_located((By.ID, "tier-map"))))
    try:
        legend = console.until(ec.visibility_of_element_located((By.CSS_SELECTOR, ".tsunagu-legend")), timeout=60)
        assert "公民館区" in driver.page_source and legend.text
        console.until(ec.presence_of_element_located((By.CSS_SELECTOR, ".leaflet-control-layers")))
        _assert_legend_clear_of_metric_scale(driver)
        # an area's popup links to its 地域カルテ, which opens for that area
        driver.execute_script("""
            for (const k of Object.keys(window)) {
              const g = window[k];
              if (!k.startsWith('geo_json_') || !g || !g.getLayers || !g._map) continue;
              const first = g.getLayers().find(l => l.getBounds && l.feature.properties);
              if (first) { first.fire('click', {latlng: first.getBounds().getCenter()}, true); return; }
            }""")
        # visible, not just present: the popup fades in, and a link still at opacity 0 has no text
        link = _wait(driver).until(ec.visibility_of_element_located(
            (By.CSS_SELECTOR, ".leaflet-popup a[href^='/reports/']")))
        assert link.text == "開く" and link.get_attribute("target") == "_blank"
        report_path = link.get_attribute("href")
    finally:
        driver.switch_to.default_content()
    console.check()
    report = _fetch_text(driver, report_path)
    assert "地域カルテ" in report and "高梁市" in report, report[:300]

    # the analyses page: the salon-gaps form, with a coarser mesh typed in
    driver.find_element(By.LINK_TEXT, "解析").click()
    form = _wait(driver).until(ec.presence_of_element_located(
        (By.CSS_SELECTOR, "form[data-analysis='salon-gaps']")))
    form.find_element(By.TAG_NAME, "summary").click()
    cell = form.find_element(By.CSS_SELECTOR, "[data-param='cell_size_m']")
    _wait(driver).until(ec.visibility_of(cell))
    cell.clear()
    cell.send_keys("200")
    thresholds = form.find_element(By.CSS_SELECTOR, "[data-param='thresholds_m']")
    assert thresholds.get_attribute("value") == "500, 1000"  # the analysis's defaults
    thresholds.clear()
    thresholds.send_keys("500、800")  # a Japanese comma works too
    form.find_element(By.CSS_SELECTOR, "button.run-button").click()

    # the job page: the progress bar runs to 完了, then the page shows the result
    _wait(driver).until(ec.url_contains("/web/jobs/"))
    job_id = driver.current_url.rsplit("/", 1)[-1]
    _wait(driver, 300).until(lambda d: d.find_element(By.ID, "job").get_attribute("data-status")
                             in ("done", "failed", "cancelled"))
    job = driver.find_element(By.ID, "job")
    failed = driver.find_elements(By.ID, "job-failed")
    assert job.get_attribute("data-status") == "done", failed[0].text if failed else job.text
    assert driver.find_element(By.ID, "job-status").text == "完了"
    assert driver.find_element(By.ID, "job-progress").get_attribute("value") == "100"
    links = [a.get_attribute("href") for a in driver.find_elements(By.CSS_SELECTOR, "#downloads a")]
    assert base + f"/jobs/{job_id}/tables/all.xlsx" in links
    assert any(href.endswith(".csv") for href in links)
    assert "サンプル" in driver.find_element(By.ID, "notes").text
    record = _fetch_json(driver, f"/jobs/{job_id}")
    assert record["params"]["cell_size_m"] == 200 and record["params"]["thresholds_m"] == [500, 800]

    # the result map with its Japanese legend
    frame = driver.find_element(By.ID, "result-map")
    driver.execute_script("arguments[0].scrollIntoView({block: 'end'});", frame)
    driver.switch_to.frame(frame)
    try:
        legend = console.until(ec.visibility_of_element_located((By.CSS_SELECTOR, ".tsunagu-legend")), timeout=60)
        assert "未カバー" in legend.text and "サロン" in legend.text, legend.text
        _assert_legend_clear_of_metric_scale(driver)
        assert driver.find_elements(By.CSS_SELECTOR, ".leaflet-overlay-pane path"), "no area drawn"
        console.until(ec.presence_of_element_located((By.CSS_SELECTOR, ".leaflet-control-layers")))
        _wait(driver).until(lambda d: d.execute_script(
            "return Array.from(document.images).every(i => i.complete)"))
    finally:
        driver.switch_to.default_content()
    shot = _screenshot(driver, tmp_path, "salon-gaps.png")
    assert shot.stat().st_size > 20_000
    assert _Tiles.served > 0, "the maps asked for no base-map tiles"
    console.check()


def test_planner_adds_moves_deletes_and_imports_salons_on_the_map(driver, app_server, tmp_path):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import Select

    base = app_server.base
    console = Console(driver)
    _log_in(driver, base, next_path="/web/resources")
    console.drain()
    icon = _wait(driver).until(ec.presence_of_element_located((By.CSS_SELECTOR, "#resource-map .res-icon.k-salon")))
    # the marker colour comes from /web/kinds.css, rendered from the one vocabulary (gis/kinds.toml)
    from gis.kinds import resource_kinds
    colour = resource_kinds()["salon"].colour
    rgb = tuple(int(colour[i:i + 2], 16) for i in (1, 3, 5))
    assert driver.execute_script("return getComputedStyle(arguments[0]).backgroundColor", icon) == \
        "rgb({}, {}, {})".format(*rgb)
    _assert_legend_clear_of_metric_scale(driver)
    salons_before = len(_fetch_json(driver, "/resources?kind=salon")["features"])
    assert salons_before > 0
    assert len(driver.find_elements(By.CSS_SELECTOR, "#salon-list li")) == salons_before

    # edit mode, tap an empty spot of the map, name the salon (with markup in its name), save
    driver.find_element(By.ID, "edit-mode").click()
    the_map = driver.find_element(By.ID, "resource-map")
    ActionChains(driver).move_to_element_with_offset(the_map, -the_map.size["width"] // 2 + 40,
                                                     the_map.size["height"] // 2 - 60).click().perform()
    dialog = _wait(driver).until(ec.visibility_of_element_located((By.ID, "add-dialog")))
    dialog.find_element(By.ID, "add-name").send_keys(HOSTILE)
    dialog.find_element(By.ID, "add-save").click()
    _wait(driver).until(ec.invisibility_of_element_located((By.ID, "add-dialog")))
    status = driver.find_element(By.ID, "resource-status")
    _wait(driver).until(lambda d: "追加しました" in status.text)
    added = [f for f in _fetch_json(driver, "/resources?kind=salon")["features"] if f["properties"]["name"] == HOSTILE]
    assert len(added) == 1, "the new salon was not stored under its exact name"
    resource_id = added[0]["id"]
    lon0, lat0 = added[0]["geometry"]["coordinates"]
    names = [li.text for li in driver.find_elements(By.CSS_SELECTOR, "#salon-list li button")]
    assert HOSTILE in names  # shown as text, not run as markup
    assert driver.find_elements(By.XPATH, "//script[contains(., 'alert(1)')]") == []
    assert driver.execute_script("return document.querySelectorAll('#salon-list script').length") == 0

    # drag it 80 px to the right: the server has the new position
    marker = driver.find_element(By.CSS_SELECTOR, f"[data-resource-id='{resource_id}']")
    ActionChains(driver).click_and_hold(marker).move_by_offset(20, 0).move_by_offset(30, 0) \
        .move_by_offset(30, 0).release().perform()
    _wait(driver).until(lambda d: "移動しました" in status.text)
    moved = _fetch_json(driver, f"/resources/{resource_id}")
    lon1, lat1 = moved["geometry"]["coordinates"]
    assert lon1 > lon0 + 1e-4 and abs(lat1 - lat0) < 1e-3

    _screenshot(driver, tmp_path, "resources.png")

    # delete it from its popup
    marker = driver.find_element(By.CSS_SELECTOR, f"[data-resource-id='{resource_id}']")
    marker.click()
    delete = _wait(driver).until(ec.element_to_be_clickable((By.CSS_SELECTOR, ".leaflet-popup .res-delete")))
    popup_name = driver.find_element(By.CSS_SELECTOR, ".leaflet-popup .res-name").text
    assert popup_name == HOSTILE
    delete.click()
    _wait(driver).until(ec.alert_is_present()).accept()  # the confirm() of the page
    _wait(driver).until(lambda d: "削除しました" in status.text)
    after = _fetch_json(driver, "/resources?kind=salon")["features"]
    assert resource_id not in {f["id"] for f in after} and len(after) == salons_before
    assert driver.find_elements(By.CSS_SELECTOR, f"[data-resource-id='{resource_id}']") == []
    console.check()

    # import a file of salons with the upload form: a job with its report
    upload = tmp_path / "サロン一覧.csv"
    upload.write_text("名称,緯度,経度,住所\n取り込みサロン（テスト）,34.80123,133.61912,高梁市内\n", encoding="utf-8")
    form = driver.find_element(By.ID, "import-form")
    driver.execute_script("arguments[0].scrollIntoView()", form)
    form.find_element(By.ID, "import-file").send_keys(str(upload))
    Select(form.find_element(By.ID, "import-kind")).select_by_value("salon")
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    _wait(driver).until(ec.url_contains("/web/jobs/"))
    _wait(driver, 120).until(lambda d: d.find_element(By.ID, "job").get_attribute("data-status") == "done")
    assert "取り込み結果（CSV）" in driver.find_element(By.ID, "downloads").text
    driver.get(base + "/web/resources")
    names = [li.text for li in _wait(driver).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, "#salon-list li button"))]
    assert "取り込みサロン（テスト）" in names
    console.check()


def test_admin_manages_users_from_the_page(driver, app_server, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import Select

    from api.accounts import AccountStore, accounts_path

    base = app_server.base
    console = Console(driver)
    _log_in(driver, base, next_path="/web/users", username="admin-b")
    console.drain()

    # add a CSW with a station
    form = driver.find_element(By.ID, "new-user")
    form.find_element(By.NAME, "username").send_keys("csw-b")
    form.find_element(By.NAME, "display_name").send_keys("地域 一郎")
    form.find_element(By.NAME, "password").send_keys("csw-password-01")
    Select(form.find_element(By.NAME, "role")).select_by_value("csw")
    form.find_element(By.NAME, "station_id").send_keys("sample-station-01")
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    card = _wait(driver).until(ec.presence_of_element_located((By.CSS_SELECTOR, "form[data-username='csw-b']")))
    assert "追加しました" in driver.find_element(By.ID, "users-status").text

    # make them a viewer without a station, then reset the password
    Select(card.find_element(By.NAME, "role")).select_by_value("viewer")
    card.find_element(By.NAME, "station_id").clear()
    card.find_element(By.CSS_SELECTOR, "[data-action='save']").click()
    _wait(driver).until(lambda d: "変更しました" in d.find_element(By.ID, "users-status").text)
    card = driver.find_element(By.CSS_SELECTOR, "form[data-username='csw-b']")
    assert Select(card.find_element(By.NAME, "role")).first_selected_option.get_attribute("value") == "viewer"
    card.find_element(By.NAME, "new_password").send_keys("new-password-0123")
    card.find_element(By.CSS_SELECTOR, "[data-action='password']").click()
    _wait(driver).until(lambda d: "再設定しました" in d.find_element(By.ID, "users-status").text)
    accounts = AccountStore(accounts_path(app_server.workspace))
    try:
        user = accounts.authenticate("csw-b", "new-password-0123")
        assert (user.role, user.station_id, user.display_name) == ("viewer", None, "地域 一郎")
    finally:
        accounts.close()

    # delete them (confirm)
    card = driver.find_element(By.CSS_SELECTOR, "form[data-username='csw-b']")
    card.find_element(By.CSS_SELECTOR, "[data-action='delete']").click()
    _wait(driver).until(ec.alert_is_present()).accept()
    _wait(driver).until(lambda d: "削除しました" in d.find_element(By.ID, "users-status").text)
    assert driver.find_elements(By.CSS_SELECTOR, "form[data-username='csw-b']") == []
    _screenshot(driver, tmp_path, "users.png")
    console.check()
