"""`lvyue watch`: the SLA deadline watcher. It derives what is due from the log and records it.

One pass (`watch_once(app, now)`):
1. Catch up the due index from the log: read the notifications after the tracked position
   (pages of 1000, each page and the new position in ONE transaction) and mark what they make
   due — a task event that starts, stops, pauses, resumes or cancels a clock (the CONDITIONS
   table of `ledger.domain.sla`), a new inspection plan (its first window's end), a missed
   round (its rule penalty) — plus the small directories the watcher needs: contracts by
   property, staff positions and supervisors, the month's deductions.
2. Take the due rows `WHERE next_at <= now ORDER BY next_at` and act on each: start and move
   the task's clocks; raise warnings, breaches and escalations whose instants have come (in
   time order, and before a stop that came after them); record `InspectionRoundMissed` for
   expired plan windows without a round; propose the rule penalties. A processed row is
   rescheduled at its next instant or dropped, and a task's row (re)indexes each of its clocks
   at the clock's next instant; these writes go with the next catch-up's transaction (or
   `Watcher.flush`), so a pass costs two small transactions at most.

The due index (`sla_due(clock_key, next_at)`, indexed on next_at) lives in the ledger's own
database (the SQLite file, the PostgreSQL schema, or an in-memory SQLite beside the memory
store), so a pass costs in proportion to what is due and what happened since the last pass,
never to what is open. It is the watcher's own table rather than a view of the projector in
`projections/projector.py`: a projector view must be a pure function of the log, and this index
also records the watcher's progress (which triggers were handled, each clock's next instant
computed from its aggregate). Dropping the tables is safe: the next pass replays the log from
the start and, every command being idempotent, writes only what is missing.

Idempotence: every command has a deterministic id ("sla/<task>/<clause>/warn/50"), and every
aggregate refuses a second warning, breach, escalation, clock or case (IllegalTransition,
AlreadyExists); a racing watcher's ConcurrentModification is retried after a reload. Two
watchers on one PostgreSQL database share the index; a row they both process is harmless.

Escalation roles are resolved to people at the level's instant: `executor` is the task's
executor then (else its responsible person), `responsible` the responsible person,
`site_supervisor` the executor's supervisor (Staff.supervisor_id, else the property's site
supervisor); any other position is the first holder of it up the executor's supervisor chain,
else the property's staff in that position, else the company's (lowest person id); anything
else names a person. Inactive people are skipped; a level that names nobody is skipped.
Warnings notify the assignee (executor, else responsible); from 75% on, also their supervisor.

Rule penalties use the subject's monthly wage from `wages` by position (default: the demo's
wage table `lvyue.demo.roster.WAGES`, with its `MINIMUM_WAGE`), and the month's running total
of proposed deductions (by the month of the basis event in Asia/Shanghai) for the 20% cap.
A plan window counts as missed `grace` after its end (default: at its end) with no round;
`windows_until` ends the watched period for plans (the demo sets it to the end of its simulated
operations, after which nobody walks rounds because nothing is simulated any more).

Automatic closure (`auto_close`, `lvyue watch --auto-close-days N --auto-close-policy REF`):
a sign-off the watcher reads is due again N days after it occurred; if the task is then still
signed off — the owner neither accepted nor returned it — the watcher records TaskAutoClosed
under the policy, at the instant the window ended. The `auto-close` position row remembers up
to where sign-offs were read with a policy: when one is given to a watcher whose index is
further on, the sign-offs in between are read once more (topic-filtered), so tasks already
waiting past their window are closed too — recorded now, hence flagged late in the trail.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any
from uuid import UUID
from zoneinfo import ZoneInfo

import typer
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Connection,
    Engine,
    Index,
    MetaData,
    String,
    Table,
    bindparam,
    case,
    delete,
    func,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from ledger.application import CommandResult
from ledger.domain.contracts import DEFAULT_TZ, Contract
from ledger.domain.inspections import (
    Checklist,
    InspectionPlan,
    InspectionRound,
    parse_frequency,
    round_key,
)
from ledger.domain.penalties import PenaltyCase
from ledger.domain.sla import CONDITIONS, SlaClock, action_for, applicable, clock_key
from ledger.domain.staff import POSITIONS
from ledger.domain.tasks import AUTO_CLOSE_WINDOW_DAYS, Task
from ledger.envelope import CommandContext
from ledger.errors import (
    AlreadyExists,
    CommandIdReused,
    ConcurrentModification,
    DomainError,
    IllegalTransition,
    NotFound,
)
from ledger.ledger import Ledger
from ledger.usecases.sla import TaskFact, TaskStory
from lvyue.settings import Settings
from lvyue.time_arguments import parse_time
from projections.database import immediate, views_engine
from projections.schema import UtcDateTime, utc

PAGE = 1000
BATCH = 500
RETRY_AFTER = timedelta(minutes=15)
WARN_SUPERVISOR_FROM = 75
ACTOR = "watcher"
WROTE, DONE, REFUSED = "wrote", "done", "refused"
MOVED = {
    "pause": "clocks paused",
    "resume": "clocks resumed",
    "stop": "clocks stopped",
    "cancel": "clocks cancelled",
}
MONTH_ZONE = ZoneInfo(DEFAULT_TZ)
SCHEMA_LOCK = 0x736C_6177  # "slaw": serialises creating the watcher's tables on PostgreSQL

TRIGGERS = frozenset(
    name
    for rules in CONDITIONS.values()
    for name in (rules.start, *rules.stop, *rules.resume, *rules.cancel, *dict(rules.pause))
)
"""Task event types that move some clock: derived from the conditions table, not listed here."""

metadata = MetaData()

positions = Table(
    "sla_watch_position",
    metadata,
    Column("name", String(40), primary_key=True),
    Column("position", BigInteger, nullable=False),
)
due = Table(
    "sla_due",
    metadata,
    Column("clock_key", String(250), primary_key=True),  # task/<id>, clock/<id>, plan/…, miss/…
    Column("next_at", UtcDateTime, nullable=False),
    Column("seq", BigInteger, nullable=False),  # log position of the last mark: compare-and-drop
    Index("ix_sla_due_next_at", "next_at", "clock_key"),
)
contracts = Table(
    "sla_contracts",
    metadata,
    Column("contract_no", String(100), primary_key=True),
    Column("property_id", String(100), primary_key=True),
    Column("term_start", UtcDateTime, nullable=False),
    Column("term_end", UtcDateTime, nullable=False),
    Index("ix_sla_contracts_property", "property_id"),
)
staff = Table(
    "sla_staff",
    metadata,
    Column("stream_id", String(36), primary_key=True),
    Column("person_id", String(100), nullable=False, unique=True),
    Column("position", String(40)),
    Column("property_id", String(100)),
    Column("supervisor_id", String(100)),
    Column("active", Boolean, nullable=False),
    Index("ix_sla_staff_position", "position", "property_id", "person_id"),
)
deductions = Table(
    "sla_deductions",
    metadata,
    Column("stream_id", String(36), primary_key=True),
    Column("subject_id", String(100), nullable=False),
    Column("month", String(7), nullable=False),
    Column("cents", BigInteger, nullable=False),
    Index("ix_sla_deductions_subject", "subject_id", "month"),
)

Row = dict[str, Any]
Command = Callable[[CommandContext], CommandResult]

# The hot statements, built once (SQLAlchemy then reuses their compiled form).
POSITION = select(positions.c.position).where(positions.c.name == "sla").with_for_update()
CLOSE_POSITION = "auto-close"
"""The position up to which sign-offs were read with an auto-close policy."""
SIGN_OFF = "CompletionSignedOff"
ADVANCE = update(positions).where(positions.c.name == "sla").values(position=bindparam("p"))
_CLOSE_READ = select(positions.c.position).where(positions.c.name == CLOSE_POSITION)
DUE = (
    select(due)
    .where(due.c.next_at <= bindparam("now", type_=UtcDateTime()))
    .order_by(due.c.next_at, due.c.clock_key)
    .limit(BATCH)
)
DUE_AFTER = (
    select(due)
    .where(
        due.c.next_at <= bindparam("now", type_=UtcDateTime()),
        tuple_(due.c.next_at, due.c.clock_key)
        > tuple_(bindparam("at", type_=UtcDateTime()), bindparam("key", type_=String())),
    )
    .order_by(due.c.next_at, due.c.clock_key)
    .limit(BATCH)
)
STAFF_ROW = select(staff).where(staff.c.person_id == bindparam("p"))
CONTRACTS_OF = (
    select(contracts.c.contract_no)
    .where(
        contracts.c.property_id == bindparam("p"),
        contracts.c.term_start <= bindparam("at", type_=UtcDateTime()),
        contracts.c.term_end > bindparam("at", type_=UtcDateTime()),
    )
    .order_by(contracts.c.contract_no)
)


@dataclass
class WatchReport:
    """What one pass read and wrote; `refused` lists commands the ledger turned down."""

    now: datetime
    events_read: int = 0
    due: int = 0
    due_kinds: dict[str, int] = field(default_factory=dict)  # task, clock, plan, miss
    written: dict[str, int] = field(default_factory=dict)
    penalties: list[tuple[str, str, str]] = field(default_factory=list)  # case, subject, property
    refused: list[str] = field(default_factory=list)

    def count(self, what: str) -> None:
        self.written[what] = self.written.get(what, 0) + 1


def demo_wages() -> tuple[dict[str, str], str]:
    """The default wage table by position and minimum wage: the demo company's."""
    from lvyue.demo.roster import MINIMUM_WAGE, WAGES  # lazily: the demo imports the watcher

    return dict(WAGES), MINIMUM_WAGE


