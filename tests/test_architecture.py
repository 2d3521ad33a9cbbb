"""The folders show the architecture: data flows one way (gis → layers → api) and no package imports in a circle.

Imports are read from the source (module level and inside functions alike), so a circle hidden in
a function body counts: it still means the two modules cannot be understood or loaded apart.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import networkx as nx
import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("gis", "layers", "api")


def _modules() -> dict[str, Path]:
    out = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            out[name] = path
    return out


def _import_graph() -> nx.DiGraph:
    modules = _modules()
    graph = nx.DiGraph()
    for name, path in modules.items():
        graph.add_node(name)
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
                targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
            else:
                continue
            graph.add_edges_from((name, t) for t in targets if t in modules and t != name)
    return graph


def test_no_module_imports_in_a_circle():
    circles = [sorted(c) for c in nx.strongly_connected_components(_import_graph()) if len(c) > 1]
    assert circles == [], f"import circles (move what both sides need to a module both import): {circles}"


@pytest.mark.parametrize(("package", "forbidden"), [("gis", ("layers", "api")), ("layers", ("api",))])
def test_data_flows_one_way(package, forbidden):
    graph = _import_graph()
    wrong = sorted((a, b) for a, b in graph.edges if a.split(".")[0] == package and b.split(".")[0] in forbidden)
    assert wrong == [], f"{package}/ must not import {forbidden}: {wrong}"


def test_the_detector_sees_a_circle_hidden_in_a_function(tmp_path, monkeypatch):
    # The check above can fail: a circle through a function-level import is found.
    pkg = tmp_path / "gis"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from gis.b import f\n")
    (pkg / "b.py").write_text("def f():\n    from gis import a\n    return a\n")
    for other in ("layers", "api"):
        (tmp_path / other).mkdir()
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    circles = [sorted(c) for c in nx.strongly_connected_components(_import_graph()) if len(c) > 1]
    assert circles == [["gis.a", "gis.b"]]


def test_the_cli_help_imports_no_analysis_stack():
    # `tsunagu --help` lists every command without loading geopandas, SQLAlchemy, argon2 or the solvers.
    code = ("import sys\nfrom click.testing import CliRunner\nfrom api.cli import main\n"
            "r = CliRunner().invoke(main, ['--help'])\nassert r.exit_code == 0, r.output\nprint(r.output)\n"
            "heavy = sorted(m for m in ('geopandas', 'pandas', 'sqlalchemy', 'argon2', 'pyvrp', 'fastapi', 'shapely')"
            " if m in sys.modules)\nprint('HEAVY', heavy)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True).stdout
    assert "HEAVY []" in out
    for command in ("demo", "analyse", "routes", "users", "worker", "serve", "import"):
        assert f"  {command} " in out


def test_the_analyse_help_lists_the_analyses_without_importing_them():
    # `tsunagu analyse --help` lists the analyses from the catalogue; their modules load when one runs.
    code = ("import sys\nfrom click.testing import CliRunner\nfrom api.cli import main\n"
            "r = CliRunner().invoke(main, ['analyse', '--help'])\nassert r.exit_code == 0, r.output\nprint(r.output)\n"
            "heavy = sorted(m for m in ('geopandas', 'pandas', 'pydantic_settings', 'sqlalchemy', 'pyvrp', 'shapely')"
            " if m in sys.modules)\nprint('HEAVY', heavy)\n"
            "print('ANALYSES', sorted(m for m in sys.modules if m.startswith('api.analyses')))\n")
    env = {k: v for k, v in os.environ.items() if k.upper() != "TSUNAGU_ANALYSIS_MODULES"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True, env=env).stdout
    assert "HEAVY []" in out and "ANALYSES []" in out
    for command in ("salon-gaps", "shopping-refugees", "outreach", "import-resources"):
        assert f"  {command} " in out


@pytest.mark.parametrize("group", ["main", "routes"])
def test_lazy_commands_show_the_help_their_modules_give(group):
    import click
    from click.testing import CliRunner

    from api.cli import main

    parent = main if group == "main" else main.get_command(None, "routes")
    for name, (_, short) in parent.lazy_subcommands.items():
        command = parent.get_command(click.Context(parent), name)
        assert command is not None, name
        assert command.help.strip().splitlines()[0] == short
        args = [name, "--help"] if group == "main" else ["routes", name, "--help"]
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 0, result.output
