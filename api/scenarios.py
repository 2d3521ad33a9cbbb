"""Scenarios in the service: saving them in a workspace and running an analysis on one (comparing: api.comparisons).

An analysis runs on a scenario through :class:`ScenarioView`, a read-only view of the workspace
whose ``resources()`` are the scenario's (:func:`gis.scenarios.apply_scenario`); the job keeps
the whole scenario in its params under ``"scenario"``, so it says exactly what it ran on even
after the scenario is edited or deleted. The base layers are never written.
"""

from __future__ import annotations

from collections.abc import Mapping

import geopandas as gpd
import pandas as pd

from api.store.base import Store, StoreError
from gis.errors import InputDataError
from gis.scenarios import (
    Scenario,
    apply_parameters,
    apply_scenario,
    scenario_from_dict,
    scenario_to_dict,
)

#: Key of a job's params that names (when asked) or holds (when stored) the scenario.
PARAM = "scenario"


class ScenarioView:
    """The workspace as the scenario has it: its resources changed, everything else as stored, no writes."""

    def __init__(self, store: Store, scenario: Scenario) -> None:
        self._store = store
        self.scenario = scenario
        self._resources: gpd.GeoDataFrame | None = None

    def resources(self, *, kinds: list[str] | None = None) -> gpd.GeoDataFrame:
        """The scenario's resources (all kinds, or those of ``kinds``)."""
        if self._resources is None:
            self._resources = apply_scenario(self._store.resources(), self.scenario)
        out = self._resources
        if kinds is not None:
            out = out[out["kind"].isin(list(kinds))].reset_index(drop=True)
        return out.copy()

    def transaction(self):
        raise StoreError(f"シナリオ「{self.scenario.name}」の上ではデータを書き換えられません（基本データは変わりません）",
                         en=f"data cannot be changed on scenario {self.scenario.name!r} (the base data stays as it is)")

    def __getattr__(self, name: str):
        return getattr(self._store, name)


def new_scenario(store: Store, data: Mapping, *, created_by: str, replace: bool = False) -> dict:
    """Validate ``data`` (:func:`gis.scenarios.scenario_from_dict`), check it against the workspace and save it.

    Every change must apply to the workspace as it is now (resource ids that exist), so a
    scenario that cannot run is refused when it is made, not when a job runs.
    """
    from api.store._jobs import now

    scenario = scenario_from_dict({**data, "created_by": created_by, "created_at": data.get("created_at") or now()})
    apply_scenario(store.resources(), scenario)  # raises InputDataError naming what is missing
    return store.save_scenario(scenario_to_dict(scenario), replace=replace)


def scenario_record(store: Store, name: str) -> dict:
    """The saved scenario ``name`` (InputDataError listing the saved ones when there is none)."""
    found = store.get_scenario(str(name))
    if found is None:
        names = "、".join(s["name"] for s in store.scenarios()) or "（なし）"
        raise InputDataError(f"シナリオ「{name}」はありません（保存済み: {names}）", feature=PARAM,
                             hint="tsunagu scenario list で名前を確かめるか、tsunagu scenario create で作ってください",
                             en=f"no scenario {name!r} (saved: {', '.join(s['name'] for s in store.scenarios()) or 'none'})",
                             hint_en="check the name with tsunagu scenario list, or make one with tsunagu scenario create")
    return found


def job_params(store: Store, spec, params: Mapping | None) -> tuple[dict, dict | None]:
    """Split a job's params into the analysis's own and the scenario it runs on.

    ``params["scenario"]`` may be a name (looked up in the store) or, for a stored job, the whole
    scenario record. The scenario's parameter overrides are merged into the analysis's params
    (only those the analysis has).
    """
    params = dict(params or {})
    raw = params.pop(PARAM, None)
    if raw in (None, ""):
        return params, None
    record = raw if isinstance(raw, Mapping) else scenario_record(store, str(raw))
    scenario = scenario_from_dict(record)
    params = apply_parameters(params, scenario, known=set(spec.params.model_fields))
    return params, scenario_to_dict(scenario) | {"updated_at": record.get("updated_at", "")}


def view_for(store: Store, scenario_record_: Mapping | None):
    """The store an analysis reads: the workspace, or a :class:`ScenarioView` of it."""
    if not scenario_record_:
        return store
    return ScenarioView(store, scenario_from_dict(scenario_record_))


def job_scenario_name(record: Mapping) -> str | None:
    """The scenario a job ran on, or None for the baseline."""
    raw = (record.get("params") or {}).get(PARAM)
    if isinstance(raw, Mapping):
        return str(raw.get("name") or "") or None
    return str(raw) if raw else None


def scenario_label(record: Mapping) -> str:
    """「シナリオ「名前」」 for a job run on a scenario, 「基本データ」 for the baseline (CLI lines)."""
    name = job_scenario_name(record)
    return f"シナリオ「{name}」" if name else "基本データ"


def json_rows(frame: pd.DataFrame) -> list[dict]:
    clean = frame.astype(object).where(frame.notna(), None)
    return clean.to_dict(orient="records")


__all__ = ["PARAM", "ScenarioView", "job_params", "job_scenario_name", "json_rows", "new_scenario", "scenario_label",
           "scenario_record", "view_for"]
