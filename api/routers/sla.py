"""SLA reads: every clock of a task, and the breaches of a property over a time window.

The facts come from the ledger itself: each answer is folded from the `SlaClock` streams' stored
events (clause and calendar versions as pinned at start, warnings, breach, escalations, stop),
each with its event id. The audit-trail view (`trail_events`, indexed by property) only says
WHICH clock streams to read: the clocks started in the task's property after its registration,
or the `SlaBreached` events of a property — so an answer costs the clocks of that property, not
the whole log.

The watcher's own commands are not exposed here: one pass (`watch_once`) lives in `lvyue/`,
which the API may not import (api → projections → ledger); run `lvyue watch` for it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from fastapi import APIRouter
from pydantic import BaseModel
from sqlalchemy import Engine, select

from api.deps import EngineDep, GuardDep, LedgerDep
from api.problems import QUERY_ERRORS
from api.routers.queries import Cursor, Filter, Limit, MaybeAt
from api.schemas import KeyPath, Page, offset_page
from ledger.errors import NotFound
from ledger.ids import stream_id
from ledger.ledger import Ledger
from projections.views.trail import trail_events

router = APIRouter(tags=["sla"], responses=QUERY_ERRORS)

CLOCK_STREAM = "SlaClock"


class SlaEvent(BaseModel):
    """One event of a clock stream as recorded (its fields under `data`)."""

    version: int
    type: str
    event_id: str
    occurred_at: datetime
    recorded_at: datetime
    data: dict[str, Any]


class SlaWarning(BaseModel):
    event_id: str
    threshold: str
    warned_at: datetime
    notified_ids: list[str]


class SlaBreach(BaseModel):
    """The breach: who answered for the task at the breach instant (not today's holder)."""

    event_id: str
    breach_at: datetime
    responsible_at_breach: str | None
    responsible_role: str | None
    executor_at_breach: str | None


class SlaEscalation(BaseModel):
    event_id: str
    level: int
    role: str
    notified_id: str
    channel: str
    escalated_at: datetime


class SlaClockOut(BaseModel):
    """One clock: the pinned clause, calendar and chain versions, its course and its facts.

    `start_event_id` is the task event that started it; `stop_event_id` the task event that
    stopped or cancelled it; `met` is set once stopped (false: stopped after its due time).
    """

    stream_id: str
    task_no: str
    property_id: str
    contract_no: str
    clause_id: str
    clause_version: int
    calendar_id: str
    calendar_version: int
    escalation_chain_id: str
    chain_version: int
    metric: str
    target: str
    status: str
    started_at: datetime
    due_at: datetime
    stopped_at: datetime | None
    met: bool | None
    start_event_id: str
    stop_event_id: str | None
    warnings: list[SlaWarning]
    breach: SlaBreach | None
    escalations: list[SlaEscalation]
    events: list[SlaEvent]


class BreachOut(BaseModel):
    """One `SlaBreached`, with its clock's clause version and the escalations that followed."""

    position: int
    stream_id: str
    task_no: str
    property_id: str
    contract_no: str
    clause_id: str
    clause_version: int
    metric: str
    target: str
    occurred_at: datetime
    recorded_at: datetime
    breach: SlaBreach
    escalations: list[SlaEscalation]


@dataclass(frozen=True)
class ClockRecords:
    """A clock stream's stored events (public records), in order."""

    stream_id: str
    records: list[dict[str, Any]]

    @property
    def started(self) -> dict[str, Any]:
        data: dict[str, Any] = self.records[0]["data"]
        return data

    def of(self, *types: str) -> list[dict[str, Any]]:
        return [r for r in self.records if r["type"] in types]


def read_clock(ledger: Ledger, sid: str) -> ClockRecords:
    stored = ledger.recorder.select_events(UUID(sid))
    return ClockRecords(sid, [json.loads(s.state) for s in stored])


# -- a task's clocks -----------------------------------------------------------------------


@router.get("/tasks/{task_no}/sla")
def task_sla(
    task_no: KeyPath,
    guard: GuardDep,
    ledger: LedgerDep,
    engine: EngineDep,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> Page[SlaClockOut]:
    """服务时限: every SLA clock of the task, folded from its `SlaClock` stream's events."""
    registered = _registration(ledger, task_no)
    prop: str = registered["property_id"]
    guard.require("read_task", (prop,))
    clocks = [
        _clock_out(clock)
        for clock in _task_clocks(ledger, engine, prop, registered["stream_id"])
        if clock.records and clock.started.get("task_no") == task_no
    ]
    clocks.sort(key=lambda c: (c.started_at, c.clause_id))
    return offset_page(clocks, cursor, limit)


def _registration(ledger: Ledger, task_no: str) -> dict[str, Any]:
    stored = ledger.recorder.select_events(stream_id("task", task_no), limit=1)
    if not stored:
        raise NotFound(f"no task {task_no!r}")
    record: dict[str, Any] = json.loads(stored[0].state)
    return {"property_id": record["data"]["property_id"], "stream_id": record["stream_id"]}


def _task_clocks(ledger: Ledger, engine: Engine, prop: str, task_sid: str) -> list[ClockRecords]:
    """The clock streams started in the property after the task was registered."""
    c = trail_events.c
    registered = select(c.position).where(c.stream_id == task_sid, c.stream_version == 1)
    query = select(c.stream_id).where(
        c.property_id == prop,
        c.position > registered.scalar_subquery(),
        c.stream_type == CLOCK_STREAM,
        c.type == "SlaClockStarted",
    )
    with engine.connect() as conn:
        sids = list(conn.execute(query.order_by(c.position)).scalars())
    return [read_clock(ledger, sid) for sid in sids]


def _clock_out(clock: ClockRecords) -> SlaClockOut:
    started = clock.started
    ends = clock.of("SlaClockStopped", "SlaClockCancelled")
    end = ends[-1] if ends else None
    end_data = end["data"] if end is not None else {}
    return SlaClockOut(
        stream_id=clock.stream_id,
        **{name: started[name] for name in _STARTED},
        status=_status(clock),
        due_at=_due_at(clock),
        stopped_at=end_data.get("stopped_at"),
        met=end_data.get("met"),
        stop_event_id=end_data.get("stop_event_id") or end_data.get("cancel_event_id"),
        warnings=[_warning(r) for r in clock.of("SlaWarningRaised")],
        breach=_breach(clock),
        escalations=_escalations(clock),
        events=[_event(r) for r in clock.records],
    )


_STARTED = (
    "task_no", "property_id", "contract_no", "clause_id", "clause_version", "calendar_id",
    "calendar_version", "escalation_chain_id", "chain_version", "metric", "target",
    "started_at", "start_event_id",
)  # fmt: skip
_STATUS_AFTER = {
    "SlaClockStarted": "running",
    "SlaClockPaused": "paused",
    "SlaClockResumed": "running",
    "SlaClockStopped": "stopped",
    "SlaClockCancelled": "cancelled",
}


def _status(clock: ClockRecords) -> str:
    moves = [r["type"] for r in clock.records if r["type"] in _STATUS_AFTER]
    return _STATUS_AFTER[moves[-1]]


def _due_at(clock: ClockRecords) -> Any:
    resumed = clock.of("SlaClockResumed")
    return resumed[-1]["data"]["due_at"] if resumed else clock.started["due_at"]


def _event(record: dict[str, Any]) -> SlaEvent:
    return SlaEvent(
        version=record["stream_version"],
        type=record["type"],
        event_id=record["event_id"],
        occurred_at=record["occurred_at"],
        recorded_at=record["recorded_at"],
        data=record.get("data") or {},
    )


def _warning(record: dict[str, Any]) -> SlaWarning:
    return SlaWarning(event_id=record["event_id"], **_pick(record, SlaWarning))


def _breach(clock: ClockRecords) -> SlaBreach | None:
    found = clock.of("SlaBreached")
    if not found:
        return None
    return SlaBreach(event_id=found[0]["event_id"], **_pick(found[0], SlaBreach))


def _escalations(clock: ClockRecords) -> list[SlaEscalation]:
    return [
        SlaEscalation(event_id=r["event_id"], **_pick(r, SlaEscalation))
        for r in clock.of("SlaEscalated")
    ]


def _pick(record: dict[str, Any], model: type[BaseModel]) -> dict[str, Any]:
    data = record.get("data") or {}
    return {name: data.get(name) for name in model.model_fields if name != "event_id"}


# -- breaches ------------------------------------------------------------------------------


@router.get("/sla/breaches")
def sla_breaches(
    guard: GuardDep,
    ledger: LedgerDep,
    engine: EngineDep,
    property_id: Filter = None,
    since: MaybeAt = None,
    until: MaybeAt = None,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> Page[BreachOut]:
    """违约: SLA breaches in log order, of a property (or all: needs a company-wide scope).

    `since`/`until` bound the breach event's occurred time [since, until): the watcher records
    a breach when its pass reaches it, at or after the clock's `breach_at`.
    """
    guard.require("read_sla_breaches", () if property_id is None else (property_id,))
    c = trail_events.c
    query = select(c.position, c.stream_id, c.stream_version).where(c.type == "SlaBreached")
    if property_id is not None:
        query = query.where(c.property_id == property_id)
    if since is not None:
        query = query.where(c.occurred_at >= since)
    if until is not None:
        query = query.where(c.occurred_at < until)
    if cursor is not None:
        query = query.where(c.position > int(cursor))
    with engine.connect() as conn:
        rows = list(conn.execute(query.order_by(c.position).limit(limit + 1)))
    items = [_breach_out(ledger, row.position, row.stream_id) for row in rows[:limit]]
    more = len(rows) > limit
    return Page[BreachOut](
        items=items, next_cursor=str(items[-1].position) if more else None, limit=limit
    )


def _breach_out(ledger: Ledger, position: int, sid: str) -> BreachOut:
    clock = read_clock(ledger, sid)
    started = clock.started
    record = clock.of("SlaBreached")[0]
    breach = _breach(clock)
    assert breach is not None
    return BreachOut(
        position=position,
        stream_id=sid,
        **{name: started[name] for name in (
            "task_no", "property_id", "contract_no", "clause_id", "clause_version", "metric",
            "target")},
        occurred_at=record["occurred_at"],
        recorded_at=record["recorded_at"],
        breach=breach,
        escalations=_escalations(clock),
    )  # fmt: skip
