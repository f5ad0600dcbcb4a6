"""Every limit: just under passes, just over fails with LIMIT_EXCEEDED, the server keeps serving."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from app.api.guard import RequestGuard
from app.domain.time import FrozenClock
from tests.api.conftest import running_api

DASHBOARD = """
{ customers(first: 50) { edges { node {
    creditBalances { available }
    creditGrants(first: 20) { edges { node {
      remaining
      ledgerEntries(first: 10) { edges { node { amount grant { id } } } }
    } } }
} } } }
"""


def nested(depth: int) -> str:
    """A query `depth` fields deep: customers > edges > node > creditGrants > ... ."""
    fields = ["customers(first: 1)", "edges", "node", "creditGrants(first: 1)", "edges", "node"]
    fields += ["customer", "creditGrants(first: 1)", "edges", "node"] * 3
    body = "id"
    for name in reversed(fields[: depth - 1]):
        body = f"{name} {{ {body} }}"
    return "{ " + body + " }"


def code(body: dict[str, Any]) -> str | None:
    errors = body.get("errors") or []
    return errors[0]["extensions"].get("code") if errors else None


async def test_the_dashboard_query_costs_21100(tmp_path: Path, clock: FrozenClock) -> None:
    async with running_api(tmp_path, clock, max_cost=21_100) as api:
        assert "errors" not in await api.raw(DASHBOARD)
    (tmp_path / "b").mkdir()
    async with running_api(tmp_path / "b", clock, max_cost=21_099) as api:
        body = await api.raw(DASHBOARD)
        assert code(body) == "LIMIT_EXCEEDED"
        assert body["errors"][0]["message"] == "Query cost 21100 exceeds the cost limit of 21099"
        assert "errors" not in await api.raw("{ currencies { code } }")


async def test_page_sizes_from_variables_count_in_the_cost(
    tmp_path: Path, clock: FrozenClock
) -> None:
    query = "query($n: Int) { customers(first: $n) { edges { node { id } } } }"
    async with running_api(tmp_path, clock, max_cost=100) as api:
        assert "errors" not in await api.raw(query, n=100)
        assert code(await api.raw(query, n=101)) == "LIMIT_EXCEEDED"


async def test_depth_15_passes_and_16_is_refused(tmp_path: Path, clock: FrozenClock) -> None:
    async with running_api(tmp_path, clock) as api:
        assert "errors" not in await api.raw(nested(15))
        body = await api.raw(nested(16))
        assert code(body) == "LIMIT_EXCEEDED"
        assert "depth limit of 15" in body["errors"][0]["message"]


async def test_30_aliases_pass_and_31_are_refused(tmp_path: Path, clock: FrozenClock) -> None:
    def aliased(n: int) -> str:
        return "{ " + " ".join(f"a{i}: currencies {{ code }}" for i in range(n)) + " }"

    async with running_api(tmp_path, clock) as api:
        assert "errors" not in await api.raw(aliased(30))
        body = await api.raw(aliased(31))
        assert code(body) == "LIMIT_EXCEEDED"
        assert "alias limit of 30" in body["errors"][0]["message"]


async def test_too_many_tokens_are_refused_before_parsing(
    tmp_path: Path, clock: FrozenClock
) -> None:
    async with running_api(tmp_path, clock, max_tokens=9) as api:
        assert "errors" not in await api.raw("{ currencies { code name scale custom } }")
        body = await api.raw(
            "{ currencies { code name scale custom code name scale custom "
            "code name scale custom } }"
        )
        assert code(body) == "LIMIT_EXCEEDED"
        assert "token limit" in body["errors"][0]["message"]


async def test_a_page_over_500_is_bad_user_input(tmp_path: Path, clock: FrozenClock) -> None:
    async with running_api(tmp_path, clock) as api:
        assert "errors" not in await api.raw("{ customers(first: 500) { totalCount } }")
        body = await api.raw("{ customers(first: 501) { totalCount } }")
        assert code(body) == "BAD_USER_INPUT"
        assert "500" in body["errors"][0]["message"]


async def test_an_oversized_body_answers_413(tmp_path: Path, clock: FrozenClock) -> None:
    async with running_api(tmp_path, clock, max_body_bytes=200) as api:
        small = await api.client.post("/graphql", json={"query": "{ currencies { code } }"})
        assert small.status_code == 200
        big = await api.client.post(
            "/graphql", json={"query": "{ currencies { code } }" + " " * 300}
        )
        assert big.status_code == 413
        assert big.json()["errors"][0]["extensions"]["code"] == "LIMIT_EXCEEDED"
        assert "200 bytes" in big.json()["errors"][0]["message"]
        assert big.headers["x-request-id"]


async def test_an_execution_over_its_time_answers_504(
    tmp_path: Path, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.services.currencies import CurrencyCatalog

    async def slow(self: CurrencyCatalog) -> list[Any]:
        await asyncio.Event().wait()  # never answers: the limit ends it, however slow the machine
        return []

    async with running_api(tmp_path, clock, execution_timeout=0.2) as api:
        monkeypatch.setattr(CurrencyCatalog, "all", slow)
        response = await api.client.post("/graphql", json={"query": "{ currencies { code } }"})
        assert response.status_code == 504
        assert response.json()["errors"][0]["extensions"]["code"] == "LIMIT_EXCEEDED"
        assert "time limit of 0.2 seconds" in response.json()["errors"][0]["message"]
        monkeypatch.undo()
        request_guard(api.app).timeout = 60  # the next request, as long as a loaded machine needs
        assert (
            await api.client.post("/graphql", json={"query": "{ currencies { code } }"})
        ).status_code == 200


def request_guard(app: Any) -> RequestGuard:
    layer = app.middleware_stack
    while not isinstance(layer, RequestGuard):
        layer = layer.app
    return layer


async def test_an_unexpected_failure_is_masked_with_a_request_id(
    tmp_path: Path, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.services.currencies import CurrencyCatalog

    async def broken(self: CurrencyCatalog) -> list[Any]:
        raise RuntimeError("secret detail /etc/passwd SELECT * FROM customer")

    async with running_api(tmp_path, clock) as api:
        monkeypatch.setattr(CurrencyCatalog, "all", broken)
        response = await api.client.post("/graphql", json={"query": "{ currencies { code } }"})
        error = response.json()["errors"][0]
        assert error["message"] == "Internal server error"
        assert error["extensions"]["code"] == "INTERNAL_SERVER_ERROR"
        assert error["extensions"]["requestId"] == response.headers["x-request-id"]
        assert "secret" not in response.text and "SELECT" not in response.text
