"""Who may call what: every route declares its roles; a route that declares none is denied.

Each route names the roles allowed to call it in its decorator::

    @router.get("/tiers", dependencies=[allow(*ANY_ROLE)])
    @router.post("/jobs", dependencies=[allow("admin", "planner", "coordinator")])
    @router.get("/health", dependencies=[allow(PUBLIC)])

and a handler that needs its caller takes ``user: CurrentUser``. The app adds
:func:`deny_undeclared` to every route, which refuses (403) any route that declares no rule,
so a new endpoint is closed until someone decides who may use it (and ``tests/test_roles.py``,
generated from the app's routes, fails on it).

Callers authenticate with ``Authorization: Bearer <token>`` (API clients) or the session cookie
``tsunagu_session`` (the web UI; HttpOnly, SameSite=Strict). A state-changing request carried
by the cookie must come from this site: a foreign ``Origin``/``Referer`` is refused (CSRF).
"""

from __future__ import annotations

import threading
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, Request
from fastapi.params import Depends as DependsParam

from api.accounts import ROLES, AccountStore, User, accounts_path
from api.errors import Forbidden, Unauthorized

#: Marker for routes anyone may call without logging in (health, login, the login page).
PUBLIC = "public"
#: Every role: any logged-in user.
ANY_ROLE = tuple(ROLES)
#: Roles that change shared data (resources, imports) and run jobs.
EDITORS = ("admin", "planner", "coordinator")
#: Roles that may see client households (a CSW only their own station's).
CLIENT_ROLES = ("admin", "csw")

SESSION_COOKIE = "tsunagu_session"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_open_lock = threading.Lock()


class RoleRule:
    """The dependency behind :func:`allow`: authenticates the caller and checks the role."""

    def __init__(self, roles: tuple[str, ...]) -> None:
        unknown = [r for r in roles if r != PUBLIC and r not in ROLES]
        if not roles or unknown:
            msg = f"allow() needs roles from {', '.join(ROLES)} or PUBLIC, got {roles!r}"
            raise ValueError(msg)
        if PUBLIC in roles and len(roles) > 1:
            msg = "allow(PUBLIC) takes no other role"
            raise ValueError(msg)
        self.roles = roles

    @property
    def public(self) -> bool:
        return self.roles == (PUBLIC,)

    def __repr__(self) -> str:
        return f"allow{self.roles!r}"

    def __call__(self, request: Request) -> User | None:
        if self.public:
            user = _caller(request, required=False)
        else:
            user = _caller(request, required=True)
            if user.role not in self.roles:
                allowed = "・".join(ROLES[r] for r in self.roles)
                msg = f"{user.username}（{user.role_label}）には {request.method} {request.url.path} の権限がありません"
                raise Forbidden(msg, hint=f"この操作は {allowed} のみ行えます",
                                en=f"{user.username} ({user.role}) may not {request.method} {request.url.path}",
                                hint_en=f"only {', '.join(self.roles)} may do this")
        request.state.user = user
        return user


def allow(*roles: str) -> DependsParam:
    """The rule of a route: the roles that may call it (``PUBLIC`` for no login)."""
    return Depends(RoleRule(tuple(roles)))


def route_rule(route) -> RoleRule | None:
    """The :class:`RoleRule` a route declares (None when it declares none)."""
    rules = [d.dependency for d in getattr(route, "dependencies", ()) if isinstance(d.dependency, RoleRule)]
    if len(rules) > 1:
        msg = f"route {getattr(route, 'path', route)} declares more than one access rule: {rules}"
        raise RuntimeError(msg)
    return rules[0] if rules else None


def deny_undeclared(request: Request) -> None:
    """App-wide dependency: refuse routes that declare no access rule (default deny)."""
    route = request.scope.get("route")
    if route is None or route_rule(route) is None:
        msg = f"{request.method} {request.url.path} にはアクセスの決まりがないため閉じています"
        raise Forbidden(msg, hint="管理者に連絡してください",
                        en=f"{request.method} {request.url.path} has no access rule, so it is closed",
                        hint_en="contact an admin")


