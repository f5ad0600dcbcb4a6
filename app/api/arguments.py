"""Text in query arguments: no control characters or unpaired surrogates.

A NUL in a filter failed on PostgreSQL and matched every customer on SQLite. Before
execution, every string in a field argument, written in the document or given as a
variable, is checked; the first that no text field could hold is BAD_USER_INPUT naming
the field and the argument. A mutation's root arguments are its input: the use case
validates those and answers a ValidationError naming the input field.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from typing import Any

from graphql import (
    DocumentNode,
    ExecutionResult,
    FieldNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    value_from_ast_untyped,
)
from strawberry.extensions import SchemaExtension

from app.api.limits import fragments_of
from app.domain.validation import text_problem

Where = tuple[str, ...]


class TextArguments(SchemaExtension):
    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        operation = None if document is None else operation_of(document, context.operation_name)
        if document is not None and operation is not None and context.result is None:
            self.refuse_unsafe_text(document, operation)
        yield

    def refuse_unsafe_text(
        self, document: DocumentNode, operation: OperationDefinitionNode
    ) -> None:
        error = unsafe_argument(document, operation, self.execution_context.variables or {})
        if error is not None and operation.operation is OperationType.SUBSCRIPTION:
            raise error  # a subscription's execution ignores a preset result
        if error is not None:
            self.execution_context.result = ExecutionResult(data=None, errors=[error])


def operation_of(document: DocumentNode, name: str | None) -> OperationDefinitionNode | None:
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode) and (
            name is None or (definition.name is not None and definition.name.value == name)
        ):
            return definition
    return None


def unsafe_argument(
    document: DocumentNode, operation: OperationDefinitionNode, variables: dict[str, Any]
) -> GraphQLError | None:
    inputs_at_root = operation.operation is OperationType.MUTATION
    for field, at_root in fields_of(operation.selection_set, fragments_of(document)):
        if at_root and inputs_at_root:
            continue
        for argument in field.arguments or ():
            value = value_from_ast_untyped(argument.value, variables)
            found = first_unsafe_text(value, (argument.name.value,))
            if found is not None:
                where, problem = found
                message = f"Argument {'.'.join(where)} of {field.name.value}: {problem}"
                extensions = {"code": "BAD_USER_INPUT", "field": list(where)}
                return GraphQLError(message, nodes=[argument], extensions=extensions)
    return None


def fields_of(
    selection_set: SelectionSetNode, fragments: dict[str, Any]
) -> Iterator[tuple[FieldNode, bool]]:
    """Every field of the operation, and whether it is a root field; each fragment once."""
    pending = [(selection_set, True)]
    seen: set[tuple[str, bool]] = set()
    while pending:
        selections, at_root = pending.pop()
        for selection in selections.selections:
            if isinstance(selection, FieldNode):
                yield selection, at_root
                if selection.selection_set is not None:
                    pending.append((selection.selection_set, False))
            elif isinstance(selection, InlineFragmentNode):
                pending.append((selection.selection_set, at_root))
            elif isinstance(selection, FragmentSpreadNode):
                fragment = fragments.get(selection.name.value)
                if fragment is not None and (selection.name.value, at_root) not in seen:
                    seen.add((selection.name.value, at_root))
                    pending.append((fragment.selection_set, at_root))


def first_unsafe_text(value: Any, where: Where) -> tuple[Where, str] | None:
    pending = deque([(where, value)])
    while pending:
        at, item = pending.popleft()
        if isinstance(item, str):
            if problem := text_problem(item):
                return at, problem
        elif isinstance(item, dict):
            pending.extend(((*at, str(key)), inner) for key, inner in item.items())
        elif isinstance(item, list):
            pending.extend(((*at, str(index)), inner) for index, inner in enumerate(item))
    return None
