"""Account roles and the password rule: plain constants, light enough for the CLI's help to import."""

from __future__ import annotations

#: Roles → Japanese label. One source of truth for the whole service.
ROLES = {
    "admin": "管理者",
    "planner": "計画担当",
    "csw": "CSW（地域福祉コーディネーター）",
    "coordinator": "移動販売担当",
    "viewer": "閲覧者",
}

#: Shortest password an account may have.
MIN_PASSWORD_LENGTH = 10
