"""User accounts of a Tsunagu server: roles, argon2 password hashes, expiring sessions, lockout.

Accounts belong to the server, not to one workspace. They are kept apart from the public layers:

* GeoPackage workspace ``…/tsunagu.gpkg`` → the SQLite file ``…/tsunagu.accounts.sqlite`` beside
  it, created with file mode 0600 (owner only);
* PostGIS workspace → the schema ``tsunagu_auth`` in the same database (``PUBLIC`` gets no rights).

Passwords are hashed with Argon2id (argon2-cffi's current defaults, re-hashed on login when those
change). A session is a random token (256 bits) handed to the client once; only its SHA-256 is
stored, so a copy of the database does not let anyone log in. Sessions expire after
``session_minutes``; ``max_failures`` wrong passwords in a row lock the account for
``lockout_minutes`` (also against the right password), and every login attempt is logged
(user name, outcome, time — never the password).
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from api.roles import MIN_PASSWORD_LENGTH, ROLES  # noqa: F401 - part of the accounts API
from gis.errors import InputDataError, TsunaguError

#: Schema of the account tables in a PostgreSQL database.
AUTH_SCHEMA = "tsunagu_auth"
#: Suffix of the account SQLite file next to a GeoPackage workspace.
ACCOUNTS_SUFFIX = ".accounts.sqlite"

_USERNAME = re.compile(r"^[A-Za-z0-9._@\-]{1,64}$")
_CREATE_LOCK = 0x7473756E61C1

_hasher = PasswordHasher()
#: Verified against when the user does not exist, so a wrong name costs as long as a wrong password.


@functools.cache
def _dummy_hash() -> str:
    """The hash a login of an unknown user is checked against; made when accounts open, not at import (~0.1 s)."""
    return _hasher.hash("tsunagu-no-such-user")


class AuthError(TsunaguError):
    """A login that did not succeed.

    ``reason`` is ``"credentials"`` (unknown user or wrong password: deliberately not told apart),
    ``"locked"`` (too many failures; ``retry_after`` seconds to wait) or ``"disabled"``.
    """

    def __init__(self, message: str, *, reason: str, retry_after: int | None = None, en: str | None = None) -> None:
        super().__init__(message, en=en)
        self.reason = reason
        self.retry_after = retry_after


@dataclass(frozen=True)
class User:
    """A logged-in (or stored) user: what every request handler may know about its caller."""

    username: str
    role: str
    station_id: str | None = None
    display_name: str | None = None

    @property
    def role_label(self) -> str:
        return ROLES.get(self.role, self.role)

    @property
    def shown_name(self) -> str:
        return self.display_name or self.username


def _tables(schema: str | None) -> tuple[sa.MetaData, sa.Table, sa.Table, sa.Table]:
    meta = sa.MetaData(schema=schema)
    users = sa.Table(
        "users", meta,
        sa.Column("username", sa.Text, primary_key=True),
        sa.Column("display_name", sa.Text),
        sa.Column("role", sa.Text, nullable=False),
        sa.Column("station_id", sa.Text),
        sa.Column("password_hash", sa.Text, nullable=False),
        sa.Column("failed_logins", sa.Integer, nullable=False, default=0),
        sa.Column("locked_until", sa.DateTime(timezone=True)),
        sa.Column("disabled", sa.Boolean, nullable=False, default=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_login_at", sa.DateTime(timezone=True)),
    )
    sessions = sa.Table(
        "sessions", meta,
        sa.Column("token_sha256", sa.Text, primary_key=True),
        sa.Column("username", sa.Text, nullable=False, index=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )
    log = sa.Table(
        "login_log", meta,
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("username", sa.Text, nullable=False),
        sa.Column("outcome", sa.Text, nullable=False),  # ok | credentials | locked | disabled | logout
    )
    return meta, users, sessions, log


def accounts_path(workspace: str | os.PathLike) -> Path:
    """The account SQLite file of a GeoPackage workspace: ``<stem>.accounts.sqlite`` beside it."""
    p = Path(workspace).expanduser().resolve()
    return p.with_name(p.stem + ACCOUNTS_SUFFIX)


def _is_url(location: str) -> bool:
    return str(location).startswith(("postgresql://", "postgresql+psycopg://", "postgres://"))


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    """SQLite returns naive datetimes: they were written as UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=dt.UTC)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def check_username(username: str) -> str:
    """Return ``username`` if usable (1–64 of A–Z a–z 0–9 . _ @ -); otherwise an InputDataError."""
    if not isinstance(username, str) or not _USERNAME.match(username):
        msg = f"ユーザー名「{username}」は使えません"
        raise InputDataError(msg, feature="username",
                             hint="ユーザー名は半角英数字と . _ @ - で 1〜64 文字にしてください",
                             en=f"user name {username!r} cannot be used",
                             hint_en="use 1 to 64 ASCII letters, digits and . _ @ -")
    return username


