"""Client households (要配慮個人情報): CSWs see their own station's, administrators all, nobody else any.

Every route here declares ``allow("admin", "csw")`` except the suppressed aggregate
``GET /clients/counts`` (any logged-in user) and the access log ``GET /clients/audit``
(administrators). A CSW asking for another station's household by id gets the same 404 as for
an id that does not exist, so ids do not give away that a household exists. Every read goes to
the private store's access log (who, when, which household ids: :mod:`api.private`), and every
response carrying client data says ``Cache-Control: no-store``.

:func:`install` adds this router and the outreach plans router (:mod:`api.routers.outreach`).
"""

from __future__ import annotations

import functools
import threading
from typing import Annotated, Any

import pandas as pd
from fastapi import APIRouter, Depends, Query, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from api.dependencies import SettingsDep, StoreDep, get_store
from api.errors import Conflict, Forbidden, NotFound
from api.private import (
    PRIORITY_LABELS,
    ClientStore,
    HouseholdExists,
    PrivateAccessError,
    Viewer,
    client_store_for,
    format_windows,
    normalise_households,
    read_households,
)
from api.security import ANY_ROLE, CLIENT_ROLES, CurrentUser, allow, viewer_of
from gis.disclosure import hierarchy_constraints, suppress_small_cells
from gis.errors import InputDataError

router = APIRouter(prefix="/clients", tags=["clients"])

#: Headers of every response that carries client data: never kept by a browser or proxy.
NO_STORE = {"Cache-Control": "no-store, private", "Pragma": "no-cache"}
#: How a suppressed cell is shown.
SUPPRESSED = "秘匿"
#: Cell keys of the overall total and of households outside every area.
TOTAL, OUTSIDE = "__total__", "__outside__"

_open_lock = threading.Lock()


def get_clients(request: Request) -> ClientStore:
    """The private client store of the workspace this request works on (opened once per workspace).

    Each workspace has its own (the private file beside its GeoPackage, or its rows in the
    PostGIS schema ``tsunagu_private``): a request for another workspace of the server
    (``X-Tsunagu-Workspace``) never sees this one's households.
    """
    store = get_store(request)
    key = (type(store).__name__, str(getattr(store, "location", id(store))), getattr(store, "workspace_name", None))
    state = request.app.state
    with _open_lock:
        opened = getattr(state, "client_stores", None)
        if opened is None:
            opened = state.client_stores = {}
        clients = opened.get(key)
        if clients is None:
            clients = opened[key] = client_store_for(store)
    return clients


def close_client_stores(app) -> None:
    """Close the client stores an app opened (tests, shutdown)."""
    for clients in (getattr(app.state, "client_stores", None) or {}).values():
        clients.close()
    app.state.client_stores = {}


ClientsDep = Annotated[ClientStore, Depends(get_clients)]


def private_json(content: Any, *, status_code: int = 200, headers: dict | None = None) -> JSONResponse:
    """A JSON response carrying client data (``Cache-Control: no-store``)."""
    return JSONResponse(jsonable_encoder(content), status_code=status_code, headers={**NO_STORE, **(headers or {})})


def household_view(row: dict) -> dict:
    """One household as the API shows it: every field, time windows as text and in seconds, priority label."""
    windows = row.get("windows") or []
    return {
        "household_id": row["household_id"],
        "station_id": row["station_id"],
        "label": row["label"],
        "name": row.get("name"),
        "address": row.get("address"),
        "lon": row["lon"],
        "lat": row["lat"],
        "visit_min": int(row["visit_min"]),
        "windows": format_windows(windows) if windows else "",
        "windows_s": [list(w) for w in windows],
        "priority": int(row["priority"]),
        "priority_label": PRIORITY_LABELS.get(int(row["priority"]), ""),
        "notes": row.get("notes"),
        "is_sample": bool(row.get("is_sample")),
        "skills": list(row.get("skills") or []),
        "links": {"self": f"/clients/{row['household_id']}"},
    }


def _not_found(household_id: str) -> NotFound:
    return NotFound(f"訪問先 {household_id} は見つかりません", en=f"no household {household_id} you may see",
                    hint="GET /clients で扱える訪問先を確認してください（他の拠点の訪問先は扱えません）",
                    hint_en="check the households you may handle with GET /clients (other stations' households are not shown)")


def _refused(exc: PrivateAccessError) -> Forbidden:
    return Forbidden(str(exc), en=exc.english, hint="自分の拠点の訪問先だけを扱えます（管理者はすべて）",
                     hint_en="you may handle your own station's households only (admins: all)")


