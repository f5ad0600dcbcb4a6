"""Every query document the API and access tests send, read from their source, and the
variables to replay them with (several sets: IDs of each kind, wrong values, none)."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

from graphql import (
    DocumentNode,
    GraphQLError,
    OperationDefinitionNode,
    OperationType,
    parse,
    print_ast,
)

from tests.access.support import World

TESTS = Path(__file__).parent.parent
SOURCES = ("api", "access")


@cache
def query_documents() -> tuple[str, ...]:
    """Each string literal of the tests that parses as a document with a query in it."""
    found: dict[str, None] = {}
    for folder in SOURCES:
        for path in sorted((TESTS / folder).glob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                text = node.value if isinstance(node, ast.Constant) else None
                if isinstance(text, str) and has_query(text):
                    found.setdefault(text)
    return tuple(found)


def has_query(text: str) -> bool:
    if "{" not in text:
        return False
    try:
        document = parse(text)
    except GraphQLError:
        return False
    return any(o.operation is OperationType.QUERY for o in operations(document))


def operations(document: DocumentNode) -> list[OperationDefinitionNode]:
    return [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]


def requests(text: str, world: World) -> Iterator[tuple[str | None, dict[str, Any]]]:
    """(operationName, variables) to send the document with."""
    document = parse(text)
    for operation in operations(document):
        name = operation.name.value if operation.name and len(operations(document)) > 1 else None
        definitions = operation.variable_definitions or ()
        if not definitions:
            yield name, {}
            continue
        for profile in PROFILES:
            yield name, {d.variable.name.value: value_for(d, profile, world) for d in definitions}
        yield name, {}  # every required variable missing


PROFILES = ("customer", "grant", "entry", "consumption", "wrong")


def value_for(definition: Any, profile: str, world: World) -> Any:
    printed = print_ast(definition.type)
    kind, listed = printed.strip("[]!"), printed.startswith("[")
    wrong = profile == "wrong"
    ids = {
        "customer": world.a.customer,
        "grant": world.a.grant,
        "entry": world.a.consumed,
        "consumption": world.a.consumption,
        "wrong": "nope",
    }
    if kind == "ID":
        if listed:
            return [world.a.customer, world.b.grant, world.a.funded, world.b.consumption, "x"]
        return ids[profile]
    if kind == "Int":
        return -1 if wrong else 2
    if kind == "DateTime":
        return "2999-01-01T00:00:00Z" if wrong else "2026-01-15T12:30:00Z"
    if kind == "Duration":
        return "P1Q" if wrong else "P30D"
    if kind == "String":
        name = definition.variable.name.value
        if name == "after":
            return "bad cursor" if wrong else None
        return "alpha" if name in ("key", "c") and not wrong else "USD"
    if kind.endswith("Order"):
        return {"field": "PRIORITY", "direction": "DESC"}
    return None if wrong else {}  # filters: an empty one
