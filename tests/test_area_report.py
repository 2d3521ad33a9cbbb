"""Area reports (地域カルテ): on 高梁市 the 中学校区 report of all 7 districts as one PDF and one Excel file, every
figure equal to the salon-gaps and shopping-refugees job tables; household counts only as /clients/counts publishes them."""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from _auth import login
from _clients_sample import HOUSEHOLDS, fill_workspace, household_json, leaks

JUNIOR_HIGH = "中学校区（日常生活圏域）"


# --------------------------------------------------------------------------- 高梁市, real data


@pytest.fixture(scope="module")
def takahashi(tmp_path_factory, data_dir):
    from api.importing import build_city_workspace
    from api.store.connect import open_store

    path = tmp_path_factory.mktemp("report") / "t.gpkg"
    store = open_store(str(path))
    build_city_workspace(store, data_dir=data_dir)
    yield store, path
    store.close()


@pytest.fixture(scope="module")
def job_tables(takahashi, data_dir):
    """The job tables exactly as the salon-gaps and shopping-refugees jobs write them (default parameters)."""
    import api.analyses.salons  # noqa: F401 - registers the jobs
    import api.analyses.shopping  # noqa: F401
    from api.analyses.base import REGISTRY

    store, _ = takahashi
    out = {}
    for name in ("salon-gaps", "shopping-refugees"):
        spec = REGISTRY[name]
        out[name] = spec.run(store, spec.params(), progress=lambda f, m: None, data_dir=data_dir).tables
    return out


@pytest.fixture(scope="module")
def district_reports(takahashi, data_dir):
    from api.reports import build_reports

    store, _ = takahashi
    return build_reports(store, level="junior_high", data_dir=data_dir)


def _row(table: pd.DataFrame, level_label: str, area_id: str) -> pd.Series:
    rows = table[(table["階層"] == level_label) & (table["地域ID"] == area_id)]
    assert len(rows) == 1, (level_label, area_id)
    return rows.iloc[0]


#: report figure key → (job, table, column) in the job's own tables
def _figures_of_jobs() -> dict[str, tuple[str, str, str]]:
    out = {}
    for t in (500, 1000):
        table = f"圏域別（徒歩{t} m）"
        out[f"covered_elderly_{t}"] = ("salon-gaps", table, "カバー済み高齢者")
        out[f"uncovered_elderly_{t}"] = ("salon-gaps", table, "未カバー高齢者")
        out[f"uncovered_share_{t}"] = ("salon-gaps", table, "未カバー率（%）")
    out["population"] = ("salon-gaps", "圏域別（徒歩500 m）", "人口")
    out["elderly"] = ("salon-gaps", "圏域別（徒歩500 m）", "65歳以上人口")
    shop = "圏域別の買い物弱者"
    out["refugees_straight"] = ("shopping-refugees", shop, "買い物弱者（直線）")
    out["share_straight"] = ("shopping-refugees", shop, "割合（直線）（%）")
    out["served_straight"] = ("shopping-refugees", shop, "移動販売でカバー（直線）")
    out["remaining_straight"] = ("shopping-refugees", shop, "残る買い物弱者（直線）")
    return out


def test_every_figure_of_the_district_reports_equals_the_job_tables(district_reports, job_tables, takahashi):
    store, _ = takahashi
    assert len(district_reports) == 7
    assert {r.level_label for r in district_reports} == {JUNIOR_HIGH}
    city_label = "市全域"
    checked = 0
    for report in district_reports:
        assert report.parent["name"] == "高梁市"
        for key, (job, table, column) in _figures_of_jobs().items():
            jt = job_tables[job][table]
            here = _row(jt, JUNIOR_HIGH, report.area_id)[column]
            city = jt[jt["階層"] == city_label].iloc[0][column]
            assert report.figure(key) == pytest.approx(here, abs=1e-9), (report.name, key)
            assert report.figure(key, "city") == pytest.approx(city, abs=1e-9), (report.name, key)
            assert report.figure(key, "parent") == pytest.approx(city, abs=1e-9)  # the parent of a 中学校区 is the city
            checked += 1
        # the areas it contains are the job table's 公民館区 rows of this district, with the same figures
        kids = job_tables["salon-gaps"]["圏域別（徒歩500 m）"]
        for row in report.children.itertuples(index=False):
            jrow = _row(kids, row.階層, row.地域ID)
            assert (row.人口, row._4) == (jrow["人口"], jrow["65歳以上人口"])
    assert checked == 7 * len(_figures_of_jobs())
    # the 7 districts add up to the city (people to rounding, resources exactly)
    pops = sum(r.figure("population") for r in district_reports)
    assert pops == pytest.approx(district_reports[0].figure("population", "city"), abs=0.05 * 7)
    resources = store.resources()
    kinds = [k for k in district_reports[0].indicators["key"] if k.startswith("kind:")]
    assert "kind:salon" in kinds
    for key in kinds:
        assert sum(r.figure(key) for r in district_reports) == district_reports[0].figure(key, "city"), key
    placed = sum(len(r.resources) for r in district_reports)
    assert placed == district_reports[0].indicators.query("key.str.startswith('kind:')")["city"].sum()
    assert placed <= len(resources)
    for r in district_reports:  # a report lists exactly the resources it counts
        counted = r.indicators.query("key.str.startswith('kind:')")["value"].sum()
        assert counted == len(r.resources)
    # 65+ is an estimate here (no age table): the report says so, and 75+ is unknown, not 0
    first = district_reports[0]
    note = first.indicators.set_index("key").at["elderly", "note"]
    assert note.startswith("推計") and "41.0%" in note
    assert first.figure("pop_75plus") is None
    assert first.figure("client_households") == "—"  # no client households in this workspace


