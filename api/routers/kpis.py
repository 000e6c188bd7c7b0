"""KPI and 履约之星 ranking reads over the `kpis` view (`projections.kpi_queries`).

Every number comes with the event ids behind it (`sources`, each term's `event_ids`), so a
reader can replay exactly what was counted. Periods are a month (2026-07) or a quarter
(2026Q3); the ranking is quarterly. A person's or a team's KPIs are scoped by the property of
their current position (none: company-wide).
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel

from api.command import stream_properties
from api.deps import EngineDep, GuardDep, LedgerDep
from api.problems import QUERY_ERRORS
from api.routers.queries import Cursor, Filter, Limit, jsonable
from api.schemas import KeyPath, Page, offset_page
from ledger.errors import NotFound
from ledger.ledger import Ledger
from projections import kpi_queries
from projections.ranking import Kpis

router = APIRouter(tags=["kpis"], responses=QUERY_ERRORS)

Period = Annotated[
    str | None,
    Query(
        pattern=r"^[0-9]{4}(-(0[1-9]|1[0-2])|Q[1-4])$",
        description="a month (2026-07) or a quarter (2026Q3); none: month by month",
    ),
]
Quarter = Annotated[str, Path(pattern=r"^[0-9]{4}Q[1-4]$", description="e.g. 2026Q3")]


class CountOut(BaseModel):
    """`ok` successes of `n` trials."""

    n: int
    ok: int


class KpisOut(BaseModel):
    """domain.md §4.1 for one person, team or property over one period; `sources` lists the
    event ids behind each figure."""

    subject: str
    period: str
    response: CountOut
    resolution: CountOut
    response_p50: int | None
    response_p90: int | None
    resolution_p50: int | None
    resolution_p90: int | None
    tasks: CountOut
    acceptance: CountOut
    rating_sum: int
    rating_count: int
    inspection_sum: int
    inspection_count: int
    rounds: CountOut
    checkpoints: CountOut
    capa: CountOut
    findings: int
    finding_points: int
    penalty_points: int
    penalties_pending: int
    serious_violations: int
    reward_points: int
    wu_cmin: int
    sources: dict[str, list[str]]


class TermOut(BaseModel):
    """One weighted term of a score; decimals are exact strings."""

    name: str
    value: str | None
    weight: str
    basis: str
    event_ids: list[str]


class GateOut(BaseModel):
    name: str
    passed: bool | None
    detail: str


class EntryOut(BaseModel):
    """One person's place in the ranking, with every term, gate and the event ids behind them."""

    person_id: str
    job_family: str
    position: str | None
    property_id: str | None
    rank: int | None
    score: str
    band: str
    eligible: bool
    provisional: bool
    gates: list[GateOut]
    terms: list[TermOut]
    penalty_points: int
    p: int
    penalty_event_ids: list[str]
    pending_points: int
    score_if_pending_upheld: str
    reward_points: int
    b: int
    reward_event_ids: list[str]
    work_units: str
    work_cmin: int
    tasks_executed: int
    rated_tasks: int
    exact_score: str


class ProjectMeanOut(BaseModel):
    """A property's mean rating in the period, an exact fraction such as `9/2`."""

    property_id: str
    mean: str | None
    ratings: int
    event_ids: list[str]


class PeerGroupOut(BaseModel):
    job_family: str
    members: list[str]
    median_wu: str
    threshold_wu: str


class PublishedOut(BaseModel):
    """The ranking as recorded in the ledger (`PerformancePeriodClosed`)."""

    property_id: str
    period: str
    formula_version: str
    log_position: int
    inputs_sha256: str
    scores: list[str]
    event_id: str
    actor_id: str
    recorded_at: datetime


class RankingOut(BaseModel):
    """The quarter's ranking, reproducible from `log_position`; `published` is the closure
    recorded for the property, if any (compare its `inputs_sha256`)."""

    formula_version: str
    work_standard_version: str
    period: str
    property_id: str | None
    log_position: int
    inputs_sha256: str
    project_means: list[ProjectMeanOut]
    peer_groups: list[PeerGroupOut]
    entries: Page[EntryOut]
    published: PublishedOut | None


def _kpi_page(rows: list[Kpis], cursor: str | None, limit: int) -> Page[KpisOut]:
    return offset_page(rows, cursor, limit).map(lambda k: KpisOut.model_validate(asdict(k)))


def _person_scope(ledger: Ledger, person_id: str) -> tuple[str, ...]:
    properties = stream_properties(ledger, "staff", person_id)
    if properties is None:
        raise NotFound(f"no staff member {person_id!r}")
    return properties


@router.get("/kpis/people/{person_id}")
def person_kpis(
    person_id: KeyPath,
    guard: GuardDep,
    ledger: LedgerDep,
    engine: EngineDep,
    period: Period = None,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> Page[KpisOut]:
    """A person's KPIs for the period, or month by month."""
    guard.require("read_kpis", _person_scope(ledger, person_id))
    return _kpi_page(kpi_queries.person_kpis(engine, person_id, period), cursor, limit)


@router.get("/kpis/teams/{supervisor_id}")
def team_kpis(
    supervisor_id: KeyPath,
    guard: GuardDep,
    ledger: LedgerDep,
    engine: EngineDep,
    period: Period = None,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> Page[KpisOut]:
    """The KPIs of a supervisor's direct reports together (each fact once)."""
    guard.require("read_kpis", _person_scope(ledger, supervisor_id))
    return _kpi_page(kpi_queries.team_kpis(engine, supervisor_id, period), cursor, limit)


@router.get("/kpis/properties/{property_id}")
def property_kpis(
    property_id: KeyPath,
    guard: GuardDep,
    engine: EngineDep,
    period: Period = None,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> Page[KpisOut]:
    """A property's KPIs (each fact once) for the period, or month by month."""
    guard.require("read_kpis", (property_id,))
    return _kpi_page(kpi_queries.property_kpis(engine, property_id, period), cursor, limit)


@router.get("/rankings/{period}")
def ranking(
    period: Quarter,
    guard: GuardDep,
    ledger: LedgerDep,
    engine: EngineDep,
    property_id: Filter = None,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> RankingOut:
    """履约之星: the quarter's ranking of a property (or company-wide), with its breakdown."""
    guard.require("read_kpis", () if property_id is None else (property_id,))
    result: dict[str, Any] = jsonable(kpi_queries.ranking(engine, period, property_id))
    entries: list[dict[str, Any]] = result.pop("entries")
    page = offset_page(entries, cursor, limit).map(EntryOut.model_validate)
    found = None if property_id is None else kpi_queries.published(ledger, property_id, period)
    published = None if found is None else PublishedOut.model_validate(jsonable(found))
    return RankingOut.model_validate({**result, "entries": page, "published": published})
