"""Area reports (地域カルテ): every area of a tier, or one, as printable HTML, PDF or Excel (same roles as the tiers)."""

from __future__ import annotations

from html import escape
from typing import Literal
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from api.dependencies import SettingsDep, StoreDep
from api.errors import NotFound
from api.private import Viewer
from api.routers.clients import get_clients
from api.security import ANY_ROLE, CurrentUser, allow
from gis.area_report import CATCHMENT_LEVEL
from gis.errors import InputDataError

router = APIRouter(prefix="/reports", tags=["reports"])

Format = Literal["html", "pdf", "xlsx"]
_FORMAT = Query("html", description="出力形式: html（印刷用 A4）、pdf、xlsx（地域ごとに1シート）")
_SCENARIO = Query(None, max_length=60, description="保存したシナリオの名前: 各指標にシナリオの値と差を並べる（GET /scenarios）")


def _respond(request: Request, store, settings, user, *, level: str, area_id: str | None, fmt: str,
             scenario: str | None = None) -> Response:
    from api.reports import FORMATS, build_reports, file_name, render

    profile = store.workspace()["profile"]
    if level not in profile.keys and level != CATCHMENT_LEVEL:
        known = ", ".join(f"{lv.key}（{lv.label}）" for lv in profile.levels)
        raise NotFound(f"階層 {level!r} はありません（この市区町村の階層: {known}、拠点の担当圏域は {CATCHMENT_LEVEL}）",
                       hint=f"GET /reports/{profile.keys[1]} のように既知の階層を指定してください",
                       en=f"no level {level!r} (levels of this municipality: {', '.join(profile.keys)}; stations' served areas are {CATCHMENT_LEVEL})",
                       hint_en=f"give a known level, e.g. GET /reports/{profile.keys[1]}")
    data_dir = None
    if settings.data_dir:
        from pathlib import Path

        data_dir = Path(settings.data_dir)
    try:
        reports = build_reports(store, level=level, area_id=area_id, data_dir=data_dir,
                                viewer=Viewer(user.username, user.role, user.station_id), clients=get_clients(request),
                                k=int(settings.small_cell_k), scenario=scenario or None)
    except InputDataError as exc:
        if area_id is not None and exc.feature in (area_id, "station_id"):
            raise NotFound(str(exc), hint=f"GET /reports/{level} で階層のすべての地域を取得できます",
                           en=exc.english,
                           hint_en=f"GET /reports/{level} gives every area of the level") from None
        raise
    body = render(reports, fmt)
    media, ext = FORMATS[fmt]
    name = file_name(reports, fmt)
    stem = name.rsplit(".", 1)[0]
    disposition = ("inline" if fmt == "html" else "attachment") + \
        f"; filename=\"report.{ext}\"; filename*=UTF-8''{quote(stem)}.{ext}"
    return Response(body, media_type=media, headers={"Content-Disposition": disposition})


@router.get("", summary="地域カルテの一覧（階層ごと・地域ごとのリンク）", response_class=HTMLResponse,
            dependencies=[allow(*ANY_ROLE)])
def report_index(store: StoreDep) -> HTMLResponse:
    """A Japanese page linking every tier's report (HTML, PDF, Excel), each area's, and the stations' catchments."""
    ws = store.workspace()
    profile = ws["profile"]
    areas = store.areas()

    def links(path: str) -> str:
        return "　".join(f'<a href="{path}?format={f}">{label}</a>' for f, label in
                         (("html", "印刷用ページ"), ("pdf", "PDF"), ("xlsx", "Excel")))

    parts = []
    for lv in reversed(profile.levels):
        part = areas[areas["level"] == lv.key].sort_values("area_id")
        items = ""
        if lv.key != profile.base.key and len(part) > 1:
            items = "<ul>" + "".join(
                f"<li>{escape(str(r.name))}（{escape(str(r.area_id))}）　{links(f'/reports/{lv.key}/{quote(str(r.area_id))}')}</li>"
                for r in part.itertuples()) + "</ul>"
        parts.append(f"<h2>{escape(lv.label)}（{len(part)} 地域）</h2><p>すべての地域を1つのファイルに：{links(f'/reports/{lv.key}')}</p>{items}")
    stations = store.stations()
    if len(stations):
        parts.append(f"<h2>拠点の担当圏域（{len(stations)} 拠点）</h2><p>{links(f'/reports/{CATCHMENT_LEVEL}')}</p>")
    body = (f'<!DOCTYPE html><html lang="ja"><head><meta charset="utf-8"><title>地域カルテ {escape(ws["city_name"])}</title>'
            '<style>body{font-family:sans-serif;margin:1.5em;line-height:1.6}h2{font-size:1.1em;margin-top:1.2em}</style>'
            f'</head><body><h1>地域カルテ　{escape(ws["city_name"])}</h1>'
            "<p>人口・65歳以上・地域資源・サロンの徒歩圏・買い物弱者・移動販売・訪問先の世帯数（少数は秘匿）を、"
            "上位の地域と市全域に並べて示します。作成には数秒から数十秒かかります。</p>" + "".join(parts) + "</body></html>")
    return HTMLResponse(body)


@router.get("/{level}", summary="地域カルテ：ある階層のすべての地域（HTML・PDF・Excel）", dependencies=[allow(*ANY_ROLE)])
def tier_reports(level: str, request: Request, store: StoreDep, settings: SettingsDep, user: CurrentUser,
                 format: Format = _FORMAT, scenario: str | None = _SCENARIO) -> Response:  # noqa: A002 - the query parameter is called format
    """Every area of one tier level in one file: population, 65+/75+, resources, salon coverage,
    shopping refugees, mobile sales and client household counts (suppressed), each beside the parent
    area and the city. ``catchment`` gives every station's catchment.
    """
    return _respond(request, store, settings, user, level=level, area_id=None, fmt=format, scenario=scenario)


@router.get("/{level}/{area_id}", summary="地域カルテ：1つの地域（HTML・PDF・Excel）", dependencies=[allow(*ANY_ROLE)])
def area_report(level: str, area_id: str, request: Request, store: StoreDep, settings: SettingsDep, user: CurrentUser,
                format: Format = _FORMAT, scenario: str | None = _SCENARIO) -> Response:  # noqa: A002
    """One area's report (``/reports/catchment/{station_id}``: one station's catchment)."""
    return _respond(request, store, settings, user, level=level, area_id=area_id, fmt=format, scenario=scenario)
