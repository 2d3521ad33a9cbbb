"""Shared pytest fixtures: stores (GeoPackage in tmp_path, PostGIS test database)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator

import pytest

# Apps the tests build on a GeoPackage run their jobs in threads of the test process (the fake
# analysis and its GATE live there); tests/test_job_process.py asks for the child processes that
# `tsunagu serve` uses by default. Servers started as subprocesses keep the real default.
import api.settings  # noqa: E402

api.settings.EMBEDDED_JOB_RUNNER = "thread"

#: Used when TSUNAGU_TEST_DATABASE_URL is unset (what .ci/run prepares).
DEFAULT_TEST_DATABASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/tsunagu_test"


def _postgis_problem(url: str) -> str | None:
    """Return why ``url`` cannot serve the PostGIS tests, or None when it can."""
    import sqlalchemy as sa

    from api.store.base import StoreError
    from api.store.postgis import normalise_url

    try:
        engine = sa.create_engine(normalise_url(url), connect_args={"connect_timeout": 3})
    except StoreError as exc:
        return str(exc)
    try:
        with engine.connect() as conn:
            has = conn.execute(sa.text("SELECT 1 FROM pg_extension WHERE extname = 'postgis'")).first()
            if not has:
                try:
                    conn.execute(sa.text("CREATE EXTENSION IF NOT EXISTS postgis"))
                    conn.commit()
                except sa.exc.DBAPIError as exc:
                    return f"PostGIS is not enabled in the test database and cannot be: {str(exc.orig).strip()}"
    except sa.exc.DBAPIError as exc:
        return f"cannot connect: {str(exc.orig).strip()}"
    finally:
        engine.dispose()
    return None


@pytest.fixture(scope="session")
def postgis_url() -> str:
    """URL of a PostgreSQL database with PostGIS; skips (or fails under TSUNAGU_REQUIRE_POSTGIS=1) without one."""
    url = os.environ.get("TSUNAGU_TEST_DATABASE_URL") or DEFAULT_TEST_DATABASE_URL
    problem = _postgis_problem(url)
    if problem:
        from api.store.postgis import normalise_url

        with_url = url
        try:
            with_url = normalise_url(url).render_as_string(hide_password=True)
        except Exception:  # noqa: BLE001 - the problem text already says what is wrong
            pass
        reason = (f"no PostGIS test database at {with_url} ({problem}); set TSUNAGU_TEST_DATABASE_URL "
                  "or run .ci/run")
        if os.environ.get("TSUNAGU_REQUIRE_POSTGIS") == "1":
            pytest.fail(f"TSUNAGU_REQUIRE_POSTGIS=1 but {reason}", pytrace=False)
        pytest.skip(reason)
    return url


@pytest.fixture
def pg_store_factory(postgis_url: str) -> Iterator[Callable]:
    """Open PostGIS stores on fresh workspaces; every workspace used is deleted afterwards.

    ``factory()`` opens a new unique workspace; ``factory(name)`` (re)opens workspace ``name``
    as a new store object.
    """
    import sqlalchemy as sa

    from api.store.postgis import PostGISStore

    names: list[str] = []
    stores: list[PostGISStore] = []

    def factory(name: str | None = None) -> PostGISStore:
        name = name or f"test_{uuid.uuid4().hex[:12]}"
        if name not in names:
            names.append(name)
        store = PostGISStore(postgis_url, workspace=name)
        stores.append(store)
        return store

    yield factory
    for store in stores:
        store.close()
    if names:
        from api.store.postgis import normalise_url

        engine = sa.create_engine(normalise_url(postgis_url))
        with engine.begin() as conn:
            conn.execute(sa.text("DELETE FROM workspaces WHERE name = ANY(:names)"), {"names": names})
        engine.dispose()


@pytest.fixture
def pg_store(pg_store_factory):
    """A PostGIS store on a fresh, empty workspace (deleted after the test)."""
    return pg_store_factory()


@pytest.fixture
def tmp_store(tmp_path):
    """A GeoPackage store in a fresh file under ``tmp_path``."""
    from api.store.geopackage import GeoPackageStore

    with GeoPackageStore(tmp_path / "workspace.gpkg") as store:
        yield store


@pytest.fixture(scope="session")
def data_dir():
    """The real open-data folder (skips, saying where it looked, when it is not at hand)."""
    from _paths import require_data_dir

    return require_data_dir()


# --- PostGIS tally: CI output must show the PostGIS tests passed, not skipped ---------------

_POSTGIS_TALLY: dict[str, int] = {}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "postgis_url" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.postgis)


def pytest_runtest_logreport(report):
    if "postgis" not in report.keywords:
        return
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        _POSTGIS_TALLY[report.outcome] = _POSTGIS_TALLY.get(report.outcome, 0) + 1


def pytest_terminal_summary(terminalreporter):
    if _POSTGIS_TALLY:
        parts = ", ".join(f"{n} {outcome}" for outcome, n in sorted(_POSTGIS_TALLY.items()))
        terminalreporter.write_line(f"PostGIS tests (real PostgreSQL + PostGIS): {parts}")
