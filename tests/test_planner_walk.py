"""Walk the README's command-line steps as a planner would, on 高梁市 (33209), and read every line shown.

Each step runs ``tsunagu`` as a separate process, like a user at a shell. The test fails on any
English word in what a user sees (standard output and error) outside :data:`ALLOWED` (names of
formats, units and tools), and on raw JSON or Python reprs (``{'salon': 2}``, ``share_straight:``).
File names, paths, URLs and ids are not words a planner reads, so they are taken out first.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from _paths import require_data_dir

ROOT = Path(__file__).resolve().parents[1]

#: Technical words that stay as they are in Japanese text: formats, units, tools, standards.
ALLOWED = {
    "CSV", "Excel", "GeoJSON", "GeoPackage", "PostGIS", "Shapefile", "ZIP", "HTML", "PDF", "GPX", "JSON", "URL", "UTF",
    "API", "ID", "IDs", "km", "m", "CSW", "MCLP", "LSCP", "HiGHS", "PyVRP", "VROOM", "OSM", "OpenStreetMap",
    "JGD", "WGS", "GIS", "NaN", "UUID", "Dask", "LocalCluster", "Tsunagu", "tsunagu", "MAFF", "KEY_CODE",
    "Shift_JIS", "e", "Stat", "jSTAT", "MAP", "A", "N", "P", "L", "x", "k", "Ctrl", "SIGTERM", "FastAPI", "Folium",
    "OS", "TSUNAGU_USER", "TSUNAGU_DATA_DIR", "GET", "POST", "JR",
}

#: Raw structures a planner should never be shown: dict/list reprs, JSON objects, ``key: value`` of snake_case keys.
RAW = [
    (re.compile(r"\{\s*['\"][^'\"]+['\"]\s*:"), "dict or JSON object"),
    (re.compile(r"\[\s*['\"][^'\"]*['\"]\s*[,\]]"), "list repr"),
    (re.compile(r"\b[a-z]+_[a-z_]+\s*:\s"), "raw summary key"),
    (re.compile(r"\b(None|True|False|nan)\b"), "Python value"),
]

#: What is not prose: paths, file names, URLs, hex ids and data versions, option names, ``key=value`` examples.
NOT_PROSE = [
    re.compile(r"tsunagu(?:\s+[a-z][\w-]*)+"),  # a command to type: tsunagu users create-admin admin
    re.compile(r"https?://\S+"),
    re.compile(r"(?:[A-Za-z]:)?[\w.\-~]*/[^\s、，（）()「」]*"),
    re.compile(r"\S*\.(?:csv|xlsx|html|gpkg|json|gpx|geojson|sqlite|toml|zip|pbf|osm|shp|txt)\b"),
    re.compile(r"「[\w.\-]+」"),  # a name or value the user gave, quoted back: 「threshold_m」、「abc」
    re.compile(r"\b[0-9]{5}-[0-9a-f]{12}\b"),
    re.compile(r"\b[0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12}\b|\b[0-9a-f]{8,}\b"),
    re.compile(r"--[a-z][a-z-]*"),
    re.compile(r"\b[a-z_]+=[^\s、）)]+"),
    re.compile(r"[a-z]+(?:-[a-z0-9]+)+"),  # ids made of words: sample-station-01, salon-gaps
    re.compile(r"（[a-z_]+）"),  # a kind's key beside its Japanese name: サロン（salon）
]


#: The acting user of the walk (a name, not a word).
USER = "tanaka"


def english_words(text: str) -> list[str]:
    """English words a planner would read in ``text`` (allowed technical words and non-prose taken out)."""
    text = text.replace(USER, " ")
    for pattern in NOT_PROSE:
        text = pattern.sub(" ", text)
    words = re.findall(r"(?<![\w])[A-Za-z][A-Za-z_]*(?![\w])", text)
    return sorted({w for w in words if w not in ALLOWED})


def raw_structures(text: str) -> list[str]:
    """Lines showing raw JSON, dict/list reprs or summary keys."""
    found = []
    for line in text.splitlines():
        for pattern, what in RAW:
            if pattern.search(line):
                found.append(f"{what}: {line.strip()}")
    return found


def test_the_checks_catch_what_the_issue_saw():
    assert english_words("row 1: 経度 (longitude) in column '経度' is 'abc', not a number") != []
    assert raw_structures("2 件を取り込みました: {'salon': 2}")
    assert raw_structures("  share_straight: 0.4624670749062271")
    assert english_words("表: 圏域別.csv, salon-gaps.xlsx  地図: /tmp/x/jobs/salon-gaps-1a2b3c4d/map.html") == []
    assert english_words("距離 500 m、CSV と Excel") == []


class Planner:
    """Runs ``tsunagu`` in a folder of its own, as one user, and keeps every line it was shown."""

    def __init__(self, folder: Path, data: Path) -> None:
        self.folder = folder
        self.workspace = folder / "workspace" / "tsunagu.gpkg"
        env = {k: v for k, v in os.environ.items() if not k.startswith("TSUNAGU_")}
        env.update({"TSUNAGU_DATA_DIR": str(data), "TSUNAGU_WORKSPACE": str(self.workspace), "TSUNAGU_USER": USER,
                    "PYTHONWARNINGS": "ignore", "COLUMNS": "120"})
        self.env = env
        self.seen: list[tuple[str, str]] = []

    def run(self, *args: str, ok: bool = True, stdin: str | None = None) -> subprocess.CompletedProcess:
        result = subprocess.run([sys.executable, "-m", "api.cli", *args], capture_output=True, text=True,
                                cwd=self.folder, env=self.env, timeout=600, input=stdin)
        shown = result.stdout + "\n" + _without_progress(result.stderr)
        self.seen.append((" ".join(args), shown))
        if ok:
            assert result.returncode == 0, f"tsunagu {' '.join(args)}\n{result.stdout}\n{result.stderr}"
        else:
            assert result.returncode != 0 and "Traceback" not in result.stderr, result.stderr
        return result


def _without_progress(stderr: str) -> str:
    """tqdm's bar lines (「サロンの空白地域:  40%|███ | 距離を計算中」) hold the same Japanese messages; keep them."""
    return stderr.replace("\r", "\n")


