"""GeoJSON responses: frames to FeatureCollections with <NA>/NaN as null and numpy values made plain."""

from __future__ import annotations

import json
import math
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from fastapi.responses import Response
from shapely.geometry import mapping

from gis.crs import round_coordinates


def _plain(value: Any) -> Any:
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_plain(v) for v in value]
    if isinstance(value, (np.bool_, bool)):
        return bool(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return None if not math.isfinite(float(value)) else float(value)
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    return value


def feature_collection(gdf: gpd.GeoDataFrame, *, id_column: str | None = None, **members: Any) -> dict:
    """Return ``gdf`` (EPSG:4326) as a GeoJSON FeatureCollection mapping, coordinates rounded to ~1 m.

    Parameters
    ----------
    gdf
        The frame; every non-geometry column becomes a property.
    id_column
        Column whose value is also the feature ``id``.
    members
        Extra top-level members (e.g. ``level``, ``label``).
    """
    if gdf.crs is not None and gdf.crs.to_epsg() != 4326:
        gdf = gdf.to_crs("EPSG:4326")
    geom_name = gdf.geometry.name
    props = gdf.drop(columns=[geom_name])
    records = props.astype(object).to_dict("records")
    features = []
    for record, geom in zip(records, round_coordinates(gdf.geometry.values)):
        feature = {
            "type": "Feature",
            "geometry": None if geom is None or geom.is_empty else mapping(geom),
            "properties": {k: _plain(v) for k, v in record.items()},
        }
        if id_column:
            feature["id"] = feature["properties"].get(id_column)
        features.append(feature)
    return {"type": "FeatureCollection", **{k: _plain(v) for k, v in members.items()}, "features": features}


class GeoJSONResponse(Response):
    """``application/geo+json`` with UTF-8 text (Japanese kept readable)."""

    media_type = "application/geo+json"

    def render(self, content: Any) -> bytes:
        if isinstance(content, bytes):  # already rendered (a cached layer)
            return content
        return json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8")
