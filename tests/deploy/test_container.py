"""The Dockerfile and compose.yaml, checked without Docker (it cannot pull base images
on these machines, so the images are not built in CI): parsed with dockerfile-parse and
PyYAML, their entrypoint, ports, healthcheck and environment are checked against the
CLI, every file the image copies exists (and is not excluded by .dockerignore), the
healthcheck command is run against a live server, and compose's nodes match the
upstreams of deploy/nginx.conf."""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import yaml
from dockerfile_parse import DockerfileParser
from sqlalchemy.engine import make_url

from storage.sql.engine import database_url
from tests.deploy.cli_env import assert_cli_reads, interpolate, serve_settings
from tests.helpers.server import ROOT, ServerProcess, free_port
from web.cli_checks import check_exposure
from web.cluster import check_cluster

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def stages() -> list[list[dict[str, Any]]]:
    """The Dockerfile's instructions, one list per stage (comments left out)."""
    with open(ROOT / "Dockerfile", "rb") as file:
        structure = DockerfileParser(fileobj=file).structure
    found: list[list[dict[str, Any]]] = []
    for item in structure:
        if item["instruction"] == "FROM":
            found.append([])
        if item["instruction"] != "COMMENT":
            found[-1].append(item)
    return found


def values(stage: list[dict[str, Any]], instruction: str) -> list[str]:
    """The values of one instruction in a stage."""
    return [item["value"] for item in stage if item["instruction"] == instruction]


def env_of(stage: list[dict[str, Any]]) -> dict[str, str]:
    """The stage's ENV as a dict (`A=1 B=2` form)."""
    env: dict[str, str] = {}
    for value in values(stage, "ENV"):
        for pair in shlex.split(value):
            name, _, setting = pair.partition("=")
            env[name] = setting
    return env


def healthcheck_argv(stage: list[dict[str, Any]]) -> list[str]:
    """The HEALTHCHECK's CMD, exec form."""
    (value,) = values(stage, "HEALTHCHECK")
    argv: list[str] = json.loads(value[value.index("CMD") + 3 :].strip())
    return argv


def test_dockerfile_is_multi_stage_non_root_and_matches_the_cli() -> None:
    build, runtime = stages()
    assert build[0]["value"].endswith(" AS build")
    # non-root: a dedicated user made in this stage
    (user,) = values(runtime, "USER")
    assert user not in ("root", "0") and any(
        "useradd" in r and user in r for r in values(runtime, "RUN")
    )
    # the entrypoint is the console script; its command parses as `serve`
    (entrypoint,) = [json.loads(v) for v in values(runtime, "ENTRYPOINT")]
    (cmd,) = [json.loads(v) for v in values(runtime, "CMD")]
    assert entrypoint == ["samepage"] and PYPROJECT["project"]["scripts"]["samepage"]
    env = {k: v for k, v in env_of(runtime).items() if k.startswith("SAMEPAGE_")}
    assert_cli_reads(env)
    settings = serve_settings(env, cmd)
    assert settings.host == "0.0.0.0"
    # the port it listens on is the one exposed and the one the healthcheck asks
    (exposed,) = values(runtime, "EXPOSE")
    assert int(exposed) == settings.port
    assert "/healthz" in " ".join(healthcheck_argv(runtime))
    # SQLite data in the volume, and the process may write there (its home, WORKDIR)
    (volume,) = [json.loads(v) for v in values(runtime, "VOLUME")]
    data = Path(make_url(database_url(settings.db)).database or "")
    assert str(data.parent) in volume and values(runtime, "WORKDIR") == [str(data.parent)]
    # serving on 0.0.0.0 without a secret is refused; with SAMEPAGE_SECRET it starts
    assert check_exposure(settings) is not None
    assert check_exposure(serve_settings({**env, "SAMEPAGE_SECRET": "s" * 32}, cmd)) is None
    assert values(runtime, "STOPSIGNAL") == ["SIGTERM"]


def _ignored(path: str, patterns: list[str]) -> bool:
    return any(
        fnmatch.fnmatch(path, p) or fnmatch.fnmatch(path, p.rstrip("/") + "/*") for p in patterns
    )


