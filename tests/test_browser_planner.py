"""A planner in a real browser (chromium, Selenium) on 高梁市: Japanese everywhere, forms with names and maps.

The planner opens every page of the menu (each must show no English word outside the technical
ones and no raw JSON), finds the analyses by their Japanese names in a planner's order, and runs
買い物弱者 from its form the way a planner would: ticks shop kinds by name, closes a shop by
clicking it on the small map, adds a mobile-sales stop by clicking on the other map, names it,
and reads the result page's headline with the city and census year. A mistyped address under
/web shows a Japanese page with a way back. Uses the servers and browser of tests/test_browser.py
(skipped, saying why, without chromium; ``TSUNAGU_REQUIRE_BROWSER=1`` makes that a failure).
"""

from __future__ import annotations

import re

import pytest

from _planner_words import english_words, raw_json
from test_browser import (  # noqa: F401 - fixtures are used by name
    Console,
    _log_in,
    _screenshot,
    _wait,
    app_server,
    browser_ready,
    driver,
    tile_server,
)

pytestmark = pytest.mark.realdata

MENU = ["ワークスペース", "地図", "解析", "ジョブ", "地域資源"]
PLANNER_ORDER = ["サロンの空白地域", "新しいサロンの候補地", "買い物弱者", "圏域（キャッチメント）", "移動販売の計画"]
#: Names of the test's accounts and of the data (shop names such as 「DCM高梁店」) are not the tool's English.
ACCOUNT_WORDS = ("planner", "b", "admin")

_SHOWN = """
    const out = [document.body.innerText];
    document.querySelectorAll('[placeholder],[title],[aria-label],[alt]').forEach(function (el) {
      ['placeholder', 'title', 'aria-label', 'alt'].forEach(function (a) {
        const v = el.getAttribute(a);
        if (v) { out.push(v); }
      });
    });
    return out;"""


def _data_words(app_server) -> set[str]:
    from api.store.connect import open_store

    with open_store(str(app_server.workspace), create=False) as store:
        resources = store.resources()
        builders = [str(r.get("by") or "") for r in store.import_log()]
    words: set[str] = set()
    for text in [*resources["name"].astype(str), *resources["address"].astype(str), *builders]:
        words.update(re.findall(r"[A-Za-z][A-Za-z_]*", text))
    return words


def _assert_japanese(driver, where: str, allowed) -> None:
    texts = [t for chunk in driver.execute_script(_SHOWN) for t in chunk.splitlines() if t.strip()]
    assert texts, where
    english = [t[:160] for t in texts if english_words([t], also_allowed=allowed)]
    assert english == [], f"English on {where}: {english}"
    assert raw_json(texts) == [], f"raw JSON on {where}"


