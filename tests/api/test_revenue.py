"""creditRevenue (DESIGN §16): hand-computed reports by day, ISO week and month on SQLite and
PostgreSQL, exact sums rounded once, both ways of finding the opening deferred figure, access
by role, bad arguments, and (Hypothesis) the report against the ledger summed in the test."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from ulid import ULID

import app.services.revenue as revenue_service
from app.domain.access import Role
from app.domain.errors import DomainError, ValidationFailed
from app.domain.grants import AvailabilityPolicy, FundingMethod, SettlementStatus
from app.domain.ledger import OPEN
from app.domain.revenue import RevenueInterval, period_bounds, rounded
from app.domain.time import FrozenClock
from app.live.publisher import RecordingPublisher
from app.services.currencies import CurrencyCatalog, create_custom_currency
from app.services.customers import create_customer
from app.services.keys import create_key
from app.services.portal import sign_token
from app.services.revenue import RevenueReport, credit_revenue
from app.services.reversal import reverse_credit_consumption
from app.services.runtime import Runtime
from app.services.settlement import settle_credit_purchase, void_credit_grant
from app.storage.engine import create_engine, read_connection
from app.storage.queries.revenue import Anchor
from app.storage.tables import entries, grants
from tests.api.conftest import running_api
from tests.conftest import empty_database, examples
from tests.services.support import consume, promo, purchase
from tests.services.test_write_path import kind as statement_kind
from tests.services.test_write_path import recorded
from tests.storage.test_postgres import pg_runtime

__all__ = ["pg_runtime"]

D = Decimal
DAY, WEEK, MONTH = RevenueInterval.DAY, RevenueInterval.WEEK, RevenueInterval.MONTH
REVENUE_PAGE = Path(__file__).resolve().parents[2] / "docs" / "revenue.md"


def utc(year: int, month: int, day: int, hour: int = 0) -> datetime:
    return datetime(year, month, day, hour, tzinfo=UTC)


def terms(cost_basis: str, currency: str = "USD", **fields: Any) -> Any:
    from app.services.grants import PurchaseTerms

    return PurchaseTerms(currency=currency, cost_basis=D(cost_basis), **fields)


def figures(report: RevenueReport) -> list[tuple[str, str, str, str]]:
    """(period start date, recognized, breakage, deferred) per period, as text."""
    return [
        (p.starts.isoformat()[:10], str(p.recognized), str(p.breakage), str(p.deferred_at_end))
        for p in report.periods
    ]


@pytest.fixture(params=["sqlite", "postgresql"])
def both(request: pytest.FixtureRequest) -> Runtime:
    name = "runtime" if request.param == "sqlite" else "pg_runtime"
    runtime: Runtime = request.getfixturevalue(name)
    return runtime


# ---------------------------------------------------------------- periods


def test_days_are_utc_calendar_days_and_the_first_and_last_are_cut() -> None:
    bounds = period_bounds(utc(2026, 1, 15, 12), utc(2026, 1, 17, 6), DAY)
    assert bounds == [utc(2026, 1, 15, 12), utc(2026, 1, 16), utc(2026, 1, 17), utc(2026, 1, 17, 6)]


def test_iso_weeks_start_on_monday_across_the_year_boundary() -> None:
    # 2025-12-29 is the Monday of ISO week 2026-W01 (Jan 1 2026 is a Thursday)
    bounds = period_bounds(utc(2025, 12, 24), utc(2026, 1, 14), WEEK)
    assert bounds == [utc(2025, 12, 24), utc(2025, 12, 29), utc(2026, 1, 5), utc(2026, 1, 12),
                      utc(2026, 1, 14)]  # fmt: skip


def test_months_are_calendar_months_across_the_year_boundary() -> None:
    bounds = period_bounds(utc(2025, 11, 30, 23), utc(2026, 2, 28), MONTH)
    assert bounds == [utc(2025, 11, 30, 23), utc(2025, 12, 1), utc(2026, 1, 1), utc(2026, 2, 1),
                      utc(2026, 2, 28)]  # fmt: skip


def test_366_periods_are_allowed_and_367_are_not() -> None:
    bounds = period_bounds(utc(2024, 1, 1), utc(2025, 1, 1), DAY)  # 2024 is a leap year
    assert bounds is not None and len(bounds) == 367
    assert period_bounds(utc(2024, 1, 1), utc(2025, 1, 2), DAY) is None


def test_a_figure_is_rounded_half_to_even_and_never_negative_zero() -> None:
    assert [str(rounded(D(x), 2)) for x in ("0.005", "0.015", "0.025", "-0.001", "0")] == [
        "0.00",
        "0.02",
        "0.02",
        "0.00",
        "0.00",
    ]


# ---------------------------------------------------------------- the worked example


async def worked_example(runtime: Runtime, clock: FrozenClock) -> dict[str, str]:
    """docs/revenue.md's example: TOKENS (scale 0) bought at two cost bases in USD, a promotion,
    a purchase in EUR, one awaiting payment; consumption, a reversal, a void and an expiry."""
    clock.set(utc(2026, 1, 15, 12))
    await create_custom_currency(runtime, code="TOKENS", name="Tokens", scale=0)
    customer, _ = await create_customer(runtime, key="acme", name="Acme")
    t = "TOKENS"
    g1 = await purchase(
        runtime, customer, "100", t, terms=terms("0.10"), expires_after=timedelta(days=10)
    )
    g2 = await purchase(runtime, customer, "300", t, terms=terms("0.035"))
    await promo(runtime, customer, "50", t, priority=1)
    pending = terms("1", availability_policy=AvailabilityPolicy.ON_SETTLEMENT)
    g3 = await purchase(runtime, customer, "1000", t, terms=pending, priority=30)
    await purchase(runtime, customer, "40", t, terms=terms("0.5", "EUR"), priority=20)
    await consume(runtime, customer, "70", "c1", t)  # promotion 50, g1 20
    clock.set(utc(2026, 1, 16, 12))
    c2 = await consume(runtime, customer, "100", "c2", t)  # g1 80, g2 20
    clock.set(utc(2026, 1, 17, 12))
    await reverse_credit_consumption(  # back in reverse burn order: g2 20, g1 10
        runtime, actor=OPEN, consumption_id=c2.consumption_id, key="r1", amount=D(30)
    )
    clock.set(utc(2026, 1, 19, 9))
    await void_credit_grant(runtime, actor=OPEN, grant_id=g2.grant_id)  # 300 forfeited
    clock.set(utc(2026, 1, 26, 6))  # g1's 10 expired on Jan 25 at 12:00
    await settle_credit_purchase(
        runtime, actor=OPEN, grant_id=g3.grant_id, status=SettlementStatus.SETTLED
    )
    clock.set(utc(2026, 1, 27))
    return {"customer": customer, "g1": g1.grant_id}


WORKED_BY_DAY = [
    ("2026-01-15", "2.00", "0.00", "18.50"),  # funded 10.00 + 10.50; 20 of g1 used
    ("2026-01-16", "8.70", "0.00", "9.80"),  # 80 of g1 (8.00), 20 of g2 (0.70)
    ("2026-01-17", "-1.70", "0.00", "11.50"),  # 20 back to g2 (0.70), 10 to g1 (1.00)
    ("2026-01-18", "0.00", "0.00", "11.50"),
    ("2026-01-19", "0.00", "10.50", "1.00"),  # g2 voided: 300 at 0.035
    *[(f"2026-01-{day}", "0.00", "0.00", "1.00") for day in range(20, 25)],
    ("2026-01-25", "0.00", "1.00", "0.00"),  # g1's last 10 expired
    ("2026-01-26", "0.00", "0.00", "1000.00"),  # the pending purchase, paid and funded
]


async def test_the_worked_example_by_day_iso_week_and_month_in_each_purchase_currency(
    both: Runtime, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One data set per engine (a PostgreSQL database each is slow to make), many reports."""
    await worked_example(both, clock)

    async def report(currency: str, starts: datetime, ends: datetime, interval: Any) -> Any:
        found = await credit_revenue(
            both, currency=currency, starts=starts, ends=ends, interval=interval
        )
        assert found.currency == currency
        assert (found.periods[0].starts, found.periods[-1].ends) == (starts, ends)
        return figures(found)

    assert await report("USD", utc(2026, 1, 15), utc(2026, 1, 27), DAY) == WORKED_BY_DAY
    assert await report("USD", utc(2026, 1, 15), utc(2026, 1, 27), WEEK) == [
        ("2026-01-15", "9.00", "0.00", "11.50"),  # Thursday, cut at from
        ("2026-01-19", "0.00", "11.50", "0.00"),  # Monday to Monday
        ("2026-01-26", "0.00", "0.00", "1000.00"),
    ]
    assert await report("USD", utc(2025, 12, 1), utc(2026, 1, 27), MONTH) == [
        ("2025-12-01", "0.00", "0.00", "0.00"),
        ("2026-01-01", "9.00", "11.50", "1000.00"),
    ]
    assert await report("EUR", utc(2026, 1, 14), utc(2026, 1, 17), DAY) == [
        ("2026-01-14", "0.00", "0.00", "0.00"),
        ("2026-01-15", "0.00", "0.00", "20.00"),  # 40 at 0.5, never drawn (priority 20)
        ("2026-01-16", "0.00", "0.00", "20.00"),
    ]
    jpy = await report("JPY", utc(2026, 1, 14), utc(2026, 1, 15), DAY)
    assert jpy == [("2026-01-14", "0", "0", "0")]  # no grant; JPY has no minor unit
    # the opening deferred figure from the entries before the report, or from what
    # remains now less the entries since: the same
    for anchor in Anchor:
        monkeypatch.setattr(revenue_service, "_cheaper_anchor", lambda *_, a=anchor: a)
        found = await report("USD", utc(2026, 1, 17), utc(2026, 1, 20), DAY)
        assert found == WORKED_BY_DAY[2:5], anchor


