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


def test_parsed_copies_on_disk_are_read_until_the_data_file_changes(tmp_path):
    """api.opendata_cache: a new process reads the parsed copy; a changed data file is parsed again, its old copy deleted."""
    import os
    import shutil

    from api import opendata_cache
    from api.importing import listing_files

    data = require_data_dir()
    source = tmp_path / "data" / "n03.topo.json"
    source.parent.mkdir()
    shutil.copyfile(listing_files(data)[1], source)  # N03: small
    cache = tmp_path / "cache"
    opendata.clear_parsed()
    assert opendata_cache.warm([source, tmp_path / "missing.json"], folder=cache) == {"kept": 0, "copy": 0, "parsed": 1}
    copies = list(cache.glob("*.pickle"))
    assert len(copies) == 1 and copies[0].name.startswith("n03.topo.json-")
    assert opendata_cache.warm([source], folder=cache) == {"kept": 1, "copy": 0, "parsed": 0}
    other = tmp_path / "other-cache"  # kept in memory, no copy there yet: written for the next process
    assert opendata_cache.warm([source], folder=other) == {"kept": 1, "copy": 0, "parsed": 0}
    assert [p.name for p in other.glob("*.pickle")] == [p.name for p in copies]
    opendata.clear_parsed()  # as a new process
    assert opendata_cache.warm([source], folder=cache) == {"kept": 0, "copy": 1, "parsed": 0}
    assert opendata.municipality(source, "33445")["name"].iloc[0] == "浅口郡里庄町"
    # the data file changes (a new edition put in its place): parsed again, not the stale copy
    text = source.read_text(encoding="utf-8")
    source.write_text(text.replace("里庄町", "里荘町"), encoding="utf-8")
    st = source.stat()
    os.utime(source, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    opendata.clear_parsed()
    assert opendata_cache.warm([source], folder=cache) == {"kept": 0, "copy": 0, "parsed": 1}
    assert opendata.municipality(source, "33445")["name"].iloc[0] == "浅口郡里荘町"
    now = list(cache.glob("*.pickle"))
    assert len(now) == 1 and now != copies  # the copy of the old edition is gone
    # a copy that cannot be read is parsed again and rewritten
    now[0].write_bytes(b"not a pickle")
    opendata.clear_parsed()
    assert opendata_cache.warm([source], folder=cache) == {"kept": 0, "copy": 0, "parsed": 1}
    opendata.clear_parsed()
    assert opendata_cache.warm([source], folder=cache)["copy"] == 1
    # an entry of a file changed since it was written is not taken (the reader parses the file again)
    opendata.clear_parsed()
    st = source.stat()
    os.utime(source, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    assert opendata.import_parsed(now[0]) == 0 and not opendata.is_parsed(source)
    opendata.clear_parsed()