def test_the_district_report_as_one_pdf_and_one_excel_through_the_cli(takahashi, data_dir, district_reports,
                                                                     job_tables, tmp_path):
    from pypdf import PdfReader

    from api.cli import main

    _, path = takahashi
    names = [r.name for r in district_reports]
    runner = CliRunner()
    pdf, xlsx = tmp_path / "中学校区.pdf", tmp_path / "中学校区.xlsx"
    for fmt, out in (("pdf", pdf), ("xlsx", xlsx)):
        result = runner.invoke(main, ["report", "--level", "junior_high", "--format", fmt, "--out", str(out),
                                      "--workspace", str(path), "--data-dir", str(data_dir)])
        assert result.exit_code == 0, result.output
        assert "地域カルテ" in result.output and "7 地域" in result.output

    reader = PdfReader(io.BytesIO(pdf.read_bytes()))
    pages = [p.extract_text() for p in reader.pages]
    assert 7 <= len(pages) <= 7 * 4
    starts = [i for i, text in enumerate(pages) if text.lstrip().startswith("地域カルテ")]
    assert len(starts) == 7  # every district starts a page of its own
    for i, name in zip(starts, names):
        assert f"地域カルテ　{name}" in pages[i] or f"地域カルテ {name}" in pages[i]
    text = "".join(pages).replace("\n", "")
    for word in ("65歳以上人口", "未カバー率", "買い物弱者", "移動販売の停留所", "高梁市", "推計"):
        assert word in text
    # a figure of the job table appears printed on the district's pages
    first_end = starts[1]
    refugees = _row(job_tables["shopping-refugees"]["圏域別の買い物弱者"], JUNIOR_HIGH, district_reports[0].area_id)
    assert f"{refugees['買い物弱者（直線）']:,.1f} 人" in "".join(pages[: first_end]).replace("\n", " ")

    import openpyxl

    book = openpyxl.load_workbook(xlsx)
    assert len(book.sheetnames) == 7
    assert book.sheetnames == [n[:28] for n in names]
    for report, sheet in zip(district_reports, book.sheetnames):
        frame = pd.read_excel(xlsx, sheet_name=sheet, header=None)
        header = frame.index[frame[0] == "区分"][0]
        ind = pd.read_excel(xlsx, sheet_name=sheet, skiprows=header, nrows=len(report.indicators))
        values = dict(zip(ind["指標"] + "|" + ind["区分"], ind["この地域"]))
        for key, (job, table, column) in _figures_of_jobs().items():
            row = report.indicators.set_index("key").loc[key]
            job_value = _row(job_tables[job][table], JUNIOR_HIGH, report.area_id)[column]
            assert float(values[f"{row['label']}|{row['section']}"]) == pytest.approx(job_value, abs=1e-9), (sheet, key)


