"""Starting subscriptions take turns with everything else (app/api/websocket.py): the
steps that begin WebSocket messages and the waiters woken by a shared read
(app/api/live_reads.py) take places from one pool, so at most TURNS of them run in any
one turn of the event loop, however many are waiting. Counted in loop turns, not timed:
a request that needs some turns (a read on SQLite needs about 20) waits for few steps
in each."""

from __future__ import annotations

import asyncio
from collections import Counter

from app.api.live_reads import SingleFlight
from app.api.websocket import TURNS, message_turns, turn


class Turns:
    """Counts turns of the event loop: a callback that schedules itself runs once a turn."""

    def __init__(self) -> None:
        self.now = 0
        self.running = True
        asyncio.get_running_loop().call_soon(self.tick)

    def tick(self) -> None:
        self.now += 1
        if self.running:
            asyncio.get_running_loop().call_soon(self.tick)


async def read_upper(keys: list[str]) -> dict[str, str]:
    await asyncio.sleep(0)
    return {key: key.upper() for key in keys}


async def test_messages_and_woken_waiters_share_turns_places_per_turn() -> None:
    places = message_turns()
    flight = SingleFlight(read_upper, places)
    turns = Turns()
    ran: list[int] = []  # the turn in which each step ran

    async def waiter(key: str) -> str:
        value = await flight.get(key)
        ran.append(turns.now)
        return value

    async def message() -> None:
        await turn(places)
        ran.append(turns.now)

    keys = [f"k{n % 7}" for n in range(300)]
    waiters = [asyncio.create_task(waiter(key)) for key in keys]
    messages = [asyncio.create_task(message()) for _ in range(300)]
    assert await asyncio.gather(*waiters) == [key.upper() for key in keys]
    await asyncio.gather(*messages)
    turns.running = False

    per_turn = Counter(ran)
    assert len(ran) == 600
    assert max(per_turn.values()) == TURNS  # never more, and the places are used
    assert flight.reads == 1  # every waiter asked before the read began: one read
