"""A hypothesis state machine for one SLA clock against a plain model of elapsed business time.

The commands — pause, resume, stop, cancel and record the breach — come in any order and at
any times, including times earlier than the clock's last change (events reported late). The
model knows nothing of `ledger.business_time`: it marks every minute of six weeks as working
or not (a table, with running totals so counting is fast), keeps the list of running
intervals, and predicts which commands the clock must accept, the business
time it has used, its due time after every start and resume, when it breached and whether a
stop met the target.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from ledger.business_time import _parse
from ledger.domain.sla import SlaClock
from ledger.envelope import Actor, Meta
from ledger.errors import DomainError
from tests.sla_world import LEVELS

Z = ZoneInfo("Asia/Shanghai")
SPANS = ((9 * 60, 12 * 60), (13 * 60, 17 * 60))
HOLIDAY, MAKEUP = date(2026, 7, 3), date(2026, 7, 5)  # a Friday off, a Sunday worked
CAL = _parse("Asia/Shanghai", "working_hours", "09:00-12:00,13:00-17:00", ("2026-07-03",),
             ("2026-07-05",))  # fmt: skip
TARGET = "P1DT2H"  # one working day (7 h) and two hours: 540 working minutes
TARGET_MINUTES = 540
START = datetime(2026, 7, 1, 10, 30, tzinfo=Z)
MINUTE = timedelta(minutes=1)


def working(t: datetime) -> bool:
    """Is the minute starting at `t` working time? (the model's only calendar knowledge)"""
    local = t.astimezone(Z)
    day = local.date()
    if not (day == MAKEUP or (local.weekday() < 5 and day != HOLIDAY)):
        return False
    minute = local.hour * 60 + local.minute
    return any(low <= minute < high for low, high in SPANS)


BASE = START - timedelta(days=1)
TABLE_MINUTES = 40 * 24 * 60
CUMULATIVE = [0]
for _m in range(TABLE_MINUTES):  # working minutes before each minute of the table
    CUMULATIVE.append(CUMULATIVE[-1] + working(BASE + _m * MINUTE))


def index(t: datetime) -> int:
    return int((t - BASE) / MINUTE)


def minutes_between(a: datetime, b: datetime) -> int:
    """Working minutes in [a, b), counted from the per-minute table."""
    return max(0, CUMULATIVE[index(b)] - CUMULATIVE[index(a)]) if b > a else 0


def after_minutes(a: datetime, n: int) -> datetime:
    """The end of the n-th working minute from `a` (a itself for n = 0)."""
    if n <= 0:
        return a
    goal = CUMULATIVE[index(a)] + n
    return BASE + bisect_left(CUMULATIVE, goal) * MINUTE


@dataclass
class Model:
    status: str = "running"
    runs: list[list[Any]] = field(default_factory=lambda: [[START, None]])  # [since, until]
    last: datetime = START
    due: datetime = field(default_factory=lambda: after_minutes(START, TARGET_MINUTES))
    breached: bool = False
    met: bool | None = None

    def used(self, at: datetime | None = None) -> int:
        """Working minutes in the running intervals (the open one up to `at`)."""
        total = 0
        for since, until in self.runs:
            end = until if until is not None else at
            if end is not None:
                total += minutes_between(since, max(since, end))
        return total

    def reached_target_at(self) -> datetime | None:
        """When the used time reached the target, walking the running intervals in order."""
        left = TARGET_MINUTES
        for since, until in self.runs:
            available = None if until is None else minutes_between(since, until)
            if available is None or left <= available:
                return after_minutes(since, left)
            left -= available
        return None


def meta(at: datetime) -> Meta:
    return Meta(Actor("watcher", "system", "system"), at, at, f"cmd-{at.isoformat()}")


CLAUSE = {
    "clause_id": "REP-RES", "version": 1, "metric": "resolution", "target": TARGET,
    "calendar_id": "CAL", "warn_at": ("50", "75"), "escalation_chain_id": "ESC",
}  # fmt: skip
STEPS = st.integers(-90, 900)  # minutes from the last instant: negative = reported late


class ClockMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.clock = SlaClock.start(
            meta(START), CAL, "T-1", "P1", "C1", CLAUSE, 1, 1, LEVELS, START, "registered"
        )
        self.model = Model()
        self.now = START
        self.n = 0

    def at(self, step: int) -> datetime:
        moment = self.now + timedelta(minutes=step)
        self.now = max(self.now, moment)
        return moment

    def attempt(self, allowed: bool, command: Any, *args: Any) -> bool:
        before = len(self.clock.pending_events)
        try:
            command(*args)
        except DomainError:
            assert not allowed, f"refused a legal {command.__name__} in {self.model.status}"
            assert len(self.clock.pending_events) == before
            return False
        assert allowed, f"accepted an illegal {command.__name__} in {self.model.status}"
        return True

    def event(self) -> str:
        self.n += 1
        return f"task-event-{self.n}"

    @rule(step=STEPS)
    def pause(self, step: int) -> None:
        at = self.at(step)
        if self.attempt(self.model.status == "running", self.clock.pause, meta(at), CAL, at,
                        self.event()):  # fmt: skip
            moment = max(at, self.model.last)
            self.model.runs[-1][1] = moment
            self.model.last, self.model.status = moment, "paused"

    @rule(step=STEPS)
    def resume(self, step: int) -> None:
        at = self.at(step)
        if self.attempt(self.model.status == "paused", self.clock.resume, meta(at), CAL, at,
                        self.event()):  # fmt: skip
            moment = max(at, self.model.last)
            if not self.model.breached:
                self.model.due = after_minutes(moment, TARGET_MINUTES - self.model.used())
            self.model.runs.append([moment, None])
            self.model.last, self.model.status = moment, "running"

    @rule(step=STEPS)
    def stop(self, step: int) -> None:
        at = self.at(step)
        live = self.model.status in ("running", "paused")
        if self.attempt(live, self.clock.stop, meta(at), CAL, at, self.event()):
            moment = max(at, self.model.last)
            if self.model.status == "running":
                self.model.runs[-1][1] = moment
            self.model.last, self.model.status = moment, "stopped"
            self.model.met = self.model.used() <= TARGET_MINUTES
            assert self.clock.met is self.model.met
            assert self.clock.business_seconds == self.model.used() * 60
            assert self.clock.stopped_at == moment

    @rule(step=STEPS)
    def cancel(self, step: int) -> None:
        at = self.at(step)
        live = self.model.status in ("running", "paused")
        if self.attempt(live, self.clock.cancel, meta(at), at, self.event()):
            self.model.last, self.model.status = max(at, self.model.last), "cancelled"

    @rule(step=STEPS)
    def breach(self, step: int) -> None:
        at = self.at(step)
        reached = self.model.reached_target_at()
        late_stop = self.model.status == "stopped" and self.model.met is False
        allowed = (
            not self.model.breached
            and (self.model.status in ("running", "paused") or late_stop)
            and reached is not None
            and reached <= at
        )
        if self.attempt(allowed, self.clock.record_breach, meta(at), CAL, "T1", "technician",
                        "T1"):  # fmt: skip
            self.model.breached = True
            assert self.clock.breach_at == reached

    @invariant()
    def agrees_with_the_model(self) -> None:
        assert self.clock.status == self.model.status
        assert self.clock.breached is self.model.breached
        closed = sum(
            minutes_between(since, until) for since, until in self.model.runs if until is not None
        )
        assert self.clock.business_seconds == closed * 60
        if self.model.status == "running" and not self.model.breached:
            assert self.clock.due_at == self.model.due
        if self.model.status in ("running", "paused") and not self.model.breached:
            assert self.clock.breach_instant(CAL) == self.model.reached_target_at()


ClockMachine.TestCase.settings = settings(
    max_examples=120,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestClockMachine = ClockMachine.TestCase
