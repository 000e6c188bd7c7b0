"""Notice reads: the public notices (公示) of a property, optionally those in force at a moment.

Answered from the `notices` view (`projections.notice_queries`); each notice carries its event
id and log position. Owners may read them too: a notice is what the company told them.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import EngineDep, GuardDep
from api.problems import QUERY_ERRORS
from api.routers.queries import Cursor, Filter, Limit, MaybeAt, keyset_page
from api.schemas import Page
from projections import notice_queries
from projections.notice_queries import Notice

router = APIRouter(tags=["notices"], responses=QUERY_ERRORS)

PropertyId = Annotated[
    str, Query(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:\-]*$")
]


@router.get("/notices")
def notices(
    guard: GuardDep,
    engine: EngineDep,
    property_id: PropertyId,
    kind: Filter = None,
    as_of: MaybeAt = None,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> Page[Notice]:
    """公示: a property's notices in log order; with `as_of`, those posted and in force then."""
    guard.require("read_notices", (property_id,))
    page = notice_queries.notices(
        engine, property_id, kind=kind, as_of=as_of,
        after=None if cursor is None else int(cursor), limit=limit,
    )  # fmt: skip
    return keyset_page(page, limit)
