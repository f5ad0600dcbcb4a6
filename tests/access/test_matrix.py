"""Every contract Query and Mutation field x every kind of caller (DESIGN §10).

One world for the module: customers A and B, an API key of each role, a revoked key and
A's portal token. The tables below say what each caller gets: `ok` (the answer a full
reader gets), `hidden` (the answer had the other customer never existed), `forbidden`
(the ForbiddenError member; for a query, a FORBIDDEN error and no data), `notfound` (a
query whose answer cannot be null: a NOT_FOUND error and no data, as for a customer that
does not exist) or `401` (HTTP 401, UNAUTHENTICATED). Callers ask about B, except
`portal_own`, A's token asking about A. Writes made by allowed mutations go to fresh
objects in EUR, so the world's USD objects stay as built.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from starlette.applications import Starlette

from app.domain.grants import FundingMethod
from app.domain.ids import new_id
from app.domain.ledger import OPEN
from app.domain.time import FrozenClock, parse_duration
from app.domain.webhooks import EventType
from app.services.consumption import ConsumeRequest, consume_credits
from app.services.customers import create_customer
from app.services.grants import GrantRequest, PurchaseTerms, purchase_credits
from app.services.runtime import Runtime
from app.services.schedules import ScheduleRequest, create_credit_grant_schedule
from app.services.thresholds import ThresholdRequest, create_credit_threshold
from app.services.webhooks.endpoints import create_endpoint
from app.storage.engine import read_connection
from app.storage.queries import webhooks as webhook_queries
from tests.access.support import (
    CALLERS,
    KEY_NAMES,
    ROLES,
    Party,
    World,
    assert_unauthenticated,
    build_world,
    post,
    promote,
    root_fields,
)
from tests.api.conftest import START, running_api

MODULE_LOOP = pytest.mark.asyncio(loop_scope="module")  # the tests share one world


@dataclass
class Env:
    client: httpx.AsyncClient
    app: Starlette
    world: World

    @property
    def runtime(self) -> Runtime:
        runtime: Runtime = self.app.state.runtime
        return runtime


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def env(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Env]:
    path: Path = tmp_path_factory.mktemp("matrix")
    async with running_api(path, FrozenClock(START)) as api:
        yield Env(api.client, api.app, await build_world(api.app))


def table(text: str) -> dict[tuple[str, str], str]:
    """`name outcome x 7` lines -> {(name, caller): outcome}."""
    outcomes: dict[tuple[str, str], str] = {}
    for line in text.strip().splitlines():
        if line.startswith("#"):
            continue
        name, *row = line.split()
        assert len(row) == len(CALLERS), line
        outcomes |= {(name, caller): outcome for caller, outcome in zip(CALLERS, row, strict=True)}
    return outcomes


def cases(outcomes: dict[tuple[str, str], str]) -> pytest.MarkDecorator:
    return pytest.mark.parametrize(
        ("name", "caller", "outcome"),
        [(name, caller, outcome) for (name, caller), outcome in outcomes.items()],
        ids=[f"{name}-{caller}-{outcome}" for (name, caller), outcome in outcomes.items()],
    )


# ---------------------------------------------------------------- queries

QUERIES = table(
    """
