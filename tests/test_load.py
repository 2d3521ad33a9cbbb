"""Bounded load test on loopback (the CI setting of benchmarks/load.py): zero errors.

Ten users browse the maps of 高梁市, first alone and then while two others run analysis jobs,
against a real ``tsunagu serve`` process; the figures in the issue note come from the full run
(``python3 benchmarks/load.py``: 50 users + 5 job users for 60 s).
"""

from __future__ import annotations

import math
import sys
import uuid
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import load  # noqa: E402


@pytest.mark.realdata
def test_bounded_load_has_no_errors(data_dir, capsys):
    result = load.run(users=10, jobs=2, duration=6, baseline=2, think=0.5, data_dir=str(data_dir))
    print(result.text)
    assert not result.errors, result.text
    assert result.with_jobs.jobs_done >= 1 and result.with_jobs.jobs_failed == 0, result.text
    assert result.no_jobs is not None and result.no_jobs.jobs_done == 0
    for label in load.KEY_ENDPOINTS:
        assert result.with_jobs.latencies.get(label), f"{label} was never requested under load:\n{result.text}"
        assert result.no_jobs.latencies.get(label), f"{label} was never requested without jobs:\n{result.text}"
        assert math.isfinite(result.ratio(label)) and "p95 jobs/no jobs" in result.text


@pytest.mark.postgis
def test_postgis_benchmark_uses_the_callers_database_and_never_drops_it(postgis_url):
    import sqlalchemy as sa

    from api.store.postgis import normalise_url

    name = f"tsunagu_load_test_{uuid.uuid4().hex[:8]}"
    url = normalise_url(postgis_url).set(database=name)
    admin = sa.create_engine(normalise_url(postgis_url), isolation_level="AUTOCOMMIT")
    try:
        given = url.render_as_string(hide_password=False)
        assert load.ensure_database(given) == given  # made, with PostGIS
        engine = sa.create_engine(url)
        with engine.begin() as conn:
            conn.execute(sa.text("CREATE TABLE kept_by_the_caller (x int)"))
            conn.execute(sa.text("INSERT INTO kept_by_the_caller VALUES (7)"))
        engine.dispose()
        load.ensure_database(given)  # a second run: the same database, what it held kept
        engine = sa.create_engine(url)
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT x FROM kept_by_the_caller")).scalar() == 7
            assert conn.execute(sa.text("SELECT extname FROM pg_extension WHERE extname = 'postgis'")).scalar()
        engine.dispose()
        with admin.connect() as conn:  # and no fixed scratch database was made or dropped beside it
            assert conn.execute(sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first()
        source = (Path(load.__file__)).read_text(encoding="utf-8")
        assert "DROP DATABASE" not in source.upper()
        with pytest.raises(SystemExit):
            load.ensure_database(normalise_url(postgis_url).set(database="").render_as_string(hide_password=False))
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))  # the test's own database
        admin.dispose()
