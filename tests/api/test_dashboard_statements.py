"""A dashboard query's SQL statement count does not grow with its page sizes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest

from app.domain.ledger import OPEN
from app.domain.time import FrozenClock
from app.services.consumption import ConsumeRequest, consume_credits
from app.services.customers import create_customer
from app.services.grants import GrantRequest, grant_promotional_credits
from tests.api.conftest import Api, running_api

DASHBOARD = """
query Dashboard($n: Int!) {
  customers(first: $n) { edges { node {
    creditBalances { available }
    creditGrants(first: $n) { edges { node {
      remaining
      ledgerEntries(first: $n) { edges { node { amount grant { id } } } }
    } } }
  } } }
}
"""


async def seed(api: Api, customers: int, grants: int, draws: int) -> None:
    runtime = api.app.state.runtime
    for c in range(customers):
        customer_id, _ = await create_customer(runtime, key=f"c{c}", name=f"Customer {c}")
        for g in range(grants):
            request = GrantRequest(
                customer_id=customer_id, name=f"g{g}", currency="USD", amount=Decimal(100)
            )
            await grant_promotional_credits(runtime, actor=OPEN, request=request)
        for d in range(draws):
            draw = ConsumeRequest(
                customer_id=customer_id, key=f"d{d}", currency="USD", amount=Decimal(10)
            )
            await consume_credits(runtime, actor=OPEN, request=draw)


def selects(statements: list[str]) -> int:
    return sum(1 for s in statements if s.lstrip().upper().startswith(("SELECT", "WITH")))


@pytest.fixture
async def roomy_api(tmp_path: Path, clock: FrozenClock) -> AsyncIterator[Api]:
    """Page sizes of 50 at three levels cost 252,600: over the default cost limit."""
    async with running_api(tmp_path, clock, max_cost=1_000_000) as api:
        yield api


async def test_the_dashboard_query_runs_the_same_few_statements_at_any_page_size(
    roomy_api: Api,
) -> None:
    api = roomy_api
    await seed(api, customers=7, grants=8, draws=10)
    await api("{ __typename }")  # OPEN mode is known from here on: no statement per request
    api.count_statements()
    counts = []
    sizes = {}
    for n in (5, 50):
        api.statements.clear()
        data = await api(DASHBOARD, n=n)
        counts.append((selects(api.statements), len(api.statements)))
        edges = data["customers"]["edges"]
        sizes[n] = (
            len(edges),
            len(edges[0]["node"]["creditGrants"]["edges"]),
            len(edges[0]["node"]["creditGrants"]["edges"][0]["node"]["ledgerEntries"]["edges"]),
        )
    assert sizes == {5: (5, 5, 5), 50: (7, 8, 11)}
    # Customers, which of the page's customers have
    # events due (checked once for balances and grants, nothing is due: no write),
    # balances (ledger + pending), grants, entries; the entries' grants were loaded
    # already: no statement
    assert counts[0] == counts[1]
    assert counts[0][0] == 6
