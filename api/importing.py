"""Imports: read files, validate, build tiers and write them to a store in one transaction."""

from __future__ import annotations

import dataclasses
import datetime as _dt
import os
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

import data as _manifest
from api import uploads
from api.store.base import Store
from api.uploads import UploadLimits
from gis import opendata
from gis.crs import STORAGE_CRS, plane_rectangular_crs
from gis.errors import DataNotFoundError, InputDataError, UnknownMunicipalityError
from gis.io import looks_japanese, looks_swapped
from gis.nesting import DEFAULT_NESTING_THRESHOLD, TierSource, build_tiers
from gis.kinds import salon_candidate_kinds
from gis.resources import resource_kind
from gis.schema import RESOURCE_COLUMNS, RESOURCE_KINDS, coerce_resources, coerce_stations
from gis.tiers import DEFAULT_PROFILE, CityProfile

#: The demo city: 高梁市 (岡山県), rural, hilly and ageing like the cities Tsunagu was designed from.
DEMO_CITY_CODE = "33209"

Progress = Callable[[str], None]

#: Note shown wherever the stand-in 公民館区 tier appears.
KOMINKAN_STAND_IN_NOTE = "公民館区は小学校区（国土数値情報 A27）で代用しています（公式の公民館区ポリゴンがないため）"
KOMINKAN_NO_A27_NOTE = ("公民館区は中学校区（国土数値情報 A32）で代用しています（この市町村の小学校区データ A27 がないため）。"
                        "tsunagu import tier で公民館区を取り込めます")


def find_data_dir(explicit: str | Path | None = None) -> Path:
    """Locate the open-data folder.

    Looks at ``explicit``, then ``TSUNAGU_DATA_DIR``, then ``../shared/data`` beside the project
    (and beside the current folder); a folder counts when it holds census small areas, as the
    bundled conversion or as e-Stat's official ZIP. The error (Japanese) says whether the folder
    exists, names the files expected and their official download pages and editions.
    """
    from api.datafiles import locate

    candidates: list[Path] = []
    if explicit:
        candidates.append(Path(explicit))
    elif os.environ.get("TSUNAGU_DATA_DIR"):
        candidates.append(Path(os.environ["TSUNAGU_DATA_DIR"]))
    else:
        project = Path(__file__).resolve().parents[1]
        candidates += [project.parent / "shared" / "data", Path.cwd().parent / "shared" / "data"]
    for c in candidates:
        if locate(c, "small_areas"):
            return c
    existing = [c for c in candidates if c.is_dir()]
    sources = _manifest.manifest()
    pages = "\n".join(
        f"  - {sources[k]['title']}［{sources[k].get('needed', '任意')}］: 置くファイル {sources[k].get('path', '')}"
        + (f" または {sources[k]['official'][0]}（公式のファイルのまま）" if sources[k].get("official") else "")
        + f"／版: {sources[k].get('edition', '')}／入手先: {sources[k]['download']}"
        for k in ("small_areas", "municipalities", "junior_high_districts", "elementary_districts"))
    if existing:
        head = (f"データフォルダ {existing[0]} はありますが、国勢調査 小地域のファイルがありません"
                "（{code} は市区町村コード5桁、{pref} は都道府県コード2桁）。次のファイルを置いてください")
        head_en = (f"the data folder {existing[0]} exists but holds no census small-area file "
                   "({code} is the 5-digit municipality code, {pref} the 2-digit prefecture code); put these files there")
    else:
        head = (f"データフォルダが見つかりません（探した場所: {', '.join(str(c) for c in candidates)}）。"
                "TSUNAGU_DATA_DIR か --data-dir でフォルダを指定し、次のファイルを置いてください")
        head_en = (f"no data folder found (looked in: {', '.join(str(c) for c in candidates)}); "
                   "name the folder with TSUNAGU_DATA_DIR or --data-dir and put these files there")
    msg = f"{head}（tsunagu data --city <コード> で市町村ごとの一覧）:\n{pages}"
    raise DataNotFoundError(msg, en=f"{head_en} (tsunagu data --city <code> lists them per municipality):\n{pages}")


def _path(data_dir: Path, key: str, *, city_code: str | None = None) -> Path:
    """The file of dataset ``key`` (bundled conversion or official download); the error names it and its page."""
    from api.datafiles import locate, missing_message

    found = locate(data_dir, key, city_code=city_code)
    if not found:
        raise DataNotFoundError(missing_message(data_dir, key, city_code=city_code),
                                en=missing_message(data_dir, key, city_code=city_code, english=True))
    return found[0]


def listing_files(data_dir: Path) -> list[Path]:
    """The open-data files :func:`list_municipalities` reads: census small areas and N03 boundaries."""
    return [_path(data_dir, "small_areas"), _path(data_dir, "municipalities")]


#: Equal-area CRS for the municipalities' land areas (areas only, never distances).
_EQUAL_AREA_CRS = "EPSG:6933"


def list_municipalities(data_dir: Path) -> pd.DataFrame:
    """Municipalities with census small areas in the data folder: code, name, features, population, area_km2."""
    small_areas, boundaries = listing_files(data_dir)
    census = opendata.census_municipalities(small_areas)
    n03 = opendata.read_municipalities(boundaries)
    names = pd.DataFrame({"code": n03["code"], "name": n03["name"],
                          "area_km2": (n03.geometry.to_crs(_EQUAL_AREA_CRS).area / 1e6).round(1).to_numpy()})
    return census.drop(columns="name").merge(names, on="code", how="left")


#: The open-data files :func:`build_city_workspace` reads for every city (prefecture-wide layers).
CITY_SOURCE_KEYS = ("municipalities", "small_areas", "elementary_districts", "junior_high_districts")


def city_source_files(data_dir: Path, codes: list[str]) -> list[Path]:
    """The files of :data:`CITY_SOURCE_KEYS` that building these cities reads (each once; missing ones left out)."""
    from api.datafiles import locate

    found: dict[Path, None] = {}
    for code in codes:
        for key in CITY_SOURCE_KEYS:
            found.update(dict.fromkeys(locate(data_dir, key, city_code=code)[:1]))
    return list(found)


