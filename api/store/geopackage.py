"""The embedded store: one workspace in one GeoPackage file, written copy-on-write."""

from __future__ import annotations

import contextlib
import datetime as _dt
import logging
import os
import shutil
import sqlite3
import tempfile
import threading
import time
from collections.abc import Callable, Collection, Iterator
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio

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

log = logging.getLogger("tsunagu.store")

#: Spatial layers: name -> (geometry type, columns).
_LAYERS = {
    "areas": ("MultiPolygon", AREA_COLUMNS),
    "stations": ("Point", STATION_COLUMNS),
    "resources": ("Point", RESOURCE_COLUMNS),
}

#: Non-spatial (attribute) tables: name -> columns.
_TABLES = {
    "workspace": ["city_code", "city_name", "profile"],
    "nesting_report": ["report"],
    "import_log": ["logged_at", "record"],
}

#: Text columns per layer (everything but numbers, booleans and geometry).
_TEXT_COLUMNS = {
    name: [c for c in columns if c not in (*POPULATION_COLUMNS, "is_sample", "geometry")]
    for name, (_, columns) in _LAYERS.items()
}

_COERCE = {"areas": coerce_areas, "stations": coerce_stations, "resources": coerce_resources}

#: Suffix of the jobs database beside a GeoPackage workspace (``tsunagu.gpkg`` → ``tsunagu.jobs.sqlite``).
JOBS_SUFFIX = ".jobs.sqlite"


def jobs_path(path: str | os.PathLike) -> Path:
    """The jobs database of GeoPackage workspace ``path``: ``<stem>.jobs.sqlite`` beside it."""
    path = Path(path)
    return path.with_name(path.stem + JOBS_SUFFIX)


