"""The code of docs/webhooks.md works: its Python and JavaScript verify real deliveries
(and refuse a wrong secret), its handler is idempotent by webhook-id, and its GraphQL is
valid against the schema."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from graphql import parse, validate

from app.api.schema import get_schema
from app.domain.webhooks import EventType, new_secret
from app.services.customers import create_customer
from app.services.runtime import Runtime
from tests.services.support import consume, promo
from tests.webhooks.support import Received, Receiver, deliver_all, endpoint

ROOT = Path(__file__).resolve().parents[2]
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)
EVER = 10**10  # seconds: the test's clock is not the wall clock


def blocks(language: str) -> list[str]:
    text = (ROOT / "docs" / "webhooks.md").read_text()
    return [code for kind, code in FENCE.findall(text) if kind == language]


def headers_of(received: Received) -> dict[str, str]:
    return {
        "webhook-id": received.id,
        "webhook-timestamp": str(received.timestamp),
        "webhook-signature": " ".join(received.signatures),
    }


async def deliveries(runtime: Runtime, receiver: Receiver) -> str:
    """Two deliveries (a FUNDED grant, then a consumption); the endpoint's secret."""
    _, secret = await endpoint(
        runtime,
        receiver,
        [EventType.CREDIT_GRANT_FUNDED, EventType.CREDIT_CONSUMPTION_CREATED],
    )
    customer_id = await runtime_customer(runtime)
    await promo(runtime, customer_id, "10")
    await consume(runtime, customer_id, "1", key="doc")
    await deliver_all(runtime)
    assert len(receiver.received) == 2
    return secret


async def runtime_customer(runtime: Runtime) -> str:
    return (await create_customer(runtime, key="doc", name="Doc"))[0]


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with Receiver.running() as running:
        yield running


async def test_the_python_recipe_verifies_and_handles_once(
    runtime: Runtime, receiver: Receiver
) -> None:
    secret = await deliveries(runtime, receiver)
    namespace: dict[str, Any] = {}
    for code in blocks("python"):
        exec(code, namespace)
    verify, handle = namespace["verify"], namespace["handle"]
    for received in receiver.received:
        body = received.body.encode()
        assert verify(secret, headers_of(received), body, tolerance=EVER)
        assert not verify(new_secret(), headers_of(received), body, tolerance=EVER)
        assert not verify(secret, headers_of(received), body + b" ", tolerance=EVER)
        assert not verify(secret, headers_of(received), body)  # its timestamp is too old

    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE webhook_seen (id TEXT PRIMARY KEY)")
    db.execute("CREATE TABLE provisioned (customer_id TEXT, grant_id TEXT, amount TEXT)")
    for received in [*receiver.received, *receiver.received]:  # every event twice
        assert handle(db, headers_of(received), received.body.encode()) == 200
    [(customer_id, grant_id, amount)] = db.execute("SELECT * FROM provisioned").fetchall()
    funded = receiver.received[0].event
    assert (customer_id, grant_id, amount) == (
        funded["customerId"],
        funded["data"]["grant"]["id"],
        "10.00",
    )


@pytest.mark.skipif(shutil.which("node") is None, reason="needs node")
async def test_the_javascript_recipe_verifies(
    runtime: Runtime, receiver: Receiver, tmp_path: Path
) -> None:
    secret = await deliveries(runtime, receiver)
    [code] = blocks("javascript")
    (tmp_path / "verify.mjs").write_text(code)
    cases = [
        {"secret": s, "headers": headers_of(r), "body": r.body}
        for r in receiver.received
        for s in (secret, new_secret())
    ]
    (tmp_path / "cases.json").write_text(json.dumps(cases))
    driver = (
        'import { verify } from "./verify.mjs";\n'
        'import { readFileSync } from "node:fs";\n'
        'const cases = JSON.parse(readFileSync("cases.json", "utf8"));\n'
        f"const verified = cases.map((c) => verify(c.secret, c.headers, c.body, {EVER}));\n"
        "console.log(JSON.stringify(verified));\n"
    )
    (tmp_path / "driver.mjs").write_text(driver)
    node = shutil.which("node")
    assert node is not None
    process = await asyncio.create_subprocess_exec(
        node, "driver.mjs", cwd=tmp_path, stdout=asyncio.subprocess.PIPE
    )
    output, _ = await process.communicate()
    assert process.returncode == 0
    assert json.loads(output) == [True, False, True, False]


def test_the_graphql_of_the_page_and_the_readme_is_valid() -> None:
    schema = get_schema()._schema
    readme = (ROOT / "README.md").read_text().split("## Webhooks", 1)[1].split("\n## ", 1)[0]
    documents = [*blocks("graphql"), *(c for k, c in FENCE.findall(readme) if k == "graphql")]
    assert len(documents) == 3
    for document in documents:
        assert validate(schema, parse(document)) == []
