import gzip
import json
import re
from collections.abc import AsyncIterator
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest
from graphql import build_schema, parse, validate
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from app.api.graphiql import (
    AUTHORIZATION_TEMPLATE,
    STATIC_URL_PREFIX,
    default_tabs,
    favicon_route,
    graphiql_html,
    graphiql_mount,
)
from app.api.schema import get_schema

_STATIC_DIR = Path(__file__).resolve().parents[2] / "app" / "api" / "static" / "graphiql"
OPERATION = re.compile(r"^(?:query|mutation|subscription) (\w+)", re.M)


class _ReferenceCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.references: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("src", "href") and value is not None:
                self.references.append(value)


def _references(page: str) -> list[str]:
    collector = _ReferenceCollector()
    collector.feed(page)
    collector.close()
    return collector.references


async def _page(request: Request) -> HTMLResponse:
    return HTMLResponse(graphiql_html())


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    app = Starlette(routes=[Route("/graphql", _page), graphiql_mount(), favicon_route()])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


async def test_graphiql_page_loads_only_local_assets() -> None:
    page = graphiql_html()

    assert "http://" not in page
    assert "https://" not in page
    references = _references(page)
    assert len(references) == 5  # favicon, stylesheet, React, ReactDOM, GraphiQL
    for reference in references:
        assert reference.startswith(STATIC_URL_PREFIX + "/"), reference


async def test_graphiql_page_has_title_endpoint_and_default_query() -> None:
    page = graphiql_html("/api/graphql")

    assert "<title>Credits GraphiQL</title>" in page
    assert '"/api/graphql"' in page
    assert "GraphiQL.createFetcher" in page
    assert "subscriptionUrl" in page
    assert "defaultTabs" in page


async def test_graphiql_endpoint_cannot_break_out_of_the_script_element() -> None:
    page = graphiql_html("/graphql</script><script>alert(1)</script>")

    assert page.count("</script>") == 4
    assert "alert(1)" in page


async def test_every_asset_referenced_by_the_page_is_served(client: httpx.AsyncClient) -> None:
    response = await client.get("/graphql")
    assert response.status_code == 200

    expected_types = {
        ".js": ("text/javascript", "application/javascript"),
        ".css": ("text/css",),
        ".svg": ("image/svg+xml",),
    }
    for reference in _references(response.text):
        asset = await client.get(reference)
        assert asset.status_code == 200, reference
        assert len(asset.content) > (100 if reference.endswith(".svg") else 5_000), reference
        suffix = reference[reference.rindex(".") :]
        content_type = asset.headers["content-type"].split(";")[0].strip()
        assert content_type in expected_types[suffix], (reference, content_type)


async def test_unknown_static_asset_is_not_found(client: httpx.AsyncClient) -> None:
    response = await client.get(f"{STATIC_URL_PREFIX}/missing.js")

    assert response.status_code == 404


async def test_graphiql_is_the_production_build_of_graphiql_3() -> None:
    bundle = (_STATIC_DIR / "graphiql.min.js").read_text(encoding="utf-8")

    assert len(bundle) < 1_200_000  # the development build was 3.5 MB
    assert "process.env.NODE_ENV" not in bundle
    assert ".GraphiQL=" in bundle[:1000]  # the UMD wrapper sets window.GraphiQL
    assert "https://" not in graphiql_html()


async def test_static_assets_are_gzipped_for_clients_that_accept_it(
    client: httpx.AsyncClient,
) -> None:
    plain = await client.get(
        f"{STATIC_URL_PREFIX}/graphiql.min.js", headers={"Accept-Encoding": "identity"}
    )
    url = f"{STATIC_URL_PREFIX}/graphiql.min.js"
    async with client.stream("GET", url, headers={"Accept-Encoding": "gzip"}) as gzipped:
        sent = b"".join([chunk async for chunk in gzipped.aiter_raw()])

    assert "content-encoding" not in plain.headers
    assert gzipped.headers["content-encoding"] == "gzip"
    assert len(sent) < len(plain.content) // 2
    assert gzip.decompress(sent) == plain.content


async def test_favicon_is_an_icon_at_the_root_and_beside_graphiql(
    client: httpx.AsyncClient,
) -> None:
    icon = await client.get("/favicon.ico")
    svg = await client.get(f"{STATIC_URL_PREFIX}/favicon.svg")

    assert icon.status_code == 200
    assert icon.headers["content-type"] == "image/x-icon"
    assert icon.content[:4] == b"\x00\x00\x01\x00"  # ICO header, one image
    assert icon.content[22:30] == b"\x89PNG\r\n\x1a\n"
    assert svg.status_code == 200
    assert svg.text.startswith("<svg")


def test_default_tabs_are_the_first_session_and_a_live_balance_with_an_auth_template() -> None:
    first, live = default_tabs()
    template = json.loads(first["headers"])

    assert template == AUTHORIZATION_TEMPLATE == json.loads(live["headers"])
    assert [name for name in OPERATION.findall(first["query"])] == [
        "CreateCustomer",
        "PurchaseCredits",
        "GrantPromotionalCredits",
        "ConsumeCredits",
        "Customer",
    ]
    assert OPERATION.findall(live["query"]) == ["LiveBalance"]
    assert "subscription LiveBalance" in live["query"]
    assert "customerId" in json.loads(first["variables"])


def test_the_first_tab_is_the_readme_first_session_word_for_word() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    session = readme.split("## A first session", 1)[1].split("```graphql\n", 1)[1]
    session = session.split("```", 1)[0]

    assert default_tabs()[0]["query"].endswith(session)


def test_default_tabs_parse_against_the_served_schema() -> None:
    schema = get_schema().as_str()
    for tab in default_tabs():
        assert validate(build_schema(schema), parse(tab["query"])) == []


def test_the_static_readme_names_the_versions_scripts_vendor_assets_fetches() -> None:
    root = Path(__file__).resolve().parents[2]
    fetched = re.findall(
        r"^  \[([\w-]+@[\d.]+)\]=", (root / "scripts" / "vendor-assets").read_text(), re.M
    )
    readme = (_STATIC_DIR / "README.md").read_text(encoding="utf-8")

    assert sorted(fetched) == [
        "graphiql@3.9.0",
        "graphql-ws@6.4.2",
        "react-dom@18.3.1",
        "react@18.3.1",
    ]
    for package in fetched:
        if not package.startswith("graphql-ws"):  # the dashboard's README names that one
            assert f"`{package}`" in readme, package
