"""The server store: workspaces in a PostgreSQL/PostGIS database (several cities in one database)."""

from __future__ import annotations

import contextlib
import datetime as _dt
from collections.abc import Callable, Collection, Iterator
from pathlib import Path

import geopandas as gpd
import pandas as pd
import shapely
import sqlalchemy as sa
from geoalchemy2 import Geometry
from geoalchemy2.shape import from_shape
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.engine import URL, Connection, Engine, make_url

from api.store import _jobs, _json
from api.store._checks import (
    check_kinds,
    check_mapping,
    check_new_ids,
    check_points,
    check_resource_changes,
    check_workspace,
)
from api.store.base import JobStateError, Store, StoreError, StoreWriter, WorkspaceNotInitialised
from gis.crs import STORAGE_CRS
from gis.errors import InputDataError
from gis.schema import (
    AREA_COLUMNS,
    POPULATION_COLUMNS,
    RESOURCE_COLUMNS,
    STATION_COLUMNS,
    coerce_areas,
    coerce_resources,
    coerce_stations,
)
from gis.tiers import CityProfile

#: Folder of the Alembic environment and revisions.
MIGRATIONS = Path(__file__).with_name("migrations")

_VERSION_TABLE = "tsunagu_alembic_version"
#: pg_advisory_xact_lock key so two processes never migrate at once ("tsunagu" in ASCII).
_MIGRATION_LOCK = 0x7473756E616775

_meta = sa.MetaData()
_workspaces = sa.Table(
    "workspaces", _meta,
    sa.Column("name", sa.Text, primary_key=True),
    sa.Column("city_code", sa.Text),
    sa.Column("city_name", sa.Text),
    sa.Column("profile", JSONB),
    sa.Column("updated_at", sa.TIMESTAMP(timezone=True)),
)
_areas = sa.Table(
    "areas", _meta,
    sa.Column("seq", sa.BigInteger),
    sa.Column("workspace", sa.Text),
    *[sa.Column(c, sa.BigInteger if c in POPULATION_COLUMNS else sa.Text) for c in AREA_COLUMNS if c != "geometry"],
    sa.Column("geom", Geometry("MULTIPOLYGON", srid=4326, spatial_index=False)),
)
_stations = sa.Table(
    "stations", _meta,
    sa.Column("seq", sa.BigInteger),
    sa.Column("workspace", sa.Text),
    *[sa.Column(c, JSONB if c == "area_ids" else sa.Boolean if c == "is_sample" else sa.Text)
      for c in STATION_COLUMNS if c != "geometry"],
    sa.Column("geom", Geometry("POINT", srid=4326, spatial_index=False)),
)
_resources = sa.Table(
    "resources", _meta,
    sa.Column("seq", sa.BigInteger),
    sa.Column("workspace", sa.Text),
    *[sa.Column(c, JSONB if c == "attributes" else sa.Boolean if c == "is_sample" else sa.Text)
      for c in RESOURCE_COLUMNS if c != "geometry"],
    sa.Column("geom", Geometry("POINT", srid=4326, spatial_index=False)),
)
_nesting = sa.Table(
    "nesting_reports", _meta,
    sa.Column("workspace", sa.Text, primary_key=True),
    sa.Column("report", JSONB),
    sa.Column("updated_at", sa.TIMESTAMP(timezone=True)),
)
_import_log = sa.Table(
    "import_log", _meta,
    sa.Column("id", sa.BigInteger, primary_key=True),
    sa.Column("workspace", sa.Text),
    sa.Column("record", JSONB),
)