async def test_periods_are_utc_whatever_the_postgresql_session_time_zone(
    pg_runtime: Runtime, clock: FrozenClock
) -> None:
    """At UTC+14 every entry of the example (booked at 12:00 UTC or later) falls on the
    next local day: the buckets must not follow the session's time zone."""
    await worked_example(pg_runtime, clock)
    url = pg_runtime.engine.url.render_as_string(hide_password=False)
    zone = {"server_settings": {"timezone": "Pacific/Kiritimati"}}
    engine = create_engine(url, connect_args=zone)
    runtime = Runtime(engine, clock, CurrencyCatalog(engine), RecordingPublisher())
    try:
        report = await credit_revenue(
            runtime, currency="USD", starts=utc(2026, 1, 15), ends=utc(2026, 1, 27), interval=DAY
        )
    finally:
        await engine.dispose()
    assert figures(report) == WORKED_BY_DAY


async def test_an_expiry_no_one_booked_yet_is_booked_before_the_report(
    both: Runtime, clock: FrozenClock
) -> None:
    """No scheduler and no request booked it: the report books it first, at its instant."""
    customer, _ = await create_customer(both, key="acme", name="Acme")
    await purchase(both, customer, "10", "USD", terms=terms("1.5"), expires_after=timedelta(days=1))
    clock.set(utc(2026, 1, 18))
    report = await credit_revenue(
        both, currency="USD", starts=utc(2026, 1, 15), ends=utc(2026, 1, 18), interval=DAY
    )
    assert figures(report) == [
        ("2026-01-15", "0.00", "0.00", "15.00"),
        ("2026-01-16", "0.00", "15.00", "0.00"),  # expired at 12:00
        ("2026-01-17", "0.00", "0.00", "0.00"),
    ]


