"""The tables. Amounts are integers of the currency's smallest unit; instants are UTC.

`ledger_entry` is append-only. `account` and the figures on `credit_grant` and
`credit_consumption` are caches of the ledger that `credits verify` recomputes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Index, Integer, Table, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.storage.types import UTCDateTime


def instant(*, nullable: bool = False, index: bool = False) -> Any:
    return Field(default=None, sa_column=Column(UTCDateTime(), nullable=nullable, index=index))


def money(*, nullable: bool = False) -> Any:
    return Field(default=0, sa_column=Column(BigInteger(), nullable=nullable))


def position() -> Any:
    """An autoincrementing integer key: the order rows were inserted in (commit order
    for one customer, whose writers are serialized)."""
    return Field(
        default=None,
        sa_column=Column(
            BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
        ),
    )


def labels() -> Any:
    return Field(default_factory=list, sa_column=Column(JSON(), nullable=False))


class Customer(SQLModel, table=True):
    __tablename__ = "customer"
    id: str = Field(primary_key=True)
    key: str = Field(unique=True)
    name: str
    folded_name: str  # casefolded name: SQL lower() folds only ASCII
    description: str | None = None
    labels: list[list[str]] = labels()
    fingerprint: str
    created_at: datetime = instant()
    updated_at: datetime = instant()


class CustomerLabel(SQLModel, table=True):
    """A customer's labels again, one row each, for filtering in SQL."""

    __tablename__ = "customer_label"
    customer_id: str = Field(primary_key=True, foreign_key="customer.id")
    key: str = Field(primary_key=True)
    value: str


class ApiKey(SQLModel, table=True):
    """An API key: its secret is shown once and kept only as a SHA-256 hash."""

    __tablename__ = "api_key"
    id: str = Field(primary_key=True)
    name: str
    role: str
    secret_hash: str
    created_at: datetime = instant()
    revoked_at: datetime | None = instant(nullable=True)


class SigningKey(SQLModel, table=True):
    """A key portal tokens are signed with: the newest signs, every one kept verifies.

    Ids count up from 1, so processes creating the first key at once agree on one.
    """

    __tablename__ = "signing_key"
    id: int = Field(sa_column=Column(Integer(), primary_key=True, autoincrement=False))
    secret: str
    created_at: datetime = instant()
    retired_at: datetime | None = instant(nullable=True)  # when a newer key took over


class Currency(SQLModel, table=True):
    """Custom credit units; ISO 4217 currencies come from the iso4217 package."""

    __tablename__ = "currency"
    code: str = Field(primary_key=True)
    name: str
    scale: int
    created_at: datetime = instant()


class Account(SQLModel, table=True):
    """One customer's ledger in one currency: the row writers lock, and its cached figures."""

    __tablename__ = "account"
    customer_id: str = Field(primary_key=True, foreign_key="customer.id")
    currency: str = Field(primary_key=True)
    sequence: int = Field(default=0, sa_column=Column(BigInteger(), nullable=False))
    available: int = money()
    available_promotional: int = money()
    funded: int = money()
    consumed: int = money()
    expired: int = money()
    voided: int = money()
    last_booked_at: datetime | None = instant(nullable=True)
    last_hash: str  # the hash of the ledger's last entry (docs/tamper-evidence.md)
    # undeleted thresholds on this ledger (0: a write checks none, with no statement) and
    # the sequence of its last threshold event (docs/thresholds.md)
    thresholds: int = Field(
        default=0, sa_column=Column(Integer(), nullable=False, server_default="0")
    )
    threshold_sequence: int = Field(
        default=0, sa_column=Column(BigInteger(), nullable=False, server_default="0")
    )


