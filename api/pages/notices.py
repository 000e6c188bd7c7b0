"""公示 A property's public notices: what the company posted for owners, where, valid when.

Answered from the notices view (`projections.notice_queries`), like `GET /api/notices`; with a
moment, only the notices in force then (posted by then and inside their validity), which is
what a dispute over "were we told" asks. Owners may read them: the notices were for them.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from api.deps import EngineDep
from api.pages.access import ViewerDep
from api.pages.rendering import render
from api.routers.notices import PropertyId
from api.routers.queries import MaybeAt
from projections import notice_queries

router = APIRouter(include_in_schema=False)
SHOWN = 200


@router.get("/notices")
def notices_page(
    viewer: ViewerDep, engine: EngineDep, property: PropertyId, as_of: MaybeAt = None
) -> Response:
    viewer.require("read_notices", (property,))
    page = notice_queries.notices(engine, property, as_of=as_of, limit=SHOWN)
    return render(
        "notices.html",
        viewer=viewer,
        property_id=property,
        notices=page.items,
        as_of=as_of,
        more=page.next_after is not None,
    )
