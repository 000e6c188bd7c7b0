"""Crash safety on PostgreSQL: client processes SIGKILLed at random points and at chosen ones.

Writers (single-event commits and 100-event batches through the bulk importer), a checkpoint
signer and a projector run as separate processes against one schema (tests/crash_worker.py)
and are killed with SIGKILL — at random moments while they work, and deterministically inside
a 100-event write transaction, inside checkpoint signing (holding the signing lock) and
inside a projection page. Afterwards:
- `audit` is ok (every leaf recomputed from the event bytes, nodes and checkpoints checked);
- the sealed log is seq 1..n with no gap and no duplicate, one event row per leaf;
- every command acknowledged to a client (printed before the kill) is in the log, once;
- the projections, resumed after the kills, equal a rebuild from the first event;
- every two stored checkpoints verify with an RFC 9162 consistency proof (no fork).
Every loop is bounded in count and time.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from itertools import combinations
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from ledger.ledger import Ledger
from ledger.trail import SealedLog, audit, consistency_between, read_checkpoint, sign_checkpoint
from lvyue_verify import verify_consistency
from projections.database import views_engine
from projections.projector import Projector
from tests.conftest import PG_URL, make_ledger
from tests.crash_worker import ORIGIN, signing_key

ROOT = Path(__file__).resolve().parent.parent
SEED = int(os.environ.get("LVYUE_CRASH_SEED", "20260701"))
READY_TIMEOUT = 30.0


class Worker:
    """One client process; its stdout lines are collected by a thread as they arrive."""

    def __init__(self, *args: str, pause: str | None = None) -> None:
        env = {**os.environ, "LVYUE_TEST_POSTGRES": PG_URL, "PYTHONUNBUFFERED": "1"}
        if pause is not None:
            env["CRASH_PAUSE"] = pause
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.crash_worker", *args],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        self.lines: list[str] = []
        self.changed = threading.Condition()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for text in self.process.stdout:
            if not text.endswith("\n"):
                break  # a line cut by the kill was never acknowledged
            with self.changed:
                self.lines.append(text.rstrip("\n"))
                self.changed.notify_all()
        with self.changed:
            self.changed.notify_all()

    def wait_for(self, word: str, timeout: float) -> bool:
        """Until a line starting with `word` arrived (or the process ended, or time is up)."""
        deadline = time.monotonic() + timeout
        with self.changed:
            while not any(line.startswith(word) for line in self.lines):
                left = deadline - time.monotonic()
                if left <= 0 or (self.process.poll() is not None and not self.reader.is_alive()):
                    return False
                self.changed.wait(min(left, 0.1))
        return True

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)
        self.reader.join(timeout=10)

    def acked(self) -> list[str]:
        with self.changed:
            return [line.split(" ", 1)[1] for line in self.lines if line.startswith("ack ")]

    def errors(self) -> list[str]:
        with self.changed:
            return [line for line in self.lines if line.startswith("error")]


@pytest.fixture
def ledger(pg_schema: str, tmp_path: Path) -> Iterator[Ledger]:
    app = make_ledger("postgres", tmp_path, pg_schema)  # `lvyue db init` for the schema
    yield app
    app.close()


def sealed(app: Ledger) -> SealedLog:
    log = app.recorder
    assert isinstance(log, SealedLog)
    return log


def views_of(app: Ledger) -> Engine:
    return views_engine(PG_URL, schema=app.env.get("POSTGRES_SCHEMA"))


# --------------------------------------------------------------------------------------------
# The checks
# --------------------------------------------------------------------------------------------


def assert_consistent(app: Ledger, acked: list[str]) -> None:
    """Audit, gap-free seq, acknowledged commands present once, checkpoints without a fork."""
    log = sealed(app)
    report = audit(log, signing_key())
    assert report.ok, [f.describe() for f in report.findings]
    size = log.sealed_size()
    seqs = [leaf.seq for leaf in _pages(log.iter_leaves)]
    assert seqs == list(range(1, size + 1))
    events = list(_pages(log.iter_events))
    assert len(events) == size
    assert len({e.position for e in events}) == size
    per_command = Counter(json.loads(e.state)["command_id"] for e in events)
    for command_id in acked:
        receipt = app.stored_receipt(command_id)
        assert receipt is not None, f"acknowledged command {command_id} is not in the log"
        written = json.loads(receipt.result)["events"]
        assert per_command[command_id] == len(written) >= 1
        for stream, version in written:
            assert log.event_exists(stream, version)
    assert_checkpoints_consistent(log)


def _pages(read: Any) -> Iterator[Any]:
    position = 0
    while rows := read(position, 1000):
        yield from rows
        position = rows[-1][0]


def assert_checkpoints_consistent(log: SealedLog) -> None:
    checkpoints = log.all_checkpoints()
    for stored in checkpoints:
        signed = read_checkpoint(stored.note, signing_key())
        assert (signed.size, signed.root) == (stored.size, stored.root_hash)
    for first, second in combinations(checkpoints, 2):
        proof = consistency_between(log, first.size, second.size)
        verify_consistency(
            first.size,
            second.size,
            [bytes.fromhex(h) for h in proof.proof],
            first.root_hash,
            second.root_hash,
        )


def view_rows(projector: Projector) -> dict[str, list[tuple[Any, ...]]]:
    with projector.engine.connect() as conn:
        return {
            table.name: sorted((tuple(row) for row in conn.execute(select(table))), key=repr)
            for view in projector.views
            for table in view.tables
        }


def assert_projections_resume_to_a_rebuild(app: Ledger) -> None:
    engine = views_of(app)
    try:
        projector = Projector(app, engine)
        projector.catch_up()
        head = app.recorder.max_notification_id() or 0
        assert set(projector.positions().values()) == {head}
        resumed = view_rows(projector)
        projector.rebuild()
        assert view_rows(projector) == resumed
    finally:
        engine.dispose()


# --------------------------------------------------------------------------------------------
# The tests
# --------------------------------------------------------------------------------------------


def test_random_sigkills_of_writers_signer_and_projector(ledger: Ledger, pg_schema: str) -> None:
    rng = random.Random(SEED)
    acked: list[str] = []
    for round_no in range(3):
        workers = [
            Worker("single", pg_schema, f"r{round_no}w0", "400", "12"),
            Worker("single", pg_schema, f"r{round_no}w1", "400", "12"),
            Worker("batch", pg_schema, f"r{round_no}b", "40", "12"),
            Worker("sign", pg_schema, "400", "12"),
            Worker("project", pg_schema, "400", "12"),
        ]
        try:
            for worker in workers:
                assert worker.wait_for("ready", READY_TIMEOUT)
            time.sleep(rng.uniform(0.6, 1.6))
            for worker in rng.sample(workers, len(workers)):
                worker.kill()
                time.sleep(rng.uniform(0.0, 0.15))
        finally:
            for worker in workers:
                worker.kill()
        assert not any(worker.errors() for worker in workers)
        acked.extend(a for worker in workers for a in worker.acked())
    assert acked, "no command was acknowledged before the kills"
    sign_checkpoint(sealed(ledger), signing_key(), ORIGIN)  # signing works after the kills
    assert_consistent(ledger, acked)
    assert_projections_resume_to_a_rebuild(ledger)


def test_sigkill_inside_a_100_event_transaction(ledger: Ledger, pg_schema: str) -> None:
    """Killed after the batch's 100 events and their seal were sent, before the COMMIT: none
    stay."""
    first = Worker("batch", pg_schema, "ok", "1", "20")
    assert first.wait_for("done", READY_TIMEOUT)
    first.kill()
    assert len(first.acked()) == 100
    killed = Worker("batch", pg_schema, "lost", "1", "20", pause="seal")
    try:
        assert killed.wait_for("paused", READY_TIMEOUT)
    finally:
        killed.kill()
    assert killed.acked() == []
    assert ledger.stored_receipt("lost-b0-0") is None
    after = Worker("batch", pg_schema, "next", "1", "20")  # the table lock was released
    assert after.wait_for("done", READY_TIMEOUT)
    after.kill()
    assert sealed(ledger).sealed_size() == 200
    assert_consistent(ledger, first.acked() + after.acked())


def test_sigkill_while_signing_a_checkpoint(ledger: Ledger, pg_schema: str) -> None:
    """A signer killed while holding the signing lock blocks nobody and leaves no fork."""
    writer = Worker("single", pg_schema, "w", "30", "20")
    assert writer.wait_for("done", READY_TIMEOUT)
    writer.kill()
    sign_checkpoint(sealed(ledger), signing_key(), ORIGIN)
    ledger.onboard_staff(_admin("after-1"), "after-1", "E", "engineering")
    signer = Worker("sign", pg_schema, "5", "20", pause="sign")
    try:
        assert signer.wait_for("paused", READY_TIMEOUT)
    finally:
        signer.kill()
    started = time.monotonic()
    note = sign_checkpoint(sealed(ledger), signing_key(), ORIGIN)  # the lock died with it
    assert time.monotonic() - started < 5
    assert note.splitlines()[1] == "31"
    assert [c.size for c in sealed(ledger).all_checkpoints()] == [30, 31]
    assert_consistent(ledger, [*writer.acked(), "after-1"])


def test_sigkill_inside_a_projection_page(ledger: Ledger, pg_schema: str) -> None:
    writer = Worker("batch", pg_schema, "p", "2", "20")
    assert writer.wait_for("done", READY_TIMEOUT)
    writer.kill()
    first = Worker("project", pg_schema, "1", "20")  # one page of 50 events, committed
    assert first.wait_for("done", READY_TIMEOUT)
    first.kill()
    killed = Worker("project", pg_schema, "5", "20", pause="page")
    try:
        assert killed.wait_for("paused", READY_TIMEOUT)
    finally:
        killed.kill()
    engine = views_of(ledger)
    try:
        positions = Projector(ledger, engine).positions()
    finally:
        engine.dispose()
    assert set(positions.values()) == {50}  # the killed page rolled back
    assert_projections_resume_to_a_rebuild(ledger)
    assert_consistent(ledger, writer.acked())


def _admin(command_id: str) -> Any:
    from tests.crash_worker import admin

    return admin(command_id, 10_000)
