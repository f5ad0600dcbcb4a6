"""Webhooks end to end through the services, on SQLite and PostgreSQL: the outbox written
with each change, signed deliveries to a real receiver, order, retries and rotation."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from app.domain.errors import InsufficientCredits
from app.domain.events import Committed
from app.domain.grants import AvailabilityPolicy, SettlementStatus
from app.domain.ledger import OPEN
from app.domain.time import FrozenClock
from app.domain.webhooks import ATTEMPTS, RETRY_DELAYS, DeliveryStatus, EventType
from app.services.customers import create_customer
from app.services.grants import PurchaseTerms
from app.services.reversal import reverse_credit_consumption
from app.services.runtime import Runtime
from app.services.settlement import settle_credit_purchase, void_credit_grant
from app.services.webhooks.delivery import deliver_due, redeliver
from app.services.webhooks.endpoints import rotate_secret, update_endpoint
from app.storage.engine import read_connection
from app.storage.queries import webhooks as queries
from app.storage.tables import webhook_deliveries
from tests.services.support import consume, promo, purchase
from tests.webhooks.support import Receiver, deliver_all, endpoint, signed_by

E = EventType


async def customer(runtime: Runtime, key: str) -> str:
    return (await create_customer(runtime, key=key, name=key.title()))[0]


async def consumptions_to(runtime: Runtime, receiver: Receiver, keys: list[str]) -> str:
    """An endpoint for consumptions, and one customer's consumptions with these keys."""
    endpoint_id, _ = await endpoint(runtime, receiver, [E.CREDIT_CONSUMPTION_CREATED])
    acme = await customer(runtime, "acme")
    await promo(runtime, acme, "10")
    for key in keys:
        await consume(runtime, acme, "1", key=key)
    return endpoint_id


async def deliveries_of(runtime: Runtime, endpoint_id: str) -> list[Any]:
    async with read_connection(runtime.engine) as connection:
        rows, _ = await queries.deliveries_page(
            connection, endpoint_id, None, size=1000, backward=False, after=None, before=None
        )
        rows.reverse()  # the list is newest first
        attempts = await queries.attempts_of(connection, [row.id for row in rows])
    return [(row, attempts[row.id]) for row in rows]  # oldest first


async def test_every_change_is_posted_signed_in_the_order_of_its_transaction(
    both: Runtime, receiver: Receiver
) -> None:
    runtime = both
    endpoint_id, secret = await endpoint(runtime, receiver)
    acme = await customer(runtime, "acme")
    grant = await promo(runtime, acme, "10", labels=(("plan", "pro"),))
    used = await consume(runtime, acme, "2.5", key="use-1", description="chat")
    await reverse_credit_consumption(
        runtime, actor=OPEN, consumption_id=used.consumption_id, key="back", amount=Decimal("1")
    )
    terms = PurchaseTerms(availability_policy=AvailabilityPolicy.ON_SETTLEMENT)
    bought = await purchase(runtime, acme, "5", terms=terms)
    await settle_credit_purchase(
        runtime, actor=OPEN, grant_id=bought.grant_id, status=SettlementStatus.SETTLED
    )
    await void_credit_grant(runtime, actor=OPEN, grant_id=grant.grant_id, reason="abuse")

    assert await deliver_all(runtime) == 8  # one round each: one customer, one at a time
    events = receiver.events()
    assert [e["type"] for e in events] == [
        E.CREDIT_GRANT_CREATED,
        E.CREDIT_GRANT_FUNDED,
        E.CREDIT_CONSUMPTION_CREATED,
        E.CREDIT_CONSUMPTION_REVERSED,
        E.CREDIT_GRANT_CREATED,
        E.CREDIT_GRANT_SETTLEMENT_CHANGED,
        E.CREDIT_GRANT_FUNDED,
        E.CREDIT_GRANT_VOIDED,
    ]
    assert all(signed_by(r, secret) for r in receiver.received)
    assert [r.id for r in receiver.received] == [e["id"] for e in events]
    assert len({r.id for r in receiver.received}) == 8
    assert {e["customerId"] for e in events} == {acme}
    assert {e["occurredAt"] for e in events[:2]} == {"2026-01-15T12:00:00Z"}

    created = events[2]["data"]["consumption"]
    assert created["id"] == used.consumption_id
    assert (created["requested"], created["consumed"], created["reversed"]) == (
        "2.50",
        "2.50",
        "0.00",
    )
    assert created["description"] == "chat"
    [entry] = created["entries"]
    assert (entry["type"], entry["amount"], entry["availableBalanceAfter"]) == (
        "CONSUMED",
        "-2.50",
        "7.50",
    )
    assert entry["actor"] == {"type": "OPEN", "id": None, "name": "open"}
    assert events[3]["data"]["consumption"]["reversed"] == "1.00"
    assert events[3]["data"]["consumption"]["entries"] == created["entries"]

    first = events[0]["data"]["grant"]
    assert (first["id"], first["amount"], first["remaining"], first["status"]) == (
        grant.grant_id,
        "10.00",
        "10.00",
        "ACTIVE",
    )
    assert first["labels"] == [{"key": "plan", "value": "pro"}]
    assert first["purchase"] is None
    settled = events[5]["data"]["grant"]
    assert settled["purchase"]["settlementStatus"] == "SETTLED"
    voided = events[7]["data"]["grant"]
    assert (voided["status"], voided["voidReason"], voided["voided"]) == ("VOIDED", "abuse", "8.50")

    logged = await deliveries_of(runtime, endpoint_id)
    assert [row.status for row, _ in logged] == ["SUCCEEDED"] * 8
    assert [len(attempts) for _, attempts in logged] == [1] * 8
    assert all(row.next_attempt_at is None for row, _ in logged)
    assert logged[0][1][0].response_status == 200
    assert logged[0][1][0].response_body == "ok"