_jobs_t = sa.Table(
    "jobs", _meta,
    sa.Column("job_id", UUID(as_uuid=False), primary_key=True),
    sa.Column("seq", sa.BigInteger),
    sa.Column("workspace", sa.Text),
    sa.Column("analysis", sa.Text),
    sa.Column("params", JSONB),
    sa.Column("status", sa.Text),
    sa.Column("progress", sa.Float),
    sa.Column("message", sa.Text),
    sa.Column("created_by", sa.Text),
    sa.Column("created_at", sa.TIMESTAMP(timezone=True)),
    sa.Column("started_at", sa.TIMESTAMP(timezone=True)),
    sa.Column("finished_at", sa.TIMESTAMP(timezone=True)),
    sa.Column("data_version", sa.Text),
    sa.Column("summary", JSONB),
    sa.Column("notes", JSONB),
    sa.Column("error", sa.Text),
    sa.Column("table_names", JSONB),
    sa.Column("map_html", sa.LargeBinary),
    sa.Column("worker_id", sa.Text),
    sa.Column("attempts", sa.Integer),
    sa.Column("heartbeat_at", sa.TIMESTAMP(timezone=True)),
    sa.Column("lease_until", sa.TIMESTAMP(timezone=True)),
    sa.Column("cancel_requested", sa.Boolean),
)
_job_tables = sa.Table(
    "job_tables", _meta,
    sa.Column("job_id", UUID(as_uuid=False)),
    sa.Column("position", sa.Integer),
    sa.Column("name", sa.Text),
    sa.Column("data", JSONB),
)

_scenarios_t = sa.Table(
    "scenarios", _meta,
    sa.Column("workspace", sa.Text, primary_key=True),
    sa.Column("name", sa.Text, primary_key=True),
    sa.Column("record", JSONB),
    sa.Column("updated_at", sa.TIMESTAMP(timezone=True)),
)

_FEATURES = {
    "areas": (_areas, AREA_COLUMNS, coerce_areas),
    "stations": (_stations, STATION_COLUMNS, coerce_stations),
    "resources": (_resources, RESOURCE_COLUMNS, coerce_resources),
}


def normalise_url(url: str | URL) -> URL:
    """Return ``url`` as a SQLAlchemy URL using the psycopg 3 driver.

    Accepts ``postgresql://``, ``postgres://`` and ``postgresql+psycopg://``; any other
    scheme is a :class:`StoreError`.
    """
    text = url.render_as_string(hide_password=False) if isinstance(url, URL) else str(url)
    for prefix in ("postgresql://", "postgres://"):
        if text.startswith(prefix):
            text = "postgresql+psycopg://" + text[len(prefix):]
    if not text.startswith("postgresql+psycopg://"):
        scheme = text.split("://", 1)[0]
        msg = f"データベース URL の形式 {scheme!r} には対応していません。postgresql://user@host:5432/dbname の形にしてください"
        en = f"unsupported database URL scheme {scheme!r}; use postgresql://user@host:5432/dbname"
        raise StoreError(msg, en=en)
    try:
        return make_url(text)
    except sa.exc.ArgumentError as exc:
        msg = f"データベース URL を読めません（{exc}）。postgresql://user:password@host:5432/dbname の形にしてください"
        en = f"cannot read the database URL ({exc}); use postgresql://user:password@host:5432/dbname"
        raise StoreError(msg, en=en) from exc


