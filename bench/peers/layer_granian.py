"""samepage behind granian (2.8, a Rust HTTP/WebSocket server) instead of uvicorn:
`python -m bench.peers.layer_granian PORT DB [asgi|rsgi]`.

`asgi` (the default): granian serves samepage's full Starlette app through its ASGI
interface, so `WS /ws/{room}` is samepage's ASGI endpoint (web/ws.py: a task per
socket reading ASGI messages, a writer task per connection) with samepage's sync layer
and store, as under uvicorn's ASGI implementations. `rsgi`: `/ws/{room}` only, on
granian's RSGI interface (bench/peers/layer_granian_app.py). One worker process
(granian's supervisor starts it; samepage's lifespan runs in it), uvloop, one Rust
runtime thread, HTTP/1.1.

Kept: what the ASGI endpoint does: the origin check (403 before the upgrade), room
name / tokens / limits, samepage's close codes and reasons (ASGI only), 1009 for a
message over `max_frame_bytes`, the slow-consumer close (4508) when a connection's
queue is over its limits; with `asgi` the whole HTTP API (/healthz, /api, ...); on
SIGTERM or SIGINT the rooms are flushed and the store closed.
Lacks: keepalive pings (granian sends none; it answers the client's); a graceful close
of the clients: granian drops open WebSockets without a close frame when it stops its
worker, before samepage's lifespan shutdown can close them (clients see 1006, not
1012/1001; granian issue #796); with `rsgi`, close codes: granian 2.8.9's RSGI close
after the upgrade sends a close frame without a code (clients see 1005 for every
refusal); trusted-proxy X-Forwarded-For as uvicorn's `proxy_headers`;
`--workers`/cluster."""

from __future__ import annotations

import os
import sys

from granian.constants import HTTPModes, Interfaces, Loops
from granian.log import LogLevels
from granian.server import Server

from bench.peers.layers import bench_settings, parse_argv

TARGETS = {
    "asgi": (Interfaces.ASGI, "bench.peers.layer_granian_app:app"),
    "rsgi": (Interfaces.RSGI, "bench.peers.layer_granian_app:rsgi_app"),
}
DB_VARIABLE = "BENCH_LAYER_DB"  # how the worker's target learns the database
PORT_VARIABLE = "BENCH_LAYER_PORT"


def serve(port: int, db: str, interface: str = "asgi") -> None:
    """Run granian with one worker of `interface` until SIGTERM / SIGINT."""
    settings = bench_settings(port, db)
    os.environ[DB_VARIABLE] = db
    os.environ[PORT_VARIABLE] = str(port)
    kind, target = TARGETS[interface]
    server = Server(
        target,
        address=settings.host,
        port=port,
        interface=kind,
        workers=1,
        runtime_threads=1,
        loop=Loops.uvloop,
        http=HTTPModes.http1,
        websockets=True,
        log_level=LogLevels.warning,
        log_access=False,
    )
    server.serve()


def entry() -> None:
    """`python -m bench.peers.layer_granian PORT DB [asgi|rsgi]`."""
    args = sys.argv[1:]
    interface = args.pop() if len(args) == 3 and args[2] in TARGETS else "asgi"
    port, db = parse_argv("bench.peers.layer_granian", args, " [asgi|rsgi]")
    serve(port, db, interface)


if __name__ == "__main__":
    entry()