class GeoPackageStore(Store):
    """A Tsunagu workspace kept in one GeoPackage file (no server needed).

    Layers ``areas``, ``stations`` and ``resources`` open in QGIS like any GeoPackage;
    ``workspace``, ``nesting_report`` and ``import_log`` are attribute tables holding JSON.
    Analysis jobs are not in the GeoPackage: they live in a SQLite database beside it
    (``<stem>.jobs.sqlite``, WAL mode, see :func:`jobs_path`), so running a job never rewrites
    the workspace file. A transaction works on an in-memory copy and commits by writing a new file next to the
    old one and renaming it over the old one, so readers never see half a write and an
    error leaves the file untouched. A lock file keeps two writers from interleaving.

    Parameters
    ----------
    path
        The ``.gpkg`` file.
    create
        Create the file (with empty layers) when it does not exist; otherwise a missing
        file is a :class:`StoreError`.
    lock_timeout
        Seconds to wait for another writer to finish before giving up.
    """

    def __init__(self, path: str | os.PathLike, *, create: bool = True, lock_timeout: float = 60.0) -> None:
        self.path = Path(path)
        self.location = str(self.path)
        self.lock_timeout = lock_timeout
        self._lock_path = self.path.with_name(self.path.name + ".lock")
        self._jobs_path = jobs_path(self.path)
        self._jobs_con: sqlite3.Connection | None = None  # one connection, kept open (see _jobs_connection)
        self._jobs_lock = threading.RLock()
        self._jobs_read_con: sqlite3.Connection | None = None  # reads only (see _job_reader)
        self._jobs_read_lock = threading.Lock()
        if self.path.exists():
            missing = self._missing_layers()
            if missing and create:
                with self._locked():
                    self._commit({}, ensure=True)
            elif missing:
                msg = f"{self.location} は Tsunagu のワークスペースではありません（レイヤー {missing} がありません）。create=True で開いて加えるか、別のファイルを選んでください"
                en = (f"{self.location} is not a Tsunagu workspace: it lacks the layers {missing}; "
                      "open it with create=True to add them or choose another file")
                raise StoreError(msg, en=en)
        elif create:
            if not self.path.parent.is_dir():
                msg = f"{self.location} を作れません: フォルダ {self.path.parent} がありません。先に作ってください"
                en = f"cannot create {self.location}: folder {self.path.parent} does not exist; create it first"
                raise StoreError(msg, en=en)
            with self._locked():
                self._commit({}, ensure=True)
        else:
            msg = f"ワークスペースのファイル {self.location} がありません。tsunagu demo（または取り込み）で作ってください"
            raise StoreError(msg, en=f"no workspace file {self.location}; create it with tsunagu demo (or an import)")
        self._move_old_jobs()

    # ------------------------------------------------------------------ reading

    def workspace(self) -> dict:
        """Return ``{"city_code", "city_name", "profile": CityProfile}`` (see :class:`Store`)."""
        table = self._read_table("workspace")
        if table.empty:
            msg = f"ワークスペース {self.location} にはまだ市区町村がありません。先に tsunagu demo か取り込みをしてください"
            en = f"workspace {self.location} has no city yet: run `tsunagu demo` or an import first"
            raise WorkspaceNotInitialised(msg, en=en)
        row = table.iloc[-1]
        return {
            "city_code": str(row["city_code"]),
            "city_name": str(row["city_name"]),
            "profile": CityProfile.from_dict(_json.loads(row["profile"])),
        }

    def areas(self, *, level: str | None = None) -> gpd.GeoDataFrame:
        """Areas (all levels, or one level), columns :data:`gis.schema.AREA_COLUMNS`."""
        areas = self._read_layer("areas")
        if level is not None:
            areas = areas[areas["level"] == level].reset_index(drop=True)
        return areas

    def stations(self) -> gpd.GeoDataFrame:
        """Stations, columns :data:`gis.schema.STATION_COLUMNS`."""
        return self._read_layer("stations")

    def resources(self, *, kinds: list[str] | None = None) -> gpd.GeoDataFrame:
        """Resources (optionally only of ``kinds``), columns :data:`gis.schema.RESOURCE_COLUMNS`."""
        resources = self._read_layer("resources")
        if kinds is not None:
            resources = resources[resources["kind"].isin(list(kinds))].reset_index(drop=True)
        return resources

    def nesting_report(self) -> dict | None:
        """The latest nesting report, or None."""
        table = self._read_table("nesting_report")
        return None if table.empty else _json.loads(table["report"].iloc[-1])

    def import_log(self) -> list[dict]:
        """Import records, oldest first."""
        return [_json.loads(text) for text in self._read_table("import_log")["record"]]

    # ------------------------------------------------------------------ writing

    @contextlib.contextmanager
    def transaction(self) -> Iterator[StoreWriter]:
        """Open a write transaction; it commits on normal exit and leaves the file untouched on error."""
        with self._locked():
            writer = _GeoPackageWriter(self)
            yield writer
            if writer._dirty:
                self._commit({name: writer._frames[name] for name in writer._dirty})

    # ------------------------------------------------------------------ analysis jobs
    #
    # Jobs live in their own SQLite database beside the GeoPackage (``<stem>.jobs.sqlite``, tables
    # ``jobs`` and ``job_tables``), made on the first job write and kept in WAL mode: a status
    # change, a heartbeat or a result is one small SQLite transaction (``BEGIN IMMEDIATE``, so a
    # claim is exclusive across threads and processes, and readers never wait for a writer), and
    # the GeoPackage stays the size of its data. A result is written with its status in one
    # transaction. Jobs of a workspace from before (tables inside the .gpkg) are moved there when
    # the workspace is opened (:meth:`_move_old_jobs`).

    def create_job(self, *, analysis: str, params: dict, created_by: str, data_version: str,
                   job_id: str | None = None) -> dict:
        """Create a queued job and return its record (see :class:`Store`)."""
        job_id = _jobs.new_job_id(job_id)
        row = {"job_id": job_id, "analysis": str(analysis), "params": _json.dumps(params), "status": "queued",
               "progress": 0.0, "message": "", "created_by": str(created_by), "created_at": _jobs.now(),
               "data_version": str(data_version), "notes": "[]", "table_names": "[]"}

        def write(con: sqlite3.Connection) -> None:
            if con.execute("SELECT 1 FROM jobs WHERE job_id = ?", (job_id,)).fetchone():
                msg = f"ジョブ {job_id} はすでにあります"
                en = f"job {job_id} already exists"
                raise JobStateError(msg, en=en)
            con.execute(f"INSERT INTO jobs ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
                        tuple(row.values()))

        self._job_commit(write)
        return self.get_job(job_id)

    def claim_job(self, *, worker_id: str, lease_s: float, analyses: Collection[str] | None = None,
                  job_id: str | None = None) -> dict | None:
        """Claim the oldest queued job under the file lock (see :class:`Store`)."""
        lease_s = _jobs.check_lease(lease_s)
        where, args = ["status = 'queued'"], []
        if job_id is not None:
            where.append("job_id = ?")
            args.append(_jobs.check_job_id(job_id))
        if analyses is not None:
            names = sorted(str(a) for a in analyses)
            where.append(f"analysis IN ({', '.join('?' * len(names))})" if names else "0")
            args.extend(names)
        query = (f"SELECT job_id, {', '.join(_jobs.ROW_FIELDS)} FROM jobs WHERE {' AND '.join(where)} "
                 "ORDER BY created_at, fid LIMIT 1")
        with self._job_reader() as con:  # cheap look first: polling an empty queue never writes
            if con is None or con.execute(query, tuple(args)).fetchone() is None:
                return None
        claimed: list[str] = []

        def write(con: sqlite3.Connection) -> None:
            cur = con.execute(query, tuple(args))
            found = cur.fetchone()
            if found is None:
                return
            row = _row_dict(cur, found)
            changes = _jobs.plan_claim(row, worker_id=worker_id, lease_s=lease_s)
            _apply(con, row["job_id"], changes)
            claimed.append(row["job_id"])

        self._job_commit(write)
        return self.get_job(claimed[0]) if claimed else None

    def reap_expired_jobs(self, *, max_attempts: int) -> list[dict]:
        """Re-queue or fail running jobs whose lease ran out (see :class:`Store`)."""
        query = (f"SELECT job_id, {', '.join(_jobs.ROW_FIELDS)} FROM jobs "
                 "WHERE status = 'running' AND lease_until IS NOT NULL AND lease_until < ? ORDER BY lease_until")
        with self._job_reader() as con:
            if con is None or not con.execute(query, (_jobs.now(),)).fetchone():
                return []
        reaped: list[str] = []

        def write(con: sqlite3.Connection) -> None:
            cur = con.execute(query, (_jobs.now(),))
            for found in cur.fetchall():
                row = _row_dict(cur, found)
                _apply(con, row["job_id"], _jobs.plan_expired(row, max_attempts=int(max_attempts)))
                reaped.append(row["job_id"])

        self._job_commit(write)
        return [self.get_job(job_id) for job_id in reaped]

    def _update_job(self, job_id: str, plan: Callable[[dict | None], tuple[dict, object]], *,
                    result: tuple | None = None):
        out: list = []

        def write(con: sqlite3.Connection) -> None:
            cur = con.execute(f"SELECT job_id, {', '.join(_jobs.ROW_FIELDS)} FROM jobs WHERE job_id = ?", (job_id,))
            found = cur.fetchone()
            changes, value = plan(None if found is None else _row_dict(cur, found))
            if changes.get("status") == "done" and result is not None:
                tables, map_html, summary, notes = result
                con.executemany("INSERT INTO job_tables (job_id, position, name, data) VALUES (?, ?, ?, ?)",
                                [(job_id, i, name, _json.dumps(data)) for i, (name, data) in enumerate(tables)])
                changes = {**changes, "summary": _json.dumps(summary), "notes": _json.dumps(notes),
                           "table_names": _json.dumps([n for n, _ in tables]), "map_html": _jobs.pack_map(map_html)}
            if changes:
                _apply(con, job_id, changes)
            out.append(value)

        self._job_commit(write)
        return out[0]

    def _job_record(self, job_id: str) -> dict | None:
        rows = self._job_rows("WHERE job_id = ?", (job_id,))
        return rows[0] if rows else None

    def list_jobs(self, *, analysis: str | None = None, status: str | None = None, limit: int = 100) -> list[dict]:
        """Job records, newest first (see :class:`Store`)."""
        where, args = [], []
        if analysis is not None:
            where.append("analysis = ?")
            args.append(str(analysis))
        if status is not None:
            where.append("status = ?")
            args.append(str(status))
        clause = ("WHERE " + " AND ".join(where) if where else "") + " ORDER BY created_at DESC, fid DESC LIMIT ?"
        return self._job_rows(clause, (*args, max(0, int(limit))))

    def job_table(self, job_id: str, name: str):
        """Result table ``name`` of a job, or None (see :class:`Store`)."""
        try:
            job_id = _jobs.check_job_id(job_id)
        except StoreError:
            return None
        with self._job_reader() as con:
            row = None if con is None else con.execute(
                "SELECT data FROM job_tables WHERE job_id = ? AND name = ?", (job_id, str(name))).fetchone()
        return None if row is None else _jobs.decode_table(_json.loads(row[0]))

    def job_map(self, job_id: str) -> str | None:
        """The result map HTML of a job, or None (see :class:`Store`)."""
        try:
            job_id = _jobs.check_job_id(job_id)
        except StoreError:
            return None
        with self._job_reader() as con:
            row = None if con is None else con.execute(
                "SELECT map_html FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
        return None if row is None else _jobs.unpack_map(row[0])

    # ------------------------------------------------------------------ scenarios (in the jobs database)

    def scenarios(self) -> list[dict]:
        """Every saved scenario, by name (kept in the jobs database beside the GeoPackage)."""
        with self._job_reader() as con:
            rows = [] if con is None else con.execute("SELECT record FROM scenarios ORDER BY name").fetchall()
        return [_json.loads(r[0]) for r in rows]

    def save_scenario(self, record: dict, *, replace: bool = False) -> dict:
        """Save a scenario record (see :class:`Store`)."""
        check_mapping(record, "scenario")
        name = str(record["name"])
        record = {**record, "updated_at": _jobs.now()}

        def write(con: sqlite3.Connection) -> None:
            found = con.execute("SELECT 1 FROM scenarios WHERE name = ?", (name,)).fetchone()
            if found and not replace:
                raise StoreError(f"シナリオ「{name}」はすでにあります（置き換えるときは replace を指定してください）",
                                 en=f"scenario {name!r} already exists (give replace to replace it)")
            con.execute("INSERT OR REPLACE INTO scenarios (name, record, updated_at) VALUES (?, ?, ?)",
                        (name, _json.dumps(record), record["updated_at"]))

        self._job_commit(write)
        return record

    def delete_scenario(self, name: str) -> bool:
        """Delete a scenario (see :class:`Store`)."""
        gone = []

        def write(con: sqlite3.Connection) -> None:
            gone.append(con.execute("DELETE FROM scenarios WHERE name = ?", (str(name),)).rowcount)

        self._job_commit(write)
        return bool(gone and gone[0])

    def _job_commit(self, write: Callable[[sqlite3.Connection], None]) -> None:
        """Run ``write(connection)`` in one ``BEGIN IMMEDIATE`` transaction of the jobs database."""
        with self._jobs_lock:
            con = self._jobs_connection(create=True)
            try:
                con.execute("BEGIN IMMEDIATE")
                try:
                    write(con)
                except BaseException:
                    con.execute("ROLLBACK")
                    raise
                con.execute("COMMIT")
            except sqlite3.OperationalError as exc:
                msg = f"{self.location} のジョブを {self._jobs_path} に書き込めません（{exc}）。ほかのプロセスが長く使っているかもしれません。もう一度試してください"
                en = (f"cannot write the jobs of {self.location} in {self._jobs_path} ({exc}); "
                      "another process may hold it for long: try again")
                raise StoreError(msg, en=en) from exc

    @contextlib.contextmanager
    def _job_reader(self) -> Iterator[sqlite3.Connection | None]:
        """A connection for reading the jobs database (held for the block), or None when no job was ever written.

        Reads have a connection of their own: in WAL mode a reader never waits for a writer, so
        a status poll or a job list is not held up behind this process's write while that waits
        for a job process's (a result being saved).
        """
        with self._jobs_read_lock:
            if self._jobs_read_con is None:
                with self._jobs_lock:  # made (WAL, tables) by the writing connection first
                    ready = self._jobs_connection(create=False) is not None
                if not ready:
                    yield None
                    return
                con = sqlite3.connect(self._jobs_path.resolve().as_uri() + "?mode=rw", uri=True,
                                      timeout=self.lock_timeout, isolation_level=None, check_same_thread=False)
                con.execute("PRAGMA query_only = ON")
                self._jobs_read_con = con
            yield self._jobs_read_con

    def _jobs_connection(self, *, create: bool) -> sqlite3.Connection | None:
        """The store's connection to the jobs database (opened once; made with its tables when ``create``).

        One connection is kept open for the store's life (used under ``_jobs_lock`` by its
        threads): opening and closing one per call would checkpoint and delete the WAL file at
        every close. None when the database does not exist and ``create`` is false.
        """
        if self._jobs_con is not None:
            return self._jobs_con
        if not create and not self._jobs_path.exists():
            return None
        try:
            con = sqlite3.connect(self._jobs_path.resolve().as_uri() + ("?mode=rwc" if create else "?mode=rw"),
                                  uri=True, timeout=self.lock_timeout, isolation_level=None,
                                  check_same_thread=False)
        except sqlite3.OperationalError as exc:
            if not create:
                return None
            msg = f"ジョブのデータベース {self._jobs_path} を開けません（{exc}）。フォルダの権限を確かめてください"
            en = f"cannot open the jobs database {self._jobs_path} ({exc}); check the folder's permissions"
            raise StoreError(msg, en=en) from exc
        try:
            if con.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                con.execute("PRAGMA journal_mode = WAL")
            con.execute("PRAGMA synchronous = NORMAL")  # WAL: a commit survives a crash of the process
            con.execute("BEGIN IMMEDIATE")
            _ensure_job_tables(con)
            con.execute("COMMIT")
        except BaseException:
            con.close()
            raise
        self._jobs_con = con
        return con

    def close(self) -> None:
        """Close the connections to the jobs database (opened again when needed)."""
        with self._jobs_read_lock, self._jobs_lock:
            if self._jobs_read_con is not None:
                self._jobs_read_con.close()
                self._jobs_read_con = None
            if self._jobs_con is not None:
                self._jobs_con.close()
                self._jobs_con = None

    def _move_old_jobs(self) -> None:
        """Move the jobs of a workspace from before the jobs database out of the GeoPackage (once).

        The rows are copied into the jobs database first (``INSERT OR IGNORE``, so a move cut
        short is simply done again at the next open), then the tables are dropped from the
        GeoPackage and the file is compacted. Jobs such a file shows running were run by a
        process that is gone: they come over with an expired lease, and the next worker
        re-queues them.
        """
        if not self._gpkg_has_jobs():
            return
        try:
            self._move_old_jobs_now()
        except (StoreError, OSError, sqlite3.Error) as exc:  # e.g. a read-only copy: the workspace still opens
            log.warning("cannot move the jobs kept inside %s to %s (%s); until the file can be written, "
                        "its old jobs are not listed", self.location, self._jobs_path, exc)

    def _move_old_jobs_now(self) -> None:
        with self._locked():
            if not self._gpkg_has_jobs():  # another process moved them meanwhile
                return
            with self._jobs_lock:
                _copy_old_jobs(self._jobs_connection(create=True), self.path)
            self._commit({}, sql=_drop_old_jobs, vacuum=True)

    def _gpkg_has_jobs(self) -> bool:
        try:
            con = sqlite3.connect(self.path.resolve().as_uri() + "?mode=ro", uri=True)
        except sqlite3.OperationalError:
            return False
        try:
            return con.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'jobs'").fetchone() \
                is not None
        finally:
            con.close()

    def _job_rows(self, clause: str, args: tuple) -> list[dict]:
        columns = ["job_id", "analysis", "params", "status", "progress", "message", "created_by", "created_at",
                   "started_at", "finished_at", "data_version", "summary", "notes", "error", "table_names",
                   *_QUEUE_COLUMNS]
        with self._job_reader() as con:
            if con is None:
                return []
            rows = con.execute(f"SELECT {', '.join(columns)}, map_html IS NOT NULL FROM jobs {clause}", args).fetchall()
        out = []
        for r in rows:
            record = dict(zip(columns, r[:-1], strict=True))
            for key in ("params", "summary", "notes"):
                record[key] = _json.loads(record[key])
            record["notes"] = record["notes"] or []
            record["tables"] = _json.loads(record.pop("table_names")) or []
            record["has_map"] = bool(r[-1])
            record["attempts"] = int(record["attempts"] or 0)
            record["cancel_requested"] = bool(record["cancel_requested"])
            out.append({k: record[k] for k in _jobs.JOB_FIELDS})
        return out

    # ------------------------------------------------------------------ internals

    def _missing_layers(self) -> list[str]:
        try:
            present = {str(name) for name, _ in pyogrio.list_layers(self.path)}
        except Exception as exc:  # noqa: BLE001 - any GDAL failure means "not a GeoPackage"
            msg = f"{self.location} を GeoPackage として開けません（{exc}）。Tsunagu が作った .gpkg ファイルを指定してください"
            en = f"cannot open {self.location} as a GeoPackage ({exc}); give a .gpkg file Tsunagu created"
            raise StoreError(msg, en=en) from exc
        return [name for name in [*_LAYERS, *_TABLES] if name not in present]

    def _read_layer(self, name: str) -> gpd.GeoDataFrame:
        raw = pyogrio.read_dataframe(self.path, layer=name)
        if raw.crs is None:
            raw = raw.set_crs(STORAGE_CRS)
        for col in _TEXT_COLUMNS[name]:
            # GDAL reads an all-null text column as float NaN; the schema wants None there.
            values = raw[col].astype(object)
            raw[col] = values.where(values.notna(), None)
        return _COERCE[name](raw)

    def _read_table(self, name: str) -> pd.DataFrame:
        return pyogrio.read_dataframe(self.path, layer=name, read_geometry=False)

    def _read_any(self, name: str) -> pd.DataFrame:
        return self._read_layer(name) if name in _LAYERS else self._read_table(name)

    def _commit(self, frames: dict[str, pd.DataFrame], *, ensure: bool = False,
                sql: Callable[[sqlite3.Connection], None] | None = None, vacuum: bool = False) -> None:
        """Write ``frames`` (and run ``sql(connection)``) in a copy of the file and rename it over the original.

        ``vacuum`` compacts the copy afterwards (after tables were dropped).
        """
        fd, tmp_name = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp.gpkg", dir=self.path.parent)
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            present: set[str] = set()
            if self.path.exists():
                shutil.copyfile(self.path, tmp)
                shutil.copymode(self.path, tmp)
                present = {str(name) for name, _ in pyogrio.list_layers(tmp)}
            else:
                tmp.unlink()
            if ensure:
                for name in [*_LAYERS, *_TABLES]:
                    if name not in present and name not in frames:
                        frames = {**frames, name: _empty(name)}
            tables = {n: f for n, f in frames.items() if n in _TABLES and n in present}
            with _sqlite_unsynchronised():  # the finished file is fsynced once below
                for name, frame in frames.items():
                    if name not in tables:
                        _write(tmp, name, frame)
            if tables:
                _write_tables(tmp, tables)
            if sql is not None:
                _run_sql(tmp, sql)
            if vacuum:
                _vacuum(tmp)
            if not self.path.exists():
                os.chmod(tmp, 0o666 & ~_umask())
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
            _fsync_dir(self.path.parent)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        fh = open(self._lock_path, "a+b")  # noqa: SIM115 - closed below
        try:
            deadline = time.monotonic() + self.lock_timeout
            while not _try_lock(fh):
                if time.monotonic() > deadline:
                    msg = f"ほかの書き込みが {self._lock_path} を {self.lock_timeout:g} 秒以上使っています。その取り込みが終わってからもう一度試してください"
                    en = (f"another writer has held {self._lock_path} for over {self.lock_timeout:g} s; "
                          "wait for its import to finish and try again")
                    raise StoreError(msg, en=en)
                time.sleep(0.05)
            try:
                yield
            finally:
                _unlock(fh)
        finally:
            fh.close()


class _GeoPackageWriter(StoreWriter):
    """Collects writes in memory; :meth:`GeoPackageStore.transaction` writes them out at the end."""

    def __init__(self, store: GeoPackageStore) -> None:
        self._store = store
        self._frames: dict[str, pd.DataFrame] = {}
        self._dirty: set[str] = set()

    def _get(self, name: str) -> pd.DataFrame:
        if name not in self._frames:
            self._frames[name] = self._store._read_any(name)
        return self._frames[name]

    def _put(self, name: str, frame: pd.DataFrame) -> None:
        self._frames[name] = frame
        self._dirty.add(name)

    def set_workspace(self, *, city_code: str, city_name: str, profile: CityProfile) -> None:
        """Set (or replace) the municipality and its tier profile."""
        check_workspace(city_code, city_name, profile)
        self._put("workspace", pd.DataFrame(
            {"city_code": [str(city_code)], "city_name": [str(city_name)],
             "profile": [_json.dumps(profile.to_dict())]}))

    def replace_areas(self, areas: gpd.GeoDataFrame) -> None:
        """Replace all areas of every level present in ``areas`` (other levels stay)."""
        new = coerce_areas(areas)
        current = self._get("areas")
        kept = current[~current["level"].isin(set(new["level"]))]
        self._put("areas", coerce_areas(_concat(kept, new)))

    def replace_stations(self, stations: gpd.GeoDataFrame) -> None:
        """Replace all stations."""
        new = coerce_stations(stations)
        check_points(new, "station_id", "station")
        self._put("stations", new)

    def add_resources(self, resources: gpd.GeoDataFrame) -> None:
        """Add resources; an id that already exists raises :class:`InputDataError` and adds nothing."""
        new = coerce_resources(resources)
        current = self._get("resources")
        check_new_ids(new["resource_id"], set(current["resource_id"]))
        self._put("resources", coerce_resources(_concat(current, new)))

    def replace_resources(self, resources: gpd.GeoDataFrame, *, kinds: list[str] | None = None) -> None:
        """Replace resources of ``kinds`` (all kinds when None) with ``resources``."""
        new = coerce_resources(resources)
        current = self._get("resources")
        if kinds is None:
            self._put("resources", new)
            return
        check_kinds(new, kinds)
        kept = current[~current["kind"].isin(list(kinds))]
        check_new_ids(new["resource_id"], set(kept["resource_id"]), kept=True)
        self._put("resources", coerce_resources(_concat(kept, new)))

    def delete_resources(self, resource_ids: list[str]) -> int:
        """Delete resources by id; returns how many were deleted."""
        current = self._get("resources")
        gone = current["resource_id"].isin([str(i) for i in resource_ids])
        if gone.any():
            self._put("resources", current[~gone].reset_index(drop=True))
        return int(gone.sum())

    def update_resource(self, resource_id: str, changes: dict) -> bool:
        """Change one resource's name, kind, address or position; False when there is no such resource."""
        changes = check_resource_changes(changes)
        current = self._get("resources")
        hit = current["resource_id"] == str(resource_id)
        if not hit.any():
            return False
        updated = current.copy()
        i = updated.index[hit.to_numpy()][0]
        for column, value in changes.items():
            if column == "geometry":
                updated.loc[[i], "geometry"] = gpd.GeoSeries([value], index=[i], crs=updated.crs)
            else:
                updated.at[i, column] = value
        updated = coerce_resources(updated)
        check_points(updated.loc[[i]], "resource_id", "resource")
        self._put("resources", updated)
        return True

    def set_nesting_report(self, report: dict) -> None:
        """Store the latest nesting report (JSON-ready mapping)."""
        check_mapping(report, "nesting report")
        self._put("nesting_report", pd.DataFrame({"report": [_json.dumps(report)]}))

    def log_import(self, record: dict) -> None:
        """Append an import record (what, from which files, counts, when, who)."""
        check_mapping(record, "import record")
        row = pd.DataFrame({"logged_at": [pd.Timestamp.now(tz="UTC").isoformat()], "record": [_json.dumps(record)]})
        current = self._get("import_log")
        self._put("import_log", pd.concat([current[_TABLES["import_log"]], row], ignore_index=True))


# ---------------------------------------------------------------------- private


def _concat(a: gpd.GeoDataFrame, b: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    if a.empty:
        return b
    if b.empty:
        return a.reset_index(drop=True)
    return gpd.GeoDataFrame(pd.concat([a, b], ignore_index=True), geometry="geometry", crs=STORAGE_CRS)


def _empty(name: str) -> pd.DataFrame:
    if name in _LAYERS:
        columns = _LAYERS[name][1]
        return _COERCE[name](gpd.GeoDataFrame({c: [] for c in columns}, geometry="geometry", crs=STORAGE_CRS))
    return pd.DataFrame({c: pd.Series([], dtype=object) for c in _TABLES[name]})


def _write(path: Path, name: str, frame: pd.DataFrame) -> None:
    """Write one layer or table (replacing it) in GeoPackage ``path``."""
    if name in _LAYERS:
        out = pd.DataFrame(frame).copy()
        for col in ("area_ids", "attributes"):
            if col in out.columns:
                out[col] = out[col].map(_json.dumps).astype(object)
        out = gpd.GeoDataFrame(out, geometry="geometry", crs=STORAGE_CRS)
        pyogrio.write_dataframe(out, path, layer=name, driver="GPKG", geometry_type=_LAYERS[name][0])
    else:
        out = pd.DataFrame({c: frame[c].astype(object) for c in _TABLES[name]})
        pyogrio.write_dataframe(out, path, layer=name, driver="GPKG")


def _write_tables(path: Path, tables: dict[str, pd.DataFrame]) -> None:
    """Refill existing attribute tables with SQLite directly (much faster than one GDAL open each)."""
    con = sqlite3.connect(path)
    try:
        with con:
            for name, frame in tables.items():
                columns = _TABLES[name]
                quoted = ", ".join(f'"{c}"' for c in columns)
                con.execute(f'DELETE FROM "{name}"')
                con.executemany(
                    f'INSERT INTO "{name}" ({quoted}) VALUES ({", ".join("?" * len(columns))})',
                    [tuple(None if pd.isna(v) else str(v) for v in row)
                     for row in frame[columns].itertuples(index=False)],
                )
    finally:
        con.close()


def _run_sql(path: Path, sql: Callable[[sqlite3.Connection], None]) -> None:
    """Run ``sql(connection)`` on GeoPackage ``path`` in one SQLite transaction."""
    con = sqlite3.connect(path)
    try:
        con.execute("PRAGMA synchronous = OFF")  # the finished file is fsynced once by _commit
        with con:
            sql(con)
    finally:
        con.close()


#: Columns the queue added to the jobs table (an older GeoPackage's jobs table may lack them).
_QUEUE_COLUMNS = ("attempts", "worker_id", "heartbeat_at", "lease_until", "cancel_requested")


def _ensure_job_tables(con: sqlite3.Connection) -> None:
    """Create the tables of the jobs database (when new)."""
    con.execute("""CREATE TABLE IF NOT EXISTS jobs (
        fid INTEGER PRIMARY KEY AUTOINCREMENT, job_id TEXT NOT NULL UNIQUE, analysis TEXT NOT NULL,
        params TEXT NOT NULL, status TEXT NOT NULL, progress REAL NOT NULL DEFAULT 0, message TEXT,
        created_by TEXT, created_at TEXT NOT NULL, started_at TEXT, finished_at TEXT, data_version TEXT,
        summary TEXT, notes TEXT, error TEXT, table_names TEXT, map_html BLOB,
        attempts INTEGER NOT NULL DEFAULT 0, worker_id TEXT, heartbeat_at TEXT, lease_until TEXT,
        cancel_requested INTEGER NOT NULL DEFAULT 0)""")
    con.execute("CREATE INDEX IF NOT EXISTS jobs_status_created ON jobs (status, created_at)")
    con.execute("""CREATE TABLE IF NOT EXISTS job_tables (
        fid INTEGER PRIMARY KEY AUTOINCREMENT, job_id TEXT NOT NULL REFERENCES jobs (job_id) ON DELETE CASCADE,
        position INTEGER NOT NULL, name TEXT NOT NULL, data TEXT NOT NULL, UNIQUE (job_id, name))""")
    con.execute("""CREATE TABLE IF NOT EXISTS scenarios (
        name TEXT PRIMARY KEY, record TEXT NOT NULL, updated_at TEXT NOT NULL)""")


#: Columns of a job row, as the jobs database holds them (``fid`` aside).
_JOB_COLUMNS = ["job_id", "analysis", "params", "status", "progress", "message", "created_by", "created_at",
                "started_at", "finished_at", "data_version", "summary", "notes", "error", "table_names",
                "map_html", *_QUEUE_COLUMNS]


def _copy_old_jobs(con: sqlite3.Connection, gpkg: Path) -> None:
    """Copy the jobs tables of an older GeoPackage ``gpkg`` into the jobs database ``con`` (idempotent)."""
    con.execute("ATTACH DATABASE ? AS old", (gpkg.resolve().as_uri() + "?mode=ro",))
    try:
        present = {row[1] for row in con.execute("PRAGMA old.table_info(jobs)")}
        columns = [c for c in _JOB_COLUMNS if c in present]
        has_tables = con.execute(
            "SELECT 1 FROM old.sqlite_master WHERE type = 'table' AND name = 'job_tables'").fetchone()
        con.execute("BEGIN IMMEDIATE")
        try:
            new = [row[0] for row in con.execute(
                "SELECT job_id FROM old.jobs WHERE job_id NOT IN (SELECT job_id FROM main.jobs)")]
            quoted = ", ".join(columns)
            con.execute(f"INSERT OR IGNORE INTO main.jobs ({quoted}) SELECT {quoted} FROM old.jobs ORDER BY fid")
            if "lease_until" not in present and new:  # from before the queue: its running jobs are orphans
                con.executemany("UPDATE main.jobs SET lease_until = ?, attempts = 1 "
                                "WHERE job_id = ? AND status = 'running'", [(_jobs.now(), j) for j in new])
            if has_tables:
                con.execute("INSERT OR IGNORE INTO main.job_tables (job_id, position, name, data) "
                            "SELECT job_id, position, name, data FROM old.job_tables ORDER BY fid")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        con.execute("COMMIT")
    finally:
        con.execute("DETACH DATABASE old")


def _drop_old_jobs(con: sqlite3.Connection) -> None:
    """Drop the jobs tables of an older GeoPackage (their rows are in the jobs database now)."""
    for name in ("job_tables", "jobs"):
        con.execute(f"DROP TABLE IF EXISTS {name}")
        for meta in ("gpkg_contents", "gpkg_ogr_contents"):
            if con.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (meta,)).fetchone():
                con.execute(f"DELETE FROM {meta} WHERE table_name = ?", (name,))


def _vacuum(path: Path) -> None:
    con = sqlite3.connect(path, isolation_level=None)
    try:
        con.execute("VACUUM")
    finally:
        con.close()


def _row_dict(cur: sqlite3.Cursor, found: tuple) -> dict:
    return dict(zip([d[0] for d in cur.description], found, strict=True))


def _apply(con: sqlite3.Connection, job_id: str, changes: dict) -> None:
    """Write a plan's changes to one job row (time markers become UTC text)."""
    moment = _dt.datetime.now(_dt.UTC)
    values = []
    for value in changes.values():
        value = _jobs.resolve_time(value, moment)
        if isinstance(value, bool):
            value = int(value)
        values.append(value)
    assignments = ", ".join(f"{name} = ?" for name in changes)
    con.execute(f"UPDATE jobs SET {assignments} WHERE job_id = ?", (*values, job_id))


@contextlib.contextmanager
def _sqlite_unsynchronised() -> Iterator[None]:
    previous = pyogrio.get_gdal_config_option("OGR_SQLITE_SYNCHRONOUS")
    pyogrio.set_gdal_config_options({"OGR_SQLITE_SYNCHRONOUS": "OFF"})
    try:
        yield
    finally:
        pyogrio.set_gdal_config_options({"OGR_SQLITE_SYNCHRONOUS": previous})


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):  # not possible on every platform (e.g. Windows)
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


try:
    import fcntl

    def _try_lock(fh) -> bool:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _unlock(fh) -> None:
        fcntl.flock(fh.fileno(), fcntl.LOCK_UN)

except ImportError:  # pragma: no cover - Windows
    import msvcrt

    def _try_lock(fh) -> bool:
        try:
            fh.seek(0)
            msvcrt.locking(fh.fileno(), msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def _unlock(fh) -> None:
        fh.seek(0)
        msvcrt.locking(fh.fileno(), msvcrt.LK_UNLCK, 1)
