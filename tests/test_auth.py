"""Accounts, sessions and login over HTTP: expiry, lockout, logout, CSRF, hostile input."""

from __future__ import annotations

import os
import stat
import uuid

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from _auth import PASSWORD, accounts_of, ensure_user, login
from _sample_workspace import small_workspace_settings
from api.accounts import AccountStore, AuthError
from api.app import create_app
from gis.errors import InputDataError


@pytest.fixture()
def settings(tmp_path):
    return small_workspace_settings(tmp_path, max_login_failures=5, lockout_minutes=15)


@pytest.fixture()
def client(settings):
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        yield c


def _login(client, username, password):
    return client.post("/auth/login", json={"username": username, "password": password})


def test_login_me_and_logout_with_bearer_token(client):
    user = ensure_user(client.app, "planner")
    r = _login(client, user.username, PASSWORD)
    assert r.status_code == 200
    body = r.json()
    assert body["user"] == {"username": "test-planner", "display_name": None, "role": "planner",
                            "role_label": "計画担当", "station_id": None}
    client.cookies.clear()
    headers = {"Authorization": f"Bearer {body['token']}"}
    assert client.get("/auth/me", headers=headers).json()["role"] == "planner"
    assert client.get("/tiers", headers=headers).status_code == 200
    assert client.post("/auth/logout", headers=headers).json() == {"logged_out": True}
    r = client.get("/tiers", headers=headers)  # the token died with the session
    assert r.status_code == 401 and r.json()["title"] == "ログインが必要です"
    assert r.headers["www-authenticate"].startswith("Bearer")


def test_login_sets_an_httponly_strict_cookie_that_authenticates(client):
    ensure_user(client.app, "viewer")
    r = _login(client, "test-viewer", PASSWORD)
    cookie = r.headers["set-cookie"]
    assert "tsunagu_session=" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie.replace(
        "SameSite=Strict", "SameSite=strict")
    assert client.get("/auth/me").json()["username"] == "test-viewer"  # the cookie alone


def test_no_login_is_401_and_garbage_token_is_401(client):
    assert client.get("/tiers").status_code == 401
    r = client.get("/tiers", headers={"Authorization": "Bearer " + "x" * 43})
    assert r.status_code == 401 and "有効期限が切れたか" in r.json()["message"]
    assert client.get("/tiers", headers={"Authorization": "Bearer " + "x" * 5000}).status_code == 401


