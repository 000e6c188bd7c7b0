"""Public notices (公示): one row per notice, with its validity, channels and document hash.

Answers "what had the company disclosed in this property, and was it in force then" (Civil
Code 943 disclosure, 1253/1254 safety warnings, fee transparency) without reading the log.
Scope and channels are kept as JSON arrays, so an id with a space stays one id.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from sqlalchemy import BigInteger, Column, Connection, Index, Integer, String, Table, Text

from projections.schema import Record, UtcDateTime, insert_rows, metadata, utc, utc_or_none

EVENT = "NoticePublished"

notices = Table(
    "notices",
    metadata,
    Column("position", BigInteger, primary_key=True),
    Column("event_id", String(36), nullable=False, unique=True),
    Column("notice_id", String(100), nullable=False, unique=True),
    Column("property_id", String(100), nullable=False),
    Column("kind", String(40), nullable=False),
    Column("title", Text, nullable=False),
    Column("scope", Text, nullable=False),
    Column("channels", Text, nullable=False),
    Column("valid_from", UtcDateTime, nullable=False),
    Column("valid_to", UtcDateTime),
    Column("doc_sha256", String(64), nullable=False),
    Column("publisher_id", String(100), nullable=False),
    Column("publisher_role", String(60), nullable=False),
    Column("evidence", Text, nullable=False),
    Column("occurred_at", UtcDateTime, nullable=False),
    Column("recorded_at", UtcDateTime, nullable=False),
    Column("stream_id", String(36), nullable=False),
    Column("stream_version", Integer, nullable=False),
    Index("ix_notices_property", "property_id", "position"),
    Index("ix_notices_kind", "property_id", "kind", "position"),
)


class NoticesView:
    """One row per published notice, keyed by the log position of its event."""

    name = "notices"
    tables = (notices,)

    def apply(self, conn: Connection, records: Sequence[Record], ids: Sequence[int]) -> None:
        rows = [
            _row(record, position)
            for record, position in zip(records, ids, strict=True)
            if record["type"] == EVENT
        ]
        insert_rows(conn, notices, rows)


def _row(record: Record, position: int) -> Record:
    data = record.get("data") or {}
    actor = record["actor"]
    return {
        "position": position,
        "event_id": record["event_id"],
        "notice_id": str(data.get("notice_id")),
        "property_id": str(data.get("property_id") or record.get("property_id")),
        "kind": str(data.get("kind")),
        "title": str(data.get("title")),
        "scope": _json_list(data.get("scope")),
        "channels": _json_list(data.get("channels")),
        "valid_from": utc(data["valid_from"]),
        "valid_to": utc_or_none(data.get("valid_to")),
        "doc_sha256": str(data.get("doc_sha256")),
        "publisher_id": actor["id"],
        "publisher_role": actor["role"],
        "evidence": ",".join(record.get("evidence") or ()),
        "occurred_at": utc(record["occurred_at"]),
        "recorded_at": utc(record["recorded_at"]),
        "stream_id": record["stream_id"],
        "stream_version": record["stream_version"],
    }


def _json_list(values: Sequence[str] | None) -> str:
    """A compact JSON array, byte-stable for the same values (rebuild equals incremental)."""
    return json.dumps(list(values or ()), ensure_ascii=False, separators=(",", ":"))
