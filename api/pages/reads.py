"""The few read-model lookups the pages need beyond `projections.queries` (all read-only).

Recent tasks and the areas of a scope (for the home page), one event by id (for the event
page), and the signature kinds of a signer (for the filter).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, func, select

from projections.queries import TrailEntry, trail_columns
from projections.views.areas import area_terms
from projections.views.chain import chain_links, chain_tasks
from projections.views.kpis import kpi_facts
from projections.views.signatures import signatures
from projections.views.trail import trail_events


@dataclass(frozen=True)
class TaskRow:
    """A task as the chain view last saw it, and when it last moved."""

    task_no: str
    property_id: str | None
    area_id: str | None
    service_line: str | None
    status: str
    responsible_id: str | None
    executor_id: str | None
    last_at: datetime


def recent_tasks(
    engine: Engine, properties: Collection[str] | None, limit: int = 20
) -> list[TaskRow]:
    """The tasks that moved last, in these properties (None: every property)."""
    links = chain_links.c
    last = (
        select(
            links.task_id,
            func.max(links.position).label("last_position"),
            func.max(links.occurred_at).label("last_at"),
        )
        .group_by(links.task_id)
        .subquery()
    )
    t = chain_tasks.c
    query = (
        select(
            t.task_no,
            t.property_id,
            t.area_id,
            t.service_line,
            t.status,
            t.responsible_id,
            t.executor_id,
            last.c.last_at,
        )
        .join(last, last.c.task_id == t.task_id)
        .order_by(last.c.last_position.desc())
        .limit(limit)
    )
    if properties is not None:
        query = query.where(t.property_id.in_(sorted(properties)))
    with engine.connect() as conn:
        return [TaskRow(**row._mapping) for row in conn.execute(query)]


def areas(engine: Engine, properties: Collection[str] | None) -> list[tuple[str, str | None]]:
    """(area id, property id) of every area with a term of responsibility, in scope."""
    c = area_terms.c
    query = select(c.area_id, c.property_id).distinct().order_by(c.property_id, c.area_id)
    if properties is not None:
        query = query.where(c.property_id.in_(sorted(properties)))
    with engine.connect() as conn:
        return [(row.area_id, row.property_id) for row in conn.execute(query)]


def event(engine: Engine, event_id: str) -> TrailEntry | None:
    query = select(*trail_columns()).where(trail_events.c.event_id == event_id)
    with engine.connect() as conn:
        row = conn.execute(query).first()
    return None if row is None else TrailEntry(**row._mapping)


def signature_kinds(engine: Engine, signer_id: str) -> list[str]:
    c = signatures.c
    query = select(c.kind).where(c.signer_id == signer_id).distinct().order_by(c.kind)
    with engine.connect() as conn:
        return list(conn.execute(query).scalars())


def properties(engine: Engine) -> list[str]:
    """Every property the log names (for the property filters of company-wide viewers)."""
    c = trail_events.c
    query = select(c.property_id).where(c.property_id.is_not(None)).distinct()
    with engine.connect() as conn:
        return sorted(conn.execute(query).scalars())


def quarters(engine: Engine) -> list[tuple[str, int]]:
    """(quarter, fact rows) of every quarter with KPI facts, latest first."""
    c = kpi_facts.c
    query = select(c.quarter, func.count()).group_by(c.quarter).order_by(c.quarter.desc())
    with engine.connect() as conn:
        return [(row[0], int(row[1])) for row in conn.execute(query)]