def city_name_of(data_dir: Path, city_code: str) -> str:
    """The municipality's name in the data folder's N03 boundaries; an unknown code lists the codes present."""
    return str(opendata.municipality(_path(data_dir, "municipalities", city_code=city_code), city_code)["name"].iloc[0])


def city_resources(data_dir: Path, *, city_code: str, city_name: str, boundary: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Real resource points of a city from the data folder: food shops, 公民館・集会所, schools, stations.

    ``attrs["left_out"]`` lists, for each official download read (MHLW food permits, GSI shelters),
    the rows its reader left out: ``{"title", "file", "skipped": {reason: count}}`` (counts only).
    """
    from api.datafiles import is_official, locate
    from gis import resources as res

    frames = []
    left_out = []
    # Each dataset as the bundled conversion or as officially downloaded (data/sources.toml).
    for key, read in (("food_permits", res.read_food_permits), ("shelters", res.read_shelters)):
        files = locate(data_dir, key, city_code=city_code, city_name=city_name)
        if not files:
            continue
        frame = read(files, city_code=city_code, city_name=city_name)
        frames.append(frame)
        by_file = frame.attrs.get("skipped_by_file", {})
        for f in files:
            if f.name in by_file and is_official(data_dir, key, f, city_code=city_code, city_name=city_name):
                left_out.append({"title": _manifest.manifest()[key]["title"], "file": f.name,
                                 "skipped": {r: int(n) for r, n in by_file[f.name].items() if n}})
    for rail in locate(data_dir, "rail_stations", city_code=city_code, city_name=city_name):
        frames.append(res.read_rail_stations(rail))
    if not frames:
        return coerce_resources(gpd.GeoDataFrame({c: [] for c in RESOURCE_COLUMNS}, geometry="geometry", crs=STORAGE_CRS))
    allres = pd.concat(frames, ignore_index=True)
    allres = gpd.GeoDataFrame(allres, geometry="geometry", crs=STORAGE_CRS)
    inside = allres[allres.within(boundary.union_all().buffer(0.002))]
    inside = inside.drop_duplicates("resource_id")
    out = coerce_resources(inside.reset_index(drop=True))
    out.attrs["left_out"] = left_out
    return out


def sample_salons(resources: gpd.GeoDataFrame, *, share: float = 0.5, seed: int = 33209) -> gpd.GeoDataFrame:
    """Sample ふれあい・いきいきサロン at a share of the real 公民館・集会所 (SAMPLE DATA).

    No open data lists salons; more than 80 % of 通いの場 meet in 公民館, 自治会館 or 集会所,
    so sample salons sit in a random (seeded, reproducible) half of those halls. Every row is
    marked ``is_sample`` and named 「…サロン（サンプル）」.
    """
    import numpy as np

    halls = resources[resources["kind"].isin(salon_candidate_kinds())].sort_values("resource_id")
    if halls.empty:
        return coerce_resources(gpd.GeoDataFrame({c: [] for c in RESOURCE_COLUMNS}, geometry="geometry", crs=STORAGE_CRS))
    rng = np.random.default_rng(seed)
    pick = halls.iloc[np.sort(rng.choice(len(halls), size=max(1, round(len(halls) * share)), replace=False))]
    days = ["毎週月曜", "毎週火曜", "毎週水曜", "毎週木曜", "第1・3金曜", "第2・4水曜"]
    salons = gpd.GeoDataFrame(
        {
            "resource_id": [f"sample-salon-{r}" for r in pick["resource_id"]],
            "kind": "salon",
            "name": [f"{n}サロン（サンプル）" for n in pick["name"]],
            "address": pick["address"].values,
            "attributes": [{"meeting_days": days[i % len(days)], "venue": n, "capacity": 20}
                           for i, n in enumerate(pick["name"])],
            "source": "サンプルデータ（実在のサロンではありません）",
            "is_sample": True,
        },
        geometry=pick.geometry.values,
        crs=STORAGE_CRS,
    )
    return coerce_resources(salons)


#: The address of a sample station placed at its district's population centre (the district has no 公民館).
SAMPLE_STATION_AT_CENTRE = "（公民館・集会所のデータがないため、担当地域の人口重心に置いた仮の位置）"


def sample_stations(areas: gpd.GeoDataFrame, resources: gpd.GeoDataFrame, *, profile: CityProfile, crs: str) -> gpd.GeoDataFrame:
    """Sample 地域包括支援センター, one per level-below-city area, at its most central 公民館 (SAMPLE DATA).

    No open data lists 社協 stations; these points only show how stations and catchments look.
    Each station's catchment is the innermost areas of its district. A district without any
    公民館 (早島町, 里庄町) gets its station at its population-weighted centre, and the station's
    address says so (:data:`SAMPLE_STATION_AT_CENTRE`).
    """
    district_level = profile.levels[-2].key
    districts = areas[areas["level"] == district_level]
    halls = resources[resources["kind"].isin(salon_candidate_kinds())].to_crs(crs)
    base = areas[areas["level"] == profile.base.key]
    # innermost area → district, following the parent chain
    parent = dict(zip(areas["area_id"] + "|" + areas["level"], areas["parent_id"]))
    chain = {}
    for aid in base["area_id"]:
        cur, lvl_i = aid, 0
        while profile.levels[lvl_i].key != district_level:
            cur = parent[f"{cur}|{profile.levels[lvl_i].key}"]
            lvl_i += 1
        chain[aid] = cur
    rows = []
    for i, d in enumerate(districts.itertuples(), start=1):
        members = base[base["area_id"].map(chain) == d.area_id]
        geom_d = gpd.GeoSeries([d.geometry], crs=STORAGE_CRS).to_crs(crs).iloc[0]
        pts = members.to_crs(crs).representative_point()
        w = members["population"].fillna(0).astype(float).to_numpy()
        if w.sum() > 0:
            centre = gpd.points_from_xy([float((pts.x * w).sum() / w.sum())], [float((pts.y * w).sum() / w.sum())])[0]
        else:
            centre = geom_d.representative_point()
        cand = halls[halls.within(geom_d)]
        if len(cand):
            j = cand.distance(centre).idxmin()
            point, address = cand.geometry[j], f"{cand.loc[j, 'name']}（{cand.loc[j, 'address']}）"
        else:
            point, address = centre, SAMPLE_STATION_AT_CENTRE
        rows.append({
            "station_id": f"sample-station-{i:02d}",
            "name": f"{d.name.removesuffix('学校').removesuffix('中')}地域包括支援センター（サンプル）",
            "kind": "comprehensive_support_center",
            "address": address,
            "area_ids": members["area_id"].tolist(),
            "source": "サンプルデータ（実在の施設ではありません）",
            "is_sample": True,
            "geometry": gpd.GeoSeries([point], crs=crs).to_crs(STORAGE_CRS).iloc[0],
        })
    return coerce_stations(gpd.GeoDataFrame(rows, geometry="geometry", crs=STORAGE_CRS))


def build_city_workspace(
    store: Store,
    *,
    data_dir: Path,
    city_code: str = DEMO_CITY_CODE,
    profile: CityProfile = DEFAULT_PROFILE,
    threshold: float = DEFAULT_NESTING_THRESHOLD,
    strict: bool = False,
    progress: Progress | None = None,
) -> dict:
    """Build a city's workspace from the open-data folder and write it in one transaction.

    Steps: municipal boundary (N03) → census small areas (dissolved by KEY_CODE, water out) →
    公民館区 stand-in (A27 elementary districts) → 中学校区 (A32) → nesting and roll-up →
    resources (food shops, 公民館, 集会所, schools, stations) → sample stations.

    Returns
    -------
    dict
        Summary: city, counts per tier, population per tier, nesting report headline, resources.
    """
    say = progress or (lambda _msg: None)
    if len(profile.levels) != 4:
        msg = (f"オープンデータのデモは標準の4階層を作ります。プロファイル {profile.name!r} は {len(profile.levels)} 階層です"
               " — 小地域→地区の対応表で圏域を取り込んでください")
        en = (f"the open-data demo builds the four standard tiers; profile {profile.name!r} has "
              f"{len(profile.levels)} — import its tiers with a small-area → district table instead")
        raise InputDataError(msg, en=en)
    say("行政区域（N03）を読み込み中")
    boundary = opendata.municipality(_path(data_dir, "municipalities", city_code=city_code), city_code)
    code, name = boundary["code"].iloc[0], boundary["name"].iloc[0]
    crs = plane_rectangular_crs(code)
    say("小地域（e-Stat 国勢調査）を読み込み中")
    small = opendata.read_census_small_areas(_path(data_dir, "small_areas", city_code=code), city_code=code)
    say("小学校区（A27）・中学校区（A32）を読み込み中")
    junior = opendata.read_ksj_junior_high_districts(_path(data_dir, "junior_high_districts", city_code=code), city_code=code)
    mid, outer = profile.levels[1].key, profile.levels[2].key
    note, elem_source = KOMINKAN_STAND_IN_NOTE, "国土数値情報 A27 小学校区（公民館区の代用）"
    try:
        elem = opendata.read_ksj_elementary_districts(_path(data_dir, "elementary_districts", city_code=code),
                                                      city_code=code)
    except (UnknownMunicipalityError, DataNotFoundError):
        # Some municipalities (e.g. 新見市) are missing from the A27 edition: the 中学校区 then stand
        # in for the 公民館区 too, said on the map and in the report, until the user imports theirs.
        elem = junior.assign(district_id=junior["district_id"].str.replace("-A32-", "-A32K-"))
        note = KOMINKAN_NO_A27_NOTE
        elem_source = "国土数値情報 A32 中学校区（小学校区データがないため公民館区の代用）"
    profile = profile.with_note(mid, note)
    say("圏域の入れ子を検証し人口を集計中")
    build = build_tiers(
        small,
        profile=profile,
        city=boundary,
        city_code=code,
        city_name=name,
        sources={
            mid: TierSource(polygons=elem.rename(columns={"district_id": "area_id"}), source=elem_source, note=note),
            outer: TierSource(polygons=junior.rename(columns={"district_id": "area_id"}), source="国土数値情報 A32 中学校区"),
        },
        crs=crs,
        base_source="e-Stat 平成22年国勢調査 小地域",
        threshold=threshold,
        strict=strict,
    )
    build.report["small_area_import"] = small.attrs.get("import", {})
    say("地域資源（食料品店・公民館・集会所・駅）とサンプルのサロンを用意中")
    resources = city_resources(data_dir, city_code=code, city_name=name, boundary=boundary)
    left_out = resources.attrs.get("left_out", [])
    stations = sample_stations(build.areas, resources, profile=profile, crs=crs)
    resources = coerce_resources(pd.concat([resources, sample_salons(resources)], ignore_index=True))
    from api.datafiles import locate, missing_message

    say("ワークスペースに書き込み中")
    counts = build.areas.groupby("level").size().to_dict()
    record = {
        "kind": "city_workspace",
        "city_code": code,
        "city_name": name,
        "data_dir": str(data_dir),
        "files": [str(f.relative_to(data_dir)) if f.is_relative_to(data_dir) else str(f)
                  for k in ("municipalities", "small_areas", "elementary_districts", "junior_high_districts",
                            "food_permits", "shelters")
                  for f in locate(data_dir, k, city_code=code, city_name=name)[:None if k in ("food_permits", "shelters") else 1]],
        "areas": {k: int(v) for k, v in counts.items()},
        "resources": int(len(resources)),
        "stations": int(len(stations)),
        "left_out": left_out,
        "at": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "by": _who(),
    }
    with store.transaction() as tx:
        tx.set_workspace(city_code=code, city_name=name, profile=profile)
        tx.replace_areas(build.areas)
        tx.replace_stations(stations)
        tx.replace_resources(resources)
        tx.set_nesting_report(build.report)
        tx.log_import(record)
    return {
        "city_code": code,
        "city_name": name,
        "areas": {lv.key: int(counts.get(lv.key, 0)) for lv in profile.levels},
        "population": build.report["rollup"]["totals"],
        "census_total": build.report["rollup"]["census_total"],
        "rollup_ok": build.report["rollup"]["ok"],
        "resources": resources["kind"].value_counts().to_dict(),
        "stations": int(len(stations)),
        "report": build.report,
        "left_out": left_out,
        "missing": [missing_message(data_dir, k, city_code=code) for k in ("food_permits", "shelters")
                    if not locate(data_dir, k, city_code=code, city_name=name)],
    }


@dataclass
class RowProblem:
    """One problem found while checking a resource file.

    Attributes
    ----------
    row
        1-based data row (header excluded) or feature number; None for the whole file.
    reason
        What is wrong, in Japanese.
    resource_id, name
        The row's id and name when they could be read.
    """

    row: int | None
    reason: str
    resource_id: str | None = None
    name: str | None = None


@dataclass
class ResourceCheck:
    """What checking a resource file found: the points to write, or the problems (then nothing is written).

    Attributes
    ----------
    source
        The file's name as the user knows it.
    rows_read
        Data rows (or features) read; 0 when the file could not be read at all.
    points
        The resources to write (None when there are problems).
    problems
        Every problem found, in row order (file-level ones first).
    error
        The first problem as the :class:`InputDataError` :func:`import_resource_file` raises.
    replace
        Whether the import replaces the resources of the kinds in the file.
    left_out
        Rows left out on purpose (addresses not matched, imported with ``skip_unmatched``).
    located
        For a file of addresses: how the rows were placed (``method``, ``approximate`` count, ``note``).
    """

    source: str
    rows_read: int
    points: gpd.GeoDataFrame | None
    problems: list[RowProblem]
    error: InputDataError | None
    replace: bool = False
    left_out: list[RowProblem] = dataclasses.field(default_factory=list)
    located: dict | None = None

    @property
    def ok(self) -> bool:
        """True when the file can be written as it is."""
        return not self.problems

    def report(self) -> pd.DataFrame:
        """The validation report: one row per imported resource, or one per problem (Japanese labels)."""
        labels = {"row": "行（見出しを除く）", "resource_id": "ID", "kind": "種別", "name": "名称", "result": "結果",
                  "location": "位置の精度"}
        if self.ok:
            points = self.points
            verb = "置き換えて取り込み" if self.replace else "取り込み"
            table = pd.DataFrame({
                "row": (self.located or {}).get("placed_rows") or range(1, len(points) + 1),
                "resource_id": points["resource_id"].astype(str).to_numpy(),
                "kind": points["kind"].map(lambda k: RESOURCE_KINDS.get(k, k)).to_numpy(),
                "name": points["name"].fillna("").astype(str).to_numpy(),
                "result": verb,
            })
            if self.located:
                table["location"] = [a.get("location_precision") or "" for a in points["attributes"]]
            if self.left_out:
                skipped = pd.DataFrame({
                    "row": [p.row for p in self.left_out], "resource_id": [p.resource_id or "" for p in self.left_out],
                    "kind": "", "name": [p.name or "" for p in self.left_out],
                    "result": ["取り込まず: " + p.reason.split("。")[0] for p in self.left_out],
                })
                table = pd.concat([table, skipped], ignore_index=True)
        else:
            table = pd.DataFrame({
                "row": pd.array([p.row for p in self.problems], dtype="Int64"),
                "resource_id": [p.resource_id or "" for p in self.problems],
                "kind": "",
                "name": [p.name or "" for p in self.problems],
                "result": [p.reason for p in self.problems],
            })
        table = table.rename(columns=labels)
        table.attrs["labels"] = {}
        return table

    def message(self, *, limit: int = 20, english: bool = False) -> str:
        """A Japanese summary: rows read, rows imported or every problem (at most ``limit`` listed).

        ``english=True``: the same in English for the log and ``--lang en`` (each problem's reason as found).
        """
        def say(ja: str, en: str) -> str:
            return en if english else ja

        if self.ok:
            n = len(self.points)
            text = say(f"{self.rows_read:,} 行を読み、{n:,} 件を{'置き換えて' if self.replace else ''}取り込みました",
                       f"read {self.rows_read:,} rows, {'replaced with' if self.replace else 'imported'} {n:,}")
            if self.located:
                method = self.located["method"]
                text += say(f"。住所から位置を求めました（{method}）", f"; placed from their addresses ({method})")
                if self.located.get("approximate"):
                    k = self.located["approximate"]
                    text += say(f"：{k:,} 件は{self.located['note']}",
                                f": {k:,} at the representative point of their 町丁・字 (approximate)")
            if self.left_out:
                rows = say("、", ", ").join(str(p.row) for p in self.left_out[:limit])
                extra = len(self.left_out) - limit
                more = say(f" ほか {extra:,} 行", f" and {extra:,} more") if extra > 0 else ""
                text += say(f"。住所が照合できなかった {len(self.left_out):,} 行（{rows}{more} 行目）は取り込んでいません",
                            f"; {len(self.left_out):,} rows whose address matched nothing (rows {rows}{more}) left out")
            return text
        bad_rows = {p.row for p in self.problems if p.row is not None}
        head = say(f"取り込みを中止しました（何も書き込んでいません）。読んだ行: {self.rows_read:,}、"
                   f"問題: {len(self.problems):,} 件" + (f"（{len(bad_rows):,} 行）" if bad_rows else ""),
                   f"import stopped (nothing written): {self.rows_read:,} rows read, "
                   f"{len(self.problems):,} problems" + (f" in {len(bad_rows):,} rows" if bad_rows else ""))
        lines = [say(f"・{p.row}行目: {p.reason}", f"- row {p.row}: {p.reason}") if p.row is not None
                 else say(f"・ファイル全体: {p.reason}", f"- whole file: {p.reason}") for p in self.problems[:limit]]
        if len(self.problems) > limit:
            lines.append(say(f"・ほか {len(self.problems) - limit:,} 件", f"- {len(self.problems) - limit:,} more"))
        return "\n".join([head, *lines])


def check_resource_file(
    store: Store, path: str | Path, *, kind: str | None = None, source_name: str | None = None,
    replace: bool = False, limits: UploadLimits | None = None, skip_unmatched: bool = False,
) -> ResourceCheck:
    """Check a resource file against the workspace without writing anything.

    The file's type is checked by content and a zip is extracted safely first
    (:func:`api.uploads.readable`). When the file cannot be used, every row's problems are
    listed (coordinates missing, not numbers, swapped or outside Japan; unknown or missing
    kind; blank or duplicate ids; ids already in the workspace), each with its row number.

    A table with an address column (住所/所在地/address) and no coordinates is placed from its
    addresses (:func:`gis.geocoding.locate_addresses`: jageocoder when its dictionary is
    installed, else the census 町丁・字 names of the workspace, marked
    「位置は町丁・字の代表点（概略）」). Rows whose address matches nothing are problems, listed
    with the closest census names, unless ``skip_unmatched``: then they are left out and counted.

    Parameters
    ----------
    path
        The file; ``source_name`` is the name to show in messages (the upload's file name).
    kind
        Resource kind for every row when the file has no kind column.
    replace
        Check for replacing the resources of the kinds in the file instead of adding.
    limits
        Zip limits (defaults of :class:`~api.uploads.UploadLimits` when None).
    skip_unmatched
        Import the rows whose address was placed and leave out the others (counted in the result).

    Returns
    -------
    ResourceCheck
    """
    from gis.resources import resources_from_file, resources_from_table

    name = source_name or Path(path).name
    store.workspace()  # a workspace must exist first; raises WorkspaceNotInitialised
    left_out: list[RowProblem] = []
    located = None
    try:
        with uploads.readable(path, source=name, limits=limits) as readable:
            table = _address_table(readable, name)
            rows_map = None
            try:
                if table is None:
                    points = resources_from_file(readable, kind=kind, source_name=name)
                else:
                    table, rows_map, unmatched, located = _locate(store, table, name)
                    if unmatched and not skip_unmatched:
                        exc = InputDataError(f"{len(unmatched)} 行の住所が市内のどの町丁・字とも合いません", source=name,
                                             row=unmatched[0].row,
                                             en=f"the addresses of {len(unmatched)} rows match no 町丁・字 (census small area) of the city")
                        return ResourceCheck(name, located["rows"], None, unmatched, exc, replace, located=located)
                    left_out = unmatched
                    if table.empty:
                        exc = InputDataError("位置を求められた住所がありません", source=name,
                                             en="no address could be placed")
                        return ResourceCheck(name, located["rows"], None, unmatched, exc, replace, located=located)
                    points = resources_from_table(table, source_name=name, kind=kind)
            except InputDataError as exc:
                rows_read, problems = _diagnose(readable, kind=kind, source=name, table=table)
                if not problems:
                    problems = [RowProblem(exc.row, exc.reason)]
                if rows_map is not None:
                    problems = [dataclasses.replace(p, row=None if p.row is None else rows_map[p.row - 1])
                                for p in problems]
                    rows_read = located["rows"]
                return ResourceCheck(name, rows_read, None, problems, exc, replace)
    except InputDataError as exc:  # the file itself: type, zip, unreadable
        return ResourceCheck(name, 0, None, [RowProblem(None, exc.reason)], exc, replace)
    rows_read = located["rows"] if located else len(points)
    if points.empty:
        exc = InputDataError("ファイルに地域資源の行がありません", source=name,
                             en="the file has no resource rows")
        return ResourceCheck(name, 0, None, [RowProblem(None, "資源の行がありません")], exc, replace)
    problems, exc = _nul_characters(points, name)
    if not problems:
        problems, exc = _clashes(store, points, name, replace=replace)
    if problems:
        return ResourceCheck(name, rows_read, None, problems, exc, replace, located=located)
    return ResourceCheck(name, rows_read, points, [], None, replace, left_out=left_out, located=located)


def _address_table(path: Path, source: str) -> pd.DataFrame | None:
    """The table of a CSV/Excel file that has addresses and no coordinates (None for any other file)."""
    from gis.geocoding import needs_geocoding
    from gis.io import read_table

    if path.suffix.lower() not in (".csv", ".tsv", ".txt", ".xlsx", ".xlsm", ".xls"):
        return None
    try:
        table = read_table(path, source_name=source)
    except InputDataError:
        return None  # resources_from_file reports it
    return table if needs_geocoding(table, _resource_columns(table)) else None


def _locate(store: Store, table: pd.DataFrame, source: str):
    """Add 緯度/経度 to an address table; returns (table of placed rows, their file rows, unmatched problems, summary)."""
    from gis.geocoding import PRECISION_ATTRIBUTE, SMALL_AREA_NOTE, SmallAreaGazetteer, locate_addresses

    ws = store.workspace()
    areas = store.areas()
    base = areas[areas["level"] == ws["profile"].base.key]
    gazetteer = SmallAreaGazetteer.from_areas(base, city_name=ws["city_name"],
                                              crs=plane_rectangular_crs(ws["city_code"]))
    table = table.reset_index(drop=True).copy()
    cols = _resource_columns(table)
    if "id" not in cols:  # ids from the file's own row numbers, so leaving rows out shifts none
        stem = Path(source).stem or "resource"
        table.insert(0, "ID", [f"{stem}-{i + 1}" for i in range(len(table))])
    result = locate_addresses(table[cols["address"]].tolist(), gazetteer=gazetteer)
    names = table[cols["name"]] if "name" in cols else pd.Series([None] * len(table))
    unmatched = []
    for row, address, closest in result.unmatched:
        shown = address.strip() or "（空欄）"
        near = f"近い町丁・字: {'、'.join(closest)}" if closest else "近い町丁・字は見つかりません"
        reason = (f"住所「{shown}」は{ws['city_name']}の町丁・字名と照合できません（{near}）。住所を直すか、"
                  "照合できた行だけ取り込んでください（--skip-unmatched、API は skip_unmatched=true）")
        nm = names.iloc[row - 1]
        unmatched.append(RowProblem(row, reason, str(table["ID"].iloc[row - 1]) if "ID" in table else None,
                                    None if _blank(nm) else str(nm)))
    table["緯度"], table["経度"] = result.lat, result.lon
    table[PRECISION_ATTRIBUTE] = result.notes
    table["matched_area"] = result.matched
    placed = ~np.isnan(result.lon)
    approximate = sum(1 for n in result.notes if n and n != "位置は住所から推定（jageocoder）")
    summary = {"method": result.method, "rows": int(len(table)), "placed": int(placed.sum()),
               "unmatched": len(unmatched), "approximate": approximate,
               "note": SMALL_AREA_NOTE if result.method != "jageocoder" else "概略の位置"}
    rows_map = [int(i) + 1 for i in np.flatnonzero(placed)]
    summary["placed_rows"] = rows_map
    return table[placed].reset_index(drop=True), rows_map, unmatched, summary


def import_resource_file(
    store: Store, path: str | Path, *, kind: str | None = None, source_name: str | None = None, replace: bool = False,
    limits: UploadLimits | None = None, skip_unmatched: bool = False,
) -> dict:
    """Import resource points from CSV / Excel / GeoJSON / GeoPackage / zipped Shapefile, all or nothing.

    Parameters
    ----------
    path
        The file; ``source_name`` is the name to show in messages (the upload's file name).
    kind
        Resource kind for every row when the file has no kind column.
    replace
        Replace existing resources of the kinds in the file instead of adding.
    limits
        Zip limits (defaults of :class:`~api.uploads.UploadLimits` when None).
    skip_unmatched
        For a table of addresses: import the placed rows and leave out those that matched nothing.

    Returns
    -------
    dict
        ``imported`` (rows), ``rows_read``, ``kinds`` (count per kind), ``source``, ``left_out``
        (rows not imported because their address matched nothing), ``located`` (how addresses were placed).

    Raises
    ------
    InputDataError
        The first problem :func:`check_resource_file` found (nothing is written).
    """
    check = check_resource_file(store, path, kind=kind, source_name=source_name, replace=replace, limits=limits,
                                skip_unmatched=skip_unmatched)
    if not check.ok:
        if check.located:  # a list of addresses: the whole Japanese list of unplaced rows and candidates
            raise InputDataError(check.message(), source=check.source, row=check.problems[0].row,
                                 en=check.message(english=True))
        raise check.error
    return write_checked_resources(store, check)


def write_checked_resources(store: Store, check: ResourceCheck) -> dict:
    """Write the points of a passed :func:`check_resource_file` in one transaction (and log the import)."""
    if not check.ok:
        raise check.error
    points, name, replace = check.points, check.source, check.replace
    kinds = points["kind"].value_counts().to_dict()
    with store.transaction() as tx:
        if replace:
            tx.replace_resources(points, kinds=sorted(kinds))
        else:
            tx.add_resources(points)
        tx.log_import({
            "kind": "resources",
            "source": name,
            "rows": int(len(points)),
            "kinds": {k: int(v) for k, v in kinds.items()},
            "replace": replace,
            "left_out": [p.row for p in check.left_out],
            "located": check.located,
            "at": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
            "by": _who(),
        })
    return {"imported": int(len(points)), "rows_read": int(check.rows_read),
            "kinds": {k: int(v) for k, v in kinds.items()}, "source": name,
            "left_out": [p.row for p in check.left_out], "located": check.located, "message": check.message()}


def _clashes(store: Store, points: gpd.GeoDataFrame, name: str, *, replace: bool
             ) -> tuple[list[RowProblem], InputDataError | None]:
    """Rows whose id is already taken in the workspace (by any resource, or with replace by one of another kind)."""
    existing = store.resources()
    if replace:
        existing = existing[~existing["kind"].isin(set(points["kind"]))]
    taken = dict(zip(existing["resource_id"], existing["kind"]))
    clash = points[points["resource_id"].isin(taken)]
    if clash.empty:
        return [], None
    problems = []
    for i, row in clash.iterrows():
        if replace:
            other = RESOURCE_KINDS.get(taken[row["resource_id"]], taken[row["resource_id"]])
            reason = f"ID「{row['resource_id']}」は種別の違う既存の資源（{other}）が使っています"
        else:
            reason = f"ID「{row['resource_id']}」はすでに登録されています（置き換えるなら「置き換え」を選んでください）"
        problems.append(RowProblem(int(i) + 1, reason, str(row["resource_id"]), str(row["name"] or "")))
    rows = "、".join(str(i + 1) for i in clash.index[:10])
    where = "種別の違う既存の資源が使っています" if replace else "すでにワークスペースにあります"
    msg = f"ID「{clash['resource_id'].iloc[0]}」は{where}（{rows} 行目）"
    exc = InputDataError(msg, source=name, row=int(clash.index[0]) + 1,
                         hint="別の ID を付けるか、置き換え（--replace）で同じ種別の資源を置き換えてください",
                         en=f"id {clash['resource_id'].iloc[0]!r} is {'used by an existing resource of another kind' if replace else 'already in the workspace'} (rows {rows})",
                         hint_en="give another id, or replace (--replace) the resources of the same kind")
    return problems, exc


def _nul_characters(points: gpd.GeoDataFrame, name: str) -> tuple[list[RowProblem], InputDataError | None]:
    """Rows with a NUL character in their text (no database can store one; it is a sign of a broken file)."""
    import json

    text = (points["resource_id"].astype(str) + points["name"].astype(str) + points["address"].astype(str)
            + points["attributes"].map(lambda a: json.dumps(a, ensure_ascii=False, default=str)))
    bad = text.str.contains("\x00", regex=False) | text.str.contains("\\u0000", regex=False)
    if not bad.any():
        return [], None
    rows = [int(i) + 1 for i in np.flatnonzero(bad.to_numpy())]
    problems = [RowProblem(r, "NUL 文字（制御文字）が含まれています。壊れたファイルでないか確かめてください") for r in rows]
    msg = f"{'、'.join(map(str, rows[:10]))} 行目に NUL 文字（制御文字）が含まれています"
    return problems, InputDataError(msg, source=name, row=rows[0], hint="表を「CSV UTF-8」で保存し直してください",
                                    en=f"rows {', '.join(map(str, rows[:10]))} hold a NUL (control) character",
                                    hint_en="save the table again as CSV UTF-8")


def _blank(value) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and np.isnan(value):
        return True
    return isinstance(value, str) and not value.strip()


def _diagnose(path: Path, *, kind: str | None, source: str, table: pd.DataFrame | None = None
              ) -> tuple[int, list[RowProblem]]:
    """Every row's problems in a resource file (Japanese), for the validation report.

    Mirrors the checks of :func:`gis.resources.resources_from_table` but goes on past the
    first problem. A file that cannot be read at all gives one file-level problem.
    """
    from gis.io import read_table, read_vector

    try:
        if table is not None:
            xy = geom_types = None
        elif path.suffix.lower() in (".csv", ".tsv", ".txt", ".xlsx", ".xlsm", ".xls"):
            table, xy, geom_types = read_table(path, source_name=source), None, None
        else:
            gdf = read_vector(path, source_name=source)
            table = pd.DataFrame(gdf.drop(columns=gdf.geometry.name))
            geoms = [g.geoms[0] if g.geom_type == "MultiPoint" and len(g.geoms) == 1 else g for g in gdf.geometry]
            geom_types = [g.geom_type for g in geoms]
            xy = ([g.x if g.geom_type == "Point" else np.nan for g in geoms],
                  [g.y if g.geom_type == "Point" else np.nan for g in geoms])
    except InputDataError as exc:
        return 0, [RowProblem(None, exc.reason)]
    table = table.reset_index(drop=True)
    n = len(table)
    problems: list[RowProblem] = []
    file_level: list[RowProblem] = []
    cols = _resource_columns(table)
    ids = table[cols["id"]] if "id" in cols else pd.Series([None] * n)
    names = table[cols["name"]] if "name" in cols else pd.Series([None] * n)

    def add(i: int, reason: str) -> None:
        rid = None if _blank(ids.iloc[i]) else str(ids.iloc[i]).strip()
        nm = None if _blank(names.iloc[i]) else str(names.iloc[i]).strip()
        problems.append(RowProblem(i + 1, reason, rid, nm))

    default_kind = None
    if kind is not None:
        default_kind = resource_kind(kind)
        if default_kind is None:
            file_level.append(RowProblem(None, f"指定された種別「{kind}」が分かりません（使える種別: {_kind_list()}）"))
    # coordinates
    if xy is None:
        if "lat" not in cols or "lon" not in cols:
            shown = "、".join(map(str, table.columns))
            file_level.append(RowProblem(None, f"緯度・経度の列がありません（列: {shown}）。緯度と経度の列を加えてください"))
            lon = lat = np.full(n, np.nan)
        else:
            lon, lat = (_numbers(table, cols[role], label, add) for role, label in (("lon", "経度"), ("lat", "緯度")))
    else:
        lon, lat = (np.asarray(v, dtype=float) for v in xy)
        for i, t in enumerate(geom_types):
            if t != "Point":
                add(i, f"点ではなく {t} です。資源は1か所につき1つの点にしてください")
    usable = ~(np.isnan(lon) | np.isnan(lat))
    swapped = usable & looks_swapped(lon, lat)
    outside = usable & ~swapped & ~looks_japanese(lon, lat)
    for i in np.flatnonzero(swapped):
        add(int(i), f"緯度と経度が入れ替わっているようです（緯度={lat[i]:g}, 経度={lon[i]:g}）。列を入れ替えてください")
    for i in np.flatnonzero(outside):
        add(int(i), f"位置（緯度={lat[i]:g}, 経度={lon[i]:g}）が日本の範囲外です。十進の度（例 34.79, 133.62）で書いてください")
    # kinds
    if "kind" in cols:
        for i, value in enumerate(table[cols["kind"]].tolist()):
            if resource_kind(value) is None:
                if _blank(value):
                    if default_kind is None and kind is None:
                        add(i, "種別が空欄です。種別の列に書くか、取り込むときに種別を選んでください")
                else:
                    add(i, f"種別「{str(value).strip()}」が分かりません（使える種別: {_kind_list()}）")
    elif kind is None:
        file_level.append(RowProblem(None, "種別の列がなく、種別も指定されていません。種別の列を加えるか、取り込むときに種別を選んでください"))
    # ids
    if "id" in cols:
        text = ids.map(lambda v: None if _blank(v) else _id_text(v))
        for i in np.flatnonzero(text.isna().to_numpy()):
            add(int(i), "ID が空欄です。すべての行に ID を書くか、ID の列を消してください（自動で付けます）")
        dup = text.notna() & text.duplicated(keep=False)
        for i in np.flatnonzero(dup.to_numpy()):
            same = np.flatnonzero((text == text.iloc[i]).to_numpy()) + 1
            others = "、".join(str(r) for r in same if r != i + 1)
            add(int(i), f"ID「{text.iloc[i]}」が {others} 行目と重複しています")
    problems.sort(key=lambda p: p.row)
    return n, file_level + problems


def _resource_columns(table: pd.DataFrame) -> dict[str, str]:
    """Which columns hold lat, lon, name, address, kind and id (the importer's own vocabulary)."""
    from gis.resources import _find_columns

    return _find_columns(table)


def _numbers(table: pd.DataFrame, column: str, label: str, add) -> np.ndarray:
    raw = table[column]
    text = raw.map(lambda v: None if _blank(v) else unicodedata.normalize("NFKC", str(v)).strip())
    values = pd.to_numeric(text, errors="coerce")
    for i in np.flatnonzero(values.isna().to_numpy()):
        if _blank(raw.iloc[i]):
            add(int(i), f"{label}（列「{column}」）が空欄です")
        else:
            add(int(i), f"{label}「{raw.iloc[i]}」（列「{column}」）が数値ではありません。十進の度で書いてください")
    return values.to_numpy(dtype=float)


def _id_text(value) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _kind_list() -> str:
    return "、".join(RESOURCE_KINDS.values())


def _who() -> str:
    from api.acting import acting_user

    return acting_user()


def import_tier_file(
    store: Store,
    path: str | Path,
    *,
    level: str,
    id_column: str | None = None,
    name_column: str | None = None,
    source_name: str | None = None,
    threshold: float = DEFAULT_NESTING_THRESHOLD,
    strict: bool = False,
    repair: bool = False,
) -> dict:
    """Replace one tier level of the workspace with the user's polygons or small-area table; rebuild the nesting.

    A polygon file (GeoJSON, GPKG, zipped Shapefile…) gives the level's own polygons; a CSV or
    Excel table with columns ``small_area_id`` (KEY_CODE), ``area_id`` and ``name`` assigns
    census small areas to districts, and the level's polygons are dissolved from them. The
    other levels keep their stored polygons; population is rolled up again. All or nothing.

    Returns
    -------
    dict
        ``level``, ``areas`` (count), ``report`` (the new nesting report).
    """
    from gis.io import read_table, read_vector

    name = source_name or Path(path).name
    ws = store.workspace()
    profile: CityProfile = ws["profile"]
    lv = profile.level(level)
    if lv.key in (profile.base.key, profile.top.key):
        msg = f"{lv.label}はこの方法では置き換えられません（いちばん内側は国勢調査の小地域、いちばん外側は市全域です）"
        en = f"{lv.label} cannot be replaced this way: the innermost level is the census and the outermost the city"
        raise InputDataError(msg, en=en, source=name, hint=f"{'、'.join(k for k in profile.keys[1:-1])} のどれかを取り込んでください", hint_en=f"import one of {', '.join(k for k in profile.keys[1:-1])}")
    suffix = Path(path).suffix.lower()
    if suffix in (".csv", ".tsv", ".txt", ".xlsx", ".xls"):
        table = read_table(path, source_name=name)
        cols = {c.lower(): c for c in table.columns}
        aliases = {"small_area_id": ["small_area_id", "key_code", "小地域コード"],
                   "area_id": ["area_id", "district_id", "id", "地区コード"],
                   "name": ["name", "district_name", "名称", "地区名"]}
        rename = {}
        for want, options in aliases.items():
            for o in options:
                if o.lower() in cols:
                    rename[cols[o.lower()]] = want
                    break
        table = table.rename(columns=rename)
        source = TierSource(table=table, source=f"{name}（小地域→{lv.label} 対応表）")
    else:
        poly = read_vector(path, source_name=name, repair=repair)
        id_col = id_column or next((c for c in ("area_id", "id", "ID", "code", "コード") if c in poly.columns), None)
        name_col = name_column or next((c for c in ("name", "名称", "NAME", "地区名") if c in poly.columns), None)
        if id_col is None or name_col is None or id_col not in poly.columns or name_col not in poly.columns:
            msg = f"{lv.label}の ID と名前の列を指定してください（列: {[c for c in poly.columns if c != 'geometry']}）"
            en = f"say which columns hold the {lv.label} id and name (columns: {[c for c in poly.columns if c != 'geometry']})"
            raise InputDataError(msg, en=en, source=name, hint="--id-column と --name-column で指定してください", hint_en="use --id-column and --name-column")
        poly = poly.rename(columns={id_col: "area_id", name_col: "name"})
        poly["area_id"] = poly["area_id"].astype(str)
        dup = poly[poly["area_id"].duplicated(keep=False)]
        if len(dup):
            rows = ", ".join(str(i + 1) for i in dup.index[:10])
            msg = f"{lv.label}の ID {dup['area_id'].iloc[0]!r} が重複しています（地物 {rows}）"
            en = f"duplicate {lv.label} id {dup['area_id'].iloc[0]!r} (features {rows})"
            raise InputDataError(msg, en=en, source=name, feature=str(dup["area_id"].iloc[0]), hint="地区ごとに別の ID を付けてください", hint_en="every district needs its own id")
        source = TierSource(polygons=poly[["area_id", "name", "geometry"]], source=name)

    stored = store.areas()
    base = stored[stored["level"] == profile.base.key]
    age_report = (store.nesting_report() or {}).get("age_table")
    absorbed = (age_report or {}).get("absorbed", {})
    sources = {}
    for key in profile.keys[1:-1]:
        if key == lv.key:
            sources[key] = source
        else:
            part = stored[stored["level"] == key]
            sources[key] = TierSource(polygons=part[["area_id", "name", "geometry"]],
                                      source=str(part["source"].iloc[0]) if len(part) else "")
    city = stored[stored["level"] == profile.top.key]
    profile = _without_note(profile, lv.key)  # the user's own source replaces any stand-in
    build = build_tiers(
        base.drop(columns=["level", "parent_id", "source"]),
        profile=profile,
        city=city, city_code=ws["city_code"], city_name=ws["city_name"], sources=sources,
        crs=plane_rectangular_crs(ws["city_code"]), base_source=str(base["source"].iloc[0]) if len(base) else "",
        threshold=threshold, strict=strict, absorbed=absorbed,
    )
    if age_report:
        build.report["age_table"] = age_report
    with store.transaction() as tx:
        tx.set_workspace(city_code=ws["city_code"], city_name=ws["city_name"], profile=profile)
        tx.replace_areas(build.areas)
        tx.set_nesting_report(build.report)
        tx.log_import({"kind": "tier", "level": lv.key, "source": name,
                       "areas": int((build.areas["level"] == lv.key).sum()),
                       "at": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"), "by": _who()})
    return {"level": lv.key, "areas": int((build.areas["level"] == lv.key).sum()), "report": build.report}


def _without_note(profile: CityProfile, level: str) -> CityProfile:
    notes = {k: v for k, v in profile.notes.items() if k != level}
    return CityProfile(profile.levels, profile.name, profile.description, notes)


def import_age_table(store: Store, path: str | Path, *, source_name: str | None = None) -> dict:
    """Join an e-Stat small-area age table (Shift_JIS, two header rows) to the workspace by KEY_CODE.

    Sets 65+ and 75+ on the census small areas, rolls them up every tier and stores the join
    report (matched, unmatched, suppressed areas) in the nesting report. All or nothing.
    """
    from gis.io import read_estat_table
    from gis.nesting import check_rollup, roll_up
    from gis.population import join_age_table

    name = source_name or Path(path).name
    ws = store.workspace()
    profile: CityProfile = ws["profile"]
    table = read_estat_table(path, source_name=name)
    areas = store.areas()
    is_base = areas["level"] == profile.base.key
    joined, report = join_age_table(areas[is_base], table, source=name)
    areas = pd.concat([joined, areas[~is_base]], ignore_index=True)
    areas = roll_up(gpd.GeoDataFrame(areas, geometry="geometry", crs=STORAGE_CRS), profile, absorbed=report["absorbed"])
    nesting = store.nesting_report() or {}
    nesting["age_table"] = report
    problems = check_rollup(areas, profile)
    if "rollup" in nesting:
        nesting["rollup"]["problems"] = problems
        nesting["rollup"]["ok"] = not problems
    for entry in nesting.get("levels", []):
        part = areas[areas["level"] == entry["level"]]
        entry["pop_65plus"] = None if part["pop_65plus"].isna().any() else int(part["pop_65plus"].sum())
    with store.transaction() as tx:
        tx.replace_areas(areas)
        tx.set_nesting_report(nesting)
        tx.log_import({"kind": "age_table", "source": name, "matched": report["matched"],
                       "unmatched": len(report["unmatched"]), "suppressed": len(report["suppressed"]),
                       "at": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"), "by": _who()})
    return {**report, "rollup_problems": problems}
