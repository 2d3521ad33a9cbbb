"""Test helper: log a TestClient in as a user of some role (the user is created when missing)."""

from __future__ import annotations

PASSWORD = "test-password-0123"


def accounts_of(app):
    """The app's account store (opened like the service does on first use)."""
    from api.security import open_accounts

    if getattr(app.state, "accounts", None) is None:
        app.state.accounts = open_accounts(app.state.settings)
    return app.state.accounts


def ensure_user(app, role: str = "admin", *, station_id: str | None = None, username: str | None = None,
                password: str = PASSWORD):
    """Create (once) and return the user ``username`` (default ``test-<role>[-<station>]``)."""
    accounts = accounts_of(app)
    if role == "csw" and station_id is None:
        station_id = "sample-station-01"
    username = username or "-".join(filter(None, ["test", role, station_id]))
    user = accounts.get_user(username)
    if user is None:
        user = accounts.create_user(username, password, role=role, station_id=station_id)
    return user


def login(client, role: str = "admin", *, station_id: str | None = None, username: str | None = None) -> dict:
    """Log ``client`` in as a ``role`` user; returns the Authorization header (also set on the client)."""
    user = ensure_user(client.app, role, station_id=station_id, username=username)
    response = client.post("/auth/login", json={"username": user.username, "password": PASSWORD})
    assert response.status_code == 200, response.text
    headers = {"Authorization": f"Bearer {response.json()['token']}"}
    client.headers.update(headers)
    client.cookies.clear()
    return headers
