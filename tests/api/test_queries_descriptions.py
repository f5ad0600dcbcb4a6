"""GraphiQL's docs show what each read type and relation returns, in the domain's words,
and the schema's grant and ledger enums are the domain's own."""

from __future__ import annotations

from graphql import GraphQLEnumType, GraphQLInputObjectType, get_named_type, is_leaf_type

from app.api.schema import get_schema
from app.domain.grants import AvailabilityPolicy, FundingMethod, GrantStatus, SettlementStatus
from app.domain.ledger import ActorType, EntryType

READ_TYPES = [
    "Node",
    "Label",
    "LabelInput",
    "PageInfo",
    "OrderDirection",
    "Customer",
    "CustomerConnection",
    "CustomerEdge",
    "CustomerFilter",
    "CreateCustomerInput",
    "UpdateCustomerInput",
    "CreditBalance",
    "CreditExpiration",
    "Currency",
    "CreateCustomCurrencyInput",
    "CreditGrant",
    "CreditPurchase",
    "CreditGrantConnection",
    "CreditGrantEdge",
    "CreditGrantFilter",
    "CreditGrantOrder",
    "CreditGrantOrderField",
    "CreditGrantStatus",
    "CreditFundingMethod",
    "CreditAvailabilityPolicy",
    "CreditSettlementStatus",
    "CreditLedgerEntry",
    "CreditLedgerEntryConnection",
    "CreditLedgerEntryEdge",
    "CreditLedgerFilter",
    "CreditLedgerEntryType",
    "Actor",
    "ActorType",
    "CreditConsumption",
]
DOMAIN_ENUMS = {
    "CreditGrantStatus": GrantStatus,
    "CreditFundingMethod": FundingMethod,
    "CreditAvailabilityPolicy": AvailabilityPolicy,
    "CreditSettlementStatus": SettlementStatus,
    "CreditLedgerEntryType": EntryType,
    "ActorType": ActorType,
}


def test_every_read_type_and_every_relation_or_field_with_arguments_is_described() -> None:
    types = get_schema()._schema.type_map
    missing = [name for name in READ_TYPES if not types[name].description]
    for name in READ_TYPES:
        kind = types[name]
        if isinstance(kind, GraphQLEnumType | GraphQLInputObjectType):
            continue
        for field_name, field in kind.fields.items():  # type: ignore[attr-defined]
            relation = not is_leaf_type(get_named_type(field.type))
            if (relation or field.args) and not field.description:
                missing.append(f"{name}.{field_name}")
    assert missing == []


def test_the_grant_ledger_and_actor_enums_are_the_domains_own() -> None:
    schema = get_schema()
    wrapped = {name: schema.get_type_by_name(name).wrapped_cls for name in DOMAIN_ENUMS}  # type: ignore[union-attr]
    assert wrapped == DOMAIN_ENUMS
    status = schema._schema.type_map["CreditGrantStatus"]
    assert isinstance(status, GraphQLEnumType)
    assert {name: bool(value.description) for name, value in status.values.items()} == {
        "PENDING": True,
        "ACTIVE": True,
        "DEPLETED": True,
        "EXPIRED": True,
        "VOIDED": True,
    }
    assert [str(member) for member in GrantStatus] == list(status.values)
