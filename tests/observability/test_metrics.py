"""/metrics in Prometheus's text format: every figure moves by exactly what was done."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from app.domain.time import FrozenClock
from app.observability.metrics import MAX_OPERATIONS, Metrics
from app.services.currencies import CurrencyCatalog
from app.storage.engine import MAX_OVERFLOW, POOL_SIZE
from tests.access.support import serve, until, websocket
from tests.api.conftest import Api, running_api
from tests.api.test_mutations_support import CONSUME, consumed, new_customer, promote, run
from tests.observability.support import delta, parse, scrape, value

REQUESTS = "credits_requests_total"
LATENCY = "credits_request_duration_seconds_count"
ENTRIES = "credits_ledger_entries_total"


async def test_requests_are_counted_by_operation_name_and_outcome(api: Api) -> None:
    before = await scrape(api)
    for _ in range(3):
        await api("query Hello { viewer { kind } }")
    await api("{ viewer { kind } }")
    parse_failed = await api.raw("query Broken { viewer { kind ")
    bad_input = await api.raw('query Bad { customer(id: "nope") { id } }')
    await api.client.get("/healthz")
    after = await scrape(api)

    assert parse_failed["errors"][0]["extensions"]["code"] == "GRAPHQL_PARSE_FAILED"
    assert bad_input["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    counted = {
        ("Hello", "success"): 3,
        ("anonymous", "success"): 1,
        ("unknown", "GRAPHQL_PARSE_FAILED"): 1,
        ("Bad", "BAD_USER_INPUT"): 1,
        ("GET /healthz", "success"): 1,
        ("GET /metrics", "success"): 1,  # the first scrape; the second counts after it
    }
    for (operation, outcome), count in counted.items():
        labels = {"operation": operation, "outcome": outcome}
        assert delta(before, after, REQUESTS, **labels) == count, labels
        assert delta(before, after, LATENCY, **labels) == count, labels
    assert delta(before, after, "credits_request_duration_seconds_sum", **labels) > 0
    hello = {"operation": "Hello", "outcome": "success"}
    assert value(after, "credits_request_duration_seconds_bucket", le="+Inf", **hello) == 3


async def test_refused_requests_are_counted_by_their_code(
    tmp_path: Path, clock: FrozenClock
) -> None:
    async with running_api(tmp_path, clock, max_body_bytes=200) as api:
        before = await scrape(api)
        too_large = await api.client.post("/graphql", json={"query": "{ viewer { kind } }" * 20})
        not_json = await api.client.post(
            "/graphql", content=b"{", headers={"content-type": "text/plain"}
        )
        await api.client.get("/nowhere")
        after = await scrape(api)

    assert (too_large.status_code, not_json.status_code) == (413, 415)
    assert delta(before, after, REQUESTS, operation="unknown", outcome="LIMIT_EXCEEDED") == 1
    assert delta(before, after, REQUESTS, operation="unknown", outcome="BAD_REQUEST") == 1
    assert delta(before, after, REQUESTS, operation="other", outcome="NOT_FOUND") == 1


async def test_ledger_entries_are_counted_by_type_once_committed(api: Api) -> None:
    customer = await new_customer(api)
    before = await scrape(api)
    assert (await promote(api, customer, amount="25"))["__typename"] == "CreditGrantSuccess"
    assert (await promote(api, customer, amount="5"))["__typename"] == "CreditGrantSuccess"
    await consumed(api, customer, "use-1", "27")  # draws on both grants: two entries
    refused = await run(api, CONSUME, customerId=customer, key="use-2", currency="USD", amount="9")
    invalid = await promote(api, customer, amount="-1")
    after = await scrape(api)

    assert refused["__typename"] == "InsufficientCreditsError"
    assert invalid["__typename"] == "ValidationError"
    assert delta(before, after, ENTRIES, type="FUNDED") == 2
    assert delta(before, after, ENTRIES, type="CONSUMED") == 2
    for kind in ("RESTORED", "EXPIRED", "VOIDED"):
        assert (ENTRIES, (("type", kind),)) in after  # every type is shown, at 0
        assert delta(before, after, ENTRIES, type=kind) == 0
    outcomes = {"Consume": "INSUFFICIENT_CREDITS", "Promote": "VALIDATION_FAILED"}
    for operation, outcome in outcomes.items():
        assert delta(before, after, REQUESTS, operation=operation, outcome=outcome) == 1
    assert delta(before, after, REQUESTS, operation="Promote", outcome="success") == 2
    assert delta(before, after, REQUESTS, operation="Consume", outcome="success") == 1


async def test_an_unexpected_failure_is_counted_as_internal(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(self: CurrencyCatalog) -> list[Any]:
        raise RuntimeError("boom")

    monkeypatch.setattr(CurrencyCatalog, "all", broken)
    before = await scrape(api)
    answer = await api.raw("query Currencies { currencies { code } }")
    after = await scrape(api)

    assert answer["errors"][0]["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
    assert delta(before, after, REQUESTS, operation="Currencies", outcome="internal") == 1


async def test_scheduler_lag_is_how_long_the_most_overdue_event_has_been_due(
    api: Api, clock: FrozenClock
) -> None:
    customer = await new_customer(api)
    later = clock.now() + timedelta(hours=1)
    granted = await promote(api, customer, effectiveAt=later.isoformat())
    assert granted["__typename"] == "CreditGrantSuccess"
    assert value(await scrape(api), "credits_scheduler_lag_seconds") == 0

    clock.advance(timedelta(hours=1, seconds=90))  # the scheduler is off in these tests

    assert value(await scrape(api), "credits_scheduler_lag_seconds") == 90


async def test_pool_gauges_count_connections_in_use_and_tasks_waiting(engine: AsyncEngine) -> None:
    metrics = Metrics()
    held = [await engine.connect() for _ in range(POOL_SIZE + MAX_OVERFLOW)]
    await held[0].exec_driver_sql("SELECT 1")  # checked out for good
    for connection in held[1:]:
        await connection.exec_driver_sql("SELECT 1")

    async def one_more() -> None:
        async with engine.connect() as connection:
            await connection.exec_driver_sql("SELECT 1")

    waiter = asyncio.create_task(one_more())
    await until(lambda: waiting_now(metrics, engine) == 1, "a task waits for a connection")
    samples = parse(metrics.render().decode())
    assert value(samples, "credits_db_pool_in_use") == POOL_SIZE + MAX_OVERFLOW
    assert value(samples, "credits_db_pool_waiting") == 1

    await held.pop().close()
    await waiter
    metrics.sample(engine, subscriptions=0)
    samples = parse(metrics.render().decode())
    assert value(samples, "credits_db_pool_in_use") == POOL_SIZE + MAX_OVERFLOW - 1
    assert value(samples, "credits_db_pool_waiting") == 0
    for connection in held:
        await connection.close()


def waiting_now(metrics: Metrics, engine: AsyncEngine) -> float:
    metrics.sample(engine, subscriptions=0)
    return value(parse(metrics.render().decode()), "credits_db_pool_waiting")


async def test_open_websockets_and_subscriptions_are_counted(
    tmp_path: Path, clock: FrozenClock
) -> None:
    async with serve(tmp_path, clock) as live, live.client() as client:
        customer = await new_customer_on(client)

        async def gauges() -> tuple[float, float]:
            samples = parse((await client.get("/metrics")).text)
            return (
                value(samples, "credits_websockets_open"),
                value(samples, "credits_subscriptions_open"),
            )

        assert await gauges() == (0, 0)
        async with websocket(live) as socket:
            assert (await socket.init(None))["type"] == "connection_ack"
            await socket.subscribe(
                "1",
                'subscription ($c: ID!) { creditBalanceChanged(customerId: $c, currency: "USD")'
                " { available } }",
                c=customer,
            )
            assert (await socket.receive("1"))["type"] == "next"
            assert await gauges() == (1, 1)
        for _ in range(200):
            if await gauges() == (0, 0):
                break
            await asyncio.sleep(0.01)
        assert await gauges() == (0, 0)


async def new_customer_on(client: Any) -> str:
    query = (
        'mutation { createCustomer(input: {key: "k", name: "K"}) '
        "{ ... on CreateCustomerSuccess { customer { id } } } }"
    )
    answer = (await client.post("/graphql", json={"query": query})).json()
    customer_id: str = answer["data"]["createCustomer"]["customer"]["id"]
    return customer_id


async def test_metrics_are_open_on_loopback_and_need_the_token_elsewhere(
    tmp_path: Path, clock: FrozenClock
) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    async with running_api(tmp_path / "a", clock, host="0.0.0.0") as api:
        refused = await api.client.get("/metrics")
    assert refused.status_code == 403
    assert "CREDITS_METRICS_TOKEN" in refused.text

    async with running_api(tmp_path / "b", clock, host="0.0.0.0", metrics_token="s3cret") as api:
        missing = await api.client.get("/metrics")
        wrong = await api.client.get("/metrics", headers={"authorization": "Bearer guess"})
        samples = await scrape(api, authorization="Bearer s3cret")
    assert (missing.status_code, wrong.status_code) == (401, 401)
    assert missing.headers["www-authenticate"] == "Bearer"
    assert (REQUESTS, (("operation", "GET /metrics"), ("outcome", "UNAUTHENTICATED"))) in samples


def test_operation_names_are_bounded_so_clients_cannot_grow_the_metrics() -> None:
    metrics = Metrics()
    names = [f"Op{i}" for i in range(MAX_OPERATIONS)]
    assert [metrics.operation_label(name) for name in names] == names
    assert metrics.operation_label("OneTooMany") == "other"
    assert metrics.operation_label("Op7") == "Op7"
    assert metrics.operation_label(None) == "unknown"
    assert metrics.operation_label("") == "anonymous"
    assert Metrics().operation_label("not a name") == "other"


WORKER = """
import sys
from app.observability.metrics import Metrics
metrics = Metrics()
for _ in range(int(sys.argv[1])):
    metrics.observe("Hello", "success", 0.002)
