"""A start without the bundled data: `tsunagu data` names every file a city needs; the official ZIPs build the city."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from _official_forms import write_gsi_csvs, write_mhlw_csv
from click.testing import CliRunner

import data as manifest
from api.cli import main


def test_empty_folder_names_every_missing_file_and_its_page(tmp_path):
    result = CliRunner().invoke(main, ["data", "--city", "33209", "--data-dir", str(tmp_path)])
    assert result.exit_code == 1
    out = result.output
    sources = manifest.manifest()
    for key in ("small_areas", "municipalities", "junior_high_districts", "elementary_districts",
                "food_permits", "shelters", "rail_stations"):
        assert sources[key]["title"] in out
        assert sources[key]["download"] in out, key
    assert "A002005212010*33209*.zip" in out and "N03-*_33_*.zip" in out and "A32-*_33_*.zip" in out
    assert "平成22年（2010年）国勢調査" in out
    # the official point files: GSI's per-city CSVs and the MHLW authority file, with where to get them
    assert "33209_[12].csv" in out and "33209_2.csv" in out and "hinanmap.gsi.go.jp" in out
    assert "33*_food_business_all.csv" in out and "param=33000_food_business_all.csv" in out
    assert "必須のファイルが 3 つありません" in out
    assert "×" in out and "○" not in out


def test_demo_with_empty_folder_names_the_files_in_japanese(tmp_path):
    result = CliRunner().invoke(main, ["demo", "--workspace", str(tmp_path / "w.gpkg"), "--data-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "はありますが" in result.output and "no open-data folder" not in result.output
    assert "A002005212010" in result.output and "e-stat.go.jp" in result.output


def _zip_shapefile(gdf: gpd.GeoDataFrame, folder: Path, zip_name: str, stem: str, *, crs: str) -> Path:
    """Write ``gdf`` as a Shift_JIS Shapefile without .cpg (as the official downloads come) and zip it."""
    shp_dir = folder / f"_{stem}"
    shp_dir.mkdir()
    gdf = gdf.set_crs(crs, allow_override=True)
    gdf.to_file(shp_dir / f"{stem}.shp", engine="pyogrio", encoding="cp932", promote_to_multi=True)
    for cpg in shp_dir.glob("*.cpg"):
        cpg.unlink()
    out = folder / zip_name
    with zipfile.ZipFile(out, "w") as zf:
        for part in sorted(shp_dir.iterdir()):
            zf.write(part, f"{stem}/{part.name}" if stem.startswith(("N03", "A27", "A32")) else part.name)
    for part in shp_dir.iterdir():
        part.unlink()
    shp_dir.rmdir()
    return out


@pytest.fixture(scope="module")
def official_folder(data_dir, tmp_path_factory):
    """e-Stat and 国土数値情報 ZIPs, GSI shelter CSVs and the MHLW food-permit CSV in their official
    layout, made from the real data (高梁市, 岡山県)."""
    ok = Path(data_dir) / "okayama"
    folder = tmp_path_factory.mktemp("official")
    small = gpd.read_file(ok / "h22_small_areas_west_okayama.topo.json")
    small = small[small["CITY"].astype(str) == "209"].drop(columns=["id"])
    _zip_shapefile(small, folder, "A002005212010DDSWC33209.zip", "h22ka33209", crs="EPSG:4612")
    n03 = gpd.read_file(ok / "ksj_n03_municipalities.topo.json").drop(columns=["id"], errors="ignore")
    _zip_shapefile(n03, folder, "N03-20240101_33_GML.zip", "N03-20240101_33", crs="EPSG:6668")
    a27 = gpd.read_file(ok / "ksj_a27_elementary_districts.topo.json").drop(columns=["id"], errors="ignore")
    _zip_shapefile(a27, folder, "A27-10_33_GML.zip", "A27-10_33", crs="EPSG:4612")
    a32 = gpd.read_file(ok / "ksj_a32_junior_high_districts.topo.json")
    a32 = a32[a32["A32_008"].notna()][["A32_006", "A32_007", "A32_008", "A32_009", "geometry"]]
    _zip_shapefile(a32, folder, "A32-16_33_GML.zip", "A32-16_33", crs="EPSG:6668")
    write_gsi_csvs(data_dir, folder)
    write_mhlw_csv(data_dir, folder)
    return folder


def test_data_command_finds_the_official_zips(official_folder):
    result = CliRunner().invoke(main, ["data", "--city", "33209", "--data-dir", str(official_folder)])
    assert result.exit_code == 0, result.output
    assert "33209 高梁市" in result.output
    assert "A002005212010DDSWC33209.zip" in result.output and "A32-16_33_GML.zip" in result.output
    assert "33209_1.csv" in result.output and "33209_2.csv" in result.output
    assert "33000_food_business_all.csv" in result.output
    assert "必須のファイルはそろっています" in result.output


def test_official_small_area_zip_reads_like_the_conversion(official_folder, data_dir):
    from gis import opendata

    official = opendata.read_census_small_areas(official_folder / "A002005212010DDSWC33209.zip", city_code="33209")
    bundled = opendata.read_census_small_areas(Path(data_dir) / "okayama" / "h22_small_areas_west_okayama.topo.json",
                                               city_code="33209")
    assert len(official) == len(bundled)
    assert official.attrs["import"]["features"] == 444
    assert int(official["population"].sum()) == int(bundled["population"].sum()) == 34963
    assert set(official["name"]) == set(bundled["name"])  # Shift_JIS names decoded


def test_demo_builds_takahashi_from_the_official_zips(official_folder, data_dir, tmp_path):
    ws = tmp_path / "w.gpkg"
    result = CliRunner().invoke(main, ["demo", "--city", "33209", "--data-dir", str(official_folder),
                                       "--workspace", str(ws)])
    assert result.exit_code == 0, result.output
    from api.store.geopackage import GeoPackageStore

    with GeoPackageStore(ws) as store:
        areas = store.areas()
        resources = store.resources()
        assert store.workspace()["city_name"] == "高梁市"
    counts = areas.groupby("level").size().to_dict()
    assert counts["kominkan"] == 15 and counts["junior_high"] == 7 and counts["city"] == 1
    base = areas[areas["level"] == "neighbourhood"]
    assert int(base["population"].sum()) == 34963
    # The shops and 公民館・集会所・学校・避難所 of the official CSVs are the bundled files' (no stations here).
    from api.importing import city_resources, sample_salons
    from gis import opendata

    boundary = opendata.municipality(Path(data_dir) / "okayama" / "ksj_n03_municipalities.topo.json", "33209")
    bundled = city_resources(Path(data_dir), city_code="33209", city_name="高梁市", boundary=boundary)
    bundled = bundled[bundled["kind"] != "rail_station"]
    salons = sample_salons(bundled)
    expected = pd.concat([bundled["kind"], salons["kind"]]).value_counts().to_dict()
    assert resources["kind"].value_counts().to_dict() == expected
    shops = resources["kind"].isin(["grocery", "convenience_store", "supermarket", "department_store", "drugstore",
                                    "butcher", "fishmonger", "greengrocer"])
    assert int(shops.sum()) == 74 and int((~shops & (resources["kind"] != "salon")).sum()) == 120
    assert sorted(resources.loc[~resources["is_sample"].astype(bool), "name"]) == sorted(bundled["name"])


def test_data_command_says_when_the_city_is_not_in_the_files(data_dir):
    result = CliRunner().invoke(main, ["data", "--city", "33999", "--data-dir", str(data_dir)])
    assert result.exit_code == 1
    assert "33999 の小地域がありません" in result.output and "33209 高梁市" in result.output


def test_missing_point_files_say_which_file_and_where(tmp_path):
    from api.datafiles import missing_message

    shelters = missing_message(tmp_path, "shelters", city_code="33209")
    assert "33209_[12].csv" in shelters and "https://hinanmap.gsi.go.jp/hinanjocp/hinanbasho/koukaidate.html" in shelters
    assert "指定緊急避難場所（33209_2.csv）" in shelters
    permits = missing_message(tmp_path, "food_permits", city_code="33209")
    assert "33*_food_business_all.csv" in permits and "i2fas.mhlw.go.jp" in permits


def test_demo_without_the_optional_point_files_says_which_and_where(official_folder, tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    for z in official_folder.glob("*.zip"):
        (folder / z.name).symlink_to(z)
    result = CliRunner().invoke(main, ["demo", "--city", "33209", "--data-dir", str(folder),
                                       "--workspace", str(tmp_path / "w.gpkg")])
    assert result.exit_code == 0, result.output
    notes = [line for line in result.output.splitlines() if "任意のファイルなし" in line]
    assert len(notes) == 2
    assert "食品営業許可" in notes[0] and "33000_food_business_all.csv" in notes[0]
    assert "33209_2.csv" in notes[1] and "hinanmap.gsi.go.jp" in notes[1]


def test_demo_says_how_many_rows_of_each_official_file_it_left_out(official_folder, data_dir, tmp_path):
    """The MHLW file holds 新見市's premises and 3 closed 高梁市 shops; the GSI emergency list gets a 新見市 place
    and a row without a position: the demo says, per file and reason, how many rows it left out, naming none."""
    import json

    from _official_forms import GSI_EMERGENCY_HEADER, gsi_rows, write_csv

    folder = tmp_path / "data"
    folder.mkdir()
    for z in official_folder.glob("*.zip"):
        (folder / z.name).symlink_to(z)
    write_mhlw_csv(data_dir, folder)  # 高梁市 and 新見市, 3 closed copies
    write_gsi_csvs(data_dir, folder)
    emergency = next((Path(data_dir) / "okayama" / "shelters").glob("emergency_33209?.json"))
    rows = gsi_rows(emergency)
    first = rows[0]
    rows.append({**first, "共通ID": first["共通ID"].replace("E33209", "E33210", 1), "施設・場所名": "隣の市の広場"})
    rows.append({**first, "共通ID": first["共通ID"][:-3] + "999", "施設・場所名": "位置のない広場", "緯度": "", "経度": ""})
    write_csv(folder / "33209_2.csv", GSI_EMERGENCY_HEADER, rows, encoding="cp932")
    niimi = len(json.loads((Path(data_dir) / "okayama" / "food_permits" / "新見市.json").read_text(encoding="utf-8"))["data"])

    result = CliRunner().invoke(main, ["demo", "--city", "33209", "--data-dir", str(folder),
                                       "--workspace", str(tmp_path / "w.gpkg")])
    assert result.exit_code == 0, result.output
    lines = {line.split("（")[0].strip(): line for line in result.output.splitlines()
             if line.strip().startswith(("33000_food_business_all.csv", "33209_1.csv", "33209_2.csv"))}
    assert set(lines) == {"33000_food_business_all.csv", "33209_1.csv", "33209_2.csv"}, result.output
    food = lines["33000_food_business_all.csv"]
    assert "食品営業許可" in food and "廃業 3件" in food and f"ほかの市区町村 {niimi:,}件" in food, food
    counts = [int(n.replace(",", "")) for n in re.findall(r" ([\d,]+)件", food.split("除きました")[1])]
    assert f"{sum(counts):,}件を除きました" in food
    assert "ほかの市区町村 1件" in lines["33209_2.csv"] and "位置がない・日本の外 1件" in lines["33209_2.csv"]
    assert "2件を除きました" in lines["33209_2.csv"]
    assert "除いた行はありません" in lines["33209_1.csv"]
    # counts and reasons only: no premises, place or operator named
    said = "\n".join(lines.values())
    assert "旧店舗" not in said and "隣の市の広場" not in said and "位置のない広場" not in said
    assert not re.search(r"株式会社|有限会社|\d{2,4}-\d{2,4}-\d{3,4}", said)