#                        none  admin  writer  reader  revoked  A→B     A→A
node:customer            401   ok     ok      ok      401      hidden  ok
node:grant               401   ok     ok      ok      401      hidden  ok
node:consumption         401   ok     ok      ok      401      hidden  ok
node:entry               401   ok     ok      ok      401      hidden  ok
nodes                    401   ok     ok      ok      401      hidden  ok
customer:id              401   ok     ok      ok      401      hidden  ok
customer:key             401   ok     ok      ok      401      hidden  ok
customer:ledgerHead      401   ok     ok      ok      401      hidden  ok
customers:filtered       401   ok     ok      ok      401      hidden  ok
customers:all            401   ok     ok      ok      401      hidden  ok
creditGrant              401   ok     ok      ok      401      hidden  ok
creditConsumption        401   ok     ok      ok      401      hidden  ok
creditLedger:grant       401   ok     ok      ok      401      hidden  ok
creditLedger:all         401   ok     ok      ok      401      hidden  ok
currencies               401   ok     ok      ok      401      ok      ok
viewer                   401   ok     ok      ok      401      ok      ok
creditRevenue            401   ok     forbidden  ok   401      forbidden  forbidden
previewCreditConsumption 401   ok     ok      ok      401      notfound  ok
webhookEndpoints         401   ok     forbidden  forbidden  401  forbidden  forbidden
webhookEndpoint          401   ok     forbidden  forbidden  401  forbidden  forbidden
"""
)


@dataclass
class Asked:
    """What a check knows: the world, who asked, about whom, and the expected outcome."""

    world: World
    caller: str
    target: Party
    outcome: str

    @property
    def portal(self) -> bool:
        return self.caller.startswith("portal")

    @property
    def visible(self) -> bool:
        return self.outcome == "ok"


NODE = "query($id: ID!) { node(id: $id) { __typename id } }"
NODE_KINDS = {
    "customer": "Customer",
    "grant": "CreditGrant",
    "consumption": "CreditConsumption",
    "entry": "CreditLedgerEntry",
}


def node_id(party: Party, kind: str) -> str:
    return {
        "customer": party.customer,
        "grant": party.grant,
        "consumption": party.consumption,
        "entry": party.consumed,
    }[kind]


def ask_node(kind: str) -> Callable[[Asked], tuple[str, dict[str, Any]]]:
    return lambda asked: (NODE, {"id": node_id(asked.target, kind)})


def node_answer(kind: str) -> Callable[[Asked, dict[str, Any]], None]:
    def check(asked: Asked, data: dict[str, Any]) -> None:
        expected = {"__typename": NODE_KINDS[kind], "id": node_id(asked.target, kind)}
        assert data == {"node": expected if asked.visible else None}

    return check


NODES = "query($ids: [ID!]!) { nodes(ids: $ids) { __typename id } }"


def nodes_ids(party: Party) -> list[str]:
    return [party.customer, party.grant, party.consumption, party.funded, party.consumed]


def check_nodes(asked: Asked, data: dict[str, Any]) -> None:
    t = asked.target
    kinds = ["Customer", "CreditGrant", "CreditConsumption", "CreditLedgerEntry"]
    expected = [
        {"__typename": kind, "id": id}
        for kind, id in zip([*kinds, kinds[-1]], nodes_ids(t), strict=True)
    ]
    assert data == {"nodes": expected if asked.visible else [None] * 5}


CUSTOMER_BY_ID = "query($id: ID!) { customer(id: $id) { id key } }"
CUSTOMER_BY_KEY = "query($key: String!) { customer(key: $key) { id key } }"


def check_customer(asked: Asked, data: dict[str, Any]) -> None:
    t = asked.target
    assert data == {"customer": {"id": t.customer, "key": t.key} if asked.visible else None}


LEDGER_HEAD = """query($id: ID!) {
  customer(id: $id) { id creditLedgerHead(currency: "USD") { currency sequence hash } }
}"""


def check_ledger_head(asked: Asked, data: dict[str, Any]) -> None:
    """The target's ledger head: its last entry's sequence and hash (DESIGN §17)."""
    if not asked.visible:
        assert data == {"customer": None}
        return
    head = data["customer"]["creditLedgerHead"]
    assert data["customer"]["id"] == asked.target.customer
    assert head["currency"] == "USD" and head["sequence"] >= 1
    assert re.fullmatch("[0-9a-f]{64}", head["hash"]) and head["hash"] != "0" * 64


CUSTOMERS_FILTERED = """
query($key: String!) {
  customers(filter: {key: $key}) { totalCount edges { node { id } } }
}"""


def check_customers_filtered(asked: Asked, data: dict[str, Any]) -> None:
    edges = [{"node": {"id": asked.target.customer}}] if asked.visible else []
    assert data == {"customers": {"totalCount": len(edges), "edges": edges}}


CUSTOMERS_ALL = "{ customers(first: 500) { totalCount edges { node { id } } } }"


def check_customers_all(asked: Asked, data: dict[str, Any]) -> None:
    found = data["customers"]
    ids = [edge["node"]["id"] for edge in found["edges"]]
    if asked.portal:  # A's token sees A alone, whoever it asks about
        assert found == {"totalCount": 1, "edges": [{"node": {"id": asked.world.a.customer}}]}
    else:  # new customers come and go with the mutation cases
        assert found["totalCount"] == len(ids)
        assert {asked.world.a.customer, asked.world.b.customer} <= set(ids)


CREDIT_GRANT = "query($id: ID!) { creditGrant(id: $id) { id customer { id } } }"


def check_credit_grant(asked: Asked, data: dict[str, Any]) -> None:
    t = asked.target
    found = {"id": t.grant, "customer": {"id": t.customer}}
    assert data == {"creditGrant": found if asked.visible else None}


CREDIT_CONSUMPTION = """
query($id: ID!) { creditConsumption(id: $id) { id customer { id } entries { id } } }"""


def check_credit_consumption(asked: Asked, data: dict[str, Any]) -> None:
    t = asked.target
    found = {"id": t.consumption, "customer": {"id": t.customer}, "entries": [{"id": t.consumed}]}
    assert data == {"creditConsumption": found if asked.visible else None}


LEDGER = """
query($filter: CreditLedgerFilter) {
  creditLedger(first: 500, filter: $filter) {
    totalCount edges { node { id type customer { id } } }
  }
}"""


def ledger_of(*parties: Party) -> dict[str, Any]:
    """The entries of the parties' world grants, newest first."""
    edges = []
    for party in parties:
        edges += [
            {
                "node": {
                    "id": party.consumed,
                    "type": "CONSUMED",
                    "customer": {"id": party.customer},
                }
            },
            {"node": {"id": party.funded, "type": "FUNDED", "customer": {"id": party.customer}}},
        ]
    return {"creditLedger": {"totalCount": len(edges), "edges": edges}}


