"""SAMPLE data for the client-data tests: a small complete workspace and made-up client households.

Everything here is サンプルデータ: the households are invented (names like 「漏洩検査太郎」, chosen so
that a leak is easy to find), their addresses are fictitious and their coordinates are picked
to be distinctive at every precision a map, table or log might print them with.
"""

from __future__ import annotations

import re

import geopandas as gpd
import pandas as pd
from shapely.geometry import Point, box

from gis.schema import coerce_areas, coerce_resources, coerce_stations
from gis.tiers import DEFAULT_PROFILE

SAMPLE_MARK = "サンプルデータ（実在の世帯ではありません）"

#: Sample client households: two stations; s2 has only two (a small cell).
HOUSEHOLDS = [
    # id, station, name, address, lat, lon, visit minutes, windows, priority
    # (3-decimal roundings differ from every public coordinate of the workspace: area corners,
    # stations, resources)
    ("S1-001", "s1", "漏洩検査太郎", "架空県漏洩検査町一丁目1-1", 34.78437, 133.60619, 30, "10:00-11:30", 1),
    ("S1-002", "s1", "漏洩検査花子", "架空県漏洩検査町二丁目2-2", 34.78713, 133.61083, 45, "", 2),
    ("S1-003", "s1", "秘密試験次郎", "架空県秘密試験村三番地", 34.79291, 133.60847, 30, "13:30-15:00", 2),
    ("S1-004", "s1", "秘密試験三郎", "架空県秘密試験村四番地", 34.78862, 133.61736, 60, "", 3),
    ("S1-005", "s1", "漏洩検査良子", "架空県漏洩検査町五丁目5-5", 34.79368, 133.61377, 45, "9:00-10:30", 1),
    ("S2-001", "s2", "非公開検査一郎", "架空県非公開町六番地", 34.78381, 133.63154, 30, "", 2),
    ("S2-002", "s2", "非公開検査春子", "架空県非公開町七番地", 34.79347, 133.63622, 45, "14:00-15:30", 2),
]


def households_table(station: str | None = None) -> pd.DataFrame:
    """The sample households as a visits file would hold them (Japanese columns)."""
    rows = [{"id": h[0], "氏名": h[2], "住所": h[3], "緯度": h[4], "経度": h[5], "訪問時間(分)": h[6],
             "希望時間帯": h[7], "優先度": h[8], "メモ": SAMPLE_MARK, "サンプル": True}
            for h in HOUSEHOLDS if station is None or h[1] == station]
    return pd.DataFrame(rows)


def household_json(h) -> dict:
    """One sample household as the body of ``POST /clients``."""
    return {"household_id": h[0], "station_id": h[1], "name": h[2], "address": h[3], "lat": h[4], "lon": h[5],
            "visit_min": h[6], "windows": h[7] or None, "priority": h[8], "notes": SAMPLE_MARK, "is_sample": True}


def secrets() -> list[str]:
    """Names and addresses (and their distinctive parts) that must never appear on the public side."""
    out = []
    for h in HOUSEHOLDS:
        out += [h[2], h[3]]
    return out + ["漏洩検査", "秘密試験", "非公開検査", "架空県"]


def coordinate_patterns() -> list[re.Pattern]:
    """Each household's latitude and longitude written with 3 to 6 decimals, as whole numbers in text."""
    pats = []
    for h in HOUSEHOLDS:
        for value in (h[4], h[5]):
            for d in range(3, 7):
                pats.append(re.compile(rf"(?<![\d.]){re.escape(f'{value:.{d}f}')}(?!\d)"))
    return pats


def leaks(text: str) -> list[str]:
    """Every client name, address or coordinate found in ``text``."""
    found = [s for s in secrets() if s in text]
    found += [p.pattern for p in coordinate_patterns() if p.search(text)]
    return found