metrics.websockets.set(int(sys.argv[2]))
if sys.argv[3] == "ended":
    metrics.process_ended()
    print(metrics.render().decode())
"""


def test_workers_figures_add_up_in_multiprocess_mode(tmp_path: Path) -> None:
    """Two worker processes write their figures to PROMETHEUS_MULTIPROC_DIR; a scrape of
    either reads the sum: requests of both, open WebSockets of the live one only (the
    second has ended when it renders)."""
    environment = os.environ | {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    text = ""
    for requests, sockets, ended in ((3, 2, "live"), (4, 5, "ended")):
        command = [sys.executable, "-c", WORKER, str(requests), str(sockets), ended]
        run = subprocess.run(
            command, env=environment, check=True, timeout=60, capture_output=True, text=True
        )
        text = run.stdout

    samples = parse(text)
    assert value(samples, REQUESTS, operation="Hello", outcome="success") == 7
    assert value(samples, LATENCY, operation="Hello", outcome="success") == 7
    assert value(samples, "credits_websockets_open") == 2


async def test_webhook_metrics_count_attempts_and_ask_the_backlog_at_each_scrape(
    api: Api,
) -> None:
    """The delivery worker counts each attempt by outcome; the backlog's age is read from
    the database at each scrape (0 with nothing undelivered; tests/webhooks/test_metrics.py
    follows real deliveries)."""
    metrics: Metrics = api.app.state.metrics
    before = await scrape(api)
    for outcome in ("succeeded", "succeeded", "retrying"):
        metrics.webhook_deliveries.labels(outcome).inc()
    after = await scrape(api)

    assert value(before, "credits_webhook_oldest_undelivered_seconds") == 0
    assert value(after, "credits_webhook_oldest_undelivered_seconds") == 0
    deliveries = "credits_webhook_deliveries_total"
    assert delta(before, after, deliveries, outcome="succeeded") == 2
    assert delta(before, after, deliveries, outcome="retrying") == 1
