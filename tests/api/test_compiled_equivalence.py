"""The compiled read path answers byte for byte what normal execution answers.

Two apps share one database (SQLite, and PostgreSQL when it is there) and one clock:
compiled reads on and off. Every query document of the API and access tests (and the
dashboards below) is sent to both, as an admin, a reader and customer A's portal token,
with several sets of variables, and the two responses must be the same bytes (request
ids aside): data, errors, cost limits, scoping. The clock has moved past grants' expiry
and effective instants, so the first reads also book due events (catch-up), under
either path.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from graphql import parse

import app.api.compiled as compiled
import app.api.compiled.run as compiled_run
from app.api.compiled.native import Run, native_of
from app.api.compiled.plan import plan_of
from app.api.schema import get_schema
from app.domain.time import FrozenClock
from app.live.publisher import RecordingPublisher
from app.main import create_app
from app.settings import Settings
from tests.access.support import World, build_world, post
from tests.api.conftest import create_schema
from tests.api.documents import query_documents, requests
from tests.databases import empty_postgres_async

DASHBOARD = """
query Dashboard($n: Int!, $at: DateTime) {
  customers(first: $n) {
    __typename
    totalCount
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges {
      cursor
      node {
        ...Who
        labels { key value }
        balances: creditBalances { currency available pending funded consumed expired voided
          availablePromotional availablePaid sequence at featureKey }
        past: creditBalances(at: $at) { available sequence }
        usd: creditBalance(currency: "USD") { available }
        creditGrants(first: 20) {
          totalCount
          edges { cursor node {
            __typename id key name description status currency amount remaining consumed
            expired voided priority features effectiveAt expiresAt voidedAt voidReason
            fundingMethod createdAt updatedAt labels { key value }
            purchase { currency perUnitCostBasis amount availabilityPolicy settlementStatus
              paymentReference authorizedAt settledAt failedAt }
            customer { id key }
            ledgerEntries(first: 10) {
              pageInfo { hasNextPage endCursor }
              totalCount
              edges { cursor node { ...Entry grant { id name } } }
            }
          } }
        }
        creditLedger(last: 3) { edges { node { id type amount } } pageInfo { hasPreviousPage } }
      }
    }
  }
}
fragment Who on Node { id ... on Customer { key name description createdAt updatedAt } }
fragment Entry on CreditLedgerEntry {
  id type currency amount availableBalanceBefore availableBalanceAfter sequence bookedAt
  createdAt transactionId featureKey description labels { key value }
  actor { type id name }
  customer { id }
}
"""

README_CUSTOMER = """
query Customer($customerId: ID!) {
  customer(id: $customerId) {
    name
    creditBalance(currency: "USD") {
      available pending funded consumed expired voided
      availablePromotional availablePaid sequence
    }
    creditLedger(first: 10) {
      edges {
        node { sequence type amount availableBalanceAfter bookedAt grant { name } }
      }
    }
  }
}
"""

# The benchmark's dashboard (scripts/benchmark/measure.py), which the native lane answers.
BENCH_DASHBOARD = """
{ customers(first: 50) { edges { node {
    creditBalances { currency available }
    creditGrants(first: 20) { edges { node {
      remaining
      ledgerEntries(first: 10) { edges { node { amount grant { id } } } }
    } } }
} } } }
"""

# Every field and relation the native lane reads from rows, both directions of paging.
NATIVE_PAGES = """
query Pages($n: Int) {
  forward: customers(first: $n) {
    __typename
    pageInfo { __typename hasNextPage hasPreviousPage startCursor endCursor }
    edges { __typename cursor node {
      __typename id key name description labels { __typename key value } createdAt updatedAt
    } }
  }
  backward: customers(last: 1) {
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor node { id
      creditGrants(last: 2) {
        pageInfo { startCursor endCursor hasPreviousPage hasNextPage }
        edges { cursor node {
          id key name description status currency amount remaining consumed expired voided
          priority features effectiveAt expiresAt voidedAt voidReason fundingMethod createdAt
          updatedAt labels { key value } customer { id key }
          purchase { currency perUnitCostBasis amount availabilityPolicy settlementStatus
            paymentReference authorizedAt settledAt failedAt }
          ledgerEntries(last: 2) {
            pageInfo { hasPreviousPage hasNextPage endCursor }
            edges { cursor node {
              id type currency amount availableBalanceBefore availableBalanceAfter sequence
              bookedAt createdAt transactionId featureKey description labels { key value }
              actor { __typename type id name } customer { id name } grant { id status }
            } }
          }
        } }
      }
    } }
  }
}
"""

NATIVE_LEDGERS = """
{ customers { edges { node { id
  balances: creditBalances { currency available pending funded consumed expired voided
    availablePromotional availablePaid sequence at featureKey }
  creditLedger(first: 4) { edges { node { id amount
    grant { id name status customer { id } ledgerEntries(first: 1) { edges { node { id } } } }
  } } }
} } } }
"""

NATIVE_ONE = """
query One($id: ID!) {
  byId: customer(id: $id) { id name
    usd: creditBalance(currency: "USD") { available sequence at }
    eur: creditBalance(currency: "EUR") { available sequence }
    creditLedger(last: 2) { edges { cursor node { type amount } } }
  }
  byKey: customer(key: "alpha") { id key creditGrants { edges { node { id } } } }
  nobody: customer(key: "zulu") { id }
}
"""

NATIVE = (BENCH_DASHBOARD, README_CUSTOMER, NATIVE_PAGES, NATIVE_LEDGERS, NATIVE_ONE)

OURS = (
    DASHBOARD,
    *NATIVE,
    '{ byKey: customer(key: "alpha") { id } nobody: customer(key: "zulu") { id } }',
    "{ creditLedger(first: 5) { totalCount edges { cursor node { id grant { key } } } } }",
    "{ currencies { code scale } viewer { __typename } }",
    "{ customers(first: 600) { edges { node { id } } } }",
    '{ customers(first: 2, after: "bad") { edges { node { id } } } }',
    "{ customers(first: 50) { edges { node { creditGrants(first: 50) { edges { node {"
    " ledgerEntries(first: 50) { edges { node { id } } } } } } } } } }",
)

SEED = """
mutation Seed($a: ID!, $b: ID!) {
  paid: purchaseCredits(input: { customerId: $a, key: "p1", name: "Prepaid", currency: "USD",
      amount: "100.00", fundingMethod: INVOICE, labels: [{ key: "tier", value: "gold" }],
      purchase: { availabilityPolicy: ON_CREATION, paymentReference: "INV-1" } }) {
    __typename
  }
  soon: grantPromotionalCredits(input: { customerId: $a, key: "s1", name: "Short",
      currency: "USD", amount: "7.5", priority: 1, expiresAfter: "PT10M",
      features: ["chat"] }) { __typename }
  later: grantPromotionalCredits(input: { customerId: $b, key: "l1", name: "Later",
      currency: "USD", amount: "3", effectiveAt: "2026-01-15T12:20:00Z" }) { __typename }
}
"""

CALLERS = ("admin", "reader", "portal_own")


@dataclass
class Pair:
    on: httpx.AsyncClient
    off: httpx.AsyncClient
    world: World
    clock: FrozenClock


@pytest.fixture(params=["sqlite", "postgresql"])
async def pair(
    request: pytest.FixtureRequest, tmp_path: Path, clock: FrozenClock
) -> AsyncIterator[Pair]:
    async with AsyncExitStack() as stack:
        url = f"sqlite:///{tmp_path}/credits.db"
        if request.param == "postgresql":
            postgres_url = request.getfixturevalue("postgres_url")  # skips without PostgreSQL
            url = await stack.enter_async_context(
                empty_postgres_async(postgres_url, "credits_test")
            )
        await create_schema(url)
        clients = []
        for flag in (True, False):
            settings = Settings(database_url=url, scheduler_enabled=False, compiled_reads=flag)
            app = create_app(settings, clock=clock, publisher=RecordingPublisher())
            await stack.enter_async_context(app.router.lifespan_context(app))
            transport = httpx.ASGITransport(app=app)
            client = httpx.AsyncClient(transport=transport, base_url="http://test")
            clients.append((await stack.enter_async_context(client), app))
        world = await build_world(clients[0][1])
        seeded = await post(
            clients[0][0],
            world.authorization("admin"),
            SEED,
            a=world.a.customer,
            b=world.b.customer,
        )
        assert "errors" not in seeded.json(), seeded.json()
        # The short grant expired, the later one is funded; A's portal token (1 h) still holds.
        clock.advance(timedelta(minutes=30))
        yield Pair(clients[0][0], clients[1][0], world, clock)


async def answers(
    pair: Pair, caller: str, text: str, name: str | None, variables: dict[str, Any], on_first: bool
) -> tuple[bytes, bytes]:
    order = (pair.on, pair.off) if on_first else (pair.off, pair.on)
    bodies = []
    for client in order:
        headers = {"Authorization": pair.world.authorization(caller) or ""}
        body: dict[str, Any] = {"query": text, "variables": variables}
        if name is not None:
            body["operationName"] = name
        response = await client.post("/graphql", json=body, headers=headers)
        request_id = response.headers["x-request-id"].encode()
        content = response.content.replace(request_id, b"<request id>")
        bodies.append(f"{response.status_code} ".encode() + content)
    return (bodies[0], bodies[1]) if on_first else (bodies[1], bodies[0])


def native_spy(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """The native plans each answer of the native lane came from."""
    answered: list[object] = []

    class Spy(Run):
        async def answer(self, root_value: Any) -> dict[str, Any]:
            data = await super().answer(root_value)
            answered.append(self.plan)
            return data

    monkeypatch.setattr(compiled_run, "Run", Spy)
    return answered


def natively_answered(answered: list[object]) -> set[str]:
    """The documents whose native plan answered (read back from the plan cache)."""
    return {
        key[1]
        for key, plans in compiled_run._plans.items()
        if plans is not None and any(plans[1] is plan for plan in answered)
    }


async def test_every_query_document_of_the_tests_answers_the_same_through_both_paths(
    pair: Pair, monkeypatch: pytest.MonkeyPatch
) -> None:
    compiled_answers: list[str] = []
    real_answer = compiled.answer

    async def spy(context: Any) -> Any:
        result = await real_answer(context)
        if result is not None:
            compiled_answers.append(context.query)
        return result

    monkeypatch.setattr(compiled, "answer", spy)
    native = native_spy(monkeypatch)
    documents = (*OURS, *query_documents())
    assert len(documents) > 80
    sent = 0
    answered = dict.fromkeys(CALLERS, 0)
    for text in documents:
        for caller in CALLERS:
            for name, variables in requests(text, pair.world):
                on, off = await answers(pair, caller, text, name, variables, sent % 2 == 0)
                assert on == off, (caller, text, name, variables)
                sent += 1
                answered[caller] += on.startswith(b"200 ") and b'"errors"' not in on
    assert sent > 500
    assert min(answered.values()) > 100, answered
    # The comparison means something: the compiled path answered many of them itself.
    assert DASHBOARD in compiled_answers and README_CUSTOMER in compiled_answers
    assert len(set(compiled_answers)) > 30
    # and the native lane (rows, no resolvers) answered many of those, ours among them
    assert {DASHBOARD, *NATIVE} <= natively_answered(native)
    assert len(natively_answered(native)) > 30


async def test_the_dashboard_answers_with_data_and_within_the_cost_limit(pair: Pair) -> None:
    on, off = await answers(pair, "admin", DASHBOARD, None, {"n": 5}, True)
    assert on == off
    assert b'"errors"' not in on and b'"tier"' in on and b'"EXPIRED"' in on
    limited, _ = await answers(pair, "admin", OURS[-1], None, {}, True)
    assert b"LIMIT_EXCEEDED" in limited


def plan(text: str, name: str | None = None) -> object:
    return plan_of(get_schema()._schema, parse(text), name)


def test_what_the_compiled_path_leaves_to_normal_execution() -> None:
    assert plan(DASHBOARD) is not None
    assert plan(README_CUSTOMER) is not None
    assert plan("{ customers { edges { node { id } } } }") is not None
    # abstract types, directives, merged response keys, introspection, other operations
    assert plan('{ node(id: "x") { id } }') is None
    assert plan("{ customers { edges { node { ... on Node { id } } } } }") is not None
    assert plan('{ node(id: "x") { ... on Customer { id } } }') is None
    assert plan("query($s: Boolean!) { customers { totalCount @include(if: $s) } }") is None
    assert plan("{ customers { totalCount totalCount } }") is None
    assert plan("{ __schema { queryType { name } } }") is None
    assert plan("{ __typename }") is not None
    assert plan('mutation { createCustomer(input: {key: "k", name: "n"}) { __typename } }') is None
    assert plan("subscription { ledgerEntries { id } }") is None
    assert plan("query A { currencies { code } } query B { viewer { __typename } }") is None
    assert plan("query A { currencies { code } } query B { viewer { __typename } }", "B")


async def test_a_query_that_fails_is_answered_by_normal_execution(
    pair: Pair, monkeypatch: pytest.MonkeyPatch
) -> None:
    outcomes: list[object] = []
    real_answer = compiled.answer

    async def spy(context: Any) -> Any:
        outcomes.append(await real_answer(context))
        return outcomes[-1]

    monkeypatch.setattr(compiled, "answer", spy)
    for text in ("{ customers(first: -1) { totalCount } }", "{ customers { totalCount } }"):
        on, off = await answers(pair, "admin", text, None, {}, True)
        assert on == off
    assert outcomes[0] is None and outcomes[1] is not None
    assert b"BAD_USER_INPUT" in (await answers(pair, "admin", OURS[5], None, {}, True))[0]


async def test_a_portal_token_sees_only_its_customer_through_the_compiled_path(
    pair: Pair, monkeypatch: pytest.MonkeyPatch
) -> None:
    answered: list[object] = []
    real_answer = compiled.answer

    async def spy(context: Any) -> Any:
        answered.append(await real_answer(context))
        return answered[-1]

    monkeypatch.setattr(compiled, "answer", spy)
    text = "{ customers { totalCount edges { node { id creditLedger { totalCount } } } } }"
    on, off = await answers(pair, "portal_own", text, None, {}, True)
    assert on == off and answered[0] is not None
    a, b = pair.world.a.customer.encode(), pair.world.b.customer.encode()
    assert a in on and b not in on and b'"totalCount":1' in on


async def test_with_compiled_reads_off_every_query_runs_the_normal_way(
    pair: Pair, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[object] = []

    async def spy(context: Any) -> Any:
        calls.append(context)
        return None

    monkeypatch.setattr(compiled, "answer", spy)
    await answers(pair, "admin", README_CUSTOMER, None, {"customerId": pair.world.a.customer}, True)
    assert len(calls) == 1  # the app with compiled reads on asked; the other did not


def native(text: str) -> object:
    found = plan_of(get_schema()._schema, parse(text), None)
    return None if found is None else native_of(found)


def test_what_the_native_lane_leaves_to_the_resolvers() -> None:
    assert all(native(text) is not None for text in NATIVE)
    assert native("{ __typename customers { edges { node { ... on Node { id } } } } }")
    assert native(DASHBOARD) is not None
    assert native("{ customers { totalCount } }") is not None
    # lists the lane has no statement for, and fields with resolvers of their own
    assert native("{ creditLedger { edges { node { id } } } }") is None
    assert native("{ currencies { code } }") is None
    assert (
        native(
            '{ customers { edges { node { upcomingCreditExpirations(within: "P1D") {'
            " amount } } } } }"
        )
        is None
    )
    assert (
        native(
            "{ customers { edges { node { creditLedger { edges { node {"
            " consumption { id } } } } } } } }"
        )
        is None
    )


async def test_pages_after_and_before_a_cursor_answer_the_same_through_the_native_lane(
    pair: Pair, monkeypatch: pytest.MonkeyPatch
) -> None:
    answered = native_spy(monkeypatch)
    first = "{ customers(first: 1) { edges { cursor node { creditLedger(first: 1) {"
    first += " edges { cursor } } } } } }"
    on, off = await answers(pair, "admin", first, None, {}, True)
    assert on == off
    edge = json.loads(on.split(b" ", 1)[1])["data"]["customers"]["edges"][0]
    cursors = {"c": edge["cursor"], "e": edge["node"]["creditLedger"]["edges"][0]["cursor"]}
    text = """
    query($c: String!, $e: String!) {
      after: customers(after: $c) { edges { node { id
        creditLedger(first: 2, after: $e) { pageInfo { hasNextPage hasPreviousPage }
          edges { cursor node { id } } } } } }
      before: customers(last: 5, before: $c) { pageInfo { hasNextPage } edges { node { id
        creditLedger(last: 2, before: $e) { pageInfo { hasNextPage hasPreviousPage }
          edges { cursor node { id } } } } } }
    }"""
    on, off = await answers(pair, "admin", text, None, cursors, False)
    assert on == off and b'"errors"' not in on
    assert len(answered) == 2  # both documents, by the native lane


async def test_a_filter_or_an_order_leaves_the_native_lane_before_any_statement(
    pair: Pair, monkeypatch: pytest.MonkeyPatch
) -> None:
    answered = native_spy(monkeypatch)
    statements: list[object] = []
    real_rows = Run.rows

    async def rows(self: Run, statement: Any, parameters: dict[str, Any]) -> list[Any]:
        statements.append(statement)
        return await real_rows(self, statement, parameters)

    monkeypatch.setattr(Run, "rows", rows)
    for text in (
        '{ customers(filter: { key: "alpha" }) { edges { node { id } } } }',
        "{ customers { edges { node { id creditGrants(orderBy: { field: PRIORITY }) {"
        " edges { node { id } } } } } } }",
        "{ customers { edges { node { id creditLedger(filter: { types: [FUNDED] }) {"
        " edges { node { id } } } } } } }",
        "{ customers(first: 1) { edges { node { id creditLedger(first: 501) {"
        " edges { node { id } } } } } } }",
    ):
        on, off = await answers(pair, "admin", text, None, {}, True)
        assert on == off
    assert statements == [] and answered == []


async def test_a_portal_token_sees_only_its_customer_through_the_native_lane(
    pair: Pair, monkeypatch: pytest.MonkeyPatch
) -> None:
    answered = native_spy(monkeypatch)
    a, b = pair.world.a, pair.world.b
    on, off = await answers(pair, "portal_own", NATIVE_LEDGERS, None, {}, True)
    assert on == off
    assert a.customer.encode() in on and b.customer.encode() not in on
    assert a.grant.encode() in on and b.grant.encode() not in on
    for customer, seen in ((a.customer, True), (b.customer, False)):
        on, off = await answers(pair, "portal_own", NATIVE_ONE, None, {"id": customer}, True)
        assert on == off and (customer.encode() in on) == seen
    assert len(answered) == 3