def engine_for(app: Ledger) -> Engine:
    """An SQLAlchemy engine on the database that holds `app`'s events."""
    env = app.env
    if env.get("SQLITE_DBNAME"):
        return views_engine(f"sqlite:///{env['SQLITE_DBNAME']}")
    if env.get("POSTGRES_DBNAME"):
        auth = env.get("POSTGRES_USER", "postgres")
        if env.get("POSTGRES_PASSWORD"):
            auth += f":{env['POSTGRES_PASSWORD']}"
        host = f"{env.get('POSTGRES_HOST', '127.0.0.1')}:{env.get('POSTGRES_PORT', '5432')}"
        url = f"postgresql://{auth}@{host}/{env['POSTGRES_DBNAME']}"
        return views_engine(url, schema=env.get("POSTGRES_SCHEMA") or None)
    return views_engine("memory://")


@dataclass(frozen=True)
class AutoClose:
    """The contract's rule that signed-off work its owner leaves unanswered for `window_days`
    counts as accepted: closed under `policy_ref`."""

    policy_ref: str
    window_days: int


class Watcher:
    """The deadline watcher of one ledger, with its due index."""

    def __init__(
        self,
        app: Ledger,
        engine: Engine | None = None,
        wages: Mapping[str, str] | None = None,
        minimum_wage: str | None = None,
        grace: timedelta = timedelta(0),
        actor: str = ACTOR,
        windows_until: datetime | None = None,
        auto_close: AutoClose | None = None,
    ) -> None:
        self.app = app
        self.auto_close = auto_close
        self.engine = engine or engine_for(app)
        default_wages, default_minimum = demo_wages()
        self.wages = dict(default_wages if wages is None else wages)
        self.minimum_wage = default_minimum if minimum_wage is None else minimum_wage
        self.grace = grace
        self.actor = actor
        self.windows_until = windows_until
        self._lock = threading.Lock()
        self._backfilled = auto_close is None
        self._seen: int | None = None  # the log head at our last catch-up (a hint only)
        self._settled: list[tuple[Row, datetime | None]] = []  # written with the next catch-up
        self._marks: Marks = {}
        with self.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": SCHEMA_LOCK})
            metadata.create_all(conn)
            _insert(conn, positions, {"name": "sla", "position": 0}, ["name"], None)

    # -- one pass ------------------------------------------------------------------------

    def once(self, now: datetime) -> WatchReport:
        """Catch up from the log, then record everything due by `now`."""
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        with self._lock:
            pass_ = Pass(self, now.astimezone(UTC))
            pass_.report.events_read = self.catch_up()
            pass_.run()
            self._settled.extend(pass_.settled)
            _merge(self._marks, pass_.marks)
            return pass_.report

    def flush(self) -> None:
        """Write what the last pass settled and marked (the next catch-up would do it too)."""
        with self._lock, immediate(self.engine.connect()) as conn, conn.begin():
            self._lock_position(conn)
            self._write_pending(conn)

    def _write_pending(self, conn: Connection) -> None:
        """Reschedule or drop processed rows — unless a newer mark arrived meanwhile (compare
        the seq) — then add the marks the pass made (e.g. clocks just started)."""
        settled, self._settled = self._settled, []
        marks, self._marks = self._marks, {}
        drop = [{"k": r["clock_key"], "s": r["seq"]} for r, at in settled if at is None]
        move = [{"k": r["clock_key"], "s": r["seq"], "n": at} for r, at in settled if at]
        if drop:
            conn.execute(DROP, drop)
        if move:
            conn.execute(MOVE, move)
        _upsert_marks(conn, marks)

    # -- the due index -------------------------------------------------------------------

    def catch_up(self) -> int:
        """Read the log after the tracked position into the index; returns events read."""
        if not self._backfilled:
            self._backfill_sign_offs()
        head = self.app.recorder.max_notification_id() or 0
        if head == self._seen and not (self._settled or self._marks):
            return 0  # nothing was recorded or processed since we last looked
        total = 0
        while True:
            read = self._page()
            total += read
            if read < PAGE:
                self._seen = head
                return total

    def _page(self) -> int:
        """One page of the log into the index, with the pending writes, in one transaction."""
        with immediate(self.engine.connect()) as conn, conn.begin():
            position = self._lock_position(conn)
            self._write_pending(conn)
            notes = self.app.recorder.select_notifications(position, PAGE, inclusive_of_start=False)
            if not notes:
                return 0
            marks: Marks = {}
            for note in notes:
                if note.topic in INDEXED:
                    self._index(conn, json.loads(note.state), note.id, marks)
            _upsert_marks(conn, marks)
            conn.execute(ADVANCE, {"p": notes[-1].id})
            if self.auto_close is not None:
                self._read_sign_offs_to(conn, notes[-1].id)
            return len(notes)

    def _backfill_sign_offs(self) -> None:
        """Once per watcher with a policy: mark the sign-offs the index read without one."""
        with immediate(self.engine.connect()) as conn, conn.begin():
            upto = self._lock_position(conn)
            done = conn.execute(_CLOSE_READ).scalar()
            start = int(done or 0)
            marks: Marks = {}
            while start < upto:
                notes = self.app.recorder.select_notifications(
                    start, PAGE, stop=upto, topics=(SIGN_OFF,), inclusive_of_start=False
                )
                for note in notes:
                    self._mark_close(json.loads(note.state), note.id, marks)
                start = notes[-1].id if notes else upto
            _upsert_marks(conn, marks)
            self._read_sign_offs_to(conn, upto)
        self._backfilled = True

    def _read_sign_offs_to(self, conn: Connection, position: int) -> None:
        row = {"name": CLOSE_POSITION, "position": position}
        _insert(conn, positions, row, ["name"], {"position": position})

    def _mark_close(self, record: Row, position: int, marks: Marks) -> None:
        """A sign-off is due again when the owner's window after it ends."""
        if self.auto_close is not None:
            window = timedelta(days=self.auto_close.window_days)
            _mark(marks, f"close/{record['stream_id']}", utc(record["occurred_at"]) + window,
                  position)  # fmt: skip

    def _lock_position(self, conn: Connection) -> int:
        """The tracked position, its row locked for the transaction (FOR UPDATE on PostgreSQL,
        BEGIN IMMEDIATE on SQLite). Every multi-row write to the index takes this lock first,
        so two watchers never lock due rows in opposite orders."""
        return int(conn.execute(POSITION).scalar_one())

    def _index(self, conn: Connection, record: Row, position: int, marks: Marks) -> None:
        """What one event makes due, or changes in the watcher's directories."""
        kind, data, sid = record["type"], record.get("data") or {}, record["stream_id"]
        recorded = utc(record["recorded_at"])
        if kind == SIGN_OFF:
            self._mark_close(record, position, marks)
        if kind in TRIGGERS and record["stream_type"] == "Task":
            _mark(marks, f"task/{sid}", recorded, position)
        elif kind == "InspectionPlanScheduled":
            end = utc(data["window_start"]) + parse_frequency(data["frequency"])
            _mark(marks, f"plan/{data['plan_id']}", end + self.grace, position)
        elif kind == "InspectionRoundMissed":
            _mark(marks, f"miss/{data['round_id']}", recorded, position)
        elif kind == "ServiceContractRegistered":
            for property_id in data["property_ids"]:
                row = {
                    "contract_no": data["contract_no"],
                    "property_id": property_id,
                    "term_start": utc(data["term_start"]),
                    "term_end": utc(data["term_end"]),
                }
                _insert(conn, contracts, row, ["contract_no", "property_id"], None)
        elif kind in STAFF_CHANGES:
            _index_staff(conn, kind, sid, data)
        elif kind in ("PenaltyProposed", "PenaltyReduced", "PenaltyRevoked"):
            _index_deduction(conn, kind, sid, data, utc(record["occurred_at"]))

    def due_rows(self, now: datetime, after: tuple[datetime, str] | None) -> list[Row]:
        """The next batch of due rows, in time order, after a keyset cursor."""
        with self.engine.connect() as conn:
            if after is None:
                found = conn.execute(DUE, {"now": now})
            else:
                found = conn.execute(DUE_AFTER, {"now": now, "at": after[0], "key": after[1]})
            return [dict(row._mapping) for row in found]

    def staff_row(self, person_id: str | None) -> Row | None:
        if person_id is None:
            return None
        with self.engine.connect() as conn:
            found = conn.execute(STAFF_ROW, {"p": person_id}).first()
        return None if found is None else dict(found._mapping)

    def staff_in(self, position: str, property_id: str | None) -> str | None:
        """The active holder of a position at a property (or anywhere), lowest id first."""
        query = select(staff.c.person_id).where(staff.c.position == position, staff.c.active)
        if property_id is not None:
            query = query.where(staff.c.property_id == property_id)
        with self.engine.connect() as conn:
            found = conn.execute(query.order_by(staff.c.person_id).limit(1)).scalar()
        return None if found is None else str(found)

    def contracts_of(self, property_id: str, at: datetime) -> list[str]:
        with self.engine.connect() as conn:
            found = conn.execute(CONTRACTS_OF, {"p": property_id, "at": at})
            return [str(n) for n in found.scalars()]

    def deducted(self, subject_id: str, at: datetime) -> str:
        """Deductions proposed against a person in the month of `at`, as money."""
        c = deductions.c
        query = select(func.coalesce(func.sum(c.cents), 0)).where(
            c.subject_id == subject_id, c.month == _month(at)
        )
        with self.engine.connect() as conn:
            cents = int(conn.execute(query).scalar() or 0)
        return f"{Decimal(cents) / 100:.2f}"

    @contextmanager
    def month_lock(self, subject_id: str, at: datetime) -> Iterator[None]:
        """Serialise one person's deductions of one month between watchers (PostgreSQL; an
        SQLite file has a single writer, and this watcher runs one pass at a time)."""
        if self.engine.dialect.name != "postgresql":
            yield
            return
        with self.engine.begin() as conn:
            key = f"lvyue-sla-deductions/{subject_id}/{_month(at)}"
            conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": key})
            yield

    def note_deduction(self, case: PenaltyCase, at: datetime) -> None:
        """Count a case just proposed at once, so the next one in this pass sees it."""
        row = _deduction_row(str(case.id), case.subject_id, at, case.amount)
        with self.engine.begin() as conn:
            _insert(conn, deductions, row, ["stream_id"], {"cents": row["cents"]})


