"""Tools of the live tests: a uvicorn server on a real loopback socket, gql WebSocket
sessions, subscriptions read into queues, and writes through the services or over HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from gql import Client, GraphQLRequest
from gql.client import AsyncClientSession
from gql.transport.exceptions import TransportQueryError
from gql.transport.websockets import WebsocketsTransport
from sqlalchemy import event
from starlette.applications import Starlette

from app.cli import WS_COMPRESSION
from app.domain.events import Committed
from app.domain.grants import AvailabilityPolicy, FundingMethod, SettlementStatus
from app.domain.ledger import OPEN
from app.domain.time import FrozenClock
from app.live.broker import DEFAULT_CAPACITY, MemoryBroker, Subscription
from app.main import create_app
from app.services.consumption import ConsumeRequest, consume_credits
from app.services.customers import create_customer
from app.services.grants import (
    GrantRequest,
    PurchaseTerms,
    grant_promotional_credits,
    purchase_credits,
)
from app.services.runtime import Runtime
from app.services.settlement import settle_credit_purchase, void_credit_grant
from app.settings import Settings
from tests.api.conftest import create_schema

TRANSPORT_WS = WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL  # graphql-transport-ws
LEGACY_WS = WebsocketsTransport.APOLLO_SUBPROTOCOL  # graphql-ws
PROTOCOLS = [TRANSPORT_WS, LEGACY_WS]

BALANCE = """
subscription Balance($customerId: ID!, $currency: String!) {
  creditBalanceChanged(customerId: $customerId, currency: $currency) {
    currency available pending funded consumed expired voided
    availablePromotional availablePaid sequence
  }
}"""

ENTRIES = """
subscription Entries(
  $customerId: ID!, $currency: String, $types: [CreditLedgerEntryType!], $afterSequence: Int
) {
  creditLedgerEntryBooked(
    customerId: $customerId, currency: $currency, types: $types, afterSequence: $afterSequence
  ) { id sequence type currency amount transactionId }
}"""

GRANTS = """
subscription Grants($customerId: ID!) {
  creditGrantChanged(customerId: $customerId) {
    id name status amount remaining consumed expired voided
    purchase { settlementStatus }
  }
}"""

LEDGER = """
query Ledger($id: ID!, $currency: String!) {
  customer(id: $id) {
    creditLedger(first: 500, filter: {currency: $currency}) {
      edges { node { id sequence type currency amount transactionId } }
    }
  }
}"""

CONSUME = """
mutation Consume($input: ConsumeCreditsInput!) {
  consumeCredits(input: $input) { __typename ... on ConsumeCreditsSuccess { replayed } }
}"""


class Ended:
    """Put in a stream's queue when the server completed the subscription."""

    def __repr__(self) -> str:
        return "<the subscription completed>"


ENDED = Ended()


@dataclass
class Live:
    """A server listening on loopback: its WebSocket and HTTP addresses, the app, the runtime."""

    url: str
    http_url: str
    app: Starlette
    runtime: Runtime
    broker: MemoryBroker
    clock: FrozenClock
    statements: list[str] = field(default_factory=list)  # every statement run, in order

    # ---- writes through the services

    async def customer(self, key: str) -> str:
        customer_id, _ = await create_customer(self.runtime, key=key, name=key.title())
        return customer_id

    async def promote(self, customer_id: str, amount: str, **fields: Any) -> str:
        request = GrantRequest(
            customer_id=customer_id,
            name=fields.pop("name", "promo"),
            currency=fields.pop("currency", "USD"),
            amount=Decimal(amount),
            **fields,
        )
        outcome = await grant_promotional_credits(self.runtime, actor=OPEN, request=request)
        return outcome.grant_id

    async def purchase(
        self, customer_id: str, amount: str, policy: AvailabilityPolicy, **fields: Any
    ) -> str:
        request = GrantRequest(
            customer_id=customer_id,
            name=fields.pop("name", "purchase"),
            currency=fields.pop("currency", "USD"),
            amount=Decimal(amount),
            funding_method=FundingMethod.INVOICE,
            purchase=PurchaseTerms(availability_policy=policy),
            **fields,
        )
        outcome = await purchase_credits(self.runtime, actor=OPEN, request=request)
        return outcome.grant_id

    async def consume(self, customer_id: str, key: str, amount: str, **fields: Any) -> None:
        request = ConsumeRequest(
            customer_id=customer_id,
            key=key,
            currency=fields.pop("currency", "USD"),
            amount=Decimal(amount),
            **fields,
        )
        await consume_credits(self.runtime, actor=OPEN, request=request)

    async def settle(self, grant_id: str, status: SettlementStatus) -> None:
        await settle_credit_purchase(self.runtime, actor=OPEN, grant_id=grant_id, status=status)

    async def void(self, grant_id: str) -> None:
        await void_credit_grant(self.runtime, actor=OPEN, grant_id=grant_id, reason="test")

    # ---- over HTTP

    async def post(self, query: str, **variables: Any) -> dict[str, Any]:
        async with httpx.AsyncClient(base_url=self.http_url) as client:
            return await post(client, query, **variables)

    async def ledger(self, customer_id: str, currency: str = "USD") -> list[dict[str, Any]]:
        """The customer's ledger in one currency, read afterwards, in sequence order."""
        data = await self.post(LEDGER, id=customer_id, currency=currency)
        edges = data["customer"]["creditLedger"]["edges"]
        return sorted((edge["node"] for edge in edges), key=lambda entry: entry["sequence"])

    def subscribers(self) -> int:
        return self.broker.subscriber_count()


