"""Safe uploads and resource editing: size limit, type by content, zip bombs and escaping paths, import jobs
with a validation report, SQL in names, and adding / moving / deleting a resource on both stores.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import shutil
import stat
import struct
import time
import tracemalloc
import zipfile
import zlib
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from shapely.geometry import Point

from _auth import accounts_of, ensure_user, login
from _sample_workspace import fill_small_workspace, write_small_workspace
from api import uploads
from api.app import create_app
from api.importing import check_resource_file, import_resource_file
from api.settings import Settings
from api.store.geopackage import GeoPackageStore
from gis.errors import InputDataError

MB = 1024 * 1024
SQL_NAME = "'); DROP TABLE resources;--"


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def _template(tmp_path_factory):
    """One filled GeoPackage per module; tests get copies (writing one takes a while)."""
    return write_small_workspace(tmp_path_factory.mktemp("template") / "ws.gpkg")


@pytest.fixture()
def settings(tmp_path):
    return Settings(workspace=str(tmp_path / "ws.gpkg"), upload_dir=tmp_path / "uploads", job_poll_s=0.05)


@pytest.fixture(params=["geopackage", pytest.param("postgis", marks=pytest.mark.postgis)])
def store(request, settings, _template):
    """The small 高梁市 workspace (resources r1 salon, r2 supermarket) in either store."""
    if request.param == "geopackage":
        shutil.copyfile(_template, settings.workspace)
        opened = GeoPackageStore(settings.workspace, create=False)
        yield opened
        opened.close()
    else:
        opened = request.getfixturevalue("pg_store")
        fill_small_workspace(opened)
        yield opened


@pytest.fixture()
def gpkg_store(settings, _template):
    shutil.copyfile(_template, settings.workspace)
    opened = GeoPackageStore(settings.workspace, create=False)
    yield opened
    opened.close()


def _client(settings, store, role="planner"):
    client = TestClient(create_app(settings, store=store), raise_server_exceptions=False)
    client.__enter__()
    login(client, role)
    return client


@pytest.fixture()
def client(settings, store):
    c = _client(settings, store)
    yield c
    c.__exit__(None, None, None)


@pytest.fixture()
def gclient(settings, gpkg_store):
    """A planner's client on the GeoPackage store only (tests of the upload machinery)."""
    c = _client(settings, gpkg_store)
    yield c
    c.__exit__(None, None, None)


def _uploads_left(settings: Settings) -> list[Path]:
    return sorted(settings.upload_dir.rglob("*")) if settings.upload_dir.exists() else []


def _wait(client, job_id: str, timeout: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        record = client.get(f"/jobs/{job_id}").json()
        if record["status"] in ("done", "failed", "cancelled"):
            return record
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not end within {timeout} s: {record}")


def _import(client, name: str, content: bytes, **data) -> dict:
    """Upload a file to POST /resources/import (multipart) and wait for its job; returns the job record."""
    r = client.post("/resources/import", files={"file": (name, content, "application/octet-stream")},
                    data={k: str(v) for k, v in data.items()})
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["analysis"] == "import-resources" and r.headers["location"] == body["status_url"]
    return _wait(client, body["job_id"])


def _snapshot(store) -> dict:
    res = store.resources()
    return {"resources": res.drop(columns="geometry").to_json(), "xy": [g.wkt for g in res.geometry],
            "log": len(store.import_log())}


def _names(client) -> list[str]:
    return [f["properties"]["name"] for f in client.get("/resources").json()["features"]]


# --------------------------------------------------------------------------- zips made in the tests


def _zeros_deflated(size: int) -> tuple[bytes, int]:
    """Raw deflate data of ``size`` zero bytes (whole MiB) and its CRC, without ever holding ``size`` bytes.

    A full flush after each MiB makes every block identical, so the stream is one block repeated.
    """
    assert size % MB == 0
    block = b"\0" * MB
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    one = comp.compress(block) + comp.flush(zlib.Z_FULL_FLUSH)
    tail = comp.flush()
    crc = 0
    for _ in range(size // MB):
        crc = zlib.crc32(block, crc)
    return one * (size // MB) + tail, crc


def _raw_zip(members: list[tuple[str, bytes, int, int, int]]) -> bytes:
    """A zip built by hand: ``(name, deflated data, crc, declared size, unix mode)`` per member.

    Lets a test declare what it likes (a size the data does not have, a symlink mode).
    """
    out = io.BytesIO()
    central = []
    for name, data, crc, size, mode in members:
        raw = name.encode("utf-8")
        offset = out.tell()
        out.write(struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0x800, 8, 0, 0x21, crc, len(data), size, len(raw), 0))
        out.write(raw)
        out.write(data)
        central.append(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, (3 << 8) | 20, 20, 0x800, 8, 0, 0x21, crc,
                                   len(data), size, len(raw), 0, 0, 0, 0, mode << 16, offset) + raw)
    start = out.tell()
    for c in central:
        out.write(c)
    out.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(members), len(members), out.tell() - start, start, 0))
    return out.getvalue()


def _bomb(size: int, name: str = "salons.csv") -> bytes:
    data, crc = _zeros_deflated(size)
    return _raw_zip([(name, data, crc, size, 0o100644)])