class PostGISStore(Store):
    """A Tsunagu workspace in a PostgreSQL database with PostGIS.

    Every table carries a ``workspace`` column, so one database holds several cities.
    One :meth:`transaction` is one SQL transaction; each writer method additionally runs
    in a savepoint, so a method that raises writes nothing even if the caller goes on.

    Parameters
    ----------
    url
        ``postgresql://`` or ``postgresql+psycopg://`` URL (the psycopg 3 driver is used).
    workspace
        Name of the workspace (city) inside the database.
    create
        Create the schema (Alembic ``upgrade head``, and the ``postgis`` extension when
        allowed) if needed; otherwise a database without the current schema is a
        :class:`StoreError`.
    """

    def __init__(self, url: str | URL, *, workspace: str = "default", create: bool = True) -> None:
        if not isinstance(workspace, str) or not workspace.strip() or len(workspace) > 200:
            msg = f"ワークスペース名 {workspace!r} は 1〜200 文字の文字列にしてください"
            en = f"workspace name {workspace!r} must be a non-empty string of at most 200 characters"
            raise StoreError(msg, en=en)
        self.url = normalise_url(url)
        self.location = self.url.render_as_string(hide_password=True)
        self.workspace_name = workspace
        self._engine: Engine = sa.create_engine(self.url, json_serializer=_json.dumps, pool_pre_ping=True)
        try:
            with self._engine.begin() as conn:
                if create:
                    _migrate(conn)
                else:
                    _check_schema(conn, self.location)
        except sa.exc.OperationalError as exc:
            self._engine.dispose()
            msg = f"{self.location} に接続できません: {str(exc.orig).strip()}。URL と PostgreSQL が動いているかを確かめてください"
            en = f"cannot connect to {self.location}: {str(exc.orig).strip()}; check the URL and that PostgreSQL runs"
            raise StoreError(msg, en=en) from exc
        except BaseException:
            self._engine.dispose()
            raise

    def __repr__(self) -> str:
        return f"PostGISStore({self.location!r}, workspace={self.workspace_name!r})"

    def close(self) -> None:
        """Close the connection pool."""
        self._engine.dispose()

    # ------------------------------------------------------------------ reading

    def workspace(self) -> dict:
        """Return ``{"city_code", "city_name", "profile": CityProfile}`` (see :class:`Store`)."""
        with self._engine.connect() as conn:
            row = conn.execute(
                sa.select(_workspaces.c.city_code, _workspaces.c.city_name, _workspaces.c.profile)
                .where(_workspaces.c.name == self.workspace_name)
            ).first()
        if row is None or row.profile is None:
            msg = f"{self.location} のワークスペース {self.workspace_name!r} にはまだ市区町村がありません。先に tsunagu demo か取り込みをしてください"
            en = (f"workspace {self.workspace_name!r} in {self.location} has no city yet: "
                  "run `tsunagu demo` or an import first")
            raise WorkspaceNotInitialised(msg, en=en)
        return {"city_code": row.city_code, "city_name": row.city_name, "profile": CityProfile.from_dict(row.profile)}

    def areas(self, *, level: str | None = None) -> gpd.GeoDataFrame:
        """Areas (all levels, or one level), columns :data:`gis.schema.AREA_COLUMNS`."""
        where = [] if level is None else [_areas.c.level == str(level)]
        return self._read("areas", where)

    def stations(self) -> gpd.GeoDataFrame:
        """Stations, columns :data:`gis.schema.STATION_COLUMNS`."""
        return self._read("stations", [])

    def resources(self, *, kinds: list[str] | None = None) -> gpd.GeoDataFrame:
        """Resources (optionally only of ``kinds``), columns :data:`gis.schema.RESOURCE_COLUMNS`."""
        where = [] if kinds is None else [_resources.c.kind == sa.any_(_text_array([str(k) for k in kinds]))]
        return self._read("resources", where)

    def nesting_report(self) -> dict | None:
        """The latest nesting report, or None."""
        with self._engine.connect() as conn:
            return conn.execute(
                sa.select(_nesting.c.report).where(_nesting.c.workspace == self.workspace_name)
            ).scalar_one_or_none()

    def import_log(self) -> list[dict]:
        """Import records, oldest first."""
        with self._engine.connect() as conn:
            return list(conn.execute(
                sa.select(_import_log.c.record)
                .where(_import_log.c.workspace == self.workspace_name)
                .order_by(_import_log.c.id)
            ).scalars())

    # ------------------------------------------------------------------ scenarios

    def scenarios(self) -> list[dict]:
        """Every saved scenario of this workspace, by name."""
        with self._engine.connect() as conn:
            return list(conn.execute(
                sa.select(_scenarios_t.c.record).where(_scenarios_t.c.workspace == self.workspace_name)
                .order_by(_scenarios_t.c.name)).scalars())

    def save_scenario(self, record: dict, *, replace: bool = False) -> dict:
        """Save a scenario record (see :class:`Store`)."""
        check_mapping(record, "scenario")
        name = str(record["name"])
        now = _dt.datetime.now(_dt.timezone.utc)
        record = {**record, "updated_at": _jobs.iso(now)}
        values = {"workspace": self.workspace_name, "name": name, "record": record, "updated_at": now}
        try:
            with self._engine.begin() as conn:
                found = conn.execute(sa.select(sa.literal(1)).where(
                    _scenarios_t.c.workspace == self.workspace_name, _scenarios_t.c.name == name)
                    .with_for_update()).first()
                if found and not replace:
                    raise StoreError(f"シナリオ「{name}」はすでにあります（置き換えるときは replace を指定してください）",
                                     en=f"scenario {name!r} already exists (give replace to replace it)")
                stmt = pg_insert(_scenarios_t).values(**values)
                conn.execute(stmt.on_conflict_do_update(index_elements=["workspace", "name"],
                                                        set_={"record": stmt.excluded.record,
                                                              "updated_at": stmt.excluded.updated_at}))
        except sa.exc.IntegrityError as exc:
            raise StoreError("ワークスペースがまだありません。先に取り込み（tsunagu demo など）をしてください",
                             en="there is no workspace yet: import first (tsunagu demo or another import)") from exc
        return record

    def delete_scenario(self, name: str) -> bool:
        """Delete a scenario (see :class:`Store`)."""
        with self._engine.begin() as conn:
            n = conn.execute(sa.delete(_scenarios_t).where(
                _scenarios_t.c.workspace == self.workspace_name, _scenarios_t.c.name == str(name))).rowcount
        return bool(n)

    def _read(self, name: str, where: list) -> gpd.GeoDataFrame:
        table, columns, coerce = _FEATURES[name]
        attrs = [c for c in columns if c != "geometry"]
        query = (
            sa.select(*[table.c[c] for c in attrs], sa.func.ST_AsBinary(table.c.geom).label("wkb"))
            .where(table.c.workspace == self.workspace_name, *where)
            .order_by(table.c.seq)
        )
        with self._engine.connect() as conn:
            rows = conn.execute(query).all()
        data = {c: pd.Series([row[i] for row in rows], dtype=object) for i, c in enumerate(attrs)}
        wkb = [None if row.wkb is None else bytes(row.wkb) for row in rows]
        geometry = gpd.GeoSeries(shapely.from_wkb(wkb) if wkb else [], crs=STORAGE_CRS)
        return coerce(gpd.GeoDataFrame(data, geometry=geometry.values, crs=STORAGE_CRS))

    # ------------------------------------------------------------------ writing

    @contextlib.contextmanager
    def transaction(self) -> Iterator[StoreWriter]:
        """Open one SQL transaction; it commits on normal exit and rolls back on an exception."""
        with self._engine.begin() as conn:
            yield _PostGISWriter(conn, self.workspace_name)

    # ------------------------------------------------------------------ analysis jobs

    job_progress_interval = 1.0

    def create_job(self, *, analysis: str, params: dict, created_by: str, data_version: str,
                   job_id: str | None = None) -> dict:
        """Create a queued job and return its record (see :class:`Store`)."""
        job_id = _jobs.new_job_id(job_id)
        with self._engine.begin() as conn:
            conn.execute(pg_insert(_workspaces).values(name=self.workspace_name).on_conflict_do_nothing())
            try:
                with conn.begin_nested():
                    conn.execute(sa.insert(_jobs_t).values(
                        job_id=job_id, workspace=self.workspace_name, analysis=str(analysis),
                        params=_json.normalise(params), status="queued", progress=0.0, message="",
                        created_by=str(created_by), created_at=sa.func.clock_timestamp(),
                        data_version=str(data_version), notes=[], table_names=[]))
            except sa.exc.IntegrityError as exc:
                msg = f"ジョブ {job_id} はすでにあります"
                en = f"job {job_id} already exists"
                raise JobStateError(msg, en=en) from exc
        return self.get_job(job_id)

    def claim_job(self, *, worker_id: str, lease_s: float, analyses: Collection[str] | None = None,
                  job_id: str | None = None) -> dict | None:
        """Claim the oldest queued job with ``SELECT … FOR UPDATE SKIP LOCKED`` (see :class:`Store`)."""
        lease_s = _jobs.check_lease(lease_s)
        c = _jobs_t.c
        where = [c.workspace == self.workspace_name, c.status == "queued"]
        if job_id is not None:
            where.append(c.job_id == _jobs.check_job_id(job_id))
        if analyses is not None:
            where.append(c.analysis == sa.any_(_text_array(sorted(analyses))))
        with self._engine.begin() as conn:
            row = conn.execute(
                sa.select(c.job_id, *[c[f] for f in _jobs.ROW_FIELDS]).where(*where)
                .order_by(c.created_at, c.seq).limit(1).with_for_update(skip_locked=True)
            ).mappings().first()
            if row is None:
                return None
            changes = _jobs.plan_claim(dict(row), worker_id=worker_id, lease_s=lease_s)
            conn.execute(sa.update(_jobs_t).where(c.job_id == row["job_id"]).values(**_sql_times(changes)))
        return self.get_job(str(row["job_id"]))

    def reap_expired_jobs(self, *, max_attempts: int) -> list[dict]:
        """Re-queue or fail running jobs whose lease ran out (rows locked with SKIP LOCKED; see :class:`Store`)."""
        c = _jobs_t.c
        with self._engine.begin() as conn:
            rows = conn.execute(
                sa.select(c.job_id, *[c[f] for f in _jobs.ROW_FIELDS])
                .where(c.workspace == self.workspace_name, c.status == "running",
                       c.lease_until < sa.func.clock_timestamp())
                .order_by(c.lease_until).with_for_update(skip_locked=True)
            ).mappings().all()
            for row in rows:
                changes = _jobs.plan_expired(dict(row), max_attempts=int(max_attempts))
                conn.execute(sa.update(_jobs_t).where(c.job_id == row["job_id"]).values(**_sql_times(changes)))
        return [self.get_job(str(row["job_id"])) for row in rows]

    def _update_job(self, job_id: str, plan: Callable[[dict | None], tuple[dict, object]], *,
                    result: tuple | None = None):
        c = _jobs_t.c
        with self._engine.begin() as conn:
            row = conn.execute(
                sa.select(*[c[f] for f in _jobs.ROW_FIELDS])
                .where(c.job_id == job_id, c.workspace == self.workspace_name).with_for_update()
            ).mappings().first()
            changes, value = plan(None if row is None else dict(row))
            if changes.get("status") == "done" and result is not None:
                tables, map_html, summary, notes = result
                if tables:
                    conn.execute(sa.insert(_job_tables), [
                        {"job_id": job_id, "position": i, "name": name, "data": data}
                        for i, (name, data) in enumerate(tables)])
                changes = {**changes, "summary": summary, "notes": notes, "table_names": [n for n, _ in tables],
                           "map_html": _jobs.pack_map(map_html)}
            if changes:
                conn.execute(sa.update(_jobs_t).where(c.job_id == job_id).values(**_sql_times(changes)))
        return value

    def _job_record(self, job_id: str) -> dict | None:
        rows = self._job_rows([_jobs_t.c.job_id == job_id], limit=1)
        return rows[0] if rows else None

    def list_jobs(self, *, analysis: str | None = None, status: str | None = None, limit: int = 100) -> list[dict]:
        """Job records, newest first (see :class:`Store`)."""
        where = []
        if analysis is not None:
            where.append(_jobs_t.c.analysis == str(analysis))
        if status is not None:
            where.append(_jobs_t.c.status == str(status))
        return self._job_rows(where, limit=max(0, int(limit)))

    def job_table(self, job_id: str, name: str):
        """Result table ``name`` of a job, or None (see :class:`Store`)."""
        try:
            job_id = _jobs.check_job_id(job_id)
        except StoreError:
            return None
        with self._engine.connect() as conn:
            data = conn.execute(
                sa.select(_job_tables.c.data).join(_jobs_t, _jobs_t.c.job_id == _job_tables.c.job_id)
                .where(_job_tables.c.job_id == job_id, _job_tables.c.name == str(name),
                       _jobs_t.c.workspace == self.workspace_name, _jobs_t.c.status == "done")
            ).scalar_one_or_none()
        return None if data is None else _jobs.decode_table(data)

    def job_map(self, job_id: str) -> str | None:
        """The result map HTML of a job, or None (see :class:`Store`)."""
        try:
            job_id = _jobs.check_job_id(job_id)
        except StoreError:
            return None
        with self._engine.connect() as conn:
            blob = conn.execute(sa.select(_jobs_t.c.map_html).where(
                _jobs_t.c.job_id == job_id, _jobs_t.c.workspace == self.workspace_name)).scalar_one_or_none()
        return _jobs.unpack_map(blob)

    def _job_rows(self, where: list, *, limit: int) -> list[dict]:
        c = _jobs_t.c
        query = (
            sa.select(c.job_id, c.analysis, c.params, c.status, c.progress, c.message, c.created_by, c.created_at,
                      c.started_at, c.finished_at, c.data_version, c.summary, c.notes, c.error, c.table_names,
                      c.map_html.is_not(None).label("has_map"), c.attempts, c.worker_id, c.heartbeat_at,
                      c.lease_until, c.cancel_requested)
            .where(c.workspace == self.workspace_name, *where)
            .order_by(c.created_at.desc(), c.seq.desc())
            .limit(limit)
        )
        with self._engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        out = []
        for r in rows:
            record = dict(r)
            for key in ("created_at", "started_at", "finished_at", "heartbeat_at", "lease_until"):
                record[key] = None if record[key] is None else _jobs.iso(record[key])
            record["attempts"] = int(record["attempts"] or 0)
            record["cancel_requested"] = bool(record["cancel_requested"])
            record["job_id"] = str(record["job_id"])
            record["tables"] = list(record.pop("table_names") or [])
            record["notes"] = list(record["notes"] or [])
            record["has_map"] = bool(record["has_map"])
            out.append({k: record[k] for k in _jobs.JOB_FIELDS})
        return out


