"""What the figures write and read: commands, stored bytes, bulk-filled sealed logs, the demo.

The large logs are filled through the sealing recorder in bulk (`recorder.insert_events`,
5,000 events per transaction), so every event is sealed exactly as in production. Their
records are built from templates for speed; the first stream is also built through the domain
and the mapper and must give the same bytes, so the fill cannot drift from the real format.
Logs and the demo database are built once per harness run and shared by the figures (one
figure process builds, the others reuse; a `done.json` marks a finished fixture).
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent

from bench.baselines import Row
from bench.harness import sqlite_url
from ledger.bulk import Importer
from ledger.domain.staff import Staff
from ledger.envelope import Actor, CommandContext, Meta
from ledger.ids import event_id, stream_id
from ledger.ledger import Ledger
from ledger.record import dumps, meta_record
from ledger.schema import migrate
from ledger.trail import SealedLog
from projections.database import views_engine
from projections.projector import Projector
from projections.views.trail import TrailView

T0 = datetime(2026, 1, 5, 0, 0, tzinfo=UTC)
FILL_BATCH = 5000
STREAM_LENGTH = 10
LONG_KEY = "LONG-STREAM"
LONG_LENGTH = 1000
PROPERTIES = ("P01", "P02", "P03", "P04", "P05", "P06", "P07")


# -- single commands --------------------------------------------------------------------------


def admin_ctx(command_id: str, at: datetime) -> CommandContext:
    return CommandContext("admin", "admin", at, at, command_id)


def onboard(app: Ledger, prefix: str, i: int) -> None:
    """The single-event command of the write figures: onboard one staff member (as admin)."""
    at = T0 + timedelta(seconds=i)
    app.onboard_staff(admin_ctx(f"{prefix}-{i}", at), f"{prefix}-{i}", f"E{i}", "engineering")


def onboard_many(app: Ledger, prefix: str, start: int, count: int) -> None:
    for i in range(start, start + count):
        onboard(app, prefix, i)


def events_table(app: Ledger) -> str:
    """The events table's name (stored_events on SQLite, <app>_events on PostgreSQL)."""
    return str(getattr(app.recorder, "events_table_name"))  # noqa: B009 - not on the protocol


def sealed_log(app: Ledger) -> SealedLog:
    log = app.recorder
    if not isinstance(log, SealedLog):
        raise TypeError("the store is not a sealed log")
    return log


def is_postgres(url: str) -> bool:
    return url.startswith(("postgresql", "postgres"))


def create_store(url: str, env: Mapping[str, str] | None = None) -> str:
    """Create the store's tables as `lvyue db init` does; returns the events table's name."""
    app = open_ledger(url, env)
    try:
        return events_table(app)
    finally:
        app.close()


def open_ledger(url: str, env: Mapping[str, str] | None = None, *, plain: bool = False) -> Ledger:
    """A ledger on a fresh store; `plain` swaps in the library's own (non-sealing) recorder.

    The tables come from lvyue's schema migration either way, so the events table's DDL is
    the same for our path, the plain recorder and the raw baselines.
    """
    env = dict(env or {})
    if plain:
        create_store(url, env)
        return Ledger(url, env={**env, "APPLICATION_RECORDER_TOPIC": ""})
    if not is_postgres(url):
        return Ledger(url, env=env)
    app = Ledger(url, env=env, schema_check=False)
    migrate(app.recorder, create=True)  # `lvyue db init`: never implicit on PostgreSQL
    return app


def sqlite_rows(path: Path) -> list[Row]:
    """The stored events of an SQLite store, in log order (the bytes the baselines write)."""
    conn = sqlite3.connect(path)
    try:
        found = conn.execute(
            "SELECT originator_id, originator_version, topic, state FROM stored_events "
            "ORDER BY rowid"
        ).fetchall()
    finally:
        conn.close()
    return [(UUID(r[0]), int(r[1]), str(r[2]), bytes(r[3])) for r in found]


def stored_rows(events: Sequence[StoredEvent]) -> list[Row]:
    return [(UUID(str(e.originator_id)), e.originator_version, e.topic, e.state) for e in events]


def meta_at(i: int, command_id: str, property_id: str | None = None) -> Meta:
    at = T0 + timedelta(seconds=i)
    return Meta(Actor("admin", "admin", "admin"), at, at, command_id, property_id=property_id)


def staff_with_history(key: str, length: int, first: int = 0) -> Staff:
    """A staff aggregate with `length` pending events: onboarded, then moved between sites."""
    staff = Staff.onboard(meta_at(first, f"{key}-1"), key, f"E-{key}", "engineering", ())
    for version in range(2, length + 1):
        site = PROPERTIES[version % len(PROPERTIES)]
        staff.assign_position(
            meta_at(first + version - 1, f"{key}-{version}", site), "technician", site, None
        )
    return staff


# -- the bulk import path -----------------------------------------------------------------------


