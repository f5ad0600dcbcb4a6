"""Shared documents and helpers for the mutation tests over HTTP (this module holds no tests).

Each helper sends one mutation and returns its result payload, whatever union member it is,
so a test can assert the success or the error it expects.
"""

from __future__ import annotations

import json
from typing import Any

from tests.api.conftest import Api

FAILURE = """
fragment Failure on Error {
  code
  message
  ... on ValidationError { issues { field message } }
  ... on NotFoundError { id }
  ... on KeyConflictError { key }
  ... on InvalidStateError { currentState }
}
"""

GRANT = """
fragment GrantFields on CreditGrant {
  id key name description labels { key value } currency fundingMethod priority features
  effectiveAt expiresAt voidedAt voidReason status createdAt updatedAt
  amount remaining consumed expired voided
  purchase {
    currency perUnitCostBasis amount availabilityPolicy settlementStatus paymentReference
    authorizedAt settledAt failedAt
  }
}
"""

BALANCE = """
fragment BalanceFields on CreditBalance {
  currency at featureKey available pending funded consumed expired voided
  availablePromotional availablePaid sequence
}
"""

ENTRY = """
fragment EntryFields on CreditLedgerEntry {
  id type currency amount availableBalanceBefore availableBalanceAfter sequence
  bookedAt createdAt transactionId actor { type id name } featureKey description
  labels { key value } grant { id name } consumption { id }
}
"""

CONSUMPTION = """
fragment ConsumptionFields on CreditConsumption {
  id key currency featureKey description labels { key value }
  requested consumed shortfall reversed createdAt customer { id }
  entries { ...EntryFields }
}
"""

GRANT_RESULT = """
  __typename
  ... on CreditGrantSuccess { replayed grant { ...GrantFields } balance { ...BalanceFields } }
  ...Failure
"""

PURCHASE = (
    """
mutation Purchase($input: PurchaseCreditsInput!) {
  result: purchaseCredits(input: $input) {"""
    + GRANT_RESULT
    + "} }"
    + FAILURE
    + GRANT
    + BALANCE
)

PROMOTE = (
    """
mutation Promote($input: GrantPromotionalCreditsInput!) {
  result: grantPromotionalCredits(input: $input) {"""
    + GRANT_RESULT
    + "} }"
    + FAILURE
    + GRANT
    + BALANCE
)

SETTLE = (
    """
mutation Settle($input: SettleCreditPurchaseInput!) {
  result: settleCreditPurchase(input: $input) {"""
    + GRANT_RESULT
    + "} }"
    + FAILURE
    + GRANT
    + BALANCE
)

VOID = (
    """
mutation Void($input: VoidCreditGrantInput!) {
  result: voidCreditGrant(input: $input) {"""
    + GRANT_RESULT
    + "} }"
    + FAILURE
    + GRANT
    + BALANCE
)

CONSUME = (
    """
mutation Consume($input: ConsumeCreditsInput!) {
  result: consumeCredits(input: $input) {
    __typename
    ... on ConsumeCreditsSuccess {
      replayed consumption { ...ConsumptionFields } balance { ...BalanceFields }
    }
    ... on InsufficientCreditsError { currency requested available }
    ...Failure
  }
}"""
    + FAILURE
    + CONSUMPTION
    + ENTRY
    + BALANCE
)

REVERSE = (
    """
mutation Reverse($input: ReverseCreditConsumptionInput!) {
  result: reverseCreditConsumption(input: $input) {
    __typename
    ... on ReverseCreditConsumptionSuccess {
      replayed consumption { ...ConsumptionFields } entries { ...EntryFields }
      balance { ...BalanceFields }
    }
    ...Failure
  }
}"""
    + FAILURE
    + CONSUMPTION
    + ENTRY
    + BALANCE
)

CREATE_CUSTOMER = (
    """
mutation CreateCustomer($input: CreateCustomerInput!) {
  result: createCustomer(input: $input) {
    __typename
    ... on CreateCustomerSuccess {
      replayed
      customer { id key name description labels { key value } createdAt updatedAt }
    }
    ...Failure
  }
}"""
    + FAILURE
)

WRITTEN = (
    """
query Written($id: ID!) {
  customer(id: $id) {
    creditGrants(first: 100) { totalCount edges { node { ...GrantFields } } }
    creditLedger(first: 100) { totalCount edges { node { ...EntryFields } } }
    creditBalances { ...BalanceFields }
  }
}"""
    + GRANT
    + ENTRY
    + BALANCE
)

# A well-formed id of each kind that names nothing.
UNKNOWN_CUSTOMER = "cus_01JAAAAAAAAAAAAAAAAAAAAAAA"
UNKNOWN_GRANT = "grt_01JAAAAAAAAAAAAAAAAAAAAAAA"
UNKNOWN_CONSUMPTION = "csm_01JAAAAAAAAAAAAAAAAAAAAAAA"


