"""The composition root of the HTTP API: `create_app(settings)` builds everything at call time."""

from __future__ import annotations

import os
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from argon2 import PasswordHasher
from fastapi import APIRouter, FastAPI
from fastapi.openapi.utils import get_openapi
from sqlalchemy import Engine, MetaData

from api import auth, pages, policy
from api.auth import Accounts
from api.body_limit import BodyLimit
from api.command import CommandWriter
from api.deps import ApiSettings, Services
from api.freshness import FreshViews
from api.policy import DenialLog
from api.problems import add_problem_handlers, problem_schemas
from api.routers import (
    commands_accountability,
    commands_anchors,
    commands_contracts,
    commands_inspections,
    commands_notices,
    commands_organisation,
    commands_staff,
    commands_tasks,
    commands_trail,
    kpis,
    notices,
    personal,
    queries,
    session,
    sla,
)
from ledger.ledger import Ledger
from ledger.personal import VaultKey
from ledger.store.memory import SealingMemoryRecorder
from ledger.store.sqlite import SealingSQLiteRecorder
from projections.database import views_engine
from projections.projector import Projector

MAX_BODY_BYTES = 64 * 1024
API_PREFIX = "/api"
API_ROUTERS: Sequence[APIRouter] = (
    session.router,
    commands_tasks.router,
    commands_staff.router,
    commands_organisation.router,
    commands_contracts.router,
    commands_inspections.router,
    commands_accountability.router,
    commands_notices.router,
    commands_anchors.router,
    commands_trail.router,
    queries.router,
    personal.router,
    sla.router,
    kpis.router,
    notices.router,
)
API_TABLES: Sequence[MetaData] = (auth.metadata, policy.metadata)


def system_clock() -> datetime:
    """The server clock: `recorded_at` of every command, expiry of sessions."""
    return datetime.now(UTC)


def create_app(
    settings: ApiSettings,
    *,
    ledger: Ledger | None = None,
    clock: Callable[[], datetime] = system_clock,
    engine: Engine | None = None,
    password_hasher: PasswordHasher | None = None,
    catch_up: bool = True,
    max_body_bytes: int = MAX_BODY_BYTES,
) -> FastAPI:
    """The API on the configured store; a given `ledger` or `engine` is not closed by the app.

    `catch_up=True` brings the read models up to date before each read (`api.freshness`);
    `catch_up=False` leaves them to a separate projector process.
    """
    owned_ledger = ledger is None
    owned_engine = engine is None
    # Fresh randomness for personal-data keys comes from here, never from ledger/.
    if ledger is None:
        vault_key = VaultKey.load_or_create(settings.vault_key_file, lambda: os.urandom(32))
        ledger = Ledger(settings.database_url, entropy=os.urandom, vault_key=vault_key)
    the_ledger = ledger
    schema = the_ledger.env.get("POSTGRES_SCHEMA")
    the_engine = views_engine(settings.database_url, schema) if engine is None else engine
    for tables in API_TABLES:
        tables.create_all(the_engine)
    projector = Projector(the_ledger, the_engine) if catch_up else None
    write_lock = threading.RLock()
    embedded = isinstance(the_ledger.recorder, SealingSQLiteRecorder | SealingMemoryRecorder)
    services = Services(
        settings=settings,
        ledger=the_ledger,
        engine=the_engine,
        accounts=Accounts(the_engine, clock, password_hasher),
        denials=DenialLog(the_engine),
        views=FreshViews(projector, the_ledger.recorder, write_lock),
        clock=clock,
        write_lock=write_lock,
        writer=CommandWriter(inline=write_lock if embedded else None),
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        services.writer.close()
        if owned_ledger:
            the_ledger.close()
        if owned_engine:
            the_engine.dispose()

    app = FastAPI(
        title="lvyue 履约 API",
        version="1",
        summary="An event-sourced responsibility ledger for property management.",
        lifespan=lifespan,
    )
    app.state.services = services
    for router in API_ROUTERS:
        app.include_router(router, prefix=API_PREFIX)
    pages.install(app)  # the server-rendered pages, outside /api
    add_problem_handlers(app)
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)
    _document_problems(app)
    return app


def _document_problems(app: FastAPI) -> None:
    """Add the problem+json schemas the routes' error responses refer to."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                summary=app.summary,
                routes=app.routes,
            )
            schema.setdefault("components", {}).setdefault("schemas", {}).update(problem_schemas())
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
