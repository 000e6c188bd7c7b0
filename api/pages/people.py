"""签字记录 A person's signature record: what they signed, by month and kind, page by page."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query
from fastapi.responses import RedirectResponse, Response

from api.command import stream_properties
from api.deps import EngineDep, LedgerDep
from api.pages import reads
from api.pages.access import Viewer, ViewerDep
from api.pages.rendering import render
from api.schemas import KeyPath
from ledger.ledger import Ledger
from projections import queries

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 50
OptionalKey = Annotated[
    str | None, Query(max_length=100, pattern=r"^([A-Za-z0-9][A-Za-z0-9._:\-]*)?$")
]
Month = Annotated[str | None, Query(pattern=r"^([0-9]{4}-(0[1-9]|1[0-2]))?$")]
After = Annotated[int | None, Query(ge=0, le=2**62)]
Search = Annotated[str, Query(min_length=1, max_length=100)]


def month_bounds(month: str | None, zone: ZoneInfo) -> tuple[datetime | None, datetime | None]:
    """[first instant, first instant of the next month) of `YYYY-MM` in the display zone."""
    if not month:
        return None, None
    year, number = (int(part) for part in month.split("-"))
    start = datetime(year, number, 1, tzinfo=zone)
    end = datetime(year + number // 12, number % 12 + 1, 1, tzinfo=zone)
    return start, end


def default_property(viewer: Viewer, ledger: Ledger, person_id: str) -> str | None:
    """Everything for a company-wide viewer; else the person's property if in scope."""
    if viewer.principal.company_wide:
        return None
    home = stream_properties(ledger, "staff", person_id) or ()
    in_scope = [p for p in home if viewer.principal.covers(p)]
    return (in_scope or sorted(viewer.principal.properties))[0]


@router.get("/people")
def find_person(id: Search) -> Response:
    return RedirectResponse(f"/people/{quote(id.strip(), safe='')}/signatures", status_code=303)


@router.get("/people/{person_id}/signatures")
def signature_record(
    person_id: KeyPath,
    viewer: ViewerDep,
    ledger: LedgerDep,
    engine: EngineDep,
    month: Month = None,
    kind: OptionalKey = None,
    property: OptionalKey = None,
    after: After = None,
) -> Response:
    chosen = property or default_property(viewer, ledger, person_id)
    viewer.require("read_signatures", () if chosen is None else (chosen,))
    since, until = month_bounds(month, viewer.show.zone)
    page = queries.signatures(
        engine, signer_id=person_id, property_id=chosen, kind=kind or None, since=since,
        until=until, after=after, limit=PAGE_SIZE,
    )  # fmt: skip
    filters = {"month": month or "", "kind": kind or "", "property": chosen or ""}
    choices = reads.properties(engine) if viewer.principal.company_wide else None
    return render(
        "signatures.html",
        viewer=viewer,
        person_id=person_id,
        page=page,
        filters=filters,
        kinds=reads.signature_kinds(engine, person_id),
        properties=choices if choices is not None else sorted(viewer.principal.properties),
        next_query=None
        if page.next_after is None
        else urlencode({**filters, "after": page.next_after}),
        first_query=urlencode(filters) if after is not None else None,
    )