async def test_an_endpoint_gets_only_its_event_types_and_customer(
    both: Runtime, receiver: Receiver
) -> None:
    runtime = both
    acme, globex = await customer(runtime, "acme"), await customer(runtime, "globex")
    await endpoint(runtime, receiver, [E.CREDIT_CONSUMPTION_CREATED], customer_id=globex)
    for who in (acme, globex):
        await promo(runtime, who, "10")
        await consume(runtime, who, "1", key="k")
    await deliver_all(runtime)
    assert [(e["type"], e["customerId"]) for e in receiver.events()] == [
        (E.CREDIT_CONSUMPTION_CREATED, globex)
    ]


async def test_nothing_is_queued_without_endpoints_or_while_disabled(
    both: Runtime, receiver: Receiver
) -> None:
    runtime = both
    acme = await customer(runtime, "acme")
    await promo(runtime, acme, "10")
    endpoint_id, _ = await endpoint(runtime, receiver)
    await update_endpoint(runtime, endpoint_id=endpoint_id, enabled=False)
    await consume(runtime, acme, "1", key="off")
    await update_endpoint(runtime, endpoint_id=endpoint_id, enabled=True)
    await consume(runtime, acme, "2", key="on")
    await deliver_all(runtime)
    [event] = receiver.events()
    assert event["data"]["consumption"]["key"] == "on"


class FailingStage:
    """A publisher whose stage fails after the outbox staged: the transaction rolls back."""

    async def stage(self, connection: Any, committed: Committed) -> None:
        raise RuntimeError("the commit never happens")

    async def publish(self, committed: Committed) -> None:
        raise AssertionError("nothing is published for a rollback")


async def test_a_failed_or_rolled_back_mutation_sends_nothing(
    both: Runtime, receiver: Receiver
) -> None:
    runtime = both
    acme = await customer(runtime, "acme")
    await endpoint(runtime, receiver)
    with pytest.raises(InsufficientCredits):
        await consume(runtime, acme, "1", key="too-much")
    failing = Runtime(runtime.engine, runtime.clock, runtime.catalog, FailingStage())
    with pytest.raises(RuntimeError):
        await promo(failing, acme, "10")
    async with read_connection(runtime.engine) as connection:
        count = select(func.count()).select_from(webhook_deliveries)
        assert (await connection.execute(count)).scalar_one() == 0
    assert await deliver_all(runtime) == 0
    assert receiver.received == []


async def test_a_burst_across_customers_arrives_in_commit_order_per_customer(
    both: Runtime, receiver: Receiver, clock: FrozenClock
) -> None:
    """200 consumptions over 10 customers, committed concurrently while a worker delivers:
    each customer's events arrive exactly once each, in the order they were committed."""
    runtime = both
    await endpoint(runtime, receiver, [E.CREDIT_CONSUMPTION_CREATED])
    customers = [await customer(runtime, f"c{i}") for i in range(10)]
    for who in customers:
        await promo(runtime, who, "1000")
    committed: dict[str, list[str]] = {who: [] for who in customers}

    async def spend(who: str) -> None:
        for n in range(20):
            outcome = await consume(runtime, who, "1", key=f"k{n}")
            committed[who].append(outcome.consumption_id)

    stop = asyncio.Event()

    async def worker() -> None:
        async with httpx.AsyncClient() as client:
            while not stop.is_set():
                if not await deliver_due(runtime, client, allow_loopback=True):
                    await asyncio.sleep(0.01)

    delivering = asyncio.create_task(worker())
    await asyncio.gather(*(spend(who) for who in customers))
    stop.set()
    await delivering
    for _ in range(3):  # an attempt that failed under load (a reset connection) is retried
        await deliver_all(runtime)
        clock.advance(RETRY_DELAYS[0])

    assert len({r.id for r in receiver.received}) == 200
    arrived: dict[str, list[str]] = {who: [] for who in customers}
    for event in receiver.first_of_each():
        arrived[event["customerId"]].append(event["data"]["consumption"]["id"])
    assert arrived == committed