def check_ledger_of_grant(asked: Asked, data: dict[str, Any]) -> None:
    assert data == (ledger_of(asked.target) if asked.visible else ledger_of())


def check_ledger_all(asked: Asked, data: dict[str, Any]) -> None:
    # Sorted by id: entries of both customers share one frozen instant.
    def by_id(found: dict[str, Any]) -> list[Any]:
        return sorted(found["creditLedger"]["edges"], key=lambda edge: edge["node"]["id"])

    world = asked.world
    expected = ledger_of(world.a) if asked.portal else ledger_of(world.a, world.b)
    assert data["creditLedger"]["totalCount"] == expected["creditLedger"]["totalCount"]
    assert by_id(data) == by_id(expected)


def check_currencies(asked: Asked, data: dict[str, Any]) -> None:
    codes = [currency["code"] for currency in data["currencies"]]
    assert {"USD", "EUR", "JPY"} <= set(codes)


VIEWER = "{ viewer { kind role name customer { id } } }"


def check_viewer(asked: Asked, data: dict[str, Any]) -> None:
    if asked.portal:
        customer = {"id": asked.world.a.customer}
        expected = {"kind": "PORTAL_TOKEN", "role": None, "name": "portal", "customer": customer}
    else:
        role = ROLES[asked.caller].value
        name = KEY_NAMES[asked.caller]
        expected = {"kind": "API_KEY", "role": role, "name": name, "customer": None}
    assert data == {"viewer": expected}


REVENUE = """
{
  creditRevenue(
    currency: "USD", from: "2026-01-15T00:00:00Z", to: "2026-01-15T12:00:00Z", interval: DAY
  ) { currency periods { from to } }
}"""


def check_revenue(asked: Asked, data: dict[str, Any]) -> None:
    period = {"from": "2026-01-15T00:00:00Z", "to": "2026-01-15T12:00:00Z"}
    assert data == {"creditRevenue": {"currency": "USD", "periods": [period]}}


PREVIEW = """
query($id: ID!) {
  previewCreditConsumption(customerId: $id, currency: "USD", amount: "10") {
    consumed shortfall availableBefore availableAfter entries { amount grant { id } }
  }
}"""


def check_preview(asked: Asked, data: dict[str, Any]) -> None:
    entry = {"amount": "10.00", "grant": {"id": asked.target.grant}}
    assert data == {
        "previewCreditConsumption": {
            "consumed": "10.00",
            "shortfall": "0.00",
            "availableBefore": "95.00",
            "availableAfter": "85.00",
            "entries": [entry],
        }
    }


@dataclass(frozen=True)
class QueryOp:
    ask: Callable[[Asked], tuple[str, dict[str, Any]]]
    check: Callable[[Asked, dict[str, Any]], None]


