"""Activity-coverage job: the target group within walking distance of any resource kinds, per tier (activity-coverage)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, ClassVar, Literal

import pandas as pd
from pydantic import Field

from api.analyses.base import (
    AnalysisParams,
    AnalysisResult,
    CellSize,
    choose_engine,
    default_elderly_share,
    Progress,
    register,
    sample_note,
    WalkOrDrive,
    workspace_demand,
)
from api.store.base import Store
from gis.activity_coverage import (
    DEFAULT_THRESHOLD_M,
    activity_coverage,
    check_kind_thresholds,
    coverage_by_tier,
    default_target,
    reconcile,
    target_counts,
    target_group,
    target_weights,
)
from gis.errors import InputDataError
from gis.kinds import SERVES, resource_labels

Threshold = Annotated[float, Field(gt=0, le=20000)]


def _resolve_kind(value: str) -> str:
    from gis.resources import resource_kind

    kind = resource_kind(value)
    if kind is None:
        msg = f"種別「{value}」が分かりません（種別の一覧は tsunagu kinds）"
        raise InputDataError(msg, feature="kinds", hint="キー（kodomo_shokudo）か日本語名（子ども食堂）で指定してください",
                             en=f"unknown resource kind {value!r} (the kinds are listed by tsunagu kinds)",
                             hint_en="give the key (kodomo_shokudo) or the Japanese name (子ども食堂)")
    return kind


def _cli_threshold(values: tuple[str, ...]) -> dict:
    """``--threshold 800`` (every kind) and ``--threshold 子ども食堂=1500`` (one kind), repeatable."""
    out: dict = {}
    for value in values:
        key, sep, metres = value.rpartition("=")
        try:
            number = float(metres)
        except ValueError:
            msg = f"--threshold {value!r} が読めません"
            raise InputDataError(msg, feature="threshold", hint="例: --threshold 800 または --threshold kodomo_shokudo=1500",
                                 en=f"cannot read --threshold {value!r}",
                                 hint_en="e.g. --threshold 800 or --threshold kodomo_shokudo=1500") from None
        if sep:
            out.setdefault("kind_thresholds_m", {})[key.strip()] = number
        else:
            out["threshold_m"] = number
    return out


class ActivityCoverageParams(AnalysisParams):
    """Parameters of activity-coverage."""

    kinds: list[str] = Field(min_length=1, max_length=20,
                             description="対象の活動の種類（日本語名かキー。例: 子ども食堂、認知症カフェ）")
    threshold_m: Threshold = Field(DEFAULT_THRESHOLD_M, description="徒歩圏の距離（m、種別ごとの指定がない種別すべて）")
    kind_thresholds_m: dict[str, Threshold] = Field(default_factory=dict, description="種別ごとの徒歩圏の距離（m）")
    target: Literal["65+", "75+", "children", "all"] | None = Field(
        None, description="対象者（65歳以上 65+・75歳以上 75+・子ども children・全員 all。既定: 活動の種類ごとの対象者）")
    share: float | None = Field(None, ge=0, le=1, description="人口に対する対象者の比率（ワークスペースに人数がない地域に使う）")
    level: str | None = Field(None, description="最初に並べる層のキー（既定: 内側から2番目の層、例 公民館区）")
    cell_size_m: CellSize = 100.0
    mode: WalkOrDrive = "walk"

    #: Options ``tsunagu analyse activity-coverage`` adds to ``--param`` (name → click settings, to params).
    cli_options: ClassVar[dict] = {
        "kinds": ({"multiple": True, "help": "対象の活動の種別（繰り返し可、カンマ区切り可）"},
                  lambda v: {"kinds": [k.strip() for x in v for k in x.split(",") if k.strip()]} if v else {}),
        "threshold": ({"multiple": True, "help": "徒歩圏（m）: 800 ですべての種別、kodomo_shokudo=1500 で1種別（繰り返し可）"},
                      _cli_threshold),
        "target": ({"type": None, "help": f"対象者（{'・'.join(SERVES)}）"}, lambda v: {"target": v} if v else {}),
        "share": ({"type": float, "help": "人口に対する対象者の比率（例: 0.15）"}, lambda v: {} if v is None else {"share": v}),
    }


def _thresholds(params: ActivityCoverageParams) -> dict[str, float]:
    kinds = list(dict.fromkeys(_resolve_kind(k) for k in params.kinds))
    per_kind = {_resolve_kind(k): t for k, t in params.kind_thresholds_m.items()}
    extra = [k for k in per_kind if k not in kinds]
    if extra:
        labels = resource_labels()
        msg = f"徒歩圏を指定した種別 {'、'.join(labels[k] for k in extra)} が対象の種別（kinds）にありません"
        raise InputDataError(msg, feature="kind_thresholds_m", hint="kinds に加えるか、指定を外してください",
                             en=f"kinds with a walking distance of their own are not among the kinds covered: {', '.join(extra)}",
                             hint_en="add them to kinds or leave out their distances")
    return check_kind_thresholds({k: per_kind.get(k, params.threshold_m) for k in kinds})


def _rounded(table: pd.DataFrame) -> pd.DataFrame:
    labels = dict(table.attrs["labels"])
    out = table.drop(columns=["level", "parent_id"]).copy()
    for col in out.columns:
        if col not in ("level_label", "area_id", "name", "uncovered_share"):
            out[col] = out[col].round(1)
    out["uncovered_share"] = (out["uncovered_share"] * 100).round(1)
    labels["uncovered_share"] = "未カバー率（%）"
    labels = {k: v for k, v in labels.items() if k in out.columns}
    out = out.rename(columns=labels)
    out.attrs["labels"] = labels
    return out


@register("activity-coverage", params=ActivityCoverageParams)
def run_activity_coverage(store: Store, params: ActivityCoverageParams, *, progress: Progress,
                          data_dir=None) -> AnalysisResult:
    """Covered / uncovered people of the target group per tier, for any resource kinds, and the map."""
    from layers.coverage import coverage_map
    from layers.maps import render_html

    thresholds = _thresholds(params)
    target = params.target or default_target(list(thresholds))
    labels = resource_labels()
    if target is None:
        msg = (f"{'、'.join(labels[k] for k in thresholds)} の対象者が決まりません。対象者を指定してください")
        raise InputDataError(msg, feature="target", hint="例: --target children（65+・75+・children・all）",
                             en=f"no target group for {', '.join(thresholds)}; give the target group",
                             hint_en="e.g. --target children (65+, 75+, children, all)")
    group = target_group(target)
    ws = store.workspace()
    profile = ws["profile"]
    if params.level is not None and params.level not in profile.keys:
        known = "、".join(f"{lv.key}（{lv.label}）" for lv in profile.levels)
        msg = f"層 {params.level!r} はこのワークスペースにありません（あるもの: {known}）"
        raise InputDataError(msg, feature="level",
                             en=f"no level {params.level!r} in this workspace (levels: {known})")
    focus = params.level or profile.keys[min(1, len(profile.keys) - 1)]
    small = store.areas(level=profile.base.key)
    progress(0.05, "対象者の人数を確認中")
    if group.key == "65+":
        share, where = params.share, "指定の比率"
        if share is None and small["pop_65plus"].isna().any():  # as workspace_demand does for salon-gaps
            share, where = default_elderly_share(ws["city_code"])
        counts = target_counts(small, target="65+", share=share, share_basis=where)
    else:
        counts = target_counts(small, target=group.key, share=params.share)  # the error when no figure, no share
    progress(0.1, "人口をメッシュに配分中")
    demand, age_notes = workspace_demand(store, elderly_share=params.share if group.key == "65+" else None,
                                         cell_size_m=params.cell_size_m)
    weights = demand["elderly"].to_numpy(dtype=float) if group.key == "65+" else target_weights(demand, counts)
    progress(0.3, "距離の計算方法を選択中")
    engine, engine_notes = choose_engine(ws["city_code"], data_dir=Path(data_dir) if data_dir else None, mode=params.mode)
    resources = store.resources(kinds=list(thresholds))
    progress(0.4, "最寄りの活動までの距離を計算中")
    cov = activity_coverage(demand, resources, engine=engine, thresholds_m=thresholds, target=weights)
    notes = [*engine_notes, counts.basis, *(age_notes if group.key == "65+" else []), *sample_note(resources),
             *cov.attrs["notes"]]
    progress(0.6, "圏域ごとに集計中")
    areas = store.areas()
    table = coverage_by_tier(cov, areas, profile=profile, group=group, basis=counts.basis, focus_level=focus)
    value_cols = [c for c in table.columns if c not in ("level", "level_label", "area_id", "name", "parent_id",
                                                          "uncovered_share")]
    bad = reconcile(table, profile=profile, columns=value_cols)
    city = table[table["level"] == profile.top.key].iloc[0]
    kinds_table = pd.DataFrame({
        "種別": [labels[k] for k in thresholds],
        "種別キー": list(thresholds),
        "か所数": [int((resources["kind"] == k).sum()) for k in thresholds],
        "徒歩圏（m）": list(thresholds.values()),
        "カバー済み（人）": [round(float(cov.loc[cov[f"covered_{k}"], "target"].sum()), 1) for k in thresholds],
    })
    summary = {
        "kinds": list(thresholds), "thresholds_m": thresholds, "target": group.key, "target_label": group.label,
        "target_column": counts.column, "share": counts.share, "target_basis": counts.basis,
        "focus_level": focus, "resources": int(len(resources)), "engine": engine.description,
        "demand_points": int(len(demand)), "target_people": float(city["target"]),
        "covered": float(city["covered"]), "uncovered": float(city["uncovered"]),
        "uncovered_share": None if pd.isna(city["uncovered_share"]) else float(city["uncovered_share"]),
        "reconciles": bool(bad.empty),
    }
    progress(0.8, "地図を作成中")
    kinds_text = "・".join(labels[k] for k in thresholds)
    fmap = coverage_map(areas=areas, table=table, profile=profile, resources=resources, thresholds_m=thresholds,
                        group_label=group.label, focus_level=focus, notes=notes,
                        title=f"{ws['city_name']} {kinds_text}の徒歩圏（対象: {group.label}）")
    progress(1.0, "完了")
    tables = {f"圏域別（{group.label}）": _rounded(table), "活動の種別": kinds_table}
    return AnalysisResult(tables=tables, map_html=render_html(fmap), summary=summary, notes=notes)
