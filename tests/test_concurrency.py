"""Many clients at once: conflicts come back as conflicts, never as lost updates or duplicates.

Threads share one Ledger (as the API's workers do) or each open their own (as processes do);
processes run tests/crash_worker.py. Every command either succeeds once, comes back as a
ConcurrentModification (the client reloads and retries), or — for a repeated command id —
returns the first result; the final state equals a serial model built from the successes.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import psycopg
import pytest

from ledger.application import CommandResult
from ledger.domain.subjects import Subject
from ledger.envelope import CommandContext
from ledger.errors import ConcurrentModification
from ledger.ids import stream_id
from ledger.ledger import Ledger
from ledger.store.postgres import StoreBusy
from ledger.trail import EmptyLog, InconsistentCheckpoint, SealedLog, audit, sign_checkpoint
from tests.conftest import PG_URL, make_ledger
from tests.crash_worker import ORIGIN, signing_key
from tests.test_crash_safety import Worker, assert_checkpoints_consistent

T0 = datetime(2026, 7, 1, 8, 0, tzinfo=UTC)
SUBJECT = "staff/S-shared"
THREADS = 6
PER_THREAD = 8


def ctx(command_id: str) -> CommandContext:
    moment = T0 + timedelta(seconds=len(command_id))
    return CommandContext("admin", "admin", moment, moment, command_id)


def sealed(app: Ledger) -> SealedLog:
    log = app.recorder
    assert isinstance(log, SealedLog)
    return log


@pytest.fixture(params=["sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, Path, str | None]:
    schema = request.getfixturevalue("pg_schema") if request.param == "postgres" else None
    make_ledger(request.param, tmp_path, schema).close()  # `lvyue db init`
    return request.param, tmp_path, schema


def opener(store: tuple[str, Path, str | None]) -> Callable[[], Ledger]:
    kind, tmp_path, schema = store
    if kind == "sqlite":
        return lambda: Ledger(f"sqlite:///{tmp_path / 'lvyue.db'}")
    return lambda: Ledger(PG_URL, env={"POSTGRES_SCHEMA": schema or ""})


class Clients:
    """Runs one function per thread; collects results and every unexpected exception."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.results: list[CommandResult] = []
        self.conflicts = 0
        self.unexpected: list[BaseException] = []

    def issue(self, command: Callable[[], CommandResult], attempts: int = 200) -> None:
        """Retry a conflicting command as a client would, at most `attempts` times."""
        for _ in range(attempts):
            try:
                result = command()
            except ConcurrentModification:
                with self.lock:
                    self.conflicts += 1
                continue
            except BaseException as error:  # reported by the test
                with self.lock:
                    self.unexpected.append(error)
                return
            with self.lock:
                self.results.append(result)
            return
        with self.lock:
            self.unexpected.append(RuntimeError("no success after retries"))

    def run(self, targets: list[Callable[[], None]], timeout: float = 60) -> None:
        threads = [threading.Thread(target=target) for target in targets]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout)
        assert not any(thread.is_alive() for thread in threads), "a client hung"
        assert self.unexpected == [], self.unexpected


def place_hold(app: Ledger, hold: str) -> CommandResult:
    return app.place_legal_hold(ctx(hold), SUBJECT, hold, "dispute", "c1")


def onboard(app: Ledger, person: str) -> CommandResult:
    return app.onboard_staff(ctx(person), person, "E", "engineering")


def holds_of(app: Ledger) -> set[str]:
    subject: object = app.repository.get(stream_id("subject", SUBJECT))
    assert isinstance(subject, Subject)
    return set(subject.active_holds)


def test_threads_on_one_stream(store: tuple[str, Path, str | None]) -> None:
    """Shared ledger and own ledgers, one stream: the holds equal exactly the successes."""
    open_ledger = opener(store)
    shared = open_ledger()
    clients = Clients()

    def client(n: int) -> Callable[[], None]:
        def run() -> None:
            app = shared if n % 2 == 0 else open_ledger()
            try:
                for i in range(PER_THREAD):
                    clients.issue(partial(place_hold, app, f"h{n}-{i}"))
            finally:
                if app is not shared:
                    app.close()

        return run

    clients.run([client(n) for n in range(THREADS)])
    fresh = [r for r in clients.results if not r.repeated]
    assert len(fresh) == THREADS * PER_THREAD
    assert holds_of(shared) == {f"h{n}-{i}" for n in range(THREADS) for i in range(PER_THREAD)}
    stream = shared.recorder.select_events(stream_id("subject", SUBJECT))
    assert len(stream) == THREADS * PER_THREAD  # no duplicate, no lost update
    assert sorted(v for r in fresh for _, v in r.events) == list(range(1, len(stream) + 1))
    assert audit(sealed(shared), signing_key()).ok
    shared.close()


