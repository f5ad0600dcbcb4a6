"""The ledger export (docs/operations.md): the same rows the GraphQL ledger shows, over the
command and over HTTP, in JSON Lines and CSV, on SQLite and PostgreSQL; who may fetch it."""

from __future__ import annotations

import asyncio
import csv
import io
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.cli import main, parser
from app.cli_export import export_action
from app.demo import load_demo
from app.domain.access import Role
from app.domain.time import FrozenClock, format_instant, parse_duration
from app.live.publisher import RecordingPublisher
from app.main import create_app
from app.services.export import FIELDS, ExportFormat, export_ledger
from app.services.keys import create_key
from app.services.portal import create_portal_token
from app.services.runtime import Runtime
from app.services.signing import SigningKeys
from app.settings import Settings
from app.storage.export import ExportFilter, export_statement
from app.storage.seed import Shape, seed
from tests.conftest import create_sqlite_engine
from tests.services.support import promo
from tests.storage.test_postgres import pg_runtime

__all__ = ["pg_runtime"]

LEDGER = """
query Ledger($after: String) {
  creditLedger(first: 500, after: $after) {
    edges { node {
      id transactionId customer { id key } currency sequence type amount
      availableBalanceBefore availableBalanceAfter
      grant { id fundingMethod purchase { currency perUnitCostBasis } }
      consumption { id key } actor { type id name }
      bookedAt createdAt featureKey description labels { key value } hash
    } }
    pageInfo { hasNextPage endCursor }
  }
}"""


@pytest.fixture(params=["sqlite", "postgresql"])
def both(request: pytest.FixtureRequest) -> Runtime:
    name = "runtime" if request.param == "sqlite" else "pg_runtime"
    runtime: Runtime = request.getfixturevalue(name)
    return runtime


def url_of(runtime: Runtime) -> str:
    return runtime.engine.url.render_as_string(hide_password=False)


@asynccontextmanager
async def client_of(runtime: Runtime, clock: FrozenClock) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(database_url=url_of(runtime), scheduler_enabled=False)
    app = create_app(settings, clock=clock, publisher=RecordingPublisher())
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            yield client


