"""Round trips per request: pooled connections checked out and statements run, for one
request of each mutation and for the dashboard query (SQLite, through the whole app).

The counts are exact: a change that adds a connection or a statement to a write shows
here, and each number is the sum of what its comment lists.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event

from tests.api.conftest import Api
from tests.api.test_dashboard_statements import DASHBOARD
from tests.api.test_mutations_support import (
    CONSUME,
    CREATE_CUSTOMER,
    PROMOTE,
    PURCHASE,
    REVERSE,
    SETTLE,
    VOID,
    consumed,
    granted,
    new_customer,
)

BUDGET = 3  # pooled connections per request, at most


@dataclass
class Trips:
    """What the app's engine does from `watch` on: checkouts and statements."""

    checkouts: int = 0
    statements: list[str] = field(default_factory=list)

    def clear(self) -> None:
        self.checkouts = 0
        self.statements.clear()

    def counts(self) -> tuple[int, int, int]:
        """Checkouts, write transactions, statements (BEGIN included: SQLite's are ours)."""
        writes = sum(1 for s in self.statements if s == "BEGIN IMMEDIATE")
        return self.checkouts, writes, len(self.statements)


def watch(api: Api) -> Trips:
    trips = Trips()
    engine = api.app.state.runtime.engine.sync_engine

    @event.listens_for(engine, "checkout")
    def checked_out(*args: Any) -> None:
        trips.checkouts += 1

    @event.listens_for(engine, "before_cursor_execute")
    def executed(*args: Any) -> None:
        trips.statements.append(args[2])

    return trips


async def measured(trips: Trips, api: Api, document: str, **variables: Any) -> tuple[int, int, int]:
    trips.clear()
    body = await api.raw(document, **variables)
    assert "errors" not in body, body
    result = body["data"].get("result")
    assert result is None or not result["__typename"].endswith("Error"), result
    return trips.counts()


async def test_each_mutation_writes_on_one_connection_in_one_transaction(
    api: Api,
) -> None:
    customer_id = await new_customer(api)
    purchased = await granted(api, PURCHASE, customer_id, amount="50")
    await granted(api, PROMOTE, customer_id, amount="50")
    consumption_id = await consumed(api, customer_id, "warm-up", "1")
    trips = watch(api)
    found = {}

    found["createCustomer"] = await measured(
        trips, api, CREATE_CUSTOMER, input={"key": "other", "name": "Other"}
    )
    found["purchaseCredits"] = await measured(
        trips,
        api,
        PURCHASE,
        input={
            "customerId": customer_id,
            "name": "Pack",
            "currency": "USD",
            "amount": "10",
            "fundingMethod": "INVOICE",
        },
    )
    found["grantPromotionalCredits"] = await measured(
        trips,
        api,
        PROMOTE,
        input={"customerId": customer_id, "name": "Bonus", "currency": "USD", "amount": "10"},
    )
    found["consumeCredits"] = await measured(
        trips,
        api,
        CONSUME,
        input={"customerId": customer_id, "key": "use-1", "currency": "USD", "amount": "3"},
    )
    found["settleCreditPurchase"] = await measured(
        trips, api, SETTLE, input={"grantId": purchased["id"], "status": "SETTLED"}
    )
    found["reverseCreditConsumption"] = await measured(
        trips, api, REVERSE, input={"consumptionId": consumption_id, "key": "undo-1"}
    )
    found["voidCreditGrant"] = await measured(trips, api, VOID, input={"grantId": purchased["id"]})

    # Every mutation: one connection for its write, one write transaction, no api_key
    # statement, no separate owner lookup. The rest are the loaders' reads of the selected
    # result (a connection per batch), after the commit. A write is BEGIN IMMEDIATE, the
    # customer's row lock with its last bookedAt, the due events' grants, the key's
    # replay, the use case's reads and writes, and the result balance (2 statements).
    assert found == {
        # write: key lookup, insert; read: the customer
        "createCustomer": (2, 1, 5),
        # write: 10 statements with BEGIN; reads: the grant's due check, the grant
        "purchaseCredits": (3, 1, 14),
        "grantPromotionalCredits": (3, 1, 14),
        # write: 13; reads: the consumption; its entries; its customer; the entries'
        # grants' due check; the grants (one connection each)
        "consumeCredits": (6, 1, 22),
        # the owner's read (BEGIN + 1) on the write's connection, then the write: 11
        "settleCreditPurchase": (3, 1, 14),
        # owner's read, write; reads: the consumption, its entries, the booked entries
        # (two batches), the customer, the grants' due check, the grants
        "reverseCreditConsumption": (7, 1, 29),
        "voidCreditGrant": (3, 1, 16),
    }
    within_budget = {name for name, (checkouts, _, _) in found.items() if checkouts <= BUDGET}
    # consumeCredits and reverseCreditConsumption are over: their results' reads take a
    # connection per loader batch (app/api/loaders.py), not their writes
    assert within_budget == found.keys() - {"consumeCredits", "reverseCreditConsumption"}


async def test_the_dashboard_query_runs_no_key_check_and_one_connection_per_batch(
    api: Api,
) -> None:
    customer_id = await new_customer(api)
    await granted(api, PROMOTE, customer_id, amount="50")
    await consumed(api, customer_id, "use", "1")
    trips = watch(api)

    found = await measured(trips, api, DASHBOARD, n=5)

    # customers; the due check; balances (2 statements) and grants, concurrently on two
    # connections; entries: 5 connections (over the budget of 3: a connection per loader
    # batch), no write
    assert found == (5, 0, 11)