def _zip(entries: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, content in entries.items():
            zf.writestr(zipfile.ZipInfo(name), content)
    return buf.getvalue()


def _shapefile_zip(tmp_path: Path, names: list[str], *, extra: dict[str, bytes] | None = None) -> bytes:
    pts = gpd.GeoDataFrame({"名称": names, "種別": ["サロン"] * len(names)},
                           geometry=[Point(133.60 + i * 0.001, 34.80) for i in range(len(names))], crs=4326)
    folder = tmp_path / "shp"
    folder.mkdir()
    pts.to_file(folder / "salons.shp", encoding="utf-8")
    entries = {p.name: p.read_bytes() for p in sorted(folder.iterdir())}
    entries.update(extra or {})
    return _zip(entries)


GOOD_CSV = "名称,住所,緯度,経度\nふれあいサロン川面,高梁市川面町,34.83,133.60\n"


# --------------------------------------------------------------------------- size limit


def _asgi_post(app, path: str, headers: list[tuple[bytes, bytes]], chunks) -> tuple[int, dict, int]:
    """POST through the raw ASGI interface, feeding the body chunk by chunk; returns (status, json, bytes read)."""
    consumed = 0
    sent: list[dict] = []
    iterator = iter(chunks)

    async def receive():
        nonlocal consumed
        try:
            chunk = next(iterator)
        except StopIteration:
            return {"type": "http.request", "body": b"", "more_body": False}
        consumed += len(chunk)
        return {"type": "http.request", "body": chunk, "more_body": True}

    async def send(message):
        sent.append(message)

    path, _, query = path.partition("?")
    token, _ = accounts_of(app).start_session(ensure_user(app, "planner"))
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": query.encode(),
        "root_path": "", "headers": [(b"host", b"testserver"), (b"authorization", f"Bearer {token}".encode()),
                                     *headers],
        "client": ("127.0.0.1", 1), "server": ("testserver", 80),
    }
    asyncio.run(app(scope, receive, send))
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], json.loads(body), consumed


@pytest.mark.parametrize("multipart", [False, True])
def test_201mb_streamed_upload_is_413_nothing_written_no_temp_file(settings, gpkg_store, multipart):
    """The default limit (200 MB) against a 201 MB body sent in 1 MB chunks without Content-Length."""
    assert settings.max_upload_bytes == 200 * MB  # the default, not a test setting
    app = create_app(settings, store=gpkg_store)
    before = _snapshot(gpkg_store)
    chunk = 1 * MB

    def body():
        if multipart:
            yield (b"--BOUNDARY\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.csv\"\r\n"
                   b"Content-Type: text/csv\r\n\r\n")
        yield GOOD_CSV.encode()
        for _ in range(201):
            yield b"x" * chunk  # a fresh object each time, as a network read would give

    ctype = b"multipart/form-data; boundary=BOUNDARY" if multipart else b"text/csv"
    path = "/resources/import" if multipart else "/resources/import?filename=big.csv"
    tracemalloc.start()
    try:
        status, answer, consumed = _asgi_post(app, path, [(b"content-type", ctype)], body())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert status == 413, answer
    assert answer["error"] == "upload_too_large" and answer["hint"] == "200 MB 以下のファイルにしてください"
    assert settings.max_upload_bytes < consumed <= settings.max_upload_bytes + 2 * chunk  # read up to the limit, then stopped
    assert peak < 16 * MB, f"peak {peak:,} bytes while refusing a 201 MB body"
    assert _uploads_left(settings) == []  # the partial file and its folder are gone
    assert _snapshot(gpkg_store) == before and gpkg_store.list_jobs() == []


def test_201mb_declared_upload_is_413_before_reading(settings, gpkg_store):
    app = create_app(settings, store=gpkg_store)

    def must_not_be_read():
        raise AssertionError("the body was read although Content-Length was over the limit")
        yield b""  # pragma: no cover

    status, answer, consumed = _asgi_post(
        app, "/resources/import?filename=big.csv",
        [(b"content-type", b"text/csv"), (b"content-length", str(201 * MB).encode())], must_not_be_read())
    assert status == 413 and consumed == 0
    assert answer["limit_bytes"] == 200 * MB and "210,763,776" in answer["message"]
    assert _uploads_left(settings) == [] and gpkg_store.list_jobs() == []


def test_over_limit_with_test_client_and_a_small_limit(settings, gpkg_store):
    small = settings.model_copy(update={"max_upload_bytes": MB})
    c = _client(small, gpkg_store)
    try:
        r = c.post("/resources/import?filename=big.csv", content=b"x" * (MB + 1))
        assert r.status_code == 413 and r.json()["hint"] == "1.0 MB 以下のファイルにしてください"
    finally:
        c.__exit__(None, None, None)
    assert _uploads_left(settings) == []


# --------------------------------------------------------------------------- type by content