async def graphql_ledger(client: httpx.AsyncClient) -> list[dict[str, Any]]:
    """Every entry the GraphQL ledger shows, in the export's fields and order."""
    rows: list[dict[str, Any]] = []
    after = None
    while True:
        answer = await client.post(
            "/graphql", json={"query": LEDGER, "variables": {"after": after}}
        )
        page = answer.json()["data"]["creditLedger"]
        rows += [as_exported(edge["node"]) for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    return sorted(rows, key=lambda r: (r["customerId"], r["currency"], r["sequence"]))


def as_exported(node: dict[str, Any]) -> dict[str, Any]:
    purchase = node["grant"]["purchase"] or {}
    consumption = node["consumption"] or {}
    return {
        "id": node["id"],
        "transactionId": node["transactionId"],
        "customerId": node["customer"]["id"],
        "customerKey": node["customer"]["key"],
        "currency": node["currency"],
        "sequence": node["sequence"],
        "type": node["type"],
        "amount": node["amount"],
        "balanceBefore": node["availableBalanceBefore"],
        "balanceAfter": node["availableBalanceAfter"],
        "grantId": node["grant"]["id"],
        "fundingMethod": node["grant"]["fundingMethod"],
        "perUnitCostBasis": purchase.get("perUnitCostBasis"),
        "purchaseCurrency": purchase.get("currency"),
        "consumptionId": consumption.get("id"),
        "consumptionKey": consumption.get("key"),
        "actorType": node["actor"]["type"],
        "actorId": node["actor"]["id"],
        "actorName": node["actor"]["name"],
        "bookedAt": node["bookedAt"],
        "createdAt": node["createdAt"],
        "featureKey": node["featureKey"],
        "description": node["description"],
        "labels": {label["key"]: label["value"] for label in node["labels"]},
        "hash": node["hash"],
    }


def as_csv_cells(row: dict[str, Any]) -> dict[str, str]:
    """A JSON record as the CSV shows it: null empty, labels as JSON text."""
    cells = {}
    for name, value in row.items():
        if value is None:
            cells[name] = ""
        elif isinstance(value, dict):
            cells[name] = json.dumps(value, separators=(",", ":"))
        else:
            cells[name] = str(value)
    return cells


def jsonl(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines()]


async def test_the_export_matches_the_graphql_ledger_row_for_row(
    both: Runtime, clock: FrozenClock, tmp_path: Path
) -> None:
    await load_demo(both)
    async with client_of(both, clock) as client:
        expected = await graphql_ledger(client)
        served = await client.get("/export/ledger")
        served_csv = await client.get("/export/ledger", params={"format": "csv"})
    assert len(expected) > 15
    assert {row["type"] for row in expected} >= {"FUNDED", "CONSUMED", "RESTORED", "VOIDED"}
    assert any(row["perUnitCostBasis"] for row in expected)
    assert any(row["consumptionKey"] for row in expected)

    assert served.status_code == 200
    assert served.headers["content-type"] == "application/jsonl; charset=utf-8"
    assert jsonl(served.text) == expected
    assert list(json.loads(served.text.splitlines()[0])) == list(FIELDS)

    assert served_csv.headers["content-type"] == "text/csv; charset=utf-8"
    table = list(csv.DictReader(io.StringIO(served_csv.text)))
    assert table == [as_csv_cells(row) for row in expected]

    output = tmp_path / "ledger.jsonl"
    args = parser().parse_args(["export-ledger", "--output", str(output)])
    assert await export_action(args)(both.engine) == 0  # the command, on this engine
    assert output.read_text() == served.text


async def test_filters_pick_a_customer_a_currency_and_a_half_open_booking_range(
    runtime: Runtime, clock: FrozenClock
) -> None:
    await load_demo(runtime)
    async with client_of(runtime, clock) as client:
        customers = sorted(
            {r["customerId"] for r in jsonl((await client.get("/export/ledger")).text)}
        )
    clock.advance(timedelta(hours=1))
    middle = format_instant(clock.now())
    for customer in customers:
        await promo(runtime, customer, "7")
    async with client_of(runtime, clock) as client:
        every = jsonl((await client.get("/export/ledger")).text)
        customer = customers[-1]

        async def export(**params: str) -> list[dict[str, Any]]:
            return jsonl((await client.get("/export/ledger", params=params)).text)

        assert await export(customerId=customer) == [
            r for r in every if r["customerId"] == customer
        ]
        assert await export(currency="EUR") == [r for r in every if r["currency"] == "EUR"]
        before, after = await export(to=middle), await export(**{"from": middle})
        assert before == [r for r in every if r["bookedAt"] < middle]
        assert after == [r for r in every if r["bookedAt"] >= middle]
        assert before and after and len(before) + len(after) == len(every)
        assert await export(currency="EUR", customerId=customer, to=middle) == [
            r
            for r in every
            if r["currency"] == "EUR" and r["customerId"] == customer and r["bookedAt"] < middle
        ]


async def test_the_http_export_is_for_admin_and_reader_keys_only(
    runtime: Runtime, clock: FrozenClock
) -> None:
    await load_demo(runtime)
    now = clock.now()
    secrets = {
        role: (await create_key(runtime.engine, name=role.value, role=role, now=now))[1]
        for role in Role
    }
    customer = jsonl((await export_text(runtime, clock, secrets[Role.ADMIN]))[1])[0]["customerId"]
    portal, _ = await create_portal_token(
        runtime,
        signing_keys=SigningKeys(runtime.engine),
        customer_id=customer,
        expires_in=parse_duration("P1D"),
    )
    answers = {
        "none": await export_text(runtime, clock, None),
        "writer": await export_text(runtime, clock, secrets[Role.WRITER]),
        "portal": await export_text(runtime, clock, portal, customerId=customer),
        "reader": await export_text(runtime, clock, secrets[Role.READER]),
        "admin": await export_text(runtime, clock, secrets[Role.ADMIN]),
    }
    codes = {who: (status, code_of(text)) for who, (status, text) in answers.items()}
    assert codes == {
        "none": (401, "UNAUTHENTICATED"),
        "writer": (403, "FORBIDDEN"),
        "portal": (403, "FORBIDDEN"),
        "reader": (200, None),
        "admin": (200, None),
    }
    assert answers["reader"][1] == answers["admin"][1] and len(jsonl(answers["reader"][1])) > 15


async def test_a_bad_parameter_answers_400_naming_it(runtime: Runtime, clock: FrozenClock) -> None:
    async with client_of(runtime, clock) as client:
        bad_format = await client.get("/export/ledger", params={"format": "xml"})
        bad_from = await client.get("/export/ledger", params={"from": "yesterday"})
        no_offset = await client.get("/export/ledger", params={"to": "2026-01-01T00:00:00"})
    for answer, field in ((bad_format, "format"), (bad_from, "from"), (no_offset, "to")):
        assert answer.status_code == 400
        [error] = answer.json()["errors"]
        assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": field}
        assert error["message"].startswith(field)


async def export_text(
    runtime: Runtime, clock: FrozenClock, secret: str | None, **params: str
) -> tuple[int, str]:
    headers = {"authorization": f"Bearer {secret}"} if secret else {}
    async with client_of(runtime, clock) as client:
        answer = await client.get("/export/ledger", params=params, headers=headers)
    return answer.status_code, answer.text


def code_of(text: str) -> str | None:
    if text.startswith('{"data"'):
        code: str = json.loads(text)["errors"][0]["extensions"]["code"]
        return code
    return None


def test_the_command_refuses_a_bad_instant_naming_the_flag(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit:
        main(["export-ledger", "--to", "2026-01-01", "--database-url", f"sqlite:///{tmp_path}/x"])
    assert exit.value.code == 2
    assert "argument --to: '2026-01-01' is not an RFC 3339 instant" in capsys.readouterr().err


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize("terminal", [True, False])
async def test_a_progress_bar_only_on_a_terminal(
    runtime: Runtime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, terminal: bool
) -> None:
    await load_demo(runtime)
    stderr = Terminal() if terminal else io.StringIO()
    monkeypatch.setattr("sys.stderr", stderr)
    output = tmp_path / "ledger.csv"
    args = parser().parse_args(["export-ledger", "--format", "csv", "--output", str(output)])
    assert await export_action(args)(runtime.engine) == 0
    entries = len(output.read_text().splitlines()) - 1
    said = stderr.getvalue()
    assert said.endswith(f"exported {entries} entries to {output}\n")
    if terminal:
        assert "100%|" in said and f"{entries}/{entries}" in said
    else:
        assert said == f"exported {entries} entries to {output}\n"


async def test_the_export_is_one_snapshot_while_writes_go_on(
    both: Runtime, clock: FrozenClock
) -> None:
    """Entries committed after the export began are not in it: the CSV header comes once
    the snapshot has been read from, the entries are read after these writes."""
    await load_demo(both)
    before = await csv_of(both)
    customers = sorted({row["customerId"] for row in before})
    chunks = export_ledger(both.engine, both.catalog, ExportFilter(), ExportFormat.CSV)
    header, count = await anext(chunks)
    assert count == 0 and header.startswith("id,transactionId,")
    for customer in customers:
        await promo(both, customer, "3")
    rest = "".join([text async for text, _ in chunks])
    during = list(csv.DictReader(io.StringIO(header + rest)))
    assert during == before
    after = await csv_of(both)
    assert len(after) == len(before) + len(customers)


async def csv_of(runtime: Runtime) -> list[dict[str, str]]:
    chunks = export_ledger(runtime.engine, runtime.catalog, ExportFilter(), ExportFormat.CSV)
    text = "".join([text async for text, _ in chunks])
    return list(csv.DictReader(io.StringIO(text)))


async def test_a_long_export_is_not_cut_by_the_request_time_limit(
    tmp_path: Path, clock: FrozenClock
) -> None:
    """5,000 entries take far longer than a 10 ms limit to stream; they all arrive."""
    engine = await create_sqlite_engine(tmp_path / "credits.db")
    try:
        await seed(engine, Shape(customers=0, grants=10, entries=1, big_entries=5000))
    finally:
        await engine.dispose()
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'credits.db'}",
        scheduler_enabled=False,
        execution_timeout=0.01,
    )
    app = create_app(settings, clock=clock, publisher=RecordingPublisher())
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            started = asyncio.get_running_loop().time()
            answer = await client.get("/export/ledger")
            took = asyncio.get_running_loop().time() - started
    assert answer.status_code == 200 and took > 0.01
    rows = jsonl(answer.text)
    assert len(rows) == 5000 and rows[-1]["sequence"] == 5000


