"""The command line speaks Japanese: its help, click's own words and its usage errors (TSUNAGU_LANG=en for English)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: Words that stay as they are in a Japanese help text (names of things, not sentences).
TECHNICAL = {"OPTIONS", "COMMAND", "ARGS", "PATH", "TEXT", "INTEGER", "FLOAT", "FILE", "DIRECTORY", "KEY", "VALUE",
             "ADDRESS", "LEVEL", "ID", "CSV", "Excel", "GeoJSON", "GeoPackage", "Shapefile", "ZIP", "HTML", "API",
             "FastAPI", "Dask", "Tsunagu", "tsunagu", "CSW", "GPX", "PostGIS", "SIGTERM", "Ctrl", "KEY_CODE",
             "Shift_JIS", "e", "Stat", "json", "JSON", "gpkg", "postgresql", "URL", "TSUNAGU_DATA_DIR", "shared", "data",
             "NAME", "RANGE", "x", "MCLP", "LSCP", "HiGHS", "PDF"}


def _run(*args: str, lang: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ}
    env.pop("TSUNAGU_LANG", None)
    if lang:
        env["TSUNAGU_LANG"] = lang
    return subprocess.run([sys.executable, "-m", "api.cli", *args], capture_output=True, text=True, cwd=ROOT, env=env)


def _english_words(text: str) -> list[str]:
    words = re.findall(r"(?<![\w-])[A-Za-z][A-Za-z_]{2,}(?![\w-])", text)
    return sorted({w for w in words if w not in TECHNICAL})


@pytest.mark.parametrize("args", [["--help"], ["import", "--help"], ["routes", "--help"], ["users", "--help"]])
def test_help_is_japanese(args):
    result = _run(*args)
    assert result.returncode == 0, result.stderr
    assert "使い方:" in result.stdout and "オプション:" in result.stdout
    text = []
    for line in result.stdout.splitlines():
        body = line.strip()
        if body.startswith(("使い方:", "-")):  # the usage line and option names are code
            continue
        if line.startswith("  ") and not line.startswith("   "):  # a command row: its name is code
            body = body.partition(" ")[2]
        text.append(body)
    assert _english_words("\n".join(text)) == []


def test_usage_errors_are_japanese_and_english_on_request():
    result = _run("nosuch")
    assert result.returncode == 2
    assert "エラー: コマンド 'nosuch' はありません。" in result.stderr
    assert "Error" not in result.stderr
    english = _run("nosuch", lang="en")
    assert "Error: No such command 'nosuch'." in english.stderr


@pytest.mark.parametrize("args", [["--help"], ["analyse", "--help"]])
def test_the_commands_section_follows_the_language(args):
    """The lazily listed commands' section title is click's word too: コマンド, or Commands in English."""
    japanese, english = _run(*args), _run(*args, lang="en")
    assert "コマンド:" in japanese.stdout and "Commands:" not in japanese.stdout
    assert "Commands:" in english.stdout and "コマンド:" not in english.stdout


def test_a_mistyped_option_suggests_the_right_one_in_japanese():
    result = _run("demo", "--cty", "33209")
    assert "オプション '--cty' はありません。" in result.stderr and "'--city'" in result.stderr
