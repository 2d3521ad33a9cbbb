"""The one vocabulary of resource and station kinds (gis/kinds.toml): labels, groups, colours, roles."""

from __future__ import annotations

import hashlib
import re
import tomllib
from dataclasses import dataclass
from functools import cache
from importlib import resources

#: Target groups an activity can serve (``serves`` in kinds.toml).
SERVES = ("65+", "75+", "children", "all")
_MARKERS = ("normal", "large")
_HEX = re.compile(r"^#[0-9a-f]{6}$")

#: The kind of a ふれあい・いきいきサロン (the salon analyses count these).
SALON_KIND = "salon"
#: The kind of a mobile-sales (移動販売) stop; its ``attributes["days"]`` says when the truck comes.
MOBILE_STOP_KIND = "mobile_sales_stop"
#: The kind given to anything the vocabulary has no better word for.
OTHER_KIND = "other"


@dataclass(frozen=True)
class Kind:
    """One resource or station kind.

    Attributes
    ----------
    key
        ASCII key stored in the workspace (``kind`` column), used in URLs and the API.
    label
        Japanese name shown to users.
    group
        Key of the group (``gathering``, ``venue``, ``shop`` …); see :func:`groups`.
    colour
        Marker colour, lower-case ``#rrggbb``.
    marker
        ``"large"`` for the kind drawn bigger, else ``"normal"``.
    shown
        Its layer is on when a map opens.
    common
        Offered first when adding a resource on the map.
    salon_candidate
        A hall a salon can meet in (default candidate sites).
    food_shop
        A food shop counted by the MAFF method.
    serves
        Whom the activity is for (one of :data:`SERVES`), or None.
    synonyms
        Other names users write for it.
    attributes
        Attributes the kind usually carries.
    """

    key: str
    label: str
    group: str
    colour: str
    marker: str = "normal"
    shown: bool = False
    common: bool = False
    salon_candidate: bool = False
    food_shop: bool = False
    serves: str | None = None
    synonyms: tuple[str, ...] = ()
    attributes: tuple[str, ...] = ()


def source_text() -> str:
    """Return the text of ``gis/kinds.toml`` (for fingerprints and tests)."""
    return (resources.files("gis") / "kinds.toml").read_text(encoding="utf-8")


def fingerprint() -> str:
    """Return a short hash of the vocabulary, for cache-busting URLs of what is rendered from it."""
    return hashlib.sha256(source_text().encode("utf-8")).hexdigest()[:10]


def _kind(key: str, spec: dict, groups: dict[str, str], what: str) -> Kind:
    unknown = set(spec) - {f for f in Kind.__dataclass_fields__ if f != "key"}
    if unknown:
        msg = f"kinds.toml: {what}.{key} has unknown fields {sorted(unknown)}"
        raise ValueError(msg)
    kind = Kind(key=key, **{k: tuple(v) if isinstance(v, list) else v for k, v in spec.items()})
    if not re.fullmatch(r"[a-z][a-z0-9_]*", key):
        msg = f"kinds.toml: key {key!r} must be lower-case ASCII letters, digits and '_'"
        raise ValueError(msg)
    if kind.group not in groups:
        msg = f"kinds.toml: {what}.{key} has group {kind.group!r}; groups are {', '.join(groups)}"
        raise ValueError(msg)
    if not _HEX.match(kind.colour):
        msg = f"kinds.toml: {what}.{key} colour {kind.colour!r} is not lower-case #rrggbb"
        raise ValueError(msg)
    if kind.marker not in _MARKERS:
        msg = f"kinds.toml: {what}.{key} marker {kind.marker!r} is not one of {_MARKERS}"
        raise ValueError(msg)
    if kind.serves is not None and kind.serves not in SERVES:
        msg = f"kinds.toml: {what}.{key} serves {kind.serves!r}, not one of {SERVES}"
        raise ValueError(msg)
    return kind


