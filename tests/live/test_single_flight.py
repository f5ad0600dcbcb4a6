"""Reads that starting subscriptions share: one read for everyone who asked before it
began, at most one at a time, and a waiter leaving never cancels the others' read."""

from __future__ import annotations

import asyncio

import pytest

from app.api.live_reads import SingleFlight


class Reads:
    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.release = asyncio.Event()
        self.began = asyncio.Event()
        self.failing = False

    async def __call__(self, keys: list[str]) -> dict[str, str]:
        self.batches.append(sorted(keys))
        self.began.set()
        await self.release.wait()
        if self.failing:
            raise RuntimeError("the database went away")
        return {key: key.upper() for key in keys}


async def test_askers_before_a_read_share_it_and_later_ones_share_the_next() -> None:
    reads = Reads()
    flight = SingleFlight(reads)
    first = [asyncio.create_task(flight.get(key)) for key in ["a", "b", "a"] * 50]
    await reads.began.wait()
    later = [asyncio.create_task(flight.get(key)) for key in ["c", "a"] * 50]
    await asyncio.sleep(0.01)  # they ask while the first read runs
    assert reads.batches == [["a", "b"]]  # one read at a time
    reads.release.set()

    assert await asyncio.gather(*first) == ["A", "B", "A"] * 50
    assert await asyncio.gather(*later) == ["C", "A"] * 50
    assert reads.batches == [["a", "b"], ["a", "c"]]
    assert (flight.reads, flight.answered) == (2, 250)


async def test_a_waiter_leaving_does_not_cancel_the_read_the_others_share() -> None:
    reads = Reads()
    flight = SingleFlight(reads)
    leaving = asyncio.create_task(flight.get("a"))
    staying = asyncio.create_task(flight.get("a"))
    await reads.began.wait()
    leaving.cancel()
    await asyncio.sleep(0.01)
    reads.release.set()

    assert await staying == "A"
    assert leaving.cancelled()


async def test_a_failed_read_fails_every_waiter_of_it_and_the_next_read_starts_afresh() -> None:
    reads = Reads()
    reads.failing = True
    reads.release.set()
    flight = SingleFlight(reads)
    waiters = [asyncio.create_task(flight.get(key)) for key in "ab"]
    for waiter in waiters:
        with pytest.raises(RuntimeError, match="went away"):
            await waiter
    reads.failing = False
    assert await flight.get("b") == "B"
