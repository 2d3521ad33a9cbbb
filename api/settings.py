"""Service settings, read from TSUNAGU_* environment variables (or given to create_app)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from gis.errors import InputDataError


#: How a server on a GeoPackage runs jobs when ``job_runner`` is not set.
EMBEDDED_JOB_RUNNER = "process"


class Settings(BaseSettings):
    """Settings of the Tsunagu service and CLI.

    Every field can be set by an environment variable with the prefix ``TSUNAGU_``
    (``TSUNAGU_WORKSPACE``, ``TSUNAGU_MAX_UPLOAD_BYTES``, ...).
    """

    model_config = SettingsConfigDict(env_prefix="TSUNAGU_", extra="ignore")

    #: Store location: a ``.gpkg`` path or a ``postgresql://`` URL.
    workspace: str = "workspace/tsunagu.gpkg"
    #: Folder of the open data (``../shared/data`` layout); None lets the importer look for it.
    data_dir: Path | None = None
    #: Folder of the parsed copies of the prefecture-wide open data, read by the next
    #: ``analyse --all-municipalities`` instead of parsing again (:mod:`api.opendata_cache`);
    #: None = ``$XDG_CACHE_HOME/tsunagu/opendata`` (``~/.cache/tsunagu/opendata``).
    opendata_cache: Path | None = None
    #: Largest upload accepted by ``POST /resources/import`` (bytes, whole request body).
    max_upload_bytes: int = Field(default=200 * 1024 * 1024, gt=0)
    #: Folder for uploads while they are imported (deleted afterwards); system temp by default.
    upload_dir: Path = Field(default_factory=lambda: Path(tempfile.gettempdir()))
    #: Most bytes an uploaded zip (or .xlsx) may unpack to, declared and counted while extracting.
    max_unpacked_bytes: int = Field(default=1024 * 1024 * 1024, gt=0)
    #: Largest compression ratio of one member (of 1 MB or more) of an uploaded zip: above it is a zip bomb.
    max_zip_ratio: float = Field(default=100.0, gt=1)
    #: Most members an uploaded zip may hold.
    max_zip_entries: int = Field(default=1000, gt=0)
    #: Account store: None = beside the workspace (``<stem>.accounts.sqlite``, or schema
    #: ``tsunagu_auth`` of a PostGIS workspace); or a path / ``postgresql://`` URL.
    accounts: str | None = None
    #: Minutes a login session lasts.
    session_minutes: int = Field(default=480, gt=0, le=7 * 24 * 60)
    #: Wrong passwords in a row that lock an account, and for how many minutes.
    max_login_failures: int = Field(default=5, ge=1, le=100)
    lockout_minutes: int = Field(default=15, ge=1, le=24 * 60)
    #: Mark the session cookie Secure (HTTPS only); turn on behind an HTTPS proxy.
    secure_cookies: bool = False
    #: Smallest count of client households shown per area in public aggregates (GET /clients/counts);
    #: counts from 1 to k-1 are suppressed (gis.disclosure).
    small_cell_k: int = Field(default=3, ge=2, le=100)
    #: Address ``tsunagu serve`` listens on.
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)

    # --- analysis jobs (api.jobs, api.worker)
    #: Who runs jobs: "process" = child worker processes started by ``tsunagu serve`` (default for
    #: a .gpkg workspace: ``tsunagu serve`` alone runs them, outside the API process, see
    #: :mod:`api.job_process`), "worker" = the API only queues and ``tsunagu worker`` processes run
    #: them (default for a postgresql:// workspace), "thread" = background threads of the API
    #: process (embedding and tests: jobs then slow the API down).
    job_runner: Literal["process", "thread", "worker"] | None = None
    #: Jobs run at once by the child processes (process mode; None = max(1, cores - 1)).
    job_processes: int | None = Field(default=None, ge=1, le=64)
    #: Jobs run at once by the API's threads (thread mode).
    job_threads: int = Field(default=2, ge=1, le=16)
    #: Seconds a running job stays held without a heartbeat before another worker re-queues it.
    job_lease_s: float = Field(default=30.0, gt=0)
    #: Seconds between heartbeats of a running job (None: a sixth of the lease, at most 5 s).
    job_heartbeat_s: float | None = Field(default=None, gt=0)
    #: Attempts before a job whose worker keeps dying is marked failed.
    job_max_attempts: int = Field(default=3, ge=1, le=100)
    #: Seconds between looks at the queue when it is empty.
    job_poll_s: float = Field(default=1.0, gt=0)
    #: Niceness added to a process running jobs (``tsunagu worker``, the child job processes of
    #: ``tsunagu serve``): 0–19, higher yields the CPU to the API sooner, so maps stay fast while
    #: analyses run on the same cores (0 = as the API).
    job_nice: int = Field(default=10, ge=0, le=19)
    #: More modules registering analyses, comma-separated (e.g. a site's own analyses).
    analysis_modules: str = ""

    @model_validator(mode="after")
    def _default_job_runner(self) -> "Settings":
        if self.job_runner is None:
            server = self.workspace.startswith(("postgresql://", "postgresql+psycopg://", "postgres://"))
            self.job_runner = "worker" if server else EMBEDDED_JOB_RUNNER
        if self.job_heartbeat_s is not None and self.job_heartbeat_s >= self.job_lease_s:
            msg = f"job_heartbeat_s（{self.job_heartbeat_s:g}）は job_lease_s（{self.job_lease_s:g}）より短くしてください"
            en = f"job_heartbeat_s ({self.job_heartbeat_s:g}) must be shorter than job_lease_s ({self.job_lease_s:g})"
            raise InputDataError(msg, en=en)
        return self

    def analysis_module_names(self) -> list[str]:
        """:attr:`analysis_modules` as a list of module names."""
        return [m.strip() for m in self.analysis_modules.split(",") if m.strip()]
