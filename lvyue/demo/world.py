"""Shared demo state: the ledger, the seeded random source and what processes remember."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from uuid import UUID
from zoneinfo import ZoneInfo

from ledger.application import CommandResult
from ledger.ids import event_id
from ledger.ledger import Ledger

ZONE = ZoneInfo("Asia/Shanghai")


@dataclass(frozen=True)
class Finding:
    property_id: str
    responsible_id: str
    event_id: str
    points: int
    at: datetime


@dataclass
class World:
    """What every demo process shares."""

    app: Ledger
    rng: random.Random
    start: datetime
    days: int
    unavailable: set[str] = field(default_factory=set)
    findings: list[Finding] = field(default_factory=list)
    five_stars: dict[str, list[str]] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    spawn: Callable[[Iterator[object]], None] = lambda _process: None

    def day(self, n: int, hour: float = 0.0) -> datetime:
        return self.start + timedelta(days=n, hours=hour)

    def minutes(self, low: float, high: float) -> timedelta:
        return timedelta(minutes=self.rng.uniform(low, high))

    def count(self, what: str) -> None:
        self.counts[what] = self.counts.get(what, 0) + 1


def first_event_id(result: CommandResult) -> str:
    """The event id of a command's first event, for basis references."""
    stream, version = result.events[0]
    return str(event_id(UUID(stream), version))


PHOTO_PREFIX = "lvyue-demo-evidence"


def evidence_digest(rng: random.Random) -> str:
    """A content-address for a (simulated) photo: 64 lowercase hex characters."""
    return f"{rng.getrandbits(256):064x}"
