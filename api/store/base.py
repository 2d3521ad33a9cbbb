"""The store interface: one contract, two implementations (GeoPackage workspace, PostGIS)."""

from __future__ import annotations

import abc
import contextlib
from collections.abc import Callable, Collection, Iterator

import geopandas as gpd

from api.store.errors import JobLeaseLost, JobStateError, StoreError, WorkspaceNotInitialised
from gis.tiers import CityProfile

__all__ = ["JobLeaseLost", "JobStateError", "Store", "StoreError", "StoreWriter", "WorkspaceNotInitialised"]


class StoreWriter(abc.ABC):
    """Writes made inside one :meth:`Store.transaction`; they land together or not at all.

    Every frame passed in is first normalised with the matching ``gis.schema.coerce_*``
    function, so both stores hold exactly the same columns and types.
    """

    @abc.abstractmethod
    def set_workspace(self, *, city_code: str, city_name: str, profile: CityProfile) -> None:
        """Set (or replace) the municipality and its tier profile."""

    @abc.abstractmethod
    def replace_areas(self, areas: gpd.GeoDataFrame) -> None:
        """Replace all areas of every level present in ``areas`` (other levels stay)."""

    @abc.abstractmethod
    def replace_stations(self, stations: gpd.GeoDataFrame) -> None:
        """Replace all stations."""

    @abc.abstractmethod
    def add_resources(self, resources: gpd.GeoDataFrame) -> None:
        """Add resources; an id that already exists is an error (nothing is written)."""

    @abc.abstractmethod
    def replace_resources(self, resources: gpd.GeoDataFrame, *, kinds: list[str] | None = None) -> None:
        """Replace resources of ``kinds`` (all kinds when None) with ``resources``."""

    @abc.abstractmethod
    def delete_resources(self, resource_ids: list[str]) -> int:
        """Delete resources by id; returns how many were deleted."""

    @abc.abstractmethod
    def update_resource(self, resource_id: str, changes: dict) -> bool:
        """Change one resource: ``changes`` maps ``name``, ``kind``, ``address`` or ``geometry`` (a Point) to new values.

        Returns False (and changes nothing) when there is no such resource. The new values are
        normalised like :func:`gis.schema.coerce_resources` does; a geometry must be a point.
        """

    @abc.abstractmethod
    def set_nesting_report(self, report: dict) -> None:
        """Store the latest nesting report (JSON-ready mapping)."""

    @abc.abstractmethod
    def log_import(self, record: dict) -> None:
        """Append an import record (what, from which files, counts, when, who)."""


