"""What the outbox costs a consumption's transaction: nothing without an endpoint that
wants its event, one multi-row insert with one (SQLite and PostgreSQL)."""

from __future__ import annotations

from app.domain.webhooks import EventType
from app.services.customers import create_customer
from app.services.runtime import Runtime
from app.services.webhooks.endpoints import create_endpoint
from tests.services.support import consume, promo
from tests.services.test_write_path import kind, recorded

HOOK = "https://93.184.216.34/hook"


async def statements_of_a_consumption(runtime: Runtime, customer_id: str, key: str) -> list[str]:
    with recorded(runtime.engine) as statements:
        await consume(runtime, customer_id, "1", key=key)
    return [kind(s) for s in statements]


async def test_the_outbox_adds_one_insert_and_only_when_an_endpoint_wants_it(
    both: Runtime,
) -> None:
    runtime = both
    customer_id, _ = await create_customer(runtime, key="acme", name="Acme")
    await promo(runtime, customer_id, "100")
    await consume(runtime, customer_id, "1", key="warm-up")
    plain = await statements_of_a_consumption(runtime, customer_id, "plain")
    assert not any("webhook" in s for s in plain)

    await create_endpoint(runtime, url=HOOK, event_types=[EventType.CREDIT_GRANT_VOIDED])
    await consume(runtime, customer_id, "1", key="reads-the-endpoints")
    unwanted = await statements_of_a_consumption(runtime, customer_id, "unwanted")
    assert unwanted == plain

    await create_endpoint(runtime, url=HOOK, event_types=[EventType.CREDIT_CONSUMPTION_CREATED])
    await create_endpoint(runtime, url=HOOK, event_types=[EventType.CREDIT_CONSUMPTION_CREATED])
    await consume(runtime, customer_id, "1", key="reads-them-again")
    wanted = await statements_of_a_consumption(runtime, customer_id, "wanted")
    assert wanted == [*plain, "INSERT webhook_delivery"]  # one row per endpoint, one statement
