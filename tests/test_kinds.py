"""The one kind vocabulary (gis/kinds.toml): new kinds, imports, a colour-blind-safe palette, no copies."""

from __future__ import annotations

import ast
import itertools
import re
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from coloraide import Color

from gis import kinds
from gis.errors import InputDataError
from gis.resources import resource_kind, resources_from_table
from gis.schema import KIND_ATTRIBUTES, RESOURCE_KINDS, STATION_KINDS
from gis.shopping import FOOD_SHOP_KINDS
from gis.siting import DEFAULT_CANDIDATE_KINDS
from layers import style

ROOT = Path(__file__).resolve().parents[1]
#: The one source: the vocabulary and its loader.
SOURCE = {ROOT / "gis" / "kinds.toml", ROOT / "gis" / "kinds.py"}
#: Where code lives (tests assert behaviour and may name kinds freely).
CODE_DIRS = ("gis", "layers", "api", "data", "benchmarks")
#: Third-party files shipped as they are.
VENDORED = {ROOT / "layers" / "static" / "leaflet.js", ROOT / "layers" / "static" / "leaflet.css"}
#: Rules of a data source that name several kinds: which kind a food-permit record makes (its
#: categories, their priority and the "sells a full range / fresh food only" sets), not the vocabulary.
ALLOWED = {("gis/resources.py", "FOOD_PERMIT_KINDS"), ("gis/resources.py", "_KIND_PRIORITY"),
           ("gis/resources.py", "_food_kind")}

NEW_KINDS = {
    "dementia_cafe": "認知症カフェ",
    "ibasho": "居場所",
    "kosodate_salon": "子育てサロン",
    "welfare_shelter": "福祉避難所",
    "kayoi_no_ba": "通いの場",
}

#: CIEDE2000 thresholds: kinds of one group, and kinds on together when a map opens (with the
#: stations), must stay apart for normal and deuteranope vision; any two kinds must not look alike.
TOGETHER_NORMAL = 14.0
TOGETHER_DEUTAN = 10.0
ANY_NORMAL = 10.0


def _all_kinds() -> dict[str, kinds.Kind]:
    return {**kinds.resource_kinds(), **kinds.station_kinds()}


# ------------------------------------------------------------------------------ vocabulary


def test_new_kinds_are_in_the_vocabulary_with_japanese_labels():
    for key, label in NEW_KINDS.items():
        assert RESOURCE_KINDS[key] == label
    assert kinds.resource_kinds()["dementia_cafe"].group == "gathering"
    assert kinds.resource_kinds()["welfare_shelter"].group == "disaster"
    assert kinds.resource_kinds()["kosodate_salon"].serves == "children"


def test_python_names_read_the_vocabulary():
    assert RESOURCE_KINDS == kinds.resource_labels()
    assert STATION_KINDS == kinds.station_labels()
    assert KIND_ATTRIBUTES["salon"] == ["meeting_days", "meeting_hours", "organiser", "capacity"]
    assert style.RESOURCE_COLOURS == {k: v.colour for k, v in kinds.resource_kinds().items()}
    assert style.STATION_COLOURS == {k: v.colour for k, v in kinds.station_kinds().items()}
    assert style.resource_colour("no-such-kind") == style.resource_colour("other")
    assert DEFAULT_CANDIDATE_KINDS == ("kominkan", "meeting_hall")
    assert set(FOOD_SHOP_KINDS) == {"supermarket", "convenience_store", "drugstore", "department_store",
                                    "greengrocer", "fishmonger", "butcher", "grocery"}
    assert "salon" in kinds.shown_kinds() and "bus_stop" not in kinds.shown_kinds()
    assert kinds.kinds_in_group("gathering")[0] == "salon"
    assert set(kinds.serving("children")) == {"kosodate_salon", "kodomo_shokudo"}
    with pytest.raises(ValueError, match="unknown kind group"):
        kinds.kinds_in_group("nope")


