"""OPEN mode (DESIGN §10): while no API key exists and the server listens only on
loopback, every request acts as ADMIN; the first key ends it at once, also for a running
server; the ledger's actor says who booked each entry."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from app.domain.access import Role
from app.domain.time import FrozenClock
from app.services.keys import create_key, revoke_key
from tests.access.support import (
    Closed,
    assert_unauthenticated,
    data_of,
    next_data,
    post,
    serve,
    websocket,
)
from tests.api.conftest import running_api

VIEWER = "{ viewer { kind role name customer { id } } }"
OPEN_VIEWER = {"viewer": {"kind": "OPEN", "role": "ADMIN", "name": "open", "customer": None}}

CREATE_CUSTOMER = """
mutation($key: String!) {
  createCustomer(input: {key: $key, name: "Acme"}) {
    __typename ... on CreateCustomerSuccess { customer { id } }
  }
}"""
PROMOTE = """
mutation($c: ID!) {
  grantPromotionalCredits(input: {customerId: $c, name: "promo", currency: "USD", amount: "10"}) {
    __typename ... on CreditGrantSuccess { grant { id } }
  }
}"""
CONSUME = """
mutation($c: ID!) {
  consumeCredits(input: {customerId: $c, key: "use-1", currency: "USD", amount: "4"}) {
    __typename ... on ConsumeCreditsSuccess { consumption { id } }
  }
}"""
ACTORS = """
query($c: ID!) {
  customer(id: $c) { creditLedger { edges { node { type actor { type id name } } } } }
}"""


async def book_and_read_actors(
    client: httpx.AsyncClient, authorization: str | None, key: str
) -> list[dict[str, Any]]:
    """Creates a customer, grants 10 and consumes 4; answers its entries' types and actors."""
    made = await data_of(client, authorization, CREATE_CUSTOMER, key=key)
    customer = made["createCustomer"]["customer"]["id"]
    promoted = await data_of(client, authorization, PROMOTE, c=customer)
    assert promoted["grantPromotionalCredits"]["__typename"] == "CreditGrantSuccess"
    consumed = await data_of(client, authorization, CONSUME, c=customer)
    assert consumed["consumeCredits"]["__typename"] == "ConsumeCreditsSuccess"
    ledger = await data_of(client, authorization, ACTORS, c=customer)
    return [edge["node"] for edge in ledger["customer"]["creditLedger"]["edges"]]


async def test_with_no_key_every_request_acts_as_admin_and_books_as_open(
    tmp_path: Path, clock: FrozenClock
) -> None:
    async with running_api(tmp_path, clock) as api:
        assert await data_of(api.client, None, VIEWER) == OPEN_VIEWER
        currency = """mutation { createCustomCurrency(input: {code: "TOKENS", name: "Tokens",
          scale: 0}) { __typename } }"""
        data = await data_of(api.client, None, currency)
        assert data == {"createCustomCurrency": {"__typename": "CreateCustomCurrencySuccess"}}
        open_actor = {"type": "OPEN", "id": None, "name": "open"}
        assert await book_and_read_actors(api.client, None, "acme") == [
            {"type": "CONSUMED", "actor": open_actor},
            {"type": "FUNDED", "actor": open_actor},
        ]


async def test_creating_the_first_key_ends_open_mode_at_once_for_the_running_app(
    tmp_path: Path, clock: FrozenClock
) -> None:
    async with running_api(tmp_path, clock) as api:
        assert await data_of(api.client, None, VIEWER) == OPEN_VIEWER
        engine = api.app.state.runtime.engine
        _, secret = await create_key(engine, name="ops", role=Role.READER, now=clock.now())
        assert_unauthenticated(await post(api.client, None, VIEWER))
        assert await data_of(api.client, f"Bearer {secret}", VIEWER) == {
            "viewer": {"kind": "API_KEY", "role": "READER", "name": "ops", "customer": None}
        }