@pytest.mark.parametrize(("name", "content", "named"), [
    ("salons.csv", b"\x89PNG\r\n\x1a\n" + b"\0" * 64, "PNG 画像"),
    ("salons.csv", b"<!DOCTYPE html><html><body><table><tr><td>1</td></tr></table></body></html>", "HTML"),
    ("salons.csv", b"  <html><script>alert(1)</script></html>", "HTML"),
    ("salons.csv", b"MZ" + b"\x90" * 58 + struct.pack("<I", 64) + b"PE\0\0" + b"\0" * 64, "Windows の実行ファイル"),
    ("salons.csv", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "PDF"),
    ("salons.csv", b"\xff\xfe" + "名称,緯度\n".encode("utf-16-le"), "UTF-16"),
    ("salons.csv", _zip({"a.csv": b"x"}), "zip"),
    ("salons.geojson", GOOD_CSV.encode(), "テキスト（CSV）"),
    ("salons.xlsx", _zip({"a.csv": b"x"}), "zip"),
    ("salons.xlsx", _zip({"[Content_Types].xml": b"<Types/>", "word/document.xml": b"<w/>"}), "Word"),
    ("salons.zip", _zip({"[Content_Types].xml": b"<Types/>", "xl/workbook.xml": b"<w/>"}), "Excel ブック"),
    ("salons.gpkg", b"not a database\n", "テキスト（CSV）"),
    ("salons.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100, ".xls"),
    ("salons.csv", b"", "空"),
])
def test_wrong_content_for_the_name_is_422_naming_what_it_is(gclient, settings, gpkg_store, name, content, named):
    before = _snapshot(gpkg_store)
    r = gclient.post("/resources/import", files={"file": (name, content, "text/csv")})
    assert r.status_code == 422, r.text
    assert named in r.json()["message"], r.json()
    assert r.json()["detail"]["source"] == name and r.json()["hint"]
    assert _uploads_left(settings) == []
    assert _snapshot(gpkg_store) == before and gpkg_store.list_jobs() == []


@pytest.mark.parametrize(("content", "kind"), [
    (GOOD_CSV.encode("utf-8"), "text"),
    (b"\xef\xbb\xbf" + GOOD_CSV.encode("utf-8"), "text"),
    (GOOD_CSV.encode("shift_jis"), "text"),
    ("名称,緯度\n髙橋サロン①,34.8\n".encode("cp932"), "text"),
    ("名称\t緯度\nサロン\t34.8\n".encode("utf-8"), "text"),
    (b'{"type": "FeatureCollection", "features": []}', "json"),
    (b'\xef\xbb\xbf\n  {\n "type": "Feature"}', "json"),
    (b"[]", "json"),
    (b"[\xe6\x96\xbd\xe8\xa8\xad],lat\n", "text"),  # a CSV header in brackets is not JSON
    (b'<?xml version="1.0"?><kml xmlns="http://www.opengis.net/kml/2.2"/>', "xml"),
    (b"SQLite format 3\x00" + b"\0" * 100, "sqlite"),
    (b"\x00\x00\x27\x0a" + b"\0" * 96, "shp"),
    (bytes(range(256)) * 4, "binary"),
    (b"a,b\n" + b"\x01\x02\x03\x04" * 10, "binary"),
])
def test_sniff(tmp_path, content, kind):
    path = tmp_path / "f.bin"
    path.write_bytes(content)
    assert uploads.sniff(path) == kind


def test_sniff_text_cut_inside_a_character(tmp_path):
    """The first 64 KiB may end in the middle of a multibyte character; that is still text."""
    for encoding in ("utf-8", "cp932"):
        text = "名称,緯度,経度\n" + "ふれあいサロン,34.8,133.6\n" * 5000
        data = text.encode(encoding)
        cut = next(n for n in range(uploads.SNIFF_BYTES - 1, uploads.SNIFF_BYTES + 3)
                   if _partial(data[:n], encoding))
        path = tmp_path / f"{encoding}.csv"
        path.write_bytes(data[:cut] + data[cut:])
        assert uploads.sniff(path) == "text", encoding


def _partial(data: bytes, encoding: str) -> bool:
    try:
        data.decode(encoding)
    except UnicodeDecodeError:
        return len(data) == uploads.SNIFF_BYTES
    return False


def test_shift_jis_csv_is_accepted_and_stored_correctly(gclient, settings):
    csv = "名称,住所,緯度,経度,種別\n髙橋サロン①,高梁市川面町,34.83,133.60,サロン\n".encode("cp932")
    job = _import(gclient, "サロン一覧.csv", csv)
    assert job["status"] == "done", job["error"]
    assert "髙橋サロン①" in _names(gclient)
    assert _uploads_left(settings) == []


def test_utf8_bom_csv_and_raw_body_upload(gclient, settings):
    body = b"\xef\xbb\xbf" + GOOD_CSV.encode()
    r = gclient.post("/resources/import?filename=points.csv&kind=salon", content=body)
    assert r.status_code == 202, r.text
    job = _wait(gclient, r.json()["job_id"])
    assert job["status"] == "done", job["error"]
    assert job["params"]["kind"] == "salon" and job["params"]["source_name"] == "points.csv"
    assert "ふれあいサロン川面" in _names(gclient)
    assert _uploads_left(settings) == []


def test_excel_workbook_upload(gclient, tmp_path):
    path = tmp_path / "shops.xlsx"
    pd.DataFrame({"名称": ["ショップ高梁"], "緯度": [34.79], "経度": [133.61], "種別": ["スーパー"]}).to_excel(path, index=False)
    job = _import(gclient, "お店.xlsx", path.read_bytes())
    assert job["status"] == "done", job["error"]
    assert "ショップ高梁" in _names(gclient)


@pytest.mark.parametrize(("files", "params"), [
    ({"file": ("virus.exe", b"MZ", "application/octet-stream")}, {}),
    ({"other": ("x.csv", b"a,b\n", "text/csv")}, {}),
    (None, {}),  # raw body without a file name
])
def test_unusable_requests_422(gclient, settings, files, params):
    if files is None:
        r = gclient.post("/resources/import", content=b"a,b\n")
    else:
        r = gclient.post("/resources/import", files=files, params=params)
    assert r.status_code == 422, r.text
    assert _uploads_left(settings) == []


def test_broken_multipart_is_422(gclient, settings):
    r = gclient.post("/resources/import", content=b"--X\r\nContent-Disposition: form-data; name=\"file\"; "
                     b"filename=\"a.csv\"\r\n\r\nabc\r\n--Y--garbage",
                     headers={"content-type": "multipart/form-data; boundary=X"})
    assert r.status_code == 422, r.text
    assert _uploads_left(settings) == []


# --------------------------------------------------------------------------- zip bombs and escaping paths


def test_zip_bomb_of_2gb_is_422_and_nothing_unpacked(gclient, settings, gpkg_store):
    bomb = _bomb(2048 * MB)
    assert len(bomb) < 3 * MB
    before = _snapshot(gpkg_store)
    r = gclient.post("/resources/import", files={"file": ("salons.zip", bomb, "application/zip")})
    assert r.status_code == 422, r.text
    assert "zip 爆弾" in r.json()["message"] and "1,024 MB" in r.json()["message"]
    assert _uploads_left(settings) == []
    assert _snapshot(gpkg_store) == before and gpkg_store.list_jobs() == []


def test_zip_bomb_by_ratio_is_422(gclient, settings):
    bomb = _bomb(200 * MB)  # under the 1 GB total, but about 1000:1
    r = gclient.post("/resources/import", files={"file": ("salons.zip", bomb, "application/zip")})
    assert r.status_code == 422, r.text
    assert "圧縮率" in r.json()["message"] and "zip 爆弾" in r.json()["message"]
    assert _uploads_left(settings) == []


def test_bomb_inside_an_excel_workbook_is_422(gclient):
    data, crc = _zeros_deflated(2048 * MB)
    fake = _raw_zip([("[Content_Types].xml", zlib.compress(b"<Types/>")[2:-4], zlib.crc32(b"<Types/>"), 8, 0o100644),
                     ("xl/worksheets/sheet1.xml", data, crc, 2048 * MB, 0o100644)])
    r = gclient.post("/resources/import", files={"file": ("salons.xlsx", fake, "application/octet-stream")})
    assert r.status_code == 422 and "zip 爆弾" in r.json()["message"], r.text


def test_zip_with_too_many_entries_is_422(gclient):
    many = _zip({f"f{i}.txt": b"x" for i in range(1001)})
    r = gclient.post("/resources/import", files={"file": ("salons.zip", many, "application/zip")})
    assert r.status_code == 422 and "多すぎ" in r.json()["message"], r.text


def test_overlapping_entries_bomb_is_422(tmp_path):
    """Many central-directory entries sharing one compressed block (the 'overlapping files' bomb)."""
    data, crc = _zeros_deflated(10 * MB)
    one = _raw_zip([("a.csv", data, crc, 10 * MB, 0o100644)])
    head = one[: one.index(b"PK\x01\x02")]
    entries = []
    for i in range(50):
        name = f"f{i:02d}.csv".encode()
        entries.append(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, (3 << 8) | 20, 20, 0x800, 8, 0, 0x21, crc,
                                   len(data), 10 * MB, len(name), 0, 0, 0, 0, 0o100644 << 16, 0) + name)
    cd = b"".join(entries)
    path = tmp_path / "overlap.zip"
    path.write_bytes(head + cd + struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 50, 50, len(cd), len(head), 0))
    limits = uploads.UploadLimits(max_ratio=10_000)  # only the overlap rule can catch it
    with pytest.raises(InputDataError, match="重なり合う"):
        uploads.check_zip(path, source="overlap.zip", limits=limits)