@pytest.mark.parametrize("word,key", [
    ("認知症カフェ", "dementia_cafe"), ("オレンジカフェ", "dementia_cafe"), ("居場所", "ibasho"),
    ("子育てサロン", "kosodate_salon"), ("福祉避難所", "welfare_shelter"), ("通いの場", "kayoi_no_ba"),
    ("dementia_cafe", "dementia_cafe"), ("サロン", "salon"), ("避難所", "shelter"), ("こども食堂", "kodomo_shokudo"),
])
def test_kind_words(word, key):
    assert resource_kind(word) == key


def test_a_table_of_new_kinds_imports_by_japanese_label():
    table = pd.DataFrame({
        "名称": ["オレンジカフェ川上", "まちの居場所", "子育てサロンひまわり", "福祉避難所 高梁荘", "通いの場 松原"],
        "種別": ["認知症カフェ", "居場所", "子育てサロン", "福祉避難所", "通いの場"],
        "緯度": [34.80, 34.79, 34.78, 34.77, 34.76],
        "経度": [133.60, 133.61, 133.62, 133.63, 133.64],
    })
    out = resources_from_table(table, source_name="new-kinds.csv")
    assert isinstance(out, gpd.GeoDataFrame)
    assert out["kind"].tolist() == ["dementia_cafe", "ibasho", "kosodate_salon", "welfare_shelter", "kayoi_no_ba"]


def test_the_kind_chosen_for_every_row_may_be_its_japanese_name():
    table = pd.DataFrame({"名称": ["オレンジカフェ松原"], "緯度": [34.80], "経度": [133.60]})
    out = resources_from_table(table, source_name="cafes.csv", kind="オレンジカフェ")
    assert out["kind"].tolist() == ["dementia_cafe"]
    with pytest.raises(InputDataError, match="種別「カラオケ」はありません（使える種別: ふれあい・いきいきサロン（salon）"):
        resources_from_table(table, source_name="cafes.csv", kind="カラオケ")


def test_cli_lists_the_kinds_in_japanese():
    from click.testing import CliRunner

    from api.cli import main

    result = CliRunner().invoke(main, ["kinds"])
    assert result.exit_code == 0, result.output
    assert "認知症カフェ（dementia_cafe）［集いの場］　別名: オレンジカフェ" in result.output
    assert "地域包括支援センター（comprehensive_support_center）［拠点］" in result.output


# ------------------------------------------------------------------------------ palette


def _delta(a: str, b: str, *, deutan: bool = False) -> float:
    x, y = Color(a), Color(b)
    if deutan:
        x, y = x.filter("deutan"), y.filter("deutan")
    return x.delta_e(y, method="2000")


def test_palette_is_colour_blind_safe():
    every = _all_kinds()
    at_first = set(kinds.shown_kinds()) | set(kinds.station_kinds())
    too_close = []
    for (a, ka), (b, kb) in itertools.combinations(every.items(), 2):
        normal = _delta(ka.colour, kb.colour)
        if normal < ANY_NORMAL:
            too_close.append(f"{a}/{b}: ΔE {normal:.1f}")
        if ka.group == kb.group or (a in at_first and b in at_first):
            deutan = _delta(ka.colour, kb.colour, deutan=True)
            if normal < TOGETHER_NORMAL or deutan < TOGETHER_DEUTAN:
                too_close.append(f"{a}/{b}: ΔE {normal:.1f}, deuteranopia ΔE {deutan:.1f}")
    assert not too_close, too_close


def test_kinds_of_a_group_share_a_hue_family():
    """Each group's chromatic kinds stay within 100° of hue (OKLCh); stations are all dark instead."""
    for kind in kinds.station_kinds().values():
        assert Color(kind.colour).convert("oklch")["lightness"] < 0.5, kind.key
    for group in set(kinds.groups()) - {"station"}:
        hues = [Color(k.colour).convert("oklch")["hue"] for k in _all_kinds().values()
                if k.group == group and Color(k.colour).convert("oklch")["chroma"] > 0.05]
        for h1, h2 in itertools.combinations(hues, 2):
            assert min(abs(h1 - h2), 360 - abs(h1 - h2)) <= 100, group


