"""node/nodes, the typed root lookups, customer(id:|key:) and the customers filter (DESIGN §11)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.conftest import Api
from tests.api.test_queries_helpers import consume, create_customer, error_codes, paid

UNKNOWN = "01ARZ3NDEKTSV4RRFFQ69G5FAV"  # a valid ULID no object has

NODE = """
  __typename id
  ... on Customer { key name }
  ... on CreditGrant { name amount customer { id } }
  ... on CreditConsumption { key consumed customer { id } }
  ... on CreditLedgerEntry { type amount sequence grant { id } consumption { id } }
"""


async def one_of_each(api: Api) -> dict[str, Any]:
    customer_id = await create_customer(api, "acme", "Acme Corp")
    grant = await paid(api, customer_id, "10")
    consumption = await consume(api, customer_id, "charge-1", "4")
    return {
        "customer": customer_id,
        "grant": grant["id"],
        "consumption": consumption["id"],
        "entry": consumption["entries"][0]["id"],
    }


async def node(api: Api, id: str) -> Any:
    return (await api(f"query($id: ID!) {{ node(id: $id) {{ {NODE} }} }}", id=id))["node"]


async def test_node_finds_a_customer_with_its_fields(api: Api) -> None:
    ids = await one_of_each(api)

    found = await node(api, ids["customer"])

    assert found == {
        "__typename": "Customer",
        "id": ids["customer"],
        "key": "acme",
        "name": "Acme Corp",
    }


async def test_node_finds_a_credit_grant_with_its_fields(api: Api) -> None:
    ids = await one_of_each(api)

    found = await node(api, ids["grant"])

    assert found == {
        "__typename": "CreditGrant",
        "id": ids["grant"],
        "name": "Pack of 10",
        "amount": "10.00",
        "customer": {"id": ids["customer"]},
    }


async def test_node_finds_a_credit_consumption_with_its_fields(api: Api) -> None:
    ids = await one_of_each(api)

    found = await node(api, ids["consumption"])

    assert found == {
        "__typename": "CreditConsumption",
        "id": ids["consumption"],
        "key": "charge-1",
        "consumed": "4.00",
        "customer": {"id": ids["customer"]},
    }


async def test_node_finds_a_ledger_entry_with_its_fields(api: Api) -> None:
    ids = await one_of_each(api)

    found = await node(api, ids["entry"])

    assert found == {
        "__typename": "CreditLedgerEntry",
        "id": ids["entry"],
        "type": "CONSUMED",
        "amount": "-4.00",
        "sequence": 2,
        "grant": {"id": ids["grant"]},
        "consumption": {"id": ids["consumption"]},
    }


async def test_nodes_answers_in_the_order_asked_with_null_for_unknown_ids(api: Api) -> None:
    ids = await one_of_each(api)
    asked = [ids["entry"], f"cus_{UNKNOWN}", ids["customer"], ids["consumption"], ids["grant"]]

    data = await api(f"query($ids: [ID!]!) {{ nodes(ids: $ids) {{ {NODE} }} }}", ids=asked)

    answered = [None if n is None else (n["__typename"], n["id"]) for n in data["nodes"]]
    assert answered == [
        ("CreditLedgerEntry", ids["entry"]),
        None,
        ("Customer", ids["customer"]),
        ("CreditConsumption", ids["consumption"]),
        ("CreditGrant", ids["grant"]),
    ]


async def test_nodes_of_an_empty_list_is_an_empty_list(api: Api) -> None:
    assert await api("{ nodes(ids: []) { id } }") == {"nodes": []}


MALFORMED_IDS = [
    "nope",
    "",
    "cus_",
    "cus_123",
    f"cus_{UNKNOWN}x",
    f"CUS_{UNKNOWN}",
    f"cus_{UNKNOWN[:-1]}I",
    f" cus_{UNKNOWN}",
    f"cus_{UNKNOWN}\n",
]


async def test_node_with_a_malformed_id_is_a_bad_user_input_error(api: Api) -> None:
    for malformed in MALFORMED_IDS:
        body = await api.raw("query($id: ID!) { node(id: $id) { id } }", id=malformed)

        assert error_codes(body) == ["BAD_USER_INPUT"], malformed
        before_execution = "\n" in malformed  # a control character: refused before any resolver
        assert body["data"] == (None if before_execution else {"node": None})


async def test_nodes_with_one_malformed_id_is_a_bad_user_input_error(api: Api) -> None:
    ids = await one_of_each(api)

    body = await api.raw(
        "query($ids: [ID!]!) { nodes(ids: $ids) { id } }", ids=[ids["customer"], "bad-id"]
    )

    assert error_codes(body) == ["BAD_USER_INPUT"]


async def test_node_with_a_well_formed_unknown_id_is_null(api: Api) -> None:
    await one_of_each(api)

    for prefix in ("cus", "grt", "csm", "ent", "txn", "rev"):
        body = await api.raw("query($id: ID!) { node(id: $id) { id } }", id=f"{prefix}_{UNKNOWN}")

        assert body == {"data": {"node": None}}, prefix


async def test_typed_root_lookups_find_their_own_type(api: Api) -> None:
    ids = await one_of_each(api)

    data = await api(
        """query($c: ID!, $g: ID!, $s: ID!) {
          customer(id: $c) { id }
          creditGrant(id: $g) { id }
          creditConsumption(id: $s) { id }
        }""",
        c=ids["customer"],
        g=ids["grant"],
        s=ids["consumption"],
    )

    assert data == {
        "customer": {"id": ids["customer"]},
        "creditGrant": {"id": ids["grant"]},
        "creditConsumption": {"id": ids["consumption"]},
    }


async def test_typed_root_lookups_of_another_types_id_are_null(api: Api) -> None:
    ids = await one_of_each(api)

    body = await api.raw(
        """query($c: ID!, $g: ID!, $e: ID!) {
          grantOfCustomer: creditGrant(id: $c) { id }
          grantOfEntry: creditGrant(id: $e) { id }
          consumptionOfGrant: creditConsumption(id: $g) { id }
          customerOfGrant: customer(id: $g) { id }
        }""",
        c=ids["customer"],
        g=ids["grant"],
        e=ids["entry"],
    )

    assert body == {
        "data": {
            "grantOfCustomer": None,
            "grantOfEntry": None,
            "consumptionOfGrant": None,
            "customerOfGrant": None,
        }
    }


async def test_typed_root_lookup_with_a_malformed_id_is_a_bad_user_input_error(api: Api) -> None:
    for field in ("creditGrant", "creditConsumption", "customer"):
        body = await api.raw(f'{{ {field}(id: "grant-1") {{ id }} }}')

        assert error_codes(body) == ["BAD_USER_INPUT"], field
        assert body["data"] == {field: None}


async def test_customer_is_found_by_key(api: Api) -> None:
    customer_id = await create_customer(api, "acme", "Acme Corp")

    data = await api('{ customer(key: "acme") { id key name } }')

    assert data == {"customer": {"id": customer_id, "key": "acme", "name": "Acme Corp"}}


async def test_customer_by_an_unknown_key_is_null(api: Api) -> None:
    await create_customer(api, "acme")

    assert await api('{ customer(key: "ACME") { id } }') == {"customer": None}


async def test_customer_by_an_unknown_well_formed_id_is_null(api: Api) -> None:
    assert await api(f'{{ customer(id: "cus_{UNKNOWN}") {{ id }} }}') == {"customer": None}


async def test_customer_with_neither_or_both_of_id_and_key_is_a_bad_user_input_error(
    api: Api,
) -> None:
    await create_customer(api, "acme")

    for arguments in ("", "(id: null, key: null)", f'(id: "cus_{UNKNOWN}", key: "acme")'):
        body = await api.raw(f"{{ customer{arguments} {{ id }} }}")

        assert error_codes(body) == ["BAD_USER_INPUT"], arguments
        assert body["data"] == {"customer": None}


# ---------------------------------------------------------------- the customers filter


async def customer_keys(api: Api, filter: dict[str, Any] | None) -> list[str]:
    data = await api(
        """query($filter: CustomerFilter) {
          customers(first: 500, filter: $filter) { totalCount edges { node { key } } }
        }""",
        filter=filter,
    )
    keys = sorted(edge["node"]["key"] for edge in data["customers"]["edges"])
    assert data["customers"]["totalCount"] == len(keys)
    return keys


@pytest.fixture
async def population(api: Api) -> Api:
    await create_customer(api, "pct", "Acme 100% Cotton", {"tier": "gold", "region": "eu"})
    await create_customer(api, "plain", "Acme 100 Cotton", {"tier": "gold", "region": "us"})
    await create_customer(api, "snake", "snake_case Ltd", {"tier": "silver", "region": "eu"})
    await create_customer(api, "camel", "snakeXcase Ltd")
    await create_customer(api, "shout", "ACME WIDGETS", {"tier": "gold"})
    return api


async def test_customers_without_a_filter_lists_everyone(population: Api) -> None:
    assert await customer_keys(population, None) == ["camel", "pct", "plain", "shout", "snake"]


async def test_customers_filtered_by_key_is_that_customer_only(population: Api) -> None:
    assert await customer_keys(population, {"key": "snake"}) == ["snake"]
    assert await customer_keys(population, {"key": "Snake"}) == []
    assert await customer_keys(population, {"key": "snak"}) == []


async def test_customers_name_contains_ignores_case(population: Api) -> None:
    assert await customer_keys(population, {"nameContains": "acme"}) == ["pct", "plain", "shout"]
    assert await customer_keys(population, {"nameContains": "wIdGeT"}) == ["shout"]
    assert await customer_keys(population, {"nameContains": "LTD"}) == ["camel", "snake"]


async def test_customers_name_contains_treats_percent_literally(population: Api) -> None:
    assert await customer_keys(population, {"nameContains": "%"}) == ["pct"]
    assert await customer_keys(population, {"nameContains": "100%"}) == ["pct"]
    assert await customer_keys(population, {"nameContains": "acme%cotton"}) == []


async def test_customers_name_contains_treats_underscore_literally(population: Api) -> None:
    assert await customer_keys(population, {"nameContains": "_"}) == ["snake"]
    assert await customer_keys(population, {"nameContains": "e_c"}) == ["snake"]


async def test_customers_name_contains_treats_the_escape_character_literally(api: Api) -> None:
    await create_customer(api, "slash", "A/B Testing")
    await create_customer(api, "back", "A\\B Testing")
    await create_customer(api, "none", "AB Testing")

    assert await customer_keys(api, {"nameContains": "a/b"}) == ["slash"]
    assert await customer_keys(api, {"nameContains": "a\\b"}) == ["back"]


async def test_customers_name_contains_ignores_case_beyond_ascii(api: Api) -> None:
    await create_customer(api, "apfel", "ÄPFEL GmbH")
    await create_customer(api, "ecole", "École Centrale")

    assert await customer_keys(api, {"nameContains": "äpfel"}) == ["apfel"]
    assert await customer_keys(api, {"nameContains": "ÉCOLE"}) == ["ecole"]


async def test_customers_filtered_by_labels_must_match_every_label(population: Api) -> None:
    gold = [{"key": "tier", "value": "gold"}]
    eu = [{"key": "region", "value": "eu"}]
    asia = [{"key": "region", "value": "asia"}]

    assert await customer_keys(population, {"labels": gold}) == ["pct", "plain", "shout"]
    assert await customer_keys(population, {"labels": eu}) == ["pct", "snake"]
    assert await customer_keys(population, {"labels": gold + eu}) == ["pct"]
    assert await customer_keys(population, {"labels": gold + asia}) == []
    assert await customer_keys(population, {"labels": [{"key": "tier", "value": "GOLD"}]}) == []


async def test_customers_filter_fields_combine_with_and(population: Api) -> None:
    gold = [{"key": "tier", "value": "gold"}]

    assert await customer_keys(population, {"nameContains": "cotton", "labels": gold}) == [
        "pct",
        "plain",
    ]
    assert await customer_keys(population, {"nameContains": "%", "key": "plain"}) == []
    assert await customer_keys(population, {"key": "shout", "labels": gold}) == ["shout"]
