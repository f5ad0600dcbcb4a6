"""Helpers shared by the query, pagination and race tests: set data up through mutations.

This module holds no tests; it is named so that it belongs to the query tests' files.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from app.domain.time import format_instant
from tests.api.conftest import Api

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

ERRORS = "... on Error { __typename code message } ... on ValidationError { issues { field message } }"


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
