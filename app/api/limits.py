"""Limits on what one operation may ask: depth, aliases, tokens, estimated cost.

What each limit is and its default: docs/concepts.md, "Errors and limits".

Every refusal is a GraphQL error whose extensions.code is LIMIT_EXCEEDED and whose message
names the limit and its value. Depth and alias rules are built once per process so the
validation cache keeps working.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    ExecutionResult,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLObjectType,
    InlineFragmentNode,
    Lexer,
    OperationDefinitionNode,
    SelectionSetNode,
    Source,
    TokenKind,
    ValidationContext,
    ValidationRule,
    get_named_type,
    is_composite_type,
    value_from_ast_untyped,
)
from strawberry.extensions import SchemaExtension

LIMIT_EXCEEDED = "LIMIT_EXCEEDED"


@dataclass(frozen=True)
class Limits:
    max_depth: int = 15
    max_aliases: int = 30
    max_tokens: int = 5000
    max_cost: int = 50_000
    default_page_size: int = 50
    introspection: bool = True


FREE_FIELDS = {"edges", "node", "pageInfo"}


def fragments_of(document: DocumentNode) -> dict[str, FragmentDefinitionNode]:
    return {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}


def limit_error(message: str) -> GraphQLError:
    return GraphQLError(message, extensions={"code": LIMIT_EXCEEDED})


def _depth(
    selection_set: SelectionSetNode | None, fragments: dict[str, Any], seen: frozenset[str]
) -> int:
    deepest = 0
    for selection in selection_set.selections if selection_set else ():
        if isinstance(selection, FieldNode):
            below = _depth(selection.selection_set, fragments, seen)
            deepest = max(deepest, 1 + below if selection.selection_set else 1)
        elif isinstance(selection, InlineFragmentNode):
            deepest = max(deepest, _depth(selection.selection_set, fragments, seen))
        elif isinstance(selection, FragmentSpreadNode) and selection.name.value not in seen:
            fragment = fragments.get(selection.name.value)
            if fragment is not None:
                inner = seen | {selection.name.value}
                deepest = max(deepest, _depth(fragment.selection_set, fragments, inner))
    return deepest


def depth_rule(maximum: int) -> type[ValidationRule]:
    class DepthLimit(ValidationRule):
        def enter_operation_definition(self, node: OperationDefinitionNode, *_: Any) -> None:
            context: ValidationContext = self.context
            fragments = fragments_of(context.document)
            depth = _depth(node.selection_set, fragments, frozenset())
            if depth > maximum:
                self.report_error(
                    limit_error(f"Query depth {depth} exceeds the depth limit of {maximum}")
                )

    return DepthLimit


def alias_rule(maximum: int) -> type[ValidationRule]:
    class AliasLimit(ValidationRule):
        def enter_document(self, node: Any, *_: Any) -> None:
            self.aliases = 0

        def enter_field(self, node: FieldNode, *_: Any) -> None:
            if node.alias is not None:
                self.aliases += 1

        def leave_document(self, node: Any, *_: Any) -> None:
            if self.aliases > maximum:
                message = f"Query has {self.aliases} aliases, over the alias limit of {maximum}"
                self.report_error(limit_error(message))

    return AliasLimit


def count_tokens(text: str, stop_after: int) -> int:
    lexer = Lexer(Source(text))
    count = 0
    try:
        while lexer.advance().kind is not TokenKind.EOF and count <= stop_after:
            count += 1
    except GraphQLError:
        pass  # the parser reports the syntax error itself
    return count


class OperationLimits(SchemaExtension):
    """Token count before parsing; estimated cost after validation, before execution."""

    def __init__(self, *, max_tokens: int, max_cost: int, default_page_size: int) -> None:
        self.max_tokens = max_tokens
        self.max_cost = max_cost
        self.default_page_size = default_page_size

    def on_parse(self) -> Iterator[None]:
        query = self.execution_context.query or ""
        if count_tokens(query, self.max_tokens) > self.max_tokens:
            raise limit_error(f"Query has more than {self.max_tokens} tokens, the token limit")
        yield

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        if document is not None:
            cost = estimated_cost(
                context.schema._schema, document, context.variables or {}, self.default_page_size
            )
            if cost > self.max_cost:
                message = f"Query cost {cost} exceeds the cost limit of {self.max_cost}"
                context.result = ExecutionResult(data=None, errors=[limit_error(message)])
        yield


def estimated_cost(schema: Any, document: Any, variables: dict[str, Any], default_page: int) -> int:
    """The number of objects a query can return: each connection its page size for
    each object around it, any other object field one for each; scalars nothing."""
    fragments = fragments_of(document)
    total = 0
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode):
            root = schema.get_root_type(definition.operation)
            walker = _CostWalker(schema, fragments, variables, default_page)
            total += walker.walk(definition.selection_set, root, 1, frozenset())
    return total


class _CostWalker:
    def __init__(
        self, schema: Any, fragments: dict[str, Any], variables: dict[str, Any], page: int
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.variables = variables
        self.page = page

    def walk(
        self, selections: SelectionSetNode | None, parent: Any, around: int, seen: frozenset[str]
    ) -> int:
        cost = 0
        for selection in selections.selections if selections else ():
            if isinstance(selection, FieldNode):
                cost += self.field(selection, parent, around, seen)
            elif isinstance(selection, InlineFragmentNode):
                kind = parent
                if selection.type_condition is not None:
                    kind = self.schema.get_type(selection.type_condition.name.value)
                cost += self.walk(selection.selection_set, kind, around, seen)
            elif isinstance(selection, FragmentSpreadNode) and selection.name.value not in seen:
                fragment = self.fragments.get(selection.name.value)
                if fragment is not None:
                    kind = self.schema.get_type(fragment.type_condition.name.value)
                    inner = seen | {selection.name.value}
                    cost += self.walk(fragment.selection_set, kind, around, inner)
        return cost

    def field(self, node: FieldNode, parent: Any, around: int, seen: frozenset[str]) -> int:
        fields = getattr(parent, "fields", None) or {}
        definition = fields.get(node.name.value)
        if definition is None:
            return 0
        named = get_named_type(definition.type)
        if not is_composite_type(named):
            return 0
        if named.name.endswith("Connection"):
            nodes = around * self.page_size(node)
            return nodes + self.walk(node.selection_set, named, nodes, seen)
        if node.name.value in FREE_FIELDS and _in_connection(parent):
            return self.walk(node.selection_set, named, around, seen)
        objects = around * self.ids_count(node)
        return objects + self.walk(node.selection_set, named, objects, seen)

    def ids_count(self, node: FieldNode) -> int:
        """`nodes(ids:)` returns one object per id; any other field one."""
        for argument in node.arguments or ():
            if argument.name.value == "ids":
                value = value_from_ast_untyped(argument.value, self.variables)
                return len(value) if isinstance(value, list) else 1
        return 1

    def page_size(self, node: FieldNode) -> int:
        for argument in node.arguments or ():
            if argument.name.value in ("first", "last"):
                value = value_from_ast_untyped(argument.value, self.variables)
                if isinstance(value, int) and value >= 0:
                    return value
        return self.page


def _in_connection(parent: Any) -> bool:
    name = getattr(parent, "name", "")
    return isinstance(parent, GraphQLObjectType) and (
        name.endswith("Connection") or name.endswith("Edge")
    )
