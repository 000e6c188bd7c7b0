"""Read-side queries on public notices (公示): what a property had posted, and what was in force.

Every notice carries its event id and log position; lists are paged by keyset on the position
(`after=page.next_after`), like the other queries (projections/queries.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select

from ledger.errors import InvalidValue
from projections.queries import MAX_LIMIT, Page
from projections.views.notices import notices as notice_rows


@dataclass(frozen=True)
class Notice:
    """One published notice: what, where, on which channels, valid [valid_from, valid_to)."""

    notice_id: str
    property_id: str
    kind: str
    title: str
    scope: tuple[str, ...]
    channels: tuple[str, ...]
    valid_from: datetime
    valid_to: datetime | None
    doc_sha256: str
    publisher_id: str
    publisher_role: str
    evidence: tuple[str, ...]
    occurred_at: datetime
    recorded_at: datetime
    stream_id: str
    stream_version: int
    event_id: str
    position: int


def notices(
    engine: Engine,
    property_id: str,
    *,
    kind: str | None = None,
    as_of: datetime | None = None,
    after: int | None = None,
    limit: int = 100,
) -> Page[Notice]:
    """The property's notices in log order (one kind, or all).

    With `as_of`, only those in force then: posted by then (occurred_at, business time) and
    valid_from ≤ as_of < valid_to. A notice posted later was not yet public, whatever its
    valid_from says.
    """
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidValue(f"limit must be between 1 and {MAX_LIMIT}")
    c = notice_rows.c
    query = select(notice_rows).where(c.property_id == property_id)
    if kind is not None:
        query = query.where(c.kind == kind)
    if as_of is not None:
        if as_of.tzinfo is None:
            raise InvalidValue("times must carry a UTC offset")
        query = query.where(c.occurred_at <= as_of, c.valid_from <= as_of)
        query = query.where(c.valid_to.is_(None) | (c.valid_to > as_of))
    if after is not None:
        query = query.where(c.position > after)
    with engine.connect() as conn:
        rows = conn.execute(query.order_by(c.position).limit(limit + 1)).all()
    items = tuple(_notice(row._mapping) for row in rows[:limit])
    more = len(rows) > limit and items
    return Page(items, items[-1].position if more else None)


def _notice(row: Any) -> Notice:
    return Notice(
        **{
            **row,
            "scope": tuple(json.loads(row["scope"])),
            "channels": tuple(json.loads(row["channels"])),
            "evidence": tuple(e for e in row["evidence"].split(",") if e),
        }
    )
