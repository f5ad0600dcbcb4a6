"""Event bodies carry every scalar and enum field the API shows of their object, named as
in the schema, and their values are the API's own."""

from __future__ import annotations

from typing import Any

from graphql import GraphQLEnumType, GraphQLObjectType, GraphQLScalarType, get_named_type

from app.api.schema import get_schema
from app.domain.webhooks import EventType
from app.services.customers import create_customer
from app.services.grants import PurchaseTerms
from app.services.runtime import Runtime
from tests.services.support import consume, promo, purchase
from tests.services.test_thresholds import threshold
from tests.services.test_write_path import customer
from tests.webhooks.support import Receiver, deliver_all, endpoint

NESTED = {"labels", "purchase", "actor", "entries"}  # objects the body includes as well


def plain_fields(type_name: str) -> set[str]:
    """The scalar and enum fields of an API type, and the nested objects bodies carry."""
    graphql_type = get_schema()._schema.type_map[type_name]
    assert isinstance(graphql_type, GraphQLObjectType)
    return {
        name
        for name, field in graphql_type.fields.items()
        if isinstance(get_named_type(field.type), GraphQLScalarType | GraphQLEnumType)
        or name in NESTED
    }


async def test_bodies_name_every_plain_field_of_their_object(
    runtime: Runtime, receiver: Receiver
) -> None:
    await endpoint(
        runtime, receiver, [EventType.CREDIT_GRANT_CREATED, EventType.CREDIT_CONSUMPTION_CREATED]
    )
    customer_id, _ = await create_customer(runtime, key="acme", name="Acme")
    await purchase(runtime, customer_id, "10", terms=PurchaseTerms(payment_reference="inv-1"))
    await consume(runtime, customer_id, "1", key="k", labels=(("team", "a"),))
    await deliver_all(runtime)
    grant_event, consumption_event = receiver.events()
    grant: dict[str, Any] = grant_event["data"]["grant"]
    consumption: dict[str, Any] = consumption_event["data"]["consumption"]
    [entry] = consumption["entries"]

    assert set(grant) == plain_fields("CreditGrant")
    assert set(grant["purchase"]) == plain_fields("CreditPurchase")
    assert set(consumption) == plain_fields("CreditConsumption")
    assert set(entry) == plain_fields("CreditLedgerEntry")
    assert set(entry["actor"]) == plain_fields("Actor")
    assert grant["purchase"]["paymentReference"] == "inv-1"
    assert grant["purchase"]["perUnitCostBasis"] == "1"
    assert (grant["fundingMethod"], grant["status"]) == ("INVOICE", "ACTIVE")
    assert consumption["labels"] == entry["labels"] == [{"key": "team", "value": "a"}]
    assert entry["sequence"] == 2 and len(entry["hash"]) == 64


async def test_threshold_event_bodies_name_every_plain_field(
    runtime: Runtime, receiver: Receiver
) -> None:
    await endpoint(runtime, receiver, [EventType.CREDIT_THRESHOLD_CROSSED])
    customer_id = await customer(runtime)
    await promo(runtime, customer_id, "10")
    await threshold(runtime, customer_id, "5")
    await consume(runtime, customer_id, "6", key="k")
    await deliver_all(runtime)
    [event] = receiver.events()
    assert set(event["data"]["thresholdEvent"]) == plain_fields("CreditThresholdEvent")
