"""With introspection off, errors name no field, argument, type or enum value of the schema.

graphql-core 3.3 writes "Did you mean …?" into validation errors and variable coercion
errors unless it is given `hide_suggestions`; Strawberry passes it nowhere. Validation here
is ValidationCache's with that flag, and execution uses an executor class that sets it.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache
from typing import Any

from graphql import ASTValidationRule, DocumentNode, GraphQLError, GraphQLSchema, validate
from graphql.execution.executor import Executor
from strawberry.extensions import SchemaExtension
from strawberry.schema.validation_rules.maybe_null import MaybeNullValidationRule
from strawberry.schema.validation_rules.one_of import OneOfInputValidationRule


@lru_cache(maxsize=1000)
def validate_without_suggestions(
    schema: GraphQLSchema, document: DocumentNode, rules: tuple[type[ASTValidationRule], ...]
) -> list[GraphQLError]:
    """strawberry.schema.schema.validate_document, hiding suggestions."""
    every_rule = (*rules, MaybeNullValidationRule, OneOfInputValidationRule)
    return validate(schema, document, every_rule, hide_suggestions=True)


class ValidationCacheWithoutSuggestions(SchemaExtension):
    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        assert context.graphql_document is not None
        context.pre_execution_errors = validate_without_suggestions(
            context.schema._schema, context.graphql_document, tuple(context.validation_rules)
        )
        yield


def without_suggestions(executor_class: type[Executor[Any]]) -> type[Executor[Any]]:
    class ExecutorWithoutSuggestions(executor_class):  # type: ignore[valid-type,misc]
        @classmethod
        def build(cls, *args: Any, **kwargs: Any) -> Any:
            return super().build(*args, **{**kwargs, "hide_suggestions": True})

    return ExecutorWithoutSuggestions
