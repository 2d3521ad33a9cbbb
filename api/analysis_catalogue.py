"""The built-in analyses: name, planner's name, label and module of each, known without importing one.

Apart from :mod:`api.analysis_registry` (which imports the analysis modules) so that
:func:`api.analyses.base.register` reads the labels from here without importing in a circle.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Analysis:
    """What is known of a built-in analysis before its module is imported.

    Attributes
    ----------
    name
        Its name on the command line and in the API (``salon-gaps``).
    planner_name
        The name a planner knows it by (listings: ``tsunagu analyse --help``, the web form list, ``GET /analyses``).
    label
        Its full Japanese label (progress bars, job pages, error messages: ``AnalysisSpec.label``).
    module
        The module that registers it (imported only when the analysis runs or its parameters are needed).
    """

    name: str
    planner_name: str
    label: str
    module: str


#: The built-in analyses in the order a planner meets them: the one place their names, labels
#: and modules are written (``register`` takes the label from here; listing them imports nothing).
CATALOGUE: tuple[Analysis, ...] = (
    Analysis("salon-gaps", "サロンの空白地域", "サロンの空白地域", "api.analyses.salons"),
    Analysis("salon-sites", "新しいサロンの候補地", "新しいサロンの候補地", "api.analyses.salons"),
    Analysis("shopping-refugees", "買い物弱者", "買い物弱者（食料品アクセス困難人口）", "api.analyses.shopping"),
    Analysis("catchments", "圏域（キャッチメント）", "拠点の担当圏域", "api.analyses.catchments"),
    Analysis("mobile-sales", "移動販売の計画", "移動販売の停留所と週間ルート", "api.analyses.mobile_sales"),
    Analysis("activity-coverage", "活動の徒歩圏カバー率", "活動の徒歩圏カバー率（対象者別）", "api.analyses.coverage"),
    Analysis("outreach", "訪問ルート", "CSW の訪問ルート（訪問先は非公開）", "api.analyses.outreach"),
    Analysis("import-resources", "地域資源の取り込み", "地域資源ファイルの取り込み", "api.analyses.imports"),
)
#: name → :class:`Analysis` of the built-in analyses.
BUILT_IN = {a.name: a for a in CATALOGUE}

#: Modules that register the built-in analyses; each is optional (imported when present). More can
#: be named in ``Settings.analysis_modules`` (``TSUNAGU_ANALYSIS_MODULES``).
ANALYSIS_MODULES = tuple(dict.fromkeys(a.module for a in CATALOGUE))

#: name → the name a planner knows the analysis by, in a planner's order (from :data:`CATALOGUE`).
PLANNER_NAMES = {a.name: a.planner_name for a in CATALOGUE}
