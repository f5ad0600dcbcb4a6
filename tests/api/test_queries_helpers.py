"""Helpers shared by the query, pagination and race tests: set data up through mutations.

This module holds no tests; it is named so that it belongs to the query tests' files.
"""

from __future__ import annotations

import shutil
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.domain.time import FrozenClock, format_instant
from app.live.publisher import RecordingPublisher
from app.main import create_app
from app.settings import Settings
from tests.api.conftest import START, Api, create_schema

GRANT_FIELDS = """
  id key name currency fundingMethod priority features status amount remaining consumed
  expired voided effectiveAt expiresAt voidedAt createdAt
  purchase { settlementStatus availabilityPolicy perUnitCostBasis }
"""
BALANCE_FIELDS = """
  currency at featureKey available pending funded consumed expired voided
  availablePromotional availablePaid sequence
"""
ENTRY_FIELDS = """
  id type currency amount availableBalanceBefore availableBalanceAfter sequence bookedAt
  createdAt transactionId featureKey actor { type name } grant { id } consumption { id }
"""
CONSUMPTION_FIELDS = """
  id key currency requested consumed shortfall reversed
  entries { id type amount grant { id } }
"""

ERRORS = (
    "... on Error { __typename code message } ... on ValidationError { issues { field message } }"
)


def instant(value: datetime) -> str:
    """The wire form of an instant, as the server answers it."""
    return format_instant(value)


async def mutate(api: Api, name: str, input_type: str, payload: dict[str, Any], body: str) -> Any:
    """Run one mutation and return its result, asserting no GraphQL error."""
    query = f"""mutation($input: {input_type}!) {{
      {name}(input: $input) {{ __typename {body} {ERRORS} }}
    }}"""
    data = await api(query, input=payload)
    return data[name]


def success(result: dict[str, Any], typename: str) -> dict[str, Any]:
    assert result["__typename"] == typename, result
    return result


async def create_customer(
    api: Api, key: str, name: str | None = None, labels: dict[str, str] | None = None
) -> str:
    payload: dict[str, Any] = {"key": key, "name": name or key}
    if labels is not None:
        payload["labels"] = [{"key": k, "value": v} for k, v in labels.items()]
    result = await mutate(
        api,
        "createCustomer",
        "CreateCustomerInput",
        payload,
        "... on CreateCustomerSuccess { customer { id } }",
    )
    return str(success(result, "CreateCustomerSuccess")["customer"]["id"])


async def purchase(
    api: Api, customer_id: str, amount: str, currency: str = "USD", **fields: Any
) -> dict[str, Any]:
    """A paid grant (INVOICE unless told); returns the whole CreditGrantSuccess."""
    payload: dict[str, Any] = {
        "customerId": customer_id,
        "name": fields.pop("name", f"Pack of {amount}"),
        "currency": currency,
        "amount": amount,
        "fundingMethod": fields.pop("fundingMethod", "INVOICE"),
        **fields,
    }
    result = await mutate(
        api,
        "purchaseCredits",
        "PurchaseCreditsInput",
        payload,
        f"""... on CreditGrantSuccess {{
              replayed grant {{ {GRANT_FIELDS} }} balance {{ {BALANCE_FIELDS} }} }}""",
    )
    return success(result, "CreditGrantSuccess")


async def promo(
    api: Api, customer_id: str, amount: str, currency: str = "USD", **fields: Any
) -> dict[str, Any]:
    """A promotional grant; returns the grant."""
    payload: dict[str, Any] = {
        "customerId": customer_id,
        "name": fields.pop("name", f"Promo of {amount}"),
        "currency": currency,
        "amount": amount,
        **fields,
    }
    result = await mutate(
        api,
        "grantPromotionalCredits",
        "GrantPromotionalCreditsInput",
        payload,
        f"... on CreditGrantSuccess {{ replayed grant {{ {GRANT_FIELDS} }} }}",
    )
    grant: dict[str, Any] = success(result, "CreditGrantSuccess")["grant"]
    return grant


async def paid(
    api: Api, customer_id: str, amount: str, currency: str = "USD", **fields: Any
) -> dict[str, Any]:
    """A paid grant; returns the grant."""
    grant: dict[str, Any] = (await purchase(api, customer_id, amount, currency, **fields))["grant"]
    return grant


async def consume(
    api: Api,
    customer_id: str,
    key: str,
    amount: str,
    currency: str = "USD",
    **fields: Any,
) -> dict[str, Any]:
    """A successful consumption; returns the consumption."""
    payload = {
        "customerId": customer_id,
        "key": key,
        "currency": currency,
        "amount": amount,
        **fields,
    }
    result = await mutate(
        api,
        "consumeCredits",
        "ConsumeCreditsInput",
        payload,
        f"... on ConsumeCreditsSuccess {{ replayed consumption {{ {CONSUMPTION_FIELDS} }} }}",
    )
    consumption: dict[str, Any] = success(result, "ConsumeCreditsSuccess")["consumption"]
    return consumption


