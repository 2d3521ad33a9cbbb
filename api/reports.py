"""Area reports (地域カルテ) of a workspace: the figures the jobs compute, gathered per area and rendered as HTML, PDF or Excel.

The figures come from the same functions as the jobs with the jobs' default parameters
(:func:`api.analyses.salons.salon_gap_tables`, :func:`api.analyses.shopping.shopping_tier_table`),
and client households only as counts after small-cell suppression
(:func:`api.routers.clients.suppressed_counts`), so a report shows nothing the job tables and
``GET /clients/counts`` do not.
"""

from __future__ import annotations

from pathlib import Path

from api.analyses.salons import SalonGapsParams, salon_gap_tables
from api.analyses.shopping import ShoppingParams, shopping_tier_table
from api.store.base import Store
from gis.area_report import CATCHMENT_LEVEL, AreaReport, area_reports, catchment_report
from gis._once import BuildOnceLRU
from gis.errors import InputDataError
from gis.shopping import NO_SHOP_DATA

#: Output format → (media type, file extension).
FORMATS = {
    "pdf": ("application/pdf", "pdf"),
    "html": ("text/html; charset=utf-8", "html"),
    "xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", "xlsx"),
}


def check_format(fmt: str) -> str:
    """The format name in lower case; an unknown one is an :class:`InputDataError` naming the known ones."""
    value = str(fmt or "").strip().lower()
    if value not in FORMATS:
        msg = f"出力形式 {fmt!r} には対応していません（pdf・html・xlsx のいずれか）"
        raise InputDataError(msg, feature="format", hint="format=pdf のように指定してください",
                             en=f"output format {fmt!r} is not supported (one of pdf, html, xlsx)",
                             hint_en="give it like format=pdf")
    return value


def _households(store: Store, *, viewer, clients, k: int):
    """Client households per area after suppression, as level → area id → count (None hidden); None when there are none."""
    from api.private import client_store_for
    from api.routers.clients import suppressed_counts

    own = clients is None
    if own:
        try:
            clients = client_store_for(store, create=False)
        except InputDataError:  # no private store: no client households
            return None
    try:
        result = suppressed_counts(store, clients, viewer, k=k)
    finally:
        if own:
            clients.close()
    if result["total"]["count"] == 0:
        return None
    return {key: {a["area_id"]: a["count"] for a in rows} for key, rows in result["levels"].items()}


#: The jobs' figures per (store, data version, data folder): a report of another area or format reuses them.
_FIGURES: BuildOnceLRU[tuple] = BuildOnceLRU(8)


def _job_figures(store: Store, *, data_dir: Path | None, say) -> tuple:
    """The salon-gaps and shopping-refugees tables (default parameters), computed once per data version."""
    from api.layer_cache import layer_version

    def build() -> tuple:
        say(0.05, "サロンの徒歩圏を集計中")
        salon_tables, salon_notes = salon_gap_tables(store, SalonGapsParams(), data_dir=data_dir,
                                                     progress=lambda f, m: say(0.05 + 0.4 * f, m))
        say(0.45, "買い物弱者を集計中")
        try:
            shopping, shop_notes, facts = shopping_tier_table(store, ShoppingParams(), data_dir=data_dir,
                                                              progress=lambda f, m: say(0.45 + 0.4 * f, m))
        except InputDataError as exc:
            if not str(exc).startswith(NO_SHOP_DATA):
                raise
            return salon_tables, salon_notes, None, [], {}, NO_SHOP_DATA
        return salon_tables, salon_notes, shopping, shop_notes, facts, None

    from api.scenarios import ScenarioView

    base, scenario = store, ""
    if isinstance(store, ScenarioView):  # the scenario's own figures, keyed by what it changes
        import json

        from gis.scenarios import scenario_to_dict

        base, scenario = store._store, json.dumps(scenario_to_dict(store.scenario), ensure_ascii=False, sort_keys=True)
    return _FIGURES.get_or_build((id(base), layer_version(base), str(data_dir), scenario), build)


