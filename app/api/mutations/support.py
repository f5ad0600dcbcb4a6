"""What every mutation shares: the role check, running the use case, mapping its answer."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from strawberry.types import Info

from app.api.balances import CreditBalance
from app.api.context import Context
from app.api.errors import ErrorCode, ForbiddenError, to_graphql
from app.api.mutation_results import CreditGrantSuccess
from app.domain.balances import Balance
from app.domain.errors import DomainError
from app.services import grants

T = TypeVar("T")


def forbidden(info: Info[Context, None], mutation: str) -> ForbiddenError | None:
    """The refusal for a mutation the viewer's role may not make (portal tokens: none)."""
    viewer = info.context.viewer
    if viewer is not None and viewer.may_mutate(mutation):
        return None
    role = viewer.role.value if viewer is not None and viewer.role else "a portal token"
    message = f"{mutation} is not allowed for {role}"
    return ForbiddenError(code=ErrorCode.FORBIDDEN, message=message)


async def answer(
    info: Info[Context, None], call: Awaitable[T], success: Callable[[T], Awaitable[Any]]
) -> Any:
    """Run the use case; an expected failure becomes a member of the result union.

    The answer is read at a fresh instant: the change happened after the request began.
    """
    try:
        outcome = await call
    except DomainError as error:
        return to_graphql(error)
    info.context.refresh()
    return await success(outcome)


async def balance_of(info: Info[Context, None], balance: Balance) -> CreditBalance:
    scales = await info.context.loaders.scales([balance.currency])
    return CreditBalance.from_balance(balance, scales[balance.currency])


def grant_success(
    info: Info[Context, None],
) -> Callable[[grants.GrantOutcome], Awaitable[CreditGrantSuccess]]:
    async def success(outcome: grants.GrantOutcome) -> CreditGrantSuccess:
        grant = await info.context.loaders.grant(outcome.grant_id)
        balance = await balance_of(info, outcome.balance)
        return CreditGrantSuccess(grant=grant, balance=balance, replayed=outcome.replayed)

    return success
