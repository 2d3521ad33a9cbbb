"""Every message the analysis core (gis/) shows a user is Japanese, with its English kept beside it.

(a) A static check walks the syntax tree of ``gis/*.py``: each error built (``SomethingError(...)``,
``raise ...``) and each ``warnings.warn(...)`` must carry Japanese text in its message and in its
hint (hiragana: an English sentence quoting a column name such as 緯度 does not pass). Messages held in a variable (``msg = "..."; raise InputDataError(msg)``) are
followed to their last assignment before the call in the same function. ``ALLOWED`` lists the few internal assertions
that stay English on purpose: programming errors no user can cause from the CLI, web or API.

Each Tsunagu error built there must also keep its English wording (``en=``, and ``hint_en=`` beside a hint).

(b) Real inputs (a CSV whose 経度 is ``abc``, Shift_JIS text saved as mojibake, a layer with
longitude and latitude swapped, a layer in metres without a CRS) give Japanese messages, and
``TSUNAGU_LANG=en`` gives the English wording of the same error.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

from gis.errors import LANG_ENV, InputDataError
from gis.io import read_table, read_vector
from gis.resources import resources_from_file

GIS = Path(__file__).resolve().parents[1] / "gis"
#: Hiragana: a Japanese sentence has it; an English one quoting a column name (緯度) does not.
JAPANESE = re.compile(r"[\u3040-\u309f]")
#: Two English words in a row: the text is an English phrase (``例 8:30`` or ``CSW`` alone is not).
ENGLISH = re.compile(r"[A-Za-z]{2,}[ ,;:'-]+[A-Za-z]{2,}")
#: Keywords whose text is the English copy or not a message at all.
NOT_MESSAGE = {"en", "hint_en", "category", "stacklevel", "source", "row", "feature"}

#: (file, function) pairs whose errors stay English: internal invariants, not user input.
ALLOWED = {
    # PyVRP handed back more routes than vehicles: a solver bug, not something a user did.
    ("routing.py", "_routes_to_vehicles"),
    # The target groups counted must be the groups kinds.toml may name: checked at import time.
    ("activity_coverage.py", "<module>"),
    # A report's figure looked up by a key the code itself chose (KeyError for callers' typos).
    ("area_report.py", "figure"),
    # Small-cell suppression: the counts and constraints come from the analysis, not from a user;
    # HiGHS failing on consistent sums is a solver fault.
    ("disclosure.py", "_check"),
    ("disclosure.py", "pinned_cells"),
    # The bundled vocabulary gis/kinds.toml is edited by developers and checked by tests/test_kinds.py;
    # groups and target groups are asked for by code with constants.
    ("kinds.py", "_kind"),
    ("kinds.py", "_load"),
    ("kinds.py", "kinds_in_group"),
    ("kinds.py", "serving"),
}


def _strings(node: ast.AST) -> list[str]:
    return [n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)]


def _message_parts(call: ast.Call) -> list[ast.AST]:
    return list(call.args) + [k.value for k in call.keywords if k.arg not in NOT_MESSAGE]


def _is_error_call(call: ast.Call) -> bool:
    name = call.func.id if isinstance(call.func, ast.Name) else getattr(call.func, "attr", "")
    return name.endswith(("Error", "Exception")) or name == "warn"


def _assignments(func: ast.AST) -> dict[str, list[tuple[int, ast.AST]]]:
    out: dict[str, list[tuple[int, ast.AST]]] = {}
    for n in ast.walk(func):
        if isinstance(n, ast.Assign):
            for t in n.targets:
                if isinstance(t, ast.Name):
                    out.setdefault(t.id, []).append((n.lineno, n.value))
        elif isinstance(n, (ast.AugAssign, ast.AnnAssign)) and isinstance(n.target, ast.Name) and n.value:
            out.setdefault(n.target.id, []).append((n.lineno, n.value))
    return out


def _last_before(assignments: list[tuple[int, ast.AST]], line: int) -> list[ast.AST]:
    """The value assigned last before ``line`` (``msg = ...`` just above its ``raise``)."""
    before = [(ln, v) for ln, v in assignments if ln <= line]
    return [max(before, key=lambda lv: lv[0])[1]] if before else [v for _, v in assignments]


def _error_calls(node: ast.AST, func: ast.AST):
    """Yield (call, innermost enclosing function or module) for each error/warning built under node."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.Call) and _is_error_call(child):
            yield child, func
        inner = child if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)) else func
        yield from _error_calls(child, inner)