class CreditGrant(SQLModel, table=True):
    __tablename__ = "credit_grant"
    __table_args__ = (
        UniqueConstraint("customer_id", "key"),
        Index("ix_credit_grant_customer_burn", "customer_id", "burn_key"),
        Index("ix_credit_grant_customer_created", "customer_id", "created_at", "id"),
        Index("ix_credit_grant_customer_effective", "customer_id", "effective_at", "id"),
        Index("ix_credit_grant_customer_priority", "customer_id", "priority", "id"),
        # which of a request's customers have an event due: a seek, however many grants
        Index("ix_credit_grant_customer_next_event", "customer_id", "next_event_at"),
        # pending amounts: the customer's grants not funded by an instant, a range
        Index("ix_credit_grant_customer_funded", "customer_id", "funded_at"),
        # a schedule's grants, latest occurrence first
        Index("ix_credit_grant_schedule_effective", "schedule_id", "effective_at", "id"),
    )
    id: str = Field(primary_key=True)
    customer_id: str = Field(foreign_key="customer.id")
    key: str | None = None
    fingerprint: str
    name: str
    description: str | None = None
    labels: list[list[str]] = labels()
    currency: str
    amount: int = money()
    funding_method: str
    priority: int
    features: list[str] = Field(default_factory=list, sa_column=Column(JSON(), nullable=False))
    restricted: bool
    effective_at: datetime = instant()
    expires_at: datetime | None = instant(nullable=True)
    created_at: datetime = instant()
    updated_at: datetime = instant()
    voided_at: datetime | None = instant(nullable=True)
    void_reason: str | None = None
    purchase_currency: str | None = None
    cost_basis: str | None = None
    purchase_amount: int | None = money(nullable=True)
    availability_policy: str | None = None
    settlement_status: str | None = None
    payment_reference: str | None = None
    authorized_at: datetime | None = instant(nullable=True)
    settled_at: datetime | None = instant(nullable=True)
    failed_at: datetime | None = instant(nullable=True)
    fundable_at: datetime | None = instant(nullable=True)
    funded_at: datetime | None = instant(nullable=True)
    expiry_booked: bool = False
    next_event_at: datetime | None = instant(nullable=True, index=True)
    burn_key: str
    remaining: int = money()
    consumed: int = money()
    expired: int = money()
    voided: int = money()
    schedule_id: str | None = None  # the schedule that booked it (docs/schedules.md)


class CreditGrantSchedule(SQLModel, table=True):
    """A recurring allowance: a promotional grant at each occurrence (docs/schedules.md).
    `next_event_at` is its next occurrence not booked yet, NULL once none is left."""

    __tablename__ = "credit_grant_schedule"
    __table_args__ = (
        UniqueConstraint("customer_id", "key"),
        Index("ix_credit_grant_schedule_customer_created", "customer_id", "created_at", "id"),
        Index("ix_credit_grant_schedule_customer_next_event", "customer_id", "next_event_at"),
    )
    id: str = Field(primary_key=True)
    customer_id: str = Field(foreign_key="customer.id")
    key: str | None = None
    fingerprint: str
    name: str
    description: str | None = None
    labels: list[list[str]] = labels()
    currency: str
    amount: int = money()
    every: str  # ISO 8601
    starts_at: datetime = instant()
    ends_at: datetime | None = instant(nullable=True)
    expires_after: str  # ISO 8601
    priority: int
    features: list[str] = Field(default_factory=list, sa_column=Column(JSON(), nullable=False))
    created_at: datetime = instant()
    canceled_at: datetime | None = instant(nullable=True)
    next_index: int = Field(default=0, sa_column=Column(BigInteger(), nullable=False))
    next_event_at: datetime | None = instant(nullable=True, index=True)


class GrantFeature(SQLModel, table=True):
    """The features a restricted grant may pay for, for filtering in SQL."""

    __tablename__ = "grant_feature"
    grant_id: str = Field(primary_key=True, foreign_key="credit_grant.id")
    feature: str = Field(primary_key=True, index=True)


class CreditConsumption(SQLModel, table=True):
    __tablename__ = "credit_consumption"
    __table_args__ = (UniqueConstraint("customer_id", "key"),)
    id: str = Field(primary_key=True)
    customer_id: str = Field(foreign_key="customer.id")
    key: str
    fingerprint: str
    currency: str
    feature_key: str | None = None
    description: str | None = None
    labels: list[list[str]] = labels()
    requested: int = money()
    consumed: int = money()
    shortfall: int = money()
    reversed: int = money()
    transaction_id: str
    created_at: datetime = instant()