def test_every_copied_file_exists_and_the_bundle_is_in_the_image() -> None:
    build, runtime = stages()
    ignore = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    copied = []
    for value in values(build, "COPY"):
        *sources, _dest = shlex.split(value)
        for source in sources:
            assert (ROOT / source).exists(), f"COPY {source}: no such file in the tree"
            assert not _ignored(source, ignore), f"COPY {source}: excluded by .dockerignore"
            copied.append(source)
    # the package's own files: everything pyproject installs, with the editor bundle
    packages = PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"]
    assert {p.rstrip("*") for p in packages} <= set(copied)
    assert "static/**/*" in PYPROJECT["tool"]["setuptools"]["package-data"]["web"]
    for bundled in ("editor.js", "home.js", "samepage.css"):
        assert (ROOT / "web" / "static" / bundled).is_file()
        assert not _ignored(f"web/static/{bundled}", ignore)
    assert _ignored("web/frontend/node_modules/x", ignore) and _ignored(".venv", ignore)
    # the runtime copies the build stage's virtualenv, which the build stage made
    (from_build,) = values(runtime, "COPY")
    assert from_build == "--from=build /opt/samepage /opt/samepage"
    assert any("venv /opt/samepage" in run for run in values(build, "RUN"))
    assert "/opt/samepage/bin" in env_of(runtime)["PATH"]


def test_healthcheck_command_answers_for_a_live_server(tmp_path: Path) -> None:
    _build, runtime = stages()
    argv = healthcheck_argv(runtime)
    assert argv[0] == "python"
    command = [sys.executable, *argv[1:]]
    with ServerProcess(tmp_path / "db.sqlite") as server:
        env = {"SAMEPAGE_PORT": str(server.port), "PATH": "/usr/bin:/bin"}
        assert subprocess.run(command, env=env, timeout=30).returncode == 0
    down = {"SAMEPAGE_PORT": str(free_port()), "PATH": "/usr/bin:/bin"}
    assert subprocess.run(command, env=down, capture_output=True, timeout=30).returncode != 0


def test_compose_runs_two_nodes_behind_the_shipped_nginx_config() -> None:
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    services = compose["services"]
    assert {"nginx", "postgres", "redis"} <= set(services)
    nodes = {name: s for name, s in services.items() if s.get("build") == "."}
    assert len(nodes) == 2
    assert (ROOT / "Dockerfile").is_file()
    # nginx uses deploy/nginx.conf as is, and only nginx publishes a port
    (mount,) = services["nginx"]["volumes"]
    source, target, _mode = mount.split(":")
    assert (ROOT / source).resolve() == (ROOT / "deploy" / "nginx.conf").resolve()
    assert target.startswith("/etc/nginx/conf.d/")
    assert [name for name, s in services.items() if "ports" in s] == ["nginx"]
    upstreams = set(re.findall(r"(?m)^\s+server 127\.0\.0\.1:(\d+)", (ROOT / source).read_text()))
    ports, ids = set(), set()
    for name, node in nodes.items():
        assert node["network_mode"] == "service:nginx", name
        env = {k: str(v) for k, v in node["environment"].items()}
        assert_cli_reads(env)
        settings = serve_settings({k: interpolate(v) for k, v in env.items()})
        assert check_exposure(settings) is None and check_cluster(settings) is None
        assert (
            make_url(database_url(settings.db)).host == "postgres"
            and settings.redis == "redis://redis:6379"
        )
        assert settings.host == "127.0.0.1" and "127.0.0.1" in settings.forwarded_allow_ips
        ports.add(str(settings.port))
        ids.add(settings.node_id)
        for dependency, condition in node["depends_on"].items():
            assert dependency in services and condition["condition"] == "service_healthy"
            assert "healthcheck" in services[dependency]
        grace = float(node["stop_grace_period"].rstrip("s"))
        assert grace > settings.shutdown_timeout
    assert ports == upstreams, "compose's node ports are not deploy/nginx.conf's upstreams"
    assert len(ids) == 2
