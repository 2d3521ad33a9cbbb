"""The distance engine: nearest facility and facilities within a threshold, straight-line or on a road network."""

from __future__ import annotations

import abc

import geopandas as gpd
import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from gis.errors import InputDataError


class DistanceEngine(abc.ABC):
    """Distances from many origins (demand points) to a set of facilities, in one pass.

    Implementations: :class:`StraightLineEngine` (straight line in a JGD2011 plane-rectangular
    zone, the MAFF method's metric) and ``gis.network.NetworkEngine`` (shortest paths on a
    road graph). Both take and return the same shapes, so every analysis works with either.
    """

    #: ``"straight"`` or ``"network"``.
    mode: str
    #: Japanese description for maps and tables, e.g. 「直線距離（平面直角座標系 第V系）」.
    description: str

    @abc.abstractmethod
    def nearest(self, origins: gpd.GeoDataFrame, facilities: gpd.GeoDataFrame) -> pd.DataFrame:
        """Nearest facility of every origin.

        Returns
        -------
        DataFrame
            Index aligned with ``origins`` (positional); columns ``facility`` (position in
            ``facilities``, -1 when none is reachable), ``distance_m`` (float, NaN when
            unreachable — never infinity) and ``reachable`` (bool).
        """

    @abc.abstractmethod
    def within(self, origins: gpd.GeoDataFrame, facilities: gpd.GeoDataFrame, *, max_distance_m: float) -> pd.DataFrame:
        """All (origin, facility) pairs no farther apart than ``max_distance_m``.

        Returns
        -------
        DataFrame
            Columns ``origin`` (position in ``origins``), ``facility`` (position in
            ``facilities``), ``distance_m``.
        """


def check_threshold(
    max_distance_m: float, *, what: str = "距離のしきい値", what_en: str = "distance threshold"
) -> float:
    """Validate a distance threshold in metres (positive and finite).

    ``what`` names the threshold in the Japanese message, ``what_en`` in the English one.
    """
    try:
        value = float(max_distance_m)
    except (TypeError, ValueError) as exc:
        msg = f"{what}はメートル単位の数値にしてください（指定は「{max_distance_m}」）"
        raise InputDataError(msg, en=f"{what_en} must be a number of metres, got {max_distance_m!r}") from exc
    if not np.isfinite(value) or value <= 0:
        msg = f"{what}は 0 より大きいメートル単位の数値にしてください（指定は「{max_distance_m}」）"
        raise InputDataError(
            msg, en=f"{what_en} must be a positive number of metres, got {max_distance_m!r}",
            hint="例: 農林水産省の買い物のしやすさの目安なら 500",
            hint_en="e.g. 500 for the MAFF shopping-access threshold",
        )
    return value


def missing_columns_error(columns: str | list[str], *, made_by: str = "gis.demand.demand_points") -> InputDataError:
    """Return the error for demand points that lack ``columns``, naming the step that makes them.

    Parameters
    ----------
    columns
        The column or columns missing.
    made_by
        The function whose output has them (the hint says to run it first).
    """
    cols = [columns] if isinstance(columns, str) else list(columns)
    return InputDataError(
        f"人口の点（需要点）に列 {'、'.join(cols)} がありません",
        en=f"demand points lack column{'s' if len(cols) > 1 else ''} {', '.join(map(repr, cols))}",
        hint=f"先に {made_by} を実行して、その結果の点を使ってください", hint_en=f"run {made_by} first",
    )


def _xy(gdf: gpd.GeoDataFrame, crs: str, what: str) -> np.ndarray:
    if gdf.crs is None:
        what_ja = {"origins": "出発地", "facilities": "施設"}.get(what, what)
        msg = f"{what_ja}のデータに座標系がありません"
        raise InputDataError(
            msg, en=f"{what} have no CRS",
            hint="座標系を指定してください（経度・緯度なら EPSG:4326）", hint_en="set one (EPSG:4326 for longitude/latitude)",
        )
    g = gdf.geometry.to_crs(crs)
    if len(g) and not (g.geom_type == "Point").all():
        g = g.representative_point()
    return np.column_stack([g.x.to_numpy(), g.y.to_numpy()]) if len(g) else np.empty((0, 2))


class StraightLineEngine(DistanceEngine):
    """Straight-line distance in a projected CRS, by k-d tree (scipy.spatial.cKDTree).

    Parameters
    ----------
    crs
        JGD2011 plane-rectangular zone to measure in (``gis.crs.plane_rectangular_crs``).
    """

    mode = "straight"

    def __init__(self, *, crs: str) -> None:
        self.crs = crs
        zone = int(str(crs).split(":")[-1]) - 6668
        roman = ["I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X", "XI", "XII", "XIII",
                 "XIV", "XV", "XVI", "XVII", "XVIII", "XIX"]
        label = f"第{roman[zone - 1]}系" if 1 <= zone <= 19 else str(crs)
        self.description = f"直線距離（平面直角座標系 {label}）"

    def nearest(self, origins, facilities):
        o = _xy(origins, self.crs, "origins")
        f = _xy(facilities, self.crs, "facilities")
        if len(f) == 0:
            return pd.DataFrame({"facility": np.full(len(o), -1), "distance_m": np.full(len(o), np.nan),
                                 "reachable": np.zeros(len(o), dtype=bool)})
        dist, idx = cKDTree(f).query(o, k=1)
        return pd.DataFrame({"facility": idx.astype(np.int64), "distance_m": dist.astype(float),
                             "reachable": np.ones(len(o), dtype=bool)})

    def within(self, origins, facilities, *, max_distance_m):
        limit = check_threshold(max_distance_m)
        o = _xy(origins, self.crs, "origins")
        f = _xy(facilities, self.crs, "facilities")
        if len(f) == 0 or len(o) == 0:
            return pd.DataFrame({"origin": np.array([], dtype=np.int64), "facility": np.array([], dtype=np.int64),
                                 "distance_m": np.array([], dtype=float)})
        sparse = cKDTree(o).sparse_distance_matrix(cKDTree(f), limit, output_type="coo_matrix")
        out = pd.DataFrame({"origin": sparse.row.astype(np.int64), "facility": sparse.col.astype(np.int64),
                            "distance_m": sparse.data.astype(float)})
        # sparse_distance_matrix drops exact zeros: add co-located pairs back
        zero = cKDTree(o).query_ball_tree(cKDTree(f), 1e-9)
        extra = [(i, j) for i, js in enumerate(zero) for j in js]
        if extra:
            z = pd.DataFrame(extra, columns=["origin", "facility"]).assign(distance_m=0.0)
            out = pd.concat([out, z]).drop_duplicates(["origin", "facility"])
        return out.sort_values(["origin", "distance_m"], kind="stable").reset_index(drop=True)
