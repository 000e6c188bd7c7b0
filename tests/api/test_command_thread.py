"""Command routes run on the process's one command thread, not in anyio's shared pool.

`api.command.CommandRoute` turns a command router's plain `def` endpoint into an async one
that awaits it on the app's `CommandWriter`; everything else about the route (its OpenAPI
operation, its validation, its errors) stays as FastAPI builds it.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from api.command import CommandRoute, CommandWriter
from api.routers import commands_staff, commands_trail
from tests.api.conftest import build


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
    app, ledger, _, tokens = build(tmp_path)
    writer: CommandWriter = app.state.services.writer
    headers = {"Authorization": f"Bearer {tokens['admin']}", "Idempotency-Key": "k"}
    body = {"person_id": "S9", "employee_no": "E-S9", "job_family": "engineering"}
    with TestClient(app) as client:
        assert client.post("/api/staff", json=body, headers=headers).status_code == 201
        (thread,) = [t for t in threading.enumerate() if t.name == "lvyue-commands"]
    assert not thread.is_alive()  # the app's shutdown stopped it

    async def refused() -> None:
        await writer.run(lambda: None)

    with pytest.raises(RuntimeError, match="stopped"):
        asyncio.run(refused())
    ledger.close()


def test_an_error_reaches_the_request_and_the_thread_goes_on() -> None:
    writer = CommandWriter()

    def fail() -> None:
        raise ValueError("refused")

    async def both() -> tuple[str, str]:
        with pytest.raises(ValueError, match="refused"):
            await writer.run(fail)
        return await writer.run(lambda: threading.current_thread().name), "ok"

    assert asyncio.run(both()) == ("lvyue-commands", "ok")
    writer.close()
