"""One Japanese voice (issue 13): what api/ and layers/ tell a user is Japanese, the English is kept for the log.

(a) an AST walk of api/ and layers/ that fails on a user-facing message with no Japanese in it, and one of
api/ that fails on a Tsunagu error built without its English (``en=``, ``hint_en=`` beside a hint) or a
click usage error with Japanese text not given through ``in_language(..., en=...)``;
(b) real requests through the FastAPI TestClient for 404, 401, 403, 409, 413 and 422: the body is Japanese,
and with ``TSUNAGU_LANG=en`` English (uploads, private data, stations on the real 高梁市 workspace);
(c) ``tsunagu --lang en`` gives the English of an error.
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from _auth import login
from _sample_workspace import write_small_workspace
from api.app import create_app
from api.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
JAPANESE = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uff00-\uffef]")

#: Calls whose text a user reads (besides ``raise``): HTTP errors, the command line's output, and
#: errors built to be raised elsewhere (``return NotFound(...)``; any class named ``...Error``).
USER_CALLS = {"HTTPException", "ClickException", "BadParameter", "UsageError", "echo", "secho", "fail", "_fail",
              "NotFound", "Forbidden", "Conflict", "Unauthorized"}
#: Keyword arguments that carry user-facing text (``en=``/``hint_en=`` are the English on purpose).
USER_KEYWORDS = {"detail", "message", "hint"}
#: Words a Japanese message may use as they are (names of formats, tools, fields, settings).
TECHNICAL = {"UUID", "DataFrame", "GeoPackage", "PostGIS", "PostgreSQL", "CSV", "Excel", "GeoJSON", "HTML", "JSON",
             "URL", "CRS", "EPSG", "None", "True", "False", "boundary", "Content", "Length", "create", "postgresql",
             "user", "host", "dbname", "password", "gpkg", "Tsunagu", "tsunagu", "demo", "workers", "codes", "all",
             "id", "column", "name", "process", "thread", "worker", "lease_s", "max_attempts", "heartbeat_s",
             "job_lease_s", "job_heartbeat_s", "EXTENSION", "postgis", "CREATE"}
#: (file, exception) raised for programmers, never shown to a user as a message:
#: route declarations checked at start-up, the Alembic command's own environment, an analysis
#: returning the wrong type (a bug, reported as 500), JSON of a non-JSON value (a bug), and
#: JobInterrupted, whose argument is a reason code ("lost", "cancelled", "stopping") the worker maps to Japanese.
PROGRAMMER_ERRORS = {
    ("api/security.py", "ValueError"),
    ("api/security.py", "RuntimeError"),
    ("api/store/migrations/env.py", "RuntimeError"),
    ("api/worker.py", "TypeError"),
    ("api/worker.py", "JobInterrupted"),
    ("api/store/_json.py", "TypeError"),
}


def _name(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _texts(node: ast.AST) -> list[str]:
    """The literal text of a message expression (constant parts of f-strings, both sides of + and of x if c else y)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.JoinedStr):
        return ["".join(v.value for v in node.values if isinstance(v, ast.Constant))]
    if isinstance(node, ast.BinOp):
        return ["".join(_texts(node.left) + _texts(node.right))]
    if isinstance(node, ast.IfExp):
        return _texts(node.body) + _texts(node.orelse)
    return []


def _english(text: str) -> bool:
    """True for a message with no Japanese and at least one English word that is not a technical name."""
    if JAPANESE.search(text):
        return False
    words = re.findall(r"[A-Za-z][A-Za-z_]{2,}", text)
    return any(w not in TECHNICAL for w in words)