class _PostGISWriter(StoreWriter):
    """Writes into the open SQL transaction of :meth:`PostGISStore.transaction`."""

    def __init__(self, conn: Connection, workspace: str) -> None:
        self._conn = conn
        self._ws = workspace
        self._ws_row = False

    @contextlib.contextmanager
    def _step(self) -> Iterator[Connection]:
        """One writer method: a savepoint, so a method that fails leaves no trace."""
        with self._conn.begin_nested():
            if not self._ws_row:
                self._conn.execute(pg_insert(_workspaces).values(name=self._ws).on_conflict_do_nothing())
            yield self._conn
        self._ws_row = True

    def set_workspace(self, *, city_code: str, city_name: str, profile: CityProfile) -> None:
        """Set (or replace) the municipality and its tier profile."""
        check_workspace(city_code, city_name, profile)
        values = {"city_code": str(city_code), "city_name": str(city_name), "profile": profile.to_dict(),
                  "updated_at": sa.func.now()}
        with self._step() as conn:
            conn.execute(pg_insert(_workspaces).values(name=self._ws, **values)
                         .on_conflict_do_update(index_elements=["name"], set_=values))

    def replace_areas(self, areas: gpd.GeoDataFrame) -> None:
        """Replace all areas of every level present in ``areas`` (other levels stay)."""
        new = coerce_areas(areas)
        levels = sorted(set(new["level"]))
        with self._step() as conn:
            conn.execute(sa.delete(_areas).where(_areas.c.workspace == self._ws,
                                                 _areas.c.level == sa.any_(_text_array(levels))))
            self._insert(conn, "areas", new)

    def replace_stations(self, stations: gpd.GeoDataFrame) -> None:
        """Replace all stations."""
        new = coerce_stations(stations)
        check_points(new, "station_id", "station")
        with self._step() as conn:
            conn.execute(sa.delete(_stations).where(_stations.c.workspace == self._ws))
            self._insert(conn, "stations", new)

    def add_resources(self, resources: gpd.GeoDataFrame) -> None:
        """Add resources; an id that already exists raises :class:`InputDataError` and adds nothing."""
        new = coerce_resources(resources)
        with self._step() as conn:
            check_new_ids(new["resource_id"], self._existing_ids(conn, list(new["resource_id"])))
            self._insert(conn, "resources", new)

    def replace_resources(self, resources: gpd.GeoDataFrame, *, kinds: list[str] | None = None) -> None:
        """Replace resources of ``kinds`` (all kinds when None) with ``resources``."""
        new = coerce_resources(resources)
        where = [_resources.c.workspace == self._ws]
        if kinds is not None:
            check_kinds(new, kinds)
            where.append(_resources.c.kind == sa.any_(_text_array([str(k) for k in kinds])))
        with self._step() as conn:
            if kinds is not None:
                kept = self._existing_ids(conn, list(new["resource_id"]),
                                          ~(_resources.c.kind == sa.any_(_text_array([str(k) for k in kinds]))))
                check_new_ids(new["resource_id"], kept, kept=True)
            conn.execute(sa.delete(_resources).where(*where))
            self._insert(conn, "resources", new)

    def delete_resources(self, resource_ids: list[str]) -> int:
        """Delete resources by id; returns how many were deleted."""
        ids = [str(i) for i in resource_ids]
        if not ids:
            return 0
        with self._step() as conn:
            result = conn.execute(sa.delete(_resources).where(
                _resources.c.workspace == self._ws, _resources.c.resource_id == sa.any_(_text_array(ids))))
        return int(result.rowcount)

    def update_resource(self, resource_id: str, changes: dict) -> bool:
        """Change one resource's name, kind, address or position; False when there is no such resource."""
        changes = check_resource_changes(changes)
        values = {("geom" if c == "geometry" else c): (from_shape(v, srid=4326) if c == "geometry" else v)
                  for c, v in changes.items()}
        if not values:
            return bool(self._existing_ids(self._conn, [str(resource_id)]))
        with self._step() as conn:
            result = conn.execute(sa.update(_resources).where(
                _resources.c.workspace == self._ws, _resources.c.resource_id == str(resource_id)).values(**values))
        return int(result.rowcount) > 0

    def set_nesting_report(self, report: dict) -> None:
        """Store the latest nesting report (JSON-ready mapping)."""
        check_mapping(report, "nesting report")
        values = {"report": _json.normalise(report), "updated_at": sa.func.now()}
        with self._step() as conn:
            conn.execute(pg_insert(_nesting).values(workspace=self._ws, **values)
                         .on_conflict_do_update(index_elements=["workspace"], set_=values))

    def log_import(self, record: dict) -> None:
        """Append an import record (what, from which files, counts, when, who)."""
        check_mapping(record, "import record")
        with self._step() as conn:
            conn.execute(sa.insert(_import_log).values(workspace=self._ws, record=_json.normalise(record)))

    def _existing_ids(self, conn: Connection, ids: list[str], *extra) -> set[str]:
        if not ids:
            return set()
        query = sa.select(_resources.c.resource_id).where(
            _resources.c.workspace == self._ws, _resources.c.resource_id == sa.any_(_text_array(ids)), *extra)
        return set(conn.execute(query).scalars())

    def _insert(self, conn: Connection, name: str, frame: gpd.GeoDataFrame) -> None:
        if frame.empty:
            return
        table, columns, _ = _FEATURES[name]
        attrs = [c for c in columns if c != "geometry"]
        values = {c: _plain(frame[c]) for c in attrs}
        geoms = [None if g is None or g.is_empty else from_shape(g, srid=4326) for g in frame.geometry]
        rows = [{"workspace": self._ws, **{c: values[c][i] for c in attrs}, "geom": geoms[i]}
                for i in range(len(frame))]
        try:
            conn.execute(sa.insert(table), rows)
        except sa.exc.IntegrityError as exc:  # a race with another writer: report, write nothing
            msg = f"{name} を保存できません: {str(exc.orig).strip()}"
            en = f"cannot store {name}: {str(exc.orig).strip()}"
            raise InputDataError(msg, en=en, hint="ほかの取り込みが同じ ID を書いたかもしれません。もう一度試してください", hint_en="another import may have written the same ids; try again") from exc


