"""The contract every analysis job follows, its registry, and shared helpers (demand, distance engine)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Literal

import geopandas as gpd
import pandas as pd
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from pydantic.fields import FieldInfo

from api.analysis_catalogue import BUILT_IN
from api.demand_cache import cache_dir, cached_demand
from api.store.base import Store
from gis.access import DistanceEngine, StraightLineEngine
from gis.crs import JAPAN_LAT, JAPAN_LON, plane_rectangular_crs

#: progress(fraction 0–1, Japanese message)
Progress = Callable[[float, str], None]

#: 65+ shares known for a whole city (2020 census) when no small-area age table was imported.
KNOWN_ELDERLY_SHARES = {"33209": (11925 / 29072, "2020年国勢調査 高梁市 65歳以上 11,925人／29,072人")}
#: Fallback: Japan 2020 census, 65+ 28.6 %.
NATIONAL_ELDERLY_SHARE = (0.286, "2020年国勢調査 全国 65歳以上 28.6%")


def _title(name: str, info: FieldInfo) -> str:
    """A parameter's Japanese title: its description up to the first bracket or full stop (the name when it has none)."""
    text = (info.description or "").strip()
    for mark in ("（", "。"):
        text = text.split(mark, 1)[0]
    return text.strip() or name


class AnalysisParams(BaseModel):
    """Base of every analysis's parameters: each field's title is the Japanese head of its description.

    Forms (``/web``), ``tsunagu analyse <name> --help`` and ``GET /analyses`` read the title and
    the description from the model's JSON schema, so a parameter is described once, in its model
    (or in the shared types below).
    """

    model_config = ConfigDict(field_title_generator=_title)


#: 65+ share of the population for areas without an age table (0–1; None: the city's 2020 share, else Japan's).
ElderlyShare = Annotated[float | None, Field(
    ge=0, le=1, description="65歳以上人口の比率（年齢別集計がないとき、0〜1。空欄: 2020年国勢調査の市の比率、なければ全国）")]
#: Size of the mesh cells the small areas' population is spread over (m).
CellSize = Annotated[float, Field(
    ge=25, le=1000, description="人口を配分するメッシュの大きさ（m）")]
#: Which road paths distances follow: on foot or by car (straight line when there is no road network).
#: The Japanese words a planner types (「徒歩」「車」) are taken for the codes.
_MODE_WORDS = {"徒歩": "walk", "歩き": "walk", "車": "drive", "自動車": "drive"}
WalkOrDrive = Annotated[Literal["walk", "drive"],
                        Field(description="経路の種類（徒歩 か 車。道路網データがなければ直線距離）"),
                        BeforeValidator(lambda v: _MODE_WORDS.get(v.strip(), v) if isinstance(v, str) else v)]

#: A point's name, longitude and latitude (Japan's extent) as the user gives them (candidate sites, new stops).
PlaceName = Annotated[str, Field(min_length=1, max_length=200, description="名前（地図と表に出る）")]
Longitude = Annotated[float, Field(ge=JAPAN_LON[0], le=JAPAN_LON[1], description="経度（世界測地系、例 133.62）")]
Latitude = Annotated[float, Field(ge=JAPAN_LAT[0], le=JAPAN_LAT[1], description="緯度（世界測地系、例 34.79）")]


@dataclass
class AnalysisResult:
    """What an analysis job returns and the job store keeps.

    Attributes
    ----------
    tables
        Name → table (first is the main one). Column names are Japanese or have Japanese
        labels in ``attrs["labels"]``; tables must carry no individual client.
    map_html
        The result map (standalone Folium HTML), or None.
    summary
        JSON-ready headline figures (counts, shares, solver status...).
    notes
        Japanese notes every output repeats: sample data, estimated ages, straight-line fallback.
    """

    tables: dict[str, pd.DataFrame]
    map_html: str | None = None
    summary: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class AnalysisSpec:
    """A registered analysis: its name (CLI/API), Japanese label, parameter model and function."""

    name: str
    label: str
    params: type[BaseModel]
    run: Callable[..., AnalysisResult]


