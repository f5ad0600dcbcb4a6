"""docs/tamper-evidence.md's query and its Python chain, run against a server; the ledger
head's edge cases (an empty ledger, an unknown currency, an event due)."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

from app.domain.time import FrozenClock
from tests.api.conftest import START, Api
from tests.api.test_queries_helpers import consume, create_customer, paid, promo
from tests.chain import ZEROS

PAGE = Path(__file__).resolve().parents[2] / "docs" / "tamper-evidence.md"
HEAD = """query($id: ID!, $currency: String!) {
  customer(id: $id) { creditLedgerHead(currency: $currency) { currency sequence hash } }
}"""


def block(language: str) -> str:
    [found] = re.findall(rf"^```{language}\n(.*?)^```", PAGE.read_text(), re.S | re.M)
    return str(found)


async def test_the_page_s_query_and_chain_prove_the_head(api: Api, clock: FrozenClock) -> None:
    customer = await create_customer(api, "acme")
    await promo(api, customer, "20", expiresAt="2026-01-15T13:00:00Z")
    grant = await paid(api, customer, "25.5")
    await consume(api, customer, "c1", "12.25", featureKey="api", description="Café ☕\n2")
    await api(
        "mutation($id: ID!) { voidCreditGrant(input: {grantId: $id}) { __typename } }",
        id=grant["id"],
    )
    clock.advance(timedelta(hours=2))  # the expiry is booked by the read's catch-up

    data = (await api(block("graphql"), customerId=customer))["customer"]

    nodes = [edge["node"] for edge in data["creditLedger"]["edges"]]
    assert [n["type"] for n in reversed(nodes)] == [
        "FUNDED", "FUNDED", "CONSUMED", "VOIDED", "EXPIRED",
    ]  # fmt: skip
    namespace: dict[str, Any] = {"CUSTOMER_ID": customer}
    exec(block("python"), namespace)  # the page's own example
    head = data["creditLedgerHead"]
    assert head == {"currency": "USD", "sequence": 5, "hash": nodes[0]["hash"]}
    assert namespace["chain"](nodes) == head["hash"]

    nodes[2]["amount"] = "-12.24"  # an altered field no longer proves the head
    try:
        namespace["chain"](nodes)
    except AssertionError as error:
        assert str(error) == nodes[2]["id"]
    else:
        raise AssertionError("an altered entry still chained")


async def test_an_empty_ledger_s_head_is_sequence_0_and_64_zeros(api: Api) -> None:
    customer = await create_customer(api, "acme")
    await promo(api, customer, "1", currency="EUR")

    data = await api(HEAD, id=customer, currency="USD")

    assert data == {
        "customer": {"creditLedgerHead": {"currency": "USD", "sequence": 0, "hash": ZEROS}}
    }


async def test_an_unknown_currency_is_bad_user_input(api: Api) -> None:
    customer = await create_customer(api, "acme")

    body = await api.raw(HEAD, id=customer, currency="XXXY")

    [error] = body["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "'XXXY' is not a known currency" in error["message"]


async def test_the_head_includes_an_event_that_came_due(api: Api, clock: FrozenClock) -> None:
    customer = await create_customer(api, "acme")
    await promo(api, customer, "3", expiresAt=(START + timedelta(minutes=5)).isoformat())
    before = await api(HEAD, id=customer, currency="USD")
    clock.advance(timedelta(minutes=10))

    after = await api(HEAD, id=customer, currency="USD")

    assert before["customer"]["creditLedgerHead"]["sequence"] == 1
    assert after["customer"]["creditLedgerHead"]["sequence"] == 2
    assert (
        after["customer"]["creditLedgerHead"]["hash"]
        != before["customer"]["creditLedgerHead"]["hash"]
    )