def _messages(path: Path) -> list[tuple[int, str, str]]:
    """``(line, callee, text)`` of every user-facing message in ``path``; ``msg`` variables resolved to their last assignment."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out, seen = [], set()
    for fn in [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))] + [tree]:
        assigns = sorted(((n.lineno, n.targets[0].id, n.value) for n in ast.walk(fn)
                          if isinstance(n, ast.Assign) and len(n.targets) == 1 and isinstance(n.targets[0], ast.Name)),
                         key=lambda a: a[0])
        for node in ast.walk(fn):
            if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
                call = node.exc
            elif isinstance(node, ast.Call) and (_name(node.func) in USER_CALLS
                                                 or (_name(node.func) or "").endswith("Error")):
                call = node
            else:
                continue
            if id(call) in seen:  # the module's walk meets the calls of its functions again
                continue
            seen.add(id(call))
            values = list(call.args[:1]) + [k.value for k in call.keywords if k.arg in USER_KEYWORDS]
            for value in values:
                texts = _texts(value)
                if isinstance(value, ast.Name):
                    before = [v for line, name, v in assigns if name == value.id and line <= call.lineno]
                    texts = _texts(before[-1]) if before else []
                out.extend((call.lineno, _name(call.func) or "?", t) for t in texts)
    return out


def test_walker_finds_english(tmp_path):
    """The walk sees through ``msg = ...; raise X(msg)``, keyword hints and f-strings (so it can fail)."""
    sample = tmp_path / "sample.py"
    sample.write_text('def f(x):\n    msg = f"bad value {x}"\n    raise ValueError(msg)\n\n'
                      'def g(x):\n    raise NotFound("見つかりません", hint="check the list")\n\n'
                      'def h(x):\n    msg = f"値 {x} が正しくありません"\n    raise InputDataError(msg, en=f"bad value {x}")\n',
                      encoding="utf-8")
    found = [(line, callee) for line, callee, text in _messages(sample) if _english(text)]
    assert found == [(3, "ValueError"), (6, "NotFound")]


def test_no_english_user_messages_in_api_and_layers():
    problems = []
    for folder in ("api", "layers"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            for line, callee, text in _messages(path):
                if (rel, callee) in PROGRAMMER_ERRORS or not _english(text):
                    continue
                problems.append(f"{rel}:{line}: {callee}({text!r})")
    assert not problems, "English messages a user would see (write Japanese, keep the English in en=):\n" + "\n".join(problems)


# --------------------------------------------------------------------------- the English beside the Japanese

#: Errors that write their own English (the limit in bytes is all a caller gives).
ENGLISH_BUILT_IN = {"UploadTooLarge"}
#: click's errors whose text a user reads; they take one finished string, chosen by ``in_language``.
CLICK_ERRORS = {"UsageError", "BadParameter", "ClickException", "BadArgumentUsage", "BadOptionUsage"}


def _class_bases(roots: list[Path]) -> dict[str, set[str]]:
    bases: dict[str, set[str]] = {}
    for root in roots:
        for path in root.rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.ClassDef):
                    bases.setdefault(node.name, set()).update(filter(None, (_name(b) for b in node.bases)))
    return bases


def tsunagu_errors(*extra: Path) -> set[str]:
    """Names of the classes derived from ``TsunaguError`` in api/, gis/ (and ``extra`` folders)."""
    bases = _class_bases([ROOT / "api", ROOT / "gis", *extra])

    def derived(name: str, seen: frozenset = frozenset()) -> bool:
        return name == "TsunaguError" or any(derived(b, seen | {name}) for b in bases.get(name, ()) if b not in seen)

    return {name for name in bases if derived(name)} | {"TsunaguError"}


def errors_without_english(root: Path = ROOT / "api") -> list[str]:
    """``file:line: call`` for each Tsunagu error built under ``root`` with a message but no ``en=`` (or a
    hint but no ``hint_en=``), and each click error whose Japanese text does not go through ``in_language``."""
    errors = tsunagu_errors(root) - ENGLISH_BUILT_IN
    found = []
    for path in sorted(root.rglob("*.py")):
        for call in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(call, ast.Call):
                continue
            name, given = _name(call.func), {k.arg for k in call.keywords}
            if name in errors and (call.args or "message" in given):
                bad = "en" not in given or ("hint" in given and "hint_en" not in given)
            elif name in CLICK_ERRORS and call.args:
                first = call.args[0]
                wrapped = (isinstance(first, ast.Call) and _name(first.func) in ("in_language", "_in_language")
                           and "en" in {k.arg for k in first.keywords})
                bad = not wrapped and any(JAPANESE.search(s) for s in _strings_in(first))
            else:
                continue
            if bad:
                found.append(f"{path.relative_to(root.parent).as_posix()}:{call.lineno}: {ast.unparse(call)[:140]}")
    return found


def _strings_in(node: ast.AST) -> list[str]:
    return [n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)]


def test_every_api_error_keeps_its_english():
    """``--lang en`` / ``TSUNAGU_LANG=en`` and the server log need the English beside each Japanese message."""
    found = errors_without_english()
    assert not found, "Tsunagu errors without en= / hint_en= (or click errors without in_language):\n" + "\n".join(found)


def test_english_check_catches_a_planted_violation(tmp_path):
    """The check fails on a missing ``en=``, a hint without ``hint_en=``, a subclass defined elsewhere and a bare click error."""
    planted = tmp_path / "api"
    planted.mkdir()
    (planted / "m.py").write_text(
        "class StationGone(NotFound):\n    pass\n"
        "def f(x):\n"
        "    raise InputDataError(f'値 {x} が正しくありません')\n"                                   # 4: no en
        "def g(x):\n"
        "    raise NotFound('見つかりません', en='not found', hint='一覧を見てください')\n"          # 6: no hint_en
        "def h(x):\n"
        "    raise StationGone('拠点はありません')\n"                                                # 8: subclass, no en
        "def i(x):\n"
        "    raise click.BadParameter(f'「{x}」は読めません', param_hint='--pin')\n"                # 10: bare click
        "def ok(x):\n"
        "    raise InputDataError('値が正しくありません', en='bad value', hint='直す', hint_en='fix')\n"
        "    raise click.UsageError(in_language('同時に使えません', en='cannot be used together'))\n"
        "    raise UploadTooLarge(1024)\n"
        "    raise click.BadParameter(str(x))\n",
        encoding="utf-8",
    )
    lines = [int(f.split(":")[1]) for f in errors_without_english(planted)]
    assert lines == [4, 6, 8, 10]


# --------------------------------------------------------------------------- real requests

@pytest.fixture(scope="module")
def _template(tmp_path_factory):
    return write_small_workspace(tmp_path_factory.mktemp("template") / "ws.gpkg")


@pytest.fixture()
def client(tmp_path, _template):
    settings = Settings(workspace=str(tmp_path / "ws.gpkg"), upload_dir=tmp_path / "uploads", max_upload_bytes=1024)
    shutil.copyfile(_template, settings.workspace)
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        yield c


def _assert_japanese(response, status: int) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    for word in ("Not Found", "Unauthorized", "Forbidden", "Method Not Allowed", "Conflict", "Unprocessable"):
        assert word not in response.text
    assert JAPANESE.search(body["title"]) and JAPANESE.search(body["message"]), body
    if body.get("hint"):
        assert JAPANESE.search(body["hint"]), body
    detail = body.get("detail")
    if isinstance(detail, str):
        assert JAPANESE.search(detail), body
    return body


def test_unknown_url_is_japanese(client):
    login(client, "planner")
    body = _assert_japanese(client.get("/no/such/page"), 404)
    assert body["error"] == "not_found" and "/no/such/page" in body["detail"]


def test_unknown_tier_level_is_japanese(client):
    login(client, "planner")
    body = _assert_japanese(client.get("/tiers/prefecture"), 404)
    assert "prefecture" in body["message"] and "階層" in body["message"]


def test_bad_login_is_japanese(client):
    body = _assert_japanese(client.post("/auth/login", json={"username": "nobody", "password": "wrong-password-1"}), 401)
    assert body["error"] == "login_failed"


def test_no_login_is_japanese(client):
    body = _assert_japanese(client.get("/tiers"), 401)
    assert body["message"] == "ログインが必要です"


def test_forbidden_role_is_japanese(client):
    login(client, "planner")
    body = _assert_japanese(client.delete("/users/someone"), 403)
    assert body["error"] == "forbidden"


def test_own_account_cannot_be_deleted_in_japanese(client):
    login(client, "admin")
    body = _assert_japanese(client.delete("/users/test-admin"), 403)
    assert "自分のアカウント" in body["message"]


def test_conflict_is_japanese(client):
    login(client, "planner")
    new = {"name": "新しいサロン", "kind": "salon", "lon": 133.6166, "lat": 34.7933, "resource_id": "r1"}
    body = _assert_japanese(client.post("/resources", json=new), 409)
    assert "r1" in body["message"] and "すでに使われています" in body["message"]


def test_too_large_upload_is_japanese(client):
    login(client, "planner")
    response = client.post("/resources/import?kind=salon&filename=big.csv", content=b"x" * 5000,
                           headers={"Content-Type": "text/csv"})
    body = _assert_japanese(response, 413)
    assert "上限" in body["message"] and "too large" not in body["message"]


def test_bad_params_are_japanese(client):
    login(client, "planner")
    body = _assert_japanese(client.post("/jobs", json={"analysis": "salon-gaps", "params": {"thresholds_m": ["far"]}}), 422)
    assert body["error"] in ("invalid_request", "input_data")


def test_handlers_log_the_english(client, caplog):
    login(client, "planner")
    with caplog.at_level("INFO", logger="tsunagu.api"):
        client.get("/tiers/prefecture")
    assert "unknown tier level 'prefecture'" in caplog.text


# --------------------------------------------------------------------------- TSUNAGU_LANG=en on the real 高梁市

@pytest.fixture(scope="module")
def _takahashi(tmp_path_factory, data_dir):
    """高梁市 built from the real open data (sample stations sample-station-01 …)."""
    from api.importing import build_city_workspace
    from api.store.connect import open_store

    path = tmp_path_factory.mktemp("takahashi") / "ws.gpkg"
    with open_store(str(path)) as store:
        build_city_workspace(store, data_dir=data_dir)
    return path


@pytest.fixture()
def english(tmp_path, _takahashi, monkeypatch):
    """A TestClient on a copy of 高梁市, with messages in English (``TSUNAGU_LANG=en``)."""
    settings = Settings(workspace=str(tmp_path / "ws.gpkg"), upload_dir=tmp_path / "uploads", max_upload_bytes=1024)
    shutil.copyfile(_takahashi, settings.workspace)
    monkeypatch.setenv("TSUNAGU_LANG", "en")
    with TestClient(create_app(settings), raise_server_exceptions=False) as c:
        yield c


def _assert_english(response, status: int) -> dict:
    """The message and hint are English sentences (no kana: Japanese place names in kanji may be quoted)."""
    assert response.status_code == status, response.text
    body = response.json()
    for key in ("message", "hint"):
        if body.get(key):
            assert not re.search(r"[\u3040-\u30ff]", body[key]), (key, body)
            assert re.search(r"[A-Za-z]{3,}", body[key]), (key, body)
    return body


def test_english_upload_too_large_and_empty(english):
    login(english, "planner")
    body = _assert_english(english.post("/resources/import?kind=salon&filename=big.csv", content=b"x" * 5000,
                                        headers={"Content-Type": "text/csv"}), 413)
    assert body["message"].startswith("upload too large") and "1,024 bytes" in body["message"]
    assert body["hint"] == "send a file of at most 0.0 MB"
    body = _assert_english(english.post("/resources/import?kind=salon&filename=empty.csv", content=b"",
                                        headers={"Content-Type": "text/csv"}), 422)
    assert "the file is empty (0 bytes)" in body["message"] and "export it again" in body["message"]
    body = _assert_english(english.post("/resources/import?kind=salon&filename=notes.docx", content=b"PK\x03\x04",
                                        headers={"Content-Type": "application/octet-stream"}), 422)
    assert "files ending in .docx cannot be imported" in body["message"]


def test_english_private_data_refused_to_a_wrong_role(english):
    login(english, "planner")
    body = _assert_english(english.get("/clients"), 403)
    assert "test-planner (planner) may not GET /clients" in body["message"] and "only admin, csw may do this" in body["hint"]
    login(english, "csw", station_id="sample-station-01")
    body = _assert_english(english.get("/clients?station_id=sample-station-02"), 403)
    assert ("the households of station sample-station-02 are for that station's CSWs and admins only "
            "(test-csw-sample-station-01 (csw), station sample-station-01)") in body["message"]
    assert body["hint"] == "you may handle your own station's households only (admins: all)"


def test_english_private_store_refuses_a_planner(english, monkeypatch):
    """The private store's own refusal (behind the route's) is English too, and Japanese without TSUNAGU_LANG."""
    from api.private import ClientStore, PrivateAccessError, Viewer

    with ClientStore(english.app.state.settings.workspace) as clients:
        with pytest.raises(PrivateAccessError) as en:
            clients.households(Viewer("someone", "planner", None))
        assert str(en.value) == ("role 'planner' may not handle client households "
                                 "(sensitive personal data; CSWs and admins only)")
        monkeypatch.delenv("TSUNAGU_LANG")
        with pytest.raises(PrivateAccessError) as ja:
            clients.households(Viewer("someone", "planner", None))
    assert "要配慮個人情報" in str(ja.value) and ja.value.english == str(en.value)


def test_english_station_edit_errors(english):
    login(english, "planner")
    swapped = english.patch("/stations/sample-station-01", json={"lon": 34.79, "lat": 133.61})
    body = _assert_english(swapped, 422)
    assert "longitude and latitude look swapped (lon 34.79, lat 133.61)" in body["message"]
    assert "swap longitude (122-154 in Japan) and latitude (20-46)" in body["message"]
    body = _assert_english(english.post("/stations", json={"name": "新しい拠点", "kind": "宇宙基地",
                                                           "lon": 133.61, "lat": 34.79}), 422)
    assert "unknown station kind '宇宙基地'" in body["message"]
    body = _assert_english(english.patch("/stations/sample-station-01", json={"lon": 133.61}), 422)
    assert "moving a station needs both longitude and latitude" in body["message"]


def test_english_invalid_request(english):
    login(english, "planner")
    body = _assert_english(english.post("/stations", json={"name": "新しい拠点", "kind": "社協地域ステーション",
                                                           "lon": "east", "lat": 34.79}), 422)
    assert body["error"] == "invalid_request" and body["title"] == "Invalid request"
    assert body["message"].startswith("'lon': Input should be a valid number")
    assert body["hint"] == "check the fields and values sent"


def test_import_report_has_its_english(_takahashi, tmp_path):
    """A refused resource file on 高梁市: the report's English (log, --lang en) says the same rows and counts."""
    from api.importing import check_resource_file
    from api.store.geopackage import GeoPackageStore

    path = tmp_path / "サロン.csv"
    path.write_text("名称,種別,緯度,経度\n宇治の集い,サロン,34.79,133.62\n落合の集い,サロン,133.62,34.80\n"
                    "成羽の集い,カラオケ,34.78,133.55\n", encoding="utf-8")
    with GeoPackageStore(_takahashi) as store:
        check = check_resource_file(store, path)
    assert not check.ok
    ja, en = check.message(), check.message(english=True)
    assert ja.startswith("取り込みを中止しました（何も書き込んでいません）。読んだ行: 3、問題: 2 件（2 行）")
    assert en.startswith("import stopped (nothing written): 3 rows read, 2 problems in 2 rows")
    assert [line[:8] for line in en.splitlines()[1:]] == ["- row 2:", "- row 3:"]


