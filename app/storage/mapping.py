"""Rows to domain objects and back, for the write paths."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import Row

from app.domain.grants import (
    AvailabilityPolicy,
    FundingMethod,
    Grant,
    Purchase,
    SettlementStatus,
)
from app.domain.ledger import Account, Entry, Figures

# A paid grant's purchase columns (NULL for a promotional grant)
PURCHASE = (
    "purchase_currency",
    "cost_basis",
    "purchase_amount",
    "availability_policy",
    "settlement_status",
    "payment_reference",
    "authorized_at",
    "settled_at",
    "failed_at",
)


def grant_from_row(row: Row[Any]) -> Grant:
    purchase = None
    if row.purchase_currency is not None:
        purchase = Purchase(
            currency=row.purchase_currency,
            cost_basis=Decimal(row.cost_basis),
            amount=row.purchase_amount,
            availability_policy=AvailabilityPolicy(row.availability_policy),
            settlement_status=SettlementStatus(row.settlement_status),
            payment_reference=row.payment_reference,
            authorized_at=row.authorized_at,
            settled_at=row.settled_at,
            failed_at=row.failed_at,
        )
    return Grant(
        id=row.id,
        customer_id=row.customer_id,
        currency=row.currency,
        amount=row.amount,
        funding_method=FundingMethod(row.funding_method),
        priority=row.priority,
        features=tuple(row.features),
        effective_at=row.effective_at,
        expires_at=row.expires_at,
        created_at=row.created_at,
        purchase=purchase,
        fundable_at=row.fundable_at,
        funded_at=row.funded_at,
        expiry_booked=row.expiry_booked,
        voided_at=row.voided_at,
        void_reason=row.void_reason,
        remaining=row.remaining,
        consumed=row.consumed,
        expired=row.expired,
        voided=row.voided,
    )


def grant_state(grant: Grant) -> dict[str, Any]:
    """The columns a grant's state changes touch."""
    values: dict[str, Any] = {
        "fundable_at": grant.fundable_at,
        "funded_at": grant.funded_at,
        "expiry_booked": grant.expiry_booked,
        "voided_at": grant.voided_at,
        "void_reason": grant.void_reason,
        "next_event_at": grant.next_event_at(),
        "remaining": grant.remaining,
        "consumed": grant.consumed,
        "expired": grant.expired,
        "voided": grant.voided,
    }
    if grant.purchase is not None:
        purchase = grant.purchase
        values |= {
            "settlement_status": purchase.settlement_status.value,
            "payment_reference": purchase.payment_reference,
            "authorized_at": purchase.authorized_at,
            "settled_at": purchase.settled_at,
            "failed_at": purchase.failed_at,
        }
    return values


def grant_creation(grant: Grant) -> dict[str, Any]:
    """The columns of a new grant that its domain object knows."""
    values = grant_state(grant) | {
        "id": grant.id,
        "customer_id": grant.customer_id,
        "currency": grant.currency,
        "amount": grant.amount,
        "funding_method": grant.funding_method.value,
        "priority": grant.priority,
        "features": list(grant.features),
        "restricted": grant.restricted,
        "effective_at": grant.effective_at,
        "expires_at": grant.expires_at,
        "created_at": grant.created_at,
        "updated_at": grant.created_at,
        "burn_key": grant.burn_key(),
    }
    if grant.purchase is not None:
        values |= {
            "purchase_currency": grant.purchase.currency,
            "cost_basis": str(grant.purchase.cost_basis),
            "purchase_amount": grant.purchase.amount,
            "availability_policy": grant.purchase.availability_policy.value,
        }
    return values


def account_from_row(row: Row[Any]) -> Account:
    return Account(
        customer_id=row.customer_id,
        currency=row.currency,
        sequence=row.sequence,
        available=row.available,
        available_promotional=row.available_promotional,
        funded=row.funded,
        consumed=row.consumed,
        expired=row.expired,
        voided=row.voided,
        last_booked_at=row.last_booked_at,
        last_hash=row.last_hash,
        thresholds=row.thresholds,
        threshold_sequence=row.threshold_sequence,
    )


def account_values(account: Account) -> dict[str, Any]:
    return {
        "customer_id": account.customer_id,
        "currency": account.currency,
        "sequence": account.sequence,
        "available": account.available,
        "available_promotional": account.available_promotional,
        "funded": account.funded,
        "consumed": account.consumed,
        "expired": account.expired,
        "voided": account.voided,
        "last_booked_at": account.last_booked_at,
        "last_hash": account.last_hash,
        "thresholds": account.thresholds,
        "threshold_sequence": account.threshold_sequence,
    }


def entry_values(entry: Entry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "customer_id": entry.customer_id,
        "currency": entry.currency,
        "sequence": entry.sequence,
        "grant_id": entry.grant_id,
        "consumption_id": entry.consumption_id,
        "type": entry.type.value,
        "amount": entry.amount,
        "balance_before": entry.balance_before,
        "balance_after": entry.balance_after,
        "funded_after": entry.after.funded,
        "consumed_after": entry.after.consumed,
        "expired_after": entry.after.expired,
        "voided_after": entry.after.voided,
        "promotional_after": entry.after.promotional,
        "booked_at": entry.booked_at,
        "created_at": entry.created_at,
        "transaction_id": entry.transaction_id,
        "actor_type": entry.actor.type.value,
        "actor_id": entry.actor.id,
        "actor_name": entry.actor.name,
        "funding_method": entry.funding_method.value,
        "feature_key": entry.feature_key,
        "description": entry.description,
        "labels": [list(label) for label in entry.labels],
        "hash": entry.hash,
    }


def figures_of(row: Row[Any]) -> Figures:
    """A `scope_figure` row's running figures."""
    return Figures(*(int(getattr(row, name)) for name in FIGURES))


def figures_values(figures: Figures) -> dict[str, int]:
    return dict(zip(FIGURES, figures.values(), strict=True))


FIGURES = ("available", "funded", "consumed", "expired", "voided", "promotional")
