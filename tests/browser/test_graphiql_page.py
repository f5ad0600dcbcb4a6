"""GraphiQL in a real browser with every request to anything but the server blocked."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.domain.access import Role
from app.domain.time import FrozenClock
from app.services.customers import create_customer
from app.services.keys import create_key
from tests.access.support import Live, promote, serve
from tests.browser.conftest import require_browser

require_browser()
from playwright.async_api import Page, Route, expect  # noqa: E402

pytestmark = pytest.mark.asyncio(loop_scope="session")  # the session's browser

VARIABLES_EDITOR = ".graphiql-editor-tool .CodeMirror"


async def block_all_but(page: Page, origin: str) -> list[str]:
    """Abort every request that is not to `origin`; the list fills with their URLs."""
    blocked: list[str] = []

    async def only_the_server(route: Route) -> None:
        if route.request.url.startswith(origin + "/"):
            await route.continue_()
        else:
            blocked.append(route.request.url)
            await route.abort()

    await page.route("**/*", only_the_server)
    return blocked


async def customer_id(live: Live) -> str:
    async with live.client() as client:
        answer = await client.post("/graphql", json={"query": '{ customer(key: "acme") { id } }'})
    found: str = json.loads(answer.content)["data"]["customer"]["id"]
    return found


async def test_graphiql_loads_offline_and_runs_its_default_tabs(
    tmp_path: Path, clock: FrozenClock, page: Page, artifacts: Path
) -> None:
    async with serve(tmp_path, clock) as live:
        blocked = await block_all_but(page, live.http_url)
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))

        await page.goto(f"{live.http_url}/graphql")
        await expect(page.locator(".graphiql-tab")).to_have_count(2)
        # The first tab is the README's first session: run its CreateCustomer.
        await page.locator(".graphiql-execute-button").click()
        await page.get_by_role("menuitem", name="CreateCustomer").click()
        result = page.locator(".result-window")
        await expect(result).to_contain_text('"name": "Acme Inc."')
        await page.screenshot(path=artifacts / "graphiql-first-session.png")

        # The second tab subscribes to the balance, over a WebSocket to the same server.
        customer = await customer_id(live)
        await page.locator(".graphiql-tab", has_text="LiveBalance").click()
        await page.locator(".graphiql-editor-tools").get_by_text("Variables").click()
        await set_editor(page, json.dumps({"customerId": customer}))
        await page.locator(".graphiql-execute-button").click()
        await expect(result).to_contain_text('"sequence": 0')
        await promote(live.runtime, customer, "25", "USD")
        await expect(result).to_contain_text('"available": "25.00"')
        await page.screenshot(path=artifacts / "graphiql-live-balance.png")

        assert blocked == []
        assert errors == []


async def test_graphiql_authenticates_its_subscriptions_with_the_filled_in_header(
    tmp_path: Path, clock: FrozenClock, page: Page
) -> None:
    async with serve(tmp_path, clock) as live:
        customer, _ = await create_customer(live.runtime, key="acme", name="Acme Inc.")
        engine = live.runtime.engine
        _, secret = await create_key(engine, name="ops", role=Role.ADMIN, now=clock.now())
        await page.goto(f"{live.http_url}/graphql")

        await page.locator(".graphiql-tab", has_text="LiveBalance").click()
        tools = page.locator(".graphiql-editor-tools")
        await tools.get_by_text("Variables").click()
        await set_editor(page, json.dumps({"customerId": customer}))
        await tools.get_by_text("Headers").click()
        await set_editor(page, json.dumps({"Authorization": f"Bearer {secret}"}))
        await page.locator(".graphiql-execute-button").click()

        result = page.locator(".result-window")
        await expect(result).to_contain_text('"sequence": 0')
        await promote(live.runtime, customer, "25", "USD")
        await expect(result).to_contain_text('"available": "25.00"')


async def set_editor(page: Page, text: str) -> None:
    """Replace the text of the variables or headers editor, whichever is showing."""
    editors = page.locator(VARIABLES_EDITOR)
    for index in range(await editors.count()):
        editor = editors.nth(index)
        if await editor.is_visible():
            await editor.evaluate("(editor, value) => editor.CodeMirror.setValue(value)", text)
            return
    raise AssertionError("no editor is showing")