@pytest.mark.parametrize("name", ["../evil.csv", "../../evil.csv", "ok/../../evil.csv", "..\\evil.csv",
                                  "/tmp/evil.csv", "C:\\evil.csv", "c:/evil.csv", "a/\x00evil.csv"])
def test_zip_entry_escaping_the_folder_is_422_and_nothing_written_outside(gclient, settings, tmp_path, name):
    content = _raw_zip([(name, zlib.compress(b"x")[2:-4], zlib.crc32(b"x"), 1, 0o100644),
                        ("salons.geojson", zlib.compress(b"{}")[2:-4], zlib.crc32(b"{}"), 2, 0o100644)])
    r = gclient.post("/resources/import", files={"file": ("salons.zip", content, "application/zip")})
    assert r.status_code == 422, r.text
    assert "外を指す" in r.json()["message"], r.json()
    assert _uploads_left(settings) == []
    assert not any(p.name.endswith("evil.csv") for p in tmp_path.rglob("*"))
    assert not Path("/tmp/evil.csv").exists()


def test_zip_symlink_entry_is_422(gclient, settings):
    target = b"/etc/passwd"
    content = _raw_zip([("salons.csv", zlib.compress(target)[2:-4], zlib.crc32(target), len(target), 0o120777)])
    r = gclient.post("/resources/import", files={"file": ("salons.zip", content, "application/zip")})
    assert r.status_code == 422 and "シンボリックリンク" in r.json()["message"], r.text
    assert _uploads_left(settings) == []


def test_member_understating_its_size_is_refused_and_no_more_is_written(tmp_path):
    """A header declaring 1 KiB for data that inflates to 10 MiB: the CRC fails, at most 1 KiB was written."""
    data, crc = _zeros_deflated(10 * MB)
    path = tmp_path / "liar.zip"
    path.write_bytes(_raw_zip([("salons.csv", data, crc, 1024, 0o100644)]))
    dest = uploads.private_dir(tmp_path / "x", prefix="unzipped-")
    limits = uploads.UploadLimits(max_ratio=1e9)
    uploads.check_zip(path, source="liar.zip", limits=limits)  # the central directory looks harmless
    with pytest.raises(InputDataError, match="展開できません"):
        uploads.extract_zip(path, dest, source="liar.zip", limits=limits)
    assert sum(p.stat().st_size for p in dest.rglob("*") if p.is_file()) <= 1024


def test_extraction_counts_bytes_whatever_the_zip_reader_does(tmp_path, monkeypatch):
    """The byte count, not the reader, stops a member that gives more than it declared, and the total."""
    path = tmp_path / "two.zip"
    path.write_bytes(_zip({"a.csv": b"a" * 1000, "b.csv": b"b" * 1000}))
    real_open = zipfile.ZipFile.open
    monkeypatch.setattr(zipfile.ZipFile, "open", lambda self, info, *a, **k: io.BytesIO(b"x" * (3 * MB)))
    dest = uploads.private_dir(tmp_path / "x", prefix="unzipped-")
    with pytest.raises(InputDataError, match="目録の大きさ"):
        uploads.extract_zip(path, dest, source="two.zip")
    assert all(p.stat().st_size <= 1024 * 1024 for p in dest.rglob("*") if p.is_file())
    monkeypatch.setattr(zipfile.ZipFile, "open", real_open)
    shutil.rmtree(dest)
    infos = zipfile.ZipFile(path).infolist()
    for info in infos:
        info.file_size = 10 * MB  # as if the directory declared more than the data holds
    monkeypatch.setattr(uploads, "check_zip", lambda *a, **k: infos)
    monkeypatch.setattr(zipfile.ZipFile, "open", lambda self, info, *a, **k: io.BytesIO(b"x" * (3 * MB)))
    dest = uploads.private_dir(tmp_path / "y", prefix="unzipped-")
    with pytest.raises(InputDataError, match="超えました"):
        uploads.extract_zip(path, dest, source="two.zip", limits=uploads.UploadLimits(max_unpacked_bytes=4 * MB))
    assert sum(p.stat().st_size for p in dest.rglob("*") if p.is_file()) <= 4 * MB


def test_declared_total_over_the_limit(tmp_path):
    path = tmp_path / "two.zip"
    path.write_bytes(_zip({"a.csv": b"a" * 600_000, "b.csv": b"b" * 600_000}))
    with pytest.raises(InputDataError, match="超えます"):
        uploads.check_zip(path, source="two.zip", limits=uploads.UploadLimits(max_unpacked_bytes=1_000_000))