def build_reports(
    store: Store,
    *,
    level: str,
    area_id: str | None = None,
    data_dir: Path | None = None,
    viewer=None,
    clients=None,
    k: int = 3,
    progress=None,
    scenario: str | None = None,
) -> list[AreaReport]:
    """The reports of every area of ``level`` (or of ``area_id`` only); ``level="catchment"``: stations' catchments.

    Parameters
    ----------
    store
        The workspace.
    level
        Tier level key (``junior_high``…), or :data:`gis.area_report.CATCHMENT_LEVEL` for the
        catchments of the stations (the areas assigned to each).
    area_id
        One area of ``level`` only (with ``catchment``: one station id).
    data_dir
        Open-data folder (a road network there is used as the jobs use it).
    viewer
        Who asks (:class:`api.private.Viewer`), recorded in the private store's access log when
        the household counts are read; None leaves the household counts out.
    clients
        The workspace's open :class:`api.private.ClientStore` (the service's); by default the
        one beside the workspace is opened if it exists.
    k
        Small-cell threshold of the household counts (settings ``small_cell_k``).
    progress
        ``progress(fraction, message)``.
    scenario
        A saved scenario's name: each figure is shown beside its value under the scenario and the
        difference (:func:`gis.area_report.with_scenario`).
    """
    say = progress or (lambda f, m: None)
    if scenario:
        return _with_scenario(store, scenario, level=level, area_id=area_id, data_dir=data_dir, viewer=viewer,
                              clients=clients, k=k, say=say)
    ws = store.workspace()
    profile = ws["profile"]
    if level != CATCHMENT_LEVEL and level not in profile.keys:
        known = "、".join(f"{lv.key}（{lv.label}）" for lv in profile.levels)
        msg = f"階層 {level!r} はこの市区町村の圏域にありません（あるもの: {known}、拠点の担当圏域は {CATCHMENT_LEVEL}）"
        raise InputDataError(msg, feature="level", hint=f"--level {profile.keys[1]} のように指定してください",
                             en=f"level {level!r} is not a level of this municipality (levels: {', '.join(profile.keys)}; stations' served areas are {CATCHMENT_LEVEL})",
                             hint_en=f"give it like --level {profile.keys[1]}")
    stations = None
    if level == CATCHMENT_LEVEL:
        stations = store.stations()
        if area_id is not None:
            stations = stations[stations["station_id"].astype(str) == str(area_id)]
        if stations.empty:
            known = "、".join(store.stations()["station_id"].astype(str)) or "（なし）"
            msg = (f"拠点 {area_id} はワークスペースにありません（登録済み: {known}）" if area_id is not None
                   else "ワークスペースに拠点がありません")
            raise InputDataError(msg, feature="station_id", hint="GET /stations の拠点IDを指定してください",
                                 en=(f"no station {area_id} in the workspace (registered: {known})" if area_id is not None
                                     else "the workspace has no stations"),
                                 hint_en="give a station id from GET /stations")
    elif area_id is not None:  # before the slow steps: an unknown area is known at once
        mine = store.areas(level=level)
        if str(area_id) not in set(mine["area_id"].astype(str)):
            listing = "、".join(f"{a}（{n}）" for a, n in list(zip(mine["area_id"], mine["name"]))[:20])
            listing += "…" if len(mine) > 20 else ""
            msg = f"{profile.level(level).label}に地域ID {area_id!r} はありません（あるもの: {listing}）"
            raise InputDataError(msg, feature=str(area_id), hint=f"tsunagu report --level {level} で階層のすべての地域を出力できます",
                                 en=f"no area id {area_id!r} at level {level} (ids: {listing})",
                                 hint_en=f"tsunagu report --level {level} writes every area of the level")
    salon_tables, salon_notes, shopping, shop_notes, facts, missing = _job_figures(store, data_dir=data_dir, say=say)
    say(0.85, "地域資源と訪問先の世帯数を集計中")
    households = _households(store, viewer=viewer, clients=clients, k=k) if viewer is not None else None
    age_notes = [n for n in salon_notes if "65歳以上" in n]
    notes = [n for n in dict.fromkeys([*salon_notes, *shop_notes]) if n not in age_notes]
    common = dict(areas=store.areas(), profile=profile, city_code=ws["city_code"], city_name=ws["city_name"],
                  salon_tables=salon_tables, resources=store.resources(), shopping_table=shopping,
                  shopping_method=facts.get("method"), shopping_missing=missing, households=households,
                  household_k=k, age_notes=age_notes, notes=notes)
    if stations is not None:
        reports = [catchment_report(station=row, **common) for row in stations.to_dict("records")]
    else:
        reports = area_reports(level=level, area_ids=None if area_id is None else [area_id], **common)
    say(1.0, "完了")
    return reports


def _with_scenario(store: Store, name: str, *, level, area_id, data_dir, viewer, clients, k, say) -> list[AreaReport]:
    from api.scenarios import ScenarioView, scenario_record
    from gis.area_report import with_scenario
    from gis.scenarios import scenario_changes_table, scenario_from_dict

    scenario = scenario_from_dict(scenario_record(store, name))
    now = build_reports(store, level=level, area_id=area_id, data_dir=data_dir, viewer=viewer, clients=clients, k=k,
                        progress=lambda f, m: say(0.5 * f, m))
    then = build_reports(ScenarioView(store, scenario), level=level, area_id=area_id, data_dir=data_dir, viewer=None,
                         clients=clients, k=k, progress=lambda f, m: say(0.5 + 0.5 * f, f"シナリオ: {m}"))
    table = scenario_changes_table(store.resources(), scenario)
    changes = [f"{r.操作} {r.種類 or ''} {r.名称 or r.地域資源ID}".replace("  ", " ") for r in table.itertuples(index=False)]
    return with_scenario(now, then, name=scenario.name, changes=changes)


def render(reports: list[AreaReport], fmt: str) -> bytes:
    """The reports as one file of format ``fmt`` (pdf, html or xlsx)."""
    from layers import report as rendering

    fmt = check_format(fmt)
    if fmt == "html":
        return rendering.report_html(reports).encode("utf-8")
    if fmt == "pdf":
        return rendering.report_pdf(reports)
    return rendering.report_xlsx(reports)


def file_name(reports: list[AreaReport], fmt: str) -> str:
    """A file name for the reports: 地域カルテ_<市>_<階層 or 地域>.<ext>."""
    ext = FORMATS[check_format(fmt)][1]
    if not reports:
        return f"地域カルテ.{ext}"
    first = reports[0]
    what = first.name if len(reports) == 1 else first.level_label
    safe = "".join(c for c in f"{first.city_name}_{what}" if c not in '\\/:*?"<>|').replace(" ", "")
    return f"地域カルテ_{safe}.{ext}"


__all__ = ["FORMATS", "build_reports", "check_format", "file_name", "render"]