# --------------------------------------------------------------------------- --lang en

def _cli(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "TSUNAGU_LANG"}
    return subprocess.run([sys.executable, "-m", "api.cli", *args], capture_output=True, text=True, cwd=ROOT, env=env)


def test_lang_en_gives_english_errors(tmp_path):
    missing = str(tmp_path / "none" / "ws.gpkg")
    japanese = _cli("map", "--workspace", missing)
    english = _cli("--lang", "en", "map", "--workspace", missing)
    assert japanese.returncode == english.returncode == 2
    assert "エラー: ワークスペースのファイル" in japanese.stderr
    assert "Error: no workspace file" in english.stderr and not JAPANESE.search(english.stderr), english.stderr
    usage = _cli("--lang", "en", "nosuch")
    assert "No such command" in usage.stderr
    # click's usage errors raised by tsunagu itself follow --lang too
    bad = ["scenario", "create", "x", "--add", "salon,新サロン,133.61", "--workspace", missing]
    japanese, english = _cli(*bad), _cli("--lang", "en", *bad)
    assert japanese.returncode == english.returncode == 2
    assert "は 種類,名前,経度,緯度 の形ではありません" in japanese.stderr
    assert "is not of the form kind,name,longitude,latitude" in english.stderr, english.stderr
    assert not re.search(r"[\u3040-\u309f]", english.stderr), english.stderr