def check_password(password: str) -> str:
    """Return ``password`` if long enough (at least :data:`MIN_PASSWORD_LENGTH` characters)."""
    if not isinstance(password, str) or len(password) < MIN_PASSWORD_LENGTH or len(password) > 1024:
        msg = f"パスワードは {MIN_PASSWORD_LENGTH} 文字以上 1024 文字以下にしてください"
        raise InputDataError(msg, feature="password",
                             hint=f"パスワードは {MIN_PASSWORD_LENGTH} 文字以上にしてください",
                             en=f"a password has {MIN_PASSWORD_LENGTH} to 1024 characters",
                             hint_en=f"use a password of at least {MIN_PASSWORD_LENGTH} characters")
    return password


def check_role(role: str, station_id: str | None) -> tuple[str, str | None]:
    """Validate a role (and that a CSW has a station); returns ``(role, station_id)``."""
    if role not in ROLES:
        msg = f"役割「{role}」はありません（使える役割: {'、'.join(ROLES)}）"
        raise InputDataError(msg, feature="role", hint="役割は " + "・".join(f"{k}（{v}）" for k, v in ROLES.items()),
                             en=f"no role {role!r} (roles: {', '.join(ROLES)})",
                             hint_en="roles: " + ", ".join(ROLES))
    station_id = (station_id or "").strip() or None
    if role == "csw" and station_id is None:
        msg = "CSW のアカウントには、訪問先を受け持つ拠点（station_id）が要ります"
        raise InputDataError(msg, feature="station_id", hint="CSW には所属する拠点の ID を指定してください",
                             en="a CSW account needs the station (station_id) whose households it serves",
                             hint_en="give a CSW the id of their station")
    return role, station_id


