"""Results in plain words for the job page: the headline and figures, the census year, the parameters.

An analysis may state its own result (``headline``: one or two Japanese sentences; ``figures``:
``{label, value, unit, key}`` each), on the job record or in its summary. When it does not, the
page builds them here from the summary keys it knows, with Japanese labels; a key it does not
know is left out rather than shown as a code. The raw summary stays available as JSON from
``GET /jobs/{id}`` for programs.
"""

from __future__ import annotations

import re

from api.analysis_registry import analysis_name, planner_order  # noqa: F401 - one order and one set of names
from gis import kinds as kind_vocabulary

#: Summary keys shown as figures when an analysis gives none: key → (label, unit, kind).
#: kind: ``people`` (rounded, 人), ``count``, ``share`` (0–1 → %), ``m``, ``text``.
SUMMARY_FIGURES = {
    "salons": ("サロンの数", "か所", "count"),
    "shops": ("食料品店の数", "店", "count"),
    "mobile_stops": ("移動販売の停留所", "か所", "count"),
    "threshold_m": ("距離の基準", "m", "m"),
    "method": ("推計の方法", "", "text"),
    "elderly": ("65歳以上人口", "人", "people"),
    "refugees_straight": ("買い物弱者（直線距離）", "人", "people"),
    "share_straight": ("買い物弱者の割合（直線距離）", "", "share"),
    "refugees_network": ("買い物弱者（道路距離）", "人", "people"),
    "share_network": ("買い物弱者の割合（道路距離）", "", "share"),
    "served_mobile": ("移動販売で買える人", "人", "people"),
    "remaining": ("移動販売を入れても残る買い物弱者", "人", "people"),
    "k": ("新しく開く数", "か所", "count"),
    "candidates": ("候補地の数", "か所", "count"),
    "uncovered_elderly": ("徒歩圏外の65歳以上", "人", "people"),
    "uncoverable_elderly": ("どの候補地からも届かない65歳以上", "人", "people"),
    "stations": ("拠点の数", "か所", "count"),
    "population": ("人口", "人", "people"),
    "unclaimed": ("どの拠点の担当でもない地域", "地域", "count"),
    "stops": ("停留所の数", "か所", "count"),
    "twice_weekly_stops": ("週2回の停留所", "か所", "count"),
    "stops_served": ("回る停留所", "か所", "count"),
    "visits_served": ("週の停車回数", "回", "count"),
    "visits_required": ("必要な停車回数", "回", "count"),
    "vehicle_days": ("車両の運行日数（延べ）", "日", "count"),
    "covered_refugees": ("停留所の徒歩圏の買い物弱者", "人", "people"),
    "total_refugees": ("買い物弱者（合計）", "人", "people"),
    "walk_m": ("停留所まで歩ける距離", "m", "m"),
}


def _num(value) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number == number else None


def people(value) -> str:
    """A head count as shown: 「8,505人」 (rounded; fractions come from spreading people on a mesh)."""
    number = _num(value)
    return "—" if number is None else f"{round(number):,}人"


def percent(value) -> str:
    """A share 0–1 as 「59.3%」."""
    number = _num(value)
    return "—" if number is None else f"{number * 100:.1f}%"


def figure_text(value, unit: str = "", kind: str = "count") -> str:
    """One figure as text with its unit (``kind`` as in :data:`SUMMARY_FIGURES`)."""
    if isinstance(value, str):
        return value
    if kind == "share":
        return percent(value)
    if kind == "people":
        return people(value)
    number = _num(value)
    if number is None:
        return "—"
    text = f"{number:,.0f}" if number.is_integer() or kind in ("count", "m") else f"{number:,.1f}"
    return f"{text}{(' ' if unit == 'm' else '')}{unit}"


def _given_figures(figures) -> list[tuple[str, str]]:
    """An analysis's own figures (``{label, value, unit, key}``) as ``(label, text)``; values as stated, people rounded."""
    out = []
    for f in figures or []:
        if not isinstance(f, dict) or not f.get("label"):
            continue
        value, unit = f.get("value"), str(f.get("unit") or "")
        if value is None:
            text = "—"
        elif isinstance(value, bool) or not isinstance(value, (int, float)):
            text = f"{value}{unit}"
        elif unit == "人":
            text = people(value)
        elif isinstance(value, float) and not value.is_integer():
            text = f"{value:,.1f}{unit}"
        else:
            text = f"{int(value):,}{unit}"
        out.append((str(f["label"]), text))
    return out


def _salon_gaps(summary: dict) -> tuple[str | None, list[tuple[str, str]]]:
    rows = summary.get("by_threshold") or {}
    figures = []
    headline = None
    for t, row in rows.items():
        if not isinstance(row, dict):
            continue
        figures.append((f"サロンから徒歩 {t} m の外に住む65歳以上",
                        f"{people(row.get('uncovered_elderly'))}（{percent(row.get('uncovered_share'))}）"))
        if headline is None and _num(row.get("elderly")) is not None:
            headline = (f"65歳以上 {people(row.get('elderly'))}のうち {people(row.get('uncovered_elderly'))}"
                        f"（{percent(row.get('uncovered_share'))}）が、サロンから徒歩 {t} m の外に住んでいます。")
    return headline, figures


