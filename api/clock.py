"""Times as users read them: Japan time (Asia/Tokyo), whatever the server's clock or the stored UTC text."""

from __future__ import annotations

import datetime as _dt
from functools import cache
from zoneinfo import ZoneInfo

#: The zone every time shown to a user is in.
JAPAN_ZONE = "Asia/Tokyo"


@cache
def japan() -> ZoneInfo:
    """The Asia/Tokyo zone (from the system's tz database, or the tzdata package)."""
    return ZoneInfo(JAPAN_ZONE)


def in_japan(value: str | _dt.datetime | None) -> _dt.datetime | None:
    """``value`` (an aware datetime or ISO 8601 text; naive means UTC) in Japan time, or None when absent or unreadable."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = _dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return None
    if not isinstance(value, _dt.datetime):
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=_dt.UTC)
    return value.astimezone(japan())


def japan_text(value: str | _dt.datetime | None, *, seconds: bool = False) -> str:
    """「2026-12-07 10:48（日本時間）」 for a stored time; 「不明」 when there is none."""
    moment = in_japan(value)
    if moment is None:
        return "不明"
    return moment.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M") + "（日本時間）"


def now_japan() -> _dt.datetime:
    """The current time in Japan."""
    return _dt.datetime.now(japan())
