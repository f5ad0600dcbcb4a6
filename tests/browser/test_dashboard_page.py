"""The dashboard page in a real browser: opened with a portal token, it shows the
customer's balance, and a consumption made over HTTP appears without a reload."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from app.domain.access import Role
from app.domain.time import FrozenClock
from app.services.keys import create_key
from tests.access.support import Live, promote, serve
from tests.browser.conftest import require_browser
from tests.browser.test_graphiql_page import block_all_but

require_browser()
from playwright.async_api import Page, expect  # noqa: E402

pytestmark = pytest.mark.asyncio(loop_scope="session")  # the session's browser


async def graphql(live: Live, query: str, **variables: Any) -> Any:
    async with live.client() as client:
        answer = await client.post("/graphql", json={"query": query, "variables": variables})
    body = json.loads(answer.content)
    assert "errors" not in body, body
    return body["data"]


async def customer_with_credits(live: Live) -> tuple[str, str]:
    """A customer with 100 USD of credits and 10 more expiring in 30 days, and a portal
    token for them."""
    created = await graphql(
        live,
        'mutation { createCustomer(input: { key: "acme", name: "Acme" }) {'
        " ... on CreateCustomerSuccess { customer { id } } } }",
    )
    customer = created["createCustomer"]["customer"]["id"]
    await promote(live.runtime, customer, "100", "USD")
    await graphql(
        live,
        "mutation ($id: ID!) { grantPromotionalCredits(input: { customerId: $id,"
        ' name: "Welcome", currency: "USD", amount: "10", expiresAfter: "P30D" }) {'
        " ... on CreditGrantSuccess { replayed } } }",
        id=customer,
    )
    made = await graphql(
        live,
        "mutation ($id: ID!) { createPortalToken(input: { customerId: $id }) {"
        " ... on CreatePortalTokenSuccess { token } } }",
        id=customer,
    )
    return customer, made["createPortalToken"]["token"]


async def test_dashboard_with_a_portal_token_shows_a_consumption_without_a_reload(
    tmp_path: Path, clock: FrozenClock, page: Page, artifacts: Path
) -> None:
    async with serve(tmp_path, clock) as live:
        customer, token = await customer_with_credits(live)
        blocked = await block_all_but(page, live.http_url)
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))

        await page.goto(f"{live.http_url}/dashboard#token={token}")
        usd = page.locator("#balances tbody tr", has_text="USD")
        await expect(usd.locator("td").nth(1)).to_have_text("110.00")
        await expect(page.locator("#grants tbody tr")).to_have_count(2)
        await expect(page.locator("#expirations tbody tr")).to_have_count(1)
        await expect(page.locator("#expirations tbody tr")).to_contain_text("Welcome")
        await expect(page.locator("#ledger tbody tr")).to_have_count(2)
        assert "#token" not in page.url  # the token leaves the address bar

        consumed = await graphql(
            live,
            'mutation ($id: ID!) { consumeCredits(input: { customerId: $id, key: "use-1",'
            ' currency: "USD", amount: "40" }) { ... on ConsumeCreditsSuccess { replayed } } }',
            id=customer,
        )
        assert consumed == {"consumeCredits": {"replayed": False}}
        # Burn order: the expiring Welcome credits first (10), then 30 of the others.
        await expect(usd.locator("td").nth(1)).to_have_text("70.00")
        await expect(page.locator("#ledger tbody tr")).to_have_count(4)
        grants = page.locator("#grants tbody tr")
        await expect(grants.filter(has_text="Welcome")).to_contain_text("DEPLETED")
        await expect(grants.filter(has_text="extra").locator("td").nth(4)).to_have_text("70.00")
        await expect(page.locator("#expirations tbody tr")).to_have_count(0)
        await page.screenshot(path=artifacts / "dashboard.png", full_page=True)

        assert blocked == []
        assert errors == []


async def test_dashboard_in_open_mode_then_with_an_api_key_shows_the_customer_asked(
    tmp_path: Path, clock: FrozenClock, page: Page
) -> None:
    async with serve(tmp_path, clock) as live:
        await customer_with_credits(live)
        usd = page.locator("#balances tbody tr", has_text="USD")

        await page.goto(f"{live.http_url}/dashboard")
        await page.fill("#customer", "acme")  # OPEN mode: no token at all
        await page.click("#connect button")
        await expect(usd.locator("td").nth(1)).to_have_text("110.00")

        engine = live.runtime.engine
        _, secret = await create_key(engine, name="finance", role=Role.READER, now=clock.now())
        await page.reload()
        await page.fill("#token", secret)
        await page.fill("#customer", "acme")
        await page.click("#connect button")
        await expect(page.locator("#customer-name")).to_have_text("Acme (acme)")
        await expect(usd.locator("td").nth(1)).to_have_text("110.00")
        await page.fill("#token", "not-a-key")
        await page.click("#connect button")
        await expect(page.locator("#status")).to_have_class("error")