class AccountStore:
    """The accounts and sessions of one Tsunagu server.

    Parameters
    ----------
    location
        A ``.gpkg`` workspace path (accounts go to ``<stem>.accounts.sqlite`` beside it), a path
        ending in ``.accounts.sqlite`` (used as is), or a ``postgresql://`` URL (schema
        ``tsunagu_auth``).
    session_minutes, max_failures, lockout_minutes
        Session lifetime; wrong passwords in a row before a lockout; length of a lockout.
    """

    def __init__(self, location: str | os.PathLike, *, session_minutes: int = 480, max_failures: int = 5,
                 lockout_minutes: int = 15) -> None:
        self.session_minutes = session_minutes
        self.max_failures = max_failures
        self.lockout_minutes = lockout_minutes
        _dummy_hash()  # made now, so the first login of an unknown user costs what every other one does
        loc = str(location)
        if _is_url(loc):
            from api.store.postgis import normalise_url

            url = normalise_url(loc)
            self.location = url.render_as_string(hide_password=True) + f" (schema {AUTH_SCHEMA})"
            self._meta, self._users, self._sessions, self._log = _tables(AUTH_SCHEMA)
            self._engine = sa.create_engine(url, pool_pre_ping=True)
            try:
                with self._engine.begin() as conn:
                    conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _CREATE_LOCK})
                    conn.execute(sa.text(f"CREATE SCHEMA IF NOT EXISTS {AUTH_SCHEMA}"))
                    conn.execute(sa.text(f"REVOKE ALL ON SCHEMA {AUTH_SCHEMA} FROM PUBLIC"))
                    self._meta.create_all(conn, checkfirst=True)
            except BaseException:
                self._engine.dispose()
                raise
        else:
            path = Path(loc).expanduser()
            path = path if path.name.endswith(ACCOUNTS_SUFFIX) else accounts_path(path)
            if not path.parent.is_dir():
                from api.store.base import StoreError

                msg = f"アカウントを {path} に保存できません: フォルダ {path.parent} がありません"
                raise StoreError(msg, en=f"cannot keep accounts in {path}: the folder {path.parent} does not exist")
            if not path.exists():
                fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o600)
                os.close(fd)
            os.chmod(path, 0o600)
            self.location = str(path)
            self._meta, self._users, self._sessions, self._log = _tables(None)
            self._engine = sa.create_engine(f"sqlite:///{path}", connect_args={"timeout": 30})
            self._meta.create_all(self._engine, checkfirst=True)

    def __repr__(self) -> str:
        return f"AccountStore({self.location!r})"

    def close(self) -> None:
        """Close connections."""
        self._engine.dispose()

    # ------------------------------------------------------------------ users

    @staticmethod
    def _user(row) -> User:
        return User(username=row.username, role=row.role, station_id=row.station_id, display_name=row.display_name)

    def create_user(self, username: str, password: str, *, role: str, station_id: str | None = None,
                    display_name: str | None = None) -> User:
        """Add a user; a taken name, a short password or an unknown role is an InputDataError."""
        check_username(username)
        check_password(password)
        role, station_id = check_role(role, station_id)
        display_name = (display_name or "").strip()[:100] or None
        with self._engine.begin() as conn:
            if conn.execute(sa.select(self._users.c.username).where(self._users.c.username == username)).first():
                msg = f"ユーザー「{username}」はすでにあります"
                raise InputDataError(msg, feature="username", hint="別のユーザー名にしてください",
                                     en=f"user {username!r} already exists",
                                     hint_en="choose another user name")
            conn.execute(self._users.insert().values(
                username=username, display_name=display_name, role=role, station_id=station_id,
                password_hash=_hasher.hash(password), failed_logins=0, disabled=False, created_at=_now()))
        return User(username, role, station_id, display_name)

    def get_user(self, username: str) -> User | None:
        """The user called ``username`` (None when there is none)."""
        with self._engine.connect() as conn:
            row = conn.execute(sa.select(self._users).where(self._users.c.username == str(username))).first()
        return None if row is None else self._user(row)

    def list_users(self) -> list[dict]:
        """Every user (no password hashes), sorted by name."""
        with self._engine.connect() as conn:
            rows = conn.execute(sa.select(self._users).order_by(self._users.c.username)).all()
        now = _now()
        return [{
            "username": r.username, "display_name": r.display_name, "role": r.role,
            "role_label": ROLES.get(r.role, r.role), "station_id": r.station_id, "disabled": bool(r.disabled),
            "locked": bool(r.locked_until and _aware(r.locked_until) > now),
            "created_at": _aware(r.created_at).isoformat(),
            "last_login_at": _aware(r.last_login_at).isoformat() if r.last_login_at else None,
        } for r in rows]

    def count_users(self, *, role: str | None = None) -> int:
        """How many users (of ``role``) there are."""
        query = sa.select(sa.func.count()).select_from(self._users)
        if role:
            query = query.where(self._users.c.role == role, self._users.c.disabled.is_(False))
        with self._engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    def update_user(self, username: str, *, role: str | None = None, station_id: str | None = None,
                    display_name: str | None = None, password: str | None = None,
                    disabled: bool | None = None) -> User:
        """Change a user's role, station, name, password or disabled flag.

        A new password, a new role or disabling ends the user's sessions; the last active admin
        cannot be demoted or disabled (the server would have nobody to manage it).
        """
        with self._engine.begin() as conn:
            row = conn.execute(sa.select(self._users).where(self._users.c.username == str(username))).first()
            if row is None:
                msg = f"no user {username!r}"
                raise LookupError(msg)
            new_role = role or row.role
            new_station = row.station_id if station_id is None else station_id
            new_role, new_station = check_role(new_role, new_station)
            values: dict = {"role": new_role, "station_id": new_station}
            if display_name is not None:
                values["display_name"] = display_name.strip()[:100] or None
            if password is not None:
                values["password_hash"] = _hasher.hash(check_password(password))
                values["failed_logins"] = 0
                values["locked_until"] = None
            if disabled is not None:
                values["disabled"] = bool(disabled)
            demoting = row.role == "admin" and (new_role != "admin" or values.get("disabled"))
            if demoting and self._active_admins(conn) <= 1:
                msg = f"{username} は最後の管理者のため、役割を変えられません"
                raise InputDataError(msg, feature="role", hint="先に別の管理者を作成してください",
                                     en=f"{username} is the last admin, so their role cannot change",
                                     hint_en="create another admin first")
            conn.execute(self._users.update().where(self._users.c.username == row.username).values(**values))
            if password is not None or new_role != row.role or values.get("disabled"):
                conn.execute(self._sessions.delete().where(self._sessions.c.username == row.username))
        return User(row.username, new_role, values["station_id"], values.get("display_name", row.display_name))

    def delete_user(self, username: str) -> None:
        """Remove a user and their sessions (not the last active admin)."""
        with self._engine.begin() as conn:
            row = conn.execute(sa.select(self._users).where(self._users.c.username == str(username))).first()
            if row is None:
                msg = f"no user {username!r}"
                raise LookupError(msg)
            if row.role == "admin" and not row.disabled and self._active_admins(conn) <= 1:
                msg = f"{username} は最後の管理者のため、削除できません"
                raise InputDataError(msg, feature="username", hint="先に別の管理者を作成してください",
                                     en=f"{username} is the last admin and cannot be deleted",
                                     hint_en="create another admin first")
            conn.execute(self._sessions.delete().where(self._sessions.c.username == row.username))
            conn.execute(self._users.delete().where(self._users.c.username == row.username))

    def _active_admins(self, conn) -> int:
        query = sa.select(sa.func.count()).select_from(self._users).where(
            self._users.c.role == "admin", self._users.c.disabled.is_(False))
        return int(conn.execute(query).scalar_one())

    # ------------------------------------------------------------------ login

    def authenticate(self, username: str, password: str) -> User:
        """Check a password; returns the user or raises :class:`AuthError`.

        Wrong passwords count up; at :attr:`max_failures` in a row the account is locked for
        :attr:`lockout_minutes`, during which even the right password is refused.
        """
        now = _now()
        name = str(username or "")[:200]
        # The transaction commits the failure count and the log row; the error is raised after it.
        failure: AuthError | None = None
        with self._engine.begin() as conn:
            row = conn.execute(sa.select(self._users).where(self._users.c.username == name)).first()
            locked_until = _aware(row.locked_until) if row is not None else None
            if row is None:
                try:
                    _hasher.verify(_dummy_hash(), str(password or ""))
                except VerificationError:
                    pass
                failure = AuthError("ユーザー名かパスワードが違います", reason="credentials",
                                    en="wrong user name or password")
            elif locked_until is not None and locked_until > now:
                wait = int((locked_until - now).total_seconds()) + 1
                failure = AuthError(f"アカウント {name} はログインの失敗が続いたためロックされています", reason="locked",
                                    retry_after=wait, en=f"account {name} is locked after repeated failed logins")
            elif not self._verify(row.password_hash, password):
                failures = int(row.failed_logins or 0) + 1
                values: dict = {"failed_logins": failures}
                if failures >= self.max_failures:
                    values = {"failed_logins": 0, "locked_until": now + dt.timedelta(minutes=self.lockout_minutes)}
                conn.execute(self._users.update().where(self._users.c.username == name).values(**values))
                failure = AuthError("ユーザー名かパスワードが違います", reason="credentials",
                                    en="wrong user name or password")
            elif row.disabled:
                failure = AuthError(f"アカウント {name} は無効にされています", reason="disabled",
                                    en=f"account {name} is disabled")
            else:
                values = {"failed_logins": 0, "locked_until": None, "last_login_at": now}
                if _hasher.check_needs_rehash(row.password_hash):
                    values["password_hash"] = _hasher.hash(str(password))
                conn.execute(self._users.update().where(self._users.c.username == name).values(**values))
            self._log_event(conn, name, failure.reason if failure else "ok", now)
        if failure is not None:
            raise failure
        return self._user(row)

    @staticmethod
    def _verify(password_hash: str, password) -> bool:
        try:
            return _hasher.verify(password_hash, str(password or ""))
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def _log_event(self, conn, username: str, outcome: str, at: dt.datetime) -> None:
        conn.execute(self._log.insert().values(at=at, username=username[:200], outcome=outcome))

    def login_log(self, *, limit: int = 200) -> list[dict]:
        """The latest login attempts (user name, outcome, time), newest first."""
        with self._engine.connect() as conn:
            rows = conn.execute(sa.select(self._log).order_by(self._log.c.id.desc()).limit(limit)).all()
        return [{"at": _aware(r.at).isoformat(), "username": r.username, "outcome": r.outcome} for r in rows]

    # ------------------------------------------------------------------ sessions

    def start_session(self, user: User, *, minutes: int | None = None) -> tuple[str, dt.datetime]:
        """A new session token for ``user`` and when it expires (only its hash is stored)."""
        token = secrets.token_urlsafe(32)
        now = _now()
        expires = now + dt.timedelta(minutes=self.session_minutes if minutes is None else minutes)
        with self._engine.begin() as conn:
            conn.execute(self._sessions.delete().where(self._sessions.c.expires_at < now))
            conn.execute(self._sessions.insert().values(
                token_sha256=_digest(token), username=user.username, created_at=now, expires_at=expires))
        return token, expires

    def session_user(self, token: str | None) -> User | None:
        """The user of a live session token; None for an unknown, expired or disabled one."""
        if not token or len(token) > 200:
            return None
        now = _now()
        with self._engine.connect() as conn:
            row = conn.execute(
                sa.select(self._users, self._sessions.c.expires_at)
                .join(self._sessions, self._sessions.c.username == self._users.c.username)
                .where(self._sessions.c.token_sha256 == _digest(token))
            ).first()
        if row is None or _aware(row.expires_at) <= now or row.disabled:
            return None
        return self._user(row)

    def end_session(self, token: str | None) -> None:
        """Log out: forget the session (no error when it is already gone)."""
        if not token:
            return
        with self._engine.begin() as conn:
            row = conn.execute(sa.select(self._sessions.c.username)
                               .where(self._sessions.c.token_sha256 == _digest(token))).first()
            conn.execute(self._sessions.delete().where(self._sessions.c.token_sha256 == _digest(token)))
            if row is not None:
                self._log_event(conn, row.username, "logout", _now())


def open_account_store(location: str | os.PathLike, **kwargs) -> AccountStore:
    """Open (creating when missing) the account store of a workspace location."""
    return AccountStore(location, **kwargs)
