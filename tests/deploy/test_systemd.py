"""deploy/samepage.service against the CLI: a dedicated user, Restart=on-failure with
the CLI's refusal code exempt, TimeoutStopSec beyond the shutdown timeout, an
ExecStart and Environment that `samepage serve` understands, and `systemd-analyze
verify` silent. Then its command runs with its environment and gets SIGTERM, as
`systemctl stop` sends it: clients are closed with 1012 and the process exits 0 (a
clean stop, which Restart=on-failure leaves stopped) well before TimeoutStopSec."""

from __future__ import annotations

import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from storage.sql.engine import database_url
from sync.errors import CloseCode
from tests.deploy.cli_env import assert_cli_reads, only_env, serve_settings
from tests.helpers.clients import raw_client
from tests.helpers.server import ROOT, ServerProcess
from tests.helpers.services import in_ci
from web.cli import main

UNIT = ROOT / "deploy" / "samepage.service"


def directives(text: str) -> dict[str, dict[str, list[str]]]:
    """`{section: {key: [values...]}}` (systemd allows a key several times)."""
    found: dict[str, dict[str, list[str]]] = {}
    section = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            found.setdefault(section, {})
            continue
        key, _, value = line.partition("=")
        found[section].setdefault(key.strip(), []).append(value.strip())
    return found


def unit() -> dict[str, list[str]]:
    """The [Service] section."""
    return directives(UNIT.read_text())["Service"]


def unit_env() -> dict[str, str]:
    """Its Environment= settings."""
    return dict(value.split("=", 1) for value in unit()["Environment"])


def seconds(value: str) -> float:
    """A systemd time span in seconds (`30`, `30s`, `1min`, `1min 30s`)."""
    total = 0.0
    for part in value.split():
        number = float("".join(c for c in part if c.isdigit() or c == "."))
        unit_name = part.lstrip("0123456789.") or "s"
        total += number * {"s": 1, "sec": 1, "min": 60, "m": 60, "h": 3600}[unit_name]
    return total


def test_unit_matches_the_cli(capsys: pytest.CaptureFixture[str]) -> None:
    service = unit()
    assert service["User"][0] not in ("root", "0") and service["Group"] == service["User"]
    assert service["Restart"] == ["on-failure"]
    assert service["KillSignal"] == ["SIGTERM"]
    env = unit_env()
    assert_cli_reads(env)
    argv = shlex.split(service["ExecStart"][0])
    assert Path(argv[0]).name == "samepage"  # the console script pyproject installs
    settings = serve_settings(env, argv[1:])
    # SIGTERM is answered within --shutdown-timeout; systemd waits longer before SIGKILL
    assert seconds(service["TimeoutStopSec"][0]) > settings.shutdown_timeout + 5
    # the database lives in the state directory systemd makes for the user
    data = Path(make_url(database_url(settings.db)).database or "")
    assert data.parent == Path("/var/lib") / service["StateDirectory"][0]
    assert service["WorkingDirectory"] == [str(data.parent)]
    # loopback unless told otherwise: the secret comes from the EnvironmentFile
    assert settings.host == "127.0.0.1"
    assert service["EnvironmentFile"][0].lstrip("-").startswith("/etc/samepage/")
    # the exit status not restarted is the CLI's refusal: here, serving in the open
    (exempt,) = service["RestartPreventExitStatus"]
    with only_env({}):
        assert main(["serve", "--host", "0.0.0.0"]) == int(exempt)
    assert "refusing" in capsys.readouterr().err


def test_systemd_analyze_verify_is_silent(tmp_path: Path) -> None:
    tool = shutil.which("systemd-analyze")
    if tool is None:
        if in_ci():
            pytest.fail("systemd-analyze is missing (CI must run every test)")
        pytest.skip("systemd-analyze is not installed")
    # the unit as shipped, with ExecStart pointing at this checkout's console script
    script = Path(sys.executable).parent / "samepage"
    text = UNIT.read_text().replace("/opt/samepage/bin/samepage", str(script))
    copy = tmp_path / "samepage.service"
    copy.write_text(text)
    done = subprocess.run([tool, "verify", str(copy)], capture_output=True, text=True, timeout=60)
    problems = [line for line in done.stderr.splitlines() if str(copy) in line]
    assert done.returncode == 0 and not problems, done.stderr


async def test_exec_start_with_the_unit_environment_stops_cleanly_on_sigterm(
    tmp_path: Path,
) -> None:
    env = {k: v for k, v in unit_env().items() if k not in ("SAMEPAGE_PORT", "SAMEPAGE_DB")}
    argv = shlex.split(unit()["ExecStart"][0])[1:]
    assert argv == ["serve"]  # ServerProcess runs `serve` with a free port and a temp db
    server = ServerProcess(tmp_path / "samepage.db", env=env, log_path=tmp_path / "log")
    server.start()
    try:
        async with raw_client(server.ws, "systemd") as client:
            started = time.monotonic()
            assert server.proc is not None
            server.proc.send_signal(signal.SIGTERM)
            assert await client.closed(10) == CloseCode.SERVICE_RESTART
            code = server.proc.wait(seconds(unit()["TimeoutStopSec"][0]))
            took = time.monotonic() - started
    finally:
        server.stop()
    assert code == 0, server.log_tail()
    assert took < float(env["SAMEPAGE_SHUTDOWN_TIMEOUT"]), took
    assert '"logger": "samepage.web"' in server.log_tail()  # SAMEPAGE_LOG_FORMAT=json read