Marks = dict[str, tuple[datetime, int]]
STAFF_CHANGES = ("StaffOnboarded", "PositionAssigned", "PositionRevoked", "StaffOffboarded")
INDEXED = TRIGGERS | {
    SIGN_OFF,
    "InspectionPlanScheduled",
    "InspectionRoundMissed",
    "ServiceContractRegistered",
    *STAFF_CHANGES,
    "PenaltyProposed",
    "PenaltyReduced",
    "PenaltyRevoked",
}


def _mark(marks: Marks, key: str, at: datetime, position: int) -> None:
    """Keep the earliest instant and the latest log position of a key."""
    earlier = marks.get(key)
    if earlier is None:
        marks[key] = (at, position)
    else:
        marks[key] = (min(earlier[0], at), max(earlier[1], position))


def _merge(into: Marks, marks: Marks) -> None:
    for key, (at, position) in marks.items():
        _mark(into, key, at, position)


DROP = delete(due).where(due.c.clock_key == bindparam("k"), due.c.seq == bindparam("s"))
MOVE = (
    update(due)
    .where(due.c.clock_key == bindparam("k"), due.c.seq == bindparam("s"))
    .values(next_at=bindparam("n"))
)
_UPSERTS: dict[str, Any] = {}


def _upsert_marks(conn: Connection, marks: Marks) -> None:
    """Insert due rows; an existing row keeps the earlier instant and takes the newer seq."""
    if not marks:
        return
    rows = [{"clock_key": k, "next_at": at, "seq": seq} for k, (at, seq) in sorted(marks.items())]
    dialect = conn.dialect.name
    if dialect not in _UPSERTS:
        statement = _dialect_insert(conn)(due)
        new = statement.excluded
        _UPSERTS[dialect] = statement.on_conflict_do_update(
            index_elements=[due.c.clock_key],
            set_={
                "next_at": case((new.next_at < due.c.next_at, new.next_at), else_=due.c.next_at),
                "seq": case((new.seq > due.c.seq, new.seq), else_=due.c.seq),
            },
        )
    conn.execute(_UPSERTS[dialect], rows)


