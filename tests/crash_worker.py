"""A client process for the crash and concurrency tests: `python -m tests.crash_worker MODE …`.

Modes (every loop is bounded by a count and a number of seconds):
- ``single SCHEMA PREFIX N SECONDS``: one onboard command per commit; prints ``ack <id>``
  after each command returned (i.e. after its commit was acknowledged);
- ``batch SCHEMA PREFIX N SECONDS``: imports N batches of 100 commands through ledger/bulk.py,
  one 100-event commit each; prints ``ack <id>`` for every command of a committed batch;
- ``holds SCHEMA PREFIX N SUBJECT``: places N legal holds on one subject, retrying a
  ConcurrentModification; prints ``ack <hold id>`` / ``conflict`` / ``error <type>``;
- ``sign SCHEMA N SECONDS``: signs checkpoints; prints ``signed <size>``;
- ``project SCHEMA N SECONDS``: applies projection pages of 50 events; prints ``page <pos>``.
``ready`` is printed once the ledger is open. With ``CRASH_PAUSE=seal|sign|page`` the process
prints ``paused`` and sleeps inside the first write transaction (after its events were
inserted), inside checkpoint signing (holding the signing lock) or inside a projection page
(after a view applied its rows), so the test can SIGKILL it exactly there.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Connection, Table

from ledger.bulk import Importer
from ledger.checkpoint import SigningKey
from ledger.envelope import CommandContext
from ledger.errors import ConcurrentModification
from ledger.ledger import Ledger
from ledger.store import postgres
from ledger.trail import EmptyLog, SealedLog, sign_checkpoint
from projections.database import views_engine
from projections.projector import Projector, View
from projections.schema import Record
from projections.views import all_views

PG_URL = os.environ.get("LVYUE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
ORIGIN = "lvyue.test/ledger"
T0 = datetime(2026, 7, 1, 8, 0, tzinfo=UTC)
PAUSE_SECONDS = 30.0


def say(text: str) -> None:
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def signing_key() -> SigningKey:
    """The crash tests' fixed key (the same seed as tests/test_trail.py)."""
    return SigningKey(ORIGIN, Ed25519PrivateKey.from_private_bytes(bytes([7]) * 32))


def admin(command_id: str, n: int) -> CommandContext:
    moment = T0 + timedelta(seconds=n)
    return CommandContext("admin", "admin", moment, moment, command_id)


def pause(where: str) -> Callable[..., Any]:
    def stop(*_args: Any, **_kwargs: Any) -> Any:
        say("paused")
        time.sleep(PAUSE_SECONDS)
        raise SystemExit(f"{where}: not killed while paused")

    return stop


def single(app: Ledger, prefix: str, count: int, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    for i in range(count):
        if time.monotonic() > deadline:
            return
        command_id = f"{prefix}-{i}"
        app.onboard_staff(admin(command_id, i), command_id, f"E-{command_id}", "engineering")
        say(f"ack {command_id}")


def batch(app: Ledger, prefix: str, count: int, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    importer = Importer(
        app, lambda: T0 + timedelta(days=1), operator="crash", source_sha256="0" * 64,
        allowed_kinds=("admin",), batch_size=100,
    )
    for b in range(count):
        if time.monotonic() > deadline:
            return
        ids = [f"{prefix}-b{b}-{j}" for j in range(100)]
        lines = [(n + 1, _onboard_line(cid).encode()) for n, cid in enumerate(ids)]
        report = importer.run(lines)
        if report.imported != 100:
            say(f"error batch {report.errors[:1]}")
            raise SystemExit(3)
        for cid in ids:
            say(f"ack {cid}")


def _onboard_line(command_id: str) -> str:
    return json.dumps({
        "command": "onboard_staff",
        "ctx": {"actor_id": "admin", "actor_kind": "admin", "command_id": command_id,
                "occurred_at": T0.isoformat()},
        "args": {"person_id": command_id, "employee_no": "E", "job_family": "engineering"},
    })


def holds(app: Ledger, prefix: str, count: int, subject: str) -> None:
    for i in range(count):
        hold = f"{prefix}-{i}"
        for _attempt in range(200):
            try:
                app.place_legal_hold(admin(hold, i), subject, hold, "dispute", "case-1")
            except ConcurrentModification:
                say("conflict")
                continue
            except Exception as error:  # the test fails on any of these
                say(f"error {type(error).__name__}: {error}")
                raise SystemExit(3) from error
            say(f"ack {hold}")
            break


def sign(app: Ledger, count: int, seconds: float) -> None:
    log = app.recorder
    assert isinstance(log, SealedLog)
    deadline, key = time.monotonic() + seconds, signing_key()
    for _ in range(count):
        if time.monotonic() > deadline:
            return
        try:
            note = sign_checkpoint(log, key, ORIGIN)
        except (EmptyLog, ConcurrentModification):
            time.sleep(0.05)
            continue
        say(f"signed {note.splitlines()[1]}")
        time.sleep(0.1)


class PausingView:
    """A view that pauses after its rows of a page were applied (inside the page transaction)."""

    def __init__(self, view: View) -> None:
        self.view = view

    @property
    def name(self) -> str:
        return self.view.name

    @property
    def tables(self) -> Sequence[Table]:
        return self.view.tables

    def apply(self, conn: Connection, records: Sequence[Record], ids: Sequence[int]) -> None:
        self.view.apply(conn, records, ids)
        pause("page")()


def project(app: Ledger, schema: str, count: int, seconds: float) -> None:
    views: list[View] = list(all_views())
    if os.environ.get("CRASH_PAUSE") == "page":
        views[-1] = PausingView(views[-1])
    projector = Projector(app, views_engine(PG_URL, schema), views, page_size=50)
    deadline = time.monotonic() + seconds
    for _ in range(count):
        if time.monotonic() > deadline:
            return
        read, last = projector.step()
        say(f"page {last}")
        if read == 0:
            time.sleep(0.05)


def main(argv: list[str]) -> None:
    mode, schema, *rest = argv
    where = os.environ.get("CRASH_PAUSE")
    if where == "seal":
        postgres.SealingPostgresRecorder.before_commit = pause(where)  # type: ignore[method-assign]
    if where == "sign":
        postgres.SealingPostgresRecorder.record_checkpoint = pause(where)  # type: ignore[method-assign]
    app = Ledger(PG_URL, env={"POSTGRES_SCHEMA": schema})
    say("ready")
    if mode == "single":
        single(app, rest[0], int(rest[1]), float(rest[2]))
    elif mode == "batch":
        batch(app, rest[0], int(rest[1]), float(rest[2]))
    elif mode == "holds":
        holds(app, rest[0], int(rest[1]), rest[2])
    elif mode == "sign":
        sign(app, int(rest[0]), float(rest[1]))
    elif mode == "project":
        project(app, schema, int(rest[0]), float(rest[1]))
    else:
        raise SystemExit(f"unknown mode {mode!r}")
    say("done")


if __name__ == "__main__":
    main(sys.argv[1:])