class CreditReversal(SQLModel, table=True):
    __tablename__ = "credit_reversal"
    __table_args__ = (UniqueConstraint("customer_id", "key"),)
    id: str = Field(primary_key=True)
    customer_id: str = Field(foreign_key="customer.id")
    consumption_id: str = Field(foreign_key="credit_consumption.id", index=True)
    key: str
    fingerprint: str
    amount: int = money()
    reason: str | None = None
    transaction_id: str
    created_at: datetime = instant()


class LedgerEntry(SQLModel, table=True):
    __tablename__ = "ledger_entry"
    __table_args__ = (
        UniqueConstraint("customer_id", "currency", "sequence"),
        Index("ix_ledger_customer_booked", "customer_id", "booked_at", "position"),
        Index("ix_ledger_grant_booked", "grant_id", "booked_at", "position"),
        Index("ix_ledger_booked", "booked_at", "position"),
        Index("ix_ledger_consumption", "consumption_id", "position"),
        # a ledger's last entry booked by an instant: one seek (bookedAt never decreases)
        Index("ix_ledger_ledger_booked", "customer_id", "currency", "booked_at", "sequence"),
    )
    position: int | None = position()
    id: str = Field(unique=True)
    customer_id: str = Field(foreign_key="customer.id")
    currency: str
    sequence: int = Field(sa_column=Column(BigInteger(), nullable=False))
    grant_id: str = Field(foreign_key="credit_grant.id")
    consumption_id: str | None = Field(default=None, foreign_key="credit_consumption.id")
    type: str
    amount: int = money()
    balance_before: int = money()
    balance_after: int = money()
    # the ledger's running figures after this entry (available is balance_after)
    funded_after: int = money()
    consumed_after: int = money()
    expired_after: int = money()
    voided_after: int = money()
    promotional_after: int = money()
    booked_at: datetime = instant()
    created_at: datetime = instant()
    transaction_id: str = Field(index=True)
    actor_type: str
    actor_id: str | None = None
    actor_name: str
    funding_method: str
    feature_key: str | None = None
    description: str | None = None
    labels: list[list[str]] = labels()
    hash: str  # SHA-256 hex over the previous entry's hash and this entry (docs/tamper-evidence.md)


class ScopeFigure(SQLModel, table=True):
    """Running figures of one scope of a ledger's restricted grants, after each entry that
    moved them: scope "*" is every restricted grant, any other scope one feature."""

    __tablename__ = "scope_figure"
    customer_id: str = Field(primary_key=True, foreign_key="customer.id")
    currency: str = Field(primary_key=True)
    scope: str = Field(primary_key=True)
    sequence: int = Field(sa_column=Column(BigInteger(), primary_key=True, autoincrement=False))
    available: int = money()
    funded: int = money()
    consumed: int = money()
    expired: int = money()
    voided: int = money()
    promotional: int = money()


class CreditThreshold(SQLModel, table=True):
    """A watched balance (docs/thresholds.md); `top_up_*` are the purchase a crossing makes."""

    __tablename__ = "credit_threshold"
    __table_args__ = (
        UniqueConstraint("customer_id", "key"),
        Index("ix_credit_threshold_customer_currency", "customer_id", "currency"),
    )
    id: str = Field(primary_key=True)
    customer_id: str = Field(foreign_key="customer.id")
    key: str | None = None
    fingerprint: str
    name: str
    currency: str
    feature_key: str | None = None
    below: int = money()
    state: str
    top_up_amount: int | None = money(nullable=True)
    top_up_funding_method: str | None = None
    top_up_purchase_currency: str | None = None
    top_up_cost_basis: str | None = None
    top_up_price: int | None = money(nullable=True)
    top_up_availability_policy: str | None = None
    top_up_settlement_status: str | None = None
    top_up_payment_reference: str | None = None
    top_up_priority: int | None = None
    top_up_features: list[str] | None = Field(default=None, sa_column=Column(JSON(), nullable=True))
    top_up_expires_after: str | None = None
    created_at: datetime = instant()
    updated_at: datetime = instant()
    deleted_at: datetime | None = instant(nullable=True)


