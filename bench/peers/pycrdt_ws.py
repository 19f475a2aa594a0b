"""pycrdt-websocket's `WebsocketServer` behind its `ASGIServer` on uvicorn, set up as its
documentation shows (`async with websocket_server:` around `uvicorn.Server.serve`).
`python -m bench.peers.pycrdt_ws PORT`.

The exception handler keeps the server alive when a client drops during a broadcast
(without one, pycrdt-websocket 0.16.5 stops the whole server). The uvicorn settings are
samepage's, so that the comparison is about what runs above the transport.
"""

from __future__ import annotations

import asyncio
import logging
import sys

import uvicorn
from pycrdt.websocket import ASGIServer, WebsocketServer


def _keep_going(exc: Exception, log: logging.Logger) -> bool:
    log.debug("ignored: %r", exc)
    return True


async def serve(port: int) -> None:
    """Run until cancelled."""
    websocket_server = WebsocketServer(exception_handler=_keep_going)
    app = ASGIServer(websocket_server)
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        ws="websockets-sansio",
        ws_per_message_deflate=False,
        lifespan="off",
        log_level="warning",
        access_log=False,
    )
    server = uvicorn.Server(config)
    async with websocket_server:
        await server.serve()


def main() -> None:
    """Entry point."""
    try:
        import uvloop

        uvloop.run(serve(int(sys.argv[1])))
    except ImportError:
        asyncio.run(serve(int(sys.argv[1])))


if __name__ == "__main__":
    main()
