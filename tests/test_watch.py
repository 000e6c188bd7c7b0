"""The deadline watcher: what it derives from the log, when, for whom — and only once.

Times as in test_sla: the world is set up just after T0; tasks are registered at T0 + 5 min.
"""

from __future__ import annotations

import threading
from collections import Counter
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from ledger.domain.inspections import round_key
from ledger.domain.penalties import PenaltyCase
from ledger.ledger import Ledger
from lvyue.cli import app as cli
from lvyue.demo import write_demo
from lvyue.watch import DUE, AutoClose, Watcher, WatchReport, watch_once
from tests.clock import PHOTO, T0, Clock
from tests.conftest import PG_URL, make_ledger
from tests.sla_world import (
    build_world,
    dispatch,
    hold,
    moment,
    register,
    system,
    to_work,
)

EMG = "EMG-ACK"


def minutes(n: float) -> datetime:
    return T0 + timedelta(minutes=n)


def stored(app: Ledger) -> list[tuple[str, int, bytes]]:
    """Every event's stream, version and stored bytes, in log order."""
    return [
        (str(n.originator_id), n.originator_version, n.state)
        for n in app.recorder.select_notifications(1, 1_000_000)
    ]


def of_type(app: Ledger, name: str) -> list[Any]:
    """The decoded events of one type, in log order."""
    notes = app.recorder.select_notifications(1, 1_000_000)
    return [app.mapper.to_domain_event(n) for n in notes if n.topic == name]


def clocks(report: WatchReport) -> dict[str, int]:
    """What a pass wrote about clocks (the test world's patrol plan misses windows meanwhile)."""
    skip = ("missed rounds", "penalties proposed")
    return {k: n for k, n in report.written.items() if k not in skip}


def kinds(app: Ledger) -> Counter[str]:
    return Counter(n.topic for n in app.recorder.select_notifications(1, 1_000_000))


@pytest.fixture
def world(ledger: Ledger) -> tuple[Ledger, Clock]:
    clock = Clock()
    build_world(ledger, clock)
    return ledger, clock


# -- escalation timing -----------------------------------------------------------------------


def test_escalation_reaches_each_level_at_its_delay_and_names_who_holds_the_role(
    world: tuple[Ledger, Clock],
) -> None:
    """Dispatched to T1, never accepted: due at +35; executor T1 at once, his supervisor ES at
    +15 min, the project manager up the chain at +30, the property's performance officer at
    +1 h, leadership at +2 h."""
    app, clock = world
    register(app, clock, "E-1", at=minutes(5))
    moment(clock, minutes(8))
    dispatch(app, clock, "E-1", "T1")
    expected = {
        6: [], 20: [], 34: [], 35: [1], 49: [], 50: [2], 64: [], 65: [3], 94: [], 95: [4],
        154: [], 155: [5], 400: [],
    }  # fmt: skip
    for at, levels in expected.items():
        report = watch_once(app, minutes(at))
        assert report.written.get("escalations", 0) == len(levels), at
    escalations = of_type(app, "SlaEscalated")
    assert [(e.level, e.role, e.notified_id) for e in escalations] == [
        (1, "executor", "T1"),
        (2, "site_supervisor", "ES"),
        (3, "project_manager", "PM"),
        (4, "performance_officer", "PO"),
        (5, "leadership", "LD"),
    ]
    delays = [0, 15, 30, 60, 120]
    for escalation, delay in zip(escalations, delays, strict=True):
        assert escalation.escalated_at == minutes(35 + delay) == escalation.meta.occurred_at
        assert escalation.meta.recorded_at == escalation.escalated_at  # the pass ran right then
    warnings = of_type(app, "SlaWarningRaised")
    assert [(w.threshold, w.notified_ids) for w in warnings] == [
        ("50", ("T1",)), ("75", ("T1", "ES")),
    ]  # fmt: skip
    (breach,) = of_type(app, "SlaBreached")
    assert (breach.breach_at, breach.responsible_at_breach) == (minutes(35), "T1")