def _station_of(user, station_id: str | None) -> str:
    """The station a CSW works for (another one is refused), or the one an administrator names."""
    if user.role == "csw":
        if station_id is not None and str(station_id) != str(user.station_id):
            msg = f"拠点 {station_id} の訪問先は、その拠点の CSW と管理者だけが扱えます（所属 {user.station_id}）"
            en = f"only the CSWs of station {station_id} and administrators may see its households (yours: {user.station_id})"
            raise Forbidden(msg, en=en, hint="自分の拠点の訪問先だけを扱えます",
                            hint_en="you may handle your own station's households only")
        if not user.station_id:
            raise Forbidden(f"{user.username} に所属拠点が設定されていません", en=f"{user.username} has no station",
                            hint="管理者に所属拠点の設定を依頼してください",
                            hint_en="ask an admin to set your station")
        return str(user.station_id)
    if not station_id:
        raise InputDataError("station_id（拠点ID）を指定してください", feature="station_id", hint="GET /stations の拠点ID",
                             en="give station_id (the station's id)",
                             hint_en="a station id from GET /stations")
    return str(station_id)


def _check_station(store, station_id: str) -> None:
    stations = store.stations()
    if str(station_id) not in set(stations["station_id"].astype(str)):
        known = "、".join(stations["station_id"].astype(str)) or "（なし）"
        raise NotFound(f"拠点 {station_id} はワークスペースにありません（登録済み: {known}）",
                       hint="GET /stations の拠点IDを指定してください",
                       en=f"no station {station_id} in the workspace (registered: {known})",
                       hint_en="give a station id from GET /stations")


# --------------------------------------------------------------------------- aggregates (any role)


def suppressed_counts(store, clients: ClientStore, viewer: Viewer, *, k: int) -> dict:
    """Households per area of every tier level after small-cell suppression, keyed by level.

    Households are counted in the innermost areas (point in polygon) and summed up the tiers
    through ``parent_id``, so every published figure is the sum of the ones below it, and the
    suppression (:func:`gis.disclosure.suppress_small_cells`) is computed over all levels, the
    total and the households outside every area at once: no level gives away what another hides.
    """
    ws = store.workspace()
    profile = ws["profile"]
    areas = store.areas()
    keys = [lv.key for lv in profile.levels]
    base = areas[areas["level"] == keys[0]]
    base_counts, outside = clients.count_by_area(viewer, base)
    cells: dict[str, list[str]] = {}  # level → its cells ("<level>:<area id>")
    names: dict[str, tuple[str, str, str]] = {}  # cell → (level, area id, name)
    parent_of: dict[str, str | None] = {}
    for i, key in enumerate(keys):
        cells[key] = []
        for rec in areas.loc[areas["level"] == key, ["area_id", "name", "parent_id"]].to_dict("records"):
            cell = f"{key}:{rec['area_id']}"
            cells[key].append(cell)
            names[cell] = (key, str(rec["area_id"]), str(rec["name"]))
            parent = rec["parent_id"]
            has_parent = i + 1 < len(keys) and parent is not None and not pd.isna(parent)
            parent_of[cell] = f"{keys[i + 1]}:{parent}" if has_parent else None
    counts: dict[str, int] = {f"{keys[0]}:{a}": int(n) for a, n in base_counts.items()}
    for inner, outer in zip(keys, keys[1:]):  # each level the sum of the one inside it
        counts.update(dict.fromkeys(cells[outer], 0))
        for child in cells[inner]:
            if parent_of[child] in counts:
                counts[parent_of[child]] += counts[child]
    # a parent id naming no area of the next level is no sum anyone can check: drop the link
    parent_of = {c: (p if p in counts else None) for c, p in parent_of.items()}
    counts[OUTSIDE] = int(outside)
    counts[TOTAL] = int(base_counts.sum()) + int(outside)
    constraints = hierarchy_constraints(parent_of, total=TOTAL, outside=OUTSIDE)
    s = _suppressed(tuple(counts.items()), tuple((t, tuple(m)) for t, m in constraints), k)

    def cell(key: str) -> dict:
        v = s.values[key]
        return {"count": v, "suppressed": v is None, "display": SUPPRESSED if v is None else str(v)}

    levels = {key: [{"area_id": names[c][1], "name": names[c][2], **cell(c)} for c in cells[key]] for key in keys}
    return {"levels": levels, "total": cell(TOTAL), "outside": cell(OUTSIDE), "k": s.k}


