"""Answer a planned query: by the native lane when it covers the plan (`native`), else
one level at a time over every object of the level at once (the resolvers' lane).

Leaves are read and serialized in loops. A field with a resolver is resolved for every
object of its level before anything is awaited, so the request's loaders see the whole
level in one wave (one statement, as in normal execution); the objects it returns form
the next level. Any failure (an error, a null where the schema says non-null) raises
`Fallback`: normal execution then answers, with its errors and partial data.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from typing import Any, TypeGuard

from graphql import (
    ExecutionResult,
    GraphQLField,
    GraphQLResolveInfo,
    GraphQLSchema,
    get_argument_values,
    get_variable_values,
)
from graphql.pyutils import Path
from strawberry.schema.schema_converter import get_arguments
from strawberry.types import ExecutionContext
from strawberry.types.graphql import OperationType

from app.api.compiled.native import NativePlan, Run, native_of
from app.api.compiled.plan import (
    DEFINITION,
    Fallback,
    FieldPlan,
    ObjectPlan,
    OperationPlan,
    plan_of,
)

MAX_PLANS = 1000
Plans = tuple[OperationPlan, NativePlan | None] | None
_plans: dict[tuple[GraphQLSchema, str, str | None], Plans] = {}


def cached_plan(context: ExecutionContext) -> Plans:
    """The plan of this document and operation and its native form, made once per
    process (and schema)."""
    schema = context.schema._schema
    document = context.graphql_document
    if document is None or context.query is None:
        return None
    if context.operation_type is not OperationType.QUERY:
        return None  # mutations and subscriptions: never planned, never cached
    key = (schema, context.query, context.operation_name)
    if key not in _plans:
        if len(_plans) >= MAX_PLANS:
            _plans.clear()
        plan = plan_of(schema, document, context.operation_name)
        _plans[key] = None if plan is None else (plan, native_of(plan))
    return _plans[key]


async def answer(context: ExecutionContext) -> ExecutionResult | None:
    """The operation's result, or None when normal execution must answer it."""
    plans = cached_plan(context)
    if plans is None:
        return None
    plan, native = plans
    schema = context.schema._schema
    variables = get_variable_values(
        schema, plan.operation.variable_definitions or (), context.variables or {}
    )
    if isinstance(variables, list):
        return None  # variable errors: graphql-core words them
    converter = context.schema.schema_converter
    if native is not None:
        try:
            data = await Run(native, variables, context.context, converter).answer(
                context.root_value
            )
            return ExecutionResult(data=data, errors=None)
        except Exception:  # the resolvers' lane answers, or falls back in turn
            pass
    runner = Runner(schema, plan, variables, context.context, context.root_value, converter)
    try:
        [data] = await runner.objects(plan.root, [context.root_value])
    except Exception:  # an error, or a null where none may be: normal execution words it
        return None
    return ExecutionResult(data=data, errors=None)


