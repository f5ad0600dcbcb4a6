"""The running account of one ledger: sequence, balances around each entry, the split
by funding method, and time that never goes backwards. DESIGN §5 and §6."""

from __future__ import annotations

from itertools import pairwise

from hypothesis import given, settings
from hypothesis import strategies as st

from app.domain.grants import FundingMethod, Grant
from app.domain.ledger import OPEN, SYSTEM, Account, Booking, Entry, EntryType, Figures
from tests.chain import ZEROS, entry_hash, rfc3339_micro
from tests.conftest import examples
from tests.domain.factories import HOUR, SECOND, T0, booking, grant, purchase


def account() -> Account:
    return Account(customer_id="cus_1", currency="USD")


def book(ledger: Account, made: Grant, type: EntryType, amount: int, at=T0) -> Entry:
    return ledger.append(
        entry_id=f"ent_{ledger.sequence + 1}",
        grant=made,
        type=type,
        amount=amount,
        booking=booking(at),
    )


PROMO = grant("grt_promo")
PAID = grant("grt_paid", paid=purchase())


def test_entries_are_numbered_one_two_three():
    ledger = account()
    entries = [book(ledger, PROMO, EntryType.FUNDED, 100) for _ in range(3)]
    assert [e.sequence for e in entries] == [1, 2, 3]
    assert ledger.sequence == 3


def test_each_entry_carries_the_balance_before_and_after_it():
    ledger = account()
    funded_promo = book(ledger, PROMO, EntryType.FUNDED, 1000)
    funded_paid = book(ledger, PAID, EntryType.FUNDED, 500)
    consumed = book(ledger, PROMO, EntryType.CONSUMED, -300)
    restored = book(ledger, PROMO, EntryType.RESTORED, 100)
    expired = book(ledger, PAID, EntryType.EXPIRED, -500)
    chain = [
        (e.balance_before, e.amount, e.balance_after)
        for e in (funded_promo, funded_paid, consumed, restored, expired)
    ]
    assert chain == [
        (0, 1000, 1000),
        (1000, 500, 1500),
        (1500, -300, 1200),
        (1200, 100, 1300),
        (1300, -500, 800),
    ]
    assert ledger.available == 800


def test_the_available_balance_is_split_between_promotional_and_paid_credits():
    ledger = account()
    book(ledger, PROMO, EntryType.FUNDED, 1000)
    book(ledger, PAID, EntryType.FUNDED, 500)
    book(ledger, PROMO, EntryType.CONSUMED, -300)
    book(ledger, PAID, EntryType.CONSUMED, -200)
    assert ledger.available == 1000
    assert ledger.available_promotional == 700
    assert ledger.available - ledger.available_promotional == 300


def test_an_entry_records_the_funding_method_of_its_grant():
    ledger = account()
    assert book(ledger, PROMO, EntryType.FUNDED, 1).funding_method is FundingMethod.NONE
    assert book(ledger, PAID, EntryType.FUNDED, 1).funding_method is FundingMethod.INVOICE


def test_the_figures_by_type_are_positive_and_add_up_to_the_available_balance():
    ledger = account()
    book(ledger, PROMO, EntryType.FUNDED, 1000)
    book(ledger, PAID, EntryType.FUNDED, 500)
    book(ledger, PROMO, EntryType.CONSUMED, -400)
    book(ledger, PROMO, EntryType.RESTORED, 150)
    book(ledger, PROMO, EntryType.EXPIRED, -750)
    book(ledger, PAID, EntryType.VOIDED, -500)
    figures = (ledger.funded, ledger.consumed, ledger.expired, ledger.voided)
    assert figures == (1500, 250, 750, 500)
    assert ledger.funded - ledger.consumed - ledger.expired - ledger.voided == ledger.available
    assert ledger.available == 0


def test_a_later_booking_with_an_earlier_instant_is_booked_at_the_latest_instant():
    ledger = account()
    first = book(ledger, PROMO, EntryType.FUNDED, 1000, at=T0 + HOUR)
    late_report = book(ledger, PROMO, EntryType.CONSUMED, -10, at=T0)
    after = book(ledger, PROMO, EntryType.CONSUMED, -10, at=T0 + 2 * HOUR)
    assert [e.booked_at for e in (first, late_report, after)] == [
        T0 + HOUR,
        T0 + HOUR,
        T0 + 2 * HOUR,
    ]
    assert ledger.last_booked_at == T0 + 2 * HOUR