@functools.lru_cache(maxsize=16)
def _suppressed(counts: tuple, constraints: tuple, k: int):
    """Suppression of the same counts is computed once (it audits with linear programmes; the counts change rarely)."""
    return suppress_small_cells(dict(counts), k=k, constraints=[(t, list(m)) for t, m in constraints])


@router.get("/counts", summary="圏域ごとの訪問先の世帯数（少数は秘匿）", dependencies=[allow(*ANY_ROLE)])
def client_counts(level: str, store: StoreDep, clients: ClientsDep, settings: SettingsDep, user: CurrentUser) -> JSONResponse:
    """Client households per area of one tier level, for everyone: counts from 1 to k-1 are suppressed.

    ``count`` is null and ``suppressed`` true for a hidden cell (``display`` 「秘匿」): fewer than
    k households (settings ``small_cell_k``, default 3), or hidden so that a small one cannot be
    worked out from the total or the other tiers. Upper tiers are sums of the innermost areas.
    """
    profile = store.workspace()["profile"]
    if level not in profile.keys:
        known = ", ".join(f"{lv.key}（{lv.label}）" for lv in profile.levels)
        raise NotFound(f"階層 {level!r} はありません。この市の階層: {known}",
                       en=f"unknown tier level {level!r}; this city uses {known}",
                       hint=f"GET /clients/counts?level={profile.keys[0]} のように既知の階層を指定してください",
                       hint_en=f"give a known level, e.g. GET /clients/counts?level={profile.keys[0]}")
    lv = profile.level(level)
    k = int(settings.small_cell_k)
    result = suppressed_counts(store, clients, Viewer(user.username, user.role, user.station_id), k=k)
    notes = [f"{k}世帯未満の圏域は「{SUPPRESSED}」と表示します。合計やほかの圏域から逆算できないよう、"
             f"{k}世帯以上の圏域も「{SUPPRESSED}」にすることがあります（0 はそのまま表示）",
             f"{profile.base.label}より上の圏域の件数は、含まれる{profile.base.label}の件数の合計です"]
    body = {"level": lv.key, "label": lv.label, "k": k, "areas": result["levels"][level], "total": result["total"],
            "outside_areas": result["outside"], "notes": notes}
    return JSONResponse(body, headers=NO_STORE)


# --------------------------------------------------------------------------- the access log (admin)


@router.get("/audit", summary="訪問先のアクセス記録（管理者のみ）", dependencies=[allow("admin")])
def access_log(clients: ClientsDep, user: CurrentUser, limit: Annotated[int, Query(ge=1, le=10000)] = 1000) -> JSONResponse:
    """Latest access-log entries, newest first: who, when, what (household ids only, never names)."""
    try:
        entries = clients.access_log(viewer_of(user), limit=limit)
    except PrivateAccessError as exc:
        raise _refused(exc) from None
    return private_json(entries)


# --------------------------------------------------------------------------- households (admin, csw)


@router.get("", summary="訪問先の一覧（CSW は自分の拠点のみ）", dependencies=[allow(*CLIENT_ROLES)])
def list_households(clients: ClientsDep, user: CurrentUser, station_id: str | None = None) -> JSONResponse:
    """The households the caller may see (a CSW: their station's; an administrator: ``station_id``'s or all)."""
    try:
        table = clients.households(viewer_of(user), station_id=station_id)
    except PrivateAccessError as exc:
        raise _refused(exc) from None
    return private_json([household_view(r) for r in table.to_dict("records")])


class HouseholdIn(BaseModel):
    """``POST /clients`` body: one household."""

    household_id: str = Field(min_length=1, max_length=100, description="世帯ID（拠点内で一意、例 H-003）")
    station_id: str | None = Field(None, max_length=200, description="拠点ID（CSW は省略可：自分の拠点）")
    label: str | None = Field(None, max_length=100, description="計画や一覧での表示（既定: ID）。氏名は入れないでください")
    name: str | None = Field(None, max_length=200, description="氏名")
    address: str | None = Field(None, max_length=500, description="住所")
    lat: float = Field(description="緯度（世界測地系）")
    lon: float = Field(description="経度（世界測地系）")
    visit_min: float = Field(45, gt=0, le=600, description="訪問時間（分）")
    windows: str | None = Field(None, max_length=200, description="希望時間帯（例 10:00-11:00、複数は「、」区切り）")
    priority: int | str = Field(2, description="優先度 1 高・2 中・3 低")
    notes: str | None = Field(None, max_length=2000, description="メモ")
    is_sample: bool = Field(False, description="サンプルデータ")
    skills: str | list[str] | None = Field(None, description="訪問に必要な資格（例 看護師、複数は「、」区切り。"
                                                            "同じ CSW に続けて訪問してもらうなら 担当:<CSWのID>）")


