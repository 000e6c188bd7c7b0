"""An API on the in-memory store with a ticking test clock and one token per principal.

`world` onboards the people the API tests act as (through the ledger, as admin) and issues
API tokens for them; `api` wraps the test client with per-principal helpers.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx2
import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.app import create_app
from api.auth import Grant
from ledger.envelope import CommandContext
from ledger.ledger import Ledger

T0 = datetime(2026, 7, 1, 8, 0, tzinfo=UTC)
PHOTO = "ab" * 32
DOC = "cd" * 32
LEVELS = ("executor:PT0M", "site_supervisor:PT15M", "project_manager:PT30M")
CHEAP_HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)

# name: (principal id, kind, roles, properties)
PRINCIPALS: dict[str, tuple[str, str, tuple[str, ...], tuple[str, ...]]] = {
    "admin": ("admin", "admin", ("admin",), ("*",)),
    "pm": ("PM1", "staff", ("project_manager",), ("P1",)),
    "sup": ("SUP1", "staff", ("supervisor",), ("P1",)),
    "desk": ("D1", "staff", ("staff",), ("P1",)),
    "tech": ("S2", "staff", ("staff",), ("P1",)),
    "tech2": ("S3", "staff", ("staff",), ("P1",)),
    "qi": ("QI1", "staff", ("quality_inspector",), ("P1",)),
    "po": ("PO1", "staff", ("performance_officer",), ("*",)),
    "po2": ("PO2", "staff", ("performance_officer",), ("P1",)),
    "owner": ("O1", "owner", ("owner",), ("P1",)),
    "auditor": ("AUD1", "auditor", ("auditor",), ("P1",)),
    "watcher": ("watcher", "system", ("quality_inspector",), ("P1",)),
    "p2desk": ("X1", "staff", ("staff", "supervisor"), ("P2",)),
}
STAFF = (  # person, job family, position, property
    ("PM1", "management", "project_manager", "P1"),
    ("SUP1", "management", "site_supervisor", "P1"),
    ("D1", "customer_service", "dispatcher", "P1"),
    ("S2", "engineering", "technician", "P1"),
    ("S3", "engineering", "technician", "P1"),
    ("QI1", "quality", "quality_inspector", "P1"),
    ("PO1", "management", "performance_officer", "P1"),
    ("PO2", "management", "performance_officer", "P1"),
    ("X1", "customer_service", "dispatcher", "P2"),
)


class TickingClock:
    """The server clock in tests: one second later at every reading."""

    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


@dataclass(frozen=True)
class FakeSettings:
    database_url: str
    signing_key_path: str
    origin: str = "test.lvyue/ledger"
    display_zone: str = "Asia/Shanghai"
    vault_key_file: str = ""  # the tests hand create_app their ledger


@dataclass
class Api:
    """The test client with one bearer token per principal name."""

    client: TestClient
    app: FastAPI
    ledger: Ledger
    clock: TickingClock
    tokens: dict[str, str]
    keys: Iterator[int] = field(default_factory=itertools.count)

    def headers(self, who: str | None, key: str | None = None) -> dict[str, str]:
        headers = {"Idempotency-Key": key or f"key-{next(self.keys)}"}
        if who is not None:
            headers["Authorization"] = f"Bearer {self.tokens[who]}"
        return headers

    def post(
        self,
        who: str | None,
        path: str,
        body: dict[str, Any] | None = None,
        *,
        key: str | None = None,
        **headers: str,
    ) -> httpx2.Response:
        return self.client.post(
            f"/api{path}", json=body or {}, headers={**self.headers(who, key), **headers}
        )

    def get(self, who: str | None, path: str, **params: Any) -> httpx2.Response:
        headers = {} if who is None else {"Authorization": f"Bearer {self.tokens[who]}"}
        return self.client.get(f"/api{path}", params=params, headers=headers)

    def ok(self, who: str, path: str, body: dict[str, Any] | None = None, **kw: str) -> Any:
        """POST and insist on 201."""
        response = self.post(who, path, body, **kw)
        assert response.status_code == 201, response.text
        return response.json()

    def admin_ctx(self) -> CommandContext:
        now = self.clock()
        return CommandContext("admin", "admin", now, now, f"setup-{next(self.keys)}")

    def topics(self) -> list[str]:
        return [n.topic for n in self.ledger.recorder.select_notifications(1, 100_000)]

    def max_id(self) -> int:
        return int(self.ledger.recorder.max_notification_id() or 0)

    def denials(self) -> list[dict[str, Any]]:
        response = self.get("admin", "/access-denials", limit=500)
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()["items"]
        return items


def build(
    tmp_path: Path, database_url: str = "memory://"
) -> tuple[FastAPI, Ledger, TickingClock, dict[str, str]]:
    ledger = Ledger(database_url, entropy=os.urandom)
    clock = TickingClock()
    settings = FakeSettings(database_url, str(tmp_path / "signing.key"))
    app = create_app(settings, ledger=ledger, clock=clock, password_hasher=CHEAP_HASHER)
    accounts = app.state.services.accounts
    tokens = {
        name: accounts.add_token(name, Grant.checked(pid, kind, roles, props))
        for name, (pid, kind, roles, props) in PRINCIPALS.items()
    }
    return app, ledger, clock, tokens


def onboard(api: Api) -> None:
    """The staff the tokens act as, and area A1 (P1) with S2 answering for repairs."""
    led = api.ledger
    for person, family, position, prop in STAFF:
        led.onboard_staff(api.admin_ctx(), person, f"E-{person}", family)
        led.assign_position(api.admin_ctx(), person, position, prop)
    led.define_area(api.admin_ctx(), "A1", "P1", "1号楼 building 1", "building", ("repair",))
    led.assign_responsibility(api.admin_ctx(), "A1", "repair", "SUP1")


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Api]:
    """A fresh API with the staff onboarded (nothing else)."""
    app, ledger, clock, tokens = build(tmp_path)
    with TestClient(app) as client:
        world = Api(client, app, ledger, clock, tokens)
        onboard(world)
        app.state.services.views.projector.catch_up()
        yield world
    ledger.close()


TASK = {
    "task_no": "T1",
    "property_id": "P1",
    "area_id": "A1",
    "kind": "repair",
    "service_line": "repair",
    "priority": "normal",
    "channel": "app",
    "location": "1-1203",
    "description": "卫生间漏水 leaking pipe",
    "reporter_id": "O1",
}


def register(api: Api, task_no: str = "T1", **changes: Any) -> Any:
    return api.ok("desk", "/tasks", {**TASK, "task_no": task_no, **changes})


def to_completed(api: Api, task_no: str = "T1") -> None:
    """Registered, dispatched to SUP1 (responsible) and S2 (executor), worked, completed."""
    register(api, task_no)
    api.ok("desk", f"/tasks/{task_no}/dispatch", {"responsible_id": "SUP1", "executor_id": "S2"})
    api.ok("tech", f"/tasks/{task_no}/accept")
    api.ok("tech", f"/tasks/{task_no}/arrive")
    api.ok("tech", f"/tasks/{task_no}/start")
    api.ok("tech", f"/tasks/{task_no}/complete", {"result": "换了阀门", "evidence": [PHOTO]})