def test_private_folders_and_files(tmp_path):
    path, fd = uploads.create_upload_file(tmp_path / "up", suffix=".csv")
    os.close(fd)
    assert stat.S_IMODE((tmp_path / "up").stat().st_mode) == 0o700
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700 and path.parent.name.startswith("tsunagu-upload-")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    zpath = tmp_path / "z.zip"
    zpath.write_bytes(_zip({"dir/sub/a.csv": b"a,b\n"}))
    dest = uploads.private_dir(path.parent, prefix="unzipped-")
    files = uploads.extract_zip(zpath, dest, source="z.zip")
    assert [f.relative_to(dest).as_posix() for f in files] == ["dir/sub/a.csv"]
    assert stat.S_IMODE(dest.stat().st_mode) == 0o700
    assert stat.S_IMODE((dest / "dir").stat().st_mode) == 0o700 and stat.S_IMODE((dest / "dir/sub").stat().st_mode) == 0o700
    assert stat.S_IMODE(files[0].stat().st_mode) == 0o600
    uploads.remove_upload(path)
    assert not path.parent.exists() and (tmp_path / "up").exists()


def test_stale_uploads_are_swept(tmp_path):
    old, fd = uploads.create_upload_file(tmp_path, suffix=".csv")
    os.close(fd)
    new, fd = uploads.create_upload_file(tmp_path, suffix=".csv")
    os.close(fd)
    other = tmp_path / "keep-me"
    other.mkdir()
    os.utime(old.parent, (time.time() - 2 * 86400,) * 2)
    os.utime(other, (time.time() - 2 * 86400,) * 2)
    assert uploads.sweep_stale(tmp_path) == 1
    assert not old.parent.exists() and new.exists() and other.exists()


def test_cp932_member_names_of_windows_zips():
    info = zipfile.ZipInfo("サロン.shp".encode("cp932").decode("cp437"))
    info.flag_bits = 0
    assert uploads._member_name(info) == "サロン.shp"


def test_zipped_shapefile_is_extracted_and_imported(gclient, settings, tmp_path):
    job = _import(gclient, "サロン.zip", _shapefile_zip(tmp_path, ["川面サロン", "成羽サロン"],
                                                     extra={"__MACOSX/._salons.shp": b"\0\5\26\7"}))
    assert job["status"] == "done", job["error"]
    assert {"川面サロン", "成羽サロン"} <= set(_names(gclient))
    assert job["summary"]["imported"] == 2
    assert _uploads_left(settings) == []  # upload and extracted files removed


def test_cli_path_refuses_an_escaping_zip_too(gpkg_store, tmp_path):
    path = tmp_path / "evil.zip"
    path.write_bytes(_zip({"../evil.csv": GOOD_CSV.encode(), "salons.csv": GOOD_CSV.encode()}))
    before = _snapshot(gpkg_store)
    with pytest.raises(InputDataError, match="外を指す"):
        import_resource_file(gpkg_store, path, kind="salon")
    assert _snapshot(gpkg_store) == before
    assert not (tmp_path.parent / "evil.csv").exists()


# --------------------------------------------------------------------------- the import job and its report


BAD_ROWS_CSV = (
    "ID,名称,住所,緯度,経度,種別\n"
    "n1,良いサロン,高梁市,34.80,133.60,サロン\n"
    "n2,緯度なし,高梁市,北緯,133.60,サロン\n"
    "n3,逆,高梁市,133.60,34.80,サロン\n"
    "n4,海外,ホノルル,21.3,-157.8,サロン\n"
    "n5,謎,高梁市,34.80,133.60,カラオケ\n"
    ",ID なし,高梁市,34.80,133.60,サロン\n"
    "n1,重複,高梁市,34.81,133.61,サロン\n"
    "r1,既存のID,高梁市,34.81,133.61,サロン\n"
)


def test_import_job_reports_every_bad_row_and_writes_nothing(client, settings, store):
    before = _snapshot(store)
    job = _import(client, "サロン一覧.csv", BAD_ROWS_CSV.encode("cp932"))
    assert job["status"] == "failed" and job["tables"] == []
    error = job["error"]
    assert "何も書き込んでいません" in error and "読んだ行: 8" in error
    for expected in ("2行目: 緯度「北緯」", "3行目: 緯度と経度が入れ替わって", "4行目: 位置（緯度=21.3, 経度=-157.8）が日本の範囲外",
                     "5行目: 種別「カラオケ」が分かりません", "6行目: ID が空欄", "1行目: ID「n1」が 7 行目と重複",
                     "7行目: ID「n1」が 1 行目と重複"):
        assert expected in error, (expected, error)
    assert _snapshot(store) == before  # all or nothing
    assert _uploads_left(settings) == []


def test_import_job_reports_ids_already_in_the_workspace(client, store):
    csv = "ID,名称,緯度,経度\nr1,同じID,34.80,133.60\nnew1,新しい,34.80,133.60\n"
    before = _snapshot(store)
    job = _import(client, "again.csv", csv.encode(), kind="salon")
    assert job["status"] == "failed"
    assert "1行目: ID「r1」はすでに登録されています" in job["error"] and "2行目" not in job["error"]
    assert _snapshot(store) == before
    job = _import(client, "again.csv", csv.encode(), kind="supermarket", replace="true")
    assert job["status"] == "failed" and "種別の違う既存の資源（ふれあい・いきいきサロン）" in job["error"]


def test_import_job_report_of_a_good_file(client, settings, store):
    csv = "名称,住所,緯度,経度,種別\nサロンA,高梁市,34.80,133.60,サロン\nお店B,高梁市,34.79,133.61,コンビニ\n"
    job = _import(client, "資源.csv", csv.encode())
    assert job["status"] == "done", job["error"]
    assert job["summary"] == {"source": "資源.csv", "rows_read": 2, "imported": 2,
                              "kinds": {"salon": 1, "convenience_store": 1}, "replace": False}
    assert job["tables"] == ["取り込み結果"] and "2 行を読み、2 件を取り込みました" in job["notes"][0]
    # the job's params name the upload by its file name only, not the server's folder
    assert "/" not in job["params"]["upload"] and str(settings.upload_dir) not in str(client.get("/jobs").json())
    table = client.get(job["links"]["取り込み結果"])
    assert table.status_code == 200
    text = table.content.decode("utf-8-sig")
    assert text.splitlines()[0] == "行（見出しを除く）,ID,種別,名称,結果"
    assert "1,資源-1,ふれあい・いきいきサロン,サロンA,取り込み" in text
    assert {"サロンA", "お店B"} <= set(_names(client))
    assert store.import_log()[-1]["source"] == "資源.csv"
    assert _uploads_left(settings) == []