def fill_workspace(store) -> None:
    """A small complete workspace of 高梁市 (SAMPLE): 5 small areas with populations, 2 公民館区, 2 stations, resources.

    The sample households fall 1, 2, 1, 1 into the four small areas of 公民館区 k1 (station s1) and
    2 into n5 (公民館区 k2, station s2).

    Every analysis runs on it (populations and 65+ known everywhere); the stations and salons are
    marked sample like the demo's.
    """
    cells = {"n1": (133.600, 34.780), "n2": (133.610, 34.780), "n3": (133.600, 34.790), "n4": (133.610, 34.790)}
    geoms = {k: box(x, y, x + 0.01, y + 0.01) for k, (x, y) in cells.items()}  # 公民館区 k1
    geoms["n5"] = box(133.620, 34.780, 133.645, 34.800)  # 公民館区 k2
    pops = {"n1": 900, "n2": 400, "n3": 700, "n4": 300, "n5": 500}
    ids = ["n1", "n2", "n3", "n4", "n5"]
    parents = {"n1": "k1", "n2": "k1", "n3": "k1", "n4": "k1", "n5": "k2"}
    areas = coerce_areas(gpd.GeoDataFrame(
        {
            "area_id": [*ids, "k1", "k2", "j1", "c1"],
            "level": ["neighbourhood"] * 5 + ["kominkan", "kominkan", "junior_high", "city"],
            "name": ["落合町阿部", "成羽町下原", "松山", "内山下", "川面町", "高梁小学校区", "川面小学校区", "高梁中学校区", "高梁市"],
            "parent_id": [parents[i] for i in ids] + ["j1", "j1", "c1", None],
            "population": [pops[i] for i in ids] + [2300, 500, 2800, 2800],
            "households": [pops[i] // 2 for i in ids] + [1150, 250, 1400, 1400],
            "pop_65plus": [pops[i] * 2 // 5 for i in ids] + [920, 200, 1120, 1120],
        },
        geometry=[geoms[i] for i in ids]
        + [box(133.600, 34.780, 133.620, 34.800), geoms["n5"]] + [box(133.600, 34.780, 133.645, 34.800)] * 2,
        crs="EPSG:4326",
    ))
    resources = coerce_resources(gpd.GeoDataFrame(
        {
            "resource_id": ["r-salon-1", "r-salon-2", "r-kom-1", "r-kom-2", "r-hall-1", "r-hall-2", "r-shop-1", "r-shop-2"],
            "kind": ["salon", "salon", "kominkan", "kominkan", "meeting_hall", "meeting_hall", "supermarket",
                     "convenience_store"],
            "name": ["いきいきサロン松山（サンプル）", "いきいきサロン川面（サンプル）", "松山公民館", "川面公民館", "阿部集会所",
                     "下原集会所", "天満屋ハピーズ高梁店", "ローソン高梁店"],
            "address": ["高梁市松山", "高梁市川面町", "高梁市松山", "高梁市川面町", "高梁市落合町阿部", "高梁市成羽町下原",
                        "高梁市正宗町", "高梁市内山下"],
            "attributes": [{"meeting_days": ["火"]}, {"meeting_days": ["金"]}, {}, {}, {}, {}, {}, {}],
            "is_sample": [True, True, False, False, False, False, False, False],
        },
        geometry=[Point(133.605, 34.795), Point(133.635, 34.785), Point(133.607, 34.796), Point(133.633, 34.792),
                  Point(133.602, 34.782), Point(133.628, 34.782), Point(133.615, 34.792), Point(133.626, 34.797)],
        crs="EPSG:4326",
    ))
    stations = coerce_stations(gpd.GeoDataFrame(
        {"station_id": ["s1", "s2"], "name": ["高梁地域包括支援センター（サンプル）", "川面地域包括支援センター（サンプル）"],
         "kind": ["shakyo_station", "shakyo_station"], "area_ids": [["n1", "n2", "n3", "n4"], ["n5"]],
         "is_sample": [True, True]},
        geometry=[Point(133.612, 34.788), Point(133.634, 34.790)],
        crs="EPSG:4326",
    ))
    with store.transaction() as tx:
        tx.set_workspace(city_code="33209", city_name="高梁市", profile=DEFAULT_PROFILE)
        tx.replace_areas(areas)
        tx.replace_stations(stations)
        tx.add_resources(resources)


def wait_for_job(client, job_id: str, *, timeout: float = 120.0) -> dict:
    """Poll ``GET /jobs/{job_id}`` until the job is done, failed or cancelled; returns its record."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        record = client.get(f"/jobs/{job_id}").json()
        if record.get("status") in ("done", "failed", "cancelled"):
            return record
        if time.monotonic() > deadline:
            raise AssertionError(f"job {job_id} still {record.get('status')} after {timeout:g} s: {record}")
        time.sleep(0.2)
