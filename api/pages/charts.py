"""图表 KPI trends and SLA outcomes per month for one property, as inline SVG with tables."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from fastapi import APIRouter
from fastapi.responses import Response

from api.deps import EngineDep
from api.pages.access import ViewerDep
from api.pages.ranking import Property, property_choices, require_scope
from api.pages.rendering import render
from api.pages.svg import Chart, rate_chart, stacked_chart
from projections import kpi_queries
from projections.ranking import Kpis

router = APIRouter(include_in_schema=False)
MET, MISSED = "#1b7f3b", "#b42318"


@dataclass(frozen=True)
class Series:
    """One KPI line: its bilingual name and a rate per month (None: no sample)."""

    name: str
    rates: tuple[Fraction | None, ...]


def kpi_series(rows: list[Kpis]) -> list[Series]:
    return [
        Series("响应及时率 response on time", tuple(k.response.rate for k in rows)),
        Series("完成及时率 resolution on time", tuple(k.resolution.rate for k in rows)),
        Series("业主验收率 owner acceptance", tuple(k.acceptance.rate for k in rows)),
        Series("一次修复率 first-time fix", tuple(k.tasks.rate for k in rows)),
        Series("巡检到位率 patrol checkpoints", tuple(k.checkpoints.rate for k in rows)),
    ]


def sla_chart(months: list[str], rows: list[Kpis]) -> Chart:
    met = [k.response.ok + k.resolution.ok for k in rows]
    missed = [k.response.n - k.response.ok + k.resolution.n - k.resolution.ok for k in rows]
    return stacked_chart(months, [("按时 met", MET, met), ("超时 missed", MISSED, missed)])


@router.get("/charts")
def charts(viewer: ViewerDep, engine: EngineDep, property: Property = None) -> Response:
    choices = property_choices(viewer, engine)
    prop = property or (choices[0] if choices else None)
    require_scope(viewer, prop)
    rows = kpi_queries.property_kpis(engine, prop) if prop else []
    months = [k.period for k in rows]
    series = kpi_series(rows)
    return render(
        "charts.html",
        viewer=viewer,
        property_id=prop or "",
        properties=choices,
        rows=rows,
        months=months,
        series=series,
        trend=rate_chart(months, [(s.name, s.rates) for s in series]),
        sla=sla_chart(months, rows),
        met=MET,
        missed=MISSED,
    )
