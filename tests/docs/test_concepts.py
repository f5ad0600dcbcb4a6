"""The burn-order picture of docs/concepts.md, made and consumed through the API."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from app.domain.time import FrozenClock
from tests.api.conftest import Api, running_api

GRANT = """
mutation ($input: GrantPromotionalCreditsInput!) {
  grantPromotionalCredits(input: $input) { ... on CreditGrantSuccess { grant { id } } }
}"""
PURCHASE = """
mutation ($input: PurchaseCreditsInput!) {
  purchaseCredits(input: $input) { ... on CreditGrantSuccess { grant { id } } }
}"""
CONSUME = """
mutation ($input: ConsumeCreditsInput!) {
  consumeCredits(input: $input) {
    ... on ConsumeCreditsSuccess { consumption { entries { grant { name } amount } } }
  }
}"""


async def picture(api: Api) -> str:
    created = await api(
        'mutation { createCustomer(input: { key: "c", name: "C" }) {'
        " ... on CreateCustomerSuccess { customer { id } } } }"
    )
    customer: str = created["createCustomer"]["customer"]["id"]
    common = {"customerId": customer, "currency": "USD"}
    await api(
        GRANT,
        input={**common, "name": "Welcome", "amount": "25", "priority": 5, "expiresAfter": "P30D"},
    )
    paid = {**common, "fundingMethod": "INVOICE"}
    await api(
        PURCHASE,
        input={
            **paid,
            "name": "Image pack",
            "amount": "40",
            "features": ["image_gen"],
            "expiresAfter": "P60D",
        },
    )
    await api(
        PURCHASE,
        input={
            **paid,
            "name": "Annual deal",
            "amount": "200",
            "expiresAfter": "P1Y",
            "purchase": {"perUnitCostBasis": "0.80"},
        },
    )
    await api(PURCHASE, input={**paid, "name": "Prepaid", "amount": "100", "expiresAfter": "P1Y"})
    return customer


def draws(answer: dict[str, Any]) -> list[tuple[str, str]]:
    entries = answer["consumeCredits"]["consumption"]["entries"]
    return [(entry["grant"]["name"], entry["amount"]) for entry in entries]


async def test_consuming_for_a_feature_draws_as_the_picture_shows(
    tmp_path: Path, clock: FrozenClock
) -> None:
    async with running_api(tmp_path, clock) as api:
        customer = await picture(api)
        answer = await api(
            CONSUME,
            input={
                "customerId": customer,
                "key": "k",
                "currency": "USD",
                "amount": "150",
                "featureKey": "image_gen",
            },
        )

    assert draws(answer) == [
        ("Welcome", "-25.00"),
        ("Image pack", "-40.00"),
        ("Annual deal", "-85.00"),
    ]


async def test_consuming_for_no_feature_skips_the_restricted_grant(
    tmp_path: Path, clock: FrozenClock
) -> None:
    async with running_api(tmp_path, clock) as api:
        customer = await picture(api)
        answer = await api(
            CONSUME, input={"customerId": customer, "key": "k", "currency": "USD", "amount": "150"}
        )

    assert draws(answer) == [("Welcome", "-25.00"), ("Annual deal", "-125.00")]
