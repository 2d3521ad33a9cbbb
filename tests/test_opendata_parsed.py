"""The parsed open-data files handed from the fan-out's main process to its workers."""

from __future__ import annotations

import pytest
from _paths import require_data_dir

from api.importing import city_source_files
from gis import opendata

pytestmark = pytest.mark.realdata


def test_parsed_files_round_trip_and_a_changed_file_is_parsed_again(tmp_path):
    data = require_data_dir()
    files = city_source_files(data, ["33445"])
    assert {f.name.split("_")[1] for f in files} >= {"n03", "a27", "a32"}
    opendata.clear_parsed()
    opendata.preparse([*files, tmp_path / "missing.geojson"])  # a missing file is left to its reader
    assert len(list(opendata._parsed.keys())) == len(files)
    assert opendata.export_parsed(tmp_path / "parsed.pickle") == len(files)
    opendata.clear_parsed()
    assert opendata.import_parsed(tmp_path / "parsed.pickle") == len(files)
    boundary = opendata.municipality(files[0], "33445")
    assert boundary["name"].iloc[0] == "浅口郡里庄町"
    # a key carries the file's mtime and size: the same path with another key is a different entry
    keys = list(opendata._parsed.keys())
    assert all(len(k) == 3 for k in keys)
    opendata.clear_parsed()