async def test_it_books_the_customers_with_an_event_due_by_to_and_only_then_reads(
    both: Runtime, clock: FrozenClock
) -> None:
    """Company-wide, so every customer's event due by `to` is booked first, one write
    transaction each; one due after `to` is left to the scheduler (it cannot change the
    report). Asked again, it is the same three reads, however many customers there are."""
    expiring = {"early": timedelta(days=1), "late": timedelta(days=3), "never": None}
    made = {}
    for key, after in expiring.items():
        customer, _ = await create_customer(both, key=key, name=key)
        made[key] = await purchase(
            both, customer, "10", "USD", terms=terms("1"), expires_after=after
        )
    clock.set(utc(2026, 1, 19))  # both expiries are due now; only "early"'s by `to`
    ask = partial(credit_revenue, both, currency="USD", interval=DAY)
    starts, ends = utc(2026, 1, 15), utc(2026, 1, 17)
    with recorded(both.engine) as first:
        report = await ask(starts=starts, ends=ends)
    with recorded(both.engine) as again:
        assert await ask(starts=starts, ends=ends) == report

    assert figures(report) == [
        ("2026-01-15", "0.00", "0.00", "30.00"),
        ("2026-01-16", "0.00", "10.00", "20.00"),  # "early" expired at 12:00
    ]
    assert [statement_kind(s) for s in first].count("INSERT ledger_entry") == 1
    async with read_connection(both.engine) as connection:
        expired = select(entries.c.grant_id).where(entries.c.type == "EXPIRED")
        assert list((await connection.execute(expired)).scalars()) == [made["early"].grant_id]
    statements = [statement_kind(s) for s in again if not s.startswith("BEGIN")]  # SQLite's
    assert statements == ["read"] * 3  # who has an event due by `to`, the first entry, the sums


