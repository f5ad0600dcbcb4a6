"""Creating and updating customers (docs/concepts.md)."""

from __future__ import annotations

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from app.domain.errors import Issues, KeyConflict, NotFound
from app.domain.ids import new_id
from app.domain.validation import check_labels, check_text
from app.services.common import check_id, fingerprint, label_set, labels_column
from app.services.runtime import Runtime
from app.storage.engine import lock_customer, write_transaction
from app.storage.tables import customer_labels, customers

Labels = tuple[tuple[str, str], ...]


async def create_customer(
    runtime: Runtime,
    *,
    key: str,
    name: str,
    description: str | None = None,
    labels: Labels | None = None,
) -> tuple[str, bool]:
    """Returns the customer's id and whether the answer is a replay."""
    issues = Issues()
    check_text(issues, ("input", "key"), key, low=1, high=256)
    check_text(issues, ("input", "name"), name, low=1, high=256)
    check_text(issues, ("input", "description"), description, low=0, high=1024, lines=True)
    check_labels(issues, ("input", "labels"), labels)
    issues.raise_any()
    print_ = fingerprint(
        "customer", {"name": name, "description": description, "labels": label_set(labels)}
    )
    try:
        return await _create(runtime, key, name, description, labels, print_)
    except IntegrityError:  # a concurrent request with the same key won the race
        return await _create(runtime, key, name, description, labels, print_)


async def _create(
    runtime: Runtime,
    key: str,
    name: str,
    description: str | None,
    labels: Labels | None,
    print_: str,
) -> tuple[str, bool]:
    async with write_transaction(runtime.engine) as connection:
        statement = select(customers.c.id, customers.c.fingerprint).where(customers.c.key == key)
        row = (await connection.execute(statement)).first()
        if row is not None:
            if row.fingerprint != print_:
                raise KeyConflict(key)
            return str(row.id), True
        now = runtime.clock.now()
        customer_id = new_id("customer")
        await connection.execute(
            insert(customers).values(
                id=customer_id,
                key=key,
                name=name,
                folded_name=name.casefold(),
                description=description,
                labels=labels_column(labels),
                fingerprint=print_,
                created_at=now,
                updated_at=now,
            )
        )
        await _write_labels(connection, customer_id, labels or ())
        return customer_id, False


async def update_customer(
    runtime: Runtime,
    *,
    customer_id: str,
    name: str | None = None,
    description: str | None = None,
    labels: Labels | None = None,
) -> str:
    """Changes only the fields given; labels, when given, replace all labels."""
    issues = Issues()
    check_id(issues, ("input", "customerId"), customer_id)
    check_text(issues, ("input", "name"), name, low=1, high=256)
    check_text(issues, ("input", "description"), description, low=0, high=1024, lines=True)
    check_labels(issues, ("input", "labels"), labels)
    issues.raise_any()
    changes: dict[str, object] = {"updated_at": runtime.clock.now()}
    if name is not None:
        changes["name"] = name
        changes["folded_name"] = name.casefold()
    if description is not None:
        changes["description"] = description
    if labels is not None:
        changes["labels"] = labels_column(labels)
    async with write_transaction(runtime.engine) as connection:
        if not await lock_customer(connection, customer_id):
            raise NotFound("Customer", customer_id)
        await connection.execute(
            update(customers).where(customers.c.id == customer_id).values(changes)
        )
        if labels is not None:
            await connection.execute(
                delete(customer_labels).where(customer_labels.c.customer_id == customer_id)
            )
            await _write_labels(connection, customer_id, labels)
    return customer_id


async def _write_labels(connection: AsyncConnection, customer_id: str, labels: Labels) -> None:
    if labels:
        rows = [{"customer_id": customer_id, "key": k, "value": v} for k, v in labels]
        await connection.execute(insert(customer_labels), rows)
