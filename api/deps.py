"""Typed dependencies: what a route needs, built once per app and handed out per request."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Protocol

from fastapi import Depends, Header, Request
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from api.auth import SESSION_COOKIE, Accounts
from api.command import CommandCall, CommandWriter
from api.freshness import FreshViews
from api.idempotency import KEY_PATTERN
from api.policy import DenialLog, Guard, Principal, RequestLine
from api.problems import ApiProblem
from ledger.checkpoint import SigningKey
from ledger.ledger import Ledger
from ledger.trail import SealedLog


class ApiSettings(Protocol):
    """What the API reads from the settings (`lvyue.settings.Settings` has it all)."""

    @property
    def database_url(self) -> str: ...
    @property
    def signing_key_path(self) -> str: ...
    @property
    def origin(self) -> str: ...
    @property
    def display_zone(self) -> str: ...
    @property
    def vault_key_file(self) -> str: ...


@dataclass
class Services:
    """Everything the routes share, built by `create_app` and kept on `app.state.services`."""

    settings: ApiSettings
    ledger: Ledger
    engine: Engine
    accounts: Accounts
    denials: DenialLog
    views: FreshViews  # the embedded projector, if any, behind read-your-writes
    clock: Callable[[], datetime]
    _key: SigningKey | None = field(default=None, repr=False)
    _key_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    # Commands of one process take turns: the store has one writer anyway, and queueing here
    # (instead of in the library's connection pool, which gives up after 5 s) turns a burst of
    # concurrent requests into waiting, never into errors.
    write_lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    # ... and run where `writer` decides: on the loop when nothing would make them wait there
    # (the write lock is then held by the loop's thread), else on one thread of their own.
    writer: CommandWriter = field(default_factory=CommandWriter, repr=False)

    def signing_key(self) -> SigningKey:
        """The log's checkpoint key, loaded (or created with mode 0600) on first use."""
        with self._key_lock:
            if self._key is None:
                self._key = SigningKey.load_or_create(
                    self.settings.signing_key_path, self.settings.origin, lambda: os.urandom(32)
                )
            return self._key

    def sealed_log(self) -> SealedLog:
        recorder = self.ledger.recorder
        if not isinstance(recorder, SealedLog):
            raise TypeError("the configured store is not a sealed log")
        return recorder


# The dependencies that do no I/O are `async def`: FastAPI runs a plain `def` dependency in a
# worker thread, and each such hop cost a command about as much as the bare endpoint's whole
# request. The ones that may touch a database (`get_engine`, a principal not yet cached) keep
# their I/O off the event loop. A command's dependencies are also kept few and flat (they read
# the services from the app instead of depending on `get_services`, and build their Guard
# themselves): FastAPI solves every node of the tree again for each request, shared ones too.


async def get_services(request: Request) -> Services:
    return _services(request)


def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


async def get_ledger(services: ServicesDep) -> Ledger:
    return services.ledger


def get_engine(services: ServicesDep) -> Engine:
    """The views' engine, the views caught up first: every read route reads through this."""
    services.views.ensure()
    return services.engine


async def get_settings(services: ServicesDep) -> ApiSettings:
    return services.settings


LedgerDep = Annotated[Ledger, Depends(get_ledger)]
EngineDep = Annotated[Engine, Depends(get_engine)]
SettingsDep = Annotated[ApiSettings, Depends(get_settings)]

bearer = HTTPBearer(auto_error=False, description="an API token or a session token")
session_cookie = APIKeyCookie(name=SESSION_COOKIE, auto_error=False, description="web pages")


async def get_principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    cookie: Annotated[str | None, Depends(session_cookie)],
) -> Principal:
    """The authenticated caller, from the bearer token or else the session cookie."""
    token = credentials.credentials if credentials is not None else cookie
    principal = None
    if token:
        accounts = _services(request).accounts
        principal = accounts.cached_principal(token)
        if principal is None:
            principal = await run_in_threadpool(accounts.principal_for, token)
    if principal is None:
        detail = "log in or send a valid bearer token" if token is None else "invalid token"
        raise ApiProblem(401, "unauthenticated", detail)
    return principal


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]


async def get_guard(request: Request, principal: CurrentPrincipal) -> Guard:
    return _guard(request, _services(request), principal)


def _guard(request: Request, services: Services, principal: Principal) -> Guard:
    line = RequestLine(request.method, request.url.path)
    return Guard(principal, services.denials, services.clock, line)


GuardDep = Annotated[Guard, Depends(get_guard)]


async def get_command(
    request: Request,
    principal: CurrentPrincipal,
    idempotency_key: Annotated[
        str,
        Header(
            alias="Idempotency-Key",
            pattern=KEY_PATTERN,
            description="names the command; a retry with the same key and body is safe",
        ),
    ],
    if_match: Annotated[
        str | None,
        Header(
            alias="If-Match",
            pattern=r'^"?[0-9]{1,9}"?$',
            description='act only if the record is still at this version, e.g. "3"',
        ),
    ] = None,
) -> CommandCall:
    services = _services(request)
    return CommandCall(
        ledger=services.ledger,
        guard=_guard(request, services, principal),
        clock=services.clock,
        write_lock=services.write_lock,
        writer=services.writer,
        method=request.method,
        path=request.url.path,
        idempotency_key=idempotency_key,
        expected_version=None if if_match is None else int(if_match.strip('"')),
    )


CommandDep = Annotated[CommandCall, Depends(get_command)]