async def test_values_are_summed_exactly_and_rounded_once(
    runtime: Runtime, clock: FrozenClock
) -> None:
    await create_custom_currency(runtime, code="TOKENS", name="Tokens", scale=0)
    customer, _ = await create_customer(runtime, key="acme", name="Acme")
    clock.set(utc(2026, 1, 15, 12))
    await purchase(runtime, customer, "10", "TOKENS", terms=terms("0.005"))
    await purchase(runtime, customer, "10", "TOKENS", terms=terms("0.005"), priority=11)
    await consume(runtime, customer, "1", "a", "TOKENS")  # 0.005 -> 0.00
    clock.set(utc(2026, 1, 16, 12))
    await consume(runtime, customer, "3", "b", "TOKENS")  # 0.015 -> 0.02
    clock.set(utc(2026, 1, 17, 12))
    await consume(runtime, customer, "5", "c", "TOKENS")  # 0.025 -> 0.02
    clock.set(utc(2026, 1, 18, 12))
    await consume(runtime, customer, "2", "d", "TOKENS")  # 1 from each: 0.010 -> 0.01
    clock.set(utc(2026, 1, 19))
    report = await credit_revenue(
        runtime, currency="USD", starts=utc(2026, 1, 15), ends=utc(2026, 1, 19), interval=DAY
    )
    assert figures(report) == [
        ("2026-01-15", "0.00", "0.00", "0.10"),  # 19 at 0.005 = 0.095
        ("2026-01-16", "0.02", "0.00", "0.08"),  # 16: 0.080
        ("2026-01-17", "0.02", "0.00", "0.06"),  # 11: 0.055
        ("2026-01-18", "0.01", "0.00", "0.04"),  # 9: 0.045
    ]


async def test_credits_in_a_currency_with_decimals_are_valued_by_their_amount(
    runtime: Runtime, clock: FrozenClock
) -> None:
    """100.50 USD of credits bought at 0.9 EUR per credit: 90.45 EUR."""
    customer, _ = await create_customer(runtime, key="acme", name="Acme")
    await purchase(runtime, customer, "100.50", "USD", terms=terms("0.9", "EUR"))
    await consume(runtime, customer, "0.01", "a", "USD")
    clock.advance(timedelta(hours=1))
    report = await credit_revenue(
        runtime, currency="EUR", starts=clock.now() - timedelta(hours=2), ends=clock.now(),
        interval=MONTH,
    )  # fmt: skip
    assert figures(report) == [("2026-01-15", "0.01", "0.00", "90.44")]  # 0.009, 90.441


# ---------------------------------------------------------------- bad arguments


async def test_bad_arguments_are_validation_failures_naming_each_field(runtime: Runtime) -> None:
    now = runtime.clock.now()
    cases = [
        (("XXX", now, now - timedelta(days=1), DAY), [("currency",), ("to",)]),
        (("TOKENS", now - timedelta(days=1), now, DAY), [("currency",)]),  # no ISO currency
        (("USD", now - timedelta(days=1), now + timedelta(seconds=1), DAY), [("to",)]),
        (("USD", now - timedelta(days=367), now, DAY), [("interval",)]),
        (("USD", now.replace(tzinfo=None), now, DAY), [("from",)]),  # no offset
    ]
    for (currency, starts, ends, interval), fields in cases:
        with pytest.raises(ValidationFailed) as failed:
            await credit_revenue(
                runtime, currency=currency, starts=starts, ends=ends, interval=interval
            )
        assert [issue.field for issue in failed.value.issues] == fields
    await credit_revenue(
        runtime, currency="USD", starts=now - timedelta(days=365), ends=now, interval=DAY
    )  # 366 periods: the first and last are cut