def _plain(series: pd.Series) -> list:
    """Column values as plain Python objects (None for missing) for the database driver."""
    if isinstance(series.dtype, pd.Int64Dtype):
        return [None if v is pd.NA else int(v) for v in series.astype(object)]
    if series.dtype == bool:
        return [bool(v) for v in series]
    out = []
    for v in series:
        if isinstance(v, (list, dict)):
            out.append(_json.normalise(v))
        elif v is None or (isinstance(v, float) and pd.isna(v)):
            out.append(None)
        else:
            out.append(str(v))
    return out


def _sql_times(changes: dict) -> dict:
    """A plan's changes with its time markers as SQL on the database clock."""
    out = {}
    for key, value in changes.items():
        if value is _jobs.NOW:
            value = sa.func.clock_timestamp(type_=sa.TIMESTAMP(timezone=True))
        elif isinstance(value, _jobs.After):
            value = sa.func.clock_timestamp(type_=sa.TIMESTAMP(timezone=True)) + _dt.timedelta(seconds=value.seconds)
        out[key] = value
    return out


def _text_array(values: list[str]):
    return sa.bindparam(None, list(values), type_=ARRAY(sa.Text))


def _alembic_config(conn: Connection):
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = conn
    return config


def _head() -> str:
    from alembic.script import ScriptDirectory

    config = _alembic_config(None)
    return ScriptDirectory.from_config(config).get_current_head()