QUERY_OPS: dict[str, QueryOp] = {
    **{f"node:{kind}": QueryOp(ask_node(kind), node_answer(kind)) for kind in NODE_KINDS},
    "nodes": QueryOp(lambda a: (NODES, {"ids": nodes_ids(a.target)}), check_nodes),
    "customer:id": QueryOp(lambda a: (CUSTOMER_BY_ID, {"id": a.target.customer}), check_customer),
    "customer:key": QueryOp(lambda a: (CUSTOMER_BY_KEY, {"key": a.target.key}), check_customer),
    "customer:ledgerHead": QueryOp(
        lambda a: (LEDGER_HEAD, {"id": a.target.customer}), check_ledger_head
    ),
    "customers:filtered": QueryOp(
        lambda a: (CUSTOMERS_FILTERED, {"key": a.target.key}), check_customers_filtered
    ),
    "customers:all": QueryOp(lambda a: (CUSTOMERS_ALL, {}), check_customers_all),
    "creditGrant": QueryOp(lambda a: (CREDIT_GRANT, {"id": a.target.grant}), check_credit_grant),
    "creditConsumption": QueryOp(
        lambda a: (CREDIT_CONSUMPTION, {"id": a.target.consumption}), check_credit_consumption
    ),
    "creditLedger:grant": QueryOp(
        lambda a: (LEDGER, {"filter": {"grantId": a.target.grant}}), check_ledger_of_grant
    ),
    "creditLedger:all": QueryOp(
        lambda a: (LEDGER, {"filter": {"currency": "USD"}}), check_ledger_all
    ),
    "currencies": QueryOp(lambda a: ("{ currencies { code } }", {}), check_currencies),
    "viewer": QueryOp(lambda a: (VIEWER, {}), check_viewer),
    "creditRevenue": QueryOp(lambda a: (REVENUE, {}), check_revenue),
    "previewCreditConsumption": QueryOp(
        lambda a: (PREVIEW, {"id": a.target.customer}), check_preview
    ),
    "webhookEndpoints": QueryOp(
        lambda a: ("{ webhookEndpoints { id } }", {}), lambda a, data: None
    ),
    "webhookEndpoint": QueryOp(
        lambda a: (
            "query($id: ID!) { webhookEndpoint(id: $id) { id } }",
            {"id": new_id("webhook_endpoint")},
        ),
        lambda a, data: None,
    ),
}


def test_the_query_table_covers_every_query_field() -> None:
    fields = root_fields("Query")
    assert {name.split(":")[0] for name, _ in QUERIES} == fields
    assert fields >= {
        "node",
        "nodes",
        "customer",
        "customers",
        "creditGrant",
        "creditConsumption",
        "creditLedger",
        "currencies",
        "viewer",
    }
    assert {name for name, _ in QUERIES} == set(QUERY_OPS)


@MODULE_LOOP
@cases(QUERIES)
async def test_a_query_answers_each_caller_as_the_access_rules_say(
    env: Env, name: str, caller: str, outcome: str
) -> None:
    world = env.world
    asked = Asked(world, caller, world.target(caller), outcome)
    op = QUERY_OPS[name]
    query, variables = op.ask(asked)
    response = await post(env.client, world.authorization(caller), query, **variables)
    if outcome == "401":
        assert_unauthenticated(response)
        return
    body = response.json()
    assert response.status_code == 200, body
    if outcome == "forbidden":  # a query only some roles may make: no data, FORBIDDEN
        assert body["data"] in (None, {name: None}), body  # null, or its nullable field
        assert [error["extensions"]["code"] for error in body["errors"]] == ["FORBIDDEN"]
        return
    if outcome == "notfound":
        assert body["data"] is None, body
        assert [error["extensions"]["code"] for error in body["errors"]] == ["NOT_FOUND"]
        assert body["errors"][0]["message"] == f"Customer {asked.target.customer} not found"
        return
    assert "errors" not in body, body["errors"]
    op.check(asked, body["data"])


# ---------------------------------------------------------------- mutations