class CreditThresholdEvent(SQLModel, table=True):
    """A threshold crossed or recovered: numbered per customer and currency, oldest first."""

    __tablename__ = "credit_threshold_event"
    __table_args__ = (
        UniqueConstraint("customer_id", "currency", "sequence"),
        Index("ix_threshold_event_customer", "customer_id", "position"),
        Index("ix_threshold_event_threshold", "threshold_id", "position"),
    )
    position: int | None = position()
    id: str = Field(unique=True)
    threshold_id: str = Field(foreign_key="credit_threshold.id")
    customer_id: str = Field(foreign_key="customer.id")
    currency: str
    sequence: int = Field(sa_column=Column(BigInteger(), nullable=False))
    type: str
    available_before: int = money()
    available_after: int = money()
    entry_id: str = Field(foreign_key="ledger_entry.id")
    top_up_grant_id: str | None = Field(default=None, foreign_key="credit_grant.id")
    occurred_at: datetime = instant()


class WebhookEndpoint(SQLModel, table=True):
    """Where events are posted; the secret signs them (the previous one too, until
    `previous_secret_until`, after a rotation)."""

    __tablename__ = "webhook_endpoint"
    id: str = Field(primary_key=True)
    url: str
    description: str | None = None
    event_types: list[str] = Field(default_factory=list, sa_column=Column(JSON(), nullable=False))
    customer_id: str | None = Field(default=None, foreign_key="customer.id")
    enabled: bool = True
    secret: str
    previous_secret: str | None = None
    previous_secret_until: datetime | None = instant(nullable=True)
    created_at: datetime = instant()
    updated_at: datetime = instant()


class WebhookDelivery(SQLModel, table=True):
    """The outbox: one event for one endpoint, written by the transaction that made the
    change. `position` is commit order; per endpoint and customer, the PENDING delivery
    with the lowest position goes first. `lease` marks an attempt under way."""

    __tablename__ = "webhook_delivery"
    __table_args__ = (
        Index("ix_webhook_delivery_queue", "endpoint_id", "customer_id", "status", "position"),
        Index("ix_webhook_delivery_due", "status", "next_attempt_at"),
        Index("ix_webhook_delivery_endpoint", "endpoint_id", "position"),
    )
    position: int | None = position()
    id: str = Field(unique=True)
    endpoint_id: str = Field(foreign_key="webhook_endpoint.id")
    event_id: str
    event_type: str
    customer_id: str
    occurred_at: datetime = instant()
    payload: str
    status: str
    attempts: int = 0
    attempt_limit: int
    next_attempt_at: datetime | None = instant(nullable=True)
    lease: str | None = None
    created_at: datetime = instant()


class WebhookAttempt(SQLModel, table=True):
    __tablename__ = "webhook_attempt"
    __table_args__ = (Index("ix_webhook_attempt_delivery", "delivery_id", "position"),)
    position: int | None = position()
    delivery_id: str = Field(foreign_key="webhook_delivery.id")
    at: datetime = instant()
    response_status: int | None = None
    duration_ms: int
    response_body: str | None = None
    error: str | None = None


def table_of(model: type[SQLModel]) -> Table:
    table = model.__table__  # type: ignore[attr-defined]
    assert isinstance(table, Table)
    return table


customers = table_of(Customer)
customer_labels = table_of(CustomerLabel)
currencies = table_of(Currency)
api_keys = table_of(ApiKey)
signing_keys = table_of(SigningKey)
accounts = table_of(Account)
grants = table_of(CreditGrant)
schedules = table_of(CreditGrantSchedule)
grant_features = table_of(GrantFeature)
consumptions = table_of(CreditConsumption)
reversals = table_of(CreditReversal)
entries = table_of(LedgerEntry)
scope_figures = table_of(ScopeFigure)
thresholds = table_of(CreditThreshold)
threshold_events = table_of(CreditThresholdEvent)
webhook_endpoints = table_of(WebhookEndpoint)
webhook_deliveries = table_of(WebhookDelivery)
webhook_attempts = table_of(WebhookAttempt)
metadata = SQLModel.metadata
