"""Availability policies, settleCreditPurchase and voidCreditGrant over HTTP."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from app.domain.time import FrozenClock
from tests.api.conftest import Api
from tests.api.test_mutations_support import (
    PROMOTE,
    PURCHASE,
    UNKNOWN_GRANT,
    case,
    consumed,
    counts,
    entries,
    fields_of,
    granted,
    moves,
    new_customer,
    outcome,
    settle,
    void,
    written,
)

NOW = "2026-01-15T12:00:00Z"
LATER = "2026-01-15T13:00:00Z"


async def paid_grant(
    api: Api, policy: str = "ON_CREATION", status: str = "PENDING", **fields: Any
) -> tuple[str, dict[str, Any]]:
    """A customer and a 100 USD purchase with the given terms; returns (customer id, grant)."""
    customer_id = await new_customer(api)
    terms = {"availabilityPolicy": policy, "settlementStatus": status}
    grant = await granted(api, PURCHASE, customer_id, purchase=terms, **fields)
    return customer_id, grant


def payment(result: dict[str, Any]) -> tuple[str, str | None, str | None, str | None]:
    terms = result["grant"]["purchase"]
    return (
        terms["settlementStatus"],
        terms["authorizedAt"],
        terms["settledAt"],
        terms["failedAt"],
    )


# ---------------------------------------------------------------- availability policies


@pytest.mark.parametrize(
    ("policy", "status", "funded"),
    [
        ("ON_CREATION", "PENDING", True),
        ("ON_AUTHORIZATION", "PENDING", False),
        ("ON_AUTHORIZATION", "AUTHORIZED", True),
        ("ON_AUTHORIZATION", "SETTLED", True),
        ("ON_SETTLEMENT", "PENDING", False),
        ("ON_SETTLEMENT", "AUTHORIZED", False),
        ("ON_SETTLEMENT", "SETTLED", True),
    ],
)
async def test_a_purchase_is_funded_at_creation_only_when_its_policy_is_met(
    api: Api, policy: str, status: str, funded: bool
) -> None:
    customer_id = await new_customer(api)
    terms = {"availabilityPolicy": policy, "settlementStatus": status}

    result = await granted(api, PURCHASE, customer_id, purchase=terms)

    assert result["status"] == ("ACTIVE" if funded else "PENDING")
    [balance] = (await written(api, customer_id))["creditBalances"]
    assert (balance["available"], balance["pending"]) == (
        ("100.00", "0.00") if funded else ("0.00", "100.00")
    )
    assert await counts(api, customer_id) == (1, 1 if funded else 0)


async def test_on_authorization_credits_are_funded_when_the_payment_is_authorized(
    api: Api, clock: FrozenClock
) -> None:
    customer_id, grant = await paid_grant(api, "ON_AUTHORIZATION")
    clock.advance(timedelta(hours=1))

    result = await settle(api, grant["id"], "AUTHORIZED")

    assert result["__typename"] == "CreditGrantSuccess"
    assert result["replayed"] is False
    assert result["grant"]["status"] == "ACTIVE"
    assert payment(result) == ("AUTHORIZED", LATER, None, None)
    assert (result["balance"]["available"], result["balance"]["pending"]) == ("100.00", "0.00")
    [funded] = await entries(api, customer_id)
    assert (funded["type"], funded["amount"], funded["bookedAt"]) == ("FUNDED", "100.00", LATER)
    assert funded["actor"]["type"] == "OPEN"


async def test_on_authorization_credits_are_funded_when_the_payment_settles_at_once(
    api: Api,
) -> None:
    customer_id, grant = await paid_grant(api, "ON_AUTHORIZATION")

    result = await settle(api, grant["id"], "SETTLED")

    assert result["grant"]["status"] == "ACTIVE"
    assert payment(result) == ("SETTLED", NOW, NOW, None)
    assert moves(await entries(api, customer_id)) == [("FUNDED", "Credit pack", "100.00")]


async def test_on_settlement_credits_wait_for_settlement_and_not_for_authorization(
    api: Api, clock: FrozenClock
) -> None:
    customer_id, grant = await paid_grant(api, "ON_SETTLEMENT")

    authorized = await settle(api, grant["id"], "AUTHORIZED")
    assert authorized["grant"]["status"] == "PENDING"
    assert authorized["balance"]["pending"] == "100.00"
    assert await counts(api, customer_id) == (1, 0)
    clock.advance(timedelta(hours=1))

    settled = await settle(api, grant["id"], "SETTLED")

    assert settled["grant"]["status"] == "ACTIVE"
    assert payment(settled) == ("SETTLED", NOW, LATER, None)
    assert (settled["balance"]["available"], settled["balance"]["pending"]) == ("100.00", "0.00")
    [funded] = await entries(api, customer_id)
    assert (funded["type"], funded["bookedAt"]) == ("FUNDED", LATER)


async def test_a_settled_purchase_effective_later_is_funded_at_its_effective_time(
    api: Api, clock: FrozenClock
) -> None:
    customer_id, grant = await paid_grant(api, "ON_SETTLEMENT", effectiveAt="2026-02-01T00:00:00Z")
    settled = await settle(api, grant["id"], "SETTLED")
    assert settled["grant"]["status"] == "PENDING"
    clock.set(datetime(2026, 2, 2, tzinfo=UTC))

    [funded] = await entries(api, customer_id)

    assert (funded["type"], funded["bookedAt"]) == ("FUNDED", "2026-02-01T00:00:00Z")
    assert funded["actor"] == {"type": "SYSTEM", "id": None, "name": "system"}


async def test_a_late_payment_report_is_recorded_but_the_ledger_is_not_backdated(
    api: Api, clock: FrozenClock
) -> None:
    customer_id, grant = await paid_grant(api, "ON_SETTLEMENT", effectiveAt="2026-01-01T00:00:00Z")
    clock.advance(timedelta(hours=1))

    result = await settle(api, grant["id"], "SETTLED", occurredAt="2026-01-15T12:30:00+01:00")

    assert payment(result) == (
        "SETTLED",
        "2026-01-15T11:30:00Z",
        "2026-01-15T11:30:00Z",
        None,
    )
    [funded] = await entries(api, customer_id)
    assert funded["bookedAt"] == LATER


# ---------------------------------------------------------------- settleCreditPurchase


@pytest.mark.parametrize(
    ("initial", "target", "expected"),
    [
        ("PENDING", "AUTHORIZED", ("AUTHORIZED", LATER, None, None)),
        ("PENDING", "SETTLED", ("SETTLED", LATER, LATER, None)),
        ("PENDING", "FAILED", ("FAILED", None, None, LATER)),
        ("AUTHORIZED", "SETTLED", ("SETTLED", NOW, LATER, None)),
        ("AUTHORIZED", "FAILED", ("FAILED", NOW, None, LATER)),
    ],
)
async def test_settle_credit_purchase_makes_every_allowed_move(
    api: Api, clock: FrozenClock, initial: str, target: str, expected: tuple[Any, ...]
) -> None:
    _, grant = await paid_grant(api, status=initial)
    clock.advance(timedelta(hours=1))

    result = await settle(api, grant["id"], target, paymentReference="pi_1")

    assert result["__typename"] == "CreditGrantSuccess"
    assert result["replayed"] is False
    assert payment(result) == expected
    assert result["grant"]["purchase"]["paymentReference"] == "pi_1"
    assert result["grant"]["updatedAt"] == LATER


@pytest.mark.parametrize("status", ["AUTHORIZED", "SETTLED", "FAILED"])
async def test_settling_to_the_current_status_replays_and_changes_nothing(
    api: Api, clock: FrozenClock, status: str
) -> None:
    customer_id, grant = await paid_grant(api)
    first = await settle(api, grant["id"], status, paymentReference="pi_1")
    before = await written(api, customer_id)
    clock.advance(timedelta(hours=1))

    again = await settle(
        api, grant["id"], status, paymentReference="pi_2", occurredAt="2026-01-15T12:30:00Z"
    )

    assert again["__typename"] == "CreditGrantSuccess"
    assert again["replayed"] is True
    assert again["grant"] == first["grant"]
    after = await written(api, customer_id)
    assert after["creditLedger"] == before["creditLedger"]
    assert after["creditGrants"] == before["creditGrants"]


@pytest.mark.parametrize(
    ("moves_made", "target", "current"),
    [
        (["SETTLED"], "AUTHORIZED", "SETTLED"),
        (["SETTLED"], "FAILED", "SETTLED"),
        (["AUTHORIZED", "SETTLED"], "AUTHORIZED", "SETTLED"),
        (["FAILED"], "SETTLED", "FAILED"),
        (["FAILED"], "AUTHORIZED", "FAILED"),
        (["AUTHORIZED", "FAILED"], "SETTLED", "FAILED"),
    ],
)
async def test_a_refused_settlement_move_is_an_invalid_state_with_the_payment_status(
    api: Api, moves_made: list[str], target: str, current: str
) -> None:
    customer_id, grant = await paid_grant(api)
    for status in moves_made:
        await settle(api, grant["id"], status)
    before = await written(api, customer_id)

    result = await settle(api, grant["id"], target)

    assert result["__typename"] == "InvalidStateError"
    assert result["code"] == "INVALID_STATE"
    assert result["currentState"] == current
    assert await written(api, customer_id) == before


async def test_settling_a_promotional_grant_is_an_invalid_state_with_no_payment(
    api: Api,
) -> None:
    customer_id = await new_customer(api)
    grant = await granted(api, PROMOTE, customer_id)

    result = await settle(api, grant["id"], "SETTLED")

    assert result["__typename"] == "InvalidStateError"
    assert result["currentState"] == "NO_PAYMENT"


async def test_settling_to_pending_is_a_validation_error_on_status_checked_first(
    api: Api,
) -> None:
    customer_id, grant = await paid_grant(api)

    result = await settle(api, grant["id"], "PENDING")
    malformed = await settle(api, "not-an-id", "PENDING", occurredAt="2030-01-01T00:00:00Z")

    assert fields_of(result) == [["input", "status"]]
    assert fields_of(malformed) == [["input", "status"]]
    assert (await written(api, customer_id))["creditGrants"]["edges"][0]["node"]["purchase"][
        "settlementStatus"
    ] == "PENDING"


BAD_SETTLEMENTS: list[tuple[dict[str, Any], list[str]]] = [
    ({"occurredAt": "2026-01-15T12:00:01Z"}, ["input", "occurredAt"]),
    ({"occurredAt": "2026-01-15T13:00:00+00:30"}, ["input", "occurredAt"]),
    ({"occurredAt": "2026-01-15T12:00:00"}, ["input", "occurredAt"]),
    ({"paymentReference": ""}, ["input", "paymentReference"]),
    ({"paymentReference": "p" * 257}, ["input", "paymentReference"]),
]


async def test_settle_credit_purchase_refuses_any_invalid_field_and_changes_nothing(
    api: Api,
) -> None:
    customer_id, grant = await paid_grant(api, "ON_SETTLEMENT")

    found = {}
    for index, (fields, _) in enumerate(BAD_SETTLEMENTS):
        found[case(index, fields)] = outcome(await settle(api, grant["id"], "SETTLED", **fields))

    assert found == {case(i, fields): [field] for i, (fields, field) in enumerate(BAD_SETTLEMENTS)}
    node = (await written(api, customer_id))["creditGrants"]["edges"][0]["node"]
    assert (node["status"], node["purchase"]["settlementStatus"]) == ("PENDING", "PENDING")
    assert await counts(api, customer_id) == (1, 0)


async def test_settle_credit_purchase_reports_every_issue_at_once(api: Api) -> None:
    result = await settle(
        api, "grant-1", "SETTLED", paymentReference="", occurredAt="2027-01-01T00:00:00Z"
    )

    assert fields_of(result) == [
        ["input", "grantId"],
        ["input", "paymentReference"],
        ["input", "occurredAt"],
    ]


async def test_settle_credit_purchase_with_a_malformed_grant_id_is_a_validation_error(
    api: Api,
) -> None:
    result = await settle(api, "grt_123", "SETTLED")

    assert fields_of(result) == [["input", "grantId"]]


async def test_settling_an_unknown_grant_is_not_found(api: Api) -> None:
    result = await settle(api, UNKNOWN_GRANT, "SETTLED")

    assert result["__typename"] == "NotFoundError"
    assert result["code"] == "NOT_FOUND"
    assert result["id"] == UNKNOWN_GRANT


async def test_settling_with_a_customer_id_as_grant_id_is_not_found(api: Api) -> None:
    customer_id = await new_customer(api)

    result = await settle(api, customer_id, "SETTLED")

    assert result["__typename"] == "NotFoundError"
    assert result["id"] == customer_id


async def test_a_failed_payment_voids_an_active_grant_and_forfeits_what_remains(
    api: Api, clock: FrozenClock
) -> None:
    customer_id, grant = await paid_grant(api)
    await consumed(api, customer_id, "usage-1", "30")
    clock.advance(timedelta(hours=1))

    result = await settle(api, grant["id"], "FAILED")

    voided = result["grant"]
    assert (voided["status"], voided["voidedAt"], voided["voidReason"]) == (
        "VOIDED",
        LATER,
        "payment failed",
    )
    assert (voided["remaining"], voided["consumed"], voided["voided"]) == ("0.00", "30.00", "70.00")
    assert payment(result) == ("FAILED", None, None, LATER)
    balance = result["balance"]
    assert (balance["available"], balance["consumed"], balance["voided"]) == (
        "0.00",
        "30.00",
        "70.00",
    )
    ledger = await entries(api, customer_id)
    assert moves(ledger) == [
        ("FUNDED", "Credit pack", "100.00"),
        ("CONSUMED", "Credit pack", "-30.00"),
        ("VOIDED", "Credit pack", "-70.00"),
    ]
    assert (ledger[2]["bookedAt"], ledger[2]["availableBalanceAfter"]) == (LATER, "0.00")


async def test_a_failed_payment_voids_a_pending_grant_without_an_entry(api: Api) -> None:
    customer_id, grant = await paid_grant(api, "ON_SETTLEMENT")

    result = await settle(api, grant["id"], "FAILED")

    assert (result["grant"]["status"], result["grant"]["voidReason"]) == (
        "VOIDED",
        "payment failed",
    )
    assert (result["balance"]["pending"], result["balance"]["voided"]) == ("0.00", "0.00")
    assert await counts(api, customer_id) == (1, 0)


async def test_a_failed_payment_leaves_a_depleted_grant_depleted(api: Api) -> None:
    customer_id, grant = await paid_grant(api)
    await consumed(api, customer_id, "usage-1", "100")

    result = await settle(api, grant["id"], "FAILED")

    assert result["grant"]["status"] == "DEPLETED"
    assert result["grant"]["voidReason"] is None
    assert payment(result)[0] == "FAILED"
    assert (await counts(api, customer_id))[1] == 2


async def test_the_payment_of_a_voided_grant_may_settle_but_does_not_fund_it(api: Api) -> None:
    customer_id, grant = await paid_grant(api, "ON_SETTLEMENT")
    await void(api, grant["id"])

    result = await settle(api, grant["id"], "SETTLED")

    assert result["replayed"] is False
    assert result["grant"]["status"] == "VOIDED"
    assert payment(result) == ("SETTLED", NOW, NOW, None)
    assert result["balance"]["available"] == "0.00"
    assert await counts(api, customer_id) == (1, 0)


async def test_settling_the_payment_of_a_grant_expired_unfunded_does_not_fund_it(
    api: Api, clock: FrozenClock
) -> None:
    customer_id, grant = await paid_grant(api, "ON_SETTLEMENT", expiresAfter="P1D")
    clock.advance(timedelta(days=2))

    result = await settle(api, grant["id"], "SETTLED")

    assert result["replayed"] is False
    assert result["grant"]["status"] == "EXPIRED"
    assert payment(result)[0] == "SETTLED"
    assert (result["balance"]["available"], result["balance"]["pending"]) == ("0.00", "0.00")
    assert await counts(api, customer_id) == (1, 0)


async def test_a_failed_payment_leaves_an_expired_grant_expired(
    api: Api, clock: FrozenClock
) -> None:
    customer_id, grant = await paid_grant(api, expiresAfter="P1D")
    clock.advance(timedelta(days=2))

    result = await settle(api, grant["id"], "FAILED")

    assert (result["grant"]["status"], result["grant"]["voidReason"]) == ("EXPIRED", None)
    assert moves(await entries(api, customer_id)) == [
        ("FUNDED", "Credit pack", "100.00"),
        ("EXPIRED", "Credit pack", "-100.00"),
    ]


# ---------------------------------------------------------------- voidCreditGrant


async def test_voiding_a_pending_grant_writes_no_entry_and_it_is_never_funded(
    api: Api, clock: FrozenClock
) -> None:
    customer_id = await new_customer(api)
    grant = await granted(api, PROMOTE, customer_id, effectiveAt="2026-02-01T00:00:00Z")

    result = await void(api, grant["id"], reason="customer churned")

    assert result["__typename"] == "CreditGrantSuccess"
    assert result["replayed"] is False
    voided = result["grant"]
    assert (voided["status"], voided["voidedAt"], voided["voidReason"]) == (
        "VOIDED",
        NOW,
        "customer churned",
    )
    assert (voided["remaining"], voided["voided"]) == ("0.00", "0.00")
    assert (result["balance"]["pending"], result["balance"]["voided"]) == ("0.00", "0.00")
    clock.set(datetime(2026, 2, 2, tzinfo=UTC))
    assert await counts(api, customer_id) == (1, 0)


async def test_voiding_an_active_grant_forfeits_what_remains(api: Api, clock: FrozenClock) -> None:
    customer_id = await new_customer(api)
    grant = await granted(api, PROMOTE, customer_id, amount="100")
    await consumed(api, customer_id, "usage-1", "40")
    clock.advance(timedelta(hours=1))

    result = await void(api, grant["id"])

    voided = result["grant"]
    assert (voided["status"], voided["voidedAt"], voided["voidReason"]) == ("VOIDED", LATER, None)
    assert (voided["remaining"], voided["consumed"], voided["voided"]) == ("0.00", "40.00", "60.00")
    assert (result["balance"]["available"], result["balance"]["voided"]) == ("0.00", "60.00")
    last = (await entries(api, customer_id))[-1]
    assert (last["type"], last["amount"], last["bookedAt"]) == ("VOIDED", "-60.00", LATER)
    assert (last["availableBalanceBefore"], last["availableBalanceAfter"]) == ("60.00", "0.00")
    assert last["actor"]["type"] == "OPEN"


async def test_voiding_a_voided_grant_replays_and_writes_nothing(
    api: Api, clock: FrozenClock
) -> None:
    customer_id = await new_customer(api)
    grant = await granted(api, PROMOTE, customer_id)
    first = await void(api, grant["id"], reason="fraud")
    clock.advance(timedelta(hours=1))

    again = await void(api, grant["id"], reason="another reason")

    assert again["__typename"] == "CreditGrantSuccess"
    assert again["replayed"] is True
    assert again["grant"] == first["grant"]
    assert await counts(api, customer_id) == (1, 2)


async def test_voiding_a_grant_leaves_its_payment_as_it_is(api: Api) -> None:
    _, grant = await paid_grant(api, status="AUTHORIZED")

    result = await void(api, grant["id"])

    assert result["grant"]["status"] == "VOIDED"
    assert payment(result) == ("AUTHORIZED", NOW, None, None)


async def test_voiding_a_depleted_grant_is_an_invalid_state(api: Api) -> None:
    customer_id = await new_customer(api)
    grant = await granted(api, PROMOTE, customer_id)
    await consumed(api, customer_id, "usage-1", "25")

    result = await void(api, grant["id"])

    assert result["__typename"] == "InvalidStateError"
    assert result["code"] == "INVALID_STATE"
    assert result["currentState"] == "DEPLETED"
    assert await counts(api, customer_id) == (1, 2)


async def test_voiding_a_grant_consumed_before_its_expiry_passed_is_depleted(
    api: Api, clock: FrozenClock
) -> None:
    customer_id = await new_customer(api)
    grant = await granted(api, PROMOTE, customer_id, expiresAfter="P1D")
    await consumed(api, customer_id, "usage-1", "25")
    clock.advance(timedelta(days=2))

    result = await void(api, grant["id"])

    assert (result["__typename"], result["currentState"]) == ("InvalidStateError", "DEPLETED")
    assert await counts(api, customer_id) == (1, 2)


@pytest.mark.parametrize("used", [None, "10"])
async def test_voiding_an_expired_grant_is_an_invalid_state(
    api: Api, clock: FrozenClock, used: str | None
) -> None:
    customer_id = await new_customer(api)
    grant = await granted(api, PROMOTE, customer_id, expiresAfter="P1D")
    if used:
        await consumed(api, customer_id, "usage-1", used)
    clock.advance(timedelta(days=2))

    result = await void(api, grant["id"])

    assert result["__typename"] == "InvalidStateError"
    assert result["currentState"] == "EXPIRED"
    assert (await entries(api, customer_id))[-1]["type"] == "EXPIRED"


async def test_voiding_a_grant_that_expired_before_it_was_funded_is_an_invalid_state(
    api: Api, clock: FrozenClock
) -> None:
    customer_id, grant = await paid_grant(api, "ON_SETTLEMENT", expiresAfter="P1D")
    clock.advance(timedelta(days=2))

    result = await void(api, grant["id"])

    assert (result["__typename"], result["currentState"]) == ("InvalidStateError", "EXPIRED")
    assert await counts(api, customer_id) == (1, 0)


async def test_voiding_an_unknown_grant_is_not_found(api: Api) -> None:
    customer_id = await new_customer(api)

    unknown = await void(api, UNKNOWN_GRANT)
    of_customer = await void(api, customer_id)

    assert (unknown["__typename"], unknown["code"], unknown["id"]) == (
        "NotFoundError",
        "NOT_FOUND",
        UNKNOWN_GRANT,
    )
    assert (of_customer["__typename"], of_customer["id"]) == ("NotFoundError", customer_id)


@pytest.mark.parametrize(
    ("grant_id", "reason", "fields"),
    [
        ("grant-1", None, [["input", "grantId"]]),
        (None, "r" * 1025, [["input", "reason"]]),
        ("grant-1", "r" * 1025, [["input", "grantId"], ["input", "reason"]]),
    ],
)
async def test_void_credit_grant_refuses_invalid_input_and_changes_nothing(
    api: Api, grant_id: str | None, reason: str | None, fields: list[list[str]]
) -> None:
    customer_id = await new_customer(api)
    grant = await granted(api, PROMOTE, customer_id)

    result = await void(api, grant_id or grant["id"], reason=reason)

    assert fields_of(result) == fields
    node = (await written(api, customer_id))["creditGrants"]["edges"][0]["node"]
    assert node["status"] == "ACTIVE"
    assert await counts(api, customer_id) == (1, 1)