async def test_an_export_that_fails_midway_leaves_no_file(
    runtime: Runtime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def failing(*args: Any, **kwargs: Any) -> AsyncIterator[tuple[str, int]]:
        yield "half a line", 1
        raise ConnectionResetError("the database went away")

    monkeypatch.setattr("app.cli_export.export_ledger", failing)
    output = tmp_path / "ledger.jsonl"
    args = parser().parse_args(["export-ledger", "--output", str(output)])
    with pytest.raises(ConnectionResetError):
        await export_action(args)(runtime.engine)
    assert not output.exists()
    assert not (tmp_path / ".ledger.jsonl.partial").exists()


@pytest.mark.parametrize(
    "which", [ExportFilter(), ExportFilter(customer_id="cus_x", currency="USD")], ids=str
)
async def test_the_export_reads_the_ledger_in_index_order_with_no_sort_on_sqlite(
    runtime: Runtime, which: ExportFilter
) -> None:
    statement = export_statement(which).compile(
        runtime.engine.sync_engine, compile_kwargs={"literal_binds": True}
    )
    async with runtime.engine.connect() as connection:
        plan = [
            row[-1] for row in await connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}")
        ]
    assert not any("TEMP B-TREE" in step for step in plan), plan
    assert any(
        step.startswith(("SCAN ledger_entry USING INDEX", "SEARCH ledger_entry USING INDEX"))
        and "sqlite_autoindex_ledger_entry_1" in step
        for step in plan
    ), plan
    assert sum(step.startswith("SEARCH") for step in plan) >= 3  # each join a key lookup