async def run(api: Api, document: str, /, **input: Any) -> dict[str, Any]:
    """Send one mutation document with `input` and return its `result` payload."""
    data = await api(document, input=input)
    result: dict[str, Any] = data["result"]
    return result


async def new_customer(api: Api, key: str = "acme", name: str = "Acme Inc.") -> str:
    result = await run(api, CREATE_CUSTOMER, key=key, name=name)
    assert result["__typename"] == "CreateCustomerSuccess", result
    customer_id: str = result["customer"]["id"]
    return customer_id


async def purchase(api: Api, customer_id: str, /, **fields: Any) -> dict[str, Any]:
    """purchaseCredits of 100 USD by INVOICE unless `fields` say otherwise."""
    input = {
        "customerId": customer_id,
        "name": "Credit pack",
        "currency": "USD",
        "amount": "100",
        "fundingMethod": "INVOICE",
        **fields,
    }
    return await run(api, PURCHASE, **input)


async def promote(api: Api, customer_id: str, /, **fields: Any) -> dict[str, Any]:
    """grantPromotionalCredits of 25 USD unless `fields` say otherwise."""
    input = {
        "customerId": customer_id,
        "name": "Welcome bonus",
        "currency": "USD",
        "amount": "25",
        **fields,
    }
    return await run(api, PROMOTE, **input)


async def granted(api: Api, document: str, customer_id: str, /, **fields: Any) -> dict[str, Any]:
    """A grant that must be created: returns the grant."""
    make = purchase if document is PURCHASE else promote
    result = await make(api, customer_id, **fields)
    assert result["__typename"] == "CreditGrantSuccess", result
    grant: dict[str, Any] = result["grant"]
    return grant


async def consume(
    api: Api, customer_id: str, key: str, amount: str, /, **fields: Any
) -> dict[str, Any]:
    """consumeCredits in USD unless `fields` say otherwise."""
    input = {"customerId": customer_id, "key": key, "currency": "USD", "amount": amount}
    return await run(api, CONSUME, **{**input, **fields})


async def consumed(api: Api, customer_id: str, key: str, amount: str, /, **fields: Any) -> str:
    """A consumption that must succeed: returns its id."""
    result = await consume(api, customer_id, key, amount, **fields)
    assert result["__typename"] == "ConsumeCreditsSuccess", result
    consumption_id: str = result["consumption"]["id"]
    return consumption_id


async def settle(api: Api, grant_id: str, status: str, /, **fields: Any) -> dict[str, Any]:
    return await run(api, SETTLE, **{"grantId": grant_id, "status": status, **fields})


async def void(api: Api, grant_id: str, /, **fields: Any) -> dict[str, Any]:
    return await run(api, VOID, **{"grantId": grant_id, **fields})


async def reverse(api: Api, consumption_id: str, key: str, /, **fields: Any) -> dict[str, Any]:
    return await run(api, REVERSE, **{"consumptionId": consumption_id, "key": key, **fields})


async def written(api: Api, customer_id: str) -> dict[str, Any]:
    """The customer's grants, ledger entries (newest first) and balances."""
    data = await api(WRITTEN, id=customer_id)
    customer: dict[str, Any] = data["customer"]
    return customer


COUNTS = """
query Counts($id: ID!) {
  customer(id: $id) { creditGrants { totalCount } creditLedger { totalCount } }
}
"""


async def counts(api: Api, customer_id: str) -> tuple[int, int]:
    """How many grants and ledger entries the customer has."""
    customer = (await api(COUNTS, id=customer_id))["customer"]
    return customer["creditGrants"]["totalCount"], customer["creditLedger"]["totalCount"]


async def entries(api: Api, customer_id: str) -> list[dict[str, Any]]:
    """The customer's ledger entries, oldest first."""
    customer = await written(api, customer_id)
    return [edge["node"] for edge in reversed(customer["creditLedger"]["edges"])]


def fields_of(result: dict[str, Any]) -> list[list[str]]:
    """The field paths of a ValidationError's issues, in the order reported."""
    assert result["__typename"] == "ValidationError", result
    assert result["code"] == "VALIDATION_FAILED"
    return [issue["field"] for issue in result["issues"]]


def moves(entries: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    """Entries as (type, grant name, amount)."""
    return [(entry["type"], entry["grant"]["name"], entry["amount"]) for entry in entries]


def outcome(result: dict[str, Any]) -> list[list[str]] | str:
    """The field paths of a ValidationError's issues, else the result's type name."""
    if result["__typename"] != "ValidationError":
        return str(result["__typename"])
    return [issue["field"] for issue in result["issues"]]


def case(index: int, fields: dict[str, Any]) -> str:
    """A short readable name for one row of a table of inputs."""
    return f"{index}: {json.dumps(fields)[:70]}"
