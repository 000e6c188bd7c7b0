"""The server-rendered web pages (outside /api): same login, roles and scopes as the API.

`install(app)` adds the page routes, the static files and the page error handlers
(a redirect to the login page, HTML 403/404 pages).
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from api.pages import (
    areas,
    audit,
    charts,
    events,
    home,
    login,
    notices,
    people,
    ranking,
    tasks,
)
from api.pages.access import add_page_handlers
from api.pages.rendering import STATIC

ROUTERS = (
    login.router,
    home.router,
    tasks.router,
    people.router,
    areas.router,
    notices.router,
    events.router,
    audit.router,
    ranking.router,
    charts.router,
)


def install(app: FastAPI) -> None:
    for router in ROUTERS:
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    add_page_handlers(app)