def _insert(
    conn: Connection, table: Table, row: Row, keys: list[str], changes: Row | None
) -> None:
    """INSERT, or on a key conflict UPDATE `changes` (or do nothing)."""
    statement = _dialect_insert(conn)(table).values(row)
    if changes:
        conn.execute(statement.on_conflict_do_update(index_elements=keys, set_=changes))
    else:
        conn.execute(statement.on_conflict_do_nothing(index_elements=keys))


def _dialect_insert(conn: Connection) -> Any:
    return pg_insert if conn.dialect.name == "postgresql" else sqlite_insert


def _index_staff(conn: Connection, kind: str, sid: str, data: Row) -> None:
    """The staff directory the escalation roles are resolved against."""
    if kind == "StaffOnboarded":
        row = {"stream_id": sid, "person_id": data["person_id"], "active": True}
        _insert(conn, staff, row, ["stream_id"], None)
        return
    changes: Row = {
        "PositionAssigned": {
            "position": data.get("position"),
            "property_id": data.get("property_id"),
            "supervisor_id": data.get("supervisor_id"),
        },
        "PositionRevoked": {"position": None},
        "StaffOffboarded": {"position": None, "active": False},
    }[kind]
    conn.execute(update(staff).where(staff.c.stream_id == sid).values(changes))


