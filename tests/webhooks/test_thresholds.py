"""Threshold events as webhooks, on SQLite and PostgreSQL, delivered to a real receiver in
the order their transaction made them: the change that crossed, the crossing, the top-up
it bought, the recovery the top-up caused; and a scheduled grant lifting a threshold."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select

from app.domain.time import FrozenClock
from app.domain.webhooks import EventType
from app.services.runtime import Runtime
from app.services.scheduling import book_due_events
from app.storage.engine import read_connection
from app.storage.tables import threshold_events
from tests.conftest import START
from tests.services.support import consume, promo
from tests.services.test_schedules import create as schedule
from tests.services.test_thresholds import threshold, top_up
from tests.services.test_write_path import customer
from tests.webhooks.support import Receiver, deliver_all, endpoint

E = EventType
NOW = "2026-01-15T12:00:00Z"


async def event_ids(runtime: Runtime, customer_id: str) -> list[str]:
    """The customer's threshold events' ids, oldest first."""
    statement = (
        select(threshold_events.c.id)
        .where(threshold_events.c.customer_id == customer_id)
        .order_by(threshold_events.c.position)
    )
    async with read_connection(runtime.engine) as connection:
        return [str(id) for id in (await connection.execute(statement)).scalars()]


def threshold_body(id: str, type: str, sequence: int, before: str, after: str, at: str) -> Any:
    return {
        "thresholdEvent": {
            "id": id,
            "type": type,
            "sequence": sequence,
            "availableBefore": before,
            "availableAfter": after,
            "occurredAt": at,
        }
    }


async def test_a_crossing_and_its_top_up_are_posted_in_the_order_of_their_transaction(
    both: Runtime, receiver: Receiver
) -> None:
    runtime = both
    acme = await customer(runtime)
    await promo(runtime, acme, "100")
    await threshold(runtime, acme, "50", top_up=top_up("100"))
    await endpoint(runtime, receiver)
    used = await consume(runtime, acme, "60", key="big")

    assert await deliver_all(runtime) == 5
    events = receiver.events()
    assert [e["type"] for e in events] == [
        E.CREDIT_CONSUMPTION_CREATED,
        E.CREDIT_THRESHOLD_CROSSED,
        E.CREDIT_GRANT_CREATED,
        E.CREDIT_GRANT_FUNDED,
        E.CREDIT_THRESHOLD_RECOVERED,
    ]
    assert {(e["customerId"], e["occurredAt"]) for e in events} == {(acme, NOW)}
    assert events[0]["data"]["consumption"]["id"] == used.consumption_id
    crossed, recovered = await event_ids(runtime, acme)
    assert events[1]["data"] == threshold_body(crossed, "CROSSED", 1, "100.00", "140.00", NOW)
    assert events[4]["data"] == threshold_body(recovered, "RECOVERED", 2, "100.00", "140.00", NOW)
    grants = [e["data"]["grant"] for e in events[2:4]]
    assert {(g["key"], g["amount"], g["remaining"]) for g in grants} == {
        (f"topup:{crossed}", "100.00", "100.00")
    }


async def test_a_scheduled_grant_booked_by_the_scheduler_posts_its_events_and_a_recovery(
    both: Runtime, clock: FrozenClock, receiver: Receiver
) -> None:
    runtime = both
    acme = await customer(runtime)
    await threshold(runtime, acme, "50")  # crossed from the start: nothing to post
    await schedule(runtime, acme, amount="60", starts_at=START + timedelta(days=1))
    await endpoint(runtime, receiver)
    clock.advance(timedelta(days=1, hours=1))
    assert await book_due_events(runtime) == 1

    assert await deliver_all(runtime) == 3
    events = receiver.events()
    assert [e["type"] for e in events] == [
        E.CREDIT_GRANT_CREATED,
        E.CREDIT_GRANT_FUNDED,
        E.CREDIT_THRESHOLD_RECOVERED,
    ]
    assert {e["occurredAt"] for e in events} == {"2026-01-16T13:00:00Z"}
    created, funded = (e["data"]["grant"] for e in events[:2])
    assert created == funded
    assert (created["amount"], created["remaining"], created["effectiveAt"]) == (
        "60.00",
        "60.00",
        "2026-01-16T12:00:00Z",
    )
    [recovered] = await event_ids(runtime, acme)
    assert events[2]["data"] == threshold_body(
        recovered, "RECOVERED", 1, "0.00", "60.00", "2026-01-16T12:00:00Z"
    )
