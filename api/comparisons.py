"""Comparing two finished jobs area by area (baseline and scenario, or two scenarios): tables, summary, Excel."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from api.scenarios import PARAM, job_scenario_name, json_rows
from api.store.base import Store
from gis.errors import InputDataError
from gis.scenarios import scenario_from_dict


def compare_jobs(store: Store, job_a: str, job_b: str) -> dict:
    """Compare two finished jobs of the same analysis, area by area.

    Returns
    -------
    dict
        ``{"base": record, "other": record, "tables": {name: compared table},
        "changes": {name: area_changes table}, "scenario_changes": GeoDataFrame | None}``.

    Raises
    ------
    InputDataError
        A job is missing or not finished, or the two are different analyses.
    """
    from api.jobs import find_job, job_tables
    from api.store.base import StoreError
    from gis.comparison import area_changes, compare_results, main_indicator
    from gis.scenarios import scenario_changes_table

    hint = "tsunagu jobs（GET /jobs）でジョブIDを確かめてください"
    hint_en = "check the job id with tsunagu jobs (GET /jobs)"
    records = []
    for jid in (job_a, job_b):
        try:
            rec = find_job(store, str(jid))
        except StoreError as exc:
            raise InputDataError(str(exc), hint=hint,
                                 en=exc.english,
                                 hint_en=hint_en) from None
        if rec is None:
            raise InputDataError(f"ジョブ {jid} はありません", hint=hint,
                                 en=f"no job {jid}",
                                 hint_en=hint_en)
        if rec["status"] != "done":
            raise InputDataError(f"ジョブ {jid} はまだ完了していません（状態: {rec['status']}）",
                                 en=f"job {jid} has not finished yet (status: {rec['status']})")
        records.append(rec)
    a, b = records
    if a["analysis"] != b["analysis"]:
        raise InputDataError(f"違う分析の結果は比べられません（{a['analysis']} と {b['analysis']}）",
                             hint="同じ分析を基準とシナリオで実行したジョブを比べてください",
                             en=f"results of different analyses cannot be compared ({a['analysis']} and {b['analysis']})",
                             hint_en="compare jobs of the same analysis run on the base and on a scenario")
    compared = compare_results(job_tables(store, a), job_tables(store, b))
    changes = {}
    for name, table in compared.items():
        if main_indicator(table.attrs.get("indicators", [])) is not None:
            changes[name] = area_changes(table)
    scen = None
    for rec in (b, a):
        raw = (rec.get("params") or {}).get(PARAM)
        if isinstance(raw, Mapping):
            try:
                scen = scenario_changes_table(store.resources(), scenario_from_dict(raw))
            except InputDataError:
                scen = None
            break
    return {"base": a, "other": b, "tables": compared, "changes": changes, "scenario_changes": scen}


def comparison_summary(result: Mapping) -> dict:
    """JSON-ready comparison: per table the rows (keys, labels, deltas) and the count of areas gained/lost."""
    from gis.comparison import GAINED, LOST

    out_tables = {}
    for name, table in result["tables"].items():
        t = table.drop(columns=["_in"]).copy()
        out_tables[name] = {"columns": list(t.columns), "rows": json_rows(t)}
    changes = {}
    for name, table in result["changes"].items():
        counts = table["変化"].value_counts().to_dict()
        changes[name] = {"indicator": str(table["指標"].iloc[0]) if len(table) else None,
                         "gained": int(counts.get(GAINED, 0)), "lost": int(counts.get(LOST, 0)),
                         "rows": json_rows(table)}
    scen = result.get("scenario_changes")
    return {
        "base": {"job_id": result["base"]["job_id"], "scenario": job_scenario_name(result["base"])},
        "other": {"job_id": result["other"]["job_id"], "scenario": job_scenario_name(result["other"])},
        "analysis": result["base"]["analysis"],
        "tables": out_tables,
        "changes": changes,
        "scenario_changes": [] if scen is None else json_rows(pd.DataFrame(scen.drop(columns="geometry"))),
    }


def comparison_excel(result: Mapping) -> bytes:
    """The comparison as an Excel book: a sheet per compared table, per table of area changes, and the scenario's changes."""
    from api.jobs import xlsx_bytes

    sheets = {f"差_{name}": table.drop(columns=["_in"]) for name, table in result["tables"].items()}
    sheets |= {f"増減_{name}": table for name, table in result["changes"].items()}
    scen = result.get("scenario_changes")
    if scen is not None and len(scen):
        sheets["シナリオの変更"] = pd.DataFrame(scen.drop(columns=["geometry", "action", "kind"]))
    notes = [f"基準: ジョブ {result['base']['job_id']}（{job_scenario_name(result['base']) or '基本データ'}）",
             f"比較: ジョブ {result['other']['job_id']}（{job_scenario_name(result['other']) or '基本データ'}）",
             "差 = 比較 − 基準。シナリオは基本データを変更しません"]
    return xlsx_bytes(sheets, notes=notes)


__all__ = ["compare_jobs", "comparison_excel", "comparison_summary"]
