"""Round trips per request: pooled connections checked out and statements run, for one
request of each mutation and for the dashboard query (SQLite, through the whole app).

The counts are exact: a change that adds a connection or a statement to a write shows
here, and each number is the sum of what its comment lists.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event

from app.domain.access import Role
from app.domain.time import FrozenClock
from app.services.keys import create_key
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

    # Every mutation: one pooled connection for the whole request, one write transaction,
    # no api_key statement, no owner lookup on a connection of its own. On it, after the
    # commit, the loaders read the selected result, each batch in a read transaction of
    # its own. A write is BEGIN IMMEDIATE, one statement for the customer (its last
    # bookedAt, its grants' next event, with a currency its account there), the use
    # case's reads and writes, and the result balance's pending amount (1 statement; its
    # other figures are the account's, already in hand).
    assert found == {
        # write: BEGIN, the key, the insert; read: BEGIN, the customer
        "createCustomer": (1, 1, 5),
        # write: BEGIN, the customer with its USD account, the headroom check, the grant,
        # the account, the entry, the pending amount (7); reads: the grant's due check,
        # the grant (2 each)
        "purchaseCredits": (1, 1, 11),
        "grantPromotionalCredits": (1, 1, 11),
        # write: BEGIN, the customer with its USD account, the spendable and pending
        # grants (the result's pending amount comes from them), the consumption inserted
        # unless its key was used (no statement looks for the key first), the grant, the
        # account, the entry (7); reads: the consumption; its entries and its customer
        # (3); the entries' grants' due check; the grants
        "consumeCredits": (1, 1, 17),
        # the owner (BEGIN + 1), the write (6), the due check and the grant (4)
        "settleCreditPurchase": (1, 1, 12),
        # the owner, the write (14); reads: the consumption, its entries, the booked
        # entries (two batches), the customer, the grants' due check, the grants
        "reverseCreditConsumption": (1, 1, 27),
        "voidCreditGrant": (1, 1, 14),
    }


async def test_the_dashboard_query_runs_on_one_connection_with_no_key_check(
    api: Api,
) -> None:
    customer_id = await new_customer(api)
    await granted(api, PROMOTE, customer_id, amount="50")
    await consumed(api, customer_id, "use", "1")
    trips = watch(api)

    found = await measured(trips, api, DASHBOARD, n=5)

    # one connection, one read transaction (the compiled lane's: one BEGIN, not one per
    # batch): customers; the due check; balances (2 statements); grants; entries
    assert found == (1, 0, 7)


async def test_with_an_api_key_a_request_checks_the_key_then_uses_one_connection(
    api: Api, clock: FrozenClock
) -> None:
    customer_id = await new_customer(api)
    await granted(api, PROMOTE, customer_id, amount="50")
    engine = api.app.state.runtime.engine
    _, secret = await create_key(engine, name="billing", role=Role.WRITER, now=clock.now())
    api.client.headers["Authorization"] = f"Bearer {secret}"
    trips = watch(api)

    found = await measured(
        trips,
        api,
        CONSUME,
        input={"customerId": customer_id, "key": "use-1", "currency": "USD", "amount": "3"},
    )

    # the key's row (a read of its own, before GraphQL runs), then as in OPEN mode
    assert found == (2, 1, 19)
