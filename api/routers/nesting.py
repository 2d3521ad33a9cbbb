"""Nesting: the stored report of how the tier levels fit inside each other."""

from __future__ import annotations

from fastapi import APIRouter

from api.dependencies import StoreDep
from api.errors import DEMO_HINT, NotFound
from api.security import ANY_ROLE, allow

router = APIRouter(tags=["nesting"])


@router.get("/nesting", summary="圏域の入れ子チェック結果", dependencies=[allow(*ANY_ROLE)])
def nesting_report(store: StoreDep) -> dict:
    """Return the latest nesting report (areas straddling parents, uncovered area, ...)."""
    store.workspace()
    report = store.nesting_report()
    if report is None:
        raise NotFound("このワークスペースには入れ子の確認結果がまだありません",
                       en="this workspace has no nesting report yet",
                       hint=f"圏域を取り込むと作成されます（{DEMO_HINT}）",
                       hint_en="it is made when areas are imported (run tsunagu demo)")
    return report
