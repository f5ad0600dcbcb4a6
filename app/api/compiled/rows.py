"""What each field of a row-backed type reads from its row, without building the object.

A reader returns what the Strawberry object's attribute would hold after its `from_row`
(a Decimal from minor units, a list of Labels, an object with the attributes of an
Actor…; an enum as its stored value, which the enum's serializer maps as it maps the
member), so the plan's serializers format it as normal execution does. A field missing
here is not covered by the native lane (the resolvers' lane answers the document).

Why a second mapping beside the types' `from_row` (which normal execution and the
resolvers' lane use): `from_row` needs every column and builds every attribute of a
Strawberry object, whatever the document reads; here a row holds only the columns the
document selects and each selected leaf is read and serialized in one call. For the
dashboard's 5,000 ledger entries (amount only), on a loaded 2-core machine: `from_row`
and the amount's serializer took 433-652 ms against 27-36 ms for `Leaf.text`, and
fetching every column 581-637 ms against 96-102 ms for the three it needs (best of 7
and mean of 5, /tmp profiling script, 2026-12-02). Both mappings call the same
conversions (`from_minor`, `labels_of`, `grant_from_row`), and the equivalence test
(tests/api/test_compiled_equivalence.py) holds them to the same answers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from operator import itemgetter
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Table

from app.api.common import labels_of
from app.domain.money import from_minor
from app.storage.mapping import PURCHASE, grant_from_row
from app.storage.tables import customers, entries, grants

Reader = Callable[[Any], Any]
Position = Callable[[str], int]


@dataclass
class Env:
    """What readers need beyond the row: filled per request, scales per level."""

    now: datetime
    scales: dict[str, int] = field(default_factory=dict)


# (positions, env, the field's serializer) -> a row's serialized value in one call
TextMaker = Callable[[Position, Env, Reader], Reader]


@dataclass(frozen=True)
class Leaf:
    columns: tuple[str, ...]
    make: Callable[[Position, Env], Reader]
    scaled: bool = False  # reads `Env.scales`
    # The value read and serialized at once, for a field of one of `text_of`'s scalars:
    # the per-row calls of reader, null check and serializer are most of a page's time.
    text: TextMaker | None = None
    text_of: frozenset[str] = frozenset()


def plain(name: str) -> Leaf:
    def text(at: Position, env: Env, serialize: Reader) -> Reader:
        index = at(name)
        # A str is what String's and ID's serializers return unchanged
        return lambda row: v if (v := row[index]).__class__ is str else serialize(v)

    make = lambda at, env: itemgetter(at(name))  # noqa: E731
    return Leaf((name,), make, text=text, text_of=frozenset({"String", "ID"}))


def money(name: str) -> Leaf:
    def make(at: Position, env: Env) -> Reader:
        units, currency, scales = at(name), at("currency"), env.scales
        return lambda row: from_minor(row[units], scales[row[currency]])

    def text(at: Position, env: Env, serialize: Reader) -> Reader:
        units, currency, scales = at(name), at("currency"), env.scales
        # from_minor, then the Decimal scalar's serializer: format(…, "f")
        return lambda row: format(Decimal(row[units]).scaleb(-scales[row[currency]]), "f")

    columns = (name, "currency")
    return Leaf(columns, make, scaled=True, text=text, text_of=frozenset({"Decimal"}))


def labels(name: str = "labels") -> Leaf:
    def make(at: Position, env: Env) -> Reader:
        index = at(name)
        return lambda row: labels_of(row[index])

    return Leaf((name,), make)


def _features(at: Position, env: Env) -> Reader:
    index = at("features")
    return lambda row: list(row[index])


def _status(at: Position, env: Env) -> Reader:
    now = env.now
    return lambda row: grant_from_row(row).status(now).value


def _purchase(at: Position, env: Env) -> Reader:
    index = [at(name) for name in PURCHASE]
    scales = env.scales

    def read(row: Any) -> SimpleNamespace | None:
        currency, basis, amount, policy, status, reference, authorized, settled, failed = (
            row[i] for i in index
        )
        if currency is None:
            return None
        return SimpleNamespace(
            currency=currency,
            per_unit_cost_basis=Decimal(basis),
            amount=from_minor(amount, scales[currency]),
            availability_policy=policy,
            settlement_status=status,
            payment_reference=reference,
            authorized_at=authorized,
            settled_at=settled,
            failed_at=failed,
        )

    return read


def _actor(at: Position, env: Env) -> Reader:
    kind, id, name = at("actor_type"), at("actor_id"), at("actor_name")
    return lambda row: SimpleNamespace(type=row[kind], id=row[id] or None, name=row[name])


COMMON = {
    "id": plain("id"),
    "description": plain("description"),
    "labels": labels(),
    "createdAt": plain("created_at"),
}
CUSTOMER = COMMON | {
    "key": plain("key"),
    "name": plain("name"),
    "updatedAt": plain("updated_at"),
}
GRANT = COMMON | {
    "key": plain("key"),
    "name": plain("name"),
    "updatedAt": plain("updated_at"),
    "currency": plain("currency"),
    "fundingMethod": plain("funding_method"),
    "purchase": Leaf(("currency", *PURCHASE), _purchase, scaled=True),
    "priority": plain("priority"),
    "features": Leaf(("features",), _features),
    "effectiveAt": plain("effective_at"),
    "expiresAt": plain("expires_at"),
    "voidedAt": plain("voided_at"),
    "voidReason": plain("void_reason"),
    "status": Leaf(tuple(c.name for c in grants.columns), _status),
    **{name: money(name) for name in ("amount", "remaining", "consumed", "expired", "voided")},
}
ENTRY = COMMON | {
    "type": plain("type"),
    "currency": plain("currency"),
    "amount": money("amount"),
    "availableBalanceBefore": money("balance_before"),
    "availableBalanceAfter": money("balance_after"),
    "sequence": plain("sequence"),
    "bookedAt": plain("booked_at"),
    "transactionId": plain("transaction_id"),
    "featureKey": plain("feature_key"),
    "hash": plain("hash"),
    "actor": Leaf(("actor_type", "actor_id", "actor_name"), _actor),
}


@dataclass(frozen=True)
class RowType:
    table: Table
    leaves: dict[str, Leaf]
    # What the lists of its rows' children and the request's known objects need (a
    # relation to one object adds the column naming it: `Source.column`)
    always: tuple[str, ...]


ROW_TYPES = {
    "Customer": RowType(customers, CUSTOMER, ("id",)),
    "CreditGrant": RowType(grants, GRANT, ("id", "customer_id")),
    "CreditLedgerEntry": RowType(entries, ENTRY, ()),
}