def test_the_written_instant_is_kept_even_when_the_booked_instant_is_moved_forward():
    ledger = account()
    book(ledger, PROMO, EntryType.FUNDED, 1000, at=T0 + HOUR)
    late = ledger.append(
        entry_id="ent_2",
        grant=PROMO,
        type=EntryType.CONSUMED,
        amount=-5,
        booking=Booking(transaction_id="txn_2", actor=OPEN, booked_at=T0, created_at=T0 + SECOND),
    )
    assert (late.booked_at, late.created_at) == (T0 + HOUR, T0 + SECOND)


def test_an_entry_carries_everything_it_was_booked_with():
    ledger = account()
    entry = ledger.append(
        entry_id="ent_1",
        grant=PAID,
        type=EntryType.CONSUMED,
        amount=-25,
        booking=Booking(transaction_id="txn_9", actor=OPEN, booked_at=T0, created_at=T0),
        consumption_id="csm_1",
        feature_key="api_calls",
        description="1,000 calls",
        labels=(("env", "prod"),),
    )
    assert entry == Entry(
        id="ent_1",
        customer_id="cus_1",
        currency="USD",
        sequence=1,
        grant_id="grt_paid",
        consumption_id="csm_1",
        type=EntryType.CONSUMED,
        amount=-25,
        balance_before=0,
        balance_after=-25,
        after=Figures(available=-25, consumed=25),
        booked_at=T0,
        created_at=T0,
        transaction_id="txn_9",
        actor=OPEN,
        funding_method=FundingMethod.INVOICE,
        feature_key="api_calls",
        description="1,000 calls",
        labels=(("env", "prod"),),
        hash=entry_hash(
            ZEROS,
            {
                "id": "ent_1",
                "transactionId": "txn_9",
                "customerId": "cus_1",
                "currency": "USD",
                "sequence": 1,
                "type": "CONSUMED",
                "amount": -25,
                "balanceBefore": 0,
                "balanceAfter": -25,
                "grantId": "grt_paid",
                "consumptionId": "csm_1",
                "actorType": "OPEN",
                "actorName": "open",
                "bookedAt": rfc3339_micro(T0),
                "featureKey": "api_calls",
                "description": "1,000 calls",
            },
        ),
    )
    assert ledger.last_hash == entry.hash


def test_each_entry_chains_on_the_previous_one_s_hash():
    ledger = account()
    first = book(ledger, PROMO, EntryType.FUNDED, 1000)
    second = book(ledger, PROMO, EntryType.CONSUMED, -5, at=T0 + HOUR)
    fields = {
        "id": second.id, "transactionId": second.transaction_id, "customerId": "cus_1",
        "currency": "USD", "sequence": 2, "type": "CONSUMED", "amount": -5,
        "balanceBefore": 1000, "balanceAfter": 995, "grantId": PROMO.id,
        "consumptionId": None, "actorType": second.actor.type.value,
        "actorName": second.actor.name, "bookedAt": rfc3339_micro(T0 + HOUR),
        "featureKey": None, "description": None,
    }  # fmt: skip
    assert second.hash == entry_hash(first.hash, fields)
    assert first.hash != second.hash != ZEROS


def test_time_driven_entries_are_booked_by_the_system_actor():
    assert (SYSTEM.type.value, SYSTEM.id, SYSTEM.name) == ("SYSTEM", None, "system")
    assert (OPEN.type.value, OPEN.id, OPEN.name) == ("OPEN", None, "open")


MOVEMENTS = st.lists(
    st.tuples(
        st.sampled_from(list(EntryType)),
        st.integers(1, 10**6),
        st.booleans(),  # promotional?
        st.integers(-3600, 3600),  # seconds from T0
    ),
    max_size=40,
)
SIGN = {
    EntryType.FUNDED: 1,
    EntryType.RESTORED: 1,
    EntryType.CONSUMED: -1,
    EntryType.EXPIRED: -1,
    EntryType.VOIDED: -1,
}


@settings(max_examples=examples(200))
@given(movements=MOVEMENTS)
def test_the_ledger_chain_holds_whatever_is_booked(movements):
    ledger = account()
    entries = []
    for type, size, promotional, offset in movements:
        made = PROMO if promotional else PAID
        entries.append(book(ledger, made, type, SIGN[type] * size, at=T0 + offset * SECOND))
    assert [e.sequence for e in entries] == list(range(1, len(entries) + 1))
    previous_after = 0
    for entry in entries:
        assert entry.balance_before == previous_after
        assert entry.balance_after == entry.balance_before + entry.amount
        previous_after = entry.balance_after
    assert ledger.available == previous_after == sum(e.amount for e in entries)
    assert all(a.booked_at <= b.booked_at for a, b in pairwise(entries))
    promotional = sum(e.amount for e in entries if e.funding_method is FundingMethod.NONE)
    assert ledger.available_promotional == promotional
    assert ledger.funded - ledger.consumed - ledger.expired - ledger.voided == ledger.available