def english_only_messages(root: Path = GIS) -> list[str]:
    """Return ``file:line: call`` for each error or warning built in ``root`` without Japanese text."""
    found = []
    for path in sorted(root.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for call, func in _error_calls(tree, tree):
            if (path.name, getattr(func, "name", "<module>")) in ALLOWED or not _message_parts(call):
                continue
            assigned = _assignments(func)
            for part in _message_parts(call):  # the message and the hint, each on its own
                texts = _strings(part)
                for n in ast.walk(part):
                    if isinstance(n, ast.Name) and n.id in assigned:
                        for value in _last_before(assigned[n.id], call.lineno):
                            texts += _strings(value)
                # no text at all: a parameter handed on unchanged (the caller's message, checked there)
                if any(ENGLISH.search(t) for t in texts) and not any(JAPANESE.search(t) for t in texts):
                    found.append(f"{path.name}:{call.lineno}: {ast.unparse(call)[:120]}")
                    break
    return found


#: Exceptions from the standard library: they carry no ``en=`` (the allow-listed internal ones).
BUILTIN = {"ValueError", "KeyError", "RuntimeError", "TypeError", "LookupError", "FileNotFoundError"}


def errors_without_english(root: Path = GIS) -> list[str]:
    """Return ``file:line`` for each Tsunagu error built in ``root`` without ``en=`` (or a hint without ``hint_en=``)."""
    found = []
    for path in sorted(root.glob("*.py")):
        for call, _func in _error_calls(ast.parse(path.read_text(encoding="utf-8")), None):
            name = call.func.id if isinstance(call.func, ast.Name) else getattr(call.func, "attr", "")
            if name == "warn" or name in BUILTIN or not call.args:
                continue
            given = {k.arg for k in call.keywords}
            if "en" not in given or ("hint" in given and "hint_en" not in given):
                found.append(f"{path.name}:{call.lineno}: {ast.unparse(call)[:120]}")
    return found


def test_every_gis_message_has_japanese():
    assert english_only_messages() == []


def test_every_gis_error_keeps_its_english():
    """``TSUNAGU_LANG=en`` and the log need the English wording beside the Japanese."""
    assert errors_without_english() == []


def test_checker_catches_an_english_message(tmp_path):
    (tmp_path / "m.py").write_text(
        "def f(x):\n"
        "    msg = f'bad value {x}'\n"
        "    raise InputDataError(msg, hint='fix it')\n"
        "def g(x):\n"
        "    msg = f'値 {x} が不正です'\n"
        "    raise InputDataError(msg, en=f'bad value {x}')\n"
        "def h():\n"
        "    warnings.warn('slow network', stacklevel=2)\n",
        encoding="utf-8",
    )
    found = english_only_messages(tmp_path)
    assert [f.split(":")[1] for f in found] == ["3", "8"]
    assert [f.split(":")[1] for f in errors_without_english(tmp_path)] == ["3"]


# --------------------------------------------------------------------------- real inputs

def _both(monkeypatch, call) -> tuple[str, str, InputDataError]:
    """Run ``call`` in Japanese and in English; return both messages and the Japanese error."""
    monkeypatch.delenv(LANG_ENV, raising=False)
    with pytest.raises(InputDataError) as ja:
        call()
    monkeypatch.setenv(LANG_ENV, "en")
    with pytest.raises(InputDataError) as en:
        call()
    monkeypatch.delenv(LANG_ENV)
    return str(ja.value), str(en.value), ja.value


def _layer(path: Path, coords: list[tuple[float, float]], crs: str | None = None) -> Path:
    fc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"name": f"p{i}"}, "geometry": {"type": "Point", "coordinates": list(xy)}}
        for i, xy in enumerate(coords)]}
    if crs:
        fc["crs"] = {"type": "name", "properties": {"name": crs}}
    path.write_text(json.dumps(fc), encoding="utf-8")
    return path


