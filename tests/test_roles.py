"""The role matrix: every route of the app × every role, generated from the app's own routes.

A route added without an access rule fails ``test_every_route_declares_a_rule`` (and is closed at
runtime); for every declared rule, the allowed roles get through authorisation (any status but
401/403, and never a 5xx) and every other role gets 403, anonymous callers 401 (or, for web pages,
a redirect to the login page).
"""

from __future__ import annotations

import re
import uuid

import pytest
from fastapi.testclient import TestClient

from _auth import accounts_of, ensure_user
from _sample_workspace import small_app
from api.accounts import ROLES
from api.app import create_app
from api.security import PUBLIC, allow, api_routes, route_rule

#: Values for path parameters: real-looking, so allowed calls reach the handler.
PATH_VALUES = {
    "level": "kominkan",
    "job_id": str(uuid.UUID(int=7)),
    "filename": "areas.csv",
    "username": "nobody-here",
    "resource_id": "no-such-resource",
    "household_id": "H-999",
    "station_id": "s1",
}


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    folder = tmp_path_factory.mktemp("roles")
    with small_app(folder, max_upload_bytes=1024 * 1024, data_dir=folder) as application:
        for role in ROLES:
            ensure_user(application, role, station_id="s1" if role == "csw" else None)
        yield application


def _routes(app) -> list[tuple[str, str, object]]:
    out = []
    for path, methods, route in api_routes(app):
        for method in sorted(methods - {"HEAD"}):
            out.append((method, path, route))
    return out


def _fill_path(path: str) -> str:
    return re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: PATH_VALUES.get(m.group(1), "x"), path)


def _call(client: TestClient, method: str, path: str, token: str | None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    kwargs = {"json": {}} if method in ("POST", "PUT", "PATCH") else {}
    return client.request(method, _fill_path(path), headers=headers, **kwargs)


def test_every_route_declares_a_rule(app):
    routes = _routes(app)
    assert len(routes) >= 20  # the matrix really covers the app
    undeclared = [f"{m} {p}" for m, p, r in routes if route_rule(r) is None]
    assert not undeclared, f"routes without an access rule (add dependencies=[allow(...)]): {undeclared}"


def test_role_matrix(app):
    """Every route × every role (and no login): allowed ones pass authorisation, the others 401/403."""
    accounts = accounts_of(app)
    users = {role: accounts.get_user(f"test-{role}" + ("-s1" if role == "csw" else "")) for role in ROLES}
    problems = []
    checked = 0
    with TestClient(app, raise_server_exceptions=False, follow_redirects=False) as client:
        for method, path, route in _routes(app):
            rule = route_rule(route)
            for role in [None, *ROLES]:
                # a fresh session per call: logout or a password change must not spoil the next call
                token = accounts.start_session(users[role])[0] if role else None
                response = _call(client, method, path, token)
                client.cookies.clear()
                checked += 1
                status = response.status_code
                allowed = rule.public or (role is not None and role in rule.roles)
                where = f"{method} {path} as {role or 'anonymous'} → {status}"
                if status >= 500:
                    problems.append(f"{where} (server error: {response.text[:200]})")
                elif allowed and status in (401, 403):
                    problems.append(f"{where} (should be allowed: {response.text[:200]})")
                elif not allowed and role is None:
                    redirect = status == 303 and response.headers.get("location", "").startswith("/web/login")
                    if status != 401 and not (path.startswith("/web") and redirect):
                        problems.append(f"{where} (should be 401)")
                elif not allowed and status != 403:
                    problems.append(f"{where} (should be 403)")
    assert checked >= 20 * 6
    assert not problems, "\n".join(problems)


def test_a_route_without_a_rule_is_closed_at_runtime(app):
    probe = create_app(app.state.settings, accounts=accounts_of(app))

    @probe.get("/undeclared")
    def undeclared() -> dict:
        return {"secret": True}

    @probe.get("/declared", dependencies=[allow(PUBLIC)])
    def declared() -> dict:
        return {"ok": True}

    token = accounts_of(app).start_session(accounts_of(app).get_user("test-admin"))[0]
    with TestClient(probe, raise_server_exceptions=False) as client:
        r = client.get("/undeclared", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 403 and "secret" not in r.text
        assert "アクセスの決まりがない" in r.json()["message"]
        assert client.get("/declared").json() == {"ok": True}


def test_allow_rejects_unknown_roles():
    with pytest.raises(ValueError, match="roles"):
        allow("superuser")
    with pytest.raises(ValueError, match="PUBLIC"):
        allow(PUBLIC, "admin")
