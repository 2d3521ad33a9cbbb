"""Forms with names, without a server: widgets from the schemas, reading a posted form back, Japanese problems, words."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from starlette.datastructures import FormData

from api.analyses.shopping import ShoppingParams
from api.web.forms import ShopChoice, form_fields, japanese_problems, model_defaults, read_form, with_values
from api.web.results import census_label, planner_order, result_words

SHOPS = [ShopChoice(resource_id="s1", name="天満屋ハピーズ高梁店", kind="supermarket", kind_label="スーパーマーケット",
                    address="高梁市落合町", lon=133.61, lat=34.79),
         ShopChoice(resource_id="s2", name="ローソン高梁店", kind="convenience_store", kind_label="コンビニエンスストア",
                    address="", lon=133.62, lat=34.80)]


def _fields():
    return {f.name: f for f in form_fields(ShoppingParams.model_json_schema(), defaults=model_defaults(ShoppingParams),
                                           shops=SHOPS)}


def test_shopping_fields_are_widgets_with_names():
    fields = _fields()
    kinds = fields["shop_kinds"]
    assert kinds.kind == "kinds" and not kinds.on_map
    assert ("supermarket", "スーパーマーケット", True) in kinds.choices
    assert all(value != "mobile_sales_stop" for value, _, _ in kinds.choices)
    shops = fields["close_shop_ids"]
    assert shops.kind == "shops" and shops.on_map
    assert shops.choices == (("s1", "天満屋ハピーズ高梁店（スーパーマーケット・高梁市落合町）", False),
                             ("s2", "ローソン高梁店（コンビニエンスストア）", False))
    stops = fields["add_stops"]
    assert stops.kind == "points" and stops.on_map and stops.has_days
    assert "resource_id" not in shops.label and "resource_id" not in fields["shop_kinds"].label
    assert dict(fields["mode"].options) == {"walk": "徒歩", "drive": "車"}


def test_a_posted_form_reads_back_into_parameters():
    fields = list(_fields().values())
    form = FormData([("threshold_m", "1,000"), ("shop_kinds", "supermarket"), ("shop_kinds", "grocery"),
                     ("close_shop_ids", "s2"), ("mode", "drive"), ("weekday", ""),
                     ("add_stops.name", "川上"), ("add_stops.lon", "133.5"), ("add_stops.lat", "34.9"),
                     ("add_stops.days", "火、金"),
                     ("add_stops.name", ""), ("add_stops.lon", "133.6"), ("add_stops.lat", "34.8"),
                     ("add_stops.days", "")])
    params, problems = read_form(fields, form)
    assert problems == []
    assert params["threshold_m"] == 1000.0 and params["mode"] == "drive" and "weekday" not in params
    assert params["shop_kinds"] == ["supermarket", "grocery"] and params["close_shop_ids"] == ["s2"]
    assert params["add_stops"] == [{"name": "川上", "lon": 133.5, "lat": 34.9, "days": ["火", "金"]},
                                   {"name": "追加の停留所2", "lon": 133.6, "lat": 34.8}]
    model = ShoppingParams.model_validate(params)
    assert model.add_stops[0].days == ["火", "金"]


def test_problems_are_told_in_japanese_and_the_input_is_kept():
    fields = list(_fields().values())
    form = FormData([("threshold_m", "abc"), ("cell_size_m", "10"), ("close_shop_ids", "s1")])
    params, problems = read_form(fields, form)
    assert ("食料品店とみなす店の種類", "少なくとも1つ選んでください") in problems
    assert any(msg == "数値を入力してください" for _, msg in problems)
    with pytest.raises(ValidationError) as caught:
        ShoppingParams.model_validate({"cell_size_m": 10, "threshold_m": 0})
    told = japanese_problems(caught.value.errors(), fields)
    assert any(label == "人口を配分するメッシュの大きさ（m）" and msg.startswith("25 以上") for label, msg in told)
    assert any(msg.startswith("0 より大きい値") for _, msg in told)
    kept = {f.name: f for f in with_values(fields, form)}
    assert kept["threshold_m"].value == "abc"
    assert [checked for _, _, checked in kept["close_shop_ids"].choices] == [True, False]
    assert not any(checked for _, _, checked in kept["shop_kinds"].choices)


@pytest.mark.parametrize(("sources", "label"), [
    (["e-Stat 平成22年国勢調査 小地域"], "2010年（平成22年）国勢調査"),
    (["国土数値情報 A27", "e-Stat 令和2年国勢調査 小地域"], "2020年（令和2年）国勢調査"),
    (["令和元年国勢調査"], "2019年（令和元年）国勢調査"),
    (["2015年国勢調査 小地域"], "2015年国勢調査"),
    (["国土数値情報 A27"], None),
])
def test_census_year_from_the_source_text(sources, label):
    assert census_label(sources) == label


def test_results_without_their_own_words_get_japanese_ones_and_no_codes():
    record = {"analysis": "shopping-refugees", "summary": {
        "elderly": 14345.2, "refugees_straight": 8505.4, "share_straight": 0.5929, "threshold_m": 500.0,
        "shops": 70, "engine": "straight", "by_threshold": {"500": {}}}}
    headline, figures = result_words(record)
    assert headline == "65歳以上 14,345人のうち 8,505人（59.3%）が、食料品店から直線 500 m 以上のところに住んでいます。"
    assert ("食料品店の数", "70店") in figures
    assert all("_" not in label and "engine" not in text for label, text in figures)
    assert result_words({"analysis": "unknown", "summary": {"by": {"x": 1}}}) == (None, [])
    assert planner_order(["mobile-sales", "zzz", "salon-gaps", "catchments"]) == [
        "salon-gaps", "catchments", "mobile-sales", "zzz"]


def test_a_result_that_states_its_own_headline_and_figures_is_shown_as_stated():
    figures = [{"label": "徒歩圏外の65歳以上", "value": 8505, "unit": "人", "key": "uncovered_elderly"},
               {"label": "その割合", "value": 59.3, "unit": "%", "key": "uncovered_share"},
               {"label": "平均距離", "value": 812.25, "unit": "m", "key": "mean_m"}]
    record = {"analysis": "salon-gaps", "headline": "65歳以上 14,345人のうち 8,505人（59.3%）がサロンから徒歩500m以上です。",
              "figures": figures, "summary": {"by_threshold": {"500": {"uncovered_share": 0.593}}}}
    headline, shown = result_words(record)
    assert headline == record["headline"]
    assert shown == [("徒歩圏外の65歳以上", "8,505人"), ("その割合", "59.3%"), ("平均距離", "812.2m")]
