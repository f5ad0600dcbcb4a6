"""GraphiQL's docs say what the schema is: every type, every root field, every field of
every object, interface and input, every argument and every enum value has a description."""

from __future__ import annotations

import pytest
from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLUnionType,
)

from app.api import mutation_results
from app.api.schema import get_schema


@pytest.mark.parametrize("root", ["Query", "Mutation", "Subscription"])
def test_every_root_field_has_a_description(root: str) -> None:
    found = get_schema()._schema.type_map[root]
    assert isinstance(found, GraphQLObjectType)

    assert [name for name, field in found.fields.items() if not field.description] == []


def test_every_success_type_of_mutation_results_has_a_description() -> None:
    schema = get_schema()._schema
    mutation = schema.type_map["Mutation"]
    assert isinstance(mutation, GraphQLObjectType)
    ours = {name for name in dir(mutation_results) if name.endswith("Success")}
    checked, undescribed = set(), []
    for field in mutation.fields.values():
        result = field.type.of_type  # Result! -> the union
        assert isinstance(result, GraphQLUnionType)
        success = result.types[0]
        if success.name in ours:
            checked.add(success.name)
            if not success.description:
                undescribed.append(success.name)

    assert checked == ours
    assert undescribed == []


def test_every_type_of_the_schema_has_a_description() -> None:
    schema = get_schema()._schema
    undescribed = [
        name
        for name, found in schema.type_map.items()
        if not name.startswith("__") and not found.description
    ]

    assert undescribed == []


def test_every_field_of_every_object_interface_and_input_has_a_description() -> None:
    schema = get_schema()._schema
    undescribed: dict[str, list[str]] = {}
    for name, found in schema.type_map.items():
        if name.startswith("__"):
            continue
        if isinstance(found, GraphQLObjectType | GraphQLInterfaceType | GraphQLInputObjectType):
            missing = [field for field, value in found.fields.items() if not value.description]
            if missing:
                undescribed[name] = missing

    assert undescribed == {}


def test_every_argument_of_every_field_has_a_description() -> None:
    schema = get_schema()._schema
    undescribed: list[str] = []
    for name, found in schema.type_map.items():
        if name.startswith("__") or not isinstance(found, GraphQLObjectType | GraphQLInterfaceType):
            continue
        for field_name, field in found.fields.items():
            undescribed += [
                f"{name}.{field_name}({argument})"
                for argument, value in field.args.items()
                if not value.description
            ]

    assert undescribed == []


def test_every_value_of_every_enum_has_a_description() -> None:
    schema = get_schema()._schema
    undescribed = [
        f"{name}.{value}"
        for name, found in schema.type_map.items()
        if not name.startswith("__") and isinstance(found, GraphQLEnumType)
        for value, definition in found.values.items()
        if not definition.description
    ]

    assert undescribed == []