# ---------------------------------------------------------------- over HTTP

REVENUE = """
query($currency: String!, $from: DateTime!, $to: DateTime!, $interval: RevenueInterval!) {
  creditRevenue(currency: $currency, from: $from, to: $to, interval: $interval) {
    currency periods { from to recognized breakage deferredAtEnd }
  }
}"""


@pytest.fixture
async def served(tmp_path: Path, clock: FrozenClock) -> AsyncIterator[Any]:
    async with running_api(tmp_path, clock) as api:
        yield api


async def ask(
    client: httpx.AsyncClient, authorization: str | None = None, **variables: Any
) -> httpx.Response:
    asked = {"currency": "USD", "from": "2026-01-15T00:00:00Z", "to": "2026-01-16T00:00:00Z"}
    asked |= {"interval": "DAY"} | variables
    headers = {} if authorization is None else {"Authorization": authorization}
    return await client.post(
        "/graphql", json={"query": REVENUE, "variables": asked}, headers=headers
    )


async def test_over_http_with_an_offset_the_first_period_starts_at_that_instant(
    served: Any, clock: FrozenClock
) -> None:
    runtime: Runtime = served.app.state.runtime
    customer, _ = await create_customer(runtime, key="acme", name="Acme")
    await purchase(runtime, customer, "10", "USD", terms=terms("2"))  # Jan 15 12:00 UTC
    clock.set(utc(2026, 1, 17))
    response = await ask(
        served.client, **{"from": "2026-01-15T09:00:00+02:00", "to": "2026-01-17T00:00:00Z"}
    )
    assert response.json() == {
        "data": {
            "creditRevenue": {
                "currency": "USD",
                "periods": [
                    {"from": "2026-01-15T07:00:00Z", "to": "2026-01-16T00:00:00Z",
                     "recognized": "0.00", "breakage": "0.00", "deferredAtEnd": "20.00"},
                    {"from": "2026-01-16T00:00:00Z", "to": "2026-01-17T00:00:00Z",
                     "recognized": "0.00", "breakage": "0.00", "deferredAtEnd": "20.00"},
                ],
            }
        }
    }  # fmt: skip


async def test_the_query_in_docs_revenue_md_answers_the_worked_example_by_week(
    served: Any, clock: FrozenClock
) -> None:
    await worked_example(served.app.state.runtime, clock)
    [query] = re.findall(r"```graphql\n(.*?)```", REVENUE_PAGE.read_text(), re.DOTALL)
    body = (await served.client.post("/graphql", json={"query": query})).json()
    assert body["data"]["creditRevenue"] == {
        "currency": "USD",
        "periods": [
            {"from": "2026-01-15T00:00:00Z", "to": "2026-01-19T00:00:00Z",
             "recognized": "9.00", "breakage": "0.00", "deferredAtEnd": "11.50"},
            {"from": "2026-01-19T00:00:00Z", "to": "2026-01-26T00:00:00Z",
             "recognized": "0.00", "breakage": "11.50", "deferredAtEnd": "0.00"},
            {"from": "2026-01-26T00:00:00Z", "to": "2026-01-27T00:00:00Z",
             "recognized": "0.00", "breakage": "0.00", "deferredAtEnd": "1000.00"},
        ],
    }  # fmt: skip


async def test_over_http_bad_arguments_are_bad_user_input_naming_the_field(
    served: Any, clock: FrozenClock
) -> None:
    clock.set(utc(2026, 1, 20))
    cases = [
        ({"currency": "XXX"}, [["currency"]]),
        ({"from": "2026-01-16T00:00:00Z"}, [["to"]]),  # from == to
        ({"from": "2026-01-15T00:00:00"}, [["from"]]),  # no offset
        ({"currency": "usd", "to": "2026-01-16T00:00:00"}, [["currency"], ["to"]]),  # both
        ({"to": "2026-01-21T00:00:00Z"}, [["to"]]),  # the future
        ({"from": "2024-01-15T00:00:00Z"}, [["interval"]]),  # 367 days
    ]
    for variables, fields in cases:
        body = (await ask(served.client, **variables)).json()
        assert body["data"] is None, body
        [error] = body["errors"]
        assert error["extensions"]["code"] == "BAD_USER_INPUT", error
        assert [issue["field"] for issue in error["extensions"]["issues"]] == fields
    body = (await ask(served.client, interval="YEAR")).json()  # no such interval
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"


