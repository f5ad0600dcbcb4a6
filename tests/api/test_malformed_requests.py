"""A request the server cannot run answers a JSON error, with a code and the request id,
and executes nothing (DESIGN §11). Each one below carries a createCustomer mutation that
would write if anything ran."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.domain.time import FrozenClock
from tests.api.conftest import Api, running_api
from tests.api.test_unsafe_input import rows

MUTATION = 'mutation Create { createCustomer(input: { key: "acme", name: "Acme" }) { __typename } }'
ONE_OPERATION = json.dumps({"query": MUTATION}).encode()
JSON = {"content-type": "application/json"}
NOT_AN_OBJECT = "Expected a JSON object: one operation per request (no batching)"

REFUSED = [
    pytest.param(
        {"content": json.dumps(MUTATION), "headers": JSON},
        (400, "BAD_REQUEST", NOT_AN_OBJECT),
        id="a JSON string",
    ),
    pytest.param(
        {"content": b"12", "headers": JSON}, (400, "BAD_REQUEST", NOT_AN_OBJECT), id="a number"
    ),
    pytest.param(
        {"content": ONE_OPERATION[:-2] + b'\xff"}', "headers": JSON},
        (400, "BAD_REQUEST", "The request body is not valid UTF-8"),
        id="invalid UTF-8",
    ),
    pytest.param(
        {"content": b"[" * 100_000, "headers": JSON},
        (400, "BAD_REQUEST", "The JSON is nested too deeply"),
        id="100,000 nested [",
    ),
    pytest.param(
        {"json": [{"query": MUTATION}, {"query": MUTATION}]},
        (400, "BAD_REQUEST", NOT_AN_OBJECT),
        id="a batch",
    ),
    pytest.param(
        {"content": ONE_OPERATION, "headers": {"content-type": "text/plain"}},
        (415, "BAD_REQUEST", "Send the operation as application/json"),
        id="text/plain",
    ),
    pytest.param(
        {"content": ONE_OPERATION},
        (415, "BAD_REQUEST", "Send the operation as application/json"),
        id="no content type",
    ),
    pytest.param(
        {"data": {"query": MUTATION}},
        (415, "BAD_REQUEST", "Send the operation as application/json"),
        id="a form",
    ),
    pytest.param(
        {"json": {"query": MUTATION, "variables": [1]}},
        (
            400,
            "BAD_REQUEST",
            "The GraphQL operation's `variables` must be an object or null, if provided.",
        ),
        id="variables that are a list",
    ),
    pytest.param(
        {"json": {"variables": {}}},
        (400, "BAD_REQUEST", "No GraphQL query found in the request"),
        id="no query",
    ),
    pytest.param(
        {"json": {"query": MUTATION, "operationName": "Other"}},
        (400, "OPERATION_RESOLUTION_FAILURE", 'Unknown operation named "Other".'),
        id="an unknown operationName",
    ),
    pytest.param(
        {"json": {"query": MUTATION + " query Read { viewer { kind } }"}},
        (
            400,
            "OPERATION_RESOLUTION_FAILURE",
            "The document has 2 operations: name the one to run in operationName",
        ),
        id="two operations and no operationName",
    ),
]


def assert_refused(response: httpx.Response, status: int, code: str, message: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    request_id = response.headers["x-request-id"]
    error = {"message": message, "extensions": {"code": code, "requestId": request_id}}
    assert response.json() == {"data": None, "errors": [error]}


@pytest.mark.parametrize(("request_", "refused"), REFUSED)
async def test_a_malformed_request_answers_a_json_error_and_writes_nothing(
    api: Api, request_: dict[str, Any], refused: tuple[int, str, str]
) -> None:
    before = await rows(api)

    response = await api.client.post("/graphql", **request_)

    assert_refused(response, *refused)
    assert await rows(api) == before


@pytest.mark.parametrize(
    ("params", "refused"),
    [
        ({"query": MUTATION}, (400, "BAD_REQUEST", "mutations are not allowed when using GET")),
        (
            {"query": "{ viewer { kind } }", "variables": "[1]"},
            (400, "BAD_REQUEST", NOT_AN_OBJECT),
        ),
        (
            {"query": "{ viewer { kind } }", "variables": "{"},
            (
                400,
                "BAD_REQUEST",
                "The request is not valid JSON: Expecting property name "
                "enclosed in double quotes: line 1 column 2 (char 1)",
            ),
        ),
    ],
)
async def test_a_malformed_get_answers_a_json_error_and_writes_nothing(
    api: Api, params: dict[str, str], refused: tuple[int, str, str]
) -> None:
    before = await rows(api)

    response = await api.client.get(
        "/graphql", params=params, headers={"accept": "application/json"}
    )

    assert_refused(response, *refused)
    assert await rows(api) == before


async def test_of_two_operations_the_named_one_runs(api: Api) -> None:
    query = MUTATION + " query Read { customers { totalCount } }"

    read = await api.client.post("/graphql", json={"query": query, "operationName": "Read"})

    assert read.json() == {"data": {"customers": {"totalCount": 0}}}


async def test_an_unexpected_failure_outside_graphql_is_a_masked_json_500(
    api: Api, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("secret detail")

    monkeypatch.setattr(type(api.app.router.routes[0].app), "get_context", broken)

    response = await api.client.post("/graphql", json={"query": "{ viewer { kind } }"})

    request_id = response.headers["x-request-id"]
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/json"
    error = {
        "message": "Internal server error",
        "extensions": {"code": "INTERNAL_SERVER_ERROR", "requestId": request_id},
    }
    assert response.json() == {"data": None, "errors": [error]}
    assert f"request {request_id} failed" in caplog.text and "secret detail" in caplog.text


# ---- no field suggestions while introspection is off

MISTAKES: list[tuple[str, dict[str, Any]]] = [
    ("{ viewr { kind } }", {}),
    ("{ customers(frist: 5) { totalCount } }", {}),
    ("{ customers { edges { node { nmae } } } }", {}),
    ("{ customer(key: 1) { id } }", {}),
    (
        "query ($f: CustomerFilter) { customers(filter: $f) { totalCount } }",
        {"f": {"nameContain": "a"}},
    ),
    (
        "query ($f: CreditLedgerFilter) { creditLedger(filter: $f) { totalCount } }",
        {"f": {"types": ["CONSUME"]}},
    ),
    ("{ creditLedger(filter: { types: [CONSUME] }) { totalCount } }", {}),
    ("query ($f: CustomerFiltr) { customers { totalCount } }", {}),
]


async def messages(api: Api, query: str, variables: dict[str, Any]) -> list[str]:
    body = (await api.client.post("/graphql", json={"query": query, "variables": variables})).json()
    assert body["errors"], body
    return [error["message"] for error in body["errors"]]


async def test_errors_suggest_no_names_while_introspection_is_off(
    tmp_path: Path, clock: FrozenClock
) -> None:
    async with running_api(tmp_path, clock, introspection=False) as api:
        for query, variables in MISTAKES:
            for message in await messages(api, query, variables):
                assert "Did you mean" not in message, (query, message)


async def test_errors_suggest_names_while_introspection_is_on(api: Api) -> None:
    suggested = [
        any("Did you mean" in message for message in await messages(api, query, variables))
        for query, variables in MISTAKES
    ]

    assert suggested == [True, True, True, False, True, True, True, True]
