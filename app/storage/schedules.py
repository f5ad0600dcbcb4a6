"""Grant schedules' rows to domain objects and back, and the grant an occurrence books."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row, bindparam, update
from sqlalchemy.ext.asyncio import AsyncConnection

from app.domain.grants import FundingMethod, Grant
from app.domain.schedules import Occurrence, Schedule, grant_key
from app.domain.time import format_duration, parse_duration
from app.storage.tables import schedules


def schedule_from_row(row: Row[Any]) -> Schedule:
    return Schedule(
        id=row.id,
        customer_id=row.customer_id,
        currency=row.currency,
        amount=row.amount,
        every=parse_duration(row.every),
        starts_at=row.starts_at,
        ends_at=row.ends_at,
        expires_after=parse_duration(row.expires_after),
        priority=row.priority,
        features=tuple(row.features),
        created_at=row.created_at,
        next_index=row.next_index,
        next_at=row.next_event_at,
        canceled_at=row.canceled_at,
    )


def schedule_state(schedule: Schedule) -> dict[str, Any]:
    """The columns a schedule's state changes touch."""
    return {
        "next_index": schedule.next_index,
        "next_event_at": schedule.next_at,
        "canceled_at": schedule.canceled_at,
    }


def schedule_creation(schedule: Schedule) -> dict[str, Any]:
    """The columns of a new schedule that its domain object knows."""
    return schedule_state(schedule) | {
        "id": schedule.id,
        "customer_id": schedule.customer_id,
        "currency": schedule.currency,
        "amount": schedule.amount,
        "every": format_duration(schedule.every),
        "starts_at": schedule.starts_at,
        "ends_at": schedule.ends_at,
        "expires_after": format_duration(schedule.expires_after),
        "priority": schedule.priority,
        "features": list(schedule.features),
        "created_at": schedule.created_at,
    }


def occurrence_grant(
    schedule: Schedule, occurrence: Occurrence, grant_id: str, row: Row[Any]
) -> tuple[Grant, dict[str, Any]]:
    """The promotional grant of one occurrence, fundable when it is booked, and its other
    columns: the schedule's name, description and labels, its key and a back-pointer."""
    grant = Grant(
        id=grant_id,
        customer_id=schedule.customer_id,
        currency=schedule.currency,
        amount=schedule.amount,
        funding_method=FundingMethod.NONE,
        priority=schedule.priority,
        features=schedule.features,
        effective_at=occurrence.at,
        expires_at=occurrence.expires_at,
        created_at=occurrence.booked_at,
        fundable_at=occurrence.booked_at,
    )
    key = grant_key(schedule.id, occurrence.index)
    details = {
        "key": key,
        "fingerprint": key,  # never compared: no request may use a schedule's grant keys
        "name": row.name,
        "description": row.description,
        "labels": row.labels,
        "schedule_id": schedule.id,
    }
    return grant, details


_SCHEDULE_UPDATE = update(schedules).where(schedules.c.id == bindparam("schedule_id"))


async def update_schedule(
    connection: AsyncConnection, schedule_id: str, values: dict[str, Any]
) -> None:
    await connection.execute(_SCHEDULE_UPDATE, {**values, "schedule_id": schedule_id})