MUTATIONS = table(
    """
#                          none  admin  writer     reader     revoked  A→B        A→A
createCustomer             401   ok     ok         forbidden  401      forbidden  forbidden
updateCustomer             401   ok     ok         forbidden  401      forbidden  forbidden
createCustomCurrency       401   ok     forbidden  forbidden  401      forbidden  forbidden
purchaseCredits            401   ok     ok         forbidden  401      forbidden  forbidden
grantPromotionalCredits    401   ok     ok         forbidden  401      forbidden  forbidden
settleCreditPurchase       401   ok     ok         forbidden  401      forbidden  forbidden
voidCreditGrant            401   ok     ok         forbidden  401      forbidden  forbidden
consumeCredits             401   ok     ok         forbidden  401      forbidden  forbidden
reverseCreditConsumption   401   ok     ok         forbidden  401      forbidden  forbidden
createPortalToken          401   ok     ok         forbidden  401      forbidden  forbidden
createCreditGrantSchedule  401   ok     ok         forbidden  401      forbidden  forbidden
cancelCreditGrantSchedule  401   ok     ok         forbidden  401      forbidden  forbidden
createCreditThreshold      401   ok     ok         forbidden  401      forbidden  forbidden
deleteCreditThreshold      401   ok     ok         forbidden  401      forbidden  forbidden
createWebhookEndpoint      401   ok     forbidden  forbidden  401      forbidden  forbidden
updateWebhookEndpoint      401   ok     forbidden  forbidden  401      forbidden  forbidden
rotateWebhookSecret        401   ok     forbidden  forbidden  401      forbidden  forbidden
deleteWebhookEndpoint      401   ok     forbidden  forbidden  401      forbidden  forbidden
redeliverWebhookEvent      401   ok     forbidden  forbidden  401      forbidden  forbidden
"""
)

# Each mutation selects its success's fields in `{success}` and every Error's code.
MUTATION = """
mutation($input: {input}!) {
  {name}(input: $input) { __typename ... on Error { code message } {success} }
}"""


@dataclass(frozen=True)
class MutationOp:
    input_type: str
    success_type: str
    success_fields: str
    # Builds the input. `fresh` is True when the mutation is expected to succeed: it then
    # makes fresh objects to act on; otherwise the world's own objects are named, so a
    # wrongly allowed mutation would show in the other cases too.
    make: Callable[[Env, str, Party, bool], Awaitable[dict[str, Any]]]
    # The success's fields as expected, from the input.
    expected: Callable[[dict[str, Any], Party], dict[str, Any]]


async def customer_input(env: Env, caller: str, t: Party, fresh: bool) -> dict[str, Any]:
    return {"key": f"new-{caller}", "name": "New"}


async def update_input(env: Env, caller: str, t: Party, fresh: bool) -> dict[str, Any]:
    return {"customerId": t.customer, "description": f"updated by {caller}"}


async def currency_input(env: Env, caller: str, t: Party, fresh: bool) -> dict[str, Any]:
    return {"code": f"CC_{caller.upper()}", "name": "Credits", "scale": 0}


async def purchase_input(env: Env, caller: str, t: Party, fresh: bool) -> dict[str, Any]:
    return {
        "customerId": t.customer,
        "key": f"buy-{caller}",
        "name": "bought",
        "currency": "EUR",
        "amount": "10",
        "fundingMethod": "INVOICE",
    }


async def promo_input(env: Env, caller: str, t: Party, fresh: bool) -> dict[str, Any]:
    return {
        "customerId": t.customer,
        "key": f"promo-{caller}",
        "name": "promo",
        "currency": "EUR",
        "amount": "10",
    }


async def settle_input(env: Env, caller: str, t: Party, fresh: bool) -> dict[str, Any]:
    grant_id = t.grant
    if fresh:  # a pending invoice of its own
        request = GrantRequest(
            customer_id=t.customer,
            name="invoice",
            currency="EUR",
            amount=Decimal(10),
            funding_method=FundingMethod.INVOICE,
            purchase=PurchaseTerms(),
        )
        grant_id = (await purchase_credits(env.runtime, actor=OPEN, request=request)).grant_id
    return {"grantId": grant_id, "status": "SETTLED"}


async def void_input(env: Env, caller: str, t: Party, fresh: bool) -> dict[str, Any]:
    grant_id = await promote(env.runtime, t.customer, "10", "EUR") if fresh else t.grant
    return {"grantId": grant_id, "reason": f"voided by {caller}"}


