"""The private client store: CSW client households (要配慮個人情報), kept apart from the public workspace.

Client households — who a community social worker (CSW) visits, where they live, why — are
sensitive personal information. They never enter the public workspace (tiers, stations,
resources, analysis jobs, maps); they live in a store of their own:

* GeoPackage workspace ``…/tsunagu.gpkg`` → the SQLite file ``…/tsunagu.private.sqlite`` next to
  it, created with file mode 0600 (owner only) and ``secure_delete`` on, so deleted rows are
  overwritten rather than left in free pages;
* PostGIS workspace → the schema ``tsunagu_private`` in the same database (tables
  ``client_households``, ``outreach_plans`` and ``access_log``, created on first use; ``PUBLIC``
  gets no rights on it).

Outreach plans made by the ``outreach`` job (routes naming households, their points) are kept
here too (``outreach_plans``, keyed by a plan id that the public job record carries); the public
job row holds only the station, the number of CSWs and counts.

Every read names a :class:`Viewer`: a CSW sees only the households of their own station, an
administrator all of them, any other role none (:class:`PrivateAccessError`). Every read,
write, delete and refused attempt is recorded in the store's ``access_log`` (who, when, which
household ids — never names or addresses). The service issue maps real accounts onto
:class:`Viewer`; nothing here trusts anything but the viewer it is given.

Deleting a household removes its row here and its every trace in the stored outreach plans (its
visit rows and unfitted entries are taken out, the plan's map and sheets are drawn from what
remains, a failure message naming its label is blanked); public job records never held any of
it. What this store cannot reach: route sheets and maps already written to CSWs' private output
folders (``tsunagu routes outreach --out``) or downloaded, backups or copies of the private file
or schema. The access log keeps household ids — pseudonymous labels chosen by the station, never
names, addresses or coordinates — after deletion, for audit; set a retention period for it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import math
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa

from gis.crs import in_japan
from gis.errors import InputDataError, TsunaguError
from gis.outreach import format_hhmm, format_windows, parse_hhmm, parse_windows  # noqa: F401 - re-exported

#: Schema of the private tables in a PostGIS database.
PRIVATE_SCHEMA = "tsunagu_private"

#: Suffix of the private SQLite file next to a GeoPackage workspace.
PRIVATE_SUFFIX = ".private.sqlite"

#: pg_advisory_xact_lock key so two processes never create the private schema at once.
_CREATE_LOCK = 0x7473756E6167C5

#: SQLAlchemy logs an engine's statements with their parameters (and at DEBUG its result rows)
#: under this logger: for the private store those are names and addresses, so it never emits
#: anything, whatever level the service's logging is set to. The engines also hide parameters
#: in error messages (``hide_parameters``).
ENGINE_LOGGING_NAME = "tsunagu_private"


class _Silent(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:  # noqa: ARG002 - every record is dropped
        return False


logging.getLogger(f"sqlalchemy.engine.Engine.{ENGINE_LOGGING_NAME}").addFilter(_Silent())

#: Marking every private output carries.
SENSITIVE_MARK = "要配慮個人情報・取扱注意"

#: Roles that may read client households (the service issue maps accounts onto them). ``job`` is a
#: route-planning job started by a station's CSW or an administrator: it sees that station only.
ROLES = {"csw": "コミュニティソーシャルワーカー", "admin": "管理者", "job": "ルート計画ジョブ"}

#: Columns of a household table (one row per client household).
HOUSEHOLD_COLUMNS = [
    "household_id",  # stable id, e.g. "H-003"
    "station_id",    # the station whose CSWs visit it
    "label",         # what plans, summaries and error messages show, e.g. 「H-003」
    "name",          # 氏名 (private)
    "address",       # 住所 (private)
    "lon",
    "lat",
    "notes",
    "visit_min",     # visit duration in minutes
    "windows",       # preferred time windows: list of [open_s, close_s] seconds after midnight; [] = any time
    "priority",      # 1 = 高, 2 = 中, 3 = 低
    "is_sample",     # generated sample data
    "skills",        # 資格: what the visiting CSW must have (list of words; 「担当:csw-1」 = continuity)
]

HOUSEHOLD_LABELS = {
    "household_id": "ID",
    "station_id": "拠点ID",
    "label": "訪問先",
    "name": "氏名",
    "address": "住所",
    "lon": "経度",
    "lat": "緯度",
    "notes": "メモ",
    "visit_min": "訪問時間（分）",
    "windows": "希望時間帯",
    "priority": "優先度",
    "is_sample": "サンプルデータ",
    "skills": "資格",
}

#: Accepted column names of a visits file (CSV/Excel) → household column.
FILE_COLUMNS = {
    "id": "household_id", "ID": "household_id", "household_id": "household_id", "世帯ID": "household_id",
    "訪問先": "label", "label": "label", "ラベル": "label",
    "氏名": "name", "名前": "name", "name": "name", "世帯名": "name",
    "住所": "address", "address": "address",
    "緯度": "lat", "lat": "lat", "latitude": "lat",
    "経度": "lon", "lon": "lon", "lng": "lon", "longitude": "lon",
    "訪問時間(分)": "visit_min", "訪問時間（分）": "visit_min", "訪問時間": "visit_min", "visit_min": "visit_min",
    "duration_min": "visit_min",
    "希望時間帯": "windows", "時間帯": "windows", "windows": "windows", "time_window": "windows",
    "優先度": "priority", "priority": "priority",
    "メモ": "notes", "備考": "notes", "notes": "notes",
    "サンプル": "is_sample", "is_sample": "is_sample",
    "資格": "skills", "必要な資格": "skills", "skills": "skills",
}

#: Priority words accepted in files → 1 (高) … 3 (低).
PRIORITY_WORDS = {"高": 1, "中": 2, "低": 3, "a": 1, "b": 2, "c": 3, "high": 1, "medium": 2, "low": 3}
PRIORITY_LABELS = {1: "高", 2: "中", 3: "低"}

DEFAULT_VISIT_MIN = 45
DEFAULT_PRIORITY = 2


class PrivateAccessError(TsunaguError, PermissionError):
    """A viewer who may not see (or change) these client households."""


class HouseholdExists(InputDataError):
    """A household id that is already registered (adding one, not updating)."""


@dataclass(frozen=True)
class Viewer:
    """Who is asking: a user name (for the access log), a role and, for a CSW, their station.

    Parameters
    ----------
    user
        Account or person identifier recorded in the access log.
    role
        ``"csw"`` (sees their station's households), ``"admin"`` (sees all); any other role
        (``"planner"``, ``"viewer"`` …) sees none.
    station_id
        The CSW's station (required for ``role="csw"`` and ``role="job"``).
    """

    user: str
    role: str
    station_id: str | None = None

    def describe(self, *, english: bool = False) -> str:
        """The viewer as named in a message: user and role (the role's code in English)."""
        if english:
            return f"{self.user} ({self.role})"
        return f"{self.user}（{ROLES.get(self.role, self.role)}）"


# --------------------------------------------------------------------------- reading a visits file


def _label(row: pd.Series, n: int) -> str:
    for key in ("label", "household_id"):
        v = row.get(key)
        if v is not None and not (isinstance(v, float) and math.isnan(v)) and str(v).strip():
            return str(v).strip()
    return f"{n}行目"


def normalise_households(df: pd.DataFrame, *, station_id: str, source: str | None = None) -> pd.DataFrame:
    """Check and normalise client households into :data:`HOUSEHOLD_COLUMNS` for ``station_id``.

    Errors name the household by its label (「訪問先 H-003」) and its row, never by name,
    address or coordinates.
    """
    if df is None or len(df) == 0:
        msg = "訪問先が1件もありません"
        raise InputDataError(msg, source=source, hint="id・氏名・住所・緯度・経度・訪問時間(分)・希望時間帯・優先度 の列で1行1世帯",
                             en="the visit list has no households",
                             hint_en="one household a row, with the columns id, 氏名, 住所, 緯度, 経度, 訪問時間(分), 希望時間帯, 優先度")
    df = df.rename(columns={c: FILE_COLUMNS.get(str(c).strip(), FILE_COLUMNS.get(str(c).strip().lower(), str(c)))
                            for c in df.columns})
    missing = [c for c in ("household_id", "lat", "lon") if c not in df.columns]
    if missing:
        names = {"household_id": "id", "lat": "緯度", "lon": "経度"}
        msg = f"訪問先の表に {', '.join(names[c] for c in missing)} の列がありません"
        raise InputDataError(msg, source=source, hint="列: id, 氏名, 住所, 緯度, 経度, 訪問時間(分), 希望時間帯, 優先度",
                             en=f"the visit list has no column {', '.join(names[c] for c in missing)}",
                             hint_en="columns: id, 氏名, 住所, 緯度, 経度, 訪問時間(分), 希望時間帯, 優先度")
    rows = []
    seen: dict[str, int] = {}
    for n, (_, row) in enumerate(df.iterrows(), start=1):
        label = _label(row, n)
        hid = row.get("household_id")
        if hid is None or (isinstance(hid, float) and math.isnan(hid)) or not str(hid).strip():
            msg = f"{n}行目の訪問先に id がありません"
            raise InputDataError(msg, source=source, row=n, hint="世帯ごとに一意の id（例 H-003）を付けてください",
                                 en=f"the household in row {n} has no id",
                                 hint_en="give each household its own id (e.g. H-003)")
        hid = str(hid).strip()
        if isinstance(row.get("household_id"), float) and float(row["household_id"]).is_integer():
            hid = str(int(row["household_id"]))
        if hid in seen:
            msg = f"訪問先 {label} が重複しています（{seen[hid]}行目と{n}行目）"
            raise InputDataError(msg, source=source, row=n, hint="同じ世帯は1行にまとめ、別の世帯には別の id を付けてください",
                                 en=f"household {label} appears twice (rows {seen[hid]} and {n})",
                                 hint_en="put one household on one row and give different households different ids")
        seen[hid] = n
        try:
            lat, lon = float(row.get("lat")), float(row.get("lon"))
        except (TypeError, ValueError):
            lat = lon = float("nan")
        if not (np.isfinite(lat) and np.isfinite(lon)):
            msg = f"訪問先 {label} の緯度・経度がありません、または数値ではありません"
            raise InputDataError(msg, source=source, row=n, hint="世界測地系の10進数の緯度・経度を入れてください",
                                 en=f"household {label} has no latitude/longitude, or they are not numbers",
                                 hint_en="enter WGS84/JGD2011 latitude and longitude in decimal degrees")
        if not in_japan(lon, lat):
            msg = f"訪問先 {label} の座標が日本の範囲外です"
            raise InputDataError(msg, source=source, row=n, hint="緯度と経度が入れ替わっていないか、10進数の度か確かめてください",
                                 en=f"the coordinates of household {label} are outside Japan",
                                 hint_en="check that latitude and longitude are not swapped and are decimal degrees")
        vm = row.get("visit_min", DEFAULT_VISIT_MIN)
        try:
            vm = DEFAULT_VISIT_MIN if vm is None or (isinstance(vm, float) and math.isnan(vm)) or str(vm).strip() == "" else float(vm)
        except (TypeError, ValueError):
            vm = float("nan")
        if not np.isfinite(vm) or vm <= 0:
            msg = f"訪問先 {label} の訪問時間(分)が正の数ではありません"
            raise InputDataError(msg, source=source, row=n, hint="例 45",
                                 en=f"the visit time (minutes) of household {label} is not a positive number",
                                 hint_en="e.g. 45")
        try:
            windows = parse_windows(row.get("windows"))
        except ValueError as exc:
            msg = f"訪問先 {label} の希望時間帯: {exc}"
            raise InputDataError(msg, source=source, row=n,
                                 en=f"preferred time window of household {label}: {getattr(exc, 'english', exc)}") from exc
        for a, b in windows:
            if b <= a:
                msg = f"訪問先 {label} の希望時間帯 {format_windows([(a, b)])} は終わりが始まりより前です"
                raise InputDataError(msg, source=source, row=n, hint="例 10:00-11:00",
                                     en=f"the preferred time window {format_windows([(a, b)])} of household {label} ends before it starts",
                                     hint_en="e.g. 10:00-11:00")
            if b - a < int(round(vm)) * 60:
                msg = f"訪問先 {label} の希望時間帯 {format_windows([(a, b)])} が訪問時間 {int(round(vm))}分より短いです"
                raise InputDataError(msg, source=source, row=n, hint="時間帯を広げるか訪問時間を短くしてください",
                                     en=f"the preferred time window {format_windows([(a, b)])} of household {label} is shorter than its visit time of {round(vm)} minutes",
                                     hint_en="widen the window or shorten the visit")
        pr = row.get("priority", DEFAULT_PRIORITY)
        if pr is None or (isinstance(pr, float) and math.isnan(pr)) or str(pr).strip() == "":
            pr = DEFAULT_PRIORITY
        else:
            word = str(pr).strip().lower()
            if word in PRIORITY_WORDS:
                pr = PRIORITY_WORDS[word]
            else:
                try:
                    pr = float(word)
                except ValueError:
                    pr = float("nan")
                if pr not in (1, 2, 3):
                    msg = f"訪問先 {label} の優先度は 1（高）・2（中）・3（低）のいずれかにしてください"
                    raise InputDataError(msg, source=source, row=n,
                                         en=f"the priority of household {label} must be 1 (high), 2 (medium) or 3 (low)")
        text = {}
        for key in ("name", "address", "notes"):
            v = row.get(key)
            text[key] = None if v is None or (isinstance(v, float) and math.isnan(v)) else str(v).strip()
        sample = row.get("is_sample", False)
        skills = parse_skills(row.get("skills"))
        rows.append({
            "household_id": hid,
            "station_id": str(station_id),
            "label": str(row.get("label")).strip() if "label" in df.columns and _present(row.get("label")) else hid,
            "name": text["name"],
            "address": text["address"],
            "lon": lon,
            "lat": lat,
            "notes": text["notes"],
            "visit_min": int(round(vm)),
            "windows": [list(w) for w in windows],
            "priority": int(pr),
            "is_sample": bool(sample) if _present(sample) and str(sample).strip().lower() not in ("0", "false", "") else False,
            "skills": skills,
        })
    return pd.DataFrame(rows, columns=HOUSEHOLD_COLUMNS)


def parse_skills(value) -> list[str]:
    """``"看護師、担当:csw-1"`` (also , ／ / ;) or a list → ``["看護師", "担当:csw-1"]``; empty → ``[]``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return []
    parts = value if isinstance(value, (list, tuple)) else re.split(r"\s*[,、;／/]\s*", str(value))
    return sorted({str(x).strip() for x in parts if str(x).strip()})


def _present(v) -> bool:
    return v is not None and not (isinstance(v, float) and math.isnan(v)) and str(v).strip() != ""


def read_households(path: str | os.PathLike, *, station_id: str, source: str | None = None) -> pd.DataFrame:
    """Read a visits file (CSV in UTF-8 or Shift_JIS, or Excel) into checked households.

    Columns (Japanese or English): ``id``, ``氏名``/``name``, ``住所``/``address``, ``緯度``,
    ``経度``, ``訪問時間(分)``, ``希望時間帯`` (``10:00-11:00``; several separated by 「、」;
    empty = any time), ``優先度`` (1 高 / 2 中 / 3 低), ``メモ``. ``source`` is the file name
    messages show (default: the file's own name; an upload's temp file is named by the user's).
    Errors name the row and the household's id, never its name, address or coordinates.
    """
    p = Path(path)
    shown = source or p.name
    if not p.is_file():
        msg = f"訪問先のファイル {p} が見つかりません"
        raise InputDataError(msg, hint="CSV または Excel（.xlsx）のファイルを指定してください",
                             en=f"no visit-list file {p}",
                             hint_en="give a CSV or Excel (.xlsx) file")
    suffix = p.suffix.lower()
    try:
        if suffix in (".xlsx", ".xlsm", ".xls"):
            df = pd.read_excel(p, dtype=object)
        elif suffix in (".csv", ".txt", ".tsv"):
            df = None
            for enc in ("utf-8-sig", "cp932"):
                try:
                    df = pd.read_csv(p, dtype=object, encoding=enc, sep="\t" if suffix == ".tsv" else ",")
                    break
                except UnicodeDecodeError:
                    continue
            if df is None:
                msg = "文字コードが UTF-8 でも Shift_JIS でもありません"
                raise InputDataError(msg, source=shown,
                                     en="the text encoding is neither UTF-8 nor Shift_JIS")
        else:
            msg = f"訪問先のファイル形式 {suffix or '（拡張子なし）'} は読めません"
            raise InputDataError(msg, source=shown, hint="CSV または Excel（.xlsx）にしてください",
                                 en=f"cannot read a visit list of file type {suffix or '(no extension)'}",
                                 hint_en="use CSV or Excel (.xlsx)")
    except InputDataError:
        raise
    except Exception as exc:  # noqa: BLE001 - a broken file is the user's data problem, said in words
        msg = f"訪問先のファイルを読めません（{type(exc).__name__}）"
        raise InputDataError(msg, source=shown, hint="CSV（UTF-8 または Shift_JIS）か Excel で保存し直してください",
                             en=f"cannot read the visit-list file ({type(exc).__name__})",
                             hint_en="save it again as CSV (UTF-8 or Shift_JIS) or Excel") from None
    df = df.dropna(how="all")
    return normalise_households(df, station_id=station_id, source=shown)


# --------------------------------------------------------------------------- the store


def _tables(schema: str | None) -> tuple[sa.MetaData, sa.Table, sa.Table, sa.Table]:
    meta = sa.MetaData(schema=schema)
    households = sa.Table(
        "client_households", meta,
        sa.Column("workspace", sa.Text, primary_key=True),
        sa.Column("household_id", sa.Text, primary_key=True),
        sa.Column("station_id", sa.Text, nullable=False, index=True),
        sa.Column("label", sa.Text, nullable=False),
        sa.Column("name", sa.Text),
        sa.Column("address", sa.Text),
        sa.Column("lon", sa.Float, nullable=False),
        sa.Column("lat", sa.Float, nullable=False),
        sa.Column("notes", sa.Text),
        sa.Column("visit_min", sa.Integer, nullable=False),
        sa.Column("windows", sa.JSON, nullable=False),
        sa.Column("priority", sa.Integer, nullable=False),
        sa.Column("is_sample", sa.Boolean, nullable=False, default=False),
        sa.Column("skills", sa.JSON),
        sa.Column("updated_at", sa.DateTime(timezone=True)),
        sa.Column("updated_by", sa.Text),
    )
    log = sa.Table(
        "access_log", meta,
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("workspace", sa.Text, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("user", sa.Text, nullable=False),
        sa.Column("role", sa.Text, nullable=False),
        sa.Column("viewer_station_id", sa.Text),
        sa.Column("action", sa.Text, nullable=False),  # read | write | delete | denied
        sa.Column("station_id", sa.Text),
        sa.Column("household_ids", sa.JSON, nullable=False),
    )
    plans = sa.Table(
        "outreach_plans", meta,
        sa.Column("workspace", sa.Text, primary_key=True),
        sa.Column("plan_id", sa.Text, primary_key=True),
        sa.Column("station_id", sa.Text, nullable=False, index=True),
        sa.Column("status", sa.Text, nullable=False),  # done | failed
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.Text),
        sa.Column("household_ids", sa.JSON, nullable=False),  # every household the plan names
        sa.Column("document", sa.JSON),  # the plan (see api.analyses.outreach.plan_document)
        sa.Column("error", sa.Text),  # why planning failed (names households by label only)
        sa.Column("updated_at", sa.DateTime(timezone=True)),
    )
    return meta, households, log, plans


def private_path(workspace: str | os.PathLike) -> Path:
    """The private SQLite file of a GeoPackage workspace: ``<stem>.private.sqlite`` beside it."""
    p = Path(workspace).expanduser().resolve()
    return p.with_name(p.stem + PRIVATE_SUFFIX)


def _is_url(location: str) -> bool:
    return str(location).startswith(("postgresql://", "postgresql+psycopg://", "postgres://"))


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class ClientStore:
    """Client households of one workspace, with per-station access and an access log.

    Parameters
    ----------
    location
        The *public* workspace location: a ``.gpkg`` path (the private data then goes to
        ``<stem>.private.sqlite`` beside it) or a ``postgresql://`` URL (schema
        ``tsunagu_private`` in that database). A path ending in ``.sqlite`` is used as the
        private file itself.
    workspace
        Workspace name inside a PostGIS database (ignored for files).
    create
        Create the private file / schema when missing; otherwise a missing one is an error.
    """

    def __init__(self, location: str | os.PathLike, *, workspace: str = "default", create: bool = True) -> None:
        self.workspace = workspace
        loc = str(location)
        if _is_url(loc):
            from api.store.postgis import normalise_url

            url = normalise_url(loc)
            self.location = url.render_as_string(hide_password=True) + f" (schema {PRIVATE_SCHEMA})"
            self.path = None
            self._meta, self._households, self._log, self._plans = _tables(PRIVATE_SCHEMA)
            self._engine = sa.create_engine(url, pool_pre_ping=True, hide_parameters=True,
                                            logging_name=ENGINE_LOGGING_NAME)
            try:
                self._ensure_postgres(create)
            except BaseException:
                self._engine.dispose()
                raise
        else:
            path = Path(loc).expanduser()
            self.path = path if path.name.endswith(PRIVATE_SUFFIX) else private_path(path)
            self.location = str(self.path)
            self._meta, self._households, self._log, self._plans = _tables(None)
            if not self.path.exists():
                if not create:
                    msg = f"訪問先の非公開ストア {self.path} がありません"
                    raise InputDataError(msg, hint="訪問先を取り込むと作成されます",
                                         en=f"no private store of client households at {self.path}",
                                         hint_en="it is created when households are imported")
                if not self.path.parent.is_dir():
                    msg = f"フォルダ {self.path.parent} がありません"
                    raise InputDataError(msg,
                                         en=f"no folder {self.path.parent}")
                fd = os.open(self.path, os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o600)
                os.close(fd)
            os.chmod(self.path, 0o600)  # owner only, also when an older copy was wider
            self._engine = sa.create_engine(f"sqlite:///{self.path}", hide_parameters=True,
                                            logging_name=ENGINE_LOGGING_NAME)
            sa.event.listen(self._engine, "connect", _sqlite_pragmas)
            self._meta.create_all(self._engine, checkfirst=True)
            with self._engine.begin() as conn:
                _add_missing_columns(conn, self._households)

    def _ensure_postgres(self, create: bool) -> None:
        wanted = sorted(t.name for t in self._meta.sorted_tables)
        with self._engine.begin() as conn:
            present = {r[0] for r in conn.execute(
                sa.text("SELECT table_name FROM information_schema.tables WHERE table_schema = :s"),
                {"s": PRIVATE_SCHEMA})}
            if set(wanted) <= present:
                _add_missing_columns(conn, self._households)
                return
            if not create and "access_log" not in present:
                msg = f"{self.location} にスキーマ {PRIVATE_SCHEMA} がありません"
                raise InputDataError(msg, hint="訪問先の保存先を一度 create=True で開いてください",
                                     en=f"schema {PRIVATE_SCHEMA} does not exist in {self.location}",
                                     hint_en="open the client store with create=True once")
            # a new schema, or one from before a table was added (outreach_plans): add what is missing
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _CREATE_LOCK})  # one creator at a time
            conn.execute(sa.text(f"CREATE SCHEMA IF NOT EXISTS {PRIVATE_SCHEMA}"))
            conn.execute(sa.text(f"REVOKE ALL ON SCHEMA {PRIVATE_SCHEMA} FROM PUBLIC"))
            self._meta.create_all(conn, checkfirst=True)
            _add_missing_columns(conn, self._households)

    def __repr__(self) -> str:
        return f"ClientStore({self.location!r})"

    def close(self) -> None:
        """Close connections."""
        self._engine.dispose()

    def __enter__(self) -> ClientStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------------ access

    def _allowed_station(self, viewer: Viewer, station_id: str | None) -> str | None:
        """The station the viewer may see (None = all for an admin); raises for anything else."""
        if not isinstance(viewer, Viewer):
            msg = "訪問先を読むには閲覧者（役割と拠点）の指定が必要です"
            raise PrivateAccessError(msg,
                                     en="reading client households needs a viewer (role and station)")
        if viewer.role == "admin":
            return station_id
        if viewer.role in ("csw", "job") and viewer.station_id:
            if station_id is None or str(station_id) == str(viewer.station_id):
                return str(viewer.station_id)
            msg = (f"拠点 {station_id} の訪問先は、その拠点の CSW と管理者だけが扱えます"
                   f"（{viewer.describe()}、所属 {viewer.station_id}）")
            raise PrivateAccessError(msg,
                                     en=f"the households of station {station_id} are for that station's CSWs and admins only ({viewer.describe(english=True)}, station {viewer.station_id})")
        if viewer.role in ("csw", "job"):
            msg = f"{viewer.describe()} に所属拠点が設定されていないため、訪問先を扱えません"
            raise PrivateAccessError(msg,
                                     en=f"{viewer.describe(english=True)} has no station, so may not handle client households")
        msg = f"役割 {viewer.role!r} では訪問先（要配慮個人情報）を扱えません（CSW と管理者のみ）"
        raise PrivateAccessError(msg,
                                 en=f"role {viewer.role!r} may not handle client households (sensitive personal data; CSWs and admins only)")

    @contextlib.contextmanager
    def _guard(self, viewer: Viewer, station_id: str | None, action: str) -> Iterator[str | None]:
        try:
            allowed = self._allowed_station(viewer, station_id)
        except PrivateAccessError:
            self._record(viewer, "denied", station_id, [], detail=action)
            raise
        yield allowed

    def _record(self, viewer, action: str, station_id, ids: Iterable[str], *, detail: str | None = None, conn=None) -> None:
        row = {
            "workspace": self.workspace,
            "at": _now(),
            "user": str(getattr(viewer, "user", "?")),
            "role": str(getattr(viewer, "role", "?")),
            "viewer_station_id": getattr(viewer, "station_id", None),
            "action": f"{action}:{detail}" if detail else action,
            "station_id": None if station_id is None else str(station_id),
            "household_ids": sorted(str(i) for i in ids),
        }
        if conn is not None:
            conn.execute(self._log.insert().values(**row))
        else:
            with self._engine.begin() as c:
                c.execute(self._log.insert().values(**row))

    def check_access(self, viewer: Viewer, station_id: str | None) -> None:
        """Raise :class:`PrivateAccessError` (and record the refusal) unless ``viewer`` may use ``station_id``'s households."""
        with self._guard(viewer, station_id, "check"):
            pass

    # ------------------------------------------------------------------ reads

    def households(self, viewer: Viewer, *, station_id: str | None = None, ids: Iterable[str] | None = None) -> pd.DataFrame:
        """Client households the viewer may see (recorded in the access log).

        Parameters
        ----------
        viewer
            Who reads. A CSW gets their own station's households (asking for another station
            raises :class:`PrivateAccessError`); an admin gets ``station_id``'s or all.
        station_id
            Restrict to one station.
        ids
            Restrict to these household ids (ids of other stations are simply not returned).

        Returns
        -------
        DataFrame
            :data:`HOUSEHOLD_COLUMNS`, ordered by station and id.
        """
        with self._guard(viewer, station_id, "read") as allowed:
            h = self._households
            q = sa.select(*[h.c[c] for c in HOUSEHOLD_COLUMNS]).where(h.c.workspace == self.workspace)
            if allowed is not None:
                q = q.where(h.c.station_id == allowed)
            if ids is not None:
                q = q.where(h.c.household_id.in_([str(i) for i in ids]))
            q = q.order_by(h.c.station_id, h.c.household_id)
            with self._engine.begin() as conn:
                rows = [dict(r._mapping) for r in conn.execute(q)]
                self._record(viewer, "read", allowed, [r["household_id"] for r in rows], conn=conn)
        out = pd.DataFrame(rows, columns=HOUSEHOLD_COLUMNS)
        out.attrs["labels"] = HOUSEHOLD_LABELS
        out.attrs["marking"] = SENSITIVE_MARK
        return out

    def access_log(self, viewer: Viewer, *, limit: int = 1000) -> list[dict]:
        """The latest access-log entries, newest first (administrators only)."""
        if not isinstance(viewer, Viewer) or viewer.role != "admin":
            self._record(viewer, "denied", None, [], detail="access_log")
            msg = "アクセス記録は管理者だけが閲覧できます"
            raise PrivateAccessError(msg,
                                     en="only admins may read the access log")
        lg = self._log
        q = sa.select(lg).where(lg.c.workspace == self.workspace).order_by(lg.c.id.desc()).limit(int(limit))
        with self._engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(q)]

    # ------------------------------------------------------------------ writes

    def import_households(self, viewer: Viewer, households: pd.DataFrame, *, station_id: str,
                          only_new: bool = False) -> dict:
        """Add or update households of ``station_id`` (by ``household_id``), all or nothing.

        ``households`` is a raw table (file columns) or one from :func:`normalise_households`.
        A household id that belongs to another station is refused (it is not moved silently);
        with ``only_new`` an id already registered at all is refused (:class:`HouseholdExists`).

        Returns
        -------
        dict
            ``{"added": n, "updated": n}``.
        """
        with self._guard(viewer, station_id, "write") as allowed:
            station = allowed if allowed is not None else station_id
            if station is None:
                msg = "取り込む訪問先の拠点（station_id）を指定してください"
                raise InputDataError(msg,
                                     en="give the station (station_id) of the households to import")
            df = households if list(households.columns) == HOUSEHOLD_COLUMNS else normalise_households(households, station_id=station)
            df = df.assign(station_id=str(station))
            h = self._households
            ids = df["household_id"].astype(str).tolist()
            added = updated = 0
            with self._engine.begin() as conn:
                existing = {r.household_id: r.station_id for r in conn.execute(
                    sa.select(h.c.household_id, h.c.station_id)
                    .where(h.c.workspace == self.workspace, h.c.household_id.in_(ids)))}
                for hid, st in existing.items():
                    if only_new:
                        label = df.loc[df["household_id"] == hid, "label"].iloc[0]
                        msg = f"訪問先 {label} の id は登録済みです"
                        raise HouseholdExists(msg, hint="別の id を付けてください（変更は取り込み POST /clients/import で）",
                                              en=f"household {label} is already registered",
                                              hint_en="give another id (change households with the import, POST /clients/import)")
                    if st != str(station):
                        label = df.loc[df["household_id"] == hid, "label"].iloc[0]
                        msg = f"訪問先 {label} の id は別の拠点で登録済みです"
                        raise InputDataError(msg, hint="別の id を付けるか、管理者に拠点の変更を依頼してください",
                                             en=f"household {label} is already registered at another station",
                                             hint_en="give another id, or ask an admin to move the household to your station")
                now = _now()
                for rec in df.to_dict("records"):
                    values = {**{k: _plain(rec[k]) for k in HOUSEHOLD_COLUMNS}, "workspace": self.workspace,
                              "updated_at": now, "updated_by": viewer.user}
                    if rec["household_id"] in existing:
                        conn.execute(h.update().where(h.c.workspace == self.workspace,
                                                      h.c.household_id == rec["household_id"]).values(**values))
                        updated += 1
                    else:
                        conn.execute(h.insert().values(**values))
                        added += 1
                self._record(viewer, "write", station, ids, conn=conn)
        return {"added": added, "updated": updated}

    def delete_households(self, viewer: Viewer, ids: Iterable[str]) -> int:
        """Delete households by id (only the viewer's station's for a CSW) everywhere; returns how many went.

        In one transaction: the rows go from the household table (SQLite overwrites them:
        ``secure_delete``) and every stored outreach plan that named them is rewritten without
        them (:func:`scrub_plan_document`). The access log keeps the ids (pseudonymous). Route
        sheets already written to private output folders or downloaded are not reachable from
        here: see the module docstring.
        """
        ids = [str(i) for i in ids]
        with self._guard(viewer, viewer.station_id if viewer.role in ("csw", "job") else None, "delete") as allowed:
            h = self._households
            cond = [h.c.workspace == self.workspace, h.c.household_id.in_(ids)]
            if allowed is not None:
                cond.append(h.c.station_id == allowed)
            with self._engine.begin() as conn:
                found = {r.household_id: r.label for r in conn.execute(
                    sa.select(h.c.household_id, h.c.label).where(*cond))}
                conn.execute(h.delete().where(*cond))
                if found:
                    self._scrub_plans(conn, found)
                self._record(viewer, "delete", allowed, list(found), conn=conn)
        return len(found)

    def _scrub_plans(self, conn, gone: dict[str, str]) -> int:
        """Rewrite every plan naming a household of ``gone`` (id → label) without it; returns plans changed."""
        p = self._plans
        rows = conn.execute(sa.select(p.c.plan_id, p.c.household_ids, p.c.document, p.c.error)
                            .where(p.c.workspace == self.workspace)).fetchall()
        changed = 0
        for row in rows:
            named = [str(i) for i in (row.household_ids or [])]
            hit = set(named) & set(gone)
            if not hit:
                continue
            values = {"household_ids": [i for i in named if i not in hit], "updated_at": _now()}
            if row.document is not None:
                values["document"] = scrub_plan_document(row.document, hit)
            if row.error and any(_names_label(row.error, gone[i]) for i in hit):
                values["error"] = ERROR_REDACTED
            conn.execute(p.update().where(p.c.workspace == self.workspace, p.c.plan_id == row.plan_id).values(**values))
            changed += 1
        return changed

    # ------------------------------------------------------------------ aggregates

    def count_by_area(self, viewer: Viewer, areas) -> tuple[pd.Series, int]:
        """Client households per area (all stations): the counts only, never a household.

        Any role may ask (the caller publishes the counts only after small-cell suppression,
        :mod:`gis.disclosure`); the read is logged as ``aggregate`` with the household ids.

        Parameters
        ----------
        viewer
            Who asks (any role).
        areas
            GeoDataFrame of non-overlapping areas with ``area_id`` (any CRS).

        Returns
        -------
        (Series, int)
            Households per ``area_id`` (every area, 0 included; a household on a shared border
            counts once) and the number of households in none of the areas.
        """
        import geopandas as gpd

        h = self._households
        q = (sa.select(h.c.household_id, h.c.lon, h.c.lat).where(h.c.workspace == self.workspace)
             .order_by(h.c.household_id))
        with self._engine.begin() as conn:
            rows = conn.execute(q).fetchall()
            self._record(viewer, "aggregate", None, [r.household_id for r in rows], detail="count_by_area", conn=conn)
        zones = areas[["area_id", "geometry"]].to_crs("EPSG:4326").reset_index(drop=True)
        counts = pd.Series(0, index=zones["area_id"].astype(str).tolist(), dtype="int64")
        if not rows:
            return counts, 0
        points = gpd.GeoDataFrame({"household_id": [r.household_id for r in rows]},
                                  geometry=gpd.points_from_xy([r.lon for r in rows], [r.lat for r in rows]),
                                  crs="EPSG:4326")
        hits = gpd.sjoin(points, zones, how="left", predicate="intersects")
        hits = hits[~hits.index.duplicated(keep="first")]  # a point on a shared border: its first area
        inside = hits["area_id"].dropna().astype(str).value_counts()
        counts = counts.add(inside, fill_value=0).astype("int64").reindex(counts.index)
        return counts, int(hits["area_id"].isna().sum())

    # ------------------------------------------------------------------ outreach plans

    def save_outreach_plan(self, viewer: Viewer, *, plan_id: str, station_id: str, document: dict | None,
                           household_ids: Iterable[str], error: str | None = None, created_by: str | None = None) -> None:
        """Store an outreach plan (``document``) or, with ``error``, why planning failed; replaces ``plan_id``."""
        with self._guard(viewer, station_id, "write_plan") as allowed:
            station = allowed if allowed is not None else str(station_id)
            ids = sorted({str(i) for i in household_ids})
            p = self._plans
            values = {"workspace": self.workspace, "plan_id": str(plan_id), "station_id": station,
                      "status": "failed" if error is not None else "done", "created_at": _now(),
                      "created_by": created_by or viewer.user, "household_ids": ids, "document": document,
                      "error": error, "updated_at": None}
            with self._engine.begin() as conn:
                conn.execute(p.delete().where(p.c.workspace == self.workspace, p.c.plan_id == str(plan_id)))
                conn.execute(p.insert().values(**values))
                self._record(viewer, "write", station, ids, detail=f"plan {plan_id}", conn=conn)

    def outreach_plan(self, viewer: Viewer, plan_id: str) -> dict | None:
        """One stored plan (None when there is none the viewer may see); logged with the household ids it names.

        Returns
        -------
        dict or None
            ``plan_id``, ``station_id``, ``status`` (done | failed), ``created_at``,
            ``created_by``, ``household_ids``, ``document`` and ``error``.
        """
        with self._guard(viewer, None, "read_plan") as allowed:
            p = self._plans
            cond = [p.c.workspace == self.workspace, p.c.plan_id == str(plan_id)]
            if allowed is not None:
                cond.append(p.c.station_id == allowed)
            with self._engine.begin() as conn:
                row = conn.execute(sa.select(p).where(*cond)).first()
                ids = list(row.household_ids or []) if row is not None else []
                self._record(viewer, "read", allowed, ids, detail=f"plan {plan_id}", conn=conn)
        if row is None:
            return None
        out = dict(row._mapping)
        out.pop("workspace", None)
        return out

    def outreach_plan_index(self, viewer: Viewer, *, station_id: str | None = None) -> list[dict]:
        """Plans the viewer may see, newest first: ids, station, status, time and counts only (no households)."""
        with self._guard(viewer, station_id, "list_plans") as allowed:
            p = self._plans
            q = sa.select(p.c.plan_id, p.c.station_id, p.c.status, p.c.created_at, p.c.created_by,
                          p.c.household_ids).where(p.c.workspace == self.workspace)
            if allowed is not None:
                q = q.where(p.c.station_id == allowed)
            with self._engine.connect() as conn:
                rows = conn.execute(q.order_by(p.c.created_at.desc())).fetchall()
        return [{"plan_id": r.plan_id, "station_id": r.station_id, "status": r.status, "created_at": r.created_at,
                 "created_by": r.created_by, "households": len(r.household_ids or [])} for r in rows]


#: What replaces a stored failure message that named a deleted household.
ERROR_REDACTED = "（削除された訪問先に関する内容のため、エラーの詳細を消去しました）"


def _names_label(text: str, label: str) -> bool:
    """True when ``text`` names ``label`` as a whole word (「S-1」 is not in 「S-10」)."""
    import re

    return re.search(rf"(?<![0-9A-Za-z_-]){re.escape(str(label))}(?![0-9A-Za-z_-])", str(text)) is not None


def scrub_plan_document(document: dict, household_ids: Iterable[str]) -> dict:
    """A plan document without the given households: their visits and unfitted entries taken out.

    The remaining visits keep their planned times (nothing is re-planned); ``removed`` counts
    what was taken out over the plan's life and a note says so.
    """
    gone = {str(i) for i in household_ids}
    doc = dict(document)
    removed = 0
    csws = []
    for c in doc.get("csws", []):
        keep = [v for v in c.get("visits", []) if str(v.get("household_id")) not in gone]
        removed += len(c.get("visits", [])) - len(keep)
        csws.append({**c, "visits": keep})
    doc["csws"] = csws
    unfitted = [u for u in doc.get("unfitted", []) if str(u.get("household_id")) not in gone]
    removed += len(doc.get("unfitted", [])) - len(unfitted)
    doc["unfitted"] = unfitted
    if removed:
        doc["removed"] = int(doc.get("removed", 0)) + removed
        note = "削除された訪問先を計画から除きました（残りの訪問の時刻は計画時のまま）"
        doc["notes"] = [*[n for n in doc.get("notes", []) if n != note], note]
    return doc


#: Household columns added after the first release: (name, SQL type), added to older stores on open.
_LATER_COLUMNS = (("skills", "JSON"),)


def _add_missing_columns(conn, table: sa.Table) -> None:
    """Add columns newer than a store (e.g. ``skills``) to its household table, keeping its rows."""
    have = {c["name"] for c in sa.inspect(conn).get_columns(table.name, schema=table.schema)}
    for name, sql_type in _LATER_COLUMNS:
        if name not in have:
            full = f"{table.schema}.{table.name}" if table.schema else table.name
            conn.execute(sa.text(f"ALTER TABLE {full} ADD COLUMN {name} {sql_type}"))


def _plain(v):
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, float) and math.isnan(v):
        return None
    return v


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA secure_delete = ON")
    cur.close()


def open_client_store(location: str | os.PathLike, *, workspace: str = "default", create: bool = True) -> ClientStore:
    """Open the private client store that belongs to the workspace at ``location``."""
    return ClientStore(location, workspace=workspace, create=create)


def client_store_for(store, *, create: bool = True) -> ClientStore:
    """The private client store that belongs to an open public store (GeoPackage or PostGIS).

    A GeoPackage store's private file sits beside it; a PostGIS store's households are in the
    schema ``tsunagu_private`` of the same database, under the same workspace name.
    """
    url = getattr(store, "url", None)
    if url is not None and hasattr(url, "render_as_string"):
        return ClientStore(url.render_as_string(hide_password=False), workspace=store.workspace_name, create=create)
    path = getattr(store, "path", None)
    if path is None:
        msg = f"{store!r} には訪問先（個人情報）の保存先を置く場所がありません"
        raise InputDataError(msg, en=f"{store!r} has no location a private client store can sit beside")
    return ClientStore(path, create=create)