def test_a_late_watcher_records_everything_in_time_order_then_the_stop(
    world: tuple[Ledger, Clock],
) -> None:
    """The watcher was down for an hour: the task was accepted at +70. One pass at +80 writes
    the warnings, the breach and the levels due before +70, then stops the clock (late)."""
    app, clock = world
    register(app, clock, "E-1", at=minutes(5))
    moment(clock, minutes(70))
    dispatch(app, clock, "E-1", "T1")
    app.accept_task(clock.ctx("T1"), "E-1")
    before = app.recorder.max_notification_id() or 0
    watch_once(app, minutes(80))
    topics = [n.topic for n in app.recorder.select_notifications(before + 1, 100)]
    assert topics == [
        "SlaClockStarted", "SlaWarningRaised", "SlaWarningRaised", "SlaBreached",
        "PenaltyProposed", "SlaEscalated", "SlaEscalated", "SlaEscalated", "SlaClockStopped",
    ]  # fmt: skip
    clock_state = app.sla_clock("E-1", EMG)
    assert clock_state.met is False
    assert clock_state.escalated_level == 3
    assert clocks(watch_once(app, minutes(500))) == {}


def test_the_breach_is_charged_to_whoever_held_the_task_at_that_instant(
    world: tuple[Ledger, Clock],
) -> None:
    app, clock = world
    register(app, clock, "E-1", at=minutes(5))
    watch_once(app, minutes(6))
    moment(clock, minutes(8))
    dispatch(app, clock, "E-1", "T1")
    moment(clock, minutes(20))
    app.reassign_task(clock.ctx("ES"), "E-1", "T2", "T2", "T1 调往另一处 pulled away")
    moment(clock, minutes(36))
    app.reassign_task(clock.ctx("ES"), "E-1", "T1", "T1", "T2 下班 off shift")
    watch_once(app, minutes(45))  # the watcher sees the breach only after the hand-back
    (breach,) = of_type(app, "SlaBreached")
    assert (breach.responsible_at_breach, breach.executor_at_breach) == ("T2", "T2")
    assert app.load(PenaltyCase, "penalty", "SLA-E-1/EMG-ACK").subject_id == "T2"
    (level1,) = of_type(app, "SlaEscalated")
    assert level1.notified_id == "T2"  # the executor at the breach instant, too


# -- pauses, stops, cancellations ------------------------------------------------------------


def test_an_owner_hold_pauses_the_resolution_clock_and_a_company_hold_does_not(
    world: tuple[Ledger, Clock],
) -> None:
    app, clock = world
    register(app, clock, "R-1", kind="repair", priority="normal", at=minutes(5))
    register(app, clock, "R-2", kind="repair", priority="normal", at=minutes(5))
    to_work(app, clock, "R-1", "T1")
    to_work(app, clock, "R-2", "T2")
    hold(app, clock, "R-1", "T1", "owner")
    hold(app, clock, "R-2", "T2", "company")
    report = watch_once(app, minutes(30))
    assert clocks(report) == {"clocks started": 2, "clocks paused": 1}
    assert app.sla_clock("R-1", "REP-RES").status == "paused"
    assert app.sla_clock("R-2", "REP-RES").status == "running"
    moment(clock, minutes(90))
    app.resume_task(clock.ctx("T1"), "R-1")
    app.resume_task(clock.ctx("T2"), "R-2")
    assert clocks(watch_once(app, minutes(100))) == {"clocks resumed": 1}


def test_a_cancelled_task_cancels_its_clock_and_nothing_more_happens(
    world: tuple[Ledger, Clock],
) -> None:
    app, clock = world
    register(app, clock, "E-1", at=minutes(5))
    watch_once(app, minutes(6))
    moment(clock, minutes(10))
    app.cancel_task(clock.ctx("DS"), "E-1", "业主撤回 withdrawn")
    assert clocks(watch_once(app, minutes(20))) == {"clocks cancelled": 1}
    assert clocks(watch_once(app, minutes(300))) == {}


# -- inspection windows ----------------------------------------------------------------------


def test_expired_windows_without_a_round_are_missed_once_and_proposed_by_rule(
    world: tuple[Ledger, Clock],
) -> None:
    """Window 0 is walked, window 1 nobody walks, window 2's miss was already recorded by
    someone else (as the demo's own process does): the watcher adds only window 1."""
    app, clock = world
    app.start_inspection_round(clock.ctx("G1"), "PL-1", T0)
    window = [T0 + timedelta(hours=2 * n) for n in range(4)]
    app.record_round_missed(system(clock, window[3] + timedelta(minutes=1)), "PL-1", window[2])
    report = watch_once(app, window[3] + timedelta(minutes=7))
    assert report.written == {"missed rounds": 1, "penalties proposed": 2}
    missed = of_type(app, "InspectionRoundMissed")
    assert sorted(m.window_start for m in missed) == [window[1], window[2]]
    ours = next(m for m in missed if m.window_start == window[1])
    assert ours.meta.occurred_at == window[2]
    assert ours.meta.actor.id == "watcher"
    for start in (window[1], window[2]):
        case = app.load(PenaltyCase, "penalty", f"MISS-{round_key('PL-1', start)}")
        assert (case.subject_id, case.rule_version, case.points) == ("SS", 1, 2)
    assert watch_once(app, window[3] + timedelta(minutes=8)).written == {}


