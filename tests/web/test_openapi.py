"""The OpenAPI description: valid OpenAPI 3.1 (openapi-spec-validator), every route of
the app described and every described route in the app, and a docs page that needs
nothing from the network."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest
from openapi_spec_validator import validate
from starlette.routing import Route

from tests.helpers.server import ServerProcess, module_server
from web.app import create_app
from web.openapi.spec import spec
from web.settings import Settings

METHODS = {"get", "post", "put", "patch", "delete"}


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    yield from module_server(tmp_path_factory.mktemp("openapi"))


def app_operations() -> set[tuple[str, str]]:
    """(method, path) of every HTTP route of the app, `{room:path}` as `{room}`."""
    found = set()
    for route in create_app(Settings(db="memory://")).routes:
        if isinstance(route, Route):
            path = re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path)
            found |= {(m.lower(), path) for m in route.methods or () if m != "HEAD"}
    return found


def test_the_served_description_is_valid_openapi_3_1(srv: ServerProcess) -> None:
    served = httpx.get(f"{srv.http}/openapi.json", timeout=10)
    assert served.status_code == 200 and served.headers["content-type"] == "application/json"
    document = served.json()
    assert document["openapi"].startswith("3.1")
    validate(document)  # raises on any error


def test_every_route_is_described_and_every_description_is_a_route() -> None:
    described = {
        (method, path)
        for path, item in spec("test")["paths"].items()
        for method in item
        if method in METHODS
    }
    routes = app_operations()
    assert routes - described == set(), "routes missing in web/openapi/rooms.py or service.py"
    assert described - routes == set(), "described routes the app does not have"


def test_each_operation_names_its_path_parameters() -> None:
    for path, item in spec("test")["paths"].items():
        for method, operation in item.items():
            names = {
                p.get("name") or p["$ref"].rsplit("/", 1)[1]
                for p in operation.get("parameters", [])
            }
            assert set(re.findall(r"\{(\w+)\}", path)) <= names, (method, path)


def test_the_docs_page_works_offline(srv: ServerProcess) -> None:
    page = httpx.get(f"{srv.http}/docs", timeout=10)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in page.headers["content-security-policy"]
    text = page.text
    assert "<script" not in text and "<link" not in text
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", text), "fetches from elsewhere"
    for _, path in app_operations():
        assert f"<code>{path}</code>" in text, path
