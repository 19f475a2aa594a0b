"""The scenarios: what the load generator does and which servers take part."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

PEERS = ["reference", "hocuspocus", "pycrdt-websocket", "relay", "samepage"]
# samepage on uvicorn's ASGI WebSocket implementations instead of its own (web.wsnative)
WS_LAYERS = [
    "samepage-sansio",
    "samepage-wsproto",
    # ... and other WebSocket servers under samepage's sync layer (bench/peers/layer_*.py)
    "samepage-websockets",
    "samepage-picows",
    "samepage-granian",
    "samepage-granian-rsgi",
]
# samepage --workers 1 and --workers 2, both through the Redis bus and one SQLite file.
SCALE_OUT = ["samepage-w1", "samepage-w2", "samepage-w1-pg", "samepage-w2-pg"]
# Two nodes behind nginx hashing the room path: each room lives on one node (s7 too)
AFFINE = ["samepage-affine", "samepage-affine-pg"]


@dataclass(frozen=True)
class Scenario:
    """One scenario: a load generator configuration per mode, and its servers."""

    key: str
    title: str
    servers: list[str]
    full: dict[str, Any]
    quick: dict[str, Any]
    needs_document: bool = False
    timeout_s: float = 300.0
    notes: list[str] = field(default_factory=list)

    def config(self, quick: bool) -> dict[str, Any]:
        """The load generator's configuration (without the server's URL)."""
        return {"roomPrefix": f"{self.key}-r", **(self.quick if quick else self.full)}


FANOUT = {"scenario": "fanout", "p99LimitMs": 100, "connectConcurrency": 50}

SCENARIOS: dict[str, Scenario] = {
    s.key: s
    for s in [
        Scenario(
            "s1",
            "1 room x 50 clients, one writer, rising rate",
            [*PEERS, "samepage-memory", "samepage-no-timelines"],
            {
                **FANOUT,
                "rooms": 1,
                "clientsPerRoom": 50,
                "rates": [
                    250,
                    500,
                    1000,
                    1500,
                    2000,
                    2500,
                    3000,
                    4000,
                    5000,
                    6500,
                    8000,
                    10000,
                    13000,
                    16000,
                    20000,
                ],
                "stepSeconds": 4,
                "drainSeconds": 3,
                "maxSeconds": 200,
            },
            {
                **FANOUT,
                "rooms": 1,
                "clientsPerRoom": 50,
                "rates": [500, 1000, 2000, 3000, 4000, 6000, 9000, 13000],
                "stepSeconds": 1.5,
                "drainSeconds": 2,
                "maxSeconds": 60,
            },
        ),
        Scenario(
            "s2",
            "100 rooms x 10 clients, one writer per room, rising aggregate rate",
            [*PEERS, *WS_LAYERS, "samepage-memory"],
            {
                **FANOUT,
                "rooms": 100,
                "clientsPerRoom": 10,
                "rates": [500, 1000, 2000, 3000, 4000, 5000, 6000, 7500, 10000, 15000, 20000],
                "stepSeconds": 4,
                "drainSeconds": 3,
                "maxSeconds": 200,
            },
            {
                **FANOUT,
                "rooms": 100,
                "clientsPerRoom": 10,
                "rates": [1000, 3000, 6000, 10000, 20000],
                "stepSeconds": 1.5,
                "drainSeconds": 2,
                "maxSeconds": 60,
            },
        ),
        Scenario(
            "s3",
            "1,000 idle connections (100 rooms x 10): handshakes/s, memory per connection",
            [*PEERS, *WS_LAYERS],
            {"scenario": "idle", "rooms": 100, "clientsPerRoom": 10, "connectConcurrency": 50},
            {"scenario": "idle", "rooms": 100, "clientsPerRoom": 10, "connectConcurrency": 50},
            timeout_s=180,
        ),
        Scenario(
            "s4",
            "joining a 100,000-insert document: alone and 10 at once",
            [p for p in PEERS if p != "relay"],
            {"scenario": "join", "ops": 100_000, "sequentialJoins": 5, "concurrentJoins": 10},
            {"scenario": "join", "ops": 100_000, "sequentialJoins": 3, "concurrentJoins": 10},
            needs_document=True,
            timeout_s=240,
        ),
        Scenario(
            "s6",
            "history: random versions of a room with 100,000 stored updates",
            ["samepage", "samepage-no-timelines"],  # text timeline vs Yrs rebuild
            {
                "scenario": "history",
                "updates": 100_000,
                "window": 1000,
                "probes": 20,
                "seedTimeoutS": 150,
            },
            {
                "scenario": "history",
                "updates": 10_000,
                "window": 1000,
                "probes": 10,
                "seedTimeoutS": 60,
            },
            timeout_s=240,
        ),
        Scenario(
            "s7",
            "scale-out: 1 vs 2 worker processes, 100 rooms x 10 clients, rising aggregate rate",
            [*SCALE_OUT, *AFFINE],
            {
                **FANOUT,
                "rooms": 100,
                "clientsPerRoom": 10,
                "rates": [
                    100,
                    200,
                    300,
                    400,
                    500,
                    650,
                    800,
                    1000,
                    1250,
                    1500,
                    2000,
                    3000,
                    5000,
                    7500,
                    10000,
                ],
                "stepSeconds": 4,
                "drainSeconds": 3,
                "maxSeconds": 200,
            },
            {
                **FANOUT,
                "rooms": 100,
                "clientsPerRoom": 10,
                "rates": [100, 200, 300, 500, 800, 1500, 3000],
                "stepSeconds": 1.5,
                "drainSeconds": 2,
                "maxSeconds": 60,
            },
        ),
    ]
}
# Scenario 5 (persistence cost) is samepage (SQLite) against samepage (memory://) in s1.