class TickClock:
    """The importer's clock: one second later at every reading, from a fixed start."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


def import_lines(prefix: str, count: int) -> list[bytes]:
    """`count` JSON Lines commands: onboard_staff as an administrator (one event each)."""
    lines = []
    for i in range(count):
        at = T0 + timedelta(seconds=i)
        doc = {
            "command": "onboard_staff",
            "ctx": {
                "actor_id": "admin",
                "actor_kind": "admin",
                "occurred_at": at.isoformat(),
                "command_id": f"{prefix}-{i}",
            },
            "args": {
                "person_id": f"{prefix}-{i}",
                "employee_no": f"E{i}",
                "job_family": "cleaning",
            },
        }
        lines.append(json.dumps(doc).encode() + b"\n")
    return lines


def run_import(app: Ledger, lines: Sequence[bytes], batch: int) -> None:
    """Import the lines through `ledger.bulk.Importer`, `batch` commands per transaction."""
    importer = Importer(
        app,
        TickClock(T0 + timedelta(days=30)),
        operator="bench",
        source_sha256="0" * 64,
        allowed_kinds=("admin",),
        batch_size=batch,
    )
    report = importer.run(enumerate(lines, 1))
    if not report.ok or report.imported != len(lines):
        raise RuntimeError(f"the import refused lines: {report.errors[:3]}")


# -- bulk-filled logs --------------------------------------------------------------------------


@dataclass(frozen=True)
class LogInfo:
    """A bulk-filled sealed SQLite log and its 1,000-event stream."""

    path: str
    events: int
    long_stream: str  # kind/key
    long_stream_id: str
    middle_at: str  # occurred/recorded time of the long stream's version LONG_LENGTH // 2
    fill_seconds: float
    index_seconds: float  # building the time → version index (stream-index view) afterwards

    @property
    def db(self) -> Path:
        return Path(self.path)


def _record(sid: UUID, key: str, version: int, i: int) -> dict[str, Any]:
    """The public record of version `version` of staff `key`, written as event number `i`."""
    if version == 1:
        meta = meta_at(i, f"{key}-1")
        kind = "StaffOnboarded"
        data: dict[str, Any] = {
            "person_id": key,
            "employee_no": f"E-{key}",
            "job_family": "engineering",
            "certificates": [],
            "name": None,
        }
    else:
        site = PROPERTIES[version % len(PROPERTIES)]
        meta = meta_at(i, f"{key}-{version}", site)
        kind = "PositionAssigned"
        data = {"position": "technician", "property_id": site, "supervisor_id": None}
    record = meta_record(meta)
    record.update(
        event_id=str(event_id(sid, version)),
        stream_type="Staff",
        stream_id=str(sid),
        stream_version=version,
        type=kind,
        data=data,
    )
    return record


def _stored(sid: UUID, key: str, version: int, i: int) -> StoredEvent:
    record = _record(sid, key, version, i)
    return StoredEvent(sid, version, record["type"], dumps(record))


def check_templates(app: Ledger) -> None:
    """The template records must equal what the domain and the mapper write, byte for byte."""
    key = "F0000000"
    staff = staff_with_history(key, 3)
    real = [app.mapper.to_stored_event(e) for e in staff.collect_events()]
    sid = stream_id("staff", key)
    made = [_stored(sid, key, v, v - 1) for v in (1, 2, 3)]
    for a, b in zip(real, made, strict=True):
        if a.state != b.state or a.topic != b.topic:
            raise RuntimeError(f"fill template drifted from the mapper:\n{a.state!r}\n{b.state!r}")


def fill_events(size: int) -> Iterator[StoredEvent]:
    """`size` events: staff streams of 10 events, with one 1,000-event stream spread evenly."""
    long_every = max(1, size // LONG_LENGTH)
    long_sid = stream_id("staff", LONG_KEY)
    long_version = 0
    i = 0
    stream = 0
    version = STREAM_LENGTH
    key = ""
    sid = long_sid
    while i < size:
        if (i + 1) % long_every == 0 and long_version < LONG_LENGTH:
            long_version += 1
            yield _stored(long_sid, LONG_KEY, long_version, i)
        else:
            if version == STREAM_LENGTH:
                key, version = f"F{stream:07d}", 0
                sid = stream_id("staff", key)
                stream += 1
            version += 1
            yield _stored(sid, key, version, i)
        i += 1


def long_middle_index(size: int) -> int:
    """The event number of the long stream's middle version."""
    long_every = max(1, size // LONG_LENGTH)
    return (LONG_LENGTH // 2) * long_every - 1


def ensure_log(workdir: Path, size: int, log: Any = print) -> LogInfo:
    """The shared sealed log of `size` events with its time → version index (built once).

    The index (figure 9 needs it) is built after the fill by the projector, with only the
    stream-index view. (Following the fill from a second process was slower on this machine:
    the two writers kept waiting on SQLite's write lock.)
    """
    home = workdir / f"log-{size}"
    done = home / "done.json"
    if done.exists():
        return LogInfo(**json.loads(done.read_text()))
    home.mkdir(parents=True, exist_ok=True)
    path = home / "lvyue.db"
    for name in ("lvyue.db", "lvyue.db-wal", "lvyue.db-shm"):
        (home / name).unlink(missing_ok=True)
    log(f"  filling a sealed log of {size:,} events (bulk, {FILL_BATCH:,} per transaction)…")
    app = Ledger(sqlite_url(path))
    try:
        check_templates(app)
        start = time.perf_counter()
        _fill(app, size)
        seconds = time.perf_counter() - start
        log(f"  filled in {seconds:.1f} s ({size / seconds:,.0f} events/s, sealed); indexing…")
        start = time.perf_counter()
        engine = views_engine(sqlite_url(path))
        try:
            Projector(app, engine, [TrailView()]).catch_up()
        finally:
            engine.dispose()
        index_seconds = time.perf_counter() - start
    finally:
        app.close()
    middle = T0 + timedelta(seconds=long_middle_index(size))
    info = LogInfo(
        str(path),
        size,
        f"staff/{LONG_KEY}",
        str(stream_id("staff", LONG_KEY)),
        middle.isoformat(),
        seconds,
        index_seconds,
    )
    log(f"  stream index built in {index_seconds:.1f} s ({size / index_seconds:,.0f} events/s)")
    done.write_text(json.dumps(asdict(info)))
    return info


def _fill(app: Ledger, size: int) -> None:
    batch: list[StoredEvent] = []
    for stored in fill_events(size):
        batch.append(stored)
        if len(batch) == FILL_BATCH:
            app.recorder.insert_events(batch)
            batch = []
    if batch:
        app.recorder.insert_events(batch)


# -- child processes ---------------------------------------------------------------------------

LAUNCHER = """
import atexit, runpy, sys
def _peak():
    with open('/proc/self/status') as status:
        for line in status:
            if line.startswith('VmHWM:'):
                sys.stderr.write('\\nBENCH-VMHWM ' + line.split()[1] + '\\n')
atexit.register(_peak)
kind, target = sys.argv[1], sys.argv[2]
sys.argv = [target, *sys.argv[3:]]
if kind == '-m':
    runpy.run_module(target, run_name='__main__', alter_sys=True)
else:
    exec(compile(target, '<bench>', 'exec'), {'__name__': '__main__'})
"""
"""Runs a module (`-m NAME`) or code (`-c CODE`) and reports the process's own peak RSS.

VmHWM is the high-water mark of the process's memory after exec; wait4's ru_maxrss would
also count the (large) benchmark process the child was forked from.
"""


@dataclass(frozen=True)
class ChildRun:
    """A finished child process: exit code, wall seconds, peak RSS, its output."""

    code: int
    seconds: float
    peak_rss_mb: float
    output: str


def run_python(
    kind: str,
    target: str,
    args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> ChildRun:
    """Run `python -m target args` (kind "-m") or `python -c target args` (kind "-c")."""
    out_path = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench-child-{os.getpid()}.out"
    command = [sys.executable, "-c", LAUNCHER, kind, target, *args]
    with out_path.open("w+b") as out:
        start = time.perf_counter()
        code = subprocess.run(
            command,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            cwd=cwd,
            check=False,
        ).returncode
        seconds = time.perf_counter() - start
        out.seek(0)
        output = out.read().decode("utf-8", "replace")
    out_path.unlink(missing_ok=True)
    peaks = [line.split()[1] for line in output.splitlines() if line.startswith("BENCH-VMHWM ")]
    peak = int(peaks[-1]) / 1024 if peaks else float("nan")
    return ChildRun(code, seconds, peak, output)


# -- the demo ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DemoInfo:
    """The demo's database, how long `lvyue demo` took, and its peak RSS."""

    path: str
    days: int
    events: int
    seconds: float
    peak_rss_mb: float

    @property
    def db(self) -> Path:
        return Path(self.path)


def ensure_demo(workdir: Path, days: int, log: Any = print) -> DemoInfo:
    """Run `lvyue demo --fresh --days N` once per harness run (timed: it is figure 12)."""
    home = workdir / f"demo-{days}"
    done = home / "done.json"
    if done.exists():
        return DemoInfo(**json.loads(done.read_text()))
    home.mkdir(parents=True, exist_ok=True)
    path = home / "lvyue.db"
    env = {
        "LVYUE_DATABASE_URL": sqlite_url(path),
        "LVYUE_SIGNING_KEY": str(home / "signing.key"),
    }
    log(f"  running `lvyue demo --fresh --days {days}`…")
    child = run_python("-m", "lvyue", ["demo", "--fresh", "--days", str(days)], env, home)
    if child.code != 0:
        raise RuntimeError(f"lvyue demo failed ({child.code}):\n{child.output[-3000:]}")
    conn = sqlite3.connect(path)
    try:
        events = int(conn.execute("SELECT COUNT(*) FROM stored_events").fetchone()[0])
    finally:
        conn.close()
    info = DemoInfo(str(path), days, events, child.seconds, child.peak_rss_mb)
    log(f"  demo: {events:,} events in {child.seconds:.1f} s")
    done.write_text(json.dumps(asdict(info)))
    return info
