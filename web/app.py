"""`create_app(settings)`: the Starlette application and its typed lifespan."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import BaseRoute, WebSocketRoute

from storage.memory import MemoryStore
from storage.sql.engine import database_url
from storage.sql.store import SqlStore
from storage.types import Store
from sync.manager import RoomManager
from web import (
    admin,
    admin_access,
    admin_rooms,
    api,
    cluster_view,
    content,
    events,
    fork,
    health,
    history_api,
    loopwatch,
    metrics,
    openapi,
)
from web.access import AccessControl, access_store_for
from web.cluster import default_node_id, make_cluster_link
from web.cors import Cors
from web.errors import exception_handlers
from web.feed import EventHub
from web.httpobs import RequestTiming
from web.loopwatch import ActiveRequests, LoopWatch
from web.owner import DatabaseHold
from web.settings import Settings
from web.state import AppState
from web.text_history import TextHistory
from web.webhooks.service import start_webhooks
from web.ws import websocket_endpoint

log = logging.getLogger("samepage.web")


def make_store(settings: Settings, on_batch: Callable[[int, float], None] | None = None) -> Store:
    """The store named by `--db`: `memory://` or a path / SQLAlchemy URL; `on_batch`
    receives (updates, seconds) of each group commit."""
    if settings.db.startswith("memory://"):
        return MemoryStore()
    return SqlStore(
        database_url(settings.db),
        sqlite_synchronous=settings.sqlite_synchronous,
        on_batch=on_batch,
        migrate=settings.migrate,
        commit_window=settings.commit_window,
    )


def _page_routes() -> list[BaseRoute]:
    try:
        from web.pages import page_routes
    except ImportError:  # the page module is optional while the front-end is built
        return []
    routes: list[BaseRoute] = page_routes()
    return routes


def create_app(settings: Settings | None = None, *, freeze_heap: bool = False) -> Starlette:
    """Build the app; the lifespan opens the store and closes rooms on the way out.
    `freeze_heap`: once started, keep what exists out of the garbage collector's full
    collections (`web.loopwatch.freeze_heap`; for the process of one server)."""
    settings = settings or Settings()
    app_metrics = metrics.Metrics()  # one registry per app
    watch = LoopWatch(app_metrics.loop_lag_seconds.observe)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        hold = DatabaseHold(settings)  # one database, one owner (or one cluster)
        await hold.start()
        store = make_store(settings, on_batch=app_metrics.on_batch)
        try:
            await store.start()
        except BaseException:
            await hold.aclose()
            raise
        manager = RoomManager(store, settings.sync)
        link = make_cluster_link(settings, manager)
        if link is not None:
            await link.start()
        text_history = TextHistory(
            store, manager, settings.text_timelines, settings.sync.checkpoint_every
        )
        access = AccessControl(
            access_store_for(store), manager, link, max_token_ttl_s=settings.max_token_ttl_s
        )
        await access.start()
        state = AppState(settings, store, manager, text_history, access)
        watch.start()
        app.state.samepage = state
        app.state.cluster = link  # ClusterLink or None: bus state and catch-up counters
        app_metrics.attach(state, link)
        app.state.metrics = app_metrics
        app.state.events = state.events = EventHub(state, app_metrics)
        state.webhooks = await start_webhooks(
            settings.webhooks,
            manager,
            link.bus.node_id if link is not None else settings.node_id or default_node_id(),
            settings.redis,
            app_metrics.webhook_outcome,
        )
        app.state.cluster_view = await cluster_view.start_cluster_view(
            settings.redis, manager, lambda: state.connections, link
        )
        if freeze_heap:
            loopwatch.freeze_heap()
        log.info("samepage ready, database %s", settings.db)
        try:
            yield
        finally:
            state.begin_shutdown()
            await manager.aclose()
            if state.webhooks is not None:
                await state.webhooks.aclose()
            await text_history.aclose()
            await access.aclose()
            await app.state.cluster_view.aclose()
            if link is not None:
                await link.aclose()
            await store.aclose()
            await state.offload.aclose()
            await watch.aclose()
            await hold.aclose()
            log.info("samepage stopped: rooms flushed, database closed")

    routes: list[BaseRoute] = [
        WebSocketRoute("/ws/{room:path}", websocket_endpoint),
        *api.routes,
        *content.routes,
        *history_api.routes,
        *fork.routes,
        *events.routes,
        *health.routes,
        *metrics.routes,
        *admin.routes,
        *admin_access.routes,
        *cluster_view.routes,
        *admin_rooms.routes,
        *openapi.routes,
        *_page_routes(),
    ]
    return Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers=exception_handlers(),
        middleware=[
            Middleware(Cors, settings=settings),
            Middleware(
                RequestTiming, observe=app_metrics.observe_request, access_log=settings.access_log
            ),
            Middleware(ActiveRequests, watch=lambda: watch),
        ],
    )