async def test_admin_and_reader_keys_may_ask_writer_keys_and_portal_tokens_may_not(
    served: Any, clock: FrozenClock
) -> None:
    runtime: Runtime = served.app.state.runtime
    now = clock.now()
    customer, _ = await create_customer(runtime, key="acme", name="Acme")
    secrets = {
        role: (await create_key(runtime.engine, name=role.value, role=role, now=now))[1]
        for role in Role
    }
    signing_key = await served.app.state.authenticator.signing_keys.current(now)
    portal = sign_token(customer, now + timedelta(hours=1), signing_key)
    to = {"to": "2026-01-15T12:00:00Z"}
    for role in (Role.ADMIN, Role.READER):
        body = (await ask(served.client, f"Bearer {secrets[role]}", **to)).json()
        assert body["data"]["creditRevenue"]["periods"][0]["deferredAtEnd"] == "0.00", body
    for authorization in (f"Bearer {secrets[Role.WRITER]}", f"Bearer {portal}"):
        response = await ask(served.client, authorization, **to)
        body = response.json()
        assert body["data"] is None
        assert [e["extensions"]["code"] for e in body["errors"]] == ["FORBIDDEN"]
    assert (await ask(served.client, None, **to)).status_code == 401


# ---------------------------------------------------------------- random ledgers