class Store(abc.ABC):
    """A Tsunagu workspace: one municipality's tiers, stations and resources."""

    #: Human-readable location (file path or database URL without password).
    location: str

    @abc.abstractmethod
    @contextlib.contextmanager
    def transaction(self) -> Iterator[StoreWriter]:
        """Open a write transaction: on normal exit everything commits, on an exception nothing does."""

    @abc.abstractmethod
    def workspace(self) -> dict:
        """Return ``{"city_code", "city_name", "profile": CityProfile}``.

        Raises :class:`WorkspaceNotInitialised` when nothing was imported yet.
        """

    @abc.abstractmethod
    def areas(self, *, level: str | None = None) -> gpd.GeoDataFrame:
        """Areas (all levels, or one), columns :data:`gis.schema.AREA_COLUMNS`, EPSG:4326."""

    @abc.abstractmethod
    def stations(self) -> gpd.GeoDataFrame:
        """Stations, columns :data:`gis.schema.STATION_COLUMNS`."""

    @abc.abstractmethod
    def resources(self, *, kinds: list[str] | None = None) -> gpd.GeoDataFrame:
        """Resources (optionally of some kinds), columns :data:`gis.schema.RESOURCE_COLUMNS`."""

    @abc.abstractmethod
    def nesting_report(self) -> dict | None:
        """The latest nesting report, or None."""

    @abc.abstractmethod
    def import_log(self) -> list[dict]:
        """Import records, oldest first."""

    # ------------------------------------------------------------------ scenarios
    #
    # A scenario (gis.scenarios) is a named set of changes kept beside the data as JSON: one
    # record per name, {"name", "description", "changes", "params", "created_by", "created_at",
    # "updated_at"}. Saving never touches the layers.

    def scenarios(self) -> list[dict]:
        """Every saved scenario, by name."""
        raise StoreError(f"{type(self).__name__} はシナリオを保存できません",
                         en=f"{type(self).__name__} cannot store scenarios")

    def get_scenario(self, name: str) -> dict | None:
        """The scenario ``name``, or None."""
        return next((s for s in self.scenarios() if s["name"] == str(name)), None)

    def save_scenario(self, record: dict, *, replace: bool = False) -> dict:
        """Save a scenario record; an existing name is an error unless ``replace``."""
        raise StoreError(f"{type(self).__name__} はシナリオを保存できません",
                         en=f"{type(self).__name__} cannot store scenarios")

    def delete_scenario(self, name: str) -> bool:
        """Delete the scenario ``name``; False when there was none."""
        raise StoreError(f"{type(self).__name__} はシナリオを保存できません",
                         en=f"{type(self).__name__} cannot store scenarios")

    # ------------------------------------------------------------------ analysis jobs
    #
    # A job is one run of an analysis on this workspace: queued → running → done | failed
    # (or → cancelled). Re-running creates a new job; a finished job never changes.
    # Records are dicts with the keys of ``api.store._jobs.JOB_FIELDS``; times are ISO 8601 UTC.
    #
    # The table of jobs is also the queue. A worker claims the oldest queued job
    # (:meth:`claim_job`: one attempt, held under a lease), keeps the lease alive and records
    # progress with :meth:`heartbeat_job`, and ends it with :meth:`finish_job` (the result and
    # the status in one transaction), :meth:`fail_job`, :meth:`cancel_job` or :meth:`release_job`,
    # each naming itself (``worker_id``, ``attempt``) so a worker whose lease ran out cannot write.
    # :meth:`reap_expired_jobs` re-queues the jobs of dead workers. The rules are the ``plan_*``
    # functions of :mod:`api.store._jobs`; a store locks the row and applies them.

    #: Seconds between persisted progress updates of a running job (the runner keeps the
    #: latest progress in memory and writes it at most this often).
    job_progress_interval: float = 1.0

    @abc.abstractmethod
    def create_job(
        self, *, analysis: str, params: dict, created_by: str, data_version: str, job_id: str | None = None
    ) -> dict:
        """Create a queued job and return its record (a new uuid4 ``job_id`` unless one is given)."""

    @abc.abstractmethod
    def claim_job(self, *, worker_id: str, lease_s: float, analyses: Collection[str] | None = None,
                  job_id: str | None = None) -> dict | None:
        """Take the oldest queued job (or queued job ``job_id``) for ``worker_id``; None when there is none.

        The claim is exclusive: two workers never get the same job. The job becomes running,
        its ``attempts`` grows by one and it is held for ``lease_s`` seconds unless the worker
        renews the lease (:meth:`heartbeat_job`). ``analyses`` limits the claim to analyses the
        worker can run.
        """

    def heartbeat_job(self, job_id: str, *, worker_id: str, attempt: int, lease_s: float,
                      progress: float | None = None, message: str | None = None) -> bool:
        """Renew the lease of a job this worker runs (and record progress); returns True when cancel was asked.

        Raises :class:`JobLeaseLost` when the worker no longer holds the job.
        """
        from api.store import _jobs

        job_id = _jobs.check_job_id(job_id)
        lease_s = _jobs.check_lease(lease_s)
        value = None if progress is None else _jobs.check_progress(progress)
        return self._update_job(job_id, lambda row: _jobs.plan_heartbeat(
            job_id, row, worker_id=worker_id, attempt=attempt, lease_s=lease_s, progress=value, message=message))

    def update_job_progress(self, job_id: str, progress: float, message: str = "") -> None:
        """Record progress (0–1) and a Japanese message without a worker; the first call moves queued → running."""
        from api.store import _jobs

        job_id = _jobs.check_job_id(job_id)
        value = _jobs.check_progress(progress)
        self._update_job(job_id, lambda row: _jobs.plan_progress(job_id, row, progress=value, message=message))

    def finish_job(self, job_id: str, result, *, worker_id: str | None = None, attempt: int | None = None) -> dict:
        """Store an ``AnalysisResult`` (tables, map, summary, notes) and mark the job done, in one transaction.

        A job whose cancel was asked ends cancelled instead (and nothing of the result is kept).
        """
        from api.store import _jobs

        job_id = _jobs.check_job_id(job_id)
        parts = _jobs.result_parts(result)
        self._update_job(job_id, lambda row: _jobs.plan_finish(job_id, row, worker_id=worker_id, attempt=attempt),
                         result=parts)
        return self.get_job(job_id)

    def fail_job(self, job_id: str, error: str, *, worker_id: str | None = None, attempt: int | None = None) -> dict:
        """Mark a queued or running job failed with ``error`` (what went wrong, in words)."""
        from api.store import _jobs

        job_id = _jobs.check_job_id(job_id)
        self._update_job(job_id, lambda row: _jobs.plan_fail(job_id, row, error=str(error), worker_id=worker_id,
                                                             attempt=attempt))
        return self.get_job(job_id)

    def cancel_job(self, job_id: str, *, worker_id: str | None = None, attempt: int | None = None) -> dict:
        """Cancel a job: a queued one at once, a running one at its next progress report (``cancel_requested``).

        With ``worker_id``/``attempt``, the worker records that it stopped (running → cancelled).
        A finished job is a :class:`JobStateError`.
        """
        from api.store import _jobs

        job_id = _jobs.check_job_id(job_id)
        self._update_job(job_id, lambda row: _jobs.plan_cancel(job_id, row, worker_id=worker_id, attempt=attempt))
        return self.get_job(job_id)

    def release_job(self, job_id: str, *, worker_id: str, attempt: int) -> dict:
        """Give a running job back to the queue (a worker shutting down); the attempt is not counted."""
        from api.store import _jobs

        job_id = _jobs.check_job_id(job_id)
        self._update_job(job_id, lambda row: _jobs.plan_release(job_id, row, worker_id=worker_id, attempt=attempt))
        return self.get_job(job_id)

    @abc.abstractmethod
    def reap_expired_jobs(self, *, max_attempts: int) -> list[dict]:
        """Jobs whose lease ran out: queued again, or failed after ``max_attempts`` attempts; returns their records.

        Two workers reaping at once never both handle one job.
        """

    def get_job(self, job_id: str) -> dict | None:
        """The job's record, or None when this workspace has no such job."""
        from api.store import _jobs

        try:
            job_id = _jobs.check_job_id(job_id)
        except StoreError:
            return None
        return self._job_record(job_id)

    @abc.abstractmethod
    def _update_job(self, job_id: str, plan: Callable[[dict | None], tuple[dict, object]], *,
                    result: tuple | None = None):
        """Lock the job's row, apply ``plan(row)`` → ``(changes, value)`` in one transaction and return ``value``.

        ``row`` holds :data:`api.store._jobs.ROW_FIELDS` (None for an unknown job). When the
        changes make the job done, ``result`` (from :func:`api.store._jobs.result_parts`) is
        written in the same transaction.
        """

    @abc.abstractmethod
    def _job_record(self, job_id: str) -> dict | None:
        """The record of a (valid) job id, or None."""

    @abc.abstractmethod
    def list_jobs(self, *, analysis: str | None = None, status: str | None = None, limit: int = 100) -> list[dict]:
        """Job records, newest first."""

    @abc.abstractmethod
    def job_table(self, job_id: str, name: str):
        """Result table ``name`` of a done job as a DataFrame (``attrs`` kept), or None."""

    @abc.abstractmethod
    def job_map(self, job_id: str) -> str | None:
        """The result map (HTML) of a done job, or None."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections or file handles."""

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
