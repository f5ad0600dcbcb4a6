"""GraphQL-level errors of mutations: parse, validation and variable errors (DESIGN §11)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.api.conftest import Api
from tests.api.test_mutations_support import PURCHASE, case, counts, new_customer

LEAKS = ("Traceback", 'File "', ".py", "sqlalchemy", "strawberry", "Exception", "object at 0x")


def codes(body: dict[str, Any]) -> list[str | None]:
    return [(error.get("extensions") or {}).get("code") for error in body["errors"]]


def assert_nothing_leaks(body: dict[str, Any]) -> None:
    text = json.dumps(body)
    for leak in LEAKS:
        assert leak not in text, text


async def purchase_with(api: Api, customer_id: str, **changed: Any) -> dict[str, Any]:
    input = {
        "customerId": customer_id,
        "name": "Credit pack",
        "currency": "USD",
        "amount": "100",
        "fundingMethod": "INVOICE",
        **changed,
    }
    return await api.raw(PURCHASE, input=input)


async def test_malformed_graphql_is_a_parse_failure(api: Api) -> None:
    body = await api.raw('mutation { createCustomer(input: {key: "acme", name: "Acme"}) {')

    assert body.get("data") is None
    assert codes(body) == ["GRAPHQL_PARSE_FAILED"]
    assert body["errors"][0]["message"].startswith("Syntax Error")


async def test_an_unknown_field_is_a_validation_failure(api: Api) -> None:
    body = await api.raw(
        'mutation { createCustomer(input: {key: "acme", name: "Acme"}) { __typename nope } }'
    )

    assert body.get("data") is None
    assert codes(body) == ["GRAPHQL_VALIDATION_FAILED"]
    assert "nope" in body["errors"][0]["message"]


@pytest.mark.parametrize(
    "document",
    [
        'mutation { createCustomer(input: {key: 1, name: "Acme"}) { __typename } }',
        'mutation { createCustomer(input: {key: "acme"}) { __typename } }',
        "mutation { createCustomer { __typename } }",
        'mutation { createCustomer(input: {key: "a", name: "b", size: 3}) { __typename } }',
        'mutation { voidCreditGrant(input: {grantId: "grt_1", reason: 5}) { __typename } }',
    ],
)
async def test_an_argument_of_the_wrong_type_is_a_validation_failure(
    api: Api, document: str
) -> None:
    body = await api.raw(document)

    assert body.get("data") is None
    assert codes(body) == ["GRAPHQL_VALIDATION_FAILED"]
    assert_nothing_leaks(body)


async def test_a_document_that_fails_validation_writes_nothing(api: Api) -> None:
    body = await api.raw('mutation { createCustomer(input: {key: "acme", name: "Acme"}) { nope } }')

    assert "errors" in body
    assert (await api("{ customers { totalCount } }"))["customers"]["totalCount"] == 0


WRONG_VARIABLES: list[tuple[dict[str, Any], str]] = [
    ({"amount": 1.5}, "amount"),
    ({"amount": "abc"}, "amount"),
    ({"amount": "NaN"}, "amount"),
    ({"amount": "Infinity"}, "amount"),
    ({"effectiveAt": "next tuesday"}, "effectiveAt"),
    ({"expiresAfter": "P1X"}, "expiresAfter"),
    ({"fundingMethod": "NOPE"}, "fundingMethod"),
    ({"name": None}, "name"),
    ({"priority": "high"}, "priority"),
    ({"purchase": {"perUnitCostBasis": 0.5}}, "perUnitCostBasis"),
]


async def test_a_variable_of_the_wrong_type_is_bad_user_input_naming_its_field(api: Api) -> None:
    customer_id = await new_customer(api)

    found = {}
    for index, (changed, field) in enumerate(WRONG_VARIABLES):
        body = await purchase_with(api, customer_id, **changed)
        message = body["errors"][0]["message"] if "errors" in body else ""
        found[case(index, changed)] = (
            body.get("data"),
            codes(body) if "errors" in body else None,
            "$input" in message and field in message,
        )

    assert found == {
        case(i, changed): (None, ["BAD_USER_INPUT"], True)
        for i, (changed, _) in enumerate(WRONG_VARIABLES)
    }


@pytest.mark.parametrize(
    "changed",
    [{"amount": 1.5}, {"amount": "abc"}, {"effectiveAt": "next tuesday"}, {"name": None}],
)
async def test_a_refused_variable_writes_nothing_and_leaks_no_internals(
    api: Api, changed: dict[str, Any]
) -> None:
    customer_id = await new_customer(api)

    body = await purchase_with(api, customer_id, **changed)

    assert body.get("data") is None
    assert len(body["errors"]) == 1
    assert_nothing_leaks(body)
    assert await counts(api, customer_id) == (0, 0)


@pytest.mark.parametrize(
    "document",
    [
        "mutation {",
        "mutation { nope }",
        'mutation { createCustomer(input: {key: 1, name: "Acme"}) { __typename } }',
    ],
)
async def test_graphql_errors_leak_no_internals(api: Api, document: str) -> None:
    body = await api.raw(document)

    assert body.get("data") is None
    assert body["errors"]
    assert_nothing_leaks(body)


async def test_an_expected_failure_is_data_not_a_graphql_error(api: Api) -> None:
    customer_id = await new_customer(api)

    body = await purchase_with(api, customer_id, amount="1.005")

    assert "errors" not in body
    result = body["data"]["result"]
    assert (result["__typename"], result["code"]) == ("ValidationError", "VALIDATION_FAILED")
    assert result["message"]
    assert [issue["field"] for issue in result["issues"]] == [["input", "amount"]]