async def consume_input(env: Env, caller: str, t: Party, fresh: bool) -> dict[str, Any]:
    if fresh:
        await promote(env.runtime, t.customer, "10", "EUR")
    currency = "EUR" if fresh else "USD"
    return {"customerId": t.customer, "key": f"use-{caller}", "currency": currency, "amount": "1"}


async def reverse_input(env: Env, caller: str, t: Party, fresh: bool) -> dict[str, Any]:
    consumption_id = t.consumption
    if fresh:
        await promote(env.runtime, t.customer, "10", "EUR")
        request = ConsumeRequest(
            customer_id=t.customer, key=f"to-undo-{caller}", currency="EUR", amount=Decimal(2)
        )
        outcome = await consume_credits(env.runtime, actor=OPEN, request=request)
        consumption_id = outcome.consumption_id
    return {"consumptionId": consumption_id, "key": f"undo-{caller}"}


async def token_input(env: Env, caller: str, t: Party, fresh: bool) -> dict[str, Any]:
    return {"customerId": t.customer, "expiresIn": "PT1H"}


SCHEDULE = {"currency": "EUR", "amount": "5", "every": "P1M", "startsAt": "2027-01-01T00:00:00Z"}


async def schedule_input(env: Env, caller: str, t: Party, fresh: bool) -> dict[str, Any]:
    return {"customerId": t.customer, "key": f"plan-{caller}", "name": "plan", **SCHEDULE}


async def cancel_input(env: Env, caller: str, t: Party, fresh: bool) -> dict[str, Any]:
    """A schedule of the target's own (starting next year: it books nothing here)."""
    request = ScheduleRequest(
        customer_id=t.customer,
        name="to cancel",
        currency="EUR",
        amount=Decimal(5),
        every=parse_duration("P1M"),
        starts_at=datetime(2027, 1, 1, tzinfo=UTC),
    )
    made = await create_credit_grant_schedule(env.runtime, actor=OPEN, request=request)
    return {"scheduleId": made.schedule_id}


async def threshold_input(env: Env, caller: str, t: Party, fresh: bool) -> dict[str, Any]:
    return {"customerId": t.customer, "name": f"low-{caller}", "currency": "EUR", "below": "5"}


async def delete_threshold_input(env: Env, caller: str, t: Party, fresh: bool) -> dict[str, Any]:
    request = ThresholdRequest(t.customer, f"to delete by {caller}", "EUR", Decimal(5))
    made = await create_credit_threshold(env.runtime, actor=OPEN, request=request)
    return {"thresholdId": made.threshold_id}


HOOK_URL = "https://93.184.216.34/hook"  # a public address: no DNS, passes the SSRF guard


async def new_endpoint_input(env: Env, caller: str, t: Party, fresh: bool) -> dict[str, Any]:
    return {"url": HOOK_URL, "eventTypes": ["CREDIT_GRANT_CREATED"]}


async def endpoint_id_input(env: Env, caller: str, t: Party, fresh: bool) -> dict[str, Any]:
    if not fresh:
        return {"endpointId": new_id("webhook_endpoint")}
    made = await create_endpoint(
        env.runtime, url=HOOK_URL, event_types=[EventType.CREDIT_GRANT_CREATED]
    )
    return {"endpointId": made.endpoint.id}


async def update_endpoint_input(env: Env, caller: str, t: Party, fresh: bool) -> dict[str, Any]:
    return await endpoint_id_input(env, caller, t, fresh) | {"enabled": False}


async def delivery_input(env: Env, caller: str, t: Party, fresh: bool) -> dict[str, Any]:
    """A delivery of a grant of a customer of its own, to an endpoint of its own."""
    if not fresh:
        return {"deliveryId": new_id("webhook_delivery")}
    runtime = env.runtime
    customer_id, _ = await create_customer(runtime, key=f"hooked-{caller}", name="Hooked")
    made = await create_endpoint(
        runtime,
        url=HOOK_URL,
        event_types=[EventType.CREDIT_GRANT_CREATED],
        customer_id=customer_id,
    )
    await promote(runtime, customer_id, "1", "USD")
    async with read_connection(runtime.engine) as connection:
        rows, _ = await webhook_queries.deliveries_page(
            connection, made.endpoint.id, None, size=1, backward=False, after=None, before=None
        )
    return {"deliveryId": rows[0].id}