def test_address_list_import_lists_unmatched_then_skip_unmatched(client, store):
    """An address-only salon list: placed at the census 町丁・字 (成羽町下原 is a real 高梁市 name in the
    sample workspace); with an unmatched row nothing is written until skip_unmatched is given."""
    csv = "名称,住所\n下原サロン,岡山県高梁市成羽町大字下原３０１番地\n架空サロン,高梁市夢見町1-1\n"
    before = _snapshot(store)
    job = _import(client, "住所だけ.csv", csv.encode(), kind="salon")
    assert job["status"] == "failed" and "2行目" in job["error"] and "夢見町" in job["error"]
    assert "skip_unmatched" in job["error"]
    assert _snapshot(store) == before
    r = client.post("/resources/import?skip_unmatched=true",
                    files={"file": ("住所だけ.csv", csv.encode(), "application/octet-stream")}, data={"kind": "salon"})
    assert r.status_code == 202, r.text
    job = _wait(client, r.json()["job_id"])
    assert job["status"] == "done", job["error"]
    assert job["summary"]["imported"] == 1 and job["summary"]["left_out"] == [2]
    assert "照合できなかった 1 行" in job["notes"][0] and "位置は町丁・字の代表点（概略）" in job["notes"][0]
    text = client.get(job["links"]["取り込み結果"]).content.decode("utf-8-sig")
    assert "位置の精度" in text.splitlines()[0] and "取り込まず" in text
    features = client.get("/resources", params={"kind": "salon"}).json()["features"]
    placed = [f for f in features if f["properties"]["name"] == "下原サロン"]
    assert placed and placed[0]["properties"]["attributes"]["location_precision"] == "位置は町丁・字の代表点（概略）"
    lon, lat = placed[0]["geometry"]["coordinates"]
    assert 133.62 < lon < 133.64 and 34.78 < lat < 34.80  # inside the sample's 成羽町下原 box


def test_all_or_nothing_a_single_bad_row(client, store):
    rows = "".join(f"サロン{i},高梁市,34.8{i},133.6{i}\n" for i in range(5))
    csv = "名称,住所,緯度,経度\n" + rows + "壊れた行,高梁市,34.8,ひゃく\n"
    before = _snapshot(store)
    job = _import(client, "salons.csv", csv.encode(), kind="salon")
    assert job["status"] == "failed" and "6行目: 経度「ひゃく」" in job["error"]
    assert _snapshot(store) == before
    assert not any(n.startswith("サロン") and n[3:].isdigit() for n in _names(client))


def test_check_resource_file_lists_problems_without_writing(gpkg_store, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text(BAD_ROWS_CSV, encoding="utf-8")
    before = _snapshot(gpkg_store)
    check = check_resource_file(gpkg_store, path)
    assert not check.ok and check.rows_read == 8
    assert [p.row for p in check.problems] == [1, 2, 3, 4, 5, 6, 7]
    report = check.report()
    assert list(report.columns) == ["行（見出しを除く）", "ID", "種別", "名称", "結果"]
    assert report.loc[1, "名称"] == "緯度なし" and "数値ではありません" in report.loc[1, "結果"]
    assert _snapshot(gpkg_store) == before
    with pytest.raises(InputDataError):  # the CLI path raises the first problem, as before
        import_resource_file(gpkg_store, path)


def test_geojson_with_a_polygon_is_reported_by_feature(gclient):
    fc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"名称": "点", "種別": "サロン"},
         "geometry": {"type": "Point", "coordinates": [133.6, 34.8]}},
        {"type": "Feature", "properties": {"名称": "面", "種別": "サロン"},
         "geometry": {"type": "Polygon", "coordinates": [[[133.6, 34.8], [133.61, 34.8], [133.61, 34.81], [133.6, 34.8]]]}},
    ]}
    job = _import(gclient, "salons.geojson", json.dumps(fc, ensure_ascii=False).encode())
    assert job["status"] == "failed" and "2行目: 点ではなく Polygon です" in job["error"]


def test_job_params_must_point_into_the_upload_folder(gclient, settings, tmp_path):
    """POST /jobs cannot make the import job read (and delete) any other file."""
    secret = tmp_path / "secret.csv"
    secret.write_text(GOOD_CSV, encoding="utf-8")
    settings.upload_dir.mkdir(exist_ok=True)
    loose = settings.upload_dir / "loose.csv"
    loose.write_text(GOOD_CSV, encoding="utf-8")
    folder = uploads.private_dir(settings.upload_dir)
    link = folder / "upload.csv"
    link.symlink_to(secret)
    for path in ("/etc/passwd", str(secret), str(loose), str(link), f"{folder}/../../secret.csv", "upload.csv"):
        r = gclient.post("/jobs", json={"analysis": "import-resources", "params": {"upload": path, "kind": "salon"}})
        assert r.status_code == 422, (path, r.text)
    assert secret.exists() and loose.exists() and Path("/etc/passwd").exists()


def test_unknown_kind_is_422_before_a_job_is_made(gclient, settings, gpkg_store):
    r = gclient.post("/resources/import?kind=karaoke", files={"file": ("a.csv", GOOD_CSV.encode(), "text/csv")})
    assert r.status_code == 422 and "karaoke" in r.text
    assert gpkg_store.list_jobs() == [] and _uploads_left(settings) == []


def test_import_without_a_workspace_is_409_before_reading(tmp_path):
    settings = Settings(workspace=str(tmp_path / "empty.gpkg"), upload_dir=tmp_path / "up")
    store = GeoPackageStore(settings.workspace)
    c = _client(settings, store)
    try:
        r = c.post("/resources/import", files={"file": ("a.csv", GOOD_CSV.encode(), "text/csv")})
        assert r.status_code == 409
    finally:
        c.__exit__(None, None, None)
        store.close()
    assert _uploads_left(settings) == []


# --------------------------------------------------------------------------- SQL in a name field


