"""Analysis jobs: each glues store → gis analysis → layers into a stored, versioned result."""

from api.analyses.base import REGISTRY, AnalysisResult, AnalysisSpec, register  # noqa: F401
from api.analyses import imports  # noqa: F401, E402 - registers import-resources wherever jobs are loaded