def grant_of(input: dict[str, Any], t: Party) -> dict[str, Any]:
    return {"grant": {"customer": {"id": t.customer}, "currency": "EUR"}}


MUTATION_OPS: dict[str, MutationOp] = {
    "createCustomer": MutationOp(
        "CreateCustomerInput",
        "CreateCustomerSuccess",
        "customer { key } replayed",
        customer_input,
        lambda input, t: {"customer": {"key": input["key"]}, "replayed": False},
    ),
    "updateCustomer": MutationOp(
        "UpdateCustomerInput",
        "UpdateCustomerSuccess",
        "customer { id description }",
        update_input,
        lambda input, t: {"customer": {"id": t.customer, "description": input["description"]}},
    ),
    "createCustomCurrency": MutationOp(
        "CreateCustomCurrencyInput",
        "CreateCustomCurrencySuccess",
        "currency { code custom }",
        currency_input,
        lambda input, t: {"currency": {"code": input["code"], "custom": True}},
    ),
    "purchaseCredits": MutationOp(
        "PurchaseCreditsInput",
        "CreditGrantSuccess",
        "grant { customer { id } currency }",
        purchase_input,
        grant_of,
    ),
    "grantPromotionalCredits": MutationOp(
        "GrantPromotionalCreditsInput",
        "CreditGrantSuccess",
        "grant { customer { id } currency }",
        promo_input,
        grant_of,
    ),
    "settleCreditPurchase": MutationOp(
        "SettleCreditPurchaseInput",
        "CreditGrantSuccess",
        "grant { id purchase { settlementStatus } }",
        settle_input,
        lambda input, t: {
            "grant": {"id": input["grantId"], "purchase": {"settlementStatus": "SETTLED"}}
        },
    ),
    "voidCreditGrant": MutationOp(
        "VoidCreditGrantInput",
        "CreditGrantSuccess",
        "grant { id status voidReason }",
        void_input,
        lambda input, t: {
            "grant": {"id": input["grantId"], "status": "VOIDED", "voidReason": input["reason"]}
        },
    ),
    "consumeCredits": MutationOp(
        "ConsumeCreditsInput",
        "ConsumeCreditsSuccess",
        "consumption { key customer { id } consumed }",
        consume_input,
        lambda input, t: {
            "consumption": {"key": input["key"], "customer": {"id": t.customer}, "consumed": "1.00"}
        },
    ),
    "reverseCreditConsumption": MutationOp(
        "ReverseCreditConsumptionInput",
        "ReverseCreditConsumptionSuccess",
        "consumption { id reversed }",
        reverse_input,
        lambda input, t: {"consumption": {"id": input["consumptionId"], "reversed": "2.00"}},
    ),
    "createPortalToken": MutationOp(
        "CreatePortalTokenInput",
        "CreatePortalTokenSuccess",
        "expiresAt customer { id }",
        token_input,
        lambda input, t: {"expiresAt": "2026-01-15T13:00:00Z", "customer": {"id": t.customer}},
    ),
    "createCreditGrantSchedule": MutationOp(
        "CreateCreditGrantScheduleInput",
        "CreditGrantScheduleSuccess",
        "schedule { key status customer { id } }",
        schedule_input,
        lambda input, t: {
            "schedule": {"key": input["key"], "status": "ACTIVE", "customer": {"id": t.customer}}
        },
    ),
    "cancelCreditGrantSchedule": MutationOp(
        "CancelCreditGrantScheduleInput",
        "CreditGrantScheduleSuccess",
        "schedule { id status } replayed",
        cancel_input,
        lambda input, t: {
            "schedule": {"id": input["scheduleId"], "status": "CANCELED"},
            "replayed": False,
        },
    ),
    "createCreditThreshold": MutationOp(
        "CreateCreditThresholdInput",
        "CreditThresholdSuccess",
        "threshold { name customer { id } } replayed",
        threshold_input,
        lambda input, t: {
            "threshold": {"name": input["name"], "customer": {"id": t.customer}},
            "replayed": False,
        },
    ),
    "deleteCreditThreshold": MutationOp(
        "DeleteCreditThresholdInput",
        "CreditThresholdSuccess",
        "threshold { id state } replayed",
        delete_threshold_input,
        lambda input, t: {
            "threshold": {"id": input["thresholdId"], "state": "DELETED"},
            "replayed": False,
        },
    ),
    "createWebhookEndpoint": MutationOp(
        "CreateWebhookEndpointInput",
        "WebhookEndpointSuccess",
        "endpoint { url enabled eventTypes }",
        new_endpoint_input,
        lambda input, t: {
            "endpoint": {"url": HOOK_URL, "enabled": True, "eventTypes": ["CREDIT_GRANT_CREATED"]}
        },
    ),
    "updateWebhookEndpoint": MutationOp(
        "UpdateWebhookEndpointInput",
        "WebhookEndpointSuccess",
        "endpoint { id enabled } secret",
        update_endpoint_input,
        lambda input, t: {
            "endpoint": {"id": input["endpointId"], "enabled": False},
            "secret": None,
        },
    ),
    "rotateWebhookSecret": MutationOp(
        "WebhookEndpointIdInput",
        "WebhookEndpointSuccess",
        "endpoint { id }",
        endpoint_id_input,
        lambda input, t: {"endpoint": {"id": input["endpointId"]}},
    ),
    "deleteWebhookEndpoint": MutationOp(
        "WebhookEndpointIdInput",
        "WebhookEndpointSuccess",
        "endpoint { id } secret",
        endpoint_id_input,
        lambda input, t: {"endpoint": {"id": input["endpointId"]}, "secret": None},
    ),
    "redeliverWebhookEvent": MutationOp(
        "RedeliverWebhookEventInput",
        "WebhookDeliverySuccess",
        "delivery { id status event { type } }",
        delivery_input,
        lambda input, t: {
            "delivery": {
                "id": input["deliveryId"],
                "status": "PENDING",
                "event": {"type": "CREDIT_GRANT_CREATED"},
            }
        },
    ),
}


