"""KPI and ranking queries over the `kpis` view (routes and the CLI call these).

Periods are a month ("2026-07") or a quarter ("2026Q3") in the property's zone; every answer
carries the event ids behind each number (`Kpis.sources`, each ranking term's `event_ids`).
Catch the views up first; `ranking` reads the view's position and its rows in one snapshot, so
the position it reports is exactly the log prefix the scores were computed from.
`ranking_at` recomputes a ranking from the first events of the log only (a fresh in-memory
KPI view fed up to that position), which is how a published ranking is checked.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from sqlalchemy import Connection, Engine, Select, select

from ledger.domain.periods import period_key, require_period
from ledger.errors import InvalidValue
from ledger.ids import stream_id
from projections.database import views_engine
from projections.projector import Projector
from projections.ranking import (
    Fact,
    Kpis,
    Person,
    Ranking,
    compute,
    merge_team,
    summarize,
)
from projections.schema import positions
from projections.views.kpis import ALL, KpiView, kpi_facts, kpi_staff


def period_column(period: str) -> Any:
    """The fact column a period string filters on (quarter or month)."""
    return kpi_facts.c.quarter if "Q" in require_period(period) else kpi_facts.c.month


def require_quarter(period: str) -> str:
    if "Q" not in require_period(period):
        raise InvalidValue(f"the 履约之星 ranking is quarterly (like 2026Q3), not {period}")
    return period


def _facts(conn: Connection, query: Select[Any]) -> list[Fact]:
    c = kpi_facts.c
    rows = conn.execute(query.order_by(c.fact_key, c.person_id))
    return [
        Fact(**{**row._mapping, "event_ids": tuple(filter(None, row.event_ids.split(",")))})
        for row in rows
    ]


def staff(engine: Engine) -> list[Person]:
    """Everyone the KPI view knows, by person id."""
    with engine.connect() as conn:
        return _staff(conn)


def _staff(conn: Connection) -> list[Person]:
    query = select(kpi_staff).order_by(kpi_staff.c.person_id)
    return [
        Person(**{k: v for k, v in row._mapping.items() if k != "stream_id"})
        for row in conn.execute(query)
    ]


def facts(
    engine: Engine,
    period: str | None = None,
    *,
    person_ids: Sequence[str] | None = None,
    property_id: str | None = None,
) -> list[Fact]:
    """Fact rows of the period (or all), of these people (or `*`), in the property (or all)."""
    c = kpi_facts.c
    query = select(kpi_facts)
    if period is not None:
        query = query.where(period_column(period) == period)
    if person_ids is not None:
        query = query.where(c.person_id.in_(list(person_ids)))
    if property_id is not None:
        query = query.where(c.property_id == property_id)
    with engine.connect() as conn:
        return _facts(conn, query)


def _by_period(subject: str, rows: Sequence[Fact], period: str | None) -> list[Kpis]:
    """One summary for `period`, or one per month when no period is given."""
    if period is not None:
        return [summarize(subject, period, rows)]
    months = sorted({f.month for f in rows})
    return [summarize(subject, m, [f for f in rows if f.month == m]) for m in months]


def person_kpis(engine: Engine, person_id: str, period: str | None = None) -> list[Kpis]:
    """A person's KPIs for the period, or month by month."""
    return _by_period(person_id, facts(engine, period, person_ids=[person_id]), period)


def property_kpis(engine: Engine, property_id: str, period: str | None = None) -> list[Kpis]:
    """A property's KPIs (each fact once) for the period, or month by month (for charts)."""
    rows = facts(engine, period, person_ids=[ALL], property_id=property_id)
    return _by_period(property_id, rows, period)


def team(engine: Engine, supervisor_id: str) -> list[str]:
    """The supervisor's direct reports (Staff.supervisor_id), by person id."""
    query = select(kpi_staff.c.person_id).where(kpi_staff.c.supervisor_id == supervisor_id)
    with engine.connect() as conn:
        return sorted(conn.execute(query).scalars())


def team_kpis(engine: Engine, supervisor_id: str, period: str | None = None) -> list[Kpis]:
    """The KPIs of a supervisor's reports together (each fact once; failed if any member failed)."""
    members = team(engine, supervisor_id)
    rows = merge_team(facts(engine, period, person_ids=members))
    return _by_period(f"team:{supervisor_id}", rows, period)


def properties(engine: Engine) -> list[str]:
    """The properties that have KPI facts."""
    query = select(kpi_facts.c.property_id).where(kpi_facts.c.person_id == ALL).distinct()
    with engine.connect() as conn:
        return sorted(p for p in conn.execute(query).scalars() if p)


def position(engine: Engine) -> int:
    """The last notification id the KPI view has applied."""
    with engine.connect() as conn:
        return _position(conn)


def _position(conn: Connection) -> int:
    query = select(positions.c.position).where(positions.c.view == KpiView.name)
    return int(conn.execute(query).scalar() or 0)


def ranking(engine: Engine, period: str, property_id: str | None = None) -> Ranking:
    """The 履约之星 ranking of a quarter (of one property, or company-wide), from the view."""
    require_quarter(period)
    c = kpi_facts.c
    query = select(kpi_facts).where(c.quarter == period)
    if property_id is not None:
        query = query.where(c.property_id == property_id)
    with _snapshot(engine) as conn:
        at = _position(conn)
        rows = _facts(conn, query)
        people = _staff(conn)
    return compute(period, people, rows, property_id, at)


@contextmanager
def _snapshot(engine: Engine) -> Iterator[Connection]:
    """A read transaction that sees one state of the database in all its statements."""
    with engine.connect() as plain:
        conn = plain
        if plain.dialect.name == "postgresql":
            conn = plain.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            yield conn


# -- published rankings ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Published:
    """A ranking recorded in the ledger (`PerformancePeriodClosed`), with what pins it."""

    property_id: str
    period: str
    formula_version: str
    log_position: int
    inputs_sha256: str
    scores: tuple[str, ...]
    event_id: str
    actor_id: str
    recorded_at: datetime


def published(app: Application[UUID], property_id: str, period: str) -> Published | None:
    """The closure of the property's period, if it was published."""
    sid = stream_id("performance_period", period_key(property_id, require_period(period)))
    stored = app.recorder.select_events(sid, limit=1)
    if not stored:
        return None
    record = json.loads(stored[0].state)
    data = record["data"]
    return Published(
        property_id=data["property_id"],
        period=data["period"],
        formula_version=data["formula_version"],
        log_position=int(data["log_position"]),
        inputs_sha256=data["inputs_sha256"],
        scores=tuple(data["scores"]),
        event_id=record["event_id"],
        actor_id=record["actor"]["id"],
        recorded_at=datetime.fromisoformat(record["recorded_at"]),
    )


def ranking_at(
    app: Application[UUID], period: str, property_id: str | None, log_position: int
) -> Ranking:
    """The ranking recomputed from events 1…`log_position` only, in a throwaway database."""
    require_quarter(period)
    engine = views_engine("memory://")
    try:
        Projector(app, engine, [KpiView()]).catch_up(stop=log_position)  # nothing after it
        return ranking(engine, period, property_id)
    finally:
        engine.dispose()
