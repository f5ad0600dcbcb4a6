"""A query document as a tree of fields the runner can answer exactly like graphql-core.

A plan exists only for a query whose selections are fields of object types: fragments
that always apply are inlined, and there are no directives, abstract types,
introspection fields (`__typename` aside) or response keys given twice (which would
need graphql-core's field merging). Anything else has no plan.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLEnumType,
    GraphQLField,
    GraphQLID,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLScalarType,
    GraphQLSchema,
    GraphQLString,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    Undefined,
    get_named_type,
    is_leaf_type,
    is_list_type,
    is_non_null_type,
    is_object_type,
)

from app.api.limits import fragments_of

DEFINITION = "strawberry-definition"  # where Strawberry keeps its field on graphql-core's

Serializer = Callable[[Any], Any]
Shaper = Callable[[Any, list[Any]], Any]
Filler = Callable[[Any, list[Any]], Any]


class Fallback(Exception):
    """The compiled path cannot answer this exactly: normal execution answers instead."""


class NotCovered(Exception):
    pass


@dataclass(frozen=True)
class FieldPlan:
    key: str  # the response key: the alias, else the field's name
    node: FieldNode
    definition: GraphQLField | None  # None for __typename
    attribute: str | None  # a plain field's Python attribute; None when it has a resolver
    leaf: Serializer | None  # how a leaf value (or list of them) becomes JSON
    selection: ObjectPlan | None  # the object type's plan, for fields of object types
    shape: Shaper | None = None  # a value -> its objects noted and replaced by their index
    fill: Filler | None = None  # an index shape -> the objects' answers in their places


@dataclass(frozen=True)
class ObjectPlan:
    type: GraphQLObjectType
    fields: tuple[FieldPlan, ...]


@dataclass(frozen=True)
class OperationPlan:
    operation: OperationDefinitionNode
    fragments: dict[str, FragmentDefinitionNode]
    root: ObjectPlan


def plan_of(
    schema: GraphQLSchema, document: DocumentNode, operation_name: str | None
) -> OperationPlan | None:
    operation = _operation(document, operation_name)
    query = schema.query_type
    if operation is None or operation.operation is not OperationType.QUERY or query is None:
        return None
    if operation.directives:
        return None
    fragments = fragments_of(document)
    try:
        root = _object_plan(query, operation.selection_set, fragments)
    except NotCovered:
        return None
    return OperationPlan(operation, fragments, root)


def _operation(document: DocumentNode, name: str | None) -> OperationDefinitionNode | None:
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if name is None:
        return operations[0] if len(operations) == 1 else None
    named = [o for o in operations if o.name is not None and o.name.value == name]
    return named[0] if len(named) == 1 else None


def _object_plan(
    kind: GraphQLObjectType, selections: SelectionSetNode | None, fragments: dict[str, Any]
) -> ObjectPlan:
    if selections is None:
        raise NotCovered
    planned: list[FieldPlan] = []
    keys: set[str] = set()
    for node in _fields(kind, selections, fragments):
        key = node.alias.value if node.alias else node.name.value
        if key in keys:
            raise NotCovered
        keys.add(key)
        planned.append(_field_plan(kind, node, key, fragments))
    return ObjectPlan(kind, tuple(planned))


def _fields(
    kind: GraphQLObjectType, selections: SelectionSetNode, fragments: dict[str, Any]
) -> Iterator[FieldNode]:
    for selection in selections.selections:
        if selection.directives:
            raise NotCovered
        if isinstance(selection, FieldNode):
            yield selection
        elif isinstance(selection, InlineFragmentNode):
            condition = selection.type_condition
            _check_applies(kind, None if condition is None else condition.name.value)
            yield from _fields(kind, selection.selection_set, fragments)
        elif isinstance(selection, FragmentSpreadNode):
            fragment = fragments.get(selection.name.value)
            if fragment is None or fragment.directives or fragment.variable_definitions:
                raise NotCovered
            _check_applies(kind, fragment.type_condition.name.value)
            yield from _fields(kind, fragment.selection_set, fragments)


def _check_applies(kind: GraphQLObjectType, condition: str | None) -> None:
    """A fragment on the type itself or an interface it implements always applies."""
    if condition is None or condition == kind.name:
        return
    if condition not in {interface.name for interface in kind.interfaces}:
        raise NotCovered


def _field_plan(
    kind: GraphQLObjectType, node: FieldNode, key: str, fragments: dict[str, Any]
) -> FieldPlan:
    name = node.name.value
    if name == "__typename":
        return FieldPlan(key, node, None, None, None, None)
    definition = kind.fields.get(name)
    if definition is None or name.startswith("__"):
        raise NotCovered
    field = definition.extensions.get(DEFINITION)
    if field is None or field.extensions:  # permissions and other field extensions
        raise NotCovered
    plain = getattr(definition.resolve, "_is_default", False)
    attribute = field.python_name if plain else None
    named = get_named_type(definition.type)
    if is_leaf_type(named):
        return FieldPlan(key, node, definition, attribute, serializer(definition.type), None)
    if not is_object_type(named):
        raise NotCovered  # interfaces and unions need graphql-core's type resolution
    selection = _object_plan(named, node.selection_set, fragments)
    shape, fill = shaper(definition.type), filler(definition.type)
    return FieldPlan(key, node, definition, attribute, None, selection, shape, fill)


def serializer(kind: GraphQLOutputType) -> Serializer:
    """What graphql-core's leaf completion does: null checks, lists, then serialize."""
    if is_non_null_type(kind):
        inner = serializer(kind.of_type)

        def required(value: Any) -> Any:
            if value is None:
                raise Fallback
            return inner(value)

        return required
    if is_list_type(kind):
        item = serializer(kind.of_type)
        return lambda value: None if value is None else [item(v) for v in value]
    assert isinstance(kind, GraphQLScalarType | GraphQLEnumType)
    serialize = kind.serialize
    text = kind in (GraphQLString, GraphQLID)  # their serialize returns a str as it is

    def scalar(value: Any) -> Any:
        if value is None:
            return None
        if text and value.__class__ is str:
            return value
        result = serialize(value)
        if result is None or result is Undefined:
            raise Fallback
        return result

    return scalar


def shaper(kind: GraphQLOutputType) -> Shaper:
    """Note a field's objects in the level's list (a null where the schema says non-null
    falls back: graphql-core would null a parent and report an error)."""
    if is_non_null_type(kind):
        inner = shaper(kind.of_type)

        def required(value: Any, found: list[Any]) -> Any:
            if value is None:
                raise Fallback
            return inner(value, found)

        return required
    if is_list_type(kind):
        item = shaper(kind.of_type)
        return lambda value, found: None if value is None else [item(v, found) for v in value]

    def one(value: Any, found: list[Any]) -> int | None:
        if value is None:
            return None
        found.append(value)
        return len(found) - 1

    return one


def filler(kind: GraphQLOutputType) -> Filler:
    if is_non_null_type(kind):
        return filler(kind.of_type)
    if is_list_type(kind):
        item = filler(kind.of_type)
        return lambda shape, done: None if shape is None else [item(s, done) for s in shape]
    return lambda shape, done: None if shape is None else done[shape]