async def test_revoking_every_key_does_not_bring_open_mode_back(
    tmp_path: Path, clock: FrozenClock
) -> None:
    async with running_api(tmp_path, clock) as api:
        engine = api.app.state.runtime.engine
        key_id, secret = await create_key(engine, name="ops", role=Role.ADMIN, now=clock.now())
        assert await revoke_key(engine, key_id, clock.now())
        assert_unauthenticated(await post(api.client, None, VIEWER))
        assert_unauthenticated(await post(api.client, f"Bearer {secret}", VIEWER))
    # nor does a restart
    async with running_api(tmp_path, clock) as api:
        assert_unauthenticated(await post(api.client, None, VIEWER))


async def test_a_key_made_before_the_app_started_means_no_open_mode(
    tmp_path: Path, clock: FrozenClock
) -> None:
    async with running_api(tmp_path, clock) as api:
        engine = api.app.state.runtime.engine
        await create_key(engine, name="ops", role=Role.ADMIN, now=clock.now())
    async with running_api(tmp_path, clock) as api:
        assert_unauthenticated(await post(api.client, None, VIEWER))


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.10", "credits.example.com"])
async def test_an_app_on_another_address_with_no_key_is_not_open(
    tmp_path: Path, clock: FrozenClock, host: str
) -> None:
    async with running_api(tmp_path, clock, host=host) as api:
        assert_unauthenticated(await post(api.client, None, VIEWER))
        mutation = CREATE_CUSTOMER
        assert_unauthenticated(await post(api.client, None, mutation, key="acme"))


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "localhost"])
async def test_an_app_on_loopback_with_no_key_is_open(
    tmp_path: Path, clock: FrozenClock, host: str
) -> None:
    async with running_api(tmp_path, clock, host=host) as api:
        assert await data_of(api.client, None, VIEWER) == OPEN_VIEWER


async def test_an_api_key_is_the_actor_of_what_it_books(tmp_path: Path, clock: FrozenClock) -> None:
    async with running_api(tmp_path, clock) as api:
        engine = api.app.state.runtime.engine
        key_id, secret = await create_key(engine, name="billing", role=Role.WRITER, now=clock.now())
        actor = {"type": "API_KEY", "id": key_id, "name": "billing"}
        assert await book_and_read_actors(api.client, f"Bearer {secret}", "acme") == [
            {"type": "CONSUMED", "actor": actor},
            {"type": "FUNDED", "actor": actor},
        ]


async def test_a_portal_token_made_in_open_mode_still_sees_only_its_customer(
    tmp_path: Path, clock: FrozenClock
) -> None:
    async with running_api(tmp_path, clock) as api:
        ids = []
        for key in ("alpha", "bravo"):
            made = await data_of(api.client, None, CREATE_CUSTOMER, key=key)
            ids.append(made["createCustomer"]["customer"]["id"])
        token_query = """
        mutation($c: ID!) {
          createPortalToken(input: {customerId: $c}) { ... on CreatePortalTokenSuccess { token } }
        }"""
        made = await data_of(api.client, None, token_query, c=ids[0])
        portal = f"Bearer {made['createPortalToken']['token']}"
        data = await data_of(
            api.client, portal, "{ customers { totalCount edges { node { id } } } }"
        )
        assert data == {"customers": {"totalCount": 1, "edges": [{"node": {"id": ids[0]}}]}}
        refused = await data_of(api.client, portal, CREATE_CUSTOMER, key="charlie")
        assert refused == {"createCustomer": {"__typename": "ForbiddenError"}}


async def test_open_mode_over_a_websocket_and_its_end(tmp_path: Path, clock: FrozenClock) -> None:
    balance = """subscription($c: ID!) {
      creditBalanceChanged(customerId: $c, currency: "USD") { available } }"""
    async with serve(tmp_path, clock) as live:
        async with live.client() as client:
            made = await data_of(client, None, CREATE_CUSTOMER, key="acme")
        customer = made["createCustomer"]["customer"]["id"]
        async with websocket(live) as socket:  # no credentials needed in OPEN mode
            assert await socket.init(None) == {"type": "connection_ack"}
            await socket.subscribe("1", balance, c=customer)
            data = next_data(await socket.receive("1"), "1")
            assert data == {"creditBalanceChanged": {"available": "0.00"}}
        await create_key(live.runtime.engine, name="ops", role=Role.ADMIN, now=clock.now())
        async with websocket(live) as socket:
            with pytest.raises(Closed) as closed:
                await socket.init(None)
            assert closed.value.code == 4403
