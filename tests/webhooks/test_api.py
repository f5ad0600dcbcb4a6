"""Webhook endpoints and the delivery log through GraphQL (OPEN mode acts as ADMIN; the
access matrix in tests/access checks that other roles are refused)."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from app.domain.time import FrozenClock
from app.services.runtime import Runtime
from tests.api.conftest import Api, running_api
from tests.services.support import promo
from tests.webhooks.support import Receiver, deliver_all, signed_by

ENDPOINT_FIELDS = "id url description eventTypes enabled createdAt customer { id }"
CREATE = f"""
mutation($input: CreateWebhookEndpointInput!) {{
  createWebhookEndpoint(input: $input) {{
    __typename
    ... on WebhookEndpointSuccess {{ secret endpoint {{ {ENDPOINT_FIELDS} }} }}
    ... on ValidationError {{ issues {{ field message }} }}
    ... on Error {{ code message }}
  }}
}}"""
UPDATE = f"""
mutation($input: UpdateWebhookEndpointInput!) {{
  updateWebhookEndpoint(input: $input) {{
    __typename
    ... on WebhookEndpointSuccess {{ secret endpoint {{ {ENDPOINT_FIELDS} }} }}
    ... on ValidationError {{ issues {{ field message }} }}
    ... on Error {{ code }}
  }}
}}"""
DELETE = """
mutation($input: WebhookEndpointIdInput!) {
  deleteWebhookEndpoint(input: $input) {
    __typename ... on WebhookEndpointSuccess { secret endpoint { id } } ... on Error { code }
  }
}"""
REDELIVER = """
mutation($input: RedeliverWebhookEventInput!) {
  redeliverWebhookEvent(input: $input) {
    __typename
    ... on WebhookDeliverySuccess { delivery { id status nextAttemptAt attempts { at } } }
    ... on ValidationError { issues { field } }
    ... on Error { code }
  }
}"""
DELIVERIES = """
query($id: ID!, $first: Int, $after: String, $status: WebhookDeliveryStatus) {
  webhookEndpoint(id: $id) {
    deliveries(first: $first, after: $after, status: $status) {
      totalCount
      pageInfo { hasNextPage endCursor }
      edges { node {
        id status nextAttemptAt endpoint { id }
        event { id type occurredAt customer { id } payload }
        attempts { at responseStatus durationMs responseBody error }
      } }
    }
  }
}"""
PUBLIC = "https://93.184.216.34/hook"  # a public address: no DNS needed


@pytest.fixture
async def api(tmp_path: Path, clock: FrozenClock) -> AsyncIterator[Api]:
    async with running_api(tmp_path, clock, webhooks_allow_loopback=True) as running:
        yield running


@pytest.fixture
async def strict(tmp_path: Path, clock: FrozenClock) -> AsyncIterator[Api]:
    """The default: no loopback endpoints."""
    async with running_api(tmp_path, clock) as running:
        yield running


async def create(api: Api, **input: Any) -> dict[str, Any]:
    input.setdefault("eventTypes", ["CREDIT_GRANT_CREATED"])
    answer: dict[str, Any] = (await api(CREATE, input=input))["createWebhookEndpoint"]
    return answer


async def test_creation_shows_the_secret_once(api: Api) -> None:
    made = await create(api, url=PUBLIC, description="billing", eventTypes=["CREDIT_GRANT_FUNDED"])
    assert made["__typename"] == "WebhookEndpointSuccess"
    secret = made["secret"]
    assert secret.startswith("whsec_") and len(base64.b64decode(secret[6:])) == 24
    endpoint = made["endpoint"]
    assert endpoint["url"] == PUBLIC and endpoint["enabled"] is True
    assert endpoint["eventTypes"] == ["CREDIT_GRANT_FUNDED"] and endpoint["customer"] is None
    listed = await api(f"{{ webhookEndpoints {{ {ENDPOINT_FIELDS} }} }}")
    assert listed == {"webhookEndpoints": [endpoint]}
    changed = await api(
        UPDATE, input={"endpointId": endpoint["id"], "enabled": False, "description": "off"}
    )
    answer = changed["updateWebhookEndpoint"]
    assert answer["secret"] is None
    assert answer["endpoint"] == endpoint | {"enabled": False, "description": "off"}
    deleted = await api(DELETE, input={"endpointId": endpoint["id"]})
    assert deleted["deleteWebhookEndpoint"]["endpoint"] == {"id": endpoint["id"]}
    assert await api("{ webhookEndpoints { id } }") == {"webhookEndpoints": []}
    again = await api(DELETE, input={"endpointId": endpoint["id"]})
    assert again["deleteWebhookEndpoint"] == {"__typename": "NotFoundError", "code": "NOT_FOUND"}


REFUSED = [
    "https://10.1.2.3/hook",
    "https://172.16.0.1/hook",
    "https://192.168.1.20/hook",
    "https://169.254.169.254/latest/meta-data",
    "https://[fe80::1]/hook",
    "https://[fd00::1]/hook",
    "https://[::ffff:10.0.0.1]/hook",
    "https://224.0.0.1/hook",
    "https://0.0.0.0/hook",
    "https://127.0.0.1/hook",
    "https://[::1]/hook",
    "https://localhost/hook",
    "http://127.0.0.1:8080/hook",
    "http://93.184.216.34/hook",
    "ftp://93.184.216.34/hook",
    "https://user:pw@93.184.216.34/hook",
    "not a url",
]


@pytest.mark.parametrize("url", REFUSED)
async def test_private_link_local_loopback_and_plain_http_urls_are_refused(
    strict: Api, url: str
) -> None:
    answer = await create(strict, url=url)
    assert answer["__typename"] == "ValidationError", answer
    assert [issue["field"] for issue in answer["issues"]] == [["input", "url"]]
    assert await strict("{ webhookEndpoints { id } }") == {"webhookEndpoints": []}


async def test_the_development_switch_allows_loopback_only(api: Api) -> None:
    for url in ("http://127.0.0.1:9/hook", "https://localhost/hook", "http://[::1]:9/hook"):
        assert (await create(api, url=url))["__typename"] == "WebhookEndpointSuccess"
    for url in ("http://10.0.0.1/hook", "https://169.254.169.254/", "http://93.184.216.34/"):
        assert (await create(api, url=url))["__typename"] == "ValidationError"


async def test_at_most_twenty_endpoints_and_at_least_one_event_type(api: Api) -> None:
    for _ in range(20):
        assert (await create(api, url=PUBLIC))["__typename"] == "WebhookEndpointSuccess"
    answer = await create(api, url=PUBLIC)
    assert answer["issues"] == [
        {"field": ["input", "url"], "message": "at most 20 endpoints: delete one first"}
    ]
    none = await create(api, url=PUBLIC, eventTypes=[])
    assert [i["field"] for i in none["issues"]] == [["input", "eventTypes"]]


async def test_unknown_or_malformed_ids_are_answered_as_such(api: Api) -> None:
    unknown = "cus_01J9ZZZZZZZZZZZZZZZZZZZZZZ"
    answer = await create(api, url=PUBLIC, customerId=unknown)
    assert (answer["__typename"], answer["code"]) == ("NotFoundError", "NOT_FOUND")
    bad = await api(UPDATE, input={"endpointId": "nope", "enabled": True})
    assert bad["updateWebhookEndpoint"]["issues"] == [
        {"field": ["input", "endpointId"], "message": "'nope' is not a valid ID"}
    ]
    for delivery_id, expected in (
        (
            "nope",
            {
                "__typename": "ValidationError",
                "issues": [{"field": ["input", "deliveryId"]}],
                "code": "VALIDATION_FAILED",
            },
        ),
        (unknown, {"__typename": "NotFoundError", "code": "NOT_FOUND"}),
        ("whd_01J9ZZZZZZZZZZZZZZZZZZZZZZ", {"__typename": "NotFoundError", "code": "NOT_FOUND"}),
    ):
        answer = await api(REDELIVER, input={"deliveryId": delivery_id})
        assert answer["redeliverWebhookEvent"] == expected
    response = await api.raw('{ webhookEndpoint(id: "bad") { id } }')
    assert response["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert await api(f'{{ webhookEndpoint(id: "{unknown}") {{ id }} }}') == {
        "webhookEndpoint": None
    }


async def test_the_log_shows_each_delivery_and_its_attempts(api: Api, tmp_path: Path) -> None:
    runtime: Runtime = api.app.state.runtime
    async with Receiver.running() as receiver:
        made = await create(
            api, url=receiver.url, eventTypes=["CREDIT_GRANT_CREATED", "CREDIT_GRANT_FUNDED"]
        )
        endpoint_id, secret = made["endpoint"]["id"], made["secret"]
        customer = await api(
            'mutation { createCustomer(input: {key: "acme", name: "Acme"}) '
            "{ ... on CreateCustomerSuccess { customer { id } } } }"
        )
        customer_id = customer["createCustomer"]["customer"]["id"]
        await promo(runtime, customer_id, "10")
        receiver.answer = lambda got: 503 if len(receiver.received) == 1 else 200
        assert await deliver_all(runtime) == 1  # 503: the grant's FUNDED event waits
    page = (await api(DELIVERIES, id=endpoint_id))["webhookEndpoint"]["deliveries"]
    assert page["totalCount"] == 2 and page["pageInfo"]["hasNextPage"] is False
    funded, created = (edge["node"] for edge in page["edges"])  # newest first
    assert (created["status"], funded["status"]) == ("PENDING", "PENDING")
    assert created["nextAttemptAt"] == "2026-01-15T12:00:05Z"
    [attempt] = created["attempts"]
    assert attempt == {
        "at": "2026-01-15T12:00:00Z",
        "responseStatus": 503,
        "durationMs": attempt["durationMs"],
        "responseBody": "ok",
        "error": None,
    }
    [received] = receiver.received
    assert signed_by(received, secret)
    event = created["event"]
    assert (event["id"], event["type"]) == (received.id, "CREDIT_GRANT_CREATED")
    assert event["payload"] == received.body
    assert json.loads(event["payload"])["customerId"] == event["customer"]["id"] == customer_id
    assert created["endpoint"] == {"id": endpoint_id}

    first = (await api(DELIVERIES, id=endpoint_id, first=1))["webhookEndpoint"]["deliveries"]
    assert [e["node"]["id"] for e in first["edges"]] == [funded["id"]]
    assert first["pageInfo"]["hasNextPage"] is True
    rest = await api(DELIVERIES, id=endpoint_id, first=1, after=first["pageInfo"]["endCursor"])
    assert [e["node"]["id"] for e in rest["webhookEndpoint"]["deliveries"]["edges"]] == [
        created["id"]
    ]
    succeeded = await api(DELIVERIES, id=endpoint_id, status="SUCCEEDED")
    assert succeeded["webhookEndpoint"]["deliveries"]["totalCount"] == 0

    queued = (await api(REDELIVER, input={"deliveryId": created["id"]}))["redeliverWebhookEvent"]
    assert queued["delivery"]["status"] == "PENDING"
    assert queued["delivery"]["nextAttemptAt"] == "2026-01-15T12:00:00Z"  # due now