def test_a_station_catchment_report_sums_its_areas(takahashi, data_dir, job_tables):
    from api.reports import build_reports

    store, _ = takahashi
    stations = store.stations()
    station = stations.iloc[0]
    (report,) = build_reports(store, level="catchment", area_id=str(station["station_id"]), data_dir=data_dir)
    members = [str(a) for a in station["area_ids"]]
    table = job_tables["salon-gaps"]["圏域別（徒歩500 m）"]
    rows = table[table["地域ID"].isin(members)]
    assert len(rows) == len(members)
    assert report.figure("population") == pytest.approx(rows["人口"].sum(), abs=0.05 * len(members) + 0.1)
    assert report.figure("uncovered_elderly_500") == pytest.approx(rows["未カバー高齢者"].sum(), abs=0.05 * len(members) + 0.1)
    assert report.level_label == "拠点の担当圏域" and str(station["name"]) in report.name


def test_an_unknown_level_or_area_says_what_there_is(takahashi, data_dir):
    from api.reports import build_reports, check_format
    from gis.errors import InputDataError

    store, _ = takahashi
    with pytest.raises(InputDataError, match="junior_high（中学校区"):
        build_reports(store, level="school", data_dir=data_dir)
    with pytest.raises(InputDataError, match="地域ID 'X-1' はありません（あるもの: 33209-A32-01"):
        build_reports(store, level="junior_high", area_id="X-1", data_dir=data_dir)
    with pytest.raises(InputDataError, match="pdf・html・xlsx"):
        check_format("docx")


# --------------------------------------------------------------------------- the API, client households


@pytest.fixture
def client_app(tmp_path):
    from api.app import create_app
    from api.routers.clients import close_client_stores
    from api.settings import Settings
    from api.store.geopackage import GeoPackageStore

    store = GeoPackageStore(tmp_path / "ws.gpkg", create=True)
    fill_workspace(store)
    store.close()
    app = create_app(Settings(workspace=str(tmp_path / "ws.gpkg"), upload_dir=tmp_path / "uploads", data_dir=tmp_path,
                              job_runner="thread"))
    yield app
    close_client_stores(app)


def _pdf_text(body: bytes) -> str:
    from pypdf import PdfReader

    return "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(body)).pages)


def _xlsx_text(body: bytes) -> str:
    with zipfile.ZipFile(io.BytesIO(body)) as z:
        return "\n".join(z.read(n).decode("utf-8", "replace") for n in z.namelist())


def test_reports_over_the_api_show_household_counts_only_as_published(client_app):
    with TestClient(client_app) as client:
        login(client, "csw", station_id="s1")
        for h in (h for h in HOUSEHOLDS if h[1] == "s1"):
            assert client.post("/clients", json=household_json(h)).status_code == 201
        login(client, "planner")
        published = {a["area_id"]: a["display"] for a in client.get("/clients/counts", params={"level": "kominkan"}).json()["areas"]}
        assert published["k1"] not in ("0", "秘匿")  # the control: there are households to count

        r = client.get("/reports/kominkan")
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
        html = r.text
        assert '<html lang="ja">' in html and "@page" in html and "<svg" in html and "tile" not in html.lower()
        for area_id, shown in published.items():
            section = html[html.index(f'id="area-kominkan-{area_id}"'):]
            section = section[: section.index("</section>")]
            row = re.search(r"<td>訪問先の世帯数</td><td class=\"n\">([^<]*)</td>", section).group(1)
            assert row.replace(" 世帯", "") == shown, area_id
        assert leaks(html) == []

        r = client.get("/reports/kominkan/k1", params={"format": "pdf"})
        assert r.status_code == 200 and r.content[:5] == b"%PDF-"
        text = _pdf_text(r.content)
        assert "高梁小学校区" in text and "訪問先の世帯数" in text and leaks(text) == []
        assert "filename*=UTF-8''" in r.headers["content-disposition"]

        r = client.get("/reports/catchment", params={"format": "xlsx"})
        assert r.status_code == 200 and r.content[:2] == b"PK"
        import openpyxl

        book = openpyxl.load_workbook(io.BytesIO(r.content))
        assert len(book.sheetnames) == 2  # one catchment sheet per station
        assert leaks(_xlsx_text(r.content)) == []

        # a catchment sums its areas' counts only when every one is published: s1's small areas are all hidden
        small = client.get("/clients/counts", params={"level": "neighbourhood"}).json()["areas"]
        assert {a["area_id"]: a["display"] for a in small if a["area_id"] != "n5"} == dict.fromkeys(["n1", "n2", "n3", "n4"], "秘匿")
        page = client.get("/reports/catchment/s1").text
        assert re.search(r"<td>訪問先の世帯数</td><td class=\"n\">秘匿</td>", page)
        assert "高梁地域包括支援センター（サンプル）" in page and leaks(page) == []

        index = client.get("/reports")
        assert index.status_code == 200 and '<html lang="ja">' in index.text
        for href in ("/reports/kominkan?format=pdf", "/reports/kominkan/k1?format=xlsx", "/reports/catchment?format=html"):
            assert f'href="{href}"' in index.text
        assert client.get("/reports/kominkan/nowhere").status_code == 404
        assert "地域ID 'nowhere' はありません" in client.get("/reports/kominkan/nowhere").text
        assert client.get("/reports/school").status_code == 404
        assert client.get("/reports/kominkan", params={"format": "docx"}).status_code == 422
        client.headers.pop("Authorization")
        client.cookies.clear()
        assert client.get("/reports/kominkan").status_code == 401


