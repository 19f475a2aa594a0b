"""`GET /metrics`: Prometheus text format from a per-app registry.

Live values (connections, rooms, traffic) are read at scrape time by a custom collector
from plain counters the sync objects keep; histograms and event counters are fed by
hooks (commit observers, the group-commit callback). Nothing here is a module global.
"""

from __future__ import annotations

import bisect
import math
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.exposition import generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sync.awareness import AwarenessEntry
from sync.errors import CloseCode
from sync.room import Room
from sync.types import CommitNotice, RoomListener

if TYPE_CHECKING:
    from web.state import AppState

HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
HTTP_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)
LOOP_LAG_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
BATCH_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000)


def samepage_version() -> str:
    """The installed package's version (`unknown` when run from a bare source tree)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("samepage")
    except PackageNotFoundError:
        return "unknown"


def close_reason(code: int) -> str:
    """The close code's name (`slow_consumer`, `rate_limited`...) or `other`."""
    try:
        return CloseCode(code).name.lower()
    except ValueError:
        return "other"


class LightHistogram:
    """A histogram for the event loop's hot path: no lock (the loop is its only
    writer), one bisect an observation; exported as a Prometheus histogram."""

    __slots__ = ("bounds", "counts", "total")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)  # the last: above every bound (+Inf)
        self.total = 0.0

    def observe(self, value: float) -> None:
        """Count one value."""
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.total += value

    def family(self, name: str, documentation: str) -> HistogramMetricFamily:
        """The histogram as of now: cumulative buckets, `le` inclusive."""
        buckets: list[tuple[str, float]] = []
        running = 0
        for bound, count in zip((*self.bounds, math.inf), self.counts, strict=True):
            running += count
            buckets.append(("+Inf" if bound == math.inf else repr(float(bound)), running))
        return HistogramMetricFamily(name, documentation, buckets=buckets, sum_value=self.total)