async def post(client: httpx.AsyncClient, query: str, **variables: Any) -> dict[str, Any]:
    response = await client.post("/graphql", json={"query": query, "variables": variables})
    body: dict[str, Any] = response.json()
    assert "errors" not in body, body["errors"]
    data: dict[str, Any] = body["data"]
    return data


async def consume_over_http(
    client: httpx.AsyncClient, customer_id: str, key: str, amount: str
) -> None:
    variables = {"customerId": customer_id, "key": key, "currency": "USD", "amount": amount}
    data = await post(client, CONSUME, input=variables)
    assert data["consumeCredits"] == {"__typename": "ConsumeCreditsSuccess", "replayed": False}


class HeldBroker(MemoryBroker):
    """A memory broker whose deliveries can be held back, then handed out all at once: what
    a subscriber lagging behind the commits sees (or a late LISTEN/NOTIFY)."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        super().__init__(capacity)
        self.held: list[Committed] | None = None

    def hold(self) -> None:
        self.held = []

    async def hand_out(self, *, reverse: bool = False) -> None:
        """Delivers what was held, in publication order or the reverse."""
        held, self.held = self.held or [], None
        for committed in reversed(held) if reverse else held:
            await super().publish(committed)

    async def publish(self, committed: Committed) -> None:
        if self.held is not None:
            self.held.append(committed)
        else:
            await super().publish(committed)


class FailingBroker(MemoryBroker):
    """A memory broker whose subscriptions fail unexpectedly on a change of a customer in
    `failing`: a stand-in for any bug on the live path."""

    def __init__(self) -> None:
        super().__init__()
        self.failing: set[str] = set()

    def subscribe(self, customer_id: str) -> Subscription:
        subscription = FailingFeed(self, customer_id, self.capacity, self.failing)
        self.subscribers[customer_id].add(subscription)
        return subscription


class FailingFeed(Subscription):
    def __init__(
        self, broker: MemoryBroker, customer_id: str, capacity: int, failing: set[str]
    ) -> None:
        super().__init__(broker, customer_id, capacity)
        self.failing = failing

    async def next(self) -> Committed:
        committed = await super().next()
        if committed.customer_id in self.failing:
            raise RuntimeError("secret internals of the failure")
        return committed


def loopback_socket(send_buffer: int | None = None) -> socket.socket:
    """A listening socket on 127.0.0.1, port 0; accepted sockets inherit its send buffer."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if send_buffer is not None:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, send_buffer)
    listener.bind(("127.0.0.1", 0))
    listener.listen(128)
    listener.setblocking(False)
    return listener


@contextlib.asynccontextmanager
async def serve(
    tmp_path: Path,
    clock: FrozenClock,
    *,
    broker: MemoryBroker | None = None,
    scheduler: bool = False,
    listener: socket.socket | None = None,
) -> AsyncIterator[Live]:
    """Runs the app under uvicorn on a loopback port of its own until the block ends."""
    url = f"sqlite:///{tmp_path}/credits.db"
    await create_schema(url)
    broker = broker if broker is not None else MemoryBroker()
    settings = Settings(database_url=url, scheduler_enabled=scheduler, scheduler_interval=0.01)
    app = create_app(settings, clock=clock, publisher=broker)
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=0,
        lifespan="on",
        log_config=None,
        log_level="warning",
        ws_per_message_deflate=WS_COMPRESSION,  # as `credits serve`
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=None if listener is None else [listener]))
    try:
        while not server.started:
            if task.done():
                task.result()
                raise RuntimeError("uvicorn stopped before it started")
            await asyncio.sleep(0.005)
        host, port = server.servers[0].sockets[0].getsockname()[:2]
        live = Live(
            url=f"ws://{host}:{port}/graphql",
            http_url=f"http://{host}:{port}",
            app=app,
            runtime=app.state.runtime,
            broker=broker,
            clock=clock,
        )

        @event.listens_for(live.runtime.engine.sync_engine, "after_cursor_execute")
        def record(connection: Any, cursor: Any, statement: str, *args: Any) -> None:
            live.statements.append(statement)

        yield live
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)
        if listener is not None:
            listener.close()


