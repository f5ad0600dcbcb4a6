"""Thresholds over HTTP (docs/thresholds.md): the mutations and every member of their
unions, the reads, and 50 concurrent consumptions crossing one threshold, on SQLite and
PostgreSQL."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.domain.time import FrozenClock
from app.live.publisher import RecordingPublisher
from app.main import create_app
from app.settings import Settings
from tests.api.conftest import START, Api
from tests.api.test_queries_helpers import consume, create_customer, promo
from tests.api.test_races import at_once, consumption
from tests.conftest import empty_database

CREATE = """mutation($input: CreateCreditThresholdInput!) { createCreditThreshold(input: $input) {
  __typename
  ... on CreditThresholdSuccess {
    replayed
    threshold {
      id key name currency featureKey below state createdAt customer { id }
      topUp {
        amount fundingMethod priority features expiresAfter
        purchase { currency perUnitCostBasis amount availabilityPolicy settlementStatus }
      }
    }
  }
  ... on ValidationError { issues { field message } }
  ... on KeyConflictError { key }
  ... on Error { code message }
} }"""
DELETE = """mutation($input: DeleteCreditThresholdInput!) { deleteCreditThreshold(input: $input) {
  __typename
  ... on CreditThresholdSuccess { replayed threshold { id state } }
  ... on ValidationError { issues { field message } }
  ... on Error { code message }
} }"""
EVENT_FIELDS = """id type sequence availableBefore availableAfter occurredAt
  threshold { id name } entry { type amount sequence } topUpGrant { id amount key }"""
READ = f"""query($id: ID!, $currency: String, $deleted: Boolean, $first: Int, $after: String) {{
  customer(id: $id) {{
    creditThresholds(currency: $currency, includeDeleted: $deleted) {{
      id state crossings {{ totalCount edges {{ node {{ sequence }} }} }}
    }}
    creditThresholdEvents(currency: $currency, first: $first, after: $after) {{
      totalCount pageInfo {{ hasNextPage endCursor }} edges {{ node {{ {EVENT_FIELDS} }} }}
    }}
  }}
}}"""


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    yield from empty_database(request, tmp_path, "credits_thresholds")


@pytest.fixture
async def api(database_url: str, clock: FrozenClock) -> AsyncIterator[Api]:
    """The app on SQLite or PostgreSQL, in OPEN mode (every request acts as ADMIN)."""
    settings = Settings(database_url=database_url, scheduler_enabled=False)
    app = create_app(settings, clock=clock, publisher=RecordingPublisher())
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield Api(client, app)


def threshold_input(customer_id: str, **fields: Any) -> dict[str, Any]:
    return {"customerId": customer_id, "name": "Low", "currency": "USD", "below": "50", **fields}


async def create(api: Api, **input: Any) -> dict[str, Any]:
    answer: dict[str, Any] = (await api(CREATE, input=input))["createCreditThreshold"]
    return answer


async def test_create_answers_the_threshold_and_its_top_up_and_replays_by_key(api: Api) -> None:
    customer_id = await create_customer(api, "acme")
    await promo(api, customer_id, "40")
    top_up = {
        "amount": "100",
        "fundingMethod": "INVOICE",
        "purchase": {"perUnitCostBasis": "0.5", "availabilityPolicy": "ON_SETTLEMENT"},
        "features": ["api", "api"],
        "expiresAfter": "P30D",
    }
    input = threshold_input(customer_id, key="low", topUp=top_up)
    made = await create(api, **input)
    again = await create(api, **input)
    threshold = made["threshold"]
    assert made == {"__typename": "CreditThresholdSuccess", "replayed": False, **made}
    assert again == {**made, "replayed": True}
    assert threshold["id"].startswith("thr_")
    assert {k: v for k, v in threshold.items() if k not in ("id", "createdAt")} == {
        "key": "low",
        "name": "Low",
        "currency": "USD",
        "featureKey": None,
        "below": "50.00",
        "state": "CROSSED",  # 40 is under 50 already
        "customer": {"id": customer_id},
        "topUp": {
            "amount": "100.00",
            "fundingMethod": "INVOICE",
            "priority": 10,
            "features": ["api"],
            "expiresAfter": "P30D",
            "purchase": {
                "currency": "USD",
                "perUnitCostBasis": "0.5",
                "amount": "50.00",
                "availabilityPolicy": "ON_SETTLEMENT",
                "settlementStatus": "PENDING",
            },
        },
    }
    assert threshold["createdAt"] == "2026-01-15T12:00:00Z" == START.isoformat()[:-6] + "Z"


async def test_create_errors_are_members_of_its_union(api: Api) -> None:
    customer_id = await create_customer(api, "acme")
    invalid = await create(
        api,
        **threshold_input(
            customer_id,
            below="0",
            featureKey="API",
            topUp={"amount": "1.001", "fundingMethod": "NONE", "priority": 0},
        ),
    )
    assert invalid["__typename"] == "ValidationError"
    assert [issue["field"] for issue in invalid["issues"]] == [
        ["input", "below"],
        ["input", "featureKey"],
        ["input", "topUp", "priority"],
        ["input", "topUp", "amount"],
        ["input", "topUp", "fundingMethod"],
    ]
    malformed = await create(api, **threshold_input("nope"))
    assert [i["field"] for i in malformed["issues"]] == [["input", "customerId"]]
    unknown = await create(api, **threshold_input("cus_01J9Z8Y7X6W5V4T3S2R1Q0P9N8"))
    assert unknown == {
        "__typename": "NotFoundError",
        "code": "NOT_FOUND",
        "message": "Customer cus_01J9Z8Y7X6W5V4T3S2R1Q0P9N8 not found",
    }
    await create(api, **threshold_input(customer_id, key="k"))
    conflict = await create(api, **threshold_input(customer_id, key="k", below="60"))
    assert (conflict["__typename"], conflict["key"], conflict["code"]) == (
        "KeyConflictError",
        "k",
        "KEY_CONFLICT",
    )
    for n in range(9):
        await create(api, **threshold_input(customer_id, below=str(n + 1)))
    eleventh = await create(api, **threshold_input(customer_id))
    assert [i["field"] for i in eleventh["issues"]] == [["input", "currency"]]


async def test_delete_answers_the_deleted_threshold_then_replays(api: Api) -> None:
    customer_id = await create_customer(api, "acme")
    made = (await create(api, **threshold_input(customer_id)))["threshold"]
    first = (await api(DELETE, input={"thresholdId": made["id"]}))["deleteCreditThreshold"]
    again = (await api(DELETE, input={"thresholdId": made["id"]}))["deleteCreditThreshold"]
    deleted = {"id": made["id"], "state": "DELETED"}
    assert first == {
        "__typename": "CreditThresholdSuccess",
        "replayed": False,
        "threshold": deleted,
    }
    assert again == {**first, "replayed": True}
    malformed = (await api(DELETE, input={"thresholdId": "x"}))["deleteCreditThreshold"]
    assert malformed["__typename"] == "ValidationError"
    assert [i["field"] for i in malformed["issues"]] == [["input", "thresholdId"]]
    other = (await api(DELETE, input={"thresholdId": customer_id}))["deleteCreditThreshold"]
    assert (other["__typename"], other["code"]) == ("NotFoundError", "NOT_FOUND")
    data = await api(READ, id=customer_id)
    assert data["customer"]["creditThresholds"] == []
    data = await api(READ, id=customer_id, deleted=True)
    assert [t["state"] for t in data["customer"]["creditThresholds"]] == ["DELETED"]


async def test_events_are_listed_oldest_first_with_their_entry_and_top_up(api: Api) -> None:
    customer_id = await create_customer(api, "acme")
    await promo(api, customer_id, "100")
    await promo(api, customer_id, "5", "EUR")
    made = await create(
        api, **threshold_input(customer_id, topUp={"amount": "20", "fundingMethod": "EXTERNAL"})
    )
    await create(api, **threshold_input(customer_id, currency="EUR", below="4"))
    await consume(api, customer_id, "a", "60")  # 40: crossed, +20: 60 recovered
    await consume(api, customer_id, "b", "2", "EUR")  # 3: crossed
    data = (await api(READ, id=customer_id, currency="USD"))["customer"]
    events = data["creditThresholdEvents"]
    assert events["totalCount"] == 2
    crossed, recovered = (edge["node"] for edge in events["edges"])
    threshold = {"id": made["threshold"]["id"], "name": "Low"}
    assert {k: v for k, v in crossed.items() if k not in ("id", "topUpGrant")} == {
        "type": "CROSSED",
        "sequence": 1,
        "availableBefore": "100.00",
        "availableAfter": "60.00",
        "occurredAt": "2026-01-15T12:00:00Z",
        "threshold": threshold,
        "entry": {"type": "CONSUMED", "amount": "-60.00", "sequence": 2},
    }
    assert crossed["topUpGrant"] == {"id": crossed["topUpGrant"]["id"], "amount": "20.00",
                                     "key": f"topup:{crossed['id']}"}  # fmt: skip
    assert (recovered["type"], recovered["sequence"], recovered["topUpGrant"]) == (
        "RECOVERED",
        2,
        None,
    )
    assert recovered["entry"] == {"type": "FUNDED", "amount": "20.00", "sequence": 3}
    assert [t["crossings"]["totalCount"] for t in data["creditThresholds"]] == [2]
    everything = (await api(READ, id=customer_id, first=2))["customer"]["creditThresholdEvents"]
    assert everything["totalCount"] == 3 and everything["pageInfo"]["hasNextPage"]
    cursor = everything["pageInfo"]["endCursor"]
    rest = (await api(READ, id=customer_id, first=2, after=cursor))["customer"]
    [eur] = [edge["node"] for edge in rest["creditThresholdEvents"]["edges"]]
    assert (eur["type"], eur["sequence"], eur["availableAfter"]) == ("CROSSED", 1, "3.00")
    nodes = await api(
        "query($ids: [ID!]!) { nodes(ids: $ids) { __typename id } }",
        ids=[made["threshold"]["id"], crossed["id"]],
    )
    assert [n["__typename"] for n in nodes["nodes"]] == ["CreditThreshold", "CreditThresholdEvent"]


async def test_fifty_concurrent_consumptions_cross_once_and_buy_once(api: Api) -> None:
    customer_id = await create_customer(api, "acme")
    await promo(api, customer_id, "100")
    top_up = {"amount": "0.5", "fundingMethod": "INVOICE"}  # too little to recover
    await create(api, **threshold_input(customer_id, below="75", topUp=top_up))
    answers = await at_once(api, [consumption(customer_id, f"use-{n}") for n in range(50)])
    assert {answer["__typename"] for answer in answers} == {"ConsumeCreditsSuccess"}
    data = (await api(READ, id=customer_id))["customer"]
    events = [edge["node"] for edge in data["creditThresholdEvents"]["edges"]]
    assert [
        (e["type"], e["sequence"], e["availableBefore"], e["availableAfter"]) for e in events
    ] == [
        ("CROSSED", 1, "75.00", "74.50")  # the 26th credit taken: 74, and 0.5 bought
    ]
    grants = await api(
        "query($id: ID!) { customer(id: $id) { creditGrants { totalCount } "
        'creditBalance(currency: "USD") { available } } }',
        id=customer_id,
    )
    assert grants["customer"] == {
        "creditGrants": {"totalCount": 2},
        "creditBalance": {"available": "50.50"},
    }


DOCUMENTED = (Path(__file__).resolve().parents[2] / "docs" / "thresholds.md").read_text()


async def test_the_example_of_docs_thresholds_md_answers_as_shown(api: Api) -> None:
    blocks = re.findall(r"^```(graphql|json)\n(.*?)^```", DOCUMENTED, re.S | re.M)
    (_, watch), (_, created), (_, read), (_, listed) = blocks[:4]
    customer_id = await create_customer(api, "acme")
    await promo(api, customer_id, "100")
    assert await api(watch, customerId=customer_id) == json.loads(created)
    await consume(api, customer_id, "big", "85")
    assert await api(read, customerId=customer_id) == json.loads(listed)