def test_sql_in_a_name_is_stored_literally(client, store):
    csv = f'名称,緯度,経度\n"{SQL_NAME}",34.80,133.60\n'
    job = _import(client, "sql.csv", csv.encode(), kind="salon")
    assert job["status"] == "done", job["error"]
    r = client.post("/resources", json={"name": SQL_NAME, "kind": "salon", "lon": 133.61, "lat": 34.8,
                                        "address": "'; DELETE FROM workspaces; --"})
    assert r.status_code == 201, r.text
    rid = r.json()["id"]
    r = client.patch(f"/resources/{rid}", json={"name": SQL_NAME + " 2"})
    assert r.status_code == 200 and r.json()["properties"]["name"] == SQL_NAME + " 2"
    names = _names(client)
    assert SQL_NAME in names and SQL_NAME + " 2" in names
    assert {"いきいきサロン松山", "天満屋ハピーズ高梁店"} <= set(names)  # the table is intact
    resources = store.resources()
    assert len(resources) == 4 and store.workspace()["city_code"] == "33209"
    assert resources.set_index("resource_id").loc[rid, "address"] == "'; DELETE FROM workspaces; --"
    for path in ("/resources/%27%29%3B%20DROP%20TABLE%20resources%3B--", "/resources/x%27%20OR%20%271%27%3D%271"):
        assert client.get(path).status_code == 404
        assert client.delete(path).status_code == 404
    assert len(store.resources()) == 4


# --------------------------------------------------------------------------- editing resources


def test_add_move_rename_delete_a_resource(client, store):
    r = client.post("/resources", json={"name": "  ふれあいサロン新町  ", "kind": "サロン", "lon": 133.615, "lat": 34.795,
                                        "address": "高梁市新町", "attributes": {"meeting_days": "毎週水曜"}})
    assert r.status_code == 201, r.text
    feature = r.json()
    rid = feature["id"]
    assert rid.startswith("salon-") and r.headers["location"] == f"/resources/{rid}"
    assert feature["properties"]["name"] == "ふれあいサロン新町" and feature["properties"]["kind"] == "salon"
    assert feature["properties"]["attributes"] == {"meeting_days": "毎週水曜"}
    assert feature["geometry"]["coordinates"] == [133.615, 34.795]
    assert client.get(f"/resources/{rid}").json()["properties"]["kind_label"] == "ふれあい・いきいきサロン"
    log = store.import_log()[-1]
    assert log["kind"] == "resource_edit" and log["action"] == "add" and log["by"] == "test-planner"

    r = client.patch(f"/resources/{rid}", json={"lon": 133.62, "lat": 34.80})
    assert r.status_code == 200, r.text
    assert r.json()["geometry"]["coordinates"] == [133.62, 34.8]
    assert r.json()["properties"]["name"] == "ふれあいサロン新町"
    r = client.patch(f"/resources/{rid}", json={"name": "サロン新町（移転）", "kind": "kominkan"})
    assert r.status_code == 200 and r.json()["properties"]["kind"] == "kominkan"
    stored = store.resources().set_index("resource_id").loc[rid]
    assert stored["name"] == "サロン新町（移転）" and (stored.geometry.x, stored.geometry.y) == (133.62, 34.8)
    assert stored["address"] == "高梁市新町" and stored["attributes"] == {"meeting_days": "毎週水曜"}
    others = store.resources().set_index("resource_id").loc[["r1", "r2"]]
    assert list(others["name"]) == ["いきいきサロン松山", "天満屋ハピーズ高梁店"]

    assert client.delete(f"/resources/{rid}").status_code == 204
    assert rid not in set(store.resources()["resource_id"])
    assert client.delete(f"/resources/{rid}").status_code == 404
    assert client.get(f"/resources/{rid}").status_code == 404
    assert client.patch(f"/resources/{rid}", json={"name": "x"}).status_code == 404
    assert [e["action"] for e in store.import_log() if e["kind"] == "resource_edit"] == ["add", "update", "update",
                                                                                        "delete"]


def test_a_sample_salon_can_be_moved(client, store):
    r = client.patch("/resources/r1", json={"lon": 133.612, "lat": 34.791})
    assert r.status_code == 200
    assert r.json()["properties"]["is_sample"] is True  # still marked as sample data


@pytest.mark.parametrize(("body", "needle"), [
    ({"name": "逆", "kind": "salon", "lon": 34.8, "lat": 133.6}, "入れ替わっている"),
    ({"name": "海外", "kind": "salon", "lon": -157.8, "lat": 21.3}, "日本の外"),
    ({"name": "0", "kind": "salon", "lon": 0, "lat": 0}, "日本の外"),
    ({"name": "謎", "kind": "karaoke", "lon": 133.6, "lat": 34.8}, "karaoke"),
    ({"name": "   ", "kind": "salon", "lon": 133.6, "lat": 34.8}, "name"),
    ({"kind": "salon", "lon": 133.6, "lat": 34.8}, "name"),
    ({"name": "x", "kind": "salon", "lon": "abc", "lat": 34.8}, "lon"),
    ({"name": "x", "kind": "salon", "lon": 133.6, "lat": 34.8, "resource_id": "a/b"}, "resource_id"),
    ({"name": "x", "kind": "salon", "lon": 133.6, "lat": 34.8, "secret": 1}, "secret"),
])
def test_adding_a_bad_point_is_422(gclient, gpkg_store, body, needle):
    before = _snapshot(gpkg_store)
    r = gclient.post("/resources", json=body)
    assert r.status_code == 422, r.text
    assert needle in r.text
    assert _snapshot(gpkg_store) == before


def test_adding_an_id_already_used_is_409(gclient, gpkg_store):
    r = gclient.post("/resources", json={"name": "x", "kind": "salon", "lon": 133.6, "lat": 34.8, "resource_id": "r1"})
    assert r.status_code == 409, r.text


@pytest.mark.parametrize(("body", "needle"), [
    ({"lon": 34.8, "lat": 133.6}, "入れ替わっている"),
    ({"lon": 133.6}, "両方"),
    ({}, "変更する項目がありません"),
    ({"kind": "karaoke"}, "karaoke"),
    ({"name": ""}, "name"),
])
def test_bad_changes_are_422_and_change_nothing(gclient, gpkg_store, body, needle):
    before = _snapshot(gpkg_store)
    r = gclient.patch("/resources/r1", json=body)
    assert r.status_code == 422, r.text
    assert needle in r.text
    assert _snapshot(gpkg_store) == before