def test_planner_walks_the_pages_and_runs_shopping_refugees_by_names_and_maps(driver, app_server, tmp_path):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec

    base = app_server.base
    allowed = {*ACCOUNT_WORDS, *_data_words(app_server)}
    _log_in(driver, base, next_path="/web/")
    console = Console(driver)

    # every page of the menu reads as Japanese
    for label in MENU:
        driver.find_element(By.LINK_TEXT, label).click()
        _wait(driver).until(ec.presence_of_element_located((By.CSS_SELECTOR, "main h1")))
        _assert_japanese(driver, label, allowed)
    console.check()

    # the analyses, by Japanese name in a planner's order
    driver.find_element(By.LINK_TEXT, "解析").click()
    form = _wait(driver).until(ec.presence_of_element_located(
        (By.CSS_SELECTOR, "form[data-analysis='shopping-refugees']")))
    headings = [h.text for h in driver.find_elements(By.CSS_SELECTOR, "section.analysis h2")]
    assert headings[: len(PLANNER_ORDER)] == PLANNER_ORDER

    # shop kinds by name (under 「条件を変える」): leave out drugstores
    summary = form.find_element(By.CSS_SELECTOR, "details.params summary")
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", summary)
    summary.click()
    drugstore = form.find_element(By.CSS_SELECTOR, "input[name='shop_kinds'][value='drugstore']")
    label = drugstore.find_element(By.XPATH, "./following-sibling::span").text
    assert label == "ドラッグストア" and drugstore.is_selected()
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", drugstore)
    drugstore.click()
    assert not drugstore.is_selected()

    # a shop closed by clicking it on the small map: its box in the list is ticked
    shops_field = form.find_element(By.CSS_SELECTOR, ".map-field[data-kind='shops']")
    _wait(driver).until(lambda d: shops_field.get_attribute("data-ready") == "yes")
    markers = shops_field.find_elements(By.CSS_SELECTOR, "path.leaflet-interactive")
    boxes = shops_field.find_elements(By.CSS_SELECTOR, "input[name='close_shop_ids']")
    assert len(markers) == len(boxes) >= 5
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", shops_field)
    ticked = None
    for marker in markers:  # the first marker not under a control or another marker, and no drugstore
        try:
            ActionChains(driver).move_to_element(marker).click().perform()
        except Exception:  # noqa: BLE001 - off the visible map: try the next
            continue
        ticked = [b for b in boxes if b.is_selected()]
        if ticked and "ドラッグストア" in ticked[0].find_element(By.XPATH, "./following-sibling::span").text:
            ActionChains(driver).move_to_element(marker).click().perform()  # a second click frees it again
            assert not any(b.is_selected() for b in boxes)
            ticked = None
        if ticked:
            break
    assert ticked and len(ticked) == 1, "clicking a shop on the map did not choose it"
    closed_id = ticked[0].get_attribute("value")
    closed_caption = ticked[0].find_element(By.XPATH, "./following-sibling::span").text

    # a stop added by clicking on the other map, then named
    stops_field = form.find_element(By.CSS_SELECTOR, ".map-field[data-kind='points']")
    stops_map = stops_field.find_element(By.CSS_SELECTOR, ".picker-map")
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", stops_map)
    ActionChains(driver).move_to_element_with_offset(stops_map, 10, 30).click().perform()
    row = _wait(driver).until(lambda d: stops_field.find_element(By.CSS_SELECTOR, ".point-row"))
    lon = float(row.find_element(By.CSS_SELECTOR, "input[name='add_stops.lon']").get_attribute("value"))
    lat = float(row.find_element(By.CSS_SELECTOR, "input[name='add_stops.lat']").get_attribute("value"))
    assert 133.2 < lon < 133.9 and 34.6 < lat < 35.1, (lon, lat)  # inside 高梁市's frame
    name = row.find_element(By.CSS_SELECTOR, "input[name='add_stops.name']")
    assert name.get_attribute("value") == "追加の停留所1"
    name.clear()
    name.send_keys("川上の停留所")
    row.find_element(By.CSS_SELECTOR, "input[name='add_stops.days']").send_keys("火,金")
    driver.execute_script("arguments[0].scrollIntoView({block: 'start'});", shops_field)
    _screenshot(driver, tmp_path, "planner-shopping-form.png")
    console.check()

    form.find_element(By.CSS_SELECTOR, "button.run-button").click()
    _wait(driver).until(ec.url_contains("/web/jobs/"))
    console.until(lambda d: d.find_element(By.ID, "job").get_attribute("data-status") in ("done", "failed"),
                  timeout=300)
    failed = driver.find_elements(By.ID, "job-failed")
    assert not failed, failed[0].text if failed else ""
    headline = _wait(driver).until(ec.visibility_of_element_located((By.ID, "headline"))).text
    assert re.search(r"65歳以上 [\d,]+人のうち [\d,]+人（\d+\.\d%）", headline), headline
    assert "シナリオ" in headline
    _screenshot(driver, tmp_path, "planner-result.png")
    facts = driver.find_element(By.ID, "job-facts").text
    assert "高梁市" in facts and "2010年（平成22年）国勢調査" in facts and "計画 太郎" in facts
    _assert_japanese(driver, "the result page", allowed)
    driver.find_element(By.CSS_SELECTOR, "#job-params").find_element(By.XPATH, "..").find_element(
        By.TAG_NAME, "summary").click()
    conditions = driver.find_element(By.ID, "job-params").text
    assert closed_caption.split("（")[0] in conditions and "ドラッグストア" not in conditions
    assert closed_id not in conditions
    _screenshot(driver, tmp_path, "planner-shopping.png")
    console.check()

    # a mistyped address: a Japanese page with a way back, not {"detail": "Not Found"}
    driver.get(base + "/web/analyse")
    assert driver.find_element(By.TAG_NAME, "h1").text == "ページが見つかりません"
    _assert_japanese(driver, "the 404 page", allowed)
    driver.find_element(By.ID, "go-home").click()
    _wait(driver).until(ec.url_to_be(base + "/web/"))
