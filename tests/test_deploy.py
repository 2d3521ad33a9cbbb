"""The shared-server stack as written: docker-compose.yml and the Dockerfile say what the README says.

No Docker engine runs on the test machines, so these tests read the files: three services
(PostGIS, API, worker) with health checks, the database on a named volume, the API only
queueing jobs for the worker, and every ``tsunagu`` command the stack runs really exists.
"""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from api.cli import main

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))


def test_three_services_each_with_a_health_check(compose):
    services = compose["services"]
    assert {"db", "api", "worker"} <= set(services)
    for name in ("db", "api", "worker"):
        assert services[name].get("healthcheck", {}).get("test"), f"{name} has no health check"
    for name in ("api", "worker"):
        assert services[name]["depends_on"]["db"]["condition"] == "service_healthy"


def test_database_on_a_named_volume_and_jobs_go_to_the_worker(compose):
    services = compose["services"]
    named = set(compose["volumes"])
    db_volume = services["db"]["volumes"][0].split(":")[0]
    assert db_volume in named
    assert services["api"]["environment"]["TSUNAGU_JOB_RUNNER"] == "worker"
    for name in ("api", "worker"):
        env = services[name]["environment"]
        assert env["TSUNAGU_WORKSPACE"].startswith("postgresql")
        assert "uploads:/uploads" in services[name]["volumes"]  # the worker reads what the API received


def _commands(compose) -> list[list[str]]:
    out = []
    for service in compose["services"].values():
        cmd = service.get("command")
        if cmd:
            out.append(cmd if isinstance(cmd, list) else shlex.split(cmd))
        test = service.get("healthcheck", {}).get("test", [])
        if test and test[0] == "CMD" and test[1] == "tsunagu":
            out.append(test[1:])
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    cmd_line = next(line for line in dockerfile.splitlines() if line.startswith("CMD "))
    out.append(yaml.safe_load(cmd_line[4:]))
    return out


def test_every_tsunagu_command_of_the_stack_exists(compose):
    commands = [c for c in _commands(compose) if c and c[0] == "tsunagu"]
    assert len(commands) >= 3  # serve, worker, worker --check
    runner = CliRunner()
    for cmd in commands + [["tsunagu", "users", "create-admin"], ["tsunagu", "demo"]]:
        words = [w for w in cmd[1:] if not w.startswith("-")][:2]
        result = runner.invoke(main, [*words, "--help"])
        assert result.exit_code == 0, f"{' '.join(cmd)}: {result.output}"
        for option in [w.split("=")[0] for w in cmd[1:] if w.startswith("--")]:
            assert option in result.output, f"{' '.join(cmd)}: no option {option}"


def test_dockerfile_runs_as_an_unprivileged_user_with_the_upload_folder():
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert "USER tsunagu" in dockerfile
    assert "/uploads" in dockerfile and "-o tsunagu" in dockerfile
