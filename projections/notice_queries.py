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

from projections.queries import Page, keyset_page, require_aware
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
    c = notice_rows.c
    query = select(notice_rows).where(c.property_id == property_id)
    if kind is not None:
        query = query.where(c.kind == kind)
    if as_of is not None:
        require_aware(as_of)
        query = query.where(c.occurred_at <= as_of, c.valid_from <= as_of)
        query = query.where(c.valid_to.is_(None) | (c.valid_to > as_of))
    return keyset_page(engine, query, c.position, after, limit, _notice)


def _notice(**row: Any) -> Notice:
    return Notice(
        **{
            **row,
            "scope": tuple(json.loads(row["scope"])),
            "channels": tuple(json.loads(row["channels"])),
            "evidence": tuple(e for e in row["evidence"].split(",") if e),
        }
    )
