"""Checks both stores make before writing, so bad input fails the same way and writes nothing."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd

from api.store import _json
from gis.errors import InputDataError
from gis.tiers import CityProfile


def check_workspace(city_code: str, city_name: str, profile: CityProfile) -> None:
    if not str(city_code or "").strip():
        msg = "the workspace needs a municipality code (e.g. '33209' for 高梁市)"
        raise InputDataError(msg)
    if not isinstance(profile, CityProfile):
        msg = f"profile must be a CityProfile (gis.tiers.load_profile), not {type(profile).__name__}"
        raise InputDataError(msg)


def check_mapping(value: dict, what: str) -> None:
    if not isinstance(value, dict):
        msg = f"a {what} must be a mapping, not {type(value).__name__}"
        raise InputDataError(msg)
    try:
        _json.dumps(value)
    except (TypeError, ValueError) as exc:
        msg = f"the {what} cannot be stored as JSON: {exc}"
        raise InputDataError(msg) from exc


def check_points(frame: gpd.GeoDataFrame, id_column: str, what: str) -> None:
    bad = frame.geometry.notna() & (frame.geometry.geom_type != "Point")
    if bad.any():
        i = int(bad.to_numpy().argmax())
        msg = f"{what} {frame[id_column].iloc[i]!r} is a {frame.geometry.geom_type.iloc[i]}, not a point"
        raise InputDataError(msg, feature=str(frame[id_column].iloc[i]), hint="give its location as one point")


def check_kinds(frame: gpd.GeoDataFrame, kinds: list[str]) -> None:
    other = sorted(set(frame["kind"]) - set(kinds))
    if other:
        msg = f"resources of kind {other} given to replace only kinds {list(kinds)}"
        raise InputDataError(msg, hint="add those kinds to `kinds` or leave them out of the frame")


def check_new_ids(new_ids: pd.Series, existing: set[str], *, kept: bool = False) -> None:
    clash = sorted(set(new_ids) & existing)
    if clash:
        shown = ", ".join(map(repr, clash[:10])) + (" …" if len(clash) > 10 else "")
        where = "resources of other kinds that stay" if kept else "the workspace"
        msg = f"{len(clash)} resource_id(s) already exist in {where}: {shown}; nothing was added"
        raise InputDataError(msg, hint="give new ids, or replace or delete the existing resources first")


#: Resource columns :meth:`StoreWriter.update_resource` may change.
RESOURCE_EDITABLE = ("name", "kind", "address", "geometry")


def check_resource_changes(changes: dict) -> dict:
    """The changes of one resource, checked: known columns, text as text, a known kind, one point."""
    from shapely.geometry import Point

    from gis.schema import RESOURCE_KINDS

    unknown = sorted(set(changes) - set(RESOURCE_EDITABLE))
    if unknown:
        msg = f"cannot change {unknown} of a resource; editable: {', '.join(RESOURCE_EDITABLE)}"
        raise InputDataError(msg)
    out = {}
    for column, value in changes.items():
        if column == "geometry":
            if not isinstance(value, Point) or value.is_empty:
                msg = f"a resource's position must be one point, not {type(value).__name__}"
                raise InputDataError(msg, hint="give its location as one point")
            out[column] = value
        elif column == "kind":
            if value not in RESOURCE_KINDS:
                msg = f"unknown resource kind {value!r}; known kinds: {', '.join(RESOURCE_KINDS)}"
                raise InputDataError(msg)
            out[column] = str(value)
        else:
            out[column] = "" if value is None else str(value)
    return out
