"""Per-request DataLoaders: one statement per relation level, whatever the page sizes.

The SQL is the storage layer's (`app.storage.queries`); here keys are batched, the due
events of the customers a batch reads are booked first (`CatchUp`), and rows become API
objects. Each batch reads in a short transaction of its own (one connection must never
be shared by sibling resolvers running concurrently). Loaders live for one request only,
so nothing they cache outlives the instant the request describes.

One module per kind of read: `objects` (by id), `balances` (balances and expirations),
`pages` (connections), `counts` (their totalCount), `heads` (ledger heads),
`schedules` (grant schedules and their grants), `thresholds` (thresholds and their
events); `base` holds what they share.
"""

from __future__ import annotations

from app.api.loaders.balances import BalanceLoaders
from app.api.loaders.base import CountKey
from app.api.loaders.counts import CountLoaders
from app.api.loaders.heads import HeadLoaders
from app.api.loaders.objects import ObjectLoaders
from app.api.loaders.pages import PageLoaders
from app.api.loaders.schedules import ScheduleLoaders
from app.api.loaders.thresholds import ThresholdLoaders


class Loaders(
    ObjectLoaders,
    BalanceLoaders,
    PageLoaders,
    CountLoaders,
    HeadLoaders,
    ScheduleLoaders,
    ThresholdLoaders,
):
    """Every loader of one request (each part's __init__ makes its own DataLoaders)."""


__all__ = ["CountKey", "Loaders"]