def test_the_same_command_id_at_once_is_written_once(store: tuple[str, Path, str | None]) -> None:
    open_ledger = opener(store)
    shared = open_ledger()
    clients = Clients()
    barrier = threading.Barrier(THREADS)

    def client() -> None:
        barrier.wait()
        clients.issue(lambda: shared.place_legal_hold(ctx("same"), SUBJECT, "h", "dispute", "c"))

    clients.run([client] * THREADS)
    assert len(clients.results) == THREADS
    assert Counter(r.repeated for r in clients.results)[False] == 1
    assert len({r.events for r in clients.results}) == 1  # every caller sees the first result
    assert len(shared.recorder.select_events(stream_id("subject", SUBJECT))) == 1
    shared.close()


def test_threads_on_different_streams_never_conflict(store: tuple[str, Path, str | None]) -> None:
    open_ledger = opener(store)
    apps = [open_ledger() for _ in range(3)]
    clients = Clients()

    def client(n: int) -> Callable[[], None]:
        def run() -> None:
            app = apps[n % len(apps)]
            for i in range(PER_THREAD):
                clients.issue(partial(onboard, app, f"P{n}-{i}"))

        return run

    clients.run([client(n) for n in range(THREADS)])
    assert clients.conflicts == 0
    log = sealed(apps[0])
    assert log.sealed_size() == THREADS * PER_THREAD
    assert audit(log, signing_key()).ok
    for app in apps:
        app.close()


def test_processes_on_one_stream(pg_schema: str, tmp_path: Path) -> None:
    app = make_ledger("postgres", tmp_path, pg_schema)
    workers = [Worker("holds", pg_schema, f"proc{n}", "15", SUBJECT) for n in range(3)]
    try:
        for worker in workers:
            assert worker.wait_for("done", 60), worker.lines[-3:]
    finally:
        for worker in workers:
            worker.kill()
    assert not any(worker.errors() for worker in workers)
    acked = {hold for worker in workers for hold in worker.acked()}
    assert acked == {f"proc{n}-{i}" for n in range(3) for i in range(15)}
    assert holds_of(app) == acked
    assert len(app.recorder.select_events(stream_id("subject", SUBJECT))) == len(acked)
    app.close()


def test_a_writer_blocked_past_the_lock_timeout_gets_a_retryable_error(
    pg_schema: str, tmp_path: Path
) -> None:
    """Not a hang, and not the library's ten retries of a lock timeout (≈10 × the timeout)."""
    make_ledger("postgres", tmp_path, pg_schema).close()
    app = Ledger(PG_URL, env={"POSTGRES_SCHEMA": pg_schema, "POSTGRES_LOCK_TIMEOUT": "1"})
    with psycopg.connect(PG_URL) as holder:
        holder.execute(f"LOCK TABLE {pg_schema}.ledger_events IN EXCLUSIVE MODE")
        started = time.monotonic()
        with pytest.raises(StoreBusy, match="retry") as refused:
            app.onboard_staff(ctx("blocked"), "P1", "E", "engineering")
        assert time.monotonic() - started < 3
        assert isinstance(refused.value, ConcurrentModification)  # the API's 409, retryable
        holder.rollback()
    assert app.stored_receipt("blocked") is None
    result = app.onboard_staff(ctx("blocked"), "P1", "E", "engineering")  # the retry succeeds
    assert not result.repeated
    app.close()


def test_concurrent_signers_never_fork_or_refuse(pg_schema: str, tmp_path: Path) -> None:
    """Signers in their own connections (like processes) while a writer appends."""
    writer = make_ledger("postgres", tmp_path, pg_schema)
    signers = [Ledger(PG_URL, env={"POSTGRES_SCHEMA": pg_schema}) for _ in range(3)]
    stop = threading.Event()
    problems: list[BaseException] = []

    def sign(app: Ledger) -> None:
        while not stop.is_set():
            try:
                sign_checkpoint(sealed(app), signing_key(), ORIGIN)
            except InconsistentCheckpoint as error:
                problems.append(error)
            except (StoreBusy, EmptyLog):
                continue
            except Exception as error:  # reported by the test
                problems.append(error)

    threads = [threading.Thread(target=sign, args=(app,)) for app in signers]
    for thread in threads:
        thread.start()
    try:
        for i in range(40):
            writer.onboard_staff(ctx(f"s{i}"), f"S{i}", "E", "engineering")
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)
    assert problems == []
    log = sealed(writer)
    assert len(log.all_checkpoints()) >= 2
    assert_checkpoints_consistent(log)
    for app in [writer, *signers]:
        app.close()
