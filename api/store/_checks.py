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
        raise InputDataError(msg,
                             en="the workspace needs a municipality code (e.g. '33209' for Takahashi)")
    if not isinstance(profile, CityProfile):
        msg = f"プロファイルは CityProfile（gis.tiers.load_profile）にしてください（{type(profile).__name__} でした）"
        en = f"profile must be a CityProfile (gis.tiers.load_profile), not {type(profile).__name__}"
        raise InputDataError(msg, en=en)


#: The Japanese of the things the checks name (callers name them in English, for the log).
WHAT_JA = {"scenario": "シナリオ", "station": "拠点", "resource": "資源", "nesting report": "入れ子の確認結果",
           "import record": "取り込みの記録"}


def _ja(what: str) -> str:
    return WHAT_JA.get(what, what)


def check_mapping(value: dict, what: str) -> None:
    if not isinstance(value, dict):
        msg = f"{_ja(what)} は対応表（キーと値）にしてください（{type(value).__name__} でした）"
        en = f"a {what} must be a mapping, not {type(value).__name__}"
        raise InputDataError(msg, en=en)
    try:
        _json.dumps(value)
    except (TypeError, ValueError) as exc:
        msg = f"{_ja(what)} を JSON として保存できません: {exc}"
        en = f"the {what} cannot be stored as JSON: {exc}"
        raise InputDataError(msg, en=en) from exc


def check_points(frame: gpd.GeoDataFrame, id_column: str, what: str) -> None:
    bad = frame.geometry.notna() & (frame.geometry.geom_type != "Point")
    if bad.any():
        i = int(bad.to_numpy().argmax())
        msg = f"{_ja(what)} {frame[id_column].iloc[i]!r} が点ではなく {frame.geometry.geom_type.iloc[i]} です"
        en = f"{what} {frame[id_column].iloc[i]!r} is a {frame.geometry.geom_type.iloc[i]}, not a point"
        raise InputDataError(msg, en=en, feature=str(frame[id_column].iloc[i]), hint="位置は1つの点で指定してください", hint_en="give its location as one point")


def check_kinds(frame: gpd.GeoDataFrame, kinds: list[str]) -> None:
    other = sorted(set(frame["kind"]) - set(kinds))
    if other:
        msg = f"種別 {other} の資源が、種別 {list(kinds)} だけを置き換える取り込みに入っています"
        en = f"resources of kind {other} given to replace only kinds {list(kinds)}"
        raise InputDataError(msg, en=en, hint="その種別を kinds に加えるか、表から除いてください", hint_en="add those kinds to `kinds` or leave them out of the frame")


def check_new_ids(new_ids: pd.Series, existing: set[str], *, kept: bool = False) -> None:
    clash = sorted(set(new_ids) & existing)
    if clash:
        shown = ", ".join(map(repr, clash[:10])) + (" …" if len(clash) > 10 else "")
        where = "resources of other kinds that stay" if kept else "the workspace"
        msg = f"{'残す別の種別の資源' if kept else 'ワークスペース'} に同じ資源 ID が {len(clash)} 件あります: {shown}。何も追加していません"
        en = f"{len(clash)} resource_id(s) already exist in {where}: {shown}; nothing was added"
        raise InputDataError(msg, en=en, hint="新しい ID を付けるか、先に既存の資源を置き換えるか削除してください", hint_en="give new ids, or replace or delete the existing resources first")


#: Resource columns :meth:`StoreWriter.update_resource` may change.
RESOURCE_EDITABLE = ("name", "kind", "address", "geometry")


def check_resource_changes(changes: dict) -> dict:
    """The changes of one resource, checked: known columns, text as text, a known kind, one point."""
    from shapely.geometry import Point

    from gis.schema import RESOURCE_KINDS

    unknown = sorted(set(changes) - set(RESOURCE_EDITABLE))
    if unknown:
        msg = f"資源の {unknown} は変更できません。変更できる項目: {', '.join(RESOURCE_EDITABLE)}"
        en = f"cannot change {unknown} of a resource; editable: {', '.join(RESOURCE_EDITABLE)}"
        raise InputDataError(msg, en=en)
    out = {}
    for column, value in changes.items():
        if column == "geometry":
            if not isinstance(value, Point) or value.is_empty:
                msg = f"資源の位置は1つの点にしてください（{type(value).__name__} でした）"
                en = f"a resource's position must be one point, not {type(value).__name__}"
                raise InputDataError(msg, en=en, hint="位置は1つの点で指定してください", hint_en="give its location as one point")
            out[column] = value
        elif column == "kind":
            if value not in RESOURCE_KINDS:
                msg = f"資源の種別 {value!r} はありません。使える種別: {', '.join(RESOURCE_KINDS)}"
                en = f"unknown resource kind {value!r}; known kinds: {', '.join(RESOURCE_KINDS)}"
                raise InputDataError(msg, en=en)
            out[column] = str(value)
        else:
            out[column] = "" if value is None else str(value)
    return out
