"""Text no field can hold and decimals that are not plain digits are refused, and nothing is
written: NUL, other control characters and lone surrogates in a mutation's input are a
ValidationError naming the field; in a query argument (a filter) BAD_USER_INPUT naming the
argument. The text cases run on SQLite and, with CREDITS_TEST_POSTGRES_URL, on PostgreSQL,
where a NUL used to reach the database as a masked 500.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from app.domain.time import FrozenClock
from app.live.publisher import RecordingPublisher
from app.main import create_app
from app.settings import Settings
from app.storage.engine import read_connection
from app.storage.tables import metadata
from tests.api.conftest import Api, create_schema
from tests.api.test_mutations_support import (
    CONSUME,
    CREATE_CUSTOMER,
    FAILURE,
    PROMOTE,
    PURCHASE,
    REVERSE,
    SETTLE,
    VOID,
    consumed,
    granted,
    new_customer,
    run,
)
from tests.databases import empty_postgres_async

CONTROL = "must not contain control characters (found U+0000)"
UPDATE_CUSTOMER = (
    """
mutation ($input: UpdateCustomerInput!) {
  result: updateCustomer(input: $input) { __typename ...Failure }
}"""
    + FAILURE
)
CREATE_CURRENCY = (
    """
mutation ($input: CreateCustomCurrencyInput!) {
  result: createCustomCurrency(input: $input) { __typename ...Failure }
}"""
    + FAILURE
)


@asynccontextmanager
async def served(url: str, clock: FrozenClock) -> AsyncIterator[Api]:
    await create_schema(url)
    settings = Settings(database_url=url, scheduler_enabled=False)
    app = create_app(settings, clock=clock, publisher=RecordingPublisher())
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield Api(client, app)


@pytest.fixture(params=["sqlite", "postgresql"])
async def api(
    request: pytest.FixtureRequest, tmp_path: Path, clock: FrozenClock
) -> AsyncIterator[Api]:
    if request.param == "sqlite":
        async with served(f"sqlite:///{tmp_path}/credits.db", clock) as api:
            yield api
        return
    postgres_url = request.getfixturevalue("postgres_url")  # skips without PostgreSQL
    async with empty_postgres_async(postgres_url, "credits_test") as url, served(url, clock) as api:
        yield api


async def rows(api: Api) -> dict[str, int]:
    """Rows in every table: what a refused request must leave as it was."""
    async with read_connection(api.app.state.runtime.engine) as connection:
        return {
            table.name: (
                await connection.execute(select(func.count()).select_from(table))
            ).scalar_one()
            for table in metadata.sorted_tables
        }


async def graphql(api: Api, query: str, **variables: Any) -> dict[str, Any]:
    """Sent as ASCII JSON, so a lone surrogate travels as the escape "\\ud800"."""
    payload = json.dumps({"query": query, "variables": variables})
    headers = {"content-type": "application/json"}
    body: dict[str, Any] = (
        await api.client.post("/graphql", content=payload, headers=headers)
    ).json()
    return body


async def result_of(api: Api, document: str, **input: Any) -> dict[str, Any]:
    body = await graphql(api, document, input=input)
    assert "errors" not in body, body
    return dict(body["data"]["result"])


def issues(result: dict[str, Any]) -> list[tuple[list[str], str]]:
    assert result["__typename"] == "ValidationError", result
    return [(issue["field"], issue["message"]) for issue in result["issues"]]


# ---- mutation inputs: a ValidationError naming the field


async def test_nul_control_characters_and_lone_surrogates_in_inputs_name_the_field(
    api: Api,
) -> None:
    customer = await new_customer(api)
    pack = await granted(api, PURCHASE, customer, amount="50")
    consumption = await consumed(api, customer, "draw-1", "5")
    before = await rows(api)
    purchase = {
        "customerId": customer,
        "currency": "USD",
        "amount": "1",
        "fundingMethod": "INVOICE",
    }
    promote = {"customerId": customer, "name": "Bonus", "currency": "USD", "amount": "1"}
    draw = {"customerId": customer, "key": "k", "currency": "USD", "amount": "1"}
    cases: list[tuple[str, dict[str, Any], list[str], str]] = [
        (CREATE_CUSTOMER, {"key": "a\x00", "name": "A"}, ["input", "key"], CONTROL),
        (CREATE_CUSTOMER, {"key": "a", "name": "A\x00"}, ["input", "name"], CONTROL),
        (CREATE_CUSTOMER, {"key": "a", "name": "A\nB"}, ["input", "name"], "U+000A"),
        (CREATE_CUSTOMER, {"key": "a\tb", "name": "A"}, ["input", "key"], "U+0009"),
        (CREATE_CUSTOMER, {"key": "a", "name": "A\ud800"}, ["input", "name"], "surrogates"),
        (
            CREATE_CUSTOMER,
            {"key": "a", "name": "A", "description": "\x00"},
            ["input", "description"],
            CONTROL,
        ),
        (
            CREATE_CUSTOMER,
            {"key": "a", "name": "A", "labels": [{"key": "tier", "value": "\x00"}]},
            ["input", "labels", "0", "value"],
            CONTROL,
        ),
        (PURCHASE, {**purchase, "name": "Pack\x00"}, ["input", "name"], CONTROL),
        (PURCHASE, {**purchase, "name": "Pack", "key": "k\x00"}, ["input", "key"], CONTROL),
        (
            PURCHASE,
            {**purchase, "name": "Pack", "purchase": {"paymentReference": "inv\x00"}},
            ["input", "purchase", "paymentReference"],
            CONTROL,
        ),
        (PROMOTE, {**promote, "description": "\x1b[31m"}, ["input", "description"], "U+001B"),
        (
            CONSUME,
            {"customerId": customer, "key": "k\x00", "currency": "USD", "amount": "1"},
            ["input", "key"],
            CONTROL,
        ),
        (
            CONSUME,
            {
                "customerId": customer,
                "key": "k",
                "currency": "USD",
                "amount": "1",
                "description": "\udc00",
            },
            ["input", "description"],
            "surrogates",
        ),
        (REVERSE, {"consumptionId": consumption, "key": "r\x00"}, ["input", "key"], CONTROL),
        (
            REVERSE,
            {"consumptionId": consumption, "key": "r", "reason": "\x00"},
            ["input", "reason"],
            CONTROL,
        ),
        (
            SETTLE,
            {"grantId": pack["id"], "status": "SETTLED", "paymentReference": "p\x00"},
            ["input", "paymentReference"],
            CONTROL,
        ),
        (VOID, {"grantId": pack["id"], "reason": "\x00"}, ["input", "reason"], CONTROL),
        (
            CONSUME,
            {"customerId": customer, "key": "k", "currency": "US\x00D", "amount": "1"},
            ["input", "currency"],
            "'US\\x00D' is not a known currency",
        ),
        (
            CONSUME,
            {**draw, "featureKey": "api\x00"},
            ["input", "featureKey"],
            "lowercase words",
        ),
        (UPDATE_CUSTOMER, {"customerId": customer, "name": "\x00"}, ["input", "name"], CONTROL),
        (
            UPDATE_CUSTOMER,
            {"customerId": customer, "labels": [{"key": "a", "value": "\x7f"}]},
            ["input", "labels", "0", "value"],
            "U+007F",
        ),
        (
            CREATE_CURRENCY,
            {"code": "GEMS", "name": "G\x00", "scale": 0},
            ["input", "name"],
            CONTROL,
        ),
        (
            PROMOTE,
            {**promote, "labels": [{"key": "a", "value": "b\x00"}]},
            ["input", "labels", "0", "value"],
            CONTROL,
        ),
    ]

    found = [issues(await result_of(api, document, **input)) for document, input, _, _ in cases]

    for (_, _, field, message), reported in zip(cases, found, strict=True):
        assert [path for path, _ in reported] == [field]
        assert message in reported[0][1]
    assert await rows(api) == before


async def test_descriptions_and_reasons_keep_tabs_and_line_breaks(api: Api) -> None:
    text_with_lines = "Line one\r\n\tLine two\n"
    result = await run(api, CREATE_CUSTOMER, key="acme", name="Acme", description=text_with_lines)

    assert result["__typename"] == "CreateCustomerSuccess", result
    assert result["customer"]["description"] == text_with_lines


# ---- query arguments: BAD_USER_INPUT naming the argument

CUSTOMERS = "query ($filter: CustomerFilter) { customers(filter: $filter) { totalCount } }"


async def refusal(api: Api, query: str, **variables: Any) -> dict[str, Any]:
    body = await graphql(api, query, **variables)
    assert body["data"] is None, body
    [error] = body["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT", error
    return dict(error)


async def test_a_nul_in_a_filter_is_bad_user_input_naming_the_argument(api: Api) -> None:
    await new_customer(api, key="acme", name="Acme")

    error = await refusal(api, CUSTOMERS, filter={"nameContains": "\x00"})

    assert error["message"] == f"Argument filter.nameContains of customers: {CONTROL}"
    assert error["extensions"]["field"] == ["filter", "nameContains"]
    assert (await api(CUSTOMERS, filter={"nameContains": "cm"}))["customers"]["totalCount"] == 1


@pytest.mark.parametrize(
    ("query", "argument"),
    [
        ('{ customers(filter: { key: "a\\u0000" }) { totalCount } }', "filter.key of customers"),
        ('{ customer(key: "\\u0000") { id } }', "key of customer"),
        (
            '{ customers { edges { node { creditGrants(filter: { featureKey: "\\t" }) '
            "{ totalCount } } } } }",
            "filter.featureKey of creditGrants",
        ),
        (
            '{ creditLedger(filter: { currency: "US\\u0000D" }) { totalCount } }',
            "filter.currency of creditLedger",
        ),
        ("query ($id: ID!) { node(id: $id) { id } }", "id of node"),
        ('{ customers(after: "\\u0000") { totalCount } }', "after of customers"),
    ],
)
async def test_text_no_field_can_hold_is_refused_in_any_query_argument(
    api: Api, query: str, argument: str
) -> None:
    await new_customer(api)

    error = await refusal(api, query, id="cus_\ud800")  # a lone surrogate as a variable

    assert error["message"].startswith(f"Argument {argument}: must not contain ")


async def test_a_mutation_whose_selection_has_such_an_argument_writes_nothing(api: Api) -> None:
    before = await rows(api)
    query = """
    mutation {
      createCustomer(input: { key: "acme", name: "Acme" }) {
        ... on CreateCustomerSuccess {
          customer { creditGrants(filter: { key: "\\u0000" }) { totalCount } }
        }
      }
    }"""

    error = await refusal(api, query)

    assert error["message"] == f"Argument filter.key of creditGrants: {CONTROL}"
    assert await rows(api) == before


# ---- Decimal: plain ASCII digits only, on SQLite

NOT_DECIMALS = ["١٢", "1_000", " 1 ", "1e3", "+1", "1.", ".5"]


@pytest.mark.parametrize("amount", NOT_DECIMALS)
async def test_a_decimal_that_is_not_plain_digits_is_bad_user_input_and_writes_nothing(
    tmp_path: Path, clock: FrozenClock, amount: str
) -> None:
    async with served(f"sqlite:///{tmp_path}/credits.db", clock) as api:
        customer = await new_customer(api)
        before = await rows(api)
        input = {"customerId": customer, "name": "Pack", "currency": "USD", "amount": amount}

        body = await api.raw(PROMOTE, input=input)

        [error] = body["errors"]
        assert error["extensions"]["code"] == "BAD_USER_INPUT"
        assert f"{amount!r} is not a decimal number" in error["message"]
        assert body["data"] is None
        assert await rows(api) == before
