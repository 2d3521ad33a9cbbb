"""Each analysis's result in plain Japanese: a headline of one or two sentences and a table of figures.

The job keeps its raw ``summary`` (JSON for the API); :func:`describe` turns it into what a planner
reads first: 「65歳以上 14,345人のうち 8,505人（59.3%）が食料品店から直線500 m以上…」 and a list of
figures, each ``{"label", "value", "unit", "key"}`` with a Japanese label, a rounded value, its unit
and the key of the raw figure in the summary (dotted for nested ones, e.g. ``by_threshold.500.elderly``).
Figures are derived from the summary alone, so jobs stored before this module existed read the same.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from numbers import Number

#: Units whose value is a share 0–1 shown as a percentage with one decimal.
PERCENT = "%"


def _number(value) -> float | None:
    if isinstance(value, bool) or not isinstance(value, Number):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def people(value) -> str:
    """``12656.96`` → ``12,657人`` (unknown → 不明)."""
    v = _number(value)
    return "不明" if v is None else f"{round(v):,}人"


def count(value, unit: str) -> str:
    """A whole count with thousands separators and its unit: ``1234, "か所"`` → ``1,234か所``."""
    v = _number(value)
    return "不明" if v is None else f"{round(v):,}{unit}"


def percent(share) -> str:
    """A share 0–1 as a percentage with one decimal: ``0.4624`` → ``46.2%``."""
    v = _number(share)
    return "不明" if v is None else f"{v * 100:.1f}%"


def metres(value) -> str:
    """``500.0`` → ``500 m``, ``1000`` → ``1 km``, ``1500`` → ``1.5 km``."""
    v = _number(value)
    if v is None:
        return "不明"
    return f"{v / 1000:g} km" if v >= 1000 else f"{v:g} m"


def _ratio(part, whole) -> float | None:
    p, w = _number(part), _number(whole)
    return None if p is None or not w else p / w


def figure(label: str, value, unit: str, key: str, *, digits: int = 0) -> dict:
    """One figure: ``value`` rounded (shares 0–1 given with ``unit="%"`` become percentages, 1 decimal)."""
    v = _number(value)
    if v is not None:
        if unit == PERCENT:
            v = round(v * 100, 1)
        else:
            v = round(v, digits)
            if digits == 0:
                v = int(v)
    return {"label": label, "value": v, "unit": unit, "key": key}


def _straight(engine: str | None) -> str:
    return "直線" if not engine or str(engine).startswith("直線") else "道路距離で"


# ---------------------------------------------------------------------- salon-gaps


def salon_gaps(summary: dict) -> tuple[str, list[dict]]:
    """「65歳以上 N人のうち M人（x%）がサロンから直線500 m以上…」 per threshold."""
    by = summary.get("by_threshold") or {}
    keys = sorted(by, key=lambda k: float(k))
    way = _straight(summary.get("engine"))
    figures = [figure("サロンの数", summary.get("salons"), "か所", "salons")]
    if not keys:
        return "サロンの空白地域を集計しました。", figures
    first = by[keys[0]]
    parts = []
    for i, k in enumerate(keys):
        row = by[k]
        where = f"サロン（{count(summary.get('salons'), 'か所')}）から{way}" if i == 0 else ""
        parts.append(f"{people(row.get('uncovered_elderly'))}（{percent(row.get('uncovered_share'))}）が"
                     f"{where}{metres(float(k))}以上")
    head = f"65歳以上 {people(first.get('elderly'))}のうち " + "、".join(parts) + "離れて暮らしています。"
    figures.insert(0, figure("65歳以上人口", first.get("elderly"), "人", f"by_threshold.{keys[0]}.elderly"))
    for k in keys:
        dist = metres(float(k))
        figures.append(figure(f"サロンから{dist}以上の65歳以上", by[k].get("uncovered_elderly"), "人",
                              f"by_threshold.{k}.uncovered_elderly"))
        figures.append(figure(f"サロンから{dist}以上の割合", by[k].get("uncovered_share"), PERCENT,
                              f"by_threshold.{k}.uncovered_share"))
    unreachable = _number(summary.get("unreachable_points"))
    if unreachable:
        head += f"道路網でサロンに行けない地点が {count(unreachable, '地点')}あります。"
        figures.append(figure("サロンに行けない地点", unreachable, "地点", "unreachable_points"))
    return head, figures


# ---------------------------------------------------------------------- salon-sites


def salon_sites(summary: dict) -> tuple[str, list[dict]]:
    """「新しいサロンを k か所開くと、いま徒歩圏外の65歳以上 N人のうち M人（x%）が…」 and the LSCP size."""
    best = summary.get("mclp") or {}
    cover_all = summary.get("lscp") or {}
    greedy = summary.get("greedy") or {}
    k = summary.get("k")
    dist = metres(summary.get("threshold_m"))
    uncovered = summary.get("uncovered_elderly")
    gained = best.get("covered_weight")
    exact = "最適解" if best.get("status") == "optimal" else "ソルバーの解"
    head = (f"新しいサロンを {count(k, 'か所')}開くと、いまサロンから{dist}以上の65歳以上 {people(uncovered)}のうち "
            f"{people(gained)}（{percent(_ratio(gained, uncovered))}）が{dist}圏内に入ります"
            f"（候補地 {count(summary.get('candidates'), 'か所')}から選んだ{exact}）。")
    n_all = len(cover_all.get("sites") or [])
    if n_all:
        rest = _number(cover_all.get("uncoverable_weight"))
        which = "候補地から届く65歳以上の全員" if rest else "全員"
        if cover_all.get("status") == "optimal":
            head += f"{which}を{dist}圏内に入れるには最少 {count(n_all, 'か所')}が必要です。"
        else:  # time limit: a plan that covers them, not proven the smallest
            head += f"{which}を{dist}圏内に入れる組み合わせは {count(n_all, 'か所')}です（最少とは限りません）。"
    figures = [
        figure("新しいサロンの数", k, "か所", "k"),
        figure("候補地の数", summary.get("candidates"), "か所", "candidates"),
        figure(f"サロンから{dist}以上の65歳以上", uncovered, "人", "uncovered_elderly"),
        figure("新たに徒歩圏に入る65歳以上（最適解）", gained, "人", "mclp.covered_weight"),
        figure("新たに徒歩圏に入る割合", _ratio(gained, uncovered), PERCENT, "mclp.covered_weight"),
        figure("新たに徒歩圏に入る65歳以上（貪欲法）", greedy.get("covered_weight"), "人", "greedy.covered_weight"),
        figure("どの候補地からも届かない65歳以上", summary.get("uncoverable_elderly"), "人", "uncoverable_elderly"),
    ]
    if n_all:
        label = "全員カバーの最少か所数" if cover_all.get("status") == "optimal" else "全員カバーのか所数（暫定）"
        figures.append(figure(label, n_all, "か所", "lscp.sites"))
    if best.get("mip_gap") is not None:
        figures.append(figure("最適性ギャップ", best.get("mip_gap"), PERCENT, "mclp.mip_gap"))
    return head, figures


# ---------------------------------------------------------------------- shopping-refugees


def shopping_refugees(summary: dict) -> tuple[str, list[dict]]:
    """「65歳以上 N人のうち M人（x%）が食料品店から直線500 m以上」, the road figure and mobile sales."""
    dist = metres(summary.get("threshold_m"))
    elderly = summary.get("elderly")
    head = (f"65歳以上 {people(elderly)}のうち {people(summary.get('refugees_straight'))}"
            f"（{percent(summary.get('share_straight'))}）が食料品店（{count(summary.get('shops'), '店')}）から"
            f"直線{dist}以上です。")
    figures = [
        figure("65歳以上人口", elderly, "人", "elderly"),
        figure("食料品店の数", summary.get("shops"), "店", "shops"),
        figure(f"食料品店から直線{dist}以上の65歳以上", summary.get("refugees_straight"), "人", "refugees_straight"),
        figure("その割合（直線）", summary.get("share_straight"), PERCENT, "share_straight"),
    ]
    if _number(summary.get("refugees_network")) is not None:
        head += (f"道路距離では {people(summary.get('refugees_network'))}"
                 f"（{percent(summary.get('share_network'))}）です。")
        figures += [figure(f"食料品店から道路距離{dist}以上の65歳以上", summary.get("refugees_network"), "人",
                           "refugees_network"),
                    figure("その割合（道路距離）", summary.get("share_network"), PERCENT, "share_network")]
    if _number(summary.get("mobile_stops")):
        head += (f"移動販売の停留所（{count(summary.get('mobile_stops'), 'か所')}）で "
                 f"{people(summary.get('served_mobile'))}が補われ、残る買い物弱者は {people(summary.get('remaining'))}です。")
        figures += [figure("移動販売の停留所", summary.get("mobile_stops"), "か所", "mobile_stops"),
                    figure("移動販売で補われる65歳以上", summary.get("served_mobile"), "人", "served_mobile"),
                    figure("残る買い物弱者", summary.get("remaining"), "人", "remaining")]
    sc = summary.get("scenario")
    if isinstance(sc, dict):
        head += (f"シナリオでは残る買い物弱者が {people(sc.get('remaining_before'))}から "
                 f"{people(sc.get('remaining_after'))}になります。")
        figures += [figure("シナリオ前の残る買い物弱者", sc.get("remaining_before"), "人", "scenario.remaining_before"),
                    figure("シナリオ後の残る買い物弱者", sc.get("remaining_after"), "人", "scenario.remaining_after"),
                    figure("シナリオで変わる地点", sc.get("points_changed"), "地点", "scenario.points_changed")]
    return head, figures


# ---------------------------------------------------------------------- catchments


def catchments(summary: dict) -> tuple[str, list[dict]]:
    """「拠点 n か所が人口 N人（65歳以上 M人）を担当します…」 and the areas nobody or two stations claim."""
    how = "最寄りの拠点に割り当てて" if summary.get("by") == "nearest" else "指定された担当地域で"
    sample = _number(summary.get("sample_stations"))
    head = (f"拠点 {count(summary.get('stations'), 'か所')}{'（サンプル）' if sample else ''}が、{how}"
            f"人口 {people(summary.get('population'))}（65歳以上 {people(summary.get('elderly'))}）を担当します。")
    problems = []
    for key, what in (("unclaimed", "どの拠点の担当でもない"), ("double_claimed", "複数の拠点が担当する"),
                      ("unreachable", "道路網で拠点に行けない")):
        n = len(summary.get(key) or [])
        if n:
            problems.append(f"{what}町丁・字が {count(n, '件')}")
    if problems:
        head += "、".join(problems) + "あります。"
    figures = [
        figure("拠点の数", summary.get("stations"), "か所", "stations"),
        figure("担当する人口", summary.get("population"), "人", "population"),
        figure("担当する65歳以上", summary.get("elderly"), "人", "elderly"),
        figure("担当拠点のない町丁・字", len(summary.get("unclaimed") or []), "件", "unclaimed"),
        figure("複数の拠点が担当する町丁・字", len(summary.get("double_claimed") or []), "件", "double_claimed"),
    ]
    if summary.get("unreachable"):
        figures.append(figure("拠点に行けない町丁・字", len(summary["unreachable"]), "件", "unreachable"))
    return head, figures


# ---------------------------------------------------------------------- mobile-sales


def mobile_sales(summary: dict) -> tuple[str, list[dict]]:
    """Stops, refugees within their walk, visits planned against required, driving time and distance."""
    walk = metres(summary.get("walk_m"))
    covered, total = summary.get("covered_refugees"), summary.get("total_refugees")
    head = (f"停留所 {count(summary.get('stops'), 'か所')}（週2回 {count(summary.get('twice_weekly_stops'), 'か所')}）で、"
            f"買い物弱者 {people(total)}のうち {people(covered)}（{percent(_ratio(covered, total))}）が"
            f"停留所から{walk}以内に入ります。")
    hours = _number(summary.get("driving_s"))
    km = _number(summary.get("distance_m"))
    head += (f"週の訪問 {count(summary.get('visits_required'), '回')}のうち {count(summary.get('visits_served'), '回')}を計画し、"
             f"走行は {'不明' if hours is None else f'{hours / 3600:.1f}時間'}・"
             f"{'不明' if km is None else f'{km / 1000:,.1f} km'}です。")
    left = len(summary.get("unassigned") or [])
    if left:
        head += f"入りきらない訪問が {count(left, '回')}あります。"
    figures = [
        figure("停留所の数", summary.get("stops"), "か所", "stops"),
        figure("週2回の停留所", summary.get("twice_weekly_stops"), "か所", "twice_weekly_stops"),
        figure("買い物弱者", total, "人", "total_refugees"),
        figure(f"停留所から{walk}以内の買い物弱者", covered, "人", "covered_refugees"),
        figure("その割合", _ratio(covered, total), PERCENT, "covered_refugees"),
        figure("必要な訪問（週）", summary.get("visits_required"), "回", "visits_required"),
        figure("計画した訪問（週）", summary.get("visits_served"), "回", "visits_served"),
        figure("入りきらない訪問", left, "回", "unassigned"),
        figure("車両の稼働", summary.get("vehicle_days"), "台・日", "vehicle_days"),
        figure("走行時間（週）", None if hours is None else hours / 3600, "時間", "driving_s", digits=1),
        figure("走行距離（週）", None if km is None else km / 1000, "km", "distance_m", digits=1),
    ]
    return head, figures


# ---------------------------------------------------------------------- outreach


def outreach(summary: dict) -> tuple[str, list[dict]]:
    """The station, the day, the CSWs and the visit counts (small counts stay hidden)."""
    from api.analyses.outreach import SUPPRESSED

    def shown(key: str) -> str:
        return SUPPRESSED if summary.get(key) is None else count(summary.get(key), "件")

    head = (f"拠点「{summary.get('station_name') or summary.get('station_id')}」の {summary.get('date') or ''} の訪問を"
            f" CSW {count(summary.get('csws'), '人')}で計画しました。訪問先 {shown('visits')}のうち "
            f"{shown('visits_planned')}を計画し、計画できなかった訪問は {shown('visits_unfitted')}です。")
    figures = [figure("CSW の人数", summary.get("csws"), "人", "csws"),
               figure("訪問先", summary.get("visits"), "件", "visits"),
               figure("計画できた訪問", summary.get("visits_planned"), "件", "visits_planned"),
               figure("計画できなかった訪問", summary.get("visits_unfitted"), "件", "visits_unfitted")]
    return head, figures


# ---------------------------------------------------------------------- import-resources


def kind_counts(kinds: dict) -> str:
    """``{"salon": 2, "kominkan": 1}`` → 「サロン 2件、公民館 1件」 (labels from gis/kinds.toml)."""
    from gis.kinds import resource_labels

    labels = resource_labels()
    return "、".join(f"{labels.get(k, k)} {count(n, '件')}" for k, n in (kinds or {}).items())


def import_resources(summary: dict) -> tuple[str, list[dict]]:
    """「「salons.csv」から 2件を取り込みました（サロン 2件）。」"""
    kinds = summary.get("kinds") or {}
    head = (f"「{summary.get('source')}」の {count(summary.get('rows_read'), '行')}から "
            f"{count(summary.get('imported'), '件')}を取り込みました（{kind_counts(kinds) or '種別なし'}）。")
    if summary.get("replace"):
        head += "同じ種別の既存データは置き換えました。"
    left = _number(summary.get("left_out"))
    if left:
        head += f"住所が町丁・字と合わなかった {count(left, '行')}は除きました。"
    from gis.kinds import resource_labels

    labels = resource_labels()
    figures = [figure("読み込んだ行", summary.get("rows_read"), "行", "rows_read"),
               figure("取り込んだ件数", summary.get("imported"), "件", "imported")]
    figures += [figure(labels.get(k, k), n, "件", f"kinds.{k}") for k, n in kinds.items()]
    if left is not None:
        figures.append(figure("除いた行", left, "行", "left_out"))
    return head, figures


# ---------------------------------------------------------------------- activity-coverage


def activity_coverage(summary: dict) -> tuple[str, list[dict]]:
    """「子ども（0〜14歳） N人のうち M人（x%）が子ども食堂（2か所）から直線1 km以上…」."""
    from gis.kinds import resource_labels

    labels = resource_labels()
    kinds = list(summary.get("kinds") or [])
    thresholds = summary.get("thresholds_m") or {}
    what = "・".join(labels.get(k, k) for k in kinds) or "活動"
    dists = sorted({float(v) for v in thresholds.values()}) if isinstance(thresholds, dict) else []
    within = metres(dists[0]) if len(dists) == 1 else "それぞれの徒歩圏"
    group = summary.get("target_label") or "対象者"
    head = (f"{group} {people(summary.get('target_people'))}のうち {people(summary.get('uncovered'))}"
            f"（{percent(summary.get('uncovered_share'))}）が{what}（{count(summary.get('resources'), 'か所')}）から"
            f"{_straight(summary.get('engine'))}{within}以上離れて暮らしています。")
    figures = [
        figure(f"対象者（{group}）", summary.get("target_people"), "人", "target_people"),
        figure("徒歩圏内の対象者", summary.get("covered"), "人", "covered"),
        figure("徒歩圏外の対象者", summary.get("uncovered"), "人", "uncovered"),
        figure("徒歩圏外の割合", summary.get("uncovered_share"), PERCENT, "uncovered_share"),
        figure("活動の場所の数", summary.get("resources"), "か所", "resources"),
    ]
    if isinstance(thresholds, dict):
        for k, v in thresholds.items():
            figures.append(figure(f"{labels.get(k, k)}の徒歩圏", v, "m", f"thresholds_m.{k}"))
    share = _number(summary.get("share"))
    if share is not None:
        head += f"{group}の人数は人口 × {percent(share)}の推計です。"
    return head, figures


#: analysis name → words for its summary.
WORDS: dict[str, Callable[[dict], tuple[str, list[dict]]]] = {
    "salon-gaps": salon_gaps,
    "salon-sites": salon_sites,
    "shopping-refugees": shopping_refugees,
    "catchments": catchments,
    "mobile-sales": mobile_sales,
    "outreach": outreach,
    "import-resources": import_resources,
    "activity-coverage": activity_coverage,
}


#: Analyses whose headline counts people aged 65+ (an estimate when the workspace has no age table).
COUNTS_ELDERLY = frozenset({"salon-gaps", "salon-sites", "shopping-refugees", "catchments", "mobile-sales"})
#: Said after the headline when the job's notes say the 65+ counts are estimated from a share.
ESTIMATED = "65歳以上の人数は、年齢別の集計がないため比率からの推計です（注記を参照）。"


def _estimated(notes) -> bool:
    return any("65歳以上" in str(n) and "推計" in str(n) for n in (notes or []))


def describe(analysis: str, summary: dict | None, *, label: str | None = None, notes: list | None = None) -> dict:
    """``{"headline": str, "figures": [...]}`` for a done job of ``analysis`` with this ``summary``.

    An analysis without words of its own (one registered elsewhere) gets 「<label>が完了しました。」
    and no figures; a summary the words cannot read gets the same rather than an error. When the
    job's ``notes`` say its 65+ counts are estimated, the headline says so (:data:`ESTIMATED`).
    """
    words = WORDS.get(analysis)
    done = f"{label or analysis}が完了しました。"
    if words is None or not isinstance(summary, dict) or not summary:
        return {"headline": done, "figures": []}
    try:
        headline, figures = words(summary)
    except (KeyError, TypeError, ValueError, AttributeError):  # an older or foreign summary: say it ended
        return {"headline": done, "figures": []}
    if analysis in COUNTS_ELDERLY and _estimated(notes):
        headline += ESTIMATED
    return {"headline": headline, "figures": figures}


def format_value(fig: dict) -> str:
    """A figure's value as shown in a table: thousands separators, % with one decimal, 不明 when missing."""
    v = fig.get("value")
    unit = fig.get("unit") or ""
    if v is None:
        if fig.get("key") in ("visits", "visits_planned", "visits_unfitted"):  # outreach counts below k
            from api.analyses.outreach import SUPPRESSED

            return SUPPRESSED
        return "不明"
    if unit == PERCENT:
        return f"{v:.1f}%"
    text = f"{v:,.1f}" if isinstance(v, float) and not float(v).is_integer() else f"{int(v):,}"
    return f"{text} {unit}".rstrip() if unit in ("km",) else f"{text}{unit}"