#: name → spec; filled by :func:`register` when the analysis modules are imported.
REGISTRY: dict[str, AnalysisSpec] = {}


def register(name: str, label: str | None = None, params: type[BaseModel] | None = None):
    """Register ``run(store, params, *, progress, data_dir) -> AnalysisResult`` under ``name``.

    A built-in analysis takes its label from :data:`api.analysis_catalogue.CATALOGUE` (give only
    ``params=``); an analysis of another module gives its own ``label``.
    """
    if label is None:
        if name not in BUILT_IN:
            msg = f"解析「{name}」は api.analysis_catalogue.CATALOGUE にありません: register({name!r}, label, params) と名前（label）も渡してください"
            raise TypeError(msg)
        label = BUILT_IN[name].label
    if params is None:
        msg = f"解析「{name}」のパラメータのモデルを register(..., params=モデル) で渡してください"
        raise TypeError(msg)

    def deco(func):
        REGISTRY[name] = AnalysisSpec(name=name, label=label, params=params, run=func)
        return func

    return deco


def default_elderly_share(city_code: str) -> tuple[float, str]:
    """65+ share to use when the workspace has no age table: the city's (2020) if known, else Japan's."""
    return KNOWN_ELDERLY_SHARES.get(str(city_code), NATIONAL_ELDERLY_SHARE)


def workspace_demand(
    store: Store, *, elderly_share: float | None = None, cell_size_m: float = 100.0
) -> tuple[gpd.GeoDataFrame, list[str]]:
    """Demand points of the workspace's census small areas, with the notes outputs must repeat.

    The mesh comes from :mod:`api.demand_cache`: built once per set of mesh inputs (small areas,
    65+ counts, share, cell size) and reused by later jobs, whatever else in the workspace changed.
    """
    ws = store.workspace()
    profile = ws["profile"]
    small = store.areas(level=profile.base.key)
    notes = []
    share = elderly_share
    if share is None and small["pop_65plus"].isna().any():
        share, basis = default_elderly_share(ws["city_code"])
        notes.append(f"65歳以上人口の比率 {share:.1%}（{basis}）を用いた推計です")
    points = cached_demand(small, crs=plane_rectangular_crs(ws["city_code"]), cell_size_m=cell_size_m,
                           elderly_share=share, folder=cache_dir(store))
    if points.attrs.get("age_note"):
        notes.append(points.attrs["age_note"])
    return points, notes


def choose_engine(
    city_code: str, *, data_dir: Path | None, mode: str = "walk", road_file: Path | None = None
) -> tuple[DistanceEngine, list[str]]:
    """The network engine when a road graph for the city is at hand, else straight line (and say so)."""
    crs = plane_rectangular_crs(city_code)
    try:
        from gis.network import NetworkEngine, find_road_network, read_road_graph
    except ImportError:  # network module not installed yet
        find_road_network = None
    path = road_file
    if path is None and find_road_network is not None and data_dir is not None:
        path = find_road_network(data_dir, city_code=city_code)
    if path is not None and find_road_network is not None:
        graph = read_road_graph(path, mode=mode, crs=crs)
        engine = NetworkEngine(graph)
        return engine, [f"距離は道路網（{Path(path).name}）上の{'徒歩' if mode == 'walk' else '車'}経路距離です"]
    engine = StraightLineEngine(crs=crs)
    return engine, ["道路網データがないため、直線距離で計算しました（山間部では実際の道のりより短くなります）"]


def sample_note(*frames: pd.DataFrame) -> list[str]:
    """A note when any of the frames holds sample data."""
    if any("is_sample" in f.columns and f["is_sample"].any() for f in frames if f is not None and len(f)):
        return ["サンプルデータを含みます（サロン・拠点の位置は実在のものではありません）"]
    return []
