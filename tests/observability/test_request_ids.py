"""A request keeps the X-Request-ID it came with when that is safe, else gets a fresh one."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from app.observability.logs import configure_logging
from tests.api.conftest import Api

QUERY = {"query": "query Hello { viewer { kind } }"}
ULID = re.compile(r"[0-9A-HJKMNP-TV-Z]{26}")


@pytest.fixture
def logged(api: Api) -> Iterator[io.StringIO]:
    stream = io.StringIO()
    configure_logging("info", "json", stream=stream)
    try:
        yield stream
    finally:
        configure_logging("info", "json")


def request_lines(stream: io.StringIO) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    return [line for line in lines if line["logger"] == "credits.request"]


@pytest.mark.parametrize(
    "sent", ["01JREQUEST", "lb-7f3a.9c:2_x", "a", "x" * 128, "1-65f2a3b4-0123456789abcdef"]
)
async def test_a_safe_incoming_request_id_is_echoed_and_logged(
    api: Api, logged: io.StringIO, sent: str
) -> None:
    response = await api.client.post("/graphql", json=QUERY, headers={"X-Request-ID": sent})

    assert response.status_code == 200
    assert response.headers["x-request-id"] == sent
    [line] = request_lines(logged)
    assert line["request_id"] == sent


@pytest.mark.parametrize(
    "sent", ["", "x" * 129, "has space", 'quote"d', "semi;colon", "tab\there", "é", "Root=1-2"]
)
async def test_an_unsafe_incoming_request_id_is_replaced_by_a_fresh_one(
    api: Api, logged: io.StringIO, sent: str
) -> None:
    header = sent.encode("utf-8")
    response = await api.client.post("/graphql", json=QUERY, headers=[(b"X-Request-ID", header)])

    assert response.status_code == 200
    fresh = response.headers["x-request-id"]
    assert ULID.fullmatch(fresh), fresh
    [line] = request_lines(logged)
    assert line["request_id"] == fresh


async def test_a_refused_request_carries_the_incoming_id_in_its_error(api: Api) -> None:
    response = await api.client.post(
        "/graphql", content=b"{" * 2_000_000, headers={"X-Request-ID": "lb-413"}
    )

    assert response.status_code == 413
    assert response.headers["x-request-id"] == "lb-413"
    assert response.json()["errors"][0]["extensions"]["requestId"] == "lb-413"


async def test_requests_without_an_id_each_get_their_own(api: Api) -> None:
    first = await api.client.post("/graphql", json=QUERY)
    second = await api.client.post("/graphql", json=QUERY)

    ids = [first.headers["x-request-id"], second.headers["x-request-id"]]
    assert all(ULID.fullmatch(value) for value in ids) and ids[0] != ids[1]
