"""Analysis jobs: each glues store → gis analysis → layers into a stored, versioned result."""

from api.analyses.base import REGISTRY, AnalysisResult, AnalysisSpec, register  # noqa: F401