def test_expired_token_is_refused(client):
    accounts = accounts_of(client.app)
    user = ensure_user(client.app, "planner")
    token, expires = accounts.start_session(user, minutes=0)
    r = client.get("/tiers", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401 and r.json()["hint"] == "ログインしてください"
    live, _ = accounts.start_session(user, minutes=5)
    assert client.get("/tiers", headers={"Authorization": f"Bearer {live}"}).status_code == 200


def test_wrong_password_ten_times_locks_the_account(client, settings):
    ensure_user(client.app, "coordinator")
    statuses = [_login(client, "test-coordinator", f"wrong-password-{i}").status_code for i in range(10)]
    assert statuses[:5] == [401] * 5  # the fifth failure locks
    assert statuses[5:] == [423] * 5
    r = _login(client, "test-coordinator", PASSWORD)  # even the right password, while locked
    assert r.status_code == 423
    assert r.json()["title"] == "アカウントがロックされています" and "15 分後" in r.json()["hint"]
    assert 0 < int(r.headers["retry-after"]) <= 15 * 60 + 1
    # an administrator lifts it by setting a new password
    accounts_of(client.app).update_user("test-coordinator", password="a-brand-new-pass")
    assert _login(client, "test-coordinator", "a-brand-new-pass").status_code == 200
    outcomes = [e["outcome"] for e in accounts_of(client.app).login_log(limit=20)]
    assert outcomes.count("locked") == 6 and outcomes[0] == "ok"


def test_unknown_user_and_wrong_password_look_the_same(client):
    ensure_user(client.app, "viewer")
    a = _login(client, "no-such-user", "whatever-password")
    b = _login(client, "test-viewer", "whatever-password")
    assert a.status_code == b.status_code == 401
    assert a.json()["message"] == b.json()["message"] == "ユーザー名かパスワードが違います"


def test_sql_in_name_fields_is_just_text(client):
    login(client, "admin")
    hostile = "'); DROP TABLE users;--"
    assert _login(client, hostile, "x' OR '1'='1").status_code == 401
    r = client.post("/users", json={"username": hostile, "password": "long-enough-1", "role": "viewer"})
    assert r.status_code == 422 and r.json()["detail"]["feature"] == "username"
    r = client.post("/users", json={"username": "tanaka", "password": "long-enough-1", "role": "viewer",
                                    "display_name": hostile})
    assert r.status_code == 201 and r.json()["display_name"] == hostile
    names = {u["username"] for u in client.get("/users").json()}
    assert {"test-admin", "tanaka"} <= names  # the users table is intact


def test_users_api_rules(client):
    login(client, "admin")
    r = client.post("/users", json={"username": "csw1", "password": "long-enough-1", "role": "csw"})
    assert r.status_code == 422 and "拠点" in r.json()["hint"]
    r = client.post("/users", json={"username": "csw1", "password": "short", "role": "csw", "station_id": "s1"})
    assert r.status_code == 422 and "10 文字以上" in r.json()["hint"]
    r = client.post("/users", json={"username": "csw1", "password": "long-enough-1", "role": "csw",
                                    "station_id": "s1"})
    assert r.status_code == 201 and r.json()["station_id"] == "s1"
    assert client.post("/users", json={"username": "csw1", "password": "long-enough-1",
                                       "role": "viewer"}).status_code == 422  # taken
    # the last administrator can be neither demoted nor deleted, and nobody deletes themself
    assert client.patch("/users/test-admin", json={"role": "viewer"}).status_code == 422
    assert client.delete("/users/test-admin").status_code == 403
    assert client.delete("/users/ghost").status_code == 404
    # a new password ends the user's sessions
    other = TestClient(client.app)
    assert _login(other, "csw1", "long-enough-1").status_code == 200
    assert other.get("/auth/me").status_code == 200
    assert client.patch("/users/csw1", json={"password": "another-pass-1"}).status_code == 200
    assert other.get("/auth/me").status_code == 401
    assert client.delete("/users/csw1").json() == {"deleted": "csw1"}


def test_cookie_session_refuses_cross_site_writes(client):
    ensure_user(client.app, "admin")
    assert _login(client, "test-admin", PASSWORD).status_code == 200  # cookie set
    body = {"username": "from-evil", "password": "long-enough-1", "role": "viewer"}
    r = client.post("/users", json=body, headers={"Origin": "https://evil.example"})
    assert r.status_code == 403 and "ほかのサイトから" in r.json()["message"]
    r = client.post("/users", json=body, headers={"Origin": "http://testserver"})
    assert r.status_code == 201
    # a bearer token is not sent by browsers on their own: no Origin check needed
    assert client.get("/users", headers={"Origin": "https://evil.example"}).status_code == 200


def test_account_file_is_private_and_holds_no_password(settings, client):
    ensure_user(client.app, "planner")
    _login(client, "test-planner", "a-wrong-password-typed")
    path = accounts_of(client.app).location
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    raw = open(path, "rb").read()
    assert PASSWORD.encode() not in raw and b"a-wrong-password-typed" not in raw
    with sa.create_engine(f"sqlite:///{path}").connect() as conn:
        hashes = [h for (h,) in conn.execute(sa.text("SELECT password_hash FROM users"))]
    assert hashes and all(h.startswith("$argon2id$") for h in hashes)


def test_account_store_rules(tmp_path):
    accounts = AccountStore(tmp_path / "x.accounts.sqlite", max_failures=2, lockout_minutes=1)
    with pytest.raises(InputDataError, match="役割「"):
        accounts.create_user("a", "long-enough-1", role="root")
    user = accounts.create_user("a", "long-enough-1", role="viewer")
    with pytest.raises(AuthError) as info:
        accounts.authenticate("a", "nope")
    assert info.value.reason == "credentials"
    with pytest.raises(AuthError):
        accounts.authenticate("a", "nope")
    with pytest.raises(AuthError) as info:
        accounts.authenticate("a", "long-enough-1")
    assert info.value.reason == "locked" and 0 < info.value.retry_after <= 61
    accounts.update_user("a", disabled=True)
    token, _ = accounts.start_session(user)
    assert accounts.session_user(token) is None  # a disabled user's sessions do not work
    accounts.close()


@pytest.mark.postgis
def test_accounts_in_postgis_schema(postgis_url):
    accounts = AccountStore(postgis_url, max_failures=3)
    name = f"pg-{uuid.uuid4().hex[:10]}"
    try:
        user = accounts.create_user(name, "long-enough-1", role="csw", station_id="s1")
        assert accounts.authenticate(name, "long-enough-1") == user
        token, _ = accounts.start_session(user)
        assert accounts.session_user(token) == user
        for _ in range(3):
            with pytest.raises(AuthError):
                accounts.authenticate(name, "wrong")
        with pytest.raises(AuthError) as info:
            accounts.authenticate(name, "long-enough-1")
        assert info.value.reason == "locked"
        accounts.end_session(token)
        assert accounts.session_user(token) is None
        with accounts._engine.connect() as conn:
            schema = conn.execute(sa.text(
                "SELECT table_schema FROM information_schema.tables WHERE table_name = 'users' "
                "AND table_schema = 'tsunagu_auth'")).scalar()
        assert schema == "tsunagu_auth"
    finally:
        accounts.delete_user(name)
        accounts.close()
