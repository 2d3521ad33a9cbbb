"""Service settings, read from TSUNAGU_* environment variables (or given to create_app)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


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
    #: Largest upload accepted by ``POST /resources/import`` (bytes, whole request body).
    max_upload_bytes: int = Field(default=200 * 1024 * 1024, gt=0)
    #: Folder for uploads while they are imported (deleted afterwards); system temp by default.
    upload_dir: Path = Field(default_factory=lambda: Path(tempfile.gettempdir()))
    #: Address ``tsunagu serve`` listens on.
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
