"""Comparing two runs of an analysis (baseline and scenario, or two scenarios), area by area.

Each result table of a job is keyed by its area columns (``階層キー`` and ``地域ID`` in the
per-tier tables); :func:`compare_tables` joins the two runs' tables on those keys and gives,
for every numeric indicator both have, the baseline value, the scenario value and the
difference (scenario − baseline). :func:`area_changes` then says, per area, whether it
gained or lost on the analysis's main indicator (:data:`MAIN_INDICATORS`, and which way is
better for it).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from gis.errors import InputDataError

#: Columns that identify a row, in order of preference (the first ones found are the key).
KEY_COLUMNS = [("階層キー", "地域ID"), ("地域ID",), ("level", "area_id"), ("area_id",), ("停留所ID",), ("拠点ID",)]
#: Columns shown beside the key, taken from the baseline (or the scenario for new rows).
LABEL_COLUMNS = ["階層", "名称", "上位地域ID", "level_label", "name"]
#: Main indicator of a table (first column found): (column, True when more is better).
MAIN_INDICATORS: list[tuple[str, bool]] = [
    ("未カバー高齢者", False), ("残る買い物弱者（直線）", False), ("買い物弱者（直線）", False),
    ("残る買い物弱者（道路網）", False), ("買い物弱者（道路網）", False), ("未カバーの対象者", False),
    ("uncovered_elderly", False), ("未カバー率（%）", False), ("カバー済み高齢者", True), ("covered_elderly", True),
]
#: Suffixes of the three columns per indicator.
BASE, SCENARIO, DELTA = "（基準）", "（比較）", "（差）"
#: How an area fared on the main indicator.
GAINED, LOST, SAME, NEW, GONE = "改善", "悪化", "変化なし", "比較のみ", "基準のみ"


def table_keys(table: pd.DataFrame) -> list[str]:
    """The key columns of a result table (see :data:`KEY_COLUMNS`); empty when it has none."""
    for keys in KEY_COLUMNS:
        if all(k in table.columns for k in keys):
            return list(keys)
    return []


def compare_tables(base: pd.DataFrame, scenario: pd.DataFrame, *, keys: list[str] | None = None) -> pd.DataFrame:
    """Per-row deltas of every numeric indicator two result tables share.

    Parameters
    ----------
    base, scenario
        The same table of the two runs (e.g. 「圏域別（徒歩500 m）」 of two salon-gaps jobs).
    keys
        Columns identifying a row; default :func:`table_keys` of ``base``.

    Returns
    -------
    pandas.DataFrame
        The keys, the label columns, then per indicator ``<名>（基準）``, ``<名>（比較）`` and
        ``<名>（差）`` (比較 − 基準; NaN where a row is in one run only). Rows in either run.

    Raises
    ------
    InputDataError
        The tables have no key column, or a key repeats.
    """
    keys = list(keys) if keys else table_keys(base)
    if not keys or not all(k in scenario.columns for k in keys):
        raise InputDataError(
            "比べる表に地域を表す列（地域ID など）がありません",
            en="the tables compared have no area column (area ID ...)",
            hint="同じ分析の同じ表どうしを比べてください",
            hint_en="compare the same table of the same analysis",
        )
    for what, frame in (("基準", base), ("比較", scenario)):
        dup = frame[keys].astype(str).duplicated()
        if dup.any():
            raise InputDataError(
                f"{what}の表で地域が重複しています（{', '.join(keys)}）",
                en=f"areas repeat in the {what} table ({', '.join(keys)})",
            )
    numeric = [c for c in base.columns if c not in keys and c in scenario.columns
               and pd.api.types.is_numeric_dtype(base[c]) and pd.api.types.is_numeric_dtype(scenario[c])
               and not pd.api.types.is_bool_dtype(base[c])]
    labels = [c for c in LABEL_COLUMNS if c in base.columns or c in scenario.columns]
    a = base.copy()
    b = scenario.copy()
    for k in keys:
        a[k] = a[k].astype(str)
        b[k] = b[k].astype(str)
    a_lab = a[keys + [c for c in labels if c in a.columns]]
    b_lab = b[keys + [c for c in labels if c in b.columns]]
    merged = a[keys + numeric].merge(b[keys + numeric], on=keys, how="outer", suffixes=(BASE, SCENARIO),
                                     indicator=True)
    lab = pd.concat([a_lab, b_lab[~b_lab.set_index(keys).index.isin(a_lab.set_index(keys).index)]],
                    ignore_index=True)
    out = merged[keys + ["_merge"]].merge(lab, on=keys, how="left")
    for c in numeric:
        x = pd.to_numeric(merged[c + BASE], errors="coerce").astype(float)
        y = pd.to_numeric(merged[c + SCENARIO], errors="coerce").astype(float)
        out[c + BASE] = x.to_numpy()
        out[c + SCENARIO] = y.to_numpy()
        out[c + DELTA] = (y - x).round(6).to_numpy()
    out["_in"] = out.pop("_merge").map({"both": "both", "left_only": "base", "right_only": "scenario"}).astype(str)
    out.attrs["keys"] = keys
    out.attrs["indicators"] = numeric
    return out


def main_indicator(columns) -> tuple[str, bool] | None:
    """The main indicator among ``columns`` and whether more of it is better (:data:`MAIN_INDICATORS`)."""
    cols = list(columns)
    for name, more_is_better in MAIN_INDICATORS:
        if name in cols:
            return name, more_is_better
    return None


def area_changes(compared: pd.DataFrame, *, indicator: str | None = None, more_is_better: bool | None = None,
                 tolerance: float = 1e-6) -> pd.DataFrame:
    """Per row of :func:`compare_tables`: 改善 / 悪化 / 変化なし on the main indicator, and its delta.

    Returns the keys, labels, ``指標``, ``基準``, ``比較``, ``差`` and ``変化``.
    """
    if indicator is None:
        found = main_indicator(compared.attrs.get("indicators", []))
        if found is None:
            raise InputDataError(
                "この表には主な指標（未カバーの65歳以上など）がありません",
                en="this table has no headline figure (uncovered 65+ ...)",
            )
        indicator, more_is_better = found
    if more_is_better is None:
        more_is_better = True
    keys = compared.attrs.get("keys", [])
    labels = [c for c in LABEL_COLUMNS if c in compared.columns]
    d = compared[indicator + DELTA].to_numpy(dtype=float)
    status = np.where(np.abs(d) <= tolerance, SAME, np.where((d > 0) == more_is_better, GAINED, LOST))
    status = np.where(compared["_in"] == "scenario", NEW, np.where(compared["_in"] == "base", GONE, status))
    out = compared[keys + labels].copy()
    out["指標"] = indicator
    out["基準"] = compared[indicator + BASE].to_numpy()
    out["比較"] = compared[indicator + SCENARIO].to_numpy()
    out["差"] = d
    out["変化"] = status
    return out


def compare_results(base_tables: Mapping[str, pd.DataFrame], scenario_tables: Mapping[str, pd.DataFrame]
                    ) -> dict[str, pd.DataFrame]:
    """:func:`compare_tables` for every table both runs have that has area keys."""
    out = {}
    for name, table in base_tables.items():
        other = scenario_tables.get(name)
        if other is None or not table_keys(table) or not all(k in other.columns for k in table_keys(table)):
            continue
        out[name] = compare_tables(table, other)
    if not out:
        raise InputDataError(
            "二つの結果に、地域ごとに比べられる共通の表がありません",
            en="the two results share no table that can be compared area by area",
            hint="同じ分析（例: salon-gaps どうし）の結果を比べてください",
            hint_en="compare results of the same analysis (e.g. salon-gaps with salon-gaps)",
        )
    return out


__all__ = ["BASE", "DELTA", "GAINED", "GONE", "KEY_COLUMNS", "LOST", "MAIN_INDICATORS", "NEW", "SAME", "SCENARIO",
           "area_changes", "compare_results", "compare_tables", "main_indicator", "table_keys"]