class Runner:
    def __init__(
        self,
        schema: GraphQLSchema,
        plan: OperationPlan,
        variables: Any,
        context: Any,
        root_value: Any,
        converter: Any,
    ) -> None:
        self.schema = schema
        self.plan = plan
        self.variables = variables
        self.context = context
        self.root_value = root_value
        self.converter = converter

    async def objects(self, plan: ObjectPlan, objects: list[Any]) -> list[dict[str, Any]]:
        # Every key set now, in the selection's order; __typename is known already.
        template = {f.key: plan.type.name if f.definition is None else None for f in plan.fields}
        results = [template.copy() for _ in objects]
        composite: list[tuple[FieldPlan, list[Any]]] = []
        waiting: list[tuple[list[Any], int, Awaitable[Any]]] = []
        resolved: list[tuple[FieldPlan, list[Any]]] = []
        try:
            for field in plan.fields:
                if field.definition is None:
                    continue
                values = self.values(field, plan, objects, waiting)
                if field.attribute is None:
                    resolved.append((field, values))
                elif field.leaf is not None:
                    _fill_leaves(results, field, values)
                if field.selection is not None:
                    composite.append((field, values))
        except BaseException:
            _discard(waiting)
            raise
        await _settle(waiting)
        for field, values in resolved:
            if field.leaf is not None:
                _fill_leaves(results, field, values)
        await _gather([self.complete(field, results, values) for field, values in composite])
        return results

    def values(
        self,
        field: FieldPlan,
        plan: ObjectPlan,
        objects: list[Any],
        waiting: list[tuple[list[Any], int, Awaitable[Any]]],
    ) -> list[Any]:
        """Each object's value of the field; awaitables are noted in `waiting`."""
        if field.attribute is not None:
            attribute = field.attribute
            return [getattr(o, attribute) for o in objects]
        definition = field.definition
        assert definition is not None and definition.resolve is not None
        arguments = get_argument_values(definition, field.node, self.variables)
        raw_info = self.info(plan, field, definition)
        call = direct_call(definition, raw_info, arguments, self.converter)
        if call is not None:
            values = [call(o) for o in objects]
        else:
            resolve = definition.resolve
            values = [resolve(o, raw_info, **arguments) for o in objects]
        for index, value in enumerate(values):
            if inspect.isawaitable(value):
                waiting.append((values, index, value))
        return values

    def info(
        self, plan: ObjectPlan, field: FieldPlan, definition: GraphQLField
    ) -> GraphQLResolveInfo[Any]:
        return GraphQLResolveInfo(
            field.node.name.value,
            [field.node],
            definition.type,
            plan.type,
            Path(None, field.key, plan.type.name),
            self.schema,
            self.plan.fragments,
            self.root_value,
            self.plan.operation,
            self.variables,
            self.context,
            _is_awaitable,
            None,
            None,  # type: ignore[arg-type]
        )

    async def complete(
        self, field: FieldPlan, results: list[dict[str, Any]], values: list[Any]
    ) -> None:
        """The field's objects, as one level for the whole batch, placed back per result."""
        assert field.selection is not None and field.shape is not None and field.fill
        found: list[Any] = []
        shapes = [field.shape(value, found) for value in values]
        done = await self.objects(field.selection, found) if found else []
        key, fill = field.key, field.fill
        for result, shape in zip(results, shapes, strict=True):
            result[key] = fill(shape, done)


def direct_call(
    definition: GraphQLField,
    raw_info: GraphQLResolveInfo[Any],
    arguments: dict[str, Any],
    converter: Any,
) -> Callable[[Any], Any] | None:
    """The field's own resolver function, its arguments converted once for the level
    (what Strawberry's wrapper does per object); None when it takes more than self and
    info and its arguments (then Strawberry's wrapper is called per object)."""
    field = definition.extensions[DEFINITION]
    resolver = field.base_resolver
    if resolver is None or resolver.parent_parameter or resolver.root_parameter:
        return None
    info = converter.config.info_class(_raw_info=raw_info, _field=field)
    _, kwargs = get_arguments(
        field=field,
        source=None,
        info=info,
        kwargs=arguments,
        config=converter.config,
        scalar_registry=converter.scalar_registry,
    )
    function = resolver.wrapped_func
    if resolver.self_parameter:
        return lambda source: function(source, **kwargs)
    return lambda source: function(**kwargs)


def _is_awaitable(value: Any) -> TypeGuard[Awaitable[Any]]:
    return inspect.isawaitable(value)


def _fill_leaves(results: list[dict[str, Any]], field: FieldPlan, values: list[Any]) -> None:
    serialize = field.leaf
    assert serialize is not None
    key = field.key
    for result, value in zip(results, values, strict=True):
        result[key] = serialize(value)


async def _settle(waiting: list[tuple[list[Any], int, Awaitable[Any]]]) -> None:
    outcomes = await asyncio.gather(*(w for _, _, w in waiting), return_exceptions=True)
    for (values, index, _), outcome in zip(waiting, outcomes, strict=True):
        if isinstance(outcome, BaseException):
            raise Fallback from outcome
        values[index] = outcome


async def _gather(work: list[Awaitable[None]]) -> None:
    outcomes = await asyncio.gather(*work, return_exceptions=True)
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome


def _discard(waiting: list[tuple[list[Any], int, Awaitable[Any]]]) -> None:
    """Close coroutines that will never be awaited (a resolver of a later field raised)."""
    for _, _, awaitable in waiting:
        if inspect.iscoroutine(awaitable):
            awaitable.close()