def test_the_help_lists_report_without_loading_the_analysis_stack():
    import subprocess
    import sys

    code = ("import sys\nfrom click.testing import CliRunner\nfrom api.cli import main\n"
            "r = CliRunner().invoke(main, ['--help'])\nprint(r.output)\n"
            "print('HEAVY', sorted(m for m in ('geopandas', 'pandas', 'weasyprint', 'openpyxl') if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=Path(__file__).resolve().parents[1], check=True).stdout
    assert "  report " in out and "HEAVY []" in out


# --------------------------------------------------------------------------- counting in areas (pure)


def test_resources_and_mobile_sales_visits_are_counted_in_the_innermost_areas_and_summed_up(tmp_path):
    import geopandas as gpd
    from shapely.geometry import Point

    from api.store.geopackage import GeoPackageStore
    from gis.area_report import resource_counts
    from gis.schema import coerce_resources
    from gis.tiers import DEFAULT_PROFILE

    with GeoPackageStore(tmp_path / "ws.gpkg", create=True) as store:
        fill_workspace(store)  # the API tests' sample areas: n1–n4 in 公民館区 k1, n5 in k2
        areas = store.areas()
    stops = coerce_resources(gpd.GeoDataFrame(
        {"resource_id": ["m1", "m2", "m3"], "kind": ["mobile_sales_stop"] * 3, "name": ["停留所A", "停留所B", "停留所C"],
         "attributes": [{"days": "毎週火・金"}, {"days": ["月", "水", "金"]}, {}]},
        geometry=[Point(133.605, 34.785), Point(133.630, 34.790), Point(133.615, 34.795)], crs="EPSG:4326"))
    counts = resource_counts(stops, areas, profile=DEFAULT_PROFILE).set_index(["level", "area_id"])
    assert counts.at[("neighbourhood", "n1"), "weekly_visits"] == 2  # 火・金
    assert counts.at[("neighbourhood", "n5"), "weekly_visits"] == 3  # 月・水・金
    assert counts.at[("kominkan", "k1"), "mobile_stops"] == 2  # A and C (C's days unknown)
    assert counts.at[("kominkan", "k1"), "stops_days_unknown"] == 1
    assert counts.at[("city", "c1"), "mobile_stops"] == 3 and counts.at[("city", "c1"), "weekly_visits"] == 5


def test_the_served_map_links_each_area_to_its_report_and_the_file_does_not(client_app, tmp_path):
    from api.maps import tier_map_html
    from api.store.geopackage import GeoPackageStore

    with TestClient(client_app) as client:
        login(client, "planner")
        page = client.get("/maps/tiers").text
        store = GeoPackageStore(tmp_path / "ws.gpkg")
        areas = store.areas()
        # every area's popup carries its level/area_id under 「地域カルテ」, made a link by ReportLinks
        paths = set(re.findall(r'"p\d+":"([a-z_]+/[^"/]+)"', page))
        expected = {f"{a.level}/{a.area_id}" for a in areas.itertuples()}
        assert expected <= paths, sorted(expected - paths)[:5]
        assert "popupopen" in page and "'/reports/' + td.textContent.trim()" in page
        for path in sorted(expected)[:3]:  # each link opens that area's report
            r = client.get(f"/reports/{path}")
            assert r.status_code == 200 and "地域カルテ" in r.text, path
        # the tier page links every tier's whole report in the three formats
        web = client.get("/web/").text
        levels = set(areas["level"])
        for level in levels:
            for fmt in ("html", "pdf", "xlsx"):
                assert f"/reports/{level}?format={fmt}" in web, (level, fmt)
        # a map written to a file (no server behind it) has no report links
        written = tier_map_html(store)
        assert "地域カルテ" not in written and "'/reports/'" not in written
        store.close()
