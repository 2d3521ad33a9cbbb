"""A start without the bundled data: `tsunagu data` names every file a city needs; the official ZIPs build the city."""

from __future__ import annotations

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
