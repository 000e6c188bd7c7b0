"""The responsibility chain of a task: one row per link, with who answered and who executed.

Every link records the responsible person and the executor in force after it (and before it),
so "who was responsible and who executed at every moment" is one ordered read. SLA breaches and
escalations (`SlaBreached`, `SlaEscalated` on `SlaClock` streams, naming the task by `task_no`)
join the chain of their task.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Index,
    Integer,
    String,
    Table,
    Text,
    select,
)

from ledger.ids import stream_id
from projections.schema import Record, UtcDateTime, insert_rows, metadata, update_rows, utc

# event type → (link kind, status after; None keeps the status)
LINKS: dict[str, tuple[str, str | None]] = {
    "TaskRegistered": ("registered", "registered"),
    "TaskDispatched": ("dispatched", "dispatched"),
    "TaskAccepted": ("accepted", "accepted"),
    "TaskDeclined": ("declined", "declined"),
    "TaskReassigned": ("reassigned", "dispatched"),
    "ArrivedOnSite": ("arrived", "on_site"),
    "WorkStarted": ("started", "in_progress"),
    "TaskPutOnHold": ("on_hold", "on_hold"),
    "TaskResumed": ("resumed", "in_progress"),
    "WorkCompleted": ("completed", "completed"),
    "CompletionSignedOff": ("signed_off", "signed_off"),
    "OwnerAccepted": ("owner_accepted", "owner_accepted"),
    "OwnerReturned": ("owner_returned", "returned"),
    "TaskReopened": ("reopened", "reopened"),
    "TaskClosed": ("closed", "closed"),
    "TaskAutoClosed": ("auto_closed", "closed"),
    "TaskCancelled": ("cancelled", "cancelled"),
    "SlaBreached": ("sla_breached", None),
    "SlaEscalated": ("escalated", None),
}
SLA_EVENTS = ("SlaBreached", "SlaEscalated")

# event type → (data field shown as `detail`, data field shown as `note`)
TEXTS: dict[str, tuple[str | None, str | None]] = {
    "TaskRegistered": ("kind", None),
    "TaskDispatched": ("mode", None),
    "TaskAccepted": ("eta", None),
    "TaskDeclined": (None, "reason"),
    "TaskReassigned": (None, "note"),
    "ArrivedOnSite": ("method", None),
    "TaskPutOnHold": ("cause", "reason"),
    "WorkCompleted": (None, "result"),
    "CompletionSignedOff": ("quality", None),
    "OwnerAccepted": ("rating", "comment"),
    "OwnerReturned": (None, "reason"),
    "TaskReopened": ("reopen_count", "cause"),
    "TaskClosed": ("reason", None),
    "TaskAutoClosed": ("window_days", "policy_ref"),
    "TaskCancelled": (None, "reason"),
    "SlaBreached": ("responsible_at_breach", "breach_at"),
    "SlaEscalated": ("role", "channel"),
}

chain_tasks = Table(
    "chain_tasks",
    metadata,
    Column("task_id", String(36), primary_key=True),
    Column("task_no", String(100), nullable=False, unique=True),
    Column("property_id", String(100)),
    Column("area_id", String(100)),
    Column("service_line", String(50)),
    Column("status", String(30), nullable=False),
    Column("responsible_id", String(100)),
    Column("executor_id", String(100)),
    Column("links", Integer, nullable=False),
)

chain_links = Table(
    "chain_links",
    metadata,
    Column("task_id", String(36), primary_key=True),
    Column("link_no", Integer, primary_key=True),
    Column("task_no", String(100), nullable=False),
    Column("kind", String(30), nullable=False),
    Column("event_type", String(80), nullable=False),
    Column("status", String(30), nullable=False),
    Column("responsible_id", String(100)),
    Column("executor_id", String(100)),
    Column("responsible_before", String(100)),
    Column("executor_before", String(100)),
    Column("signer_id", String(100)),
    Column("level", Integer),
    Column("notified_id", String(100)),
    Column("detail", String(200)),
    Column("note", Text),
    Column("actor_id", String(100), nullable=False),
    Column("actor_kind", String(20), nullable=False),
    Column("actor_role", String(60), nullable=False),
    Column("on_behalf_of", String(100)),
    Column("occurred_at", UtcDateTime, nullable=False),
    Column("recorded_at", UtcDateTime, nullable=False),
    Column("stream_type", String(60), nullable=False),
    Column("stream_id", String(36), nullable=False),
    Column("stream_version", Integer, nullable=False),
    Column("event_id", String(36), nullable=False, unique=True),
    Column("position", BigInteger, nullable=False),
    Index("ix_chain_links_task_no", "task_no", "link_no"),
)


def task_of(record: Record) -> str | None:
    """The task stream a chain event belongs to (escalations name the task by number)."""
    if record["type"] in SLA_EVENTS:
        task_no = (record.get("data") or {}).get("task_no")
        return None if task_no is None else str(stream_id("task", str(task_no)))
    return str(record["stream_id"]) if record["stream_type"] == "Task" else None


class ChainView:
    """Per task, the ordered links of registration, dispatch, hand-over, work and closure."""

    name = "chain"
    tables = (chain_tasks, chain_links)

    def apply(self, conn: Connection, records: Sequence[Record], ids: Sequence[int]) -> None:
        page = [(r, p, task_of(r)) for r, p in zip(records, ids, strict=True) if r["type"] in LINKS]
        states = _load(conn, {t for r, _, t in page if t and r["type"] != "TaskRegistered"})
        stored = set(states)
        links: list[Record] = []
        for record, position, task_id in page:
            if task_id is None:
                continue
            if record["type"] == "TaskRegistered":
                states[task_id] = _registered(task_id, record)
            state = states.get(task_id)
            if state is not None:  # an escalation of a task this log never registered is skipped
                links.append(_link(state, record, position))
        insert_rows(conn, chain_links, links)
        insert_rows(conn, chain_tasks, [s for t, s in states.items() if t not in stored])
        changed = [s for t, s in states.items() if t in stored]
        update_rows(conn, chain_tasks, ["task_id"], changed)


def _load(conn: Connection, task_ids: set[str]) -> dict[str, Record]:
    if not task_ids:
        return {}
    found = conn.execute(select(chain_tasks).where(chain_tasks.c.task_id.in_(task_ids)))
    return {row.task_id: dict(row._mapping) for row in found}


def _registered(task_id: str, record: Record) -> Record:
    data = record["data"]
    return {
        "task_id": task_id,
        "task_no": data["task_no"],
        "property_id": data.get("property_id", record.get("property_id")),
        "area_id": data.get("area_id"),
        "service_line": data.get("service_line"),
        "status": "registered",
        "responsible_id": None,
        "executor_id": None,
        "links": 0,
    }


def _link(state: Record, record: Record, position: int) -> Record:
    """Advance the task's state by one event and describe the link it forms."""
    before = (state["responsible_id"], state["executor_id"])
    kind, status = LINKS[record["type"]]
    data = record.get("data") or {}
    state["responsible_id"], state["executor_id"] = _holders_after(record["type"], data, before)
    state["status"] = status or state["status"]
    state["links"] += 1
    detail_field, note_field = TEXTS.get(record["type"], (None, None))
    actor = record["actor"]
    return {
        "task_id": state["task_id"],
        "link_no": state["links"],
        "task_no": state["task_no"],
        "kind": kind,
        "event_type": record["type"],
        "status": state["status"],
        "responsible_id": state["responsible_id"],
        "executor_id": state["executor_id"],
        "responsible_before": before[0],
        "executor_before": before[1],
        "signer_id": data.get("signer_id") if record["type"] == "CompletionSignedOff" else None,
        "level": data.get("level"),
        "notified_id": data.get("notified_id"),
        "detail": _text(data.get(detail_field)) if detail_field else None,
        "note": _text(data.get(note_field)) if note_field else None,
        "actor_id": actor["id"],
        "actor_kind": actor["kind"],
        "actor_role": actor["role"],
        "on_behalf_of": record.get("on_behalf_of"),
        "occurred_at": utc(record["occurred_at"]),
        "recorded_at": utc(record["recorded_at"]),
        "stream_type": record["stream_type"],
        "stream_id": record["stream_id"],
        "stream_version": record["stream_version"],
        "event_id": record["event_id"],
        "position": position,
    }


def _holders_after(
    event_type: str, data: dict[str, Any], before: tuple[str | None, str | None]
) -> tuple[str | None, str | None]:
    """(responsible, executor) in force after the event."""
    responsible, executor = before
    if event_type == "TaskRegistered":
        return data.get("responsible_id"), None
    if event_type == "TaskDispatched":
        return data.get("responsible_id"), data.get("executor_id")
    if event_type == "TaskReassigned":
        return data.get("to_responsible_id"), data.get("to_executor_id")
    if event_type in ("TaskDeclined", "TaskReopened"):
        return responsible, None
    return responsible, executor


def _text(value: Any) -> str | None:
    return None if value is None else str(value)
