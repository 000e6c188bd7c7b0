"""Where command routes run: on the event loop when nothing can make them wait there, else on
the process's one command thread; never in anyio's shared pool.

`api.command.CommandRoute` turns a command router's plain `def` endpoint into an async one
that the app's `CommandWriter` runs; everything else about the route (its OpenAPI operation,
its validation, its errors) stays as FastAPI builds it.
"""

from __future__ import annotations

import asyncio
import inspect
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from api.app import create_app
from api.command import CommandRoute, CommandWriter
from api.routers import commands_staff, commands_trail
from ledger.ids import stream_id
from ledger.ledger import Ledger
from tests.api.conftest import CHEAP_HASHER, FakeSettings, build
from tests.conftest import PG_URL, make_ledger

BODY = {"person_id": "S9", "employee_no": "E-S9", "job_family": "engineering"}


def threads_of_onboarding(ledger: Ledger, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the threads `onboard_staff` runs on, from now on."""
    threads: list[str] = []
    onboard = ledger.onboard_staff

    def recorded(*args: Any, **kwargs: Any) -> Any:
        threads.append(threading.current_thread().name)
        return onboard(*args, **kwargs)

    monkeypatch.setattr(ledger, "onboard_staff", recorded)
    return threads


def post(client: TestClient, tokens: dict[str, str], key: str) -> Any:
    headers = {"Authorization": f"Bearer {tokens['admin']}", "Idempotency-Key": key}
    return client.post("/api/staff", json=BODY, headers=headers)


@pytest.mark.parametrize("store", ["memory", "sqlite"])
def test_on_an_idle_embedded_store_a_command_runs_on_the_loop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, store: str
) -> None:
    url = "memory://" if store == "memory" else f"sqlite:///{tmp_path / 'lvyue.db'}"
    app, ledger, _, tokens = build(tmp_path, url)
    threads = threads_of_onboarding(ledger, monkeypatch)
    with TestClient(app) as client:
        assert post(client, tokens, "k1").status_code == 201
        assert post(client, tokens, "k1").status_code == 200  # the retry: the first result
        refused = post(client, tokens, "k2")
        assert (refused.status_code, refused.json()["code"]) == (409, "already_exists")
        loop_thread = client.portal.call(lambda: threading.current_thread().name)  # type: ignore[union-attr]
    assert threads == [loop_thread] * 3
    ledger.close()


def test_while_the_write_lock_is_held_a_command_waits_on_the_command_thread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app, ledger, _, tokens = build(tmp_path)
    threads = threads_of_onboarding(ledger, monkeypatch)
    with TestClient(app) as client:
        with holding(app.state.services.write_lock):
            waiting = background(lambda: post(client, tokens, "k1"))
            until(lambda: app.state.services.writer.started)
            assert threads == []  # queued behind the lock, on the command thread
        assert waiting().status_code == 201  # answered before the client's portal stops
    assert threads == ["lvyue-commands"]
    ledger.close()


def test_while_another_connection_writes_the_loop_stays_free(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The append on the loop does not wait for SQLite's lock: the command moves to the
    command thread and waits there, while the loop goes on answering other requests."""
    app, ledger, _, tokens = build(tmp_path, f"sqlite:///{tmp_path / 'lvyue.db'}")
    threads = threads_of_onboarding(ledger, monkeypatch)
    other = sqlite3.connect(tmp_path / "lvyue.db", isolation_level=None)
    with TestClient(app) as client:
        other.execute("BEGIN IMMEDIATE")  # another process's write transaction
        waiting = background(lambda: post(client, tokens, "k1"))
        until(lambda: app.state.services.writer.started)  # tried on the loop, now waiting
        started = time.monotonic()
        me = client.get("/api/session/me", headers={"Authorization": f"Bearer {tokens['admin']}"})
        assert me.status_code == 200
        assert time.monotonic() - started < 1.0  # the loop was not held by the command
        other.execute("ROLLBACK")
        assert waiting().status_code == 201
    assert threads[-1] == "lvyue-commands"  # tried on the loop first, then waited there
    assert len(ledger.recorder.select_events(stream_id("staff", "S9"), limit=5)) == 1
    other.close()
    ledger.close()


def test_a_refusal_while_another_connection_writes_is_recorded_once(tmp_path: Path) -> None:
    """A 403 records its denial; on the loop that write does not wait for SQLite's lock
    either: the command runs again on the command thread, which waits and records it."""
    app, ledger, _, tokens = build(tmp_path, f"sqlite:///{tmp_path / 'lvyue.db'}")
    other = sqlite3.connect(tmp_path / "lvyue.db", isolation_level=None)
    headers = {"Authorization": f"Bearer {tokens['desk']}", "Idempotency-Key": "k"}
    with TestClient(app) as client:
        other.execute("BEGIN IMMEDIATE")
        waiting = background(lambda: client.post("/api/staff", json=BODY, headers=headers))
        until(lambda: app.state.services.writer.started)
        started = time.monotonic()
        assert client.get("/api/session/me", headers=headers).status_code == 200
        assert time.monotonic() - started < 1.0
        other.execute("ROLLBACK")
        assert waiting().status_code == 403
        denials = app.state.services.denials.page(after=0, limit=10)
    assert [(d.action, d.path) for d in denials] == [("onboard_staff", "/api/staff")]
    other.close()
    ledger.close()


def test_on_postgresql_commands_always_take_the_thread(tmp_path: Path, pg_schema: str) -> None:
    ledger = make_ledger("postgres", tmp_path, pg_schema)
    settings = FakeSettings(PG_URL, str(tmp_path / "signing.key"))
    app = create_app(settings, ledger=ledger, password_hasher=CHEAP_HASHER)
    assert app.state.services.writer.inline is None
    embedded, memory_ledger, _, _ = build(tmp_path)
    assert embedded.state.services.writer.inline is embedded.state.services.write_lock
    memory_ledger.close()
    app.state.services.engine.dispose()
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
    with TestClient(app) as client:
        with holding(app.state.services.write_lock):
            waiting = background(lambda: post(client, tokens, "k"))
            until(lambda: writer.started)
        assert waiting().status_code == 201  # it ran on the command thread
    thread = writer._thread
    assert thread is not None
    assert not thread.is_alive()  # the app's shutdown stopped it

    async def refused() -> None:
        await writer.on_thread(lambda: None)

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


@contextmanager
def holding(lock: Any) -> Iterator[None]:
    """Hold `lock` from another thread for the block."""
    taken, release = threading.Event(), threading.Event()

    def hold() -> None:
        with lock:
            taken.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    taken.wait(5)
    try:
        yield
    finally:
        release.set()
        holder.join()


def until(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    """Wait for `condition` (a request reaching the command thread), not for a fixed time: on
    a busy machine a request can take longer than any sleep to arrive."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"still not true after {seconds} s"
        time.sleep(0.01)


def background(call: Any) -> Any:
    """Start `call` on a thread; the returned function joins it and gives its result."""
    box: list[Any] = []
    thread = threading.Thread(target=lambda: box.append(call()))
    thread.start()

    def result() -> Any:
        thread.join(10)
        assert box, "the call did not finish within 10 s (or raised on its thread)"
        return box[0]

    return result