def _index_deduction(conn: Connection, kind: str, sid: str, data: Row, at: datetime) -> None:
    """Each case's current deduction, for the month's 20% cap."""
    if kind == "PenaltyProposed":
        row = _deduction_row(sid, data["subject_id"], at, data["amount"])
        _insert(conn, deductions, row, ["stream_id"], {"cents": row["cents"]})
        return
    amount = data.get("amount", "0.00") if kind == "PenaltyReduced" else "0.00"
    cents = _cents(amount)
    conn.execute(update(deductions).where(deductions.c.stream_id == sid).values(cents=cents))


def _deduction_row(sid: str, subject_id: str, at: datetime, amount: str) -> Row:
    month, cents = _month(at), _cents(amount)
    return {"stream_id": sid, "subject_id": subject_id, "month": month, "cents": cents}


def _cents(amount: str) -> int:
    return int(Decimal(amount) * 100)


def _month(at: datetime) -> str:
    return at.astimezone(MONTH_ZONE).strftime("%Y-%m")


def _allowed(action: str, status: str) -> bool:
    """Whether a clock in `status` can take `action` (else the event is not for it now)."""
    return status in {"pause": ("running",), "resume": ("paused",)}.get(
        action, ("running", "paused")
    )


def _has_penalty(clause: Mapping[str, Any]) -> bool:
    return int(clause["penalty_points"]) > 0 or Decimal(clause["penalty_amount"]) > 0