@router.post("", status_code=201, summary="訪問先を1件登録", dependencies=[allow(*CLIENT_ROLES)])
def add_household(body: HouseholdIn, store: StoreDep, clients: ClientsDep, user: CurrentUser) -> JSONResponse:
    """Register one household of the caller's station (an administrator names the station); an existing id is 409."""
    station = _station_of(user, body.station_id)
    _check_station(store, station)
    raw = pd.DataFrame([{"household_id": body.household_id, "label": body.label, "name": body.name,
                         "address": body.address, "lat": body.lat, "lon": body.lon, "visit_min": body.visit_min,
                         "windows": body.windows, "priority": body.priority, "notes": body.notes,
                         "is_sample": body.is_sample, "skills": body.skills}])
    table = normalise_households(raw, station_id=station, source="POST /clients")
    viewer = viewer_of(user)
    try:
        clients.import_households(viewer, table, station_id=station, only_new=True)
        row = clients.households(viewer, station_id=station, ids=[table["household_id"].iloc[0]])
    except HouseholdExists as exc:
        raise Conflict(exc.reason, hint=exc.hint, en=exc.reason_en, hint_en=exc.hint_en) from None
    except PrivateAccessError as exc:
        raise _refused(exc) from None
    view = household_view(row.to_dict("records")[0])
    return private_json(view, status_code=201, headers={"Location": view["links"]["self"]})


@router.post("/import", summary="訪問先の表（CSV・Excel）を取り込む", dependencies=[allow(*CLIENT_ROLES)])
async def import_households(request: Request, settings: SettingsDep, user: CurrentUser,
                            station_id: str | None = None, filename: str | None = None) -> JSONResponse:
    """Stream a visits file (CSV in UTF-8 or Shift_JIS, or Excel) and add or update its households, all or nothing.

    Send ``multipart/form-data`` with the file in ``file`` (and optionally ``station_id``), or the
    raw file with ``?filename=訪問先.csv``. A CSW imports into their own station; an
    administrator names it. Columns: id, 氏名, 住所, 緯度, 経度, 訪問時間(分), 希望時間帯, 優先度, メモ.
    A problem is reported by row and household id, never by name or address. The upload is
    deleted as soon as it is read.
    """
    from starlette.concurrency import run_in_threadpool

    from api.routers._upload import receive_upload
    from api.uploads import UploadLimits, remove_upload

    store = get_store(request)
    clients = get_clients(request)
    path, original, fields = await receive_upload(request, limit=settings.max_upload_bytes, upload_dir=settings.upload_dir,
                                                  filename=filename, limits=UploadLimits.from_settings(settings))
    try:
        station = _station_of(user, station_id or fields.get("station_id") or None)
        await run_in_threadpool(_check_station, store, station)
        table = await run_in_threadpool(read_households, path, station_id=station, source=original)
        try:
            counts = await run_in_threadpool(clients.import_households, viewer_of(user), table, station_id=station)
        except PrivateAccessError as exc:
            raise _refused(exc) from None
    finally:
        remove_upload(path)  # it holds client data: gone as soon as it is read
    return private_json({"station_id": station, "source": original, **counts,
                         "household_ids": table["household_id"].astype(str).tolist()})


@router.get("/{household_id}", summary="訪問先1件", dependencies=[allow(*CLIENT_ROLES)])
def get_household(household_id: str, clients: ClientsDep, user: CurrentUser) -> JSONResponse:
    """One household; another station's id is the same 404 as an unknown one."""
    try:
        table = clients.households(viewer_of(user), ids=[household_id])
    except PrivateAccessError as exc:
        raise _refused(exc) from None
    if table.empty:
        raise _not_found(household_id)
    return private_json(household_view(table.to_dict("records")[0]))


@router.delete("/{household_id}", summary="訪問先を削除（保存した訪問ルートからも消す）", dependencies=[allow(*CLIENT_ROLES)])
def delete_household(household_id: str, clients: ClientsDep, user: CurrentUser) -> JSONResponse:
    """Delete a household everywhere: its row and its visits in every stored outreach plan (the access log keeps the id)."""
    try:
        gone = clients.delete_households(viewer_of(user), [household_id])
    except PrivateAccessError as exc:
        raise _refused(exc) from None
    if not gone:
        raise _not_found(household_id)
    return private_json({"deleted": household_id})
