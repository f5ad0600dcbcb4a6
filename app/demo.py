"""`credits demo`: a small, realistic data set, made through the real services.

Four customers in USD, EUR and a custom unit (TOKENS): paid grants funded by INVOICE
and EXTERNAL payments under each availability policy and settlement state,
promotional credits, expiring, future-effective and voided grants, consumption with
and without a feature, and a partial reversal. Every creation carries a key and
every instant is derived from stored data, so loading it twice changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import select

from app.domain.grants import AvailabilityPolicy, FundingMethod, SettlementStatus
from app.domain.ledger import OPEN
from app.domain.time import parse_duration
from app.services import consumption, customers, grants, reversal, settlement
from app.services.currencies import create_custom_currency
from app.services.runtime import Runtime
from app.storage.engine import read_connection
from app.storage.tables import customers as customer_table

INVOICE, EXTERNAL = FundingMethod.INVOICE, FundingMethod.EXTERNAL
ON_CREATION = AvailabilityPolicy.ON_CREATION
ON_AUTHORIZATION = AvailabilityPolicy.ON_AUTHORIZATION
ON_SETTLEMENT = AvailabilityPolicy.ON_SETTLEMENT
AUTHORIZED = SettlementStatus.AUTHORIZED
SETTLED = SettlementStatus.SETTLED
FAILED = SettlementStatus.FAILED


async def load_demo(runtime: Runtime) -> None:
    await create_custom_currency(runtime, code="TOKENS", name="API tokens", scale=0)
    await acme(runtime)
    await globex(runtime)
    await initech(runtime)
    await umbrella(runtime)


async def acme(runtime: Runtime) -> None:
    """USD: an annual invoice settled, welcome credits used up, a feature trial in use."""
    acme = await Books.open(runtime, "demo-acme", "Acme Analytics", ("plan", "annual"))
    annual = await acme.purchase(
        "acme-annual-2026",
        "Annual prepaid plan",
        "1200.00 USD",
        INVOICE,
        ON_SETTLEMENT,
        reference="INV-2026-0001",
        expires="P1Y",
    )
    await acme.settle(annual, SETTLED)
    await acme.promote("acme-welcome", "Welcome credits", "50 USD", priority=5, expires="P30D")
    await acme.promote(
        "acme-image-trial",
        "Image generation trial",
        "100 USD",
        features=("image_generation",),
        expires="P90D",
    )
    await acme.consume("acme-usage-0001", "30.00 USD", "March usage")
    april = await acme.consume("acme-usage-0002", "75.50 USD", "April usage")
    await acme.reverse(april, "acme-refund-0001", "10.00", "duplicate usage event")
    await acme.consume("acme-images-0001", "12.34 USD", "Image batch", "image_generation")


async def globex(runtime: Runtime) -> None:
    """EUR: a wire transfer authorized, a quarterly invoice pending, a bonus starting later."""
    globex = await Books.open(runtime, "demo-globex", "Globex Europe", ("region", "eu"))
    wire = await globex.purchase(
        "globex-wire-0001", "Wire transfer top-up", "500 EUR", EXTERNAL, ON_AUTHORIZATION
    )
    await globex.settle(wire, AUTHORIZED, "WIRE-88231")
    await globex.purchase(
        "globex-q3-invoice",
        "Q3 invoice",
        "2000 EUR",
        INVOICE,
        ON_SETTLEMENT,
        reference="INV-2026-0042",
    )
    starts = await globex.created_at() + timedelta(days=14)
    await globex.promote("globex-loyalty", "Loyalty bonus", "100 EUR", effective_at=starts)
    await globex.consume("globex-usage-0001", "120 EUR", "Batch exports")


async def initech(runtime: Runtime) -> None:
    """TOKENS bought in USD: a token pack, chat credits in use, goodwill credits voided."""
    initech = await Books.open(runtime, "demo-initech", "Initech", ("team", "platform"))
    await initech.purchase(
        "initech-pack-1m",
        "1M token pack",
        "1000000 TOKENS",
        INVOICE,
        ON_CREATION,
        price="0.002 USD",
    )
    await initech.promote(
        "initech-chat-promo",
        "Chat launch promotion",
        "50000 TOKENS",
        features=("chat_completion",),
        expires="P14D",
    )
    goodwill = await initech.promote("initech-goodwill", "Goodwill credits", "10000 TOKENS")
    await initech.void(goodwill, "issued to the wrong customer")
    await initech.consume("initech-chat-0001", "20000 TOKENS", "Chat", "chat_completion")
    await initech.consume("initech-usage-0001", "150000 TOKENS", "Embeddings")


async def umbrella(runtime: Runtime) -> None:
    """USD and EUR: a card payment that failed, an invoice funded at once and settled later."""
    umbrella = await Books.open(runtime, "demo-umbrella", "Umbrella Labs", ("plan", "usage"))
    card = await umbrella.purchase(
        "umbrella-card-0001", "Card top-up", "300 USD", EXTERNAL, ON_SETTLEMENT
    )
    await umbrella.settle(card, FAILED, "ch_declined_4417")
    invoice = await umbrella.purchase(
        "umbrella-invoice-0007", "Monthly invoice", "250 EUR", INVOICE, ON_CREATION
    )
    await umbrella.settle(invoice, SETTLED, "INV-2026-0007")
    await umbrella.promote("umbrella-trial", "Ten-minute trial", "25 USD", expires="PT10M")
    await umbrella.consume("umbrella-usage-0001", "5 USD", "First requests")


def money(text: str) -> tuple[Decimal, str]:
    """'12.50 USD' -> (Decimal('12.50'), 'USD')."""
    amount, currency = text.split()
    return Decimal(amount), currency


@dataclass
class Books:
    """One demo customer, and the requests its backend would make: one service call each."""

    runtime: Runtime
    customer_id: str

    @classmethod
    async def open(cls, runtime: Runtime, key: str, name: str, label: tuple[str, str]) -> Books:
        customer_id, _ = await customers.create_customer(
            runtime, key=key, name=name, description="A demo customer", labels=(label,)
        )
        return cls(runtime, customer_id)

    async def created_at(self) -> datetime:
        """A stored instant to place future grants from, so a repeated demo is a replay."""
        table = customer_table
        statement = select(table.c.created_at).where(table.c.id == self.customer_id)
        async with read_connection(self.runtime.engine) as connection:
            instant: datetime = (await connection.execute(statement)).scalar_one()
        return instant

    async def purchase(
        self,
        key: str,
        name: str,
        amount: str,
        funding: FundingMethod,
        policy: AvailabilityPolicy,
        *,
        price: str = "1",
        reference: str | None = None,
        expires: str | None = None,
    ) -> str:
        """`price` is per credit, with its currency when that differs: '0.002 USD'."""
        cost, *currency = price.split()
        terms = grants.PurchaseTerms(
            currency=currency[0] if currency else None,
            cost_basis=Decimal(cost),
            availability_policy=policy,
            payment_reference=reference,
        )
        base = self.request(key, name, amount, expires)
        request = replace(base, funding_method=funding, purchase=terms)
        return (await grants.purchase_credits(self.runtime, actor=OPEN, request=request)).grant_id

    async def promote(
        self,
        key: str,
        name: str,
        amount: str,
        *,
        priority: int = 10,
        features: tuple[str, ...] | None = None,
        expires: str | None = None,
        effective_at: datetime | None = None,
    ) -> str:
        base = self.request(key, name, amount, expires)
        request = replace(base, priority=priority, features=features, effective_at=effective_at)
        outcome = await grants.grant_promotional_credits(self.runtime, actor=OPEN, request=request)
        return outcome.grant_id

    def request(self, key: str, name: str, amount: str, expires: str | None) -> grants.GrantRequest:
        value, currency = money(amount)
        after = parse_duration(expires) if expires else None
        return grants.GrantRequest(
            self.customer_id, name, currency, value, key=key, expires_after=after
        )

    async def settle(self, grant_id: str, status: SettlementStatus, reference: str = "") -> None:
        await settlement.settle_credit_purchase(
            self.runtime,
            actor=OPEN,
            grant_id=grant_id,
            status=status,
            payment_reference=reference or None,
        )

    async def void(self, grant_id: str, reason: str) -> None:
        await settlement.void_credit_grant(
            self.runtime, actor=OPEN, grant_id=grant_id, reason=reason
        )

    async def consume(
        self, key: str, amount: str, description: str, feature_key: str | None = None
    ) -> str:
        value, currency = money(amount)
        request = consumption.ConsumeRequest(
            customer_id=self.customer_id,
            key=key,
            currency=currency,
            amount=value,
            feature_key=feature_key,
            description=description,
        )
        outcome = await consumption.consume_credits(self.runtime, actor=OPEN, request=request)
        return outcome.consumption_id

    async def reverse(self, consumption_id: str, key: str, amount: str, reason: str) -> None:
        await reversal.reverse_credit_consumption(
            self.runtime,
            actor=OPEN,
            consumption_id=consumption_id,
            key=key,
            amount=Decimal(amount),
            reason=reason,
        )