@contextlib.asynccontextmanager
async def connect(
    live: Live, protocol: str = TRANSPORT_WS, **connect_args: Any
) -> AsyncIterator[AsyncClientSession]:
    """One WebSocket connection to the server, speaking the given subprotocol."""
    transport = WebsocketsTransport(
        url=live.url, subprotocols=[protocol], connect_args=connect_args, close_timeout=2
    )
    async with Client(transport=transport) as session:
        assert isinstance(session, AsyncClientSession)
        yield session


class Stream:
    """One subscription, read by a task of its own: its events, then the error that ended
    it or ENDED, arrive in a queue in order."""

    def __init__(self, session: AsyncClientSession, query: str, **variables: Any) -> None:
        self.items: asyncio.Queue[dict[str, Any] | Exception | Ended] = asyncio.Queue()
        request = GraphQLRequest(query, variable_values=variables)
        self.task = asyncio.create_task(self._read(session, request))

    async def _read(self, session: AsyncClientSession, request: GraphQLRequest) -> None:
        try:
            async for result in session.subscribe(request):
                [value] = result.values()  # the root field's value
                self.items.put_nowait(value)
        except Exception as error:
            self.items.put_nowait(error)
        else:
            self.items.put_nowait(ENDED)

    async def item(self, within: float = 5.0) -> dict[str, Any] | Exception | Ended:
        return await asyncio.wait_for(self.items.get(), within)

    async def next(self, within: float = 5.0) -> dict[str, Any]:
        item = await self.item(within)
        assert isinstance(item, dict), f"expected an event, got {item!r}"
        return item

    async def take(self, count: int, within: float = 10.0) -> list[dict[str, Any]]:
        async with asyncio.timeout(within):
            return [await self.next(within) for _ in range(count)]

    async def error(self, within: float = 5.0) -> dict[str, Any]:
        """The one GraphQL error that ended the subscription."""
        return the_error(await self.item(within))

    async def events_then_error(
        self, within: float = 5.0
    ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """The events still to come, then the one GraphQL error that ended the subscription."""
        events = []
        while isinstance(item := await self.item(within), dict):
            events.append(item)
        return events, the_error(item)

    async def until(
        self, last: Callable[[dict[str, Any]], bool], within: float = 30.0
    ) -> list[dict[str, Any]]:
        """The events up to the first that is `last`, however long a loaded machine takes
        to send them (`within` only guards against a hang)."""
        async with asyncio.timeout(within):
            events = [await self.next(within)]
            while not last(events[-1]):
                events.append(await self.next(within))
        return events

    async def quiet(self, seconds: float = 0.2) -> None:
        """Nothing more arrives for a while."""
        await asyncio.sleep(seconds)
        assert self.items.empty(), f"unexpected: {self.items.get_nowait()!r}"

    async def close(self) -> None:
        """Stop reading: gql completes the operation on the server."""
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


def tcp_of(session: AsyncClientSession) -> asyncio.Transport:
    """The asyncio transport under gql's websockets connection."""
    transport: asyncio.Transport = session.transport.adapter.websocket.transport
    return transport


def the_error(item: dict[str, Any] | Exception | Ended) -> dict[str, Any]:
    assert isinstance(item, TransportQueryError), f"expected a GraphQL error, got {item!r}"
    assert item.errors is not None and len(item.errors) == 1, item.errors
    error: dict[str, Any] = item.errors[0]
    return error


async def until(predicate: Callable[[], bool], what: str, within: float = 5.0) -> None:
    """Polls briefly until the predicate holds."""
    deadline = asyncio.get_running_loop().time() + within
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.005)


async def subscribed(live: Live, count: int, within: float = 5.0) -> None:
    """Waits until the broker holds exactly `count` subscriptions."""
    await until(lambda: live.subscribers() == count, f"{count} subscribers", within)


async def ledgers_started(live: Live, count: int) -> None:
    """Waits until `count` creditLedgerEntryBooked subscriptions (since the server started)
    have read their starting sequences, which they do after subscribing to the broker:
    every entry committed from now on reaches them, none committed before does (without
    afterSequence)."""

    def started() -> int:
        reads = live.app.state.sessions.reads
        return 0 if reads is None else int(reads.sequences.answered)

    await until(lambda: started() >= count, f"{count} ledger subscriptions reading sequences")


def balance(
    available: str,
    sequence: int,
    *,
    pending: str = "0.00",
    funded: str = "0.00",
    consumed: str = "0.00",
    expired: str = "0.00",
    voided: str = "0.00",
    promotional: str | None = None,
    paid: str = "0.00",
) -> dict[str, Any]:
    """A USD balance as creditBalanceChanged sends it."""
    return {
        "currency": "USD",
        "available": available,
        "pending": pending,
        "funded": funded,
        "consumed": consumed,
        "expired": expired,
        "voided": voided,
        "availablePromotional": available if promotional is None else promotional,
        "availablePaid": paid,
        "sequence": sequence,
    }
