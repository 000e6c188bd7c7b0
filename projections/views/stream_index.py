"""The time → version index: as-of replay finds its target version with one indexed query.

Per stream and version: both clocks and their running maxima. Because the maxima never
decrease along a stream, "the longest prefix whose events all occurred (were recorded) by T"
is the highest version whose running maximum is ≤ T — one index seek, whatever the log size.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import (
    BigInteger,
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

stream_index = Table(
    "stream_index",
    metadata,
    Column("stream_id", String(36), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("stream_type", String(60), nullable=False),
    Column("event_id", String(36), nullable=False),
    Column("position", BigInteger, nullable=False),
    Column("occurred_at", UtcDateTime, nullable=False),
    Column("recorded_at", UtcDateTime, nullable=False),
    Column("max_occurred_at", UtcDateTime, nullable=False),
    Column("max_recorded_at", UtcDateTime, nullable=False),
    Index("ix_stream_index_occurred", "stream_id", "max_occurred_at", "version"),
    Index("ix_stream_index_recorded", "stream_id", "max_recorded_at", "version"),
)

Maxima = tuple[datetime, datetime]


class StreamIndexView:
    """One row per (stream, version) with the running maxima of both clocks."""

    name = "stream_index"
    tables = (stream_index,)

    def apply(self, conn: Connection, records: Sequence[Record], ids: Sequence[int]) -> None:
        running = _previous_maxima(conn, records)
        rows = []
        for record, position in zip(records, ids, strict=True):
            occurred = utc(record["occurred_at"])
            recorded = utc(record["recorded_at"])
            sid = record["stream_id"]
            before = running.get(sid)
            maxima = (occurred, recorded) if before is None else (
                max(before[0], occurred), max(before[1], recorded)
            )
            running[sid] = maxima
            rows.append({
                "stream_id": sid,
                "version": record["stream_version"],
                "stream_type": record["stream_type"],
                "event_id": record["event_id"],
                "position": position,
                "occurred_at": occurred,
                "recorded_at": recorded,
                "max_occurred_at": maxima[0],
                "max_recorded_at": maxima[1],
            })
        insert_rows(conn, stream_index, rows)


def _previous_maxima(conn: Connection, records: Sequence[Record]) -> dict[str, Maxima]:
    """The maxima at the version just before each stream's first event in this page."""
    first: dict[str, int] = {}
    for record in records:
        first.setdefault(record["stream_id"], record["stream_version"])
    keys = [(sid, version - 1) for sid, version in first.items() if version > 1]
    if not keys:
        return {}
    c = stream_index.c
    found = conn.execute(
        select(c.stream_id, c.max_occurred_at, c.max_recorded_at).where(
            tuple_(c.stream_id, c.version).in_(keys)
        )
    )
    return {row.stream_id: (row.max_occurred_at, row.max_recorded_at) for row in found}
