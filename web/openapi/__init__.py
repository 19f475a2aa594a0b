"""`GET /openapi.json` (the description in `web.openapi_spec`) and `GET /docs`: the
same as one HTML page rendered here, with no script and nothing fetched from elsewhere,
so it works offline and behind the strictest Content-Security-Policy."""

from __future__ import annotations

import html
import json
from functools import cache
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from web.openapi.spec import spec
from web.settings import package_version

METHODS = ("get", "post", "put", "patch", "delete")
STYLE = """body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;
color:#1d1d1f}h2{margin-top:2.5rem;border-bottom:1px solid #ddd}section{margin:1.2rem 0}
code{font:13px ui-monospace,monospace;background:#f3f3f5;padding:.1rem .3rem;border-radius:4px}
.m{font-weight:700;text-transform:uppercase;display:inline-block;width:4.2rem}
table{border-collapse:collapse;font-size:14px}td{padding:.15rem .8rem .15rem 0;vertical-align:top}
pre{white-space:pre-wrap;background:#f7f7f9;padding:.8rem;border-radius:6px}
@media (prefers-color-scheme:dark){body{background:#161618;color:#e6e6e8}
code,pre{background:#26262a}h2{border-color:#333}}"""


@cache
def description(version: str) -> dict[str, Any]:
    """The OpenAPI document (built once)."""
    return spec(version)


async def openapi_json(_request: Request) -> Response:
    """`GET /openapi.json`: the OpenAPI 3.1 description of the HTTP routes."""
    body = json.dumps(description(package_version()), ensure_ascii=False, indent=1)
    return Response(body, media_type="application/json")


def _schema_text(schema: dict[str, Any]) -> str:
    if "$ref" in schema:
        return str(schema["$ref"]).rsplit("/", 1)[1]
    if schema.get("type") == "array":
        return f"array of {_schema_text(schema.get('items', {}))}"
    if "enum" in schema:
        return " | ".join(map(str, schema["enum"]))
    if schema.get("type") == "object" and schema.get("properties"):
        return "{" + ", ".join(schema["properties"]) + "}"
    kind = schema.get("type", "any")
    return "/".join(kind) if isinstance(kind, list) else str(kind)


def _operation(path: str, method: str, op: dict[str, Any], params: dict[str, Any]) -> str:
    rows = []
    for param in op.get("parameters", []):
        if "$ref" in param:
            param = params[param["$ref"].rsplit("/", 1)[1]]
        rows.append(
            f"<tr><td><code>{html.escape(param['name'])}</code></td><td>{param['in']}</td>"
            f"<td>{html.escape(_schema_text(param['schema']))}</td>"
            f"<td>{html.escape(param.get('description', ''))}</td></tr>"
        )
    body = ""
    if "requestBody" in op:
        kinds = [
            f"{m}: {_schema_text(c['schema'])}" for m, c in op["requestBody"]["content"].items()
        ]
        body = f"<p>Body: <code>{html.escape('; '.join(kinds))}</code></p>"
    answers = ", ".join(f"<code>{s}</code>" for s in op["responses"])
    table = f"<table>{''.join(rows)}</table>" if rows else ""
    return (
        f'<section id="{method}-{html.escape(path)}"><div><span class="m">{method}</span>'
        f"<code>{html.escape(path)}</code></div><p>{html.escape(op['summary'])}</p>"
        f"{table}{body}<p>Answers: {answers}</p></section>"
    )


@cache
def docs_html(version: str) -> str:
    """The description as a page, grouped by tag."""
    doc = description(version)
    params = doc["components"]["parameters"]
    by_tag: dict[str, list[str]] = {}
    for path, item in doc["paths"].items():
        for method in METHODS:
            if method in item:
                op = item[method]
                by_tag.setdefault(op["tags"][0], []).append(_operation(path, method, op, params))
    sections = "".join(f"<h2>{html.escape(t)}</h2>{''.join(ops)}" for t, ops in by_tag.items())
    intro = html.escape(doc["info"]["description"])
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>samepage API</title>'
        f'<meta name="viewport" content="width=device-width,initial-scale=1"><style>{STYLE}</style>'
        f"</head><body><h1>samepage HTTP API <small>{html.escape(version)}</small></h1>"
        f'<pre>{intro}</pre><p>Machine-readable: <a href="openapi.json">openapi.json</a> '
        f"(OpenAPI 3.1).</p>{sections}</body></html>"
    )


async def docs_page(_request: Request) -> Response:
    """`GET /docs`: the API description as a page."""
    return HTMLResponse(
        docs_html(package_version()),
        headers={"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'"},
    )


routes = [
    Route("/openapi.json", openapi_json, methods=["GET"]),
    Route("/docs", docs_page, methods=["GET"]),
]
