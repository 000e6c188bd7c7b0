"""履约之星 The quarterly leaderboard per property, and each score's breakdown with its events.

Scores come from `projections.kpi_queries.ranking` (the same computation as `lvyue ranking`);
every term of a breakdown lists the event ids it was computed from, each linked to its page.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response
from sqlalchemy import Engine

from api.deps import EngineDep
from api.pages import reads
from api.pages.access import PageProblem, Viewer, ViewerDep
from api.pages.rendering import render
from api.schemas import KeyPath
from projections import kpi_queries
from projections.ranking import Entry

router = APIRouter(include_in_schema=False)
KPI_ACTION = "read_kpis"
"""Scores and their evidence are for overseers, auditors and admins (no KPI action yet)."""
Quarter = Annotated[str | None, Query(pattern=r"^([0-9]{4}Q[1-4])?$")]
Property = Annotated[
    str | None, Query(max_length=100, pattern=r"^([A-Za-z0-9][A-Za-z0-9._:\-]*)?$")
]
EVENTS_SHOWN = 30


def property_choices(viewer: Viewer, engine: Engine) -> list[str]:
    if viewer.principal.company_wide:
        return kpi_queries.properties(engine)
    return sorted(viewer.principal.properties)


def chosen_property(viewer: Viewer, asked: str | None) -> str | None:
    """The asked property; else the viewer's first one (a company-wide viewer: all)."""
    if asked:
        return asked
    if viewer.principal.company_wide:
        return None
    return sorted(viewer.principal.properties)[0]


def busiest(counted: list[tuple[str, int]]) -> str | None:
    """The default quarter: the one with the most facts (the latest of equals)."""
    return max(counted, key=lambda pair: (pair[1], pair[0]))[0] if counted else None


def require_scope(viewer: Viewer, property_id: str | None) -> None:
    viewer.require(KPI_ACTION, () if property_id is None else (property_id,))


@router.get("/ranking")
def leaderboard(
    viewer: ViewerDep, engine: EngineDep, period: Quarter = None, property: Property = None
) -> Response:
    prop = chosen_property(viewer, property)
    require_scope(viewer, prop)
    counted = reads.quarters(engine)
    periods = [quarter for quarter, _ in counted]
    quarter = period or busiest(counted)
    result = kpi_queries.ranking(engine, quarter, prop) if quarter else None
    return render(
        "ranking.html",
        viewer=viewer,
        result=result,
        period=quarter or "",
        periods=periods,
        property_id=prop or "",
        properties=property_choices(viewer, engine),
    )


@router.get("/ranking/{period}/{person_id}")
def breakdown(
    period: Annotated[str, Path(pattern=r"^[0-9]{4}Q[1-4]$")],
    person_id: KeyPath,
    viewer: ViewerDep,
    engine: EngineDep,
    property: Property = None,
) -> Response:
    prop = chosen_property(viewer, property)
    require_scope(viewer, prop)
    result = kpi_queries.ranking(engine, period, prop)
    entry = next((e for e in result.entries if e.person_id == person_id), None)
    if entry is None:
        raise PageProblem(404, "未找到 Not found", f"{person_id} is not ranked in {period}", viewer)
    return render(
        "breakdown.html",
        viewer=viewer,
        result=result,
        e=entry,
        property_id=prop or "",
        events_shown=EVENTS_SHOWN,
        lists=evidence_lists(entry),
    )


def evidence_lists(entry: Entry) -> list[tuple[str, str, tuple[str, ...]]]:
    """(code, what it is, event ids) for every term, the penalties and the rewards."""
    lists = [(t.name, t.basis, t.event_ids) for t in entry.terms]
    lists.append(("P", f"扣分 penalty points {entry.p}", entry.penalty_event_ids))
    lists.append(("B", f"奖励 bonus points {entry.b}", entry.reward_event_ids))
    return lists
