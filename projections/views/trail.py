"""The audit trail: one row per event, in log order, queryable per stream, actor and property.

`late` marks an event recorded more than LATE_AFTER after it happened — the first thing a
dispute resolver asks ("who knew what when"). Imports SQLAlchemy and the shared schema only.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    Index,
    Integer,
    String,
    Table,
)

from projections.schema import Record, UtcDateTime, insert_rows, metadata, utc

LATE_AFTER = timedelta(hours=1)
"""Recorded more than this after it occurred ⇒ `late` (a report entered after the fact)."""

trail_events = Table(
    "trail_events",
    metadata,
    Column("position", BigInteger, primary_key=True),
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
    Index("ix_trail_stream", "stream_id", "position"),
    Index("ix_trail_actor", "actor_id", "position"),
    Index("ix_trail_property", "property_id", "position"),
)


class TrailView:
    """Every event's who, when (both clocks), where and how late."""

    name = "trail"
    tables = (trail_events,)

    def apply(self, conn: Connection, records: Sequence[Record], ids: Sequence[int]) -> None:
        insert_rows(conn, trail_events, [_row(r, p) for r, p in zip(records, ids, strict=True)])


def _row(record: Record, position: int) -> Record:
    occurred = utc(record["occurred_at"])
    recorded = utc(record["recorded_at"])
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
    }
