"""Command routes run on the process's one command thread, not in anyio's shared pool.

`api.command.CommandRoute` turns a command router's plain `def` endpoint into an async one
that awaits it on the app's `CommandWriter`; everything else about the route (its OpenAPI
operation, its validation, its errors) stays as FastAPI builds it.
"""

from __future__ import annotations

import inspect
import threading
from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from api.app import create_app
from api.command import CommandRoute, CommandWriter
from api.routers import commands_staff, commands_trail
from ledger.ledger import Ledger
from tests.api.conftest import FakeSettings, build


def test_a_command_runs_on_the_command_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app, ledger, _, tokens = build(tmp_path)
    threads: list[str] = []
    onboard = ledger.onboard_staff

    def recorded(*args: Any, **kwargs: Any) -> Any:
        threads.append(threading.current_thread().name)
        return onboard(*args, **kwargs)

    monkeypatch.setattr(ledger, "onboard_staff", recorded)
    headers = {"Authorization": f"Bearer {tokens['admin']}"}
    body = {"person_id": "S9", "employee_no": "E-S9", "job_family": "engineering"}
    with TestClient(app) as client:
        for key in ("k1", "k1"):
            response = client.post(
                "/api/staff", json=body, headers={**headers, "Idempotency-Key": key}
            )
            assert response.status_code in (200, 201), response.text
        assert response.status_code == 200  # the retry: the first result
        refused = client.post("/api/staff", json=body, headers={**headers, "Idempotency-Key": "k2"})
        assert (refused.status_code, refused.json()["code"]) == (409, "already_exists")
    assert len(threads) == 3
    assert all(name.startswith("lvyue-commands") for name in threads)
    assert len({*threads}) == 1
    ledger.close()


def test_only_plain_endpoints_taking_a_command_are_moved() -> None:
    staff = {r.name: r for r in commands_staff.router.routes if isinstance(r, APIRoute)}
    assert len(staff) == len(commands_staff.router.routes)
    assert all(isinstance(route, CommandRoute) for route in staff.values())
    onboard = staff["onboard_staff"].endpoint
    assert onboard is not commands_staff.onboard_staff  # the async wrapper
    assert inspect.iscoroutinefunction(onboard)
    assert inspect.unwrap(onboard) is commands_staff.onboard_staff
    trail = {r.name: r for r in commands_trail.router.routes if isinstance(r, APIRoute)}
    assert trail["create_checkpoint"].endpoint is commands_trail.create_checkpoint


def test_the_command_thread_stops_with_the_app(tmp_path: Path) -> None:
    ledger = Ledger("memory://")
    app = create_app(FakeSettings("memory://", str(tmp_path / "k")), ledger=ledger)
    writer: CommandWriter = app.state.services.writer
    with TestClient(app):
        pass
    with pytest.raises(RuntimeError):  # shut down: it takes no more work
        writer._pool.submit(lambda: None)
    ledger.close()
