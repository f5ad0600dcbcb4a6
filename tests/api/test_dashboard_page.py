"""The /dashboard page over HTTP: served from the package where GraphiQL is (or where
CREDITS_DASHBOARD says), with local assets only, gzipped; it needs no credentials itself
(the page asks for a token and sends it with its own GraphQL requests)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from app.api.dashboard import STATIC_URL_PREFIX
from app.domain.access import Role
from app.domain.time import FrozenClock
from app.services.keys import create_key
from app.settings import Settings
from tests.api.conftest import running_api
from tests.api.test_graphiql import _references


async def test_the_dashboard_page_loads_only_local_assets_and_needs_no_credentials(
    tmp_path: Path, clock: FrozenClock
) -> None:
    async with running_api(tmp_path, clock) as api:
        await create_key(api.app.state.runtime.engine, name="ops", role=Role.ADMIN, now=clock.now())
        page = await api.client.get("/dashboard")

        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert "http://" not in page.text and "https://" not in page.text
        references = _references(page.text)
        assert references == [
            "/favicon.ico",
            f"{STATIC_URL_PREFIX}/dashboard.css",
            f"{STATIC_URL_PREFIX}/graphql-ws.min.js",
            f"{STATIC_URL_PREFIX}/dashboard.js",
        ]
        for reference in references:
            asset = await api.client.get(reference)
            assert asset.status_code == 200, reference


async def test_the_graphql_ws_client_is_served_gzipped(tmp_path: Path, clock: FrozenClock) -> None:
    async with running_api(tmp_path, clock) as api:
        url = f"{STATIC_URL_PREFIX}/graphql-ws.min.js"
        async with api.client.stream("GET", url, headers={"Accept-Encoding": "gzip"}) as answer:
            sent = b"".join([chunk async for chunk in answer.aiter_raw()])

        assert answer.headers["content-encoding"] == "gzip"
        assert b"graphqlWs" in gzip.decompress(sent)


async def test_the_dashboard_is_absent_when_turned_off(tmp_path: Path, clock: FrozenClock) -> None:
    async with running_api(tmp_path, clock, dashboard=False) as api:
        assert (await api.client.get("/dashboard")).status_code == 404
        assert (await api.client.get(f"{STATIC_URL_PREFIX}/dashboard.js")).status_code == 404
        assert (await api.client.get("/favicon.ico")).status_code == 200


def test_the_dashboard_is_on_where_graphiql_is_unless_set() -> None:
    loopback = Settings.from_env({})
    exposed = Settings.from_env({"CREDITS_HOST": "0.0.0.0"})
    with_graphiql = Settings.from_env({"CREDITS_HOST": "0.0.0.0", "CREDITS_GRAPHIQL": "true"})
    only_dashboard = Settings.from_env({"CREDITS_HOST": "0.0.0.0", "CREDITS_DASHBOARD": "1"})
    without = Settings.from_env({"CREDITS_DASHBOARD": "false"})

    assert (loopback.graphiql, loopback.dashboard) == (True, True)
    assert (exposed.graphiql, exposed.dashboard) == (False, False)
    assert (with_graphiql.graphiql, with_graphiql.dashboard) == (True, True)
    assert (only_dashboard.graphiql, only_dashboard.dashboard) == (False, True)
    assert (without.graphiql, without.dashboard) == (True, False)


def test_the_vendored_graphql_ws_is_the_version_the_node_tests_use() -> None:
    root = Path(__file__).resolve().parents[2]
    tested = json.loads((root / "package.json").read_text())["devDependencies"]["graphql-ws"]
    vendoring = (root / "scripts" / "vendor-assets").read_text()
    readme = (root / "app" / "api" / "static" / "dashboard" / "README.md").read_text()

    assert f"[graphql-ws@{tested}]=" in vendoring
    assert f"`graphql-ws@{tested}`" in readme
