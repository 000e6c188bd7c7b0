"""首页 The home page: where to go, and the tasks that moved last in the viewer's scope."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from api.deps import EngineDep
from api.pages import reads
from api.pages.access import ViewerDep
from api.pages.rendering import render

router = APIRouter(include_in_schema=False)


@router.get("/")
def home(viewer: ViewerDep, engine: EngineDep) -> Response:
    principal = viewer.principal
    scope = None if principal.company_wide else principal.properties
    tasks = reads.recent_tasks(engine, scope) if viewer.may("read_task", None) else []
    areas = reads.areas(engine, scope) if viewer.may("read_area", None) else []
    return render("home.html", viewer=viewer, tasks=tasks, areas=areas)
