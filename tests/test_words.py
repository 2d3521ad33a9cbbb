"""Results in plain Japanese: headlines and figures from job summaries, Japanese validation and HTTP errors, Japan time."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from _auth import login
from fastapi.testclient import TestClient
from pydantic import BaseModel, Field, ValidationError

from api import validation_ja
from api.analyses._words import WORDS, describe, format_value
from api.clock import in_japan, japan_text

#: A shopping-refugees summary as the job stores it (高梁市, straight line, no road network).
SHOPPING = {"method": "直線500 m 以上", "threshold_m": 500.0, "shops": 74, "mobile_stops": 0, "demand_points": 9000,
            "engine": "直線距離（平面直角座標系 第V系）", "elderly": 14345.2, "refugees_straight": 8504.6,
            "share_straight": 0.5928671, "refugees_network": "道路網なし", "share_network": "道路網なし",
            "served_mobile": 0.0, "remaining": 8504.6}


def test_the_shopping_headline_states_the_figures_rounded():
    words = describe("shopping-refugees", SHOPPING)
    assert words["headline"].startswith("65歳以上 14,345人のうち 8,505人（59.3%）が食料品店（74店）から直線500 m以上")
    assert "道路距離" not in words["headline"]  # no network: no network figure is claimed
    by_key = {f["key"]: f for f in words["figures"]}
    assert by_key["share_straight"] == {"label": "その割合（直線）", "value": 59.3, "unit": "%", "key": "share_straight"}
    assert by_key["refugees_straight"]["value"] == 8505 and by_key["elderly"]["unit"] == "人"
    assert all(f["key"].split(".")[0] in SHOPPING for f in words["figures"])  # every figure names its raw key
    assert "推計" not in words["headline"]
    estimated = describe("shopping-refugees", SHOPPING, notes=["65歳以上人口の比率 41.0%（…）を用いた推計です"])
    assert estimated["headline"].endswith("65歳以上の人数は、年齢別の集計がないため比率からの推計です（注記を参照）。")


def test_salon_gaps_names_each_threshold_and_keys_point_into_the_nested_summary():
    summary = {"thresholds_m": [500.0, 1000.0], "salons": 16, "engine": "直線距離", "demand_points": 1,
               "unreachable_points": 0,
               "by_threshold": {"500": {"elderly": 14345.0, "uncovered_elderly": 13339.4, "uncovered_share": 0.92989},
                                "1000": {"elderly": 14345.0, "uncovered_elderly": 12116.0, "uncovered_share": 0.8446}}}
    words = describe("salon-gaps", summary)
    assert words["headline"] == ("65歳以上 14,345人のうち 13,339人（93.0%）がサロン（16か所）から直線500 m以上、"
                                 "12,116人（84.5%）が1 km以上離れて暮らしています。")
    keys = [f["key"] for f in words["figures"]]
    assert "by_threshold.1000.uncovered_share" in keys and "unreachable_points" not in keys


def test_every_analysis_has_words_and_survives_an_empty_or_foreign_summary():
    from api.analysis_registry import ANALYSIS_MODULES
    from api.jobs import load_analyses

    ours = {name for name, spec in load_analyses().items()
            if spec.run.__module__ in (*ANALYSIS_MODULES, "api.analyses.imports")}
    assert len(ours) >= 7 and ours <= set(WORDS)
    for name in WORDS:
        assert describe(name, {}, label="解析")["headline"] == "解析が完了しました。"
        assert describe(name, {"by_threshold": 3, "mclp": "x", "kinds": 5})["headline"]


def test_outreach_keeps_small_counts_hidden():
    words = describe("outreach", {"station_name": "拠点A", "station_id": "s1", "date": "2026-12-07", "csws": 2,
                                  "visits": None, "visits_planned": None, "visits_unfitted": 0})
    assert "訪問先 秘匿のうち 秘匿を計画" in words["headline"]
    assert [format_value(f) for f in words["figures"] if f["key"] == "visits"] == ["秘匿"]


def test_import_counts_use_the_kind_vocabulary():
    words = describe("import-resources", {"source": "salons.csv", "rows_read": 2, "imported": 2, "kinds": {"salon": 2}})
    assert words["headline"] == "「salons.csv」の 2行から 2件を取り込みました（ふれあい・いきいきサロン 2件）。"


def test_format_value_separates_thousands_and_gives_percent_one_decimal():
    assert format_value({"value": 12657, "unit": "人", "key": "x"}) == "12,657人"
    assert format_value({"value": 46.2, "unit": "%", "key": "x"}) == "46.2%"
    assert format_value({"value": 93.5, "unit": "km", "key": "x"}) == "93.5 km"
    assert format_value({"value": None, "unit": "人", "key": "x"}) == "不明"


class _Params(BaseModel):
    threshold_m: float = Field(500, gt=0)
    mode: str = Field("walk", pattern="^(walk|drive)$")
    k: int = 5


@pytest.mark.parametrize(("data", "code", "words"), [
    ({"threshold_m": -1}, "greater_than", "0 より大きい値"),
    ({"threshold_m": "abc"}, "float_parsing", "数値を入力してください"),
    ({"k": 1.5}, "int_from_float", "整数"),
    ({"mode": "fly"}, "string_pattern_mismatch", "形式が違います"),
])
def test_pydantic_errors_read_in_japanese_and_keep_their_code(data, code, words):
    with pytest.raises(ValidationError) as err:
        _Params.model_validate(data)
    items = validation_ja.problems(err.value.errors())
    assert items[0]["code"] == code and words in items[0]["msg"]
    assert not re.search(r"[A-Za-z]{4,}", items[0]["msg"])
    assert validation_ja.summary(items).startswith(f"項目「{next(iter(data))}」: ")


@pytest.fixture()
def client(tmp_path):
    from _sample_workspace import fill_small_workspace

    from api.app import create_app
    from api.settings import Settings
    from api.store.geopackage import GeoPackageStore

    settings = Settings(workspace=str(tmp_path / "ws.gpkg"), upload_dir=tmp_path / "uploads")
    store = GeoPackageStore(settings.workspace, create=True)
    fill_small_workspace(store)
    store.close()
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        login(c, "planner")
        yield c


def test_an_unknown_url_is_a_japanese_404_for_the_api_and_the_web(client):
    r = client.get("/no/such/thing")
    assert r.status_code == 404
    body = r.json()
    assert body["error"] == body["code"] == "not_found" and "/no/such/thing" in body["detail"]
    assert "Not Found" not in r.text
    page = client.get("/web/no-such-page")
    assert page.status_code == 404 and "見つかりません" in page.text and "Not Found" not in page.text
    wrong = client.delete("/health")
    assert wrong.status_code == 405 and wrong.json()["code"] == "method_not_allowed" and "DELETE" in wrong.json()["message"]


def test_a_bad_job_request_is_422_in_japanese_with_codes(client):
    r = client.post("/jobs", json={"params": {}})
    assert r.status_code == 422
    body = r.json()
    assert body["detail"][0]["code"] == "missing" and body["detail"][0]["field"] == "analysis"
    assert body["message"] == "項目「analysis」: 値がありません（必須の項目です）"


def test_times_are_shown_in_japan_time():
    assert japan_text("2026-12-07T01:48:00.000000+00:00") == "2026-12-07 10:48（日本時間）"
    assert in_japan(dt.datetime(2026, 12, 31, 15, 30)).date() == dt.date(2027, 1, 1)  # naive = UTC
    assert japan_text(None) == "不明"


def test_the_acting_user_comes_from_as_then_env_then_the_mapped_os_user(monkeypatch, tmp_path):
    from api import acting
    from api.accounts import open_account_store
    from api.jobs import who
    from gis.errors import InputDataError

    monkeypatch.delenv("TSUNAGU_USER", raising=False)
    monkeypatch.setenv("TSUNAGU_USER_MAP", f"{acting.os_user()}=sato, other=x")
    assert who() == "sato"  # the OS user (root in a container) mapped to an account
    monkeypatch.setenv("TSUNAGU_USER", "tanaka")
    assert who() == "tanaka"
    acting.act_as("suzuki")
    try:
        assert who() == "suzuki"
    finally:
        acting.act_as(None)
    workspace = tmp_path / "ws.gpkg"
    assert acting.check_acting_user("anyone", workspace=str(workspace)) == "anyone"  # no accounts yet
    accounts = open_account_store(workspace)
    accounts.create_user("sato", "a-long-password-1", role="planner")
    accounts.close()
    assert acting.check_acting_user("sato", workspace=str(workspace)) == "sato"
    with pytest.raises(InputDataError, match="アカウント「nobody」はありません（あるアカウント: sato）"):
        acting.check_acting_user("nobody", workspace=str(workspace))


def test_the_job_record_carries_the_headline_and_figures_beside_the_raw_summary(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    from _paths import require_data_dir

    from api.app import create_app
    from api.settings import Settings

    data = require_data_dir()
    workspace = tmp_path / "ws" / "tsunagu.gpkg"
    built = subprocess.run([sys.executable, "-m", "api.cli", "demo", "--workspace", str(workspace), "--data-dir", str(data)],
                           capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1])
    assert built.returncode == 0, built.stderr
    settings = Settings(workspace=str(workspace), upload_dir=tmp_path / "uploads", data_dir=data)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        login(client, "planner")
        _headline_of_a_real_job(client)


def _headline_of_a_real_job(client):
    import time

    job_id = client.post("/jobs", json={"analysis": "salon-gaps", "params": {"thresholds_m": [500]}}).json()["job_id"]
    deadline = time.monotonic() + 120
    while (record := client.get(f"/jobs/{job_id}").json())["status"] in ("queued", "running"):
        assert time.monotonic() < deadline, record
        time.sleep(0.2)
    assert record["status"] == "done", record
    raw = record["summary"]["by_threshold"]["500"]
    assert record["headline"].startswith(f"65歳以上 {round(raw['elderly']):,}人のうち {round(raw['uncovered_elderly']):,}人")
    share = next(f for f in record["figures"] if f["key"] == "by_threshold.500.uncovered_share")
    assert share["unit"] == "%" and share["value"] == round(raw["uncovered_share"] * 100, 1)
    listed = client.get("/jobs").json()
    assert [j["headline"] for j in listed if j["job_id"] == job_id] == [record["headline"]]


def test_salon_sites_claims_the_smallest_cover_only_when_proven():
    summary = {"k": 5, "threshold_m": 500.0, "candidates": 16, "uncovered_elderly": 13339.4, "uncoverable_elderly": 0.0,
               "mclp": {"covered_weight": 242.2, "status": "optimal", "mip_gap": 0.0},
               "greedy": {"covered_weight": 240.0}, "lscp": {"sites": list(range(9)), "status": "optimal",
                                                             "uncoverable_weight": 0.0}}
    words = describe("salon-sites", summary)
    assert words["headline"] == ("新しいサロンを 5か所開くと、いまサロンから500 m以上の65歳以上 13,339人のうち 242人（1.8%）が"
                                 "500 m圏内に入ります（候補地 16か所から選んだ最適解）。全員を500 m圏内に入れるには最少 9か所が必要です。")
    summary["lscp"]["status"] = "time_limit"
    assert "9か所です（最少とは限りません）" in describe("salon-sites", summary)["headline"]