def test_lang_en_is_in_the_help_and_help_stays_light():
    result = _cli("--help")
    assert result.returncode == 0 and "--lang" in result.stdout
    probe = ("import sys; sys.argv=['tsunagu','--lang','en','--help']\nimport api.cli\n"
             "try:\n    api.cli.main()\nexcept SystemExit:\n    pass\n"
             "print('HEAVY', sorted(m for m in ('geopandas', 'pandas', 'sqlalchemy', 'fastapi') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT).stdout
    assert "HEAVY []" in out, out


# --------------------------------------------------------------------------- parameters and the list of analyses

def _models(model, seen=None):
    """``model`` and every pydantic model its fields hold (candidate points, new stops)."""
    import typing

    from pydantic import BaseModel

    seen = seen if seen is not None else []
    if model in seen:
        return seen
    seen.append(model)
    for info in model.model_fields.values():
        stack = [info.annotation]
        while stack:
            t = stack.pop()
            if isinstance(t, type) and issubclass(t, BaseModel):
                _models(t, seen)
            stack.extend(typing.get_args(t))
    return seen


def _registered():
    from api.analysis_registry import load_analyses

    return {n: s for n, s in load_analyses().items() if s.run.__module__.startswith("api.analyses.")}


def test_every_parameter_has_a_japanese_title_and_description():
    specs = _registered()
    assert {"salon-gaps", "salon-sites", "activity-coverage", "shopping-refugees", "catchments", "mobile-sales",
            "outreach", "import-resources"} <= set(specs)
    missing = []
    for name, spec in specs.items():
        for model in _models(spec.params):
            for key, prop in model.model_json_schema().get("properties", {}).items():
                title, description = prop.get("title") or "", prop.get("description") or ""
                if not (JAPANESE.search(title) and JAPANESE.search(description)):
                    missing.append(f"{name}: {model.__name__}.{key} (title {title!r}, description {description!r})")
    assert not missing, "\n".join(missing)


def test_shared_parameters_are_described_once():
    """elderly_share, cell_size_m and mode read the same in every analysis that has them (one definition in base)."""
    from api.analyses.base import CellSize, ElderlyShare, WalkOrDrive

    shared = {"elderly_share": ElderlyShare, "cell_size_m": CellSize, "mode": WalkOrDrive}
    seen = {}
    for name, spec in _registered().items():
        props = spec.params.model_json_schema()["properties"]
        for key, kind in shared.items():
            if key in props and name != "outreach":  # outreach's mode is car/walk, its own parameter
                seen.setdefault(key, set()).add(props[key]["description"])
                assert props[key]["description"] == kind.__metadata__[0].description, (name, key)
    assert set(seen) == set(shared) and all(len(d) == 1 for d in seen.values()), seen
    from pydantic import ValidationError

    model = _registered()["salon-sites"].params
    for bad in ({"elderly_share": 1.5}, {"cell_size_m": 10}, {"mode": "fly"}):
        with pytest.raises(ValidationError):
            model.model_validate(bad)
    assert "候補地" in model.model_json_schema()["properties"]["candidate_kinds"]["description"]
    # the words a planner types on the command line are taken for the codes
    assert model.model_validate({"mode": "徒歩"}).mode == "walk"
    assert model.model_validate({"mode": "車"}).mode == "drive"


def test_analyses_come_in_a_planners_order_with_japanese_names(client):
    from api.analysis_registry import PLANNER_NAMES, planner_order

    login(client, "planner")
    listed = client.get("/analyses").json()
    names = [a["name"] for a in listed]
    assert names == planner_order(names) and names[:3] == ["salon-gaps", "salon-sites", "shopping-refugees"]
    for a in listed:
        if a["name"] in PLANNER_NAMES:
            assert a["label"] == PLANNER_NAMES[a["name"]] and JAPANESE.search(a["title"])
    page = client.get("/web/analyses").text
    on_page = [n for n in re.findall(r'data-analysis="([^"]+)"', page)]
    on_page = list(dict.fromkeys(on_page))
    assert on_page == [n for n in names if n in on_page] and len(on_page) >= 5
    assert PLANNER_NAMES["salon-gaps"] in page

    help_text = _cli("analyse", "--help").stdout
    listed_in_help = [n for n in re.findall(r"^  ([a-z-]+)\s", help_text, flags=re.M) if n in PLANNER_NAMES]
    assert listed_in_help == [n for n in PLANNER_NAMES if n in listed_in_help] and len(listed_in_help) == len(PLANNER_NAMES)
    assert "サロンの空白地域" in help_text
    sites_help = _cli("analyse", "salon-sites", "--help").stdout
    for key in ("candidate_kinds", "elderly_share", "cell_size_m", "mode"):
        line = next(l for l in sites_help.splitlines() if l.strip().startswith(f"{key}:"))
        assert JAPANESE.search(line), line