class _CommitCollector(Collector):
    """Exports what `Metrics.on_commit` counts."""

    def __init__(self, metrics: Metrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[Metric]:
        """Yield the commit counters as of now."""
        metrics = self._metrics
        yield CounterMetricFamily(
            "samepage_updates_persisted",
            "Updates committed to the store",
            value=metrics.updates_persisted,
        )
        yield metrics.fanout_seconds.family(
            "samepage_fanout_seconds",
            "From an update applied to the room until it is committed and queued to every peer",
        )


class _LiveCollector(Collector):
    """Reads the running app's own counters at scrape time."""

    def __init__(
        self,
        source: Callable[[], AppState | None],
        sse_streams: Callable[[], int],
        cluster: Callable[[], Any],
    ) -> None:
        self._source = source
        self._sse_streams = sse_streams
        self._cluster = cluster

    def collect(self) -> Iterator[Metric]:
        """Yield the current values (nothing before the app has started)."""
        state = self._source()
        if state is None:
            return
        manager = state.manager
        traffic = manager.traffic
        yield GaugeMetricFamily(
            "samepage_connections", "Open WebSocket connections", value=state.connections
        )
        yield GaugeMetricFamily(
            "samepage_event_streams", "Open Server-Sent Events streams", value=self._sse_streams()
        )
        yield GaugeMetricFamily(
            "samepage_rooms_loaded", "Rooms in memory", value=len(manager.rooms)
        )
        yield GaugeMetricFamily(
            "samepage_updates_inflight",
            "Updates applied but not yet committed",
            value=sum(room.inflight for room in manager.rooms.values()),
        )
        yield CounterMetricFamily("samepage_room_loads", "Room loads", value=manager.loads)
        yield CounterMetricFamily(
            "samepage_room_load_failures",
            "Room loads that failed (the joining clients were refused with 1013)",
            value=manager.load_failures,
        )
        yield CounterMetricFamily(
            "samepage_ws_opened",
            "WebSocket connections admitted to a room",
            value=state.connections_opened,
        )
        timelines = state.text_history.timelines
        yield GaugeMetricFamily(
            "samepage_text_timelines", "Rooms with a text timeline in memory", value=timelines.kept
        )
        yield CounterMetricFamily(
            "samepage_text_timeline_builds",
            "Text timelines built from stored rows",
            value=timelines.builds,
        )
        reads = CounterMetricFamily(
            "samepage_version_text_reads",
            "Reads of a version's text, by who answered (timeline, or Yrs rebuild)",
            labels=["source"],
        )
        reads.add_metric(["timeline"], timelines.answered)
        reads.add_metric(["yrs"], timelines.declined)
        yield reads
        yield CounterMetricFamily("samepage_room_unloads", "Room unloads", value=manager.unloads)
        for name, help_text, values in [
            ("samepage_messages_received", "WebSocket frames received", traffic.frames_in),
            ("samepage_received_bytes", "WebSocket bytes received", traffic.bytes_in),
            ("samepage_messages_sent", "WebSocket frames sent", traffic.frames_out),
            ("samepage_sent_bytes", "WebSocket bytes sent", traffic.bytes_out),
        ]:
            family = CounterMetricFamily(name, help_text + " by message type", labels=["type"])
            for kind, count in sorted(values.items()):
                family.add_metric([kind], count)
            yield family
        closes = CounterMetricFamily(
            "samepage_ws_closes",
            "WebSocket connections ended or refused, by close code",
            labels=["code", "reason"],
        )
        for code, count in sorted(traffic.closes.items()):
            closes.add_metric([str(code), close_reason(code)], count)
        yield closes
        yield from self._cluster_metrics(self._cluster())

    @staticmethod
    def _cluster_metrics(link: Any) -> Iterator[Metric]:
        """The cluster link's own counters (only with --redis)."""
        if link is None:
            return
        bus = getattr(link, "bus", None)
        yield GaugeMetricFamily(
            "samepage_bus_connected",
            "1 while the Redis bus is connected",
            value=1 if getattr(bus, "connected", False) else 0,
        )
        yield CounterMetricFamily(
            "samepage_bus_dropped",
            "Bus messages not published (queue overflow or Redis errors)",
            value=getattr(bus, "dropped", 0),
        )
        yield CounterMetricFamily(
            "samepage_cluster_catch_ups",
            "Catch-ups from the database after missed bus messages",
            value=getattr(link, "catch_ups", 0),
        )
        yield CounterMetricFamily(
            "samepage_cluster_caught_up_updates",
            "Updates applied from the database rather than the bus",
            value=getattr(link, "caught_up", 0),
        )
        yield CounterMetricFamily(
            "samepage_remote_updates_applied",
            "Updates committed by another node that changed a room here (from the bus or "
            "a catch-up); 0 when every room's clients are routed to one node",
            value=getattr(link, "remote_applied", 0),
        )


class Metrics(RoomListener):
    """The app's metrics: one `CollectorRegistry` per app."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.state: AppState | None = None
        self.sse_streams: Callable[[], int] = lambda: 0
        self.started = time.monotonic()
        self.last_activity: dict[str, float] = {}  # room -> wall time of its last edit/presence
        r = self.registry
        # The two fed once per commit: plain numbers, exported by the live collector
        # (prometheus_client's take a lock and check their state on every call).
        self.updates_persisted = 0
        self.fanout_seconds = LightHistogram(LATENCY_BUCKETS)
        self.commit_batch_size = Histogram(
            "samepage_group_commit_batch_size",
            "Updates per group-commit transaction",
            buckets=BATCH_BUCKETS,
            registry=r,
        )
        self.commit_seconds = Histogram(
            "samepage_group_commit_seconds",
            "Duration of one group-commit transaction",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.ephemeral_messages = Counter(
            "samepage_ephemeral_messages",
            "Ephemeral messages relayed (WebSocket and HTTP)",
            registry=r,
        )
        self.event_stream_closes = Counter(
            "samepage_event_stream_closes",
            "Server-Sent Events streams ended, by reason",
            ["reason"],
            registry=r,
        )
        self.http_seconds = Histogram(
            "samepage_http_request_duration_seconds",
            "HTTP requests by method, route template (never a room name) and status; an "
            "event stream counts until it ends",
            ["method", "route", "status"],
            buckets=HTTP_BUCKETS,
            registry=r,
        )
        self._http_series: dict[tuple[str, str, int], Any] = {}
        # What every Python service exports: process_* (CPU, memory, file descriptors)
        # and python_* (version, garbage collections), here in the app's own registry.
        ProcessCollector(registry=r)
        PlatformCollector(registry=r)
        GCCollector(registry=r)
        self.build_info = Gauge(
            "samepage_build_info",
            "The running samepage's version (always 1)",
            ["version"],
            registry=r,
        )
        self.build_info.labels(samepage_version()).set(1)
        self.loop_lag_seconds = Histogram(
            "samepage_event_loop_lag_seconds",
            "How late the event loop ran a 50 ms timer (a stall holds every room)",
            buckets=LOOP_LAG_BUCKETS,
            registry=r,
        )
        self.offloaded_jobs = Counter(
            "samepage_offloaded_jobs",
            "Document-sized jobs run in worker processes, by outcome",
            ["outcome"],
            registry=r,
        )
        self.webhook_deliveries = Counter(
            "samepage_webhook_deliveries",
            "Webhook attempts by outcome (delivered, http_error, timeout, connection_error) "
            "and events given up or dropped (gave_up, dropped)",
            ["outcome"],
            registry=r,
        )
        self.webhook_seconds = Histogram(
            "samepage_webhook_attempt_seconds",
            "Duration of one webhook POST",
            buckets=HTTP_BUCKETS,
            registry=r,
        )
        self.cluster: Any = None  # the ClusterLink with --redis
        live = _LiveCollector(lambda: self.state, lambda: self.sse_streams(), lambda: self.cluster)
        r.register(live)
        r.register(_CommitCollector(self))

    def attach(self, state: AppState, cluster: Any = None) -> None:
        """Start observing a running app (called by the lifespan once it is built)."""
        self.state = state
        self.cluster = cluster
        state.offload.on_outcome = lambda outcome: self.offloaded_jobs.labels(outcome).inc()
        state.manager.add_listener(self)

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        """One HTTP request done (web.httpobs.RequestTiming). A method outside the
        standard ones counts as `other`: a client must not mint new series."""
        key = (method if method in HTTP_METHODS else "other", route, status)
        child = self._http_series.get(key)
        if child is None:
            child = self._http_series[key] = self.http_seconds.labels(key[0], route, str(status))
        child.observe(seconds)

    def on_ephemeral(self, room: Room, data: str) -> None:
        """Listener: count relayed ephemeral messages."""
        self.ephemeral_messages.inc()

    def on_awareness(self, room: Room, owner: object, entries: list[AwarenessEntry]) -> None:
        """Listener: presence is activity."""
        self.last_activity[room.name] = time.time()

    def on_commit(self, notice: CommitNotice) -> None:
        """Commit observer: count persisted updates, time the fan-out."""
        self.updates_persisted += len(notice.updates)
        self.last_activity[notice.room] = time.time()
        if notice.received:
            self.fanout_seconds.observe(max(0.0, time.monotonic() - notice.received))

    def webhook_outcome(self, outcome: str, seconds: float) -> None:
        """A webhook attempt ended, or an event was given up or dropped."""
        self.webhook_deliveries.labels(outcome).inc()
        if seconds:
            self.webhook_seconds.observe(seconds)

    def on_batch(self, size: int, seconds: float) -> None:
        """Group-commit callback (`GroupCommitWriter(on_batch=...)`)."""
        self.commit_batch_size.observe(size)
        self.commit_seconds.observe(seconds)

    def render(self) -> bytes:
        """The Prometheus text exposition."""
        return generate_latest(self.registry)


async def metrics_endpoint(request: Request) -> Response:
    """`GET /metrics`: Prometheus text format."""
    metrics: Metrics = request.app.state.metrics
    return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)


routes = [Route("/metrics", metrics_endpoint, methods=["GET"])]
