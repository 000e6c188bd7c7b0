"""区域责任史 An area's responsibility history: service line × holder × from/to, with event ids."""

from __future__ import annotations

import json
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Query
from fastapi.responses import RedirectResponse, Response

from api.command import stream_properties
from api.deps import EngineDep, LedgerDep
from api.pages.access import PageProblem, ViewerDep
from api.pages.rendering import render
from api.schemas import KeyPath
from ledger.ids import stream_id
from ledger.ledger import Ledger
from projections import queries

router = APIRouter(include_in_schema=False)
ServiceLine = Annotated[str | None, Query(max_length=50, pattern=r"^([a-z0-9_]*)$")]
Search = Annotated[str, Query(min_length=1, max_length=100)]


def area_defined(ledger: Ledger, area_id: str) -> dict[str, Any]:
    """The data of the area's first event (name, kind, service lines)."""
    first = ledger.recorder.select_events(stream_id("area", area_id), limit=1)
    data: dict[str, Any] = json.loads(first[0].state).get("data", {}) if first else {}
    return data


@router.get("/areas")
def find_area(id: Search) -> Response:
    return RedirectResponse(f"/areas/{quote(id.strip(), safe='')}", status_code=303)


@router.get("/areas/{area_id}")
def area_history(
    area_id: KeyPath,
    viewer: ViewerDep,
    ledger: LedgerDep,
    engine: EngineDep,
    service_line: ServiceLine = None,
) -> Response:
    properties = stream_properties(ledger, "area", area_id)
    if properties is None:
        raise PageProblem(404, "未找到 Not found", f"no area {area_id!r}", viewer)
    viewer.require("read_area", properties)
    terms = queries.area_history(engine, area_id, service_line or None)
    area = area_defined(ledger, area_id)
    return render(
        "area.html",
        viewer=viewer,
        area_id=area_id,
        area=area,
        property_id=properties[0] if properties else None,
        terms=terms,
        service_line=service_line or "",
    )
