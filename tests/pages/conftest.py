"""A small demo (5 days) on SQLite with page users, shared by the page and browser tests.

The demo is written once per test package: writing it is the slow part. Each user logs in
through the login form, as a person would; `Site.client(name)` is a logged-in test client.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx2
import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select

from api.app import create_app
from api.auth import Grant
from ledger.ledger import Ledger
from ledger.replay import replay
from ledger.trail import sign_checkpoint
from lvyue.demo import write_demo
from projections.database import views_engine
from projections.projector import Projector
from projections.views.chain import chain_links, chain_tasks

NOW = datetime(2026, 10, 20, 4, 0, tzinfo=UTC)
CHEAP_HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
PASSWORD = "correct horse battery"
# username: (principal id, kind, roles, properties)
USERS: dict[str, tuple[str, str, tuple[str, ...], tuple[str, ...]]] = {
    "manager": ("GD-PM", "staff", ("project_manager",), ("P-GARDEN", "P-TOWER")),
    "towerpm": ("TW-PM", "staff", ("project_manager",), ("P-TOWER",)),
    "auditor": ("AUD-1", "auditor", ("auditor",), ("*",)),
    "tech": ("GD-T1", "staff", ("staff",), ("P-GARDEN",)),
}


@dataclass(frozen=True)
class PageSettings:
    database_url: str
    signing_key_path: str
    origin: str = "test.lvyue/ledger"
    display_zone: str = "Asia/Shanghai"
    vault_key_file: str = ""  # the pages get their ledger handed in


@dataclass
class Site:
    """The demo app, its stores, and a task whose status changes along its stream."""

    app: FastAPI
    ledger: Ledger
    engine: Engine
    settings: PageSettings
    task_no: str
    area_id: str

    def client(self, username: str | None = None) -> TestClient:
        client = TestClient(self.app)
        if username is not None:
            response = log_in(client, username, PASSWORD)
            assert response.status_code == 303, response.text
        return client

    def make_app(self) -> FastAPI:
        """Another app on the same stores (the browser tests serve it with uvicorn)."""
        return build_app(self.settings, self.ledger, self.engine)


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found is not None, html
    return found.group(1)


def log_in(client: TestClient, username: str, password: str, target: str = "/") -> httpx2.Response:
    token = csrf_of(client.get("/login").text)
    form = {"username": username, "password": password, "csrf": token, "next": target}
    return client.post("/login", data=form, follow_redirects=False)


def build_app(settings: PageSettings, ledger: Ledger, engine: Engine) -> FastAPI:
    return create_app(
        settings, ledger=ledger, engine=engine, clock=lambda: NOW, password_hasher=CHEAP_HASHER
    )


def busy_task(engine: Engine) -> str:
    """A P-GARDEN task with the most links in the chain view (several statuses)."""
    links = func.count(chain_links.c.link_no)
    query = (
        select(chain_tasks.c.task_no)
        .join(chain_links, chain_links.c.task_id == chain_tasks.c.task_id)
        .where(chain_tasks.c.property_id == "P-GARDEN")
        .group_by(chain_tasks.c.task_no)
        .order_by(links.desc(), chain_tasks.c.task_no)
        .limit(1)
    )
    with engine.connect() as conn:
        return str(conn.execute(query).scalar_one())


@pytest.fixture(scope="package")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    root: Path = tmp_path_factory.mktemp("pages")
    settings = PageSettings(f"sqlite:///{root / 'lvyue.db'}", str(root / "signing.key"))
    ledger = Ledger(settings.database_url)
    write_demo(ledger, days=5)
    engine = views_engine(settings.database_url)
    Projector(ledger, engine).catch_up()
    app = build_app(settings, ledger, engine)
    services = app.state.services
    sign_checkpoint(services.sealed_log(), services.signing_key(), settings.origin)
    for name, (pid, kind, roles, props) in USERS.items():
        services.accounts.add_user(name, PASSWORD, Grant.checked(pid, kind, roles, props))
    task_no = busy_task(engine)
    assert replay(ledger, f"task/{task_no}").latest_version >= 4
    yield Site(app, ledger, engine, settings, task_no, area_id="GD-B1")
    engine.dispose()
    ledger.close()