def _current(conn: Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(conn, opts={"version_table": _VERSION_TABLE}).get_current_revision()


def _migrate(conn: Connection) -> None:
    """Bring the schema to the newest revision (serialised across processes by an advisory lock)."""
    from alembic import command

    conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
    if _current(conn) == _head():
        return
    has_postgis = conn.execute(sa.text("SELECT 1 FROM pg_extension WHERE extname = 'postgis'")).first()
    if not has_postgis:
        try:
            with conn.begin_nested():
                conn.execute(sa.text("CREATE EXTENSION IF NOT EXISTS postgis"))
        except sa.exc.DBAPIError as exc:
            database = conn.engine.url.database
            msg = f"データベース {database!r} で PostGIS が有効でなく、有効にもできませんでした（{str(exc.orig).strip()}）。PostGIS を入れ、管理者権限で {database!r} に `CREATE EXTENSION postgis;` を実行してください"
            en = (f"PostGIS is not enabled in database {database!r} and could not be enabled "
                  f"({str(exc.orig).strip()}); install PostGIS and, as a superuser, run "
                  f"`CREATE EXTENSION postgis;` in {database!r}")
            raise StoreError(msg, en=en) from exc
    command.upgrade(_alembic_config(conn), "head")


def _check_schema(conn: Connection, location: str) -> None:
    current, head = _current(conn), _head()
    if current != head:
        found = "no Tsunagu tables" if current is None else f"schema revision {current}"
        found_ja = "Tsunagu の表がないデータベース" if current is None else f"スキーマの版 {current}"
        msg = f"{location} は {found_ja} です。この Tsunagu には版 {head} が要ります。create=True で開いて移行してください"
        en = (f"{location} has {found}, this Tsunagu needs revision {head}; "
              "open the store with create=True to migrate it")
        raise StoreError(msg, en=en)
