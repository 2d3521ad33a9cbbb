"""Open-data files are parsed once per process: listing, naming and building a city share one parse."""

from __future__ import annotations

import os
import shutil

import pytest

import gis.io
from gis import opendata


@pytest.fixture
def parses(monkeypatch):
    """Counts the parses of each file by name (after forgetting earlier ones)."""
    opendata.clear_parsed()
    seen: dict[str, int] = {}
    real = gis.io.read_vector

    def counting(path, **kwargs):
        seen[os.path.basename(path)] = seen.get(os.path.basename(path), 0) + 1
        return real(path, **kwargs)

    monkeypatch.setattr(gis.io, "read_vector", counting)
    yield seen
    opendata.clear_parsed()


def test_listing_naming_and_reading_a_city_parse_each_file_once(parses, data_dir):
    from api.importing import city_name_of, list_municipalities

    listed = list_municipalities(data_dir)
    assert "33209" in set(listed["code"])
    assert city_name_of(data_dir, "33209") == "高梁市"
    small = opendata.read_census_small_areas(data_dir / "okayama" / "h22_small_areas_west_okayama.topo.json",
                                             city_code="33209")
    again = opendata.read_census_small_areas(data_dir / "okayama" / "h22_small_areas_west_okayama.topo.json",
                                             city_code="33209")
    assert int(small["population"].sum()) == 34963 and small.equals(again)
    assert parses == {"h22_small_areas_west_okayama.topo.json": 1, "ksj_n03_municipalities.topo.json": 1}


def test_a_changed_file_is_parsed_again_and_callers_cannot_change_the_cache(parses, data_dir, tmp_path):
    path = tmp_path / "n03.topo.json"
    shutil.copy(data_dir / "okayama" / "ksj_n03_municipalities.topo.json", path)
    first = opendata.read_municipalities(path)
    raw = opendata._read(path)
    raw["N03_004"] = "書き換え"  # a caller changing its copy
    assert set(opendata.read_municipalities(path)["short_name"]) == set(first["short_name"])
    assert parses == {"n03.topo.json": 1}
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # the file was replaced by a new download
    opendata.read_municipalities(path)
    assert parses == {"n03.topo.json": 2}
