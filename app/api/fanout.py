"""One execution and one encoding per event, shared by every subscriber of the same document.

The subscription streams hand every subscriber of one change the same object (one shared
read, one mapping). Executing a subscription's selection set on it depends only on that
object, the operation, its variables and the viewer (kind, role, customer); so the first
subscriber of an event executes it and the others with the same operation, variables and
viewer take its result (one whose execution raised errors is not shared: each subscriber
gets its own, with its own request id). Sending then encodes each distinct result once:
per subscriber, only the message's id is written around the shared bytes. A result
without errors goes from the subscription's stream straight to its socket (`direct`),
skipping Strawberry's per-result work.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Hashable, Mapping
from contextvars import ContextVar
from inspect import isawaitable, iscoroutine
from typing import Any, Protocol

from graphql import ExecutionResult
from graphql.execution.executor import Executor
from graphql.pyutils.ref_map import RefMap
from starlette.websockets import WebSocketDisconnect
from strawberry.http.exceptions import WebSocketDisconnected
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

RECENT = 512  # events' results and encodings kept: a few per live change suffice


class Recent(OrderedDict[Hashable, Any]):
    """The last RECENT entries, by insertion."""

    def keep(self, key: Hashable, value: Any) -> None:
        self[key] = value
        if len(self) > RECENT:
            self.popitem(last=False)


class Sharing:
    """Per process: recent executions by event, and recent encodings by result."""

    def __init__(self) -> None:
        self.executions = Recent()
        self.encodings = Recent()
        self.heads = Recent()  # messages up to their payloads, by what precedes it
        self.executed = 0  # selection sets executed for events, for tests
        self.encoded = 0  # event payloads encoded, for tests
        self.direct = 0  # events sent straight to a socket, for tests
        self.processed = 0  # events that went through Strawberry's per-result chain
        self.fast = 0  # events written by the fast lane, in the change's delivery


SHARING = Sharing()


class EventExecutor(StrawberryGraphQLCoreExecutionContext):
    """Executes each subscription event once per operation, variables and viewer.

    Also gives each event its own memo of collected subfields: graphql-core 3.3.2 copies
    the executor per event but shares that memo, keyed by the id of lists built anew for
    each event, so a long-lived subscription grew by one entry per event, for ever.
    """

    per_event = False

    def cancellable_iterable(self, iterable: Any) -> Any:
        # called once per subscription, in its operation's task, before its first event
        SUBSCRIPTION.set(self)
        return super().cancellable_iterable(iterable)

    def build_per_event_executor(self, payload: Any) -> Executor[Any]:
        executor = super().build_per_event_executor(payload)
        executor._relevant_sub_fields = {}
        executor._stream_usages = RefMap()
        executor.per_event = True  # type: ignore[attr-defined]
        return executor

    def execute_operation(self, serially: bool | None = None) -> Any:
        run = super().execute_operation
        if not self.per_event:
            return run(serially)
        return shared_execution(self, event_key(self), lambda: run(False))


def event_key(executor: Executor[Any], root: Any = None) -> Hashable:
    root = executor.root_value if root is None else root
    return (id(root), *asking(executor))


def asking(executor: Executor[Any]) -> tuple[Hashable, ...]:
    """The operation, its variables and who is asking, as far as any field could tell
    (kind, role and customer scope): the same for every event of a subscription, so
    worked out once for it (an event's executor is a copy and finds it in its memo)."""
    found: tuple[Hashable, ...] | None = executor.__dict__.get("_asking")
    if found is None:
        viewer = getattr(executor.context_value, "viewer", None)
        scope = None if viewer is None else (viewer.kind, viewer.role, viewer.customer_id)
        variables = repr(sorted(executor.variable_values.coerced.items()))
        found = executor.__dict__["_asking"] = (id(executor.operation), variables, scope)
    return found


def shared_execution(executor: Executor[Any], key: Hashable, run: Callable[[], Any]) -> Any:
    """The result of this event's execution for its key: run here, or the one run for an
    earlier subscriber (awaited if still running)."""
    found = SHARING.executions.get(key)
    if found is not None and found[0] is executor.root_value:
        result = found[2]
        if isinstance(result, ExecutionResult):
            return result
        return joined(result, lambda: fresh(executor, run))
    SHARING.executed += 1
    result = fresh(executor, run)
    if isawaitable(result):
        result = asyncio.ensure_future(result)
        SHARING.executions.keep(key, (executor.root_value, executor.operation, result))
        return owned(result)
    if not result.errors:
        SHARING.executions.keep(key, (executor.root_value, executor.operation, result))
    return result


def fresh(executor: Executor[Any], run: Callable[[], Any]) -> Any:
    """Runs the execution with fresh loaders for the fields nested in the event."""
    refresh = getattr(executor.context_value, "refresh", None)
    if refresh is not None:
        refresh()
    return run()


async def owned(task: asyncio.Future[ExecutionResult]) -> ExecutionResult:
    return await asyncio.shield(task)  # the first subscriber leaving leaves it to the others


async def joined(task: asyncio.Future[ExecutionResult], run: Callable[[], Any]) -> ExecutionResult:
    result = await asyncio.shield(task)
    if not result.errors:
        return result
    own = run()  # errors carry the request id of whoever executed: each gets its own
    return await own if isawaitable(own) else own  # type: ignore[no-any-return]


def encoded_message(message: Mapping[str, Any], encode: Callable[[Any], str | bytes]) -> str | None:
    """A `next`/`data` message whose payload is data alone, as text, its payload encoded
    once for every subscriber it goes to; None for any other message."""
    payload = message.get("payload")
    if (
        not isinstance(payload, dict)
        or payload.keys() != {"data"}
        or list(message)[-1] != "payload"
    ):
        return None
    data = payload["data"]
    found = SHARING.encodings.get(id(data))
    if found is None or found[0] is not data:
        SHARING.encoded += 1
        found = (data, as_text(encode(payload)))
        SHARING.encodings.keep(id(data), found)
    return f"{head_of(message, encode)}{found[1]}}}"


def head_of(message: Mapping[str, Any], encode: Callable[[Any], str | bytes]) -> str:
    """The message up to its payload, as text: the same for every event of an operation."""
    key = tuple((k, v) for k, v in message.items() if k != "payload")
    head: str | None = SHARING.heads.get(key)
    if head is None:
        head = as_text(encode(dict(key)))[:-1] + ',"payload":'
        SHARING.heads.keep(key, head)
    return head


class Outlet(Protocol):
    """How an operation's results go to its socket: awaited, or at once when it can."""

    async def __call__(self, data: Any) -> None: ...

    def ready(self) -> bool:
        """Whether `send_now` would write at once."""
        ...

    def send_now(self, data: Any) -> None: ...


SUBSCRIPTION: ContextVar[Executor[Any]] = ContextVar("subscription")
OUTLET: ContextVar[Outlet] = ContextVar("outlet")


async def direct(
    events: AsyncIterator[Any], keep: Callable[[Any], bool] | None = None
) -> AsyncIterator[Any]:
    """A subscription's events, each executed (shared) and sent straight to its socket
    here, in the subscription's own task and order: Strawberry's per-result chain
    (extension hooks, per-event executor, message building) is skipped for every
    subscriber that takes a shared result. Only events whose execution had errors, or
    with no socket to send to, are yielded on to Strawberry."""
    executor: Executor[Any] | None = None
    outlet: Outlet | None = None
    async for event in events:
        if keep is not None and not keep(event):
            continue
        if executor is None or outlet is None:  # both set before the first event, if ever
            executor, outlet = SUBSCRIPTION.get(None), OUTLET.get(None)
        if executor is None or outlet is None:
            yield event
            continue
        result = await executed(executor, event)
        if result.errors:
            yield event  # each subscriber gets its own error, with its own request id
            continue
        SHARING.direct += 1
        await outlet(result.data)


async def executed(executor: Executor[Any], event: Any) -> ExecutionResult:
    found = executed_now(executor, event)
    if found is not None:
        return found
    result = executor.build_per_event_executor(event).execute_operation(False)
    done = await result if isawaitable(result) else result
    assert isinstance(done, ExecutionResult)  # a subscription's event: never incremental
    return done


def executed_now(executor: Executor[Any], event: Any) -> ExecutionResult | None:
    """The event's result if it is, or can be, had without waiting: shared, or executed
    here at once (None if the execution, or the one this shares, has to wait for a read:
    it goes on, shared, for whoever awaits it)."""
    found = SHARING.executions.get(event_key(executor, event))
    if found is not None and found[0] is event:
        return found[2] if isinstance(found[2], ExecutionResult) else None
    result = executor.build_per_event_executor(event).execute_operation(False)
    if isawaitable(result):
        if iscoroutine(result):
            result.close()  # a wait on the shared execution, which its task keeps running
        return None
    assert isinstance(result, ExecutionResult)
    return result


def as_text(encoded: str | bytes) -> str:
    return encoded.decode() if isinstance(encoded, bytes) else encoded


async def send_text(websocket: Any, text: str) -> None:
    """What strawberry's ASGI adapter does with an encoded message."""
    try:
        await websocket.ws.send_text(text)
    except WebSocketDisconnect as error:
        raise WebSocketDisconnected from error
