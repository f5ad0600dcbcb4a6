"""GraphiQL's docs say what every root field does: each has a description, and so does
every success type of app/api/mutation_results.py."""

from __future__ import annotations

import pytest
from graphql import GraphQLObjectType, GraphQLUnionType

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