async def settle(
    api: Api, grant_id: str, status: str, occurred_at: str | None = None
) -> dict[str, Any]:
    payload: dict[str, Any] = {"grantId": grant_id, "status": status}
    if occurred_at is not None:
        payload["occurredAt"] = occurred_at
    result = await mutate(
        api,
        "settleCreditPurchase",
        "SettleCreditPurchaseInput",
        payload,
        f"... on CreditGrantSuccess {{ replayed grant {{ {GRANT_FIELDS} }} }}",
    )
    grant: dict[str, Any] = success(result, "CreditGrantSuccess")["grant"]
    return grant


async def void(api: Api, grant_id: str, reason: str | None = None) -> dict[str, Any]:
    result = await mutate(
        api,
        "voidCreditGrant",
        "VoidCreditGrantInput",
        {"grantId": grant_id, "reason": reason},
        f"... on CreditGrantSuccess {{ replayed grant {{ {GRANT_FIELDS} }} }}",
    )
    grant: dict[str, Any] = success(result, "CreditGrantSuccess")["grant"]
    return grant


async def reverse(
    api: Api, consumption_id: str, key: str, amount: str | None = None
) -> dict[str, Any]:
    """A successful reversal; returns the whole ReverseCreditConsumptionSuccess."""
    result = await mutate(
        api,
        "reverseCreditConsumption",
        "ReverseCreditConsumptionInput",
        {"consumptionId": consumption_id, "key": key, "amount": amount},
        f"""... on ReverseCreditConsumptionSuccess {{
              replayed consumption {{ id reversed }} entries {{ {ENTRY_FIELDS} }} }}""",
    )
    return success(result, "ReverseCreditConsumptionSuccess")


async def balance(
    api: Api,
    customer_id: str,
    currency: str = "USD",
    at: str | None = None,
    feature_key: str | None = None,
) -> dict[str, Any]:
    data = await api(
        f"""query($id: ID!, $currency: String!, $at: DateTime, $featureKey: String) {{
          customer(id: $id) {{
            creditBalance(currency: $currency, at: $at, featureKey: $featureKey) {{
              {BALANCE_FIELDS}
            }}
          }}
        }}""",
        id=customer_id,
        currency=currency,
        at=at,
        featureKey=feature_key,
    )
    found: dict[str, Any] = data["customer"]["creditBalance"]
    return found


async def ledger(
    api: Api, customer_id: str, filter: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """Every entry of the customer's ledger (newest first), in one page of 500."""
    data = await api(
        f"""query($id: ID!, $filter: CreditLedgerFilter) {{
          customer(id: $id) {{
            creditLedger(first: 500, filter: $filter) {{
              totalCount edges {{ node {{ {ENTRY_FIELDS} }} }}
            }}
          }}
        }}""",
        id=customer_id,
        filter=filter,
    )
    connection = data["customer"]["creditLedger"]
    nodes = [edge["node"] for edge in connection["edges"]]
    assert connection["totalCount"] == len(nodes)
    return nodes


async def grant_ids(
    api: Api,
    customer_id: str,
    filter: dict[str, Any] | None = None,
    order_by: dict[str, Any] | None = None,
) -> list[str]:
    data = await api(
        """query($id: ID!, $filter: CreditGrantFilter, $orderBy: CreditGrantOrder) {
          customer(id: $id) {
            creditGrants(first: 500, filter: $filter, orderBy: $orderBy) {
              totalCount edges { node { id } }
            }
          }
        }""",
        id=customer_id,
        filter=filter,
        orderBy=order_by,
    )
    connection = data["customer"]["creditGrants"]
    ids = [str(edge["node"]["id"]) for edge in connection["edges"]]
    assert connection["totalCount"] == len(ids)
    return ids


def error_codes(body: dict[str, Any]) -> list[str | None]:
    """The extensions.code of every GraphQL error in a response body."""
    return [error.get("extensions", {}).get("code") for error in body.get("errors", [])]


# ---------------------------------------------------------------- seeded databases

Populate = Callable[[Api, FrozenClock], Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class Seed:
    directory: Path
    now: datetime
    ids: dict[str, Any]


_SEEDS: dict[str, Seed] = {}
DATABASE = "credits.db"


async def _build(directory: Path, populate: Populate) -> Seed:
    """Run `populate` once through the API against a database of its own."""
    url = f"sqlite:///{directory}/{DATABASE}"
    await create_schema(url)
    clock = FrozenClock(START)
    settings = Settings(database_url=url, scheduler_enabled=False)
    app = create_app(settings, clock=clock, publisher=RecordingPublisher())
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            ids = await populate(Api(client, app), clock)
    return Seed(directory, clock.now(), ids)


async def seed(
    name: str,
    populate: Populate,
    tmp_path_factory: pytest.TempPathFactory,
    tmp_path: Path,
    clock: FrozenClock,
) -> dict[str, Any]:
    """Copy a database populated once per session into this test's `api` database.

    Request the fixture that calls this before `api`: the `api` fixture opens the file
    at `tmp_path` that this copies, and `clock` is set to the instant populating ended.
    Setting data up through the mutations takes time; copying it takes none.
    """
    found = _SEEDS.get(name)
    if found is None:
        found = await _build(tmp_path_factory.mktemp(f"seed-{name}"), populate)
        _SEEDS[name] = found
    for suffix in ("", "-wal", "-shm"):
        source = found.directory / f"{DATABASE}{suffix}"
        if source.exists():
            shutil.copyfile(source, tmp_path / source.name)
    clock.set(found.now)
    return found.ids