def test_the_mutation_table_covers_every_mutation_field() -> None:
    fields = root_fields("Mutation")
    assert {name for name, _ in MUTATIONS} == set(MUTATION_OPS) == fields
    assert fields >= {
        "createCustomer",
        "updateCustomer",
        "createCustomCurrency",
        "purchaseCredits",
        "grantPromotionalCredits",
        "settleCreditPurchase",
        "voidCreditGrant",
        "consumeCredits",
        "reverseCreditConsumption",
        "createPortalToken",
    }


@MODULE_LOOP
@cases(MUTATIONS)
async def test_a_mutation_answers_each_caller_as_the_access_rules_say(
    env: Env, name: str, caller: str, outcome: str
) -> None:
    world = env.world
    target = world.target(caller)
    op = MUTATION_OPS[name]
    input = await op.make(env, caller, target, outcome == "ok")
    success = f"... on {op.success_type} {{ {op.success_fields} }}"
    query = (
        MUTATION.replace("{input}", op.input_type)
        .replace("{name}", name)
        .replace("{success}", success)
    )
    response = await post(env.client, world.authorization(caller), query, input=input)
    if outcome == "401":
        assert_unauthenticated(response)
        return
    body = response.json()
    assert response.status_code == 200, body
    assert "errors" not in body, body["errors"]
    answer = body["data"][name]
    if outcome == "forbidden":
        refused_as = "a portal token" if caller.startswith("portal") else ROLES[caller].value
        assert answer == {
            "__typename": "ForbiddenError",
            "code": "FORBIDDEN",
            "message": f"{name} is not allowed for {refused_as}",
        }
    else:
        assert answer == {"__typename": op.success_type, **op.expected(input, target)}


@MODULE_LOOP
async def test_a_refused_mutation_changes_nothing(env: Env) -> None:
    """After the matrix the world's USD balances are as built, and A, whom only refused
    mutations named, is unchanged."""
    query = """
    query($id: ID!) {
      customer(id: $id) { description creditBalance(currency: "USD") { available consumed } }
    }"""
    for party in (env.world.a, env.world.b):
        response = await post(
            env.client, env.world.authorization("reader"), query, id=party.customer
        )
        customer = response.json()["data"]["customer"]
        assert customer["creditBalance"] == {"available": "95.00", "consumed": "5.00"}
    response = await post(
        env.client, env.world.authorization("reader"), query, id=env.world.a.customer
    )
    assert response.json()["data"]["customer"]["description"] is None