@cache
def _load() -> tuple[dict[str, str], dict[str, Kind], dict[str, Kind]]:
    raw = tomllib.loads(source_text())
    groups = dict(raw["groups"])
    res = {k: _kind(k, v, groups, "resources") for k, v in raw["resources"].items()}
    sta = {k: _kind(k, v, groups, "stations") for k, v in raw["stations"].items()}
    for required in (SALON_KIND, MOBILE_STOP_KIND, OTHER_KIND):
        if required not in res:
            msg = f"kinds.toml: the resource kind {required!r} is required"
            raise ValueError(msg)
    return groups, res, sta


def groups() -> dict[str, str]:
    """Return the kind groups, key → Japanese label, in display order."""
    return dict(_load()[0])


def resource_kinds() -> dict[str, Kind]:
    """Return every resource kind, key → :class:`Kind`, in display order (legends, layers, forms)."""
    return dict(_load()[1])


def station_kinds() -> dict[str, Kind]:
    """Return every station kind, key → :class:`Kind`."""
    return dict(_load()[2])


def resource_labels() -> dict[str, str]:
    """Return resource kind key → Japanese label."""
    return {k: v.label for k, v in _load()[1].items()}


def station_labels() -> dict[str, str]:
    """Return station kind key → Japanese label."""
    return {k: v.label for k, v in _load()[2].items()}


def resource_colours() -> dict[str, str]:
    """Return resource kind key → marker colour."""
    return {k: v.colour for k, v in _load()[1].items()}


def station_colours() -> dict[str, str]:
    """Return station kind key → marker colour."""
    return {k: v.colour for k, v in _load()[2].items()}


def kind_attributes() -> dict[str, list[str]]:
    """Return the attributes each resource kind usually carries (kinds that list some)."""
    return {k: list(v.attributes) for k, v in _load()[1].items() if v.attributes}


def synonyms() -> dict[str, str]:
    """Return every other name users write for a resource kind → its key."""
    return {word: k for k, v in _load()[1].items() for word in v.synonyms}


def salon_candidate_kinds() -> tuple[str, ...]:
    """Return the kinds a salon can meet in (公民館, 集会所): default candidate sites."""
    return tuple(k for k, v in _load()[1].items() if v.salon_candidate)


def food_shop_kinds() -> tuple[str, ...]:
    """Return the food-shop kinds counted by the MAFF method."""
    return tuple(k for k, v in _load()[1].items() if v.food_shop)


def shown_kinds() -> tuple[str, ...]:
    """Return the resource kinds whose layers are on when a map opens."""
    return tuple(k for k, v in _load()[1].items() if v.shown)


def common_kinds() -> tuple[str, ...]:
    """Return the resource kinds offered first when adding a resource on the map."""
    return tuple(k for k, v in _load()[1].items() if v.common)


def kinds_in_group(group: str) -> tuple[str, ...]:
    """Return the resource kinds of one group (e.g. ``"gathering"``)."""
    if group not in _load()[0]:
        msg = f"unknown kind group {group!r}; groups are {', '.join(_load()[0])}"
        raise ValueError(msg)
    return tuple(k for k, v in _load()[1].items() if v.group == group)


def serving(group: str) -> tuple[str, ...]:
    """Return the resource kinds that serve a target group (one of :data:`SERVES`)."""
    if group not in SERVES:
        msg = f"unknown target group {group!r}; one of {', '.join(SERVES)}"
        raise ValueError(msg)
    return tuple(k for k, v in _load()[1].items() if v.serves == group)


def as_json() -> dict:
    """Return the vocabulary as plain data for web pages (key → label, colour, group, marker, shown)."""
    def one(v: Kind) -> dict:
        return {"label": v.label, "colour": v.colour, "group": v.group, "marker": v.marker, "shown": v.shown}

    return {
        "groups": groups(),
        "resources": {k: one(v) for k, v in _load()[1].items()},
        "stations": {k: one(v) for k, v in _load()[2].items()},
        "other": OTHER_KIND,
    }