class Pass:
    """The work of one pass at one `now`: due rows in time order, each settled afterwards."""

    def __init__(self, watcher: Watcher, now: datetime) -> None:
        self.w = watcher
        self.app = watcher.app
        self.now = now
        self.report = WatchReport(now)
        self._contracts: dict[str, Contract] = {}
        self.settled: list[tuple[Row, datetime | None]] = []
        self.marks: Marks = {}

    def run(self) -> None:
        """Due rows in (next_at, key) order, batch by batch; what they settle and mark is
        written with the next catch-up (or `Watcher.flush`)."""
        cursor: tuple[datetime, str] | None = None
        while True:
            rows = self.w.due_rows(self.now, cursor)
            for row in rows:
                self.report.due += 1
                self.settled.append((row, self.process(row)))
                cursor = (row["next_at"], row["clock_key"])
            if len(rows) < BATCH:
                return

    def process(self, row: Row) -> datetime | None:
        """Act on one due row; returns when it is next due (None: done)."""
        kind, _, key = row["clock_key"].partition("/")
        self.report.due_kinds[kind] = self.report.due_kinds.get(kind, 0) + 1
        handler = {
            "task": self.task,
            "clock": self.clock,
            "plan": self.plan,
            "miss": self.missed,
            "close": self.close,
        }[kind]
        next_at = handler(key, row)
        if next_at is not None and next_at <= self.now:
            next_at = self.now + RETRY_AFTER  # no progress possible now: look again later
        return next_at

    # -- commands ------------------------------------------------------------------------

    def issue(self, what: str, command_id: str, at: datetime, call: Command) -> str:
        """Run one command as the system: "wrote", "done" (it was already recorded, by us or
        by another watcher) or "refused" (reported, not raised)."""
        ctx = CommandContext(
            actor_id=self.w.actor,
            actor_kind="system",
            occurred_at=min(at, self.now),
            recorded_at=self.now,
            command_id=command_id,
        )
        for _attempt in range(3):
            try:
                result = call(ctx)
            except ConcurrentModification:
                continue  # a racing watcher wrote first: the next attempt reloads
            except (IllegalTransition, AlreadyExists, CommandIdReused):
                return DONE
            except DomainError as error:
                self.report.refused.append(f"{command_id}: {error.message}")
                return REFUSED
            if result.repeated:
                return DONE
            self.report.count(what)
            return WROTE
        self.report.refused.append(f"{command_id}: kept conflicting; left for the next pass")
        return REFUSED

    # -- tasks: start and move their clocks ----------------------------------------------

    def task(self, key: str, row: Row) -> datetime | None:
        try:
            task = self.app.task_story(UUID(key))
        except NotFound:
            return None
        facts = task.facts
        known = [f for f in facts if f.recorded_at <= self.now]
        later = [f.recorded_at for f in facts if f.recorded_at > self.now and f.type in TRIGGERS]
        if known and known[0].type == "TaskRegistered":
            for contract_no in self.w.contracts_of(task.property_id, task.registered_at):
                clauses = self.contract(contract_no).clauses
                kind, line, urgent = task.kind, task.service_line, task.is_emergency
                for clause_id in applicable(clauses, kind, line, urgent, task.registered_at):
                    self.sync_clock(task, contract_no, clause_id, known)
        return min(later, default=None)

    def close(self, key: str, row: Row) -> datetime | None:
        """A task still signed off when its owner's window ended: closed under the policy. A
        task signed off again (after a return) is due again at its new window's end."""
        policy = self.w.auto_close
        if policy is None:
            return None
        task: object = self.app.repository.get(UUID(key))
        if not isinstance(task, Task):
            return None
        ends = task.owner_window_ends(policy.window_days)
        if ends is None or ends > self.now:
            return ends
        task_no = task.task_no
        self.issue(
            "tasks auto-closed", f"auto-close/{task_no}/{task.version}", ends,
            lambda c: self.app.auto_close_task(c, task_no, policy.policy_ref, policy.window_days),
        )  # fmt: skip
        return None

    def sync_clock(
        self, task: TaskStory, contract_no: str, clause_id: str, facts: list[TaskFact]
    ) -> None:
        """Start the clock if needed and bring it up to date; schedule its next instant."""
        prefix = f"sla/{clock_key(task.task_no, clause_id)}"
        clock = self.load_clock(task.task_no, clause_id)
        if clock is None:
            self.issue(
                "clocks started", f"{prefix}/start", task.registered_at,
                lambda c: self.app.start_sla_clock(c, task.task_no, contract_no, clause_id),
            )  # fmt: skip
            clock = self.load_clock(task.task_no, clause_id)
        if clock is None:
            return
        version = clock.version
        clock = self.up_to_date(clock, facts)
        next_at = self.next_at(clock)
        if next_at is not None:  # (re)index it; an index rebuilt from the log relies on this
            # a clock that moved takes the log head as seq: no stale settle can undo the mark
            changed = clock.version != version
            head = (self.app.recorder.max_notification_id() or 0) if changed else 0
            _merge(self.marks, {f"clock/{clock.id}": (next_at, head)})

    def up_to_date(self, clock: SlaClock, facts: list[TaskFact]) -> SlaClock:
        """Apply the task's events the clock has not seen and record its timed facts, all in
        time order, up to now."""
        prefix = f"sla/{clock_key(clock.task_no, clock.clause_id)}"
        clause = self.app.clause_version(clock.contract_no, clock.clause_id, clock.clause_version)
        for fact in facts:
            action = action_for(
                clock.metric, clause["pause_on"], fact.type, fact.cause, fact.has_evidence
            )
            if action in (None, "start") or fact.event_id in clock.applied:
                continue
            if not _allowed(action, clock.status):
                continue
            clock = self.advance(clock, fact.occurred_at)
            self.move(clock, action, fact, prefix)
            clock = self.app.sla_clock(clock.task_no, clock.clause_id)
        return self.advance(clock, self.now)

    def load_clock(self, task_no: str, clause_id: str) -> SlaClock | None:
        try:
            return self.app.sla_clock(task_no, clause_id)
        except NotFound:
            return None

    def move(self, clock: SlaClock, action: str, fact: TaskFact, prefix: str) -> None:
        calls: dict[str, Callable[..., CommandResult]] = {
            "pause": self.app.pause_sla_clock,
            "resume": self.app.resume_sla_clock,
            "stop": self.app.stop_sla_clock,
            "cancel": self.app.cancel_sla_clock,
        }
        command = calls[action]
        self.issue(
            MOVED[action],
            f"{prefix}/{action}/{fact.event_id}",
            fact.occurred_at,
            lambda c: command(c, clock.task_no, clock.clause_id, fact.event_id),
        )

    # -- clocks: warnings, breach, escalation, penalty -----------------------------------

    def clock(self, key: str, row: Row) -> datetime | None:
        clock: Any = self.app.repository.get(UUID(key))
        if not isinstance(clock, SlaClock):
            return None
        facts = self.app.task_story(clock.task_no).facts
        clock = self.up_to_date(clock, [f for f in facts if f.recorded_at <= self.now])
        return self.next_at(clock)

    def advance(self, clock: SlaClock, until: datetime) -> SlaClock:
        """Record, in time order, every warning, the breach and escalations due by `until`."""
        until = min(until, self.now)
        cal = self.app.clock_calendar(clock)
        prefix = f"sla/{clock_key(clock.task_no, clock.clause_id)}"
        changed = False
        for threshold in clock.pending_warnings():
            at = clock.instant_of(cal, clock.threshold_seconds(threshold))
            if at is None or at > until:
                break
            people = self.warned(clock, threshold, at)
            changed |= self.issue(
                "warnings", f"{prefix}/warn/{threshold}", at,
                lambda c, t=threshold, p=people: self.app.raise_sla_warning(  # type: ignore[misc]
                    c, clock.task_no, clock.clause_id, t, p
                ),
            ) != REFUSED  # fmt: skip
        breach = clock.breach_instant(cal)
        if not clock.breached and breach is not None and breach <= until:
            self.issue(
                "breaches", f"{prefix}/breach", breach,
                lambda c: self.app.record_sla_breach(c, clock.task_no, clock.clause_id),
            )  # fmt: skip
            changed = True
        if changed:
            clock = self.app.sla_clock(clock.task_no, clock.clause_id)
        if clock.breached:
            self.breach_penalty(clock, prefix)
            clock = self.escalate(clock, until, prefix)
        return clock

    def escalate(self, clock: SlaClock, until: datetime, prefix: str) -> SlaClock:
        if clock.status not in ("running", "paused"):
            return clock
        changed = False
        for level in range(clock.escalated_level + 1, len(clock.escalation_levels) + 1):
            at = clock.escalation_at(level)
            if at is None or at > until:
                break
            person = self.resolve(clock.role_of_level(level), clock, at)
            if person is None:
                self.report.refused.append(f"{prefix}/escalate/{level}: nobody holds the role")
                continue
            changed |= self.issue(
                "escalations", f"{prefix}/escalate/{level}", at,
                lambda c, n=level, p=person: self.app.escalate_sla(  # type: ignore[misc]
                    c, clock.task_no, clock.clause_id, n, p
                ),
            ) != REFUSED  # fmt: skip
        return self.app.sla_clock(clock.task_no, clock.clause_id) if changed else clock

    def next_at(self, clock: SlaClock) -> datetime | None:
        """The clock's next instant after this pass (levels already past were attempted)."""
        if clock.breached:
            if clock.status not in ("running", "paused"):
                return None
            for level in range(clock.escalated_level + 1, len(clock.escalation_levels) + 1):
                at = clock.escalation_at(level)
                if at is not None and at > self.now:
                    return at
            return None
        return clock.next_due(self.app.clock_calendar(clock))

    def breach_penalty(self, clock: SlaClock, prefix: str) -> None:
        clause = self.app.clause_version(clock.contract_no, clock.clause_id, clock.clause_version)
        case_id = f"SLA-{clock_key(clock.task_no, clock.clause_id)}"
        subject = clock.responsible_at_breach
        if not _has_penalty(clause) or subject is None or self.app.exists("penalty", case_id):
            return
        wage = self.wage_of(subject)
        if wage is None or clock.breach_at is None:
            self.report.refused.append(f"{prefix}/penalty: no monthly wage known for {subject}")
            return
        at = clock.breach_at
        self.propose(case_id, subject, at, f"{prefix}/penalty", lambda already: (
            lambda c: self.app.propose_rule_penalty_for_breach(
                c, clock.task_no, clock.clause_id, wage, self.w.minimum_wage, already
            )
        ))  # fmt: skip

    def propose(
        self, case_id: str, subject: str, at: datetime, command_id: str,
        command: Callable[[str], Command],
    ) -> None:  # fmt: skip
        """Read the month's deductions, propose, and count the new case — one subject-month at
        a time across watchers, so racing proposals never pass the cap together."""
        with self.w.month_lock(subject, at):
            outcome = self.issue(
                "penalties proposed", command_id, at, command(self.w.deducted(subject, at))
            )
            if outcome == WROTE:
                case = self.app.load(PenaltyCase, "penalty", case_id)
                self.w.note_deduction(case, at)
                self.report.penalties.append((case_id, case.subject_id, case.property_id))

    # -- inspection windows --------------------------------------------------------------

    def plan(self, plan_id: str, row: Row) -> datetime | None:
        """Record a miss for every expired window with no round; due again at the next end."""
        plan = self.app.load(InspectionPlan, "inspection_plan", plan_id)
        window = plan.window_containing(row["next_at"] - self.w.grace - plan.period)
        start = plan.window_start if window is None else window[0]
        last = self.now if self.w.windows_until is None else min(self.now, self.w.windows_until)
        while start + plan.period + self.w.grace <= last:
            rid = round_key(plan_id, start)
            if not self.app.exists("inspection_round", rid):
                outcome = self.issue(
                    "missed rounds", f"miss/{rid}", start + plan.period,
                    lambda c, s=start: self.app.record_round_missed(c, plan_id, s),  # type: ignore[misc]
                )  # fmt: skip
                if outcome == WROTE:
                    self.missed(rid, row)  # its rule penalty at once
            start += plan.period
        if last < self.now:
            return None  # the watched period is over: no later window is checked
        return start + plan.period + self.w.grace

    def missed(self, round_id: str, row: Row) -> datetime | None:
        """A missed window's rule penalty, under the frequency clause of the plan's line."""
        missed = self.app.load(InspectionRound, "inspection_round", round_id)
        case_id = f"MISS-{round_id}"
        if missed.status != "missed" or self.app.exists("penalty", case_id):
            return None
        plan = self.app.load(InspectionPlan, "inspection_plan", missed.plan_id)
        line = self.app.load(Checklist, "checklist", missed.checklist_id).service_line
        found = self.frequency_clause(plan, line, missed.window_start)
        last_moment = missed.window_end - timedelta(seconds=1)
        subject = self.app.responsible_for(plan.area_id, line, last_moment)
        if found is None or subject is None:
            return None
        contract_no, clause_id = found
        wage = self.wage_of(subject)
        if wage is None:
            self.report.refused.append(f"miss/{round_id}/penalty: no wage known for {subject}")
            return None
        at = missed.window_end
        self.propose(case_id, subject, at, f"miss/{round_id}/penalty", lambda already: (
            lambda c: self.app.propose_rule_penalty_for_missed_round(
                c, round_id, contract_no, clause_id, wage, self.w.minimum_wage, already
            )
        ))  # fmt: skip
        return None

    def frequency_clause(
        self, plan: InspectionPlan, line: str, at: datetime
    ) -> tuple[str, str] | None:
        """The contract clause committing to this plan's line (its target = the plan's frequency
        preferred), with a penalty; None if no contract promises it."""
        candidates = []
        for contract_no in self.w.contracts_of(plan.property_id, at):
            contract = self.contract(contract_no)
            for clause_id in sorted(contract.clauses):
                clause = contract.clause_at(clause_id, at)
                if clause and clause["metric"] == "frequency" and clause["service_line"] == line:
                    rank = 0 if clause["target"] == plan.frequency else 1
                    if _has_penalty(clause):
                        candidates.append((rank, contract_no, clause_id))
        return min(candidates)[1:] if candidates else None

    # -- people ----------------------------------------------------------------------------

    def warned(self, clock: SlaClock, threshold: str, at: datetime) -> tuple[str, ...]:
        responsible, executor = self.app.responsible_at(clock.task_no, at)
        people = [executor or responsible]
        if int(threshold) >= WARN_SUPERVISOR_FROM:
            people.append(self.supervisor_of(executor or responsible))
        return tuple(dict.fromkeys(p for p in people if p and self.active(p)))

    def resolve(self, role: str, clock: SlaClock, at: datetime) -> str | None:
        """The person a chain level names at `at` (see the module docstring)."""
        responsible, executor = self.app.responsible_at(clock.task_no, at)
        base = executor or responsible
        if role == "executor":
            return base if base and self.active(base) else None
        if role == "responsible":
            return responsible if responsible and self.active(responsible) else None
        if role == "site_supervisor":
            boss = self.supervisor_of(base)
            if boss and self.active(boss):
                return boss
            return self.w.staff_in(role, clock.property_id)
        if role in POSITIONS:
            return self.up_the_chain(base, role) or self.w.staff_in(
                role, clock.property_id
            ) or self.w.staff_in(role, None)
        return role if self.active(role) else None

    def up_the_chain(self, person: str | None, position: str) -> str | None:
        seen: set[str] = set()
        while person and person not in seen:
            seen.add(person)
            row = self.w.staff_row(person)
            if row is None:
                return None
            if row["position"] == position and row["active"]:
                return person
            person = row["supervisor_id"]
        return None

    def supervisor_of(self, person: str | None) -> str | None:
        row = self.w.staff_row(person)
        return None if row is None else row["supervisor_id"]

    def active(self, person: str) -> bool:
        row = self.w.staff_row(person)
        return bool(row and row["active"])

    def wage_of(self, person: str) -> str | None:
        row = self.w.staff_row(person)
        return None if row is None or row["position"] is None else self.w.wages.get(row["position"])

    def contract(self, contract_no: str) -> Contract:
        if contract_no not in self._contracts:
            self._contracts[contract_no] = self.app.contract_now(contract_no)
        return self._contracts[contract_no]


