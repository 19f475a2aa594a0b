"""The HTML pages: the rooms list (`/`), the editor (`/r/{room}`), the embeddable editor
(`/embed/{room}`), the service worker (`/sw.js`) and the bundled static files."""

from __future__ import annotations

import hashlib
import html
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from string import Template

from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from sync.names import is_valid_room_name

WEB_DIR = Path(__file__).resolve().parent
STATIC_DIR = WEB_DIR / "static"
TEMPLATE_DIR = WEB_DIR / "templates"

# The templates this module renders (other modules may keep theirs in the same folder).
PAGE_TEMPLATES = ("home", "editor", "embed", "notfound")

# Assets whose content hash goes into their URL (`?v=`), so a new build is never mixed
# with a cached old one.
VERSIONED = {"css": "samepage.css", "editor": "editor.js", "home": "home.js"}


def _csp(request: Request, frame_ancestors: str) -> str:
    """A strict Content-Security-Policy: our own scripts, WebSockets to this host only.

    CodeMirror injects its styles at run time, hence `style-src 'unsafe-inline'`.
    """
    host = request.headers.get("host", "")
    return (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        f"img-src 'self' data:; connect-src 'self' ws://{host} wss://{host}; "
        f"base-uri 'none'; form-action 'self'; frame-ancestors {frame_ancestors}"
    )


def asset_versions(static_dir: Path) -> dict[str, str]:
    """A short content hash per versioned asset (`dev` when it has not been built)."""
    versions = {}
    for key, name in VERSIONED.items():
        path = static_dir / name
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12] if path.exists() else "dev"
        versions[f"v_{key}"] = digest
    return versions


@dataclass(frozen=True)
class Pages:
    """Renders the page templates; built once by `page_routes`."""

    templates: dict[str, Template]
    versions: dict[str, str]

    @classmethod
    def load(cls, static_dir: Path, template_dir: Path = TEMPLATE_DIR) -> Pages:
        """Read every template and hash the assets."""
        templates = {
            name: Template((template_dir / f"{name}.html").read_text(encoding="utf-8"))
            for name in PAGE_TEMPLATES
        }
        return cls(templates, asset_versions(static_dir))

    def render(
        self,
        request: Request,
        name: str,
        *,
        status: int = 200,
        frame_ancestors: str = "'self'",
        **values: str,
    ) -> HTMLResponse:
        """Fill template `name` with HTML-escaped `values`."""
        base = str(request.scope.get("root_path", "")).rstrip("/")
        fields = {"base": base, "static": f"{base}/static", **self.versions, **values}
        body = self.templates[name].substitute({k: html.escape(v) for k, v in fields.items()})
        headers = {
            "Content-Security-Policy": _csp(request, frame_ancestors),
            "Referrer-Policy": "same-origin",
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-cache",
        }
        return HTMLResponse(body, status_code=status, headers=headers)

    def not_found(self, request: Request, room: str) -> HTMLResponse:
        """The 404 page for a malformed room name."""
        detail = (
            f"“{room[:60]}” cannot be a room. Room names start with a letter or a digit "
            "and use only letters, digits, “.”, “_” and “-” (up to 128 characters)."
        )
        return self.render(request, "notfound", status=404, detail=detail)


def page_routes(static_dir: Path | None = None) -> list[BaseRoute]:
    """The page routes and the `/static` mount, ready to add to the app's routes."""
    static = static_dir or STATIC_DIR
    pages = Pages.load(static)

    async def home(request: Request) -> Response:
        """`GET /`: the rooms that exist and a field to open one."""
        return pages.render(request, "home")

    def editor_view(
        template: str, frame_ancestors: str
    ) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            room = request.path_params["room"]
            if not is_valid_room_name(room):
                return pages.not_found(request, room)
            return pages.render(request, template, frame_ancestors=frame_ancestors, room=room)

        endpoint.__doc__ = f"`GET /…/{{room}}`: the {template} page."
        return endpoint

    async def service_worker(_request: Request) -> Response:
        """`GET /sw.js`: at the root so that it may control every page."""
        return FileResponse(
            static / "sw.js",
            media_type="text/javascript",
            headers={"Cache-Control": "no-cache"},
        )

    return [
        Route("/", home, methods=["GET", "HEAD"], name="home"),
        Route("/r/{room:path}", editor_view("editor", "'self'"), methods=["GET", "HEAD"]),
        Route("/embed/{room:path}", editor_view("embed", "*"), methods=["GET", "HEAD"]),
        Route("/sw.js", service_worker, methods=["GET", "HEAD"], name="service_worker"),
        # The editor bundle is ~460 kB; gzip brings it to about a third.
        Mount(
            "/static",
            app=GZipMiddleware(StaticFiles(directory=static, check_dir=False), minimum_size=1024),
            name="static",
        ),
    ]