def test_who_may_edit_resources(settings, gpkg_store):
    for role, allowed in (("viewer", False), ("csw", False), ("coordinator", True), ("admin", True)):
        c = _client(settings, gpkg_store, role=role)
        try:
            assert c.get("/resources").status_code == 200
            r = c.post("/resources", json={"name": f"{role}のサロン", "kind": "salon", "lon": 133.6, "lat": 34.8})
            assert r.status_code == (201 if allowed else 403), (role, r.text)
            target = r.json()["id"] if allowed else "r1"
            assert c.patch(f"/resources/{target}", json={"name": "新"}).status_code == (200 if allowed else 403)
            assert c.delete(f"/resources/{target}").status_code == (204 if allowed else 403)
            r = c.post("/resources/import", files={"file": ("a.csv", GOOD_CSV.encode(), "text/csv")})
            assert r.status_code == (202 if allowed else 403), (role, r.text)
            if allowed:
                _wait(c, r.json()["job_id"])
        finally:
            c.__exit__(None, None, None)
    assert _uploads_left(settings) == []
    c = TestClient(create_app(settings, store=gpkg_store), raise_server_exceptions=False)
    with c:
        assert c.post("/resources", json={"name": "x", "kind": "salon", "lon": 133.6, "lat": 34.8}).status_code == 401
        assert c.delete("/resources/r1").status_code == 401


def test_nul_characters_are_refused_not_a_500(client, store):
    filler = "".join(f"サロン{i},34.80,133.60\n" for i in range(3000))  # the NUL comes after the sniffed part
    csv = "名称,緯度,経度\n" + filler + "壊れ\x00た行,34.80,133.60\n"
    assert len(csv.encode()) > uploads.SNIFF_BYTES
    before = _snapshot(store)
    job = _import(client, "nul.csv", csv.encode(), kind="salon")
    assert job["status"] == "failed" and "3001行目: NUL 文字" in job["error"], job["error"]
    for body in ({"name": "a\u0000b", "kind": "salon", "lon": 133.6, "lat": 34.8},
                 {"name": "a", "kind": "salon", "lon": 133.6, "lat": 34.8, "attributes": {"x": "\u0000"}},
                 {"name": "a", "kind": "salon", "lon": 133.6, "lat": 34.8, "attributes": {"x": float("nan")}},
                 {"name": "a", "kind": "salon", "lon": float("nan"), "lat": 34.8},
                 {"name": "a", "kind": "salon", "lon": 133.6, "lat": float("inf")}):
        r = client.post("/resources", content=json.dumps(body), headers={"content-type": "application/json"})
        assert r.status_code == 422, r.text
    assert client.patch("/resources/r1", json={"name": "a\u0000"}).status_code == 422
    for method in ("get", "delete"):
        assert getattr(client, method)("/resources/a%00b").status_code == 404
    assert client.patch("/resources/a%00b", json={"name": "x"}).status_code == 404
    assert _snapshot(store) == before


def test_import_job_in_another_process_trusts_only_its_own_upload_folder(gpkg_store, settings, tmp_path):
    """A worker process (fresh interpreter) finds import-resources, reads uploads only from TSUNAGU_UPLOAD_DIR."""
    import subprocess
    import sys

    shared = tmp_path / "shared-uploads"
    path, fd = uploads.create_upload_file(shared, suffix=".csv")
    with os.fdopen(fd, "wb") as fh:
        fh.write(GOOD_CSV.encode("cp932"))
    gpkg_store.close()
    script = (
        "import json, sys\n"
        "from api.store.connect import open_store\n"
        "from api.jobs import run_job\n"
        "from gis.errors import InputDataError\n"
        "store = open_store(sys.argv[1], create=False)\n"
        "try:\n"
        "    job_id = run_job(store, 'import-resources', json.loads(sys.argv[2]), data_dir=None, created_by='worker-test')\n"
        "except InputDataError as exc:\n"
        "    print('REFUSED', exc); sys.exit(3)\n"
        "print(json.dumps(store.get_job(job_id), default=str))\n"
    )
    params = json.dumps({"upload": str(path), "kind": "salon", "source_name": "サロン.csv"})
    env = {k: v for k, v in os.environ.items() if not k.startswith("TSUNAGU_")}
    refused = subprocess.run([sys.executable, "-c", script, settings.workspace, params], capture_output=True,
                             text=True, env={**env, "TSUNAGU_UPLOAD_DIR": str(tmp_path / "elsewhere")}, timeout=120)
    assert refused.returncode == 3 and "アップロードフォルダーの外" in refused.stdout, refused.stdout + refused.stderr
    assert path.exists()
    done = subprocess.run([sys.executable, "-c", script, settings.workspace, params], capture_output=True,
                          text=True, env={**env, "TSUNAGU_UPLOAD_DIR": str(shared)}, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    record = json.loads(done.stdout.strip().splitlines()[-1])
    assert record["status"] == "done" and record["summary"]["imported"] == 1, record
    assert not path.exists() and not path.parent.exists()
    with GeoPackageStore(settings.workspace, create=False) as reopened:
        assert "ふれあいサロン川面" in set(reopened.resources()["name"])


def test_upload_folder_behind_a_symlink_is_trusted(tmp_path, monkeypatch):
    """Like macOS's /tmp -> /private/tmp: the upload folder may be reached through a link, its uploads may not be links."""
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real)
    monkeypatch.setattr(uploads, "_TRUSTED", set())
    uploads.trust_upload_dir(tmp_path / "link")
    path, fd = uploads.create_upload_file(tmp_path / "link", suffix=".csv")
    os.close(fd)
    assert uploads.check_upload_path(path) == real / path.parent.name / path.name
    other = uploads.private_dir(real)
    (other / "upload.csv").symlink_to(path)
    with pytest.raises(ValueError, match="正しくありません"):
        uploads.check_upload_path(other / "upload.csv")
    with pytest.raises(ValueError, match="正しくありません"):
        uploads.check_upload_path(f"{path.parent}/../{path.parent.name}/{path.name}")
