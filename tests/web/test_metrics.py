"""`/metrics` counters move as a scripted session says: open, edit, a refused frame,
close — and `/readyz` reports the database."""

from __future__ import annotations

import json
from importlib.metadata import version
from pathlib import Path

import httpx
import pytest
from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.parser import text_string_to_metric_families
from pycrdt import Doc, Text

from sync import protocol
from sync.errors import CloseCode
from tests.cluster.redis_server import RedisServer
from tests.helpers.clients import eventually, raw_client
from tests.helpers.server import ServerProcess
from web.metrics import LATENCY_BUCKETS, LightHistogram


async def scrape(http: httpx.AsyncClient) -> dict[str, float]:
    """Every sample as `name{label="value",...}` → value."""
    response = await http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
            samples[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return samples


async def test_counters_follow_a_scripted_session(server: ServerProcess) -> None:
    doc: Doc[int] = Doc()
    doc.get("content", type=Text).insert(0, "counted")
    frame = protocol.encode_update(doc.get_update())
    bad_frame = b"\x00\x07\x00"  # sync message of an unknown sub-type: refused with 1002
    async with httpx.AsyncClient(base_url=server.http) as http:
        before = await scrape(http)
        assert before["samepage_connections"] == 0
        assert before["samepage_rooms_loaded"] == 0
        async with raw_client(server.ws, "metered") as editor:
            await editor.send(frame)
            await eventually(lambda: bool(editor.of_type(protocol.SyncUpdate)), what="echo")
            content = await http.get("/api/rooms/metered/content")
            assert content.status_code == 200
            assert (await http.request("PROPFIND", "/healthz")).status_code == 405
            during = await scrape(http)
            assert during["samepage_connections"] == 1
            assert during["samepage_rooms_loaded"] == 1
            async with raw_client(server.ws, "metered") as bad:
                await bad.send(bad_frame)
                assert await bad.closed() == CloseCode.PROTOCOL_ERROR

        async def all_closed() -> bool:
            return (await scrape(http))["samepage_connections"] == 0

        await eventually(all_closed, what="connections closed")
        after = await scrape(http)

    assert after["samepage_room_loads_total"] == 1
    assert after["samepage_rooms_loaded"] == 1  # still within the unload grace period
    assert after["samepage_updates_persisted_total"] == 1
    assert after['samepage_messages_received_total{type="sync_update"}'] == 1
    assert after['samepage_received_bytes_total{type="sync_update"}'] == len(frame)
    assert after['samepage_messages_received_total{type="sync_other"}'] == 1
    assert after['samepage_messages_sent_total{type="sync_step1"}'] == 2  # one per join
    assert after['samepage_messages_sent_total{type="sync_update"}'] == 1  # the echo
    assert after['samepage_ws_closes_total{code="1002",reason="protocol_error"}'] == 1
    assert after['samepage_ws_closes_total{code="1000",reason="normal"}'] == 1
    assert after["samepage_group_commit_batch_size_count"] >= 1
    assert after["samepage_group_commit_batch_size_sum"] == 1
    assert after["samepage_group_commit_seconds_count"] >= 1
    assert after["samepage_fanout_seconds_count"] == 1
    assert after["samepage_event_streams"] == 0
    assert after["samepage_ws_opened_total"] == 2
    assert after["samepage_room_load_failures_total"] == 0
    # What every Python service exports, and the version
    assert after["process_cpu_seconds_total"] > 0 and after["process_open_fds"] > 0
    assert any(key.startswith("python_info{") for key in after)
    assert any(key.startswith("python_gc_collections_total{") for key in after)
    build = 'samepage_build_info{version="' + version("samepage") + '"}'
    assert after[build] == 1
    # HTTP durations by route template, never by room; no bus series without --redis
    http_key = 'samepage_http_request_duration_seconds_count{method="GET",route="%s",status="200"}'
    assert after[http_key % "/api/rooms/{room}/content"] == 1
    assert after[http_key % "/metrics"] >= 2
    assert not [key for key in after if "metered" in key or "PROPFIND" in key]
    brewed = [
        k
        for k in after
        if k.startswith('samepage_http_request_duration_seconds_count{method="other"')
    ]
    assert len(brewed) == 1 and after[brewed[0]] == 1  # a made-up method: no series of its own
    assert not [key for key in after if key.startswith("samepage_bus_")]


async def test_readyz_checks_the_database(server: ServerProcess) -> None:
    async with httpx.AsyncClient(base_url=server.http) as http:
        assert (await http.get("/healthz")).json() == {"status": "ok"}
        ready = await http.get("/readyz")
        assert ready.status_code == 200
        body = ready.json()
        assert body["status"] == "ready" and body["checks"]["database"]["ok"] is True
        assert "redis" not in body["checks"]


async def test_clustered_node_reports_redis_in_readyz_and_metrics(tmp_path: Path) -> None:
    with RedisServer() as redis:
        args = ["--redis", redis.url, "--node-id", "ops"]
        with ServerProcess(tmp_path / "db.sqlite", extra_args=args) as proc:
            async with httpx.AsyncClient(base_url=proc.http) as http:

                async def bus_up() -> bool:
                    return (await scrape(http)).get("samepage_bus_connected") == 1

                await eventually(bus_up, what="bus connected")
                ready = (await http.get("/readyz")).json()
                assert ready["status"] == "ready" and ready["checks"]["redis"]["ok"] is True
                assert "samepage_bus_dropped_total" in await scrape(http)
                redis.stop()
                # Still ready: the node serves its own clients; the body says degraded
                down = await http.get("/readyz")
                assert down.status_code == 200, down.text
                assert down.json()["status"] == "degraded"
                assert down.json()["checks"]["redis"]["ok"] is False
                assert down.json()["checks"]["database"]["ok"] is True
                async with raw_client(proc.ws, "alone") as client:
                    doc: Doc[int] = Doc()
                    doc.get("content", type=Text).insert(0, "still served")
                    await client.send(protocol.encode_update(doc.get_update()))
                    await eventually(lambda: bool(client.of_type(protocol.SyncUpdate)), what="echo")


async def test_json_logs_have_a_line_per_open_and_close_and_never_a_token(
    tmp_path: Path,
) -> None:
    secret_value = "tok3n-that-must-never-be-logged"
    log_path = tmp_path / "server.log"
    args = ["--log-format", "json", "--access-log"]
    with ServerProcess(tmp_path / "db.sqlite", extra_args=args, log_path=log_path) as proc:
        async with raw_client(proc.ws, f"logged?token={secret_value}") as client:
            await client.send(b"\x00\x07\x00")
            assert await client.closed() == CloseCode.PROTOCOL_ERROR
        async with httpx.AsyncClient(base_url=proc.http) as http:
            url = f"/api/rooms/logged/events?token={secret_value}&heartbeat=1"
            async with http.stream("GET", url) as response:
                assert response.status_code == 200
                async for line in response.aiter_lines():
                    if line.startswith("event: heartbeat"):
                        break

            def closed_lines() -> list[str]:
                text = log_path.read_text()
                return [line for line in text.splitlines() if "events close" in line]

            await eventually(lambda: bool(closed_lines()), what="event stream close line")
    text = log_path.read_text()
    assert secret_value not in text
    records = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    assert records and all({"time", "level", "logger", "message"} <= set(r) for r in records)
    messages = [r["message"] for r in records]
    opened = [m for m in messages if m.startswith("open room=logged")]
    closed = [m for m in messages if m.startswith("close room=logged")]
    assert len(opened) == 1 and len(closed) == 1
    assert "code=1002" in closed[0] and "duration=" in closed[0] and "in=3B" in closed[0]
    # ... and the fields as JSON keys
    close = next(r for r in records if r["message"].startswith("close room=logged"))
    assert close["room"] == "logged" and close["code"] == 1002
    assert close["peer"].startswith("127.0.0.1:") and isinstance(close["duration"], float)
    access = [r for r in records if r["logger"] == "samepage.access"]
    events = [r for r in access if r["route"] == "/api/rooms/{room}/events"]
    assert events and events[0]["status"] == 200 and events[0]["method"] == "GET"
    assert events[0]["path"] == "/api/rooms/logged/events" and events[0]["peer"] == "127.0.0.1"
    assert any(m.startswith("refused input room=logged") for m in messages)
    assert any(m.startswith("events open room=logged") for m in messages)
    assert any(m.startswith("loaded room logged") for m in messages)


def test_light_histogram_exports_what_prometheus_client_would() -> None:
    """`LightHistogram` (the fan-out timing, fed on every commit) renders the same
    buckets, count and sum as prometheus_client's Histogram given the same values."""
    values = [0.0, 0.0005, 0.0007, 0.001, 0.02, 0.1, 0.3, 2.5, 7.0, 1e-9]
    ours = LightHistogram(LATENCY_BUCKETS)
    registry = CollectorRegistry()
    theirs = Histogram("t", "t", buckets=LATENCY_BUCKETS, registry=registry)
    for value in values:
        ours.observe(value)
        theirs.observe(value)
    rendered = {(s.name, s.labels.get("le")): s.value for s in ours.family("t", "t").samples}
    expected = {
        (s.name, s.labels.get("le")): s.value
        for family in registry.collect()
        for s in family.samples
        if not s.name.endswith("_created")
    }
    assert rendered == pytest.approx(expected)
