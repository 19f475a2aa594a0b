"""Debian's nginx running `deploy/nginx.conf` as shipped, with only its ports changed:
the file is included in a minimal main configuration whose paths are a temp dir."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from tests.helpers.server import ROOT, LoopbackUrls, free_port
from tests.helpers.services import in_ci

SITE = ROOT / "deploy" / "nginx.conf"
SHIPPED_NODES = ("127.0.0.1:8001", "127.0.0.1:8002")
MAIN = """{user}worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log info;
events {{ worker_connections 1024; }}
http {{
    access_log {tmp}/access.log;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    include {site};
}}
"""


def nginx_binary() -> str | None:
    """Debian installs nginx in /usr/sbin (not on a non-root PATH)."""
    found = shutil.which("nginx") or "/usr/sbin/nginx"
    return found if os.access(found, os.X_OK) else None


def require_nginx() -> str:
    """The nginx binary; skip (outside CI, with the reason) or fail (in CI) without."""
    import pytest

    found = nginx_binary()
    if found is None:
        message = "nginx is not installed (Debian: apt-get install nginx; scripts/test.sh does)"
        if in_ci():
            pytest.fail(message + " (CI must run every test)")
        pytest.skip(message)
    return found


def site_config(text: str, port: int, nodes: list[int]) -> str:
    """The shipped site with nginx on 127.0.0.1:`port` and the nodes' ports; fails if the
    file no longer has what it rewrites (so the test keeps testing the shipped file)."""
    text, listens = re.subn(r"(?m)^    listen 80;$", f"    listen 127.0.0.1:{port};", text)
    assert listens == 1, "deploy/nginx.conf: expected one `listen 80;` server"
    for shipped, node in zip(SHIPPED_NODES, nodes, strict=True):
        assert text.count(f"server {shipped} ") == 1, f"deploy/nginx.conf: server {shipped}"
        text = text.replace(f"server {shipped} ", f"server 127.0.0.1:{node} ")
    return text


class Nginx(LoopbackUrls):
    """`nginx -g 'daemon off;'` in front of the given node ports."""

    def __init__(self, work: Path, nodes: list[int], site: str | None = None) -> None:
        self.binary = require_nginx()
        self.work = work
        self.port = free_port()
        work.mkdir(parents=True, exist_ok=True)
        site_path = work / "samepage.conf"
        site_path.write_text(site_config(site or SITE.read_text(), self.port, nodes))
        user = "user root;\n" if os.geteuid() == 0 else ""
        self.conf = work / "nginx.conf"
        self.conf.write_text(MAIN.format(user=user, tmp=work, site=site_path))
        self.proc: subprocess.Popen[bytes] | None = None

    def test_config(self) -> subprocess.CompletedProcess[str]:
        """`nginx -t` on the configuration."""
        cmd = [self.binary, "-t", "-c", str(self.conf), "-e", str(self.work / "error.log")]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=30)

    def start(self, timeout: float = 15.0) -> None:
        """Start and wait until the port accepts connections."""
        cmd = [self.binary, "-c", str(self.conf), "-e", str(self.work / "error.log")]
        self.proc = subprocess.Popen([*cmd, "-g", "daemon off;"], stderr=subprocess.PIPE)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode() if self.proc.stderr else ""
                raise RuntimeError(f"nginx exited {self.proc.returncode}: {err}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("nginx did not listen in time")

    def stop(self) -> None:
        """Graceful stop (SIGQUIT), then kill if it lingers."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGQUIT)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