# -- entry points ----------------------------------------------------------------------------


def watcher_of(app: Ledger) -> Watcher:
    """The watcher kept with an application (one due-index connection per ledger)."""
    found = app.__dict__.get("_lvyue_sla_watcher")
    if not isinstance(found, Watcher):
        found = Watcher(app)
        app.__dict__["_lvyue_sla_watcher"] = found
    return found


def watch_once(app: Ledger, now: datetime) -> WatchReport:
    """One watcher pass at `now` (an injected clock: tests and the demo drive it)."""
    watcher = watcher_of(app)
    report = watcher.once(now)
    watcher.flush()
    return report


def watch_forever(
    watcher: Watcher,
    interval: float,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    stopped: threading.Event | None = None,
    on_pass: Callable[[WatchReport], None] | None = None,
) -> None:
    """Pass after pass, `interval` seconds apart, until `stopped` is set."""
    stopped = stopped or threading.Event()
    while not stopped.is_set():
        report = watcher.once(clock())
        watcher.flush()
        if on_pass is not None:
            on_pass(report)
        stopped.wait(interval)


def watch(
    once: Annotated[bool, typer.Option("--once", help="one pass, then exit")] = False,
    now: Annotated[
        str | None, typer.Option("--now", help="RFC 3339 time of the pass (with --once)")
    ] = None,
    interval: Annotated[
        float, typer.Option("--interval", min=0.1, help="seconds between passes")
    ] = 60.0,
    auto_close_days: Annotated[
        int | None,
        typer.Option(
            "--auto-close-days",
            min=AUTO_CLOSE_WINDOW_DAYS[0],
            max=AUTO_CLOSE_WINDOW_DAYS[1],
            help="close signed-off work its owner leaves unanswered this many days",
        ),
    ] = None,
    auto_close_policy: Annotated[
        str | None,
        typer.Option("--auto-close-policy", help="the contract clause that says so"),
    ] = None,
) -> None:
    """The SLA deadline watcher (时限监控): warnings, breaches, escalations, missed rounds,
    and (with both --auto-close options) automatic closure of unanswered work."""
    if now is not None and not once:
        raise typer.BadParameter("--now fixes the time of a single pass; add --once")
    moment = parse_time(now) if now is not None else None
    auto_close = _auto_close(auto_close_days, auto_close_policy)
    ledger = Ledger(Settings.from_env().database_url)
    try:
        watcher = Watcher(ledger, auto_close=auto_close)
        if once:
            report = watcher.once(moment or datetime.now(UTC))
            watcher.flush()
            _print(report)
            return
        try:
            watch_forever(watcher, interval, on_pass=_print)
        except KeyboardInterrupt:
            return
    finally:
        ledger.close()


def _auto_close(days: int | None, policy: str | None) -> AutoClose | None:
    """Both options or neither: a closure always names the clause it rests on."""
    if days is None and policy is None:
        return None
    if days is None or policy is None or not policy.strip():
        raise typer.BadParameter(
            "自动关闭需同时给出 --auto-close-days 与 --auto-close-policy: give both, "
            "the window and the contract clause that sets it"
        )
    return AutoClose(policy.strip(), days)


def _print(report: WatchReport) -> None:
    written = ", ".join(f"{what} {n}" for what, n in sorted(report.written.items())) or "nothing"
    typer.echo(
        f"时限监控 watch {report.now.isoformat()}: read {report.events_read} events, "
        f"{report.due} due; wrote {written}; refused {len(report.refused)}"
    )
    for line in report.refused[:20]:
        typer.echo(f"  refused {line}", err=True)