# ------------------------------------------------------------------------------ no copies


def _code_files(*suffixes: str):
    for folder in CODE_DIRS:
        for path in sorted((ROOT / folder).rglob("*")):
            if path.suffix in suffixes and path not in SOURCE and path not in VENDORED and ".venv" not in path.parts:
                yield path


def _enclosing_names(tree: ast.AST) -> dict[ast.AST, str]:
    """Map every node to the name of the top-level assignment or function it sits in."""
    owner = {}
    for top in ast.iter_child_nodes(tree):
        name = None
        if isinstance(top, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            name = top.name
        elif isinstance(top, (ast.Assign, ast.AnnAssign)):
            targets = top.targets if isinstance(top, ast.Assign) else [top.target]
            name = next((t.id for t in targets if isinstance(t, ast.Name)), None)
        for node in ast.walk(top):
            owner[node] = name
    return owner


def test_no_kind_vocabulary_or_colour_outside_the_one_source():
    """No file lists kinds (a table keyed by kinds, a list of three or more kinds) or a kind colour."""
    every = _all_kinds()
    keys = set(every)
    colours = {k.colour.lower() for k in every.values()}
    labels = {k.label for k in every.values() if len(k.label) >= 4}  # not common words (学校, その他)
    found = []
    for path in _code_files(".py"):
        rel = path.relative_to(ROOT).as_posix()
        tree = ast.parse(path.read_text(encoding="utf-8"))
        owner = _enclosing_names(tree)
        docstrings = {id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant)}
        for node in ast.walk(tree):
            if (rel, owner.get(node)) in ALLOWED:
                continue
            where = f"{rel}:{getattr(node, 'lineno', '?')}"
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings:
                for hex_code in re.findall(r"#[0-9a-fA-F]{6}\b", node.value):
                    if hex_code.lower() in colours:
                        found.append(f"{where}: kind colour {hex_code}")
                if node.value in labels:  # the label as a value of its own (words in sentences are fine)
                    found.append(f"{where}: kind label {node.value!r}")
            if isinstance(node, ast.Dict):
                named = {k.value for k in node.keys if isinstance(k, ast.Constant) and k.value in keys}
                if len(named) >= 2:
                    found.append(f"{where}: a table keyed by kinds {sorted(named)}")
            if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
                named = {e.value for e in node.elts if isinstance(e, ast.Constant) and e.value in keys}
                if len(named) >= 3:
                    found.append(f"{where}: a list of kinds {sorted(named)}")
    quoted = re.compile(r"""["'](%s)["']|\bk-(%s)\b""" % ("|".join(keys), "|".join(keys)))
    for path in _code_files(".js", ".css", ".html", ".toml"):
        rel = path.relative_to(ROOT).as_posix()
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            for hex_code in re.findall(r"#[0-9a-fA-F]{6}\b", line):
                if hex_code.lower() in colours:
                    found.append(f"{rel}:{n}: kind colour {hex_code}")
            if path.suffix != ".toml" and quoted.search(line):
                found.append(f"{rel}:{n}: kind key {quoted.search(line).group(0)}")
    assert not found, "\n".join(found)


# ------------------------------------------------------------------------------ web


def test_web_gets_the_kind_colours_rendered_from_the_source():
    css = style.kinds_css()
    for key, kind in _all_kinds().items():
        assert f".k-{key} {{ background: {kind.colour}; }}" in css
    data = kinds.as_json()
    assert data["resources"]["dementia_cafe"] == {"label": "認知症カフェ", "colour": kinds.resource_kinds()["dementia_cafe"].colour,
                                                  "group": "gathering", "marker": "normal", "shown": True}
    assert data["other"] == "other"