def test_longitude_not_a_number(tmp_path, monkeypatch):
    path = tmp_path / "サロン.csv"
    path.write_text("名称,種別,緯度,経度\n宇治の集い,サロン,34.79,133.62\n落合の集い,サロン,34.80,abc\n", encoding="utf-8")
    ja, en, err = _both(monkeypatch, lambda: resources_from_file(path))
    assert ja.startswith("サロン.csv: 2行目: 経度の列「経度」の値「abc」は数値ではありません — 10進数の度で")
    assert en.startswith("サロン.csv: row 2: the longitude column '経度' holds 'abc', not a number — write decimal degrees")
    assert err.japanese == ja and err.english == en


def test_shift_jis_read_as_latin1_is_named(tmp_path, monkeypatch):
    # Shift_JIS bytes opened as Latin-1 and saved again as UTF-8: the classic Excel round trip.
    garbled = "名称,住所\n高梁市役所,岡山県高梁市松原通2043\n".encode("cp932").decode("latin-1")
    path = tmp_path / "mojibake.csv"
    path.write_text(garbled, encoding="utf-8")
    ja, en, _ = _both(monkeypatch, lambda: read_table(path))
    assert ja.startswith("mojibake.csv: 見出しの文字が化けています") and "cp932 で読み直すと日本語になります（「名称" in ja
    assert "「CSV UTF-8（コンマ区切り）」で保存し直す" in ja
    assert en.startswith("mojibake.csv: the text in the header looks like Japanese read with the wrong encoding")


def test_true_shift_jis_file_is_read(tmp_path):
    path = tmp_path / "sjis.csv"
    path.write_bytes("名称,緯度,経度\n高梁市役所,34.7889,133.6166\n".encode("cp932"))
    df = read_table(path)
    assert df.attrs["encoding"] == "cp932" and df.iloc[0]["名称"] == "高梁市役所"


def test_swapped_latitude_longitude(tmp_path, monkeypatch):
    table = tmp_path / "swapped.csv"
    table.write_text("名称,種別,緯度,経度\n高梁市役所,公民館,133.6166,34.7889\n", encoding="utf-8")
    ja, en, _ = _both(monkeypatch, lambda: resources_from_file(table))
    assert "緯度と経度が入れ替わっているようです" in ja and "列を入れ替えてください" in ja
    assert "latitude and longitude look swapped" in en and "swap the columns" in en
    layer = _layer(tmp_path / "swapped.geojson", [(34.79, 133.61), (34.80, 133.62)])
    ja, en, err = _both(monkeypatch, lambda: read_vector(layer))
    assert "経度と緯度が入れ替わっているようです: 2 件中 2 件" in ja and "x を経度、y を緯度にして" in ja
    assert "longitude and latitude look swapped: 2 of 2 features" in en
    assert err.feature == "1 (name='p0')"


def test_wrong_crs(tmp_path, monkeypatch):
    # JGD2011 zone V metres near 高梁市, declared as longitude/latitude
    layer = _layer(tmp_path / "metres.geojson", [(-30000.0, -140000.0)], crs="urn:ogc:def:crs:OGC:1.3:CRS84")
    ja, en, _ = _both(monkeypatch, lambda: read_vector(layer))
    assert "metres.geojson: 地物 1 (name='p0'): レイヤーの座標系は" in ja
    assert "メートル単位の平面直角座標のようです" in ja and "crs='EPSG:6673'" in ja
    assert "far outside ±180/±90: they look like projected metres" in en
    ja, en, _ = _both(monkeypatch, lambda: read_vector(layer, crs="EPSG:99999"))
    assert "座標系「EPSG:99999」は知られていない座標系です" in ja and "EPSG コードで指定してください" in ja
    assert "'EPSG:99999' is not a CRS GDAL knows" in en


def test_english_wording_is_english(tmp_path, monkeypatch):
    """With TSUNAGU_LANG=en the English really is English (no Japanese sentence left in it)."""
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    ja, en, _ = _both(monkeypatch, lambda: read_table(path))
    assert ja == "empty.csv: ファイルが空です（0 バイト） — アップロードか書き出しに失敗したようです。もう一度書き出してください"
    assert en == "empty.csv: the file is empty (0 bytes) — the upload or export may have failed; export it again"
    assert not JAPANESE.search(en)