def _salon_sites(summary: dict) -> tuple[str | None, list[tuple[str, str]]]:
    best = summary.get("mclp") or {}
    if _num(best.get("covered_weight")) is None:
        return None, []
    t = figure_text(summary.get("threshold_m"), "m", "m")
    headline = (f"新しいサロンを {best.get('k', summary.get('k'))} か所開くと、徒歩 {t} の外にいる65歳以上 "
                f"{people(best.get('total_weight'))}のうち {people(best.get('covered_weight'))}が徒歩圏に入ります。")
    return headline, [("新たに徒歩圏に入る65歳以上", people(best.get("covered_weight")))]


def _shopping(summary: dict) -> tuple[str | None, list[tuple[str, str]]]:
    if _num(summary.get("elderly")) is None or _num(summary.get("refugees_straight")) is None:
        return None, []
    t = figure_text(summary.get("threshold_m", 500), "m", "m")
    headline = (f"65歳以上 {people(summary['elderly'])}のうち {people(summary['refugees_straight'])}"
                f"（{percent(summary.get('share_straight'))}）が、食料品店から直線 {t} 以上のところに住んでいます。")
    figures = []
    scenario = summary.get("scenario")
    if isinstance(scenario, dict) and _num(scenario.get("remaining_after")) is not None:
        figures.append(("シナリオ：残る買い物弱者（変更前 → 変更後）",
                        f"{people(scenario.get('remaining_before'))} → {people(scenario.get('remaining_after'))}"))
        headline += (f" シナリオでは、残る買い物弱者が {people(scenario.get('remaining_before'))} から "
                     f"{people(scenario.get('remaining_after'))} になります。")
    return headline, figures


def _catchments(summary: dict) -> tuple[str | None, list[tuple[str, str]]]:
    if _num(summary.get("stations")) is None:
        return None, []
    headline = (f"{figure_text(summary['stations'], 'か所')}の拠点が、人口 {people(summary.get('population'))}"
                f"（65歳以上 {people(summary.get('elderly'))}）を分担しています。")
    return headline, []


def _mobile_sales(summary: dict) -> tuple[str | None, list[tuple[str, str]]]:
    if _num(summary.get("stops")) is None:
        return None, []
    headline = f"移動販売の停留所を {figure_text(summary['stops'], 'か所')}置く週間計画です。"
    if _num(summary.get("total_refugees")):
        headline += (f" 買い物弱者 {people(summary['total_refugees'])}のうち "
                     f"{people(summary.get('covered_refugees'))}が停留所の徒歩圏に住んでいます。")
    return headline, []


_BY_ANALYSIS = {"salon-gaps": _salon_gaps, "salon-sites": _salon_sites, "shopping-refugees": _shopping,
                "catchments": _catchments, "mobile-sales": _mobile_sales}


def result_words(record: dict) -> tuple[str | None, list[tuple[str, str]]]:
    """The headline and ``(label, text)`` figures of a finished job (the analysis's own, else from its summary)."""
    summary = record.get("summary") if isinstance(record.get("summary"), dict) else {}
    result = record.get("result") if isinstance(record.get("result"), dict) else {}
    places = (record, result, summary)  # the record's own columns, a result object, or inside the summary
    headline = next((p["headline"] for p in places if p.get("headline")), None)
    figures = _given_figures(next((p["figures"] for p in places if p.get("figures")), None))
    if headline and figures:
        return str(headline), figures
    made_headline, made = _BY_ANALYSIS.get(record.get("analysis"), lambda s: (None, []))(summary)
    for key, (label, unit, kind) in SUMMARY_FIGURES.items():
        value = summary.get(key)
        if value is None or isinstance(value, (dict, list, bool)):
            continue
        made.append((label, figure_text(value, unit, kind)))
    return (str(headline) if headline else made_headline), (figures or made)


_ERA = {"明治": 1867, "大正": 1911, "昭和": 1925, "平成": 1988, "令和": 2018}


def census_label(sources) -> str | None:
    """「2010年（平成22年）国勢調査」 from source texts such as 「e-Stat 平成22年国勢調査 小地域」."""
    for text in sources:
        text = str(text or "")
        if "国勢調査" not in text:
            continue
        era = re.search(r"(明治|大正|昭和|平成|令和)(\d+|元)年", text)
        if era:
            n = 1 if era.group(2) == "元" else int(era.group(2))
            return f"{_ERA[era.group(1)] + n}年（{era.group(0)}）国勢調査"
        year = re.search(r"(19|20)\d\d", text)
        if year:
            return f"{year.group(0)}年国勢調査"
    return None


def param_text(name: str, value, *, shop_names: dict[str, str] | None = None) -> str:
    """A job parameter's value as a planner reads it: kinds by name, shops by name, points by name."""
    labels = kind_vocabulary.resource_labels()
    from api.web.forms import ENUM_LABELS

    if value is None or value == [] or value == "":
        return "指定なし"
    if isinstance(value, bool):
        return "はい" if value else "いいえ"
    if name.endswith("_kinds") and isinstance(value, list):
        return "、".join(labels.get(str(v), str(v)) for v in value)
    if name in ("close_shop_ids", "depot_resource"):
        ids = value if isinstance(value, list) else [value]
        return "、".join((shop_names or {}).get(str(v), "（今は地域資源にない店）") for v in ids)
    if isinstance(value, list):
        if all(isinstance(v, dict) for v in value):
            return "、".join(str(v.get("name") or "地点") for v in value[:20]) + ("…" if len(value) > 20 else "")
        return "、".join(figure_text(v) if isinstance(v, (int, float)) else str(v) for v in value)
    if isinstance(value, dict):
        return "（詳細は API で確認できます）"
    if isinstance(value, str):
        return ENUM_LABELS.get(value, value)
    return figure_text(value, "", "count" if float(value).is_integer() else "number")
