"""A small property for the SLA tests: staff with supervisors, areas, calendars, chain, contract.

Shared by the SLA, clock-machine and watcher tests (not a test module itself).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import chinese_calendar

from ledger.application import CommandResult
from ledger.envelope import CommandContext
from ledger.ledger import Ledger
from tests.clock import PHOTO, T0, Clock

P = "P1"
CONTRACT = "C1"
LEVELS = (
    "executor:PT0M",
    "site_supervisor:PT15M",
    "project_manager:PT30M",
    "performance_officer:PT1H",
    "leadership:PT2H",
)
PEOPLE = (
    ("LD", "management", "leadership", None),
    ("PO", "quality", "performance_officer", "LD"),
    ("PM", "management", "project_manager", "LD"),
    ("ES", "engineering", "site_supervisor", "PM"),
    ("SS", "security", "site_supervisor", "PM"),
    ("T1", "engineering", "technician", "ES"),
    ("T2", "engineering", "technician", "ES"),
    ("DS", "customer_service", "dispatcher", "PM"),
    ("G1", "security", "guard", "SS"),
)
LINE_OF = {"emergency": "emergency", "repair": "repair", "complaint": "complaint"}


def holidays_2026() -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Statutory holidays (weekdays off) and 调休 make-up days of 2026, from chinese-calendar."""
    days = [date(2026, 1, 1) + timedelta(days=n) for n in range(365)]
    off = tuple(d.isoformat() for d in days if chinese_calendar.is_holiday(d) and d.weekday() < 5)
    makeup = tuple(
        d.isoformat() for d in days if chinese_calendar.is_workday(d) and d.weekday() >= 5
    )
    return off, makeup


def clause(
    app: Ledger, clock: Clock, clause_id: str, line: str, metric: str, target: str,
    calendar_id: str, **kw: Any,
) -> CommandResult:  # fmt: skip
    """A clause on the escalation chain ESC-1, by default 2 points and 100.00 per breach."""
    terms: dict[str, Any] = {"penalty_points": 2, "penalty_amount": "100.00", **kw}
    return app.define_clause(
        clock.admin(), CONTRACT, clause_id, line, metric, target, calendar_id, "ESC-1",
        "奖惩制度 第3条", f"合同 {clause_id}", **terms,
    )  # fmt: skip


def build_world(app: Ledger, clock: Clock) -> None:
    """Everything the SLA engine reads, set up by an administrator before T0 + 1 min."""
    for pid, family, _, _ in PEOPLE:
        app.onboard_staff(clock.admin(), pid, f"E-{pid}", family)
    for pid, _, position, boss in PEOPLE:
        app.assign_position(clock.admin(), pid, position, P, boss)
    app.define_area(clock.admin(), "A1", P, "一号楼 building 1", "building",
                    ("repair", "emergency", "complaint"))  # fmt: skip
    for line, person in (("repair", "T1"), ("emergency", "ES"), ("complaint", "DS")):
        app.assign_responsibility(clock.admin(), "A1", line, person)
    app.define_area(clock.admin(), "PUB", P, "出入口 gates", "public_area", ("patrol",))
    app.assign_responsibility(clock.admin(), "PUB", "patrol", "SS")
    off, makeup = holidays_2026()
    app.publish_calendar(clock.admin(), "CAL-24X7", "24x7", "", (), (), "test")
    app.publish_calendar(
        clock.admin(), "CAL-WORK", "working_hours", "09:00-18:00", off, makeup, "chinese-calendar"
    )
    app.define_escalation_chain(clock.admin(), "ESC-1", P, LEVELS)
    app.register_contract(
        clock.admin(), CONTRACT, "selected", "物业公司 company", "业委会 committee", (P,),
        datetime(2026, 1, 1, tzinfo=UTC), datetime(2029, 1, 1, tzinfo=UTC), "lump_sum", "3.20",
        "c0" * 32,
    )  # fmt: skip
    clause(app, clock, "EMG-ACK", "emergency", "ack", "PT30M", "CAL-24X7",
           match_kinds=("emergency",), match_emergency_only=True)  # fmt: skip
    clause(app, clock, "REP-ARR", "repair", "arrival", "PT30M", "CAL-24X7",
           match_kinds=("repair",), match_emergency_only=True)  # fmt: skip
    clause(app, clock, "REP-RES", "repair", "resolution", "P3D", "CAL-WORK",
           match_kinds=("repair",), pause_on=("owner_hold",))  # fmt: skip
    clause(app, clock, "CMP-ACK", "complaint", "ack", "PT24H", "CAL-24X7", penalty_points=0,
           penalty_amount="0.00")  # fmt: skip
    clause(app, clock, "PATROL", "patrol", "frequency", "PT2H", "CAL-24X7")
    app.publish_checklist(clock.admin(), "CL-P", "巡查 patrol", "patrol",
                          ("P1|通道畅通 exits clear|pass_fail|10",))  # fmt: skip
    app.schedule_inspection_plan(
        clock.admin(), "PL-1", P, "PUB", "CL-P", 1, ("GATE",), "PT2H", T0, ("G1",)
    )


def moment(clock: Clock, at: datetime) -> Clock:
    """Put the test clock so that its next context is recorded exactly at `at`."""
    clock.now = at - timedelta(seconds=1)
    return clock


def system(clock: Clock, at: datetime | None = None, command_id: str | None = None
           ) -> CommandContext:  # fmt: skip
    """A context of the SLA watcher (actor kind system)."""
    if at is not None:
        moment(clock, at)
    return clock.ctx("watcher", "system", command_id=command_id)


def register(
    app: Ledger, clock: Clock, task_no: str, kind: str = "emergency", priority: str = "urgent",
    at: datetime | None = None,
) -> CommandResult:  # fmt: skip
    if at is not None:
        moment(clock, at)
    return app.register_task(
        clock.ctx("DS"), task_no, P, "A1", kind, LINE_OF[kind], priority, "app", "1-101",
        "水管爆裂 burst pipe", reporter_id="O1",
    )  # fmt: skip


def dispatch(app: Ledger, clock: Clock, task_no: str, person: str = "T1") -> CommandResult:
    return app.dispatch_task(clock.ctx("DS"), task_no, person, person)


def hold(app: Ledger, clock: Clock, task_no: str, person: str, cause: str) -> CommandResult:
    evidence = (PHOTO,) if cause == "owner" else ()
    return app.put_task_on_hold(
        clock.ctx(person, evidence=evidence), task_no, cause, "业主不在家 owner away"
    )


def to_work(app: Ledger, clock: Clock, task_no: str, person: str = "T1") -> None:
    """Dispatch, accept, arrive and start work."""
    dispatch(app, clock, task_no, person)
    app.accept_task(clock.ctx(person), task_no)
    app.arrive_on_site(clock.ctx(person), task_no)
    app.start_work(clock.ctx(person), task_no)


def last_event_id(app: Ledger, task_no: str) -> str:
    return app.task_facts(task_no)[-1].event_id


def topics(app: Ledger, after: int = 0) -> list[str]:
    return [n.topic for n in app.recorder.select_notifications(after + 1, 1_000_000)]


def head(app: Ledger) -> int:
    return app.recorder.max_notification_id() or 0