# -- idempotence -----------------------------------------------------------------------------

TIMELINE = (6, 20, 30, 35, 36, 50, 65, 95, 130, 155, 160, 12 * 60, 20 * 60)
"""Passes over the first day; the patrol misses stay under the monthly deduction cap."""


def busy_world(app: Ledger, clock: Clock) -> None:
    """Several clocks in every state, and plan windows running out."""
    build_world(app, clock)
    register(app, clock, "E-1", at=minutes(5))
    register(app, clock, "E-2", at=minutes(5))
    register(app, clock, "R-1", kind="repair", priority="urgent", at=minutes(5))
    register(app, clock, "C-1", kind="complaint", priority="normal", at=minutes(5))
    moment(clock, minutes(9))
    dispatch(app, clock, "E-2", "T2")
    app.accept_task(clock.ctx("T2"), "E-2")
    to_work(app, clock, "R-1", "T1")
    hold(app, clock, "R-1", "T1", "owner")


def late_dispatch(app: Ledger) -> None:
    """E-1 is finally dispatched at +40, between two passes."""
    dispatch(app, moment(Clock(prefix="late"), minutes(40)), "E-1", "T1")


def run_timeline(app: Ledger, times: int) -> None:
    for at in TIMELINE:
        for _ in range(times):
            watch_once(app, minutes(at))
        if at == 36:
            late_dispatch(app)


def test_running_the_watcher_once_twice_or_many_times_writes_the_same_log() -> None:
    """Every stream ends byte for byte the same, with the same number of events; only the
    interleaving of different streams within one pass may differ (it follows the index)."""
    logs = []
    for times in (1, 2, 5):
        app, clock = Ledger("memory://"), Clock()
        busy_world(app, clock)
        run_timeline(app, times)
        logs.append(sorted(stored(app)))
    assert logs[0] == logs[1] == logs[2]
    written = kinds(app)
    for kind in ("SlaClockStarted", "SlaWarningRaised", "SlaBreached", "SlaEscalated",
                 "SlaClockPaused", "SlaClockStopped", "InspectionRoundMissed",
                 "PenaltyProposed"):  # fmt: skip
        assert written[kind] > 0, kind


def test_a_fresh_due_index_rebuilt_from_the_log_writes_nothing_new() -> None:
    app, clock = Ledger("memory://"), Clock()
    busy_world(app, clock)
    run_timeline(app, 1)
    before = stored(app)
    rebuilt = Watcher(app)  # a new in-memory index: it replays the whole log
    report = rebuilt.once(minutes(TIMELINE[-1]))
    rebuilt.flush()
    assert report.written == {}
    assert stored(app) == before


def test_a_pass_costs_what_is_due_not_what_is_open(world: tuple[Ledger, Clock]) -> None:
    """Forty open complaint clocks (due in 24 h): a pass in between touches none of them."""
    app, clock = world
    for n in range(40):
        register(app, clock, f"C-{n}", kind="complaint", priority="normal", at=minutes(5))
    watch_once(app, minutes(6))
    assert sum(1 for _ in app.recorder.select_notifications(1, 10_000)) > 40
    report = watch_once(app, minutes(60))
    assert report.due == 0
    assert report.written == {}
    assert "clock" not in watch_once(app, minutes(12 * 60)).due_kinds
    assert watch_once(app, minutes(12 * 60 + 5)).due_kinds["clock"] == 40  # 50% warnings


def test_the_due_query_is_an_index_range_scan(tmp_path: Path) -> None:
    app = Ledger(f"sqlite:///{tmp_path / 'due.db'}")
    watcher = Watcher(app)
    with watcher.engine.connect() as conn:
        sql = str(DUE.compile(dialect=conn.dialect))
        plan = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", (0,) * sql.count("?")).all()
    assert any("USING INDEX ix_sla_due_next_at (next_at<?)" in str(row) for row in plan), plan
    app.close()


# -- two watchers at once on PostgreSQL ------------------------------------------------------


