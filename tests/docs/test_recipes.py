"""Every GraphQL block of docs/recipes.md and the README's first session, run in order
against a real server (OPEN mode, SQLite): none may answer an error it does not expect.

Conventions (stated at the top of docs/recipes.md): a block's variables come from earlier
answers (an object with an `id` under field F fills `$FId`; a `token` fills `$token`) or
from a JSON block right after it, where a string ending in "…" stands for such a value.
`# as: portal token` sends the block with the token; `# expect: CODE` wants that error.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from graphql import OperationDefinitionNode, OperationType, parse, print_ast

from app.domain.time import FrozenClock
from tests.access.support import Live, next_data, serve, websocket

ROOT = Path(__file__).resolve().parents[2]
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)


@dataclass
class Step:
    name: str
    kind: OperationType
    document: str
    given: dict[str, Any]
    as_portal: bool
    expect: str | None


@dataclass
class Session:
    live: Live
    known: dict[str, Any] = field(default_factory=dict)
    answers: dict[str, Any] = field(default_factory=dict)


def steps_of(markdown: str) -> list[Step]:
    blocks = FENCE.findall(markdown)
    steps = []
    for index, (language, text) in enumerate(blocks):
        if language != "graphql":
            continue
        after = blocks[index + 1] if index + 1 < len(blocks) else ("", "")
        given = json.loads(after[1]) if after[0] == "json" else {}
        expect = re.search(r"^# expect: (\w+)", text, re.M)
        for operation in parse(text).definitions:
            assert isinstance(operation, OperationDefinitionNode) and operation.name
            steps.append(
                Step(
                    name=operation.name.value,
                    kind=operation.operation,
                    document=print_ast(operation),
                    given=given,
                    as_portal=text.startswith("# as: portal token"),
                    expect=expect.group(1) if expect else None,
                )
            )
    return steps


def variables_for(step: Step, known: dict[str, Any]) -> dict[str, Any]:
    operation = parse(step.document).definitions[0]
    assert isinstance(operation, OperationDefinitionNode)
    values = {}
    for definition in operation.variable_definitions or ():
        name = definition.variable.name.value
        value = step.given.get(name, known.get(name))
        if isinstance(value, str) and value.endswith("…"):
            value = known.get(name)
        assert value is not None, f"{step.name}: nothing earlier answers ${name}"
        values[name] = value
    return values


def learn(value: Any, field_name: str, known: dict[str, Any]) -> None:
    if isinstance(value, list):
        for item in value:
            learn(item, field_name, known)
    elif isinstance(value, dict):
        if "id" in value:
            known[f"{field_name}Id"] = value["id"]
        if isinstance(value.get("token"), str):
            known["token"] = value["token"]
        for name, inner in value.items():
            learn(inner, name, known)


def error_codes(value: Any) -> list[str]:
    """The codes of the Error members (objects with a code and a message) in an answer."""
    if isinstance(value, list):
        return [code for item in value for code in error_codes(item)]
    if not isinstance(value, dict):
        return []
    own = [value["code"]] if "code" in value and "message" in value else []
    return own + [code for inner in value.values() for code in error_codes(inner)]


async def run(session: Session, step: Step) -> Any:
    variables = variables_for(step, session.known)
    authorization = f"Bearer {session.known['token']}" if step.as_portal else None
    if step.kind is OperationType.SUBSCRIPTION:
        async with websocket(session.live) as socket:
            await socket.init(authorization)
            await socket.subscribe("1", step.document, **variables)
            return next_data(await socket.receive("1"), "1")  # the first event
    headers = {} if authorization is None else {"Authorization": authorization}
    async with session.live.client() as client:
        answer = await client.post(
            "/graphql", json={"query": step.document, "variables": variables}, headers=headers
        )
    body = answer.json()
    assert answer.status_code == 200 and "errors" not in body, (step.name, body)
    return body["data"]


async def run_all(session: Session, steps: list[Step]) -> None:
    for step in steps:
        data = await run(session, step)
        codes = error_codes(data)
        assert codes == ([step.expect] if step.expect else []), (step.name, data)
        learn(data, "", session.known)
        session.answers[step.name] = data


async def test_every_recipe_runs_against_the_real_schema(
    tmp_path: Path, clock: FrozenClock
) -> None:
    recipes = (ROOT / "docs" / "recipes.md").read_text(encoding="utf-8")
    steps = steps_of(recipes)
    assert len(steps) == recipes.count("```graphql") == 13  # one operation a block

    async with serve(tmp_path, clock) as live:
        session = Session(live)
        await run_all(session, steps)

    answers = session.answers
    sold = answers["SellCredits"]["purchaseCredits"]
    assert sold["grant"]["status"] == "PENDING"
    assert sold["grant"]["purchase"]["amount"] == "450.00"
    assert sold["balance"] == {"available": "0.00", "pending": "500.00"}
    settled = answers["Settle"]["settleCreditPurchase"]
    assert settled["grant"]["status"] == "ACTIVE"
    assert settled["balance"] == {"available": "500.00", "pending": "0.00"}
    refund = answers["RefundUsage"]["reverseCreditConsumption"]
    assert refund["consumption"] == {"consumed": "120.50", "reversed": "20.50"}
    assert answers["WithdrawWelcome"]["voidCreditGrant"]["grant"]["status"] == "VOIDED"
    assert answers["MyCredits"]["viewer"]["kind"] == "PORTAL_TOKEN"
    assert answers["LedgerFeed"]["creditLedgerEntryBooked"]["sequence"] == 3


async def test_the_readme_first_session_runs_and_ends_as_the_readme_says(
    tmp_path: Path, clock: FrozenClock
) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    steps = steps_of(readme.split("## A first session", 1)[1].split("\n## ", 1)[0])
    assert [step.name for step in steps] == [
        "CreateCustomer",
        "PurchaseCredits",
        "GrantPromotionalCredits",
        "ConsumeCredits",
        "Customer",
    ]

    async with serve(tmp_path, clock) as live:
        session = Session(live)
        await run_all(session, steps)

    customer = session.answers["Customer"]["customer"]
    assert customer["creditBalance"]["available"] == "85.00"
    assert customer["creditBalance"]["availablePaid"] == "85.00"
    assert len(customer["creditLedger"]["edges"]) == 4
