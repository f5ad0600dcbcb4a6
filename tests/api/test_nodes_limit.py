"""nodes(ids:) counts each id: at most the page limit (500) of them, each one object of the
estimated cost, and all loaded in one batch per type."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from app.domain.ledger import OPEN
from app.services.customers import create_customer
from app.services.grants import GrantRequest, grant_promotional_credits
from tests.api.conftest import Api
from tests.api.test_dashboard_statements import selects
from tests.api.test_unsafe_input import rows

NODES = "query ($ids: [ID!]!) { nodes(ids: $ids) { id __typename } }"
UNKNOWN = "cus_01JAAAAAAAAAAAAAAAAAAAAAAA"


async def seed(api: Api, count: int) -> tuple[list[str], list[str]]:
    runtime = api.app.state.runtime
    customers, grants = [], []
    for n in range(count):
        customer_id, _ = await create_customer(runtime, key=f"c{n}", name=f"Customer {n}")
        request = GrantRequest(customer_id=customer_id, name="g", currency="USD", amount=Decimal(5))
        outcome = await grant_promotional_credits(runtime, actor=OPEN, request=request)
        customers.append(customer_id)
        grants.append(outcome.grant_id)
    return customers, grants


def error_of(body: dict[str, Any]) -> tuple[str, str]:
    [error] = body["errors"]
    return error["extensions"]["code"], error["message"]


async def test_more_ids_than_the_page_limit_is_limit_exceeded(api: Api) -> None:
    before = await rows(api)

    body = await api.raw(NODES, ids=[UNKNOWN] * 501)

    assert error_of(body) == ("BAD_USER_INPUT", "nodes got 501 ids, over the page limit of 500")
    assert body["data"] is None
    assert (await api(NODES, ids=[UNKNOWN] * 500))["nodes"] == [None] * 500
    assert await rows(api) == before


async def test_each_id_counts_against_the_cost_limit(api: Api) -> None:
    query = """
    query ($ids: [ID!]!) {
      nodes(ids: $ids) { ... on Customer { creditGrants(first: 100) { edges { node { id } } } } }
    }"""
    api.count_statements()

    body = await api.raw(query, ids=[UNKNOWN] * 500)

    assert error_of(body) == ("LIMIT_EXCEEDED", "Query cost 50500 exceeds the cost limit of 50000")
    assert body["data"] is None
    assert not any("FROM customer" in statement for statement in api.statements)
    assert "errors" not in await api.raw(query, ids=[UNKNOWN] * 495)  # 495 + 49,500


async def test_nodes_are_loaded_in_one_batch_per_type(api: Api) -> None:
    customers, grants = await seed(api, 30)
    await api("{ __typename }")  # OPEN mode is known from here on: no statement per request
    api.count_statements()

    few = await api(NODES, ids=[customers[0], grants[0]])
    statements_for_few = selects(api.statements)
    api.statements.clear()
    many = [id for pair in zip(customers, grants, strict=True) for id in pair] + [UNKNOWN]
    found = await api(NODES, ids=many)

    assert [node["id"] for node in few["nodes"]] == [customers[0], grants[0]]
    assert [node and node["id"] for node in found["nodes"]] == [*many[:-1], None]
    assert selects(api.statements) == statements_for_few