async def test_500_three_times_then_200_takes_four_attempts_and_holds_the_next_event(
    both: Runtime, receiver: Receiver, clock: FrozenClock
) -> None:
    runtime = both
    endpoint_id = await consumptions_to(runtime, receiver, ["first", "second"])
    receiver.answer = lambda got: 500 if len(receiver.received) <= 3 else 200

    for wait in (None, *RETRY_DELAYS[:2]):
        if wait is not None:
            assert await deliver_all(runtime) == 0  # the retry is not due yet
            clock.advance(wait)
        assert await deliver_all(runtime) == 1
        # the second event waits while the first is retried
        assert {r.event["data"]["consumption"]["key"] for r in receiver.received} == {"first"}
        (first, _), (second, _) = await deliveries_of(runtime, endpoint_id)
        assert first.status == second.status == DeliveryStatus.PENDING
        assert first.next_attempt_at == clock.now() + RETRY_DELAYS[len(receiver.received) - 1]

    clock.advance(RETRY_DELAYS[2])
    assert await deliver_all(runtime) == 2  # the fourth attempt, then the next event
    (first, attempts), (second, _) = await deliveries_of(runtime, endpoint_id)
    assert first.status == DeliveryStatus.SUCCEEDED and first.next_attempt_at is None
    assert [a.response_status for a in attempts] == [500, 500, 500, 200]
    assert second.status == DeliveryStatus.SUCCEEDED
    assert [r.event["data"]["consumption"]["key"] for r in receiver.received] == [
        "first",
        "first",
        "first",
        "first",
        "second",
    ]
    assert len({r.id for r in receiver.received[:4]}) == 1  # the same webhook-id on retries


async def test_an_endpoint_that_never_answers_fails_after_the_last_retry(
    both: Runtime, receiver: Receiver, clock: FrozenClock
) -> None:
    runtime = both
    endpoint_id = await consumptions_to(runtime, receiver, ["lost", "next"])
    receiver.stalls = lambda got: '"key":"lost"' in got.body
    for wait in (None, *RETRY_DELAYS):
        if wait is not None:
            clock.advance(wait - timedelta(seconds=1))
            assert await deliver_all(runtime, answer_within=0.05) == 0
            clock.advance(timedelta(seconds=1))
        # the last: the next event goes as soon as the first FAILED
        assert await deliver_all(runtime, answer_within=0.05) == (
            2 if wait is RETRY_DELAYS[-1] else 1
        )
    (lost, attempts), (following, _) = await deliveries_of(runtime, endpoint_id)
    assert lost.status == DeliveryStatus.FAILED and lost.next_attempt_at is None
    assert len(attempts) == ATTEMPTS == 8
    assert {a.response_status for a in attempts} == {None}
    assert {a.error for a in attempts} == {"no answer within 0.05 s"}
    gaps = [b.at - a.at for a, b in itertools.pairwise(attempts)]
    assert gaps == list(RETRY_DELAYS)
    assert following.status == DeliveryStatus.SUCCEEDED

    # redelivery: one more attempt of the failed one
    receiver.stalls = lambda _: False
    await redeliver(runtime, delivery_id=lost.id)
    assert await deliver_all(runtime) == 1
    (lost, attempts), _ = await deliveries_of(runtime, endpoint_id)
    assert lost.status == DeliveryStatus.SUCCEEDED and len(attempts) == 9


async def test_during_a_rotation_both_secrets_sign_for_24_hours(
    both: Runtime, receiver: Receiver, clock: FrozenClock
) -> None:
    runtime = both
    endpoint_id, old = await endpoint(runtime, receiver, [E.CREDIT_CONSUMPTION_CREATED])
    acme = await customer(runtime, "acme")
    await promo(runtime, acme, "100")
    rotated = await rotate_secret(runtime, endpoint_id=endpoint_id)
    new = rotated.secret
    assert new is not None and new != old and new.startswith("whsec_")
    await consume(runtime, acme, "1", key="during")
    await deliver_all(runtime)
    clock.advance(timedelta(hours=24, seconds=1))
    await consume(runtime, acme, "1", key="after")
    await deliver_all(runtime)
    during, after = receiver.received
    assert len(during.signatures) == 2
    assert signed_by(during, old) and signed_by(during, new)
    assert len(after.signatures) == 1
    assert signed_by(after, new) and not signed_by(after, old)


async def test_each_attempt_is_made_by_one_worker_when_several_race(
    both: Runtime, receiver: Receiver
) -> None:
    runtime = both
    await endpoint(runtime, receiver, [E.CREDIT_CONSUMPTION_CREATED])
    customers = [await customer(runtime, f"c{i}") for i in range(5)]
    for who in customers:
        await promo(runtime, who, "100")
        for n in range(4):
            await consume(runtime, who, "1", key=f"k{n}")
    receiver.delay = 0.02
    async with contextlib.AsyncExitStack() as stack:
        clients = [await stack.enter_async_context(httpx.AsyncClient()) for _ in range(3)]

        async def work(client: httpx.AsyncClient) -> None:
            for _ in range(40):
                await deliver_due(runtime, client, allow_loopback=True)

        await asyncio.gather(*(work(client) for client in clients))
    assert len(receiver.received) == 20 == len({r.id for r in receiver.received})