def race(watchers: list[Watcher], times: list[datetime], between: Any = None) -> None:
    """Both watchers run every pass at the same moment, in threads; `between` runs after the
    pass at each time. Any exception in either thread fails the test."""
    barrier = threading.Barrier(len(watchers))
    errors: list[BaseException] = []

    def run(watcher: Watcher) -> None:
        try:
            for at in times:
                barrier.wait(timeout=60)
                watcher.once(at)
                watcher.flush()
                barrier.wait(timeout=60)
                if between is not None and watcher is watchers[0]:
                    between(at)
        except BaseException as error:
            errors.append(error)
            barrier.abort()

    threads = [threading.Thread(target=run, args=(w,)) for w in watchers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not errors, errors


def test_two_watchers_racing_on_postgresql_write_each_fact_once(
    pg_schema: str, tmp_path: Path
) -> None:
    reference, clock = Ledger("memory://"), Clock()
    busy_world(reference, clock)
    run_timeline(reference, 1)

    setup = make_ledger("postgres", tmp_path, pg_schema)
    busy_world(setup, Clock())
    apps = [Ledger(PG_URL, env={"POSTGRES_SCHEMA": pg_schema}) for _ in range(2)]
    watchers = [Watcher(a) for a in apps]
    race(watchers, [minutes(at) for at in TIMELINE],
         lambda at: late_dispatch(setup) if at == minutes(36) else None)  # fmt: skip
    watchers[0].once(minutes(TIMELINE[-1]))  # anything a conflict left for later
    watchers[0].flush()
    assert sorted(stored(setup)) == sorted(stored(reference))  # the same facts, each once

    # Two more days of missed patrols: the security supervisor's month reaches its cap.
    later = [minutes(TIMELINE[-1]) + timedelta(hours=2 * n) for n in range(1, 25)]
    race(watchers, later)
    cases = of_type(setup, "PenaltyProposed")
    assert len({c.case_id for c in cases}) == len(cases)
    july = [Decimal(c.amount) for c in cases if c.subject_id == "SS"]
    assert len(july) > 17
    assert sum(july) == Decimal("1700.00")
    for app in (setup, *apps):
        app.close()


# -- the command line and the demo -----------------------------------------------------------


# -- automatic closure -----------------------------------------------------------------------

POLICY = AutoClose("C1 §6.4 三日未答复视为验收", 3)


def signed_off(app: Ledger, clock: Clock, task_no: str) -> datetime:
    """A repair task worked and signed off by T1 (responsible and executor); when it was."""
    register(app, clock, task_no, "repair", "normal", at=minutes(5))
    to_work(app, clock, task_no)
    app.complete_work(clock.ctx("T1"), task_no, "修好了 fixed", (PHOTO,))
    ctx = clock.ctx("T1")
    app.sign_off_completion(ctx, task_no)
    return ctx.occurred_at


def test_a_task_the_owner_leaves_unanswered_is_closed_when_the_window_ends(
    world: tuple[Ledger, Clock],
) -> None:
    app, clock = world
    signed = signed_off(app, clock, "R-1")
    signed_off(app, clock, "R-2")
    app.owner_accept(clock.ctx("O1", "owner"), "R-2", 5)  # answered: never auto-closed
    watcher = Watcher(app, auto_close=POLICY)

    early = watcher.once(signed + timedelta(days=2, hours=23))
    assert "tasks auto-closed" not in early.written
    report = watcher.once(signed + timedelta(days=4))
    watcher.flush()

    assert report.written["tasks auto-closed"] == 1
    (closed,) = of_type(app, "TaskAutoClosed")
    assert (closed.policy_ref, closed.window_days, closed.signed_off_at) == (
        POLICY.policy_ref, 3, signed,
    )  # fmt: skip
    assert closed.meta.occurred_at == signed + timedelta(days=3)  # when the window ended
    assert closed.meta.actor.kind == "system"
    again = watcher.once(signed + timedelta(days=5))
    watcher.flush()
    assert "tasks auto-closed" not in again.written
    assert kinds(app)["TaskAutoClosed"] == 1


def test_a_task_signed_off_again_after_a_return_gets_a_new_window(
    world: tuple[Ledger, Clock],
) -> None:
    app, clock = world
    first = signed_off(app, clock, "R-1")
    watcher = Watcher(app, auto_close=POLICY)
    watcher.once(first + timedelta(hours=1))
    moment(clock, first + timedelta(days=2))
    app.owner_return(clock.ctx("O1", "owner"), "R-1", "还在漏 still leaking")
    app.reopen_task(clock.ctx("DS"), "R-1", "返修 rework")
    to_work(app, clock, "R-1")
    app.complete_work(clock.ctx("T1"), "R-1", "再修 fixed again", (PHOTO,))
    ctx = clock.ctx("T1")
    app.sign_off_completion(ctx, "R-1")

    watcher.once(first + timedelta(days=3, hours=1))  # the first window: long answered
    watcher.flush()
    assert kinds(app)["TaskAutoClosed"] == 0
    watcher.once(ctx.occurred_at + timedelta(days=3))
    watcher.flush()
    assert kinds(app)["TaskAutoClosed"] == 1


def test_without_a_policy_the_watcher_closes_nothing(world: tuple[Ledger, Clock]) -> None:
    app, clock = world
    signed = signed_off(app, clock, "R-1")
    watch_once(app, signed + timedelta(days=30))
    assert kinds(app)["TaskAutoClosed"] == 0


def test_lvyue_watch_needs_both_auto_close_options(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                   ) -> None:  # fmt: skip
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    app, clock = Ledger(url), Clock()
    build_world(app, clock)
    signed = signed_off(app, clock, "R-1")
    app.close()
    monkeypatch.setenv("LVYUE_DATABASE_URL", url)
    runner = CliRunner()
    at = (signed + timedelta(days=3, minutes=1)).isoformat()
    half = runner.invoke(cli, ["watch", "--once", "--now", at, "--auto-close-days", "3"])
    assert half.exit_code == 2
    assert "--auto-close-policy" in half.output
    wide = ["--auto-close-days", "31", "--auto-close-policy", "x"]
    assert runner.invoke(cli, ["watch", "--once", "--now", at, *wide]).exit_code == 2
    ok = ["--auto-close-days", "3", "--auto-close-policy", POLICY.policy_ref]
    result = runner.invoke(cli, ["watch", "--once", "--now", at, *ok])
    assert result.exit_code == 0, result.output
    assert "tasks auto-closed 1" in result.output


def test_lvyue_watch_once_at_a_given_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    app, clock = Ledger(url), Clock()
    build_world(app, clock)
    register(app, clock, "E-1", at=minutes(5))
    app.close()
    monkeypatch.setenv("LVYUE_DATABASE_URL", url)
    runner = CliRunner()
    result = runner.invoke(cli, ["watch", "--once", "--now", "2026-07-01T16:45:00+08:00"])
    assert result.exit_code == 0, result.output
    assert "breaches 1" in result.output
    assert "escalations 1" in result.output
    again = runner.invoke(cli, ["watch", "--once", "--now", "2026-07-01T16:45:00+08:00"])
    assert again.exit_code == 0
    assert "wrote nothing" in again.output
    assert runner.invoke(cli, ["watch", "--now", "2026-07-01T16:45:00+08:00"]).exit_code == 2
    assert runner.invoke(cli, ["watch", "--once", "--now", "yesterday"]).exit_code == 2


def test_the_demo_writes_breaches_escalations_and_rule_penalties() -> None:
    app = Ledger("memory://")
    write_demo(app, seed=7, days=8)
    written = kinds(app)
    for kind in ("SlaClockStarted", "SlaClockStopped", "SlaBreached", "SlaEscalated",
                 "SlaWarningRaised", "InspectionRoundMissed"):  # fmt: skip
        assert written[kind] > 0, kind
    by_rule = [p for p in of_type(app, "PenaltyProposed") if p.meta.actor.id == "watcher"]
    assert {p.case_id.split("-")[0] for p in by_rule} == {"SLA", "MISS"}
    for breach in of_type(app, "SlaBreached"):
        assert breach.responsible_at_breach is not None


def test_a_policy_given_later_closes_the_tasks_already_waiting_past_their_window(
    any_ledger: Ledger,
) -> None:
    """The index read the sign-off without a policy; given one, the watcher reads the
    sign-offs in between once more and closes what waited too long (recorded now: late)."""
    app, clock = any_ledger, Clock()
    build_world(app, clock)
    signed = signed_off(app, clock, "R-1")
    Watcher(app).once(signed + timedelta(days=5))  # no policy: reads past the sign-off

    watcher = Watcher(app, auto_close=POLICY)
    report = watcher.once(signed + timedelta(days=6))
    watcher.flush()

    assert report.written["tasks auto-closed"] == 1
    (closed,) = of_type(app, "TaskAutoClosed")
    assert closed.meta.occurred_at == signed + timedelta(days=3)
    assert closed.meta.recorded_at == signed + timedelta(days=6)
    again = Watcher(app, auto_close=POLICY)  # the backfill is remembered: nothing twice
    assert "tasks auto-closed" not in again.once(signed + timedelta(days=7)).written
