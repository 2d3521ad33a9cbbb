"""Schemathesis against the app's own OpenAPI schema, every operation, logged in: zero 5xx.

Bounded for CI (``TSUNAGU_FUZZ_EXAMPLES`` examples per operation, default 25); the figures in the
issue note come from a longer run (``TSUNAGU_FUZZ_EXAMPLES=200``). Each generated request gets a
fresh administrator session (administrators may call every operation), so a generated logout or
password change cannot spoil the rest of the run.
"""

from __future__ import annotations

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable

from _auth import accounts_of, ensure_user
from _sample_workspace import small_app
from api.app import create_app
from api.settings import Settings

EXAMPLES = int(os.environ.get("TSUNAGU_FUZZ_EXAMPLES", "25"))


@pytest.fixture(scope="module")
def fuzz_app(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fuzz")
    with small_app(folder, max_upload_bytes=256 * 1024, data_dir=folder) as app:
        ensure_user(app, "admin")
        yield app


def _labels() -> list[str]:
    """Every operation of the schema (read from an app that is never started)."""
    app = create_app(Settings(workspace="unused/ws.gpkg"))
    loaded = schemathesis.openapi.from_asgi("/openapi.json", app)
    return sorted(result.ok().label for result in loaded.get_all_operations())


@pytest.fixture(scope="module")
def api_schema(fuzz_app):
    return schemathesis.openapi.from_asgi("/openapi.json", fuzz_app)


@pytest.mark.parametrize("mode", list(schemathesis.GenerationMode), ids=lambda m: m.value)
@pytest.mark.parametrize("label", _labels())
def test_no_server_errors(label, mode, api_schema, fuzz_app):
    """Valid and invalid requests of one operation: any status but 5xx."""
    operation = api_schema.find_operation_by_label(label)
    accounts = accounts_of(fuzz_app)
    admin = accounts.get_user("test-admin")
    seen: list[int] = []

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    def check(case):
        token, _ = accounts.start_session(admin)  # fresh: a generated logout cannot spoil the run
        response = case.call(headers={"Authorization": f"Bearer {token}"})
        seen.append(response.status_code)
        assert response.status_code < 500, (
            f"{case.method} {case.formatted_path} → {response.status_code}: {response.text[:300]}")

    try:
        check()
    except Unsatisfiable:
        if mode == schemathesis.GenerationMode.NEGATIVE:
            pytest.skip(f"{label} takes no input that could be invalid")
        raise
    assert seen  # the operation was really called