# ---------------------------------------------------------------------- accounts


def get_accounts(request: Request) -> AccountStore:
    """The app's account store (opened on first use, beside the workspace or from settings.accounts)."""
    state = request.app.state
    accounts = getattr(state, "accounts", None)
    if accounts is None:
        with _open_lock:
            accounts = getattr(state, "accounts", None)
            if accounts is None:
                accounts = state.accounts = open_accounts(state.settings)
    return accounts


def open_accounts(settings) -> AccountStore:
    """Open the account store the settings point at (``accounts`` or derived from ``workspace``)."""
    location = settings.accounts or settings.workspace
    if "://" not in str(location) and not str(location).endswith(".accounts.sqlite"):
        location = accounts_path(location)
    return AccountStore(location, session_minutes=settings.session_minutes,
                        max_failures=settings.max_login_failures, lockout_minutes=settings.lockout_minutes)


def request_token(request: Request) -> tuple[str | None, str | None]:
    """The session token a request carries and how (``"bearer"`` or ``"cookie"``)."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip(), "bearer"
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        return cookie, "cookie"
    return None, None


def _same_site(request: Request) -> bool:
    """True unless the request says it comes from another site (Origin, else Referer)."""
    source = request.headers.get("origin") or request.headers.get("referer")
    if not source or source == "null":
        return source != "null"
    parts = urlsplit(source)
    return parts.netloc.lower() == (request.headers.get("host") or request.url.netloc).lower()


def _caller(request: Request, *, required: bool) -> User | None:
    cached = getattr(request.state, "user", None)
    if cached is not None:
        return cached
    token, how = request_token(request)
    user = get_accounts(request).session_user(token) if token else None
    if user is None:
        if required:
            msg = "ログインが必要です" if token is None else "ログインの有効期限が切れたか、正しくありません。もう一度ログインしてください"
            en = "login required" if token is None else "the session has expired or is not valid; log in again"
            raise Unauthorized(msg, en=en)
        return None
    if how == "cookie" and request.method not in _SAFE_METHODS and not _same_site(request):
        msg = f"ほかのサイトからの {request.method} は受け付けません"
        raise Forbidden(msg, hint="このサイトの画面から操作してください",
                        en=f"{request.method} from another site is not accepted",
                        hint_en="use this site's own pages")
    return user


def current_user(request: Request) -> User:
    """The authenticated caller of a route that declared a non-public rule."""
    user = getattr(request.state, "user", None)
    if user is None:
        user = _caller(request, required=True)
        request.state.user = user
    return user


def optional_user(request: Request) -> User | None:
    """The caller when logged in, else None (public routes that show more to users)."""
    user = getattr(request.state, "user", None)
    return user if user is not None else _caller(request, required=False)


def viewer_of(user: User):
    """The :class:`api.private.Viewer` (client-store access) of a user."""
    from api.private import Viewer

    return Viewer(user=user.username, role=user.role, station_id=user.station_id)


CurrentUser = Annotated[User, Depends(current_user)]
OptionalUser = Annotated[User | None, Depends(optional_user)]
AccountsDep = Annotated[AccountStore, Depends(get_accounts)]


def api_routes(app) -> list[tuple[str, frozenset[str], object]]:
    """Every API route of ``app`` as ``(path, methods, route)``, through included routers.

    ``route`` is the route a request is dispatched to (what :func:`route_rule` reads). The docs
    pages (``/docs``, ``/redoc``, ``/openapi.json``) are plain Starlette routes and not listed.
    """
    from fastapi.routing import APIRoute

    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # FastAPI before lazily included routers
        contexts = [(r.path, r) for r in app.routes]
    else:
        contexts = [(rc.path, rc.original_route) for rc in iter_route_contexts(app.routes)]
    return [(path, frozenset(route.methods or ()), route) for path, route in contexts if isinstance(route, APIRoute)]
