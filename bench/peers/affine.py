"""Room-affine routing for bench s7: nginx in front of two samepage nodes (each its own
`samepage serve` on its own port, sharing the Redis bus and one database), choosing the
node by a consistent hash of the path (`/ws/<room>`), so every client of a room lands
on the same node and the bus carries nothing a node has to apply.

`python -m bench.peers.affine PORT DB_URL WORK_DIR`: runs until SIGINT/SIGTERM; then it reads each
node's `samepage_remote_updates_applied_total` (updates committed by the other node that
changed a room here: 0 with this routing) into `WORK_DIR/server-extra.json`, for
the driver, and stops everything it started, by PID.
"""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REDIS_URL = "redis://127.0.0.1:6379"
NGINX_CONF = """
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {tmp};
    proxy_temp_path {tmp};
    upstream samepage {{
        hash $uri consistent;
{servers}
    }}
    server {{
        listen 127.0.0.1:{port} reuseport;
        location / {{
            proxy_pass http://samepage;
            proxy_http_version 1.1;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection "upgrade";
            proxy_set_header Host $host;
            proxy_read_timeout 1h;
            proxy_buffering off;
            tcp_nodelay on;
        }}
    }}
}}
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _wait_http(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


def _remote_applied(port: int) -> float | None:
    try:
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read()
    except OSError:
        return None
    match = re.search(rb"^samepage_remote_updates_applied_total (\S+)$", text, re.M)
    return float(match.group(1)) if match else None


def main() -> int:
    """Start two nodes and nginx; on a signal, record the counters and stop them."""
    port, db, work = int(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
    stop = []
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    ports = [_free_port(), _free_port()]
    nodes = []
    for i, node_port in enumerate(ports):
        cmd = [sys.executable, "-m", "web.cli", "serve", "--host", "127.0.0.1"]
        cmd += ["--port", str(node_port), "--db", db, "--log-level", "warning"]
        cmd += ["--messages-per-second", "0", "--redis", REDIS_URL]
        cmd += ["--node-id", f"bench-affine-{port}-n{i}"]
        nodes.append(subprocess.Popen(cmd, start_new_session=True))
        if i == 0:  # the first node migrates a fresh database alone
            _wait_http(f"http://127.0.0.1:{node_port}/healthz")
    for node_port in ports:
        _wait_http(f"http://127.0.0.1:{node_port}/healthz")
    with tempfile.TemporaryDirectory(prefix="samepage-affine-") as tmp:
        servers = "\n".join(f"        server 127.0.0.1:{p};" for p in ports)
        conf = Path(tmp) / "nginx.conf"
        conf.write_text(NGINX_CONF.format(tmp=tmp, servers=servers, port=port))
        nginx = subprocess.Popen(["nginx", "-c", str(conf), "-g", "daemon off;"])
        try:
            while not stop and all(p.poll() is None for p in [*nodes, nginx]):
                time.sleep(0.2)
        finally:
            counts = [_remote_applied(p) for p in ports]
            (work / "server-extra.json").write_text(json.dumps({"remoteApplied": counts}) + "\n")
            print(f"affine: remote updates applied per node: {counts}", flush=True)
            nginx.send_signal(signal.SIGQUIT)
            for node in nodes:
                node.send_signal(signal.SIGINT)
            for proc in [nginx, *nodes]:
                try:
                    proc.wait(15)
                except subprocess.TimeoutExpired:
                    proc.kill()
    return 0


if __name__ == "__main__":
    sys.exit(main())
