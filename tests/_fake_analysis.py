"""A tiny analysis registered for the job tests ("test-count-areas"): areas and population per level.

Importable by Dask worker processes (they inherit the test process's ``sys.path``), so the
fan-out tests run the same analysis in other processes, and by ``tsunagu worker`` subprocesses
(``PYTHONPATH=tests TSUNAGU_ANALYSIS_MODULES=_fake_analysis``). ``steps``/``step_s`` make a long
job that reports progress; ``extra_tables`` makes a large result (a long final write).
"""

from __future__ import annotations

import collections
import threading
import time

import pandas as pd
from pydantic import BaseModel, Field

from api.analyses.base import AnalysisResult, register
from gis.errors import InputDataError

NAME = "test-count-areas"
#: Jobs with ``wait=True`` block until this is set (to see a job that is not done yet).
GATE = threading.Event()
#: Runs of the analysis in this process, by ``tag`` (to see that no job ran twice).
RUNS: collections.Counter = collections.Counter()
_RUNS_LOCK = threading.Lock()


class CountParams(BaseModel):
    level: str = Field(default="neighbourhood", description="集計する層")
    min_population: int = Field(default=0, ge=0, description="この人口以上の地域だけ数える")
    fail: bool = Field(default=False, description="入力データの誤りとして失敗する（テスト用）")
    crash: bool = Field(default=False, description="予期しない例外で失敗する（テスト用）")
    wait: bool = Field(default=False, description="GATE が開くまで待つ（テスト用）")
    fail_city: str | None = Field(default=None, description="この市区町村コードのときだけ失敗する（テスト用）")
    crash_city: str | None = Field(default=None, description="この市区町村コードのときだけ予期しない例外（テスト用）")
    steps: int = Field(default=0, ge=0, le=100_000, description="この回数だけ進捗を報告しながら待つ（テスト用）")
    step_s: float = Field(default=0.0, ge=0, le=60, description="1 回の待ち時間（秒、テスト用）")
    extra_tables: int = Field(default=0, ge=0, le=1000, description="追加の大きな結果表の数（テスト用）")
    tag: str = Field(default="", description="実行回数を数える印（テスト用）")


@register(NAME, "テスト用：地域数の集計", CountParams)
def count_areas(store, params: CountParams, *, progress, data_dir=None) -> AnalysisResult:
    with _RUNS_LOCK:
        RUNS[params.tag] += 1
    progress(0.1, "地域を読み込み中")
    for step in range(params.steps):
        time.sleep(params.step_s)
        progress(0.1 + 0.4 * (step + 1) / params.steps, f"待機中 {step + 1}/{params.steps}")
    if params.wait and not GATE.wait(timeout=20):
        msg = "test gate never opened"
        raise InputDataError(msg)
    if params.fail or (params.fail_city is not None and store.workspace()["city_code"] == params.fail_city):
        msg = "サロンの位置データがありません"
        raise InputDataError(msg, hint="サロンを取り込んでください")
    if params.crash or (params.crash_city is not None and store.workspace()["city_code"] == params.crash_city):
        raise ZeroDivisionError("division by zero")
    areas = store.areas(level=params.level)
    pop = areas["population"].astype("Int64")
    keep = areas[(pop.fillna(0) >= params.min_population)]
    progress(0.6, "集計中")
    table = pd.DataFrame({
        "area_id": keep["area_id"].astype(str).to_numpy(),
        "name": keep["name"].astype(str).to_numpy(),
        "population": pd.array(keep["population"], dtype="Int64"),
    })
    table.attrs["labels"] = {"area_id": "地域コード", "name": "地域名", "population": "人口"}
    levels = store.areas().groupby("level").size().rename("地域数").reset_index().rename(columns={"level": "層"})
    ws = store.workspace()
    tables = {"areas": table, "levels": levels}
    for i in range(params.extra_tables):
        tables[f"extra_{i:03d}"] = pd.DataFrame({"i": range(20_000), "text": [f"行 {j}" for j in range(20_000)]})
    return AnalysisResult(
        tables=tables,
        map_html=f"<!DOCTYPE html><html><body><h1>{ws['city_name']} 地域数の地図</h1></body></html>",
        summary={"areas": int(len(table)), "population": int(table["population"].fillna(0).sum())},
        notes=["テスト用の解析です"],
    )