COST_BASES = ["0.01", "0.035", "0.1", "0.333333", "1", "1.25", "7.000000000001"]
GRANT = st.tuples(
    st.just("grant"),
    st.integers(1, 90),
    st.sampled_from(["promotion", "USD", "USD", "EUR", "pending"]),
    st.sampled_from(COST_BASES),
    st.one_of(st.none(), st.integers(1, 72)),  # lasts (hours)
)
CONSUME = st.tuples(st.just("consume"), st.integers(1, 120))
OTHER = st.tuples(st.sampled_from(["reverse", "void", "settle", "wait"]), st.integers(0, 30))
STEPS = st.lists(st.one_of(GRANT, CONSUME, CONSUME, OTHER), min_size=6, max_size=16)
# Every kind of movement, across days: paid at two bases, partly used, reversed after its
# grant expired (restored and forfeited at once), voided, a payment settled late.
EVERY_KIND = [
    ("grant", 50, "USD", "0.333333", 30),
    ("grant", 40, "USD", "1.25", None),
    ("grant", 30, "pending", "0.1", None),
    ("grant", 20, "promotion", "1", None),
    ("consume", 45),
    ("wait", 8),
    ("consume", 30),
    ("wait", 3),
    ("reverse", 0),
    ("settle", 2),
    ("void", 1),
    ("consume", 5),
]


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database with the tables; every example makes customers of its own."""
    yield from empty_database(request, tmp_path, "credits_revenue")


@settings(
    max_examples=examples(10),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=STEPS, interval=st.sampled_from(list(RevenueInterval)))
@example(steps=EVERY_KIND, interval=RevenueInterval.DAY)
def test_a_report_is_the_ledger_valued_and_what_was_paid_is_accounted_for(
    database_url: str, steps: list[tuple[Any, ...]], interval: RevenueInterval
) -> None:
    asyncio.run(_check(database_url, steps, interval))


async def _check(url: str, steps: list[tuple[Any, ...]], interval: RevenueInterval) -> None:
    engine = create_engine(url)
    start = utc(2026, 1, 15, 12)
    clock = FrozenClock(start)
    runtime = Runtime(engine, clock, CurrencyCatalog(engine), RecordingPublisher())
    try:
        customer, _ = await create_customer(runtime, key=str(ULID()), name="Acme")
        await _play(runtime, clock, customer, steps)
        clock.advance(timedelta(days=4))  # every expiry is due
        starts, ends = start - timedelta(days=2), clock.now()
        reports = {}
        for anchor in Anchor:
            with pytest.MonkeyPatch.context() as patch:
                patch.setattr(revenue_service, "_cheaper_anchor", lambda *_, a=anchor: a)
                reports[anchor] = await credit_revenue(
                    runtime, currency="USD", starts=starts, ends=ends, interval=interval
                )
        assert reports[Anchor.LEDGER] == reports[Anchor.GRANTS]
        await _compare(runtime, reports[Anchor.LEDGER], customer)
    finally:
        await engine.dispose()


async def _play(
    runtime: Runtime, clock: FrozenClock, customer: str, steps: list[tuple[Any, ...]]
) -> None:
    made: list[str] = []
    consumed: list[str] = []
    for number, (kind, *args) in enumerate(steps):
        try:
            if kind == "grant":
                made.append(await _grant(runtime, customer, *args))
            elif kind == "consume":
                outcome = await consume(runtime, customer, str(args[0]), f"c{number}", "USD")
                consumed.append(outcome.consumption_id)
            elif kind == "reverse" and consumed:
                chosen = consumed[args[0] % len(consumed)]
                await reverse_credit_consumption(
                    runtime, actor=OPEN, consumption_id=chosen, key=f"r{number}",
                    amount=D(args[0] + 1) if args[0] % 2 else None,
                )  # fmt: skip
            elif kind == "void" and made:
                await void_credit_grant(runtime, actor=OPEN, grant_id=made[args[0] % len(made)])
            elif kind == "settle" and made:
                grant_id = made[args[0] % len(made)]
                await settle_credit_purchase(
                    runtime, actor=OPEN, grant_id=grant_id, status=SettlementStatus.SETTLED
                )
            elif kind == "wait":  # up to five days: reports span several periods
                clock.advance(timedelta(hours=args[0] * 4 + 1))
        except DomainError:
            pass
        clock.advance(timedelta(minutes=7))


async def _grant(
    runtime: Runtime, customer: str, amount: int, kind: str, basis: str, lasts: int | None
) -> str:
    expires_after = None if lasts is None else timedelta(hours=lasts)
    if kind == "promotion":
        made = await promo(runtime, customer, str(amount), "USD", expires_after=expires_after)
        return made.grant_id
    paid_in = "USD" if kind == "pending" else kind
    policy = (
        AvailabilityPolicy.ON_SETTLEMENT if kind == "pending" else AvailabilityPolicy.ON_CREATION
    )
    paid = terms(basis, paid_in, availability_policy=policy)
    made = await purchase(
        runtime, customer, str(amount), "USD", terms=paid,
        funding_method=FundingMethod.EXTERNAL, expires_after=expires_after,
    )  # fmt: skip
    return made.grant_id


async def _compare(runtime: Runtime, report: RevenueReport, customer: str) -> None:
    """Each figure from the ledger's rows summed here; and per period end, what was paid
    (funded, valued) equals recognized + breakage so far + deferred, up to each rounding."""
    statement = select(entries.c.type, entries.c.amount, entries.c.booked_at, grants.c.cost_basis)
    statement = statement.join_from(entries, grants, grants.c.id == entries.c.grant_id)
    statement = statement.where(grants.c.purchase_currency == "USD")
    async with read_connection(runtime.engine) as connection:
        rows = (await connection.execute(statement)).all()
    cent = D("0.01")
    used = D(0)
    for number, period in enumerate(report.periods):
        inside = [r for r in rows if period.starts <= r.booked_at < period.ends]
        before = [r for r in rows if r.booked_at < period.ends]

        def worth(found: list[Any], *types: str) -> Decimal:
            return sum(
                (D(r.amount) / 100 * D(r.cost_basis) for r in found if r.type in types), D(0)
            )

        recognized = -worth(inside, "CONSUMED", "RESTORED")
        breakage = -worth(inside, "EXPIRED", "VOIDED")
        every = ("FUNDED", "CONSUMED", "RESTORED", "EXPIRED", "VOIDED")
        assert period.recognized == rounded(recognized, 2)
        assert period.breakage == rounded(breakage, 2)
        assert period.deferred_at_end == rounded(worth(before, *every), 2)
        used += period.recognized + period.breakage
        paid = worth(before, "FUNDED")
        assert abs(used + period.deferred_at_end - paid) <= (2 * number + 3) * cent / 2
