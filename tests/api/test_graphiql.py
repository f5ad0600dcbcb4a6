from collections.abc import AsyncIterator
from html.parser import HTMLParser

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from app.api.graphiql import STATIC_URL_PREFIX, graphiql_html, graphiql_mount


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
    app = Starlette(routes=[Route("/graphql", _page), graphiql_mount()])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


async def test_graphiql_page_loads_only_local_assets() -> None:
    page = graphiql_html()

    assert "http://" not in page
    assert "https://" not in page
    references = _references(page)
    assert len(references) == 4
    for reference in references:
        assert reference.startswith(STATIC_URL_PREFIX + "/"), reference


async def test_graphiql_page_has_title_endpoint_and_default_query() -> None:
    page = graphiql_html("/api/graphql")

    assert "<title>Credits GraphiQL</title>" in page
    assert '"/api/graphql"' in page
    assert "GraphiQL.createFetcher" in page
    assert "subscriptionUrl" in page
    assert "currencies" in page


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
    }
    for reference in _references(response.text):
        asset = await client.get(reference)
        assert asset.status_code == 200, reference
        assert len(asset.content) > 5_000, reference
        suffix = reference[reference.rindex(".") :]
        content_type = asset.headers["content-type"].split(";")[0].strip()
        assert content_type in expected_types[suffix], (reference, content_type)


async def test_unknown_static_asset_is_not_found(client: httpx.AsyncClient) -> None:
    response = await client.get(f"{STATIC_URL_PREFIX}/missing.js")

    assert response.status_code == 404
