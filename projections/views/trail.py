"""The audit trail and the time → version index: one row per event, in log order.

Queryable per stream, actor and property; `late` marks an event recorded more than LATE_AFTER
after it happened — the first thing a dispute resolver asks ("who knew what when").

The same row carries, per stream, the running maxima of both clocks. Because a maximum never
decreases along a stream, "the longest prefix whose events all occurred (were recorded) by T"
is the highest version whose running maximum is ≤ T: one index seek, whatever the log size
(as-of replay). One table instead of a trail and a separate index halves the rows a rebuild
writes. Imports SQLAlchemy and the shared schema only.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    Index,
    Integer,
    String,
    Table,
    select,
    tuple_,
)

from projections.schema import Record, UtcDateTime, insert_rows, metadata, utc

LATE_AFTER = timedelta(hours=1)
"""Recorded more than this after it occurred ⇒ `late` (a report entered after the fact)."""

POSITION = BigInteger().with_variant(Integer(), "sqlite")
"""On SQLite an INTEGER primary key is the rowid itself: no second B-tree to fill."""

trail_events = Table(
    "trail_events",
    metadata,
    Column("position", POSITION, primary_key=True, autoincrement=False),
    Column("event_id", String(36), nullable=False, unique=True),
    Column("stream_type", String(60), nullable=False),
    Column("stream_id", String(36), nullable=False),
    Column("stream_version", Integer, nullable=False),
    Column("type", String(80), nullable=False),
    Column("actor_id", String(100), nullable=False),
    Column("actor_kind", String(20), nullable=False),
    Column("actor_role", String(60), nullable=False),
    Column("on_behalf_of", String(100)),
    Column("property_id", String(100)),
    Column("occurred_at", UtcDateTime, nullable=False),
    Column("recorded_at", UtcDateTime, nullable=False),
    Column("delay_seconds", BigInteger, nullable=False),
    Column("late", Boolean, nullable=False),
    Column("command_id", String(200), nullable=False),
    Column("correlation_id", String(200)),
    Column("causation_id", String(200)),
    Column("evidence_count", Integer, nullable=False),
    Column("max_occurred_at", UtcDateTime, nullable=False),
    Column("max_recorded_at", UtcDateTime, nullable=False),
    Index("ix_trail_stream", "stream_id", "stream_version", unique=True),
    Index("ix_trail_actor", "actor_id", "position"),
    Index("ix_trail_property", "property_id", "position"),
    Index("ix_trail_occurred", "stream_id", "max_occurred_at", "stream_version"),
    Index("ix_trail_recorded", "stream_id", "max_recorded_at", "stream_version"),
)

Maxima = tuple[datetime, datetime]


class TrailView:
    """Every event's who, when (both clocks and their running maxima), where and how late."""

    name = "trail"
    tables = (trail_events,)
    write_indexes = ("ix_trail_stream",)
    """Kept during a rebuild: each page looks up its streams' previous maxima by version."""

    def apply(self, conn: Connection, records: Sequence[Record], ids: Sequence[int]) -> None:
        running = _previous_maxima(conn, records)
        rows = []
        for record, position in zip(records, ids, strict=True):
            occurred = utc(record["occurred_at"])
            recorded = utc(record["recorded_at"])
            before = running.get(sid := record["stream_id"])
            maxima = (occurred, recorded) if before is None else (
                max(before[0], occurred), max(before[1], recorded)
            )
            running[sid] = maxima
            rows.append(_row(record, position, occurred, recorded, maxima))
        insert_rows(conn, trail_events, rows)


def _row(
    record: Record, position: int, occurred: datetime, recorded: datetime, maxima: Maxima
) -> Record:
    delay = recorded - occurred
    actor = record["actor"]
    return {
        "position": position,
        "event_id": record["event_id"],
        "stream_type": record["stream_type"],
        "stream_id": record["stream_id"],
        "stream_version": record["stream_version"],
        "type": record["type"],
        "actor_id": actor["id"],
        "actor_kind": actor["kind"],
        "actor_role": actor["role"],
        "on_behalf_of": record.get("on_behalf_of"),
        "property_id": record.get("property_id"),
        "occurred_at": occurred,
        "recorded_at": recorded,
        "delay_seconds": int(delay.total_seconds()),
        "late": delay > LATE_AFTER,
        "command_id": record["command_id"],
        "correlation_id": record.get("correlation_id"),
        "causation_id": record.get("causation_id"),
        "evidence_count": len(record.get("evidence") or ()),
        "max_occurred_at": maxima[0],
        "max_recorded_at": maxima[1],
    }


def _previous_maxima(conn: Connection, records: Sequence[Record]) -> dict[str, Maxima]:
    """The maxima at the version just before each stream's first event in this page."""
    first: dict[str, int] = {}
    for record in records:
        first.setdefault(record["stream_id"], record["stream_version"])
    keys = [(sid, version - 1) for sid, version in first.items() if version > 1]
    if not keys:
        return {}
    c = trail_events.c
    found = conn.execute(
        select(c.stream_id, c.max_occurred_at, c.max_recorded_at).where(
            tuple_(c.stream_id, c.stream_version).in_(keys)
        )
    )
    return {row.stream_id: (row.max_occurred_at, row.max_recorded_at) for row in found}