@pytest.fixture(scope="module")
def walked(tmp_path_factory) -> Planner:
    data = require_data_dir()
    me = Planner(tmp_path_factory.mktemp("planner"), data)
    me.run("demo")
    me.run("nesting")
    me.run("kinds")
    me.run("data", "--city", "33209")
    (me.folder / "salons.csv").write_text("名称,緯度,経度\n新町サロン,34.7889,133.6166\n旭町サロン,34.7930,133.6200\n",
                                          encoding="utf-8")
    (me.folder / "bad.csv").write_text("名称,緯度,経度\n新町サロン,34.7889,abc\n", encoding="utf-8")
    me.run("import", "resources", "salons.csv", "--kind", "salon")
    me.run("import", "resources", "bad.csv", "--kind", "サロン", ok=False)
    me.run("analyse", "salon-gaps")
    me.run("analyse", "salon-sites", "--param", "k=5")
    me.run("analyse", "shopping-refugees")
    me.run("analyse", "catchments", "--param", "by=nearest")
    me.run("analyse", "shopping-refugees", "--param", "threshold_m=-5", ok=False)
    me.run("map", "--out", "map.html")
    me.run("users", "create-admin", USER, "--password-stdin", stdin="a-long-password-1\n")
    me.run("users", "create-admin", "x", "--password-stdin", stdin="short\n", ok=False)
    me.run("users", "list")
    me.run("--as", "nobody", "analyse", "catchments", ok=False)
    me.run("demo", "--city", "99999", "--workspace", "other/tsunagu.gpkg", ok=False)
    me.run("map", "--workspace", "nowhere/tsunagu.gpkg", ok=False)
    me.run("analyse", "salon-gaps", "--param", "radius=3", ok=False)
    return me


def test_every_line_a_planner_sees_is_japanese(walked):
    problems = {step: english_words(text) for step, text in walked.seen}
    assert {step: words for step, words in problems.items() if words} == {}


def test_no_raw_json_or_reprs_are_shown(walked):
    problems = {step: raw_structures(text) for step, text in walked.seen}
    assert {step: lines for step, lines in problems.items() if lines} == {}


def test_results_are_stated_in_sentences_with_rounded_figures(walked):
    shown = dict(walked.seen)
    gaps = shown["analyse salon-gaps"]
    assert re.search(r"65歳以上 [\d,]+人のうち [\d,]+人（\d+\.\d%）がサロン（18か所）から直線500 m以上", gaps), gaps
    assert "集計値:" in gaps and re.search(r"サロンから500 m以上の割合\s+\d+\.\d%", gaps)
    shopping = shown["analyse shopping-refugees"]
    assert re.search(r"65歳以上 [\d,]+人のうち [\d,]+人（\d+\.\d%）が食料品店（\d+店）から直線500 m以上です。", shopping)
    assert not re.search(r"\d\.\d{4,}", gaps + shopping)  # no unrounded figures
    import openpyxl

    folder = Path(re.search(r"出力: (\S+)", shopping).group(1))
    summary_sheet = openpyxl.load_workbook(folder / "shopping-refugees.xlsx")["概要"]
    headline = next(line for line in shopping.splitlines() if line.startswith("65歳以上"))
    assert summary_sheet["A1"].value == headline and summary_sheet["A4"].value == "65歳以上人口"
    assert "実行者 tanaka" in gaps and "（日本時間）" in gaps  # the acting user, in Japan time
    assert "ふれあい・いきいきサロン 2件を取り込みました" in shown["import resources salons.csv --kind salon"]
    assert "1行目: 経度の列「経度」の値「abc」は数値ではありません" in shown["import resources bad.csv --kind サロン"]
    assert "0 より大きい値を入力してください" in shown["analyse shopping-refugees --param threshold_m=-5"]
    assert f"アカウント「nobody」はありません（あるアカウント: {USER}）" in shown["--as nobody analyse catchments"]
    assert "パスワードは 10 文字以上" in shown["users create-admin x --password-stdin"]
    assert "99999" in shown["demo --city 99999 --workspace other/tsunagu.gpkg"]
