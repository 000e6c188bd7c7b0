"""The KPI view: hand-computed KPIs of a small property, every number traced to its events, and
the projector's guarantees for it — rebuild equals incremental (random commands with the SLA
watcher running, and the demo) and a crash mid-page resumes to the uninterrupted result, on
every store."""

from __future__ import annotations

import contextlib
import functools
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import Any

import pytest
from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import StoredEvent
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from ledger.domain.tasks import Task
from ledger.errors import DomainError
from ledger.ids import stream_id
from ledger.ledger import Ledger
from lvyue.demo import write_demo
from lvyue.watch import Watcher
from projections import kpi_queries
from projections.projector import Projector
from projections.ranking import Count
from projections.views.kpis import (
    KpiView,
    is_night,
    periods,
    serious_offence,
    work_cmin,
)
from tests.clock import PHOTO, T0, Clock
from tests.test_projector import Failing, Stepping, snapshot, views_for

__all__ = ["P", "register", "views_for", "work", "world"]

P = "P1"
CONTRACT = "C1"
BASIS = ("6c1b7a52-2d63-5d0f-9d7e-0c1f3a4b5c6d",)
LEVELS = ("executor:PT0M", "site_supervisor:PT15M", "project_manager:PT30M")
PEOPLE = (  # person, family, position, supervisor
    ("PM", "management", "project_manager", None),
    ("PO", "quality", "performance_officer", "PM"),
    ("ES", "engineering", "site_supervisor", "PM"),
    ("SS", "security", "site_supervisor", "PM"),
    ("DS", "customer_service", "dispatcher", "PM"),
    ("T1", "engineering", "technician", "ES"),
    ("T2", "engineering", "technician", "ES"),
    ("G1", "security", "guard", "SS"),
)
ROUND_1 = f"PL-PUB/{T0.isoformat()}"
ROUND_MISSED = f"PL-GATE/{T0.isoformat()}"


# -- a small property with SLA clocks, patrols, penalties, a reward and a CAPA ------------------


def build(app: Ledger, clock: Clock) -> None:
    """Staff, areas, a 24x7 calendar, a contract with three SLA clauses and two patrol plans."""
    for pid, family, _, _ in PEOPLE:
        app.onboard_staff(clock.admin(), pid, f"E-{pid}", family)
    for pid, _, position, boss in PEOPLE:
        app.assign_position(clock.admin(), pid, position, P, boss)
    app.define_area(clock.admin(), "A1", P, "一号楼 building 1", "building",
                    ("repair", "emergency"))  # fmt: skip
    app.assign_responsibility(clock.admin(), "A1", "repair", "T1")
    app.assign_responsibility(clock.admin(), "A1", "emergency", "ES")
    app.define_area(clock.admin(), "PUB", P, "出入口 gates", "public_area", ("patrol",))
    app.assign_responsibility(clock.admin(), "PUB", "patrol", "SS")
    app.publish_calendar(clock.admin(), "CAL-24X7", "24x7", "", (), (), "test")
    app.define_escalation_chain(clock.admin(), "ESC-1", P, LEVELS)
    app.register_contract(
        clock.admin(), CONTRACT, "selected", "物业公司 company", "业委会 committee", (P,),
        datetime(2026, 1, 1, tzinfo=UTC), datetime(2029, 1, 1, tzinfo=UTC), "lump_sum", "3.20",
        "c0" * 32,
    )  # fmt: skip
    for clause_id, line, metric, target, kinds, emergency_only in (
        ("EMG-ACK", "emergency", "ack", "PT30M", ("emergency",), True),
        ("REP-ARR", "repair", "arrival", "PT30M", ("repair",), True),
        ("REP-RES", "repair", "resolution", "P1D", ("repair",), False),
    ):
        app.define_clause(
            clock.admin(), CONTRACT, clause_id, line, metric, target, "CAL-24X7", "ESC-1",
            "奖惩制度 第3条", f"合同 {clause_id}", match_kinds=kinds,
            match_emergency_only=emergency_only, penalty_points=2, penalty_amount="100.00",
        )  # fmt: skip
    app.publish_checklist(clock.admin(), "CL-PATROL", "巡查 patrol", "patrol",
                          ("P1|通道畅通 lanes clear|pass_fail|10",))  # fmt: skip
    for plan, checkpoints in (("PL-PUB", ("GATE", "GARAGE")), ("PL-GATE", ("GATE",))):
        app.schedule_inspection_plan(
            clock.admin(), plan, P, "PUB", "CL-PATROL", 1, checkpoints, "PT2H", T0, ("G1",)
        )
    app.publish_work_rule(clock.admin(), "WR", "奖惩制度", "cd" * 32, "职代会 2026-06",
                          T0 - timedelta(days=30))  # fmt: skip


def at(clock: Clock, moment: datetime) -> None:
    """The next context is recorded exactly at `moment`."""
    clock.now = moment - timedelta(seconds=1)


def register(app: Ledger, clock: Clock, task: str, kind: str, priority: str) -> None:
    app.register_task(clock.ctx("DS"), task, P, "A1", kind, kind, priority, "app", "1-101",
                      "水管爆裂 burst pipe", reporter_id="O1")  # fmt: skip


def work(app: Ledger, clock: Clock, task: str, person: str) -> None:
    for step in (app.accept_task, app.arrive_on_site, app.start_work):
        step(clock.ctx(person), task)
    app.complete_work(clock.ctx(person), task, "修好了 fixed", (PHOTO,))


def world(app: Ledger, clock: Clock, via: Any = None) -> Watcher:
    """The fixture: what each person did, so every KPI below can be computed by hand.

    E1 emergency: T1 acknowledges in 10 min (met). E2 emergency, ES responsible, T2 executes:
    the watcher records the breach at 30 min, T2 acknowledges at 40 (late; a rule penalty is
    proposed to ES). R1 repair: T1 does it, the owner returns it, T2 redoes it; T1 signs both
    (rating 4). R2 urgent repair: T2 arrives in time, T1 signs (rating 5). Patrols: G1 walks
    PL-PUB's first window visiting one of two checkpoints; PL-GATE's first window is missed.
    Penalties: T2 3 points confirmed; T1 2 points under appeal; G1 10 points for a safety
    accident, confirmed. T1 gets a praise letter (1 point); ES closes a CAPA on time.
    Commands go through `via` when given (a wrapper that projects after each one).
    """
    watcher = Watcher(app, windows_until=T0 + timedelta(hours=2))
    app = via or app
    build(app, clock)
    at(clock, T0 + timedelta(minutes=5))
    register(app, clock, "E1", "emergency", "urgent")
    app.dispatch_task(clock.ctx("DS"), "E1", "T1", "T1")
    clock.advance(minutes=10)
    app.accept_task(clock.ctx("T1"), "E1")
    watcher.once(clock.now)
    register(app, clock, "E2", "emergency", "urgent")
    app.dispatch_task(clock.ctx("DS"), "E2", "ES", "T2")
    clock.advance(minutes=31)
    watcher.once(clock.now)
    clock.advance(minutes=9)
    app.accept_task(clock.ctx("T2"), "E2")
    patrol(app, clock)
    repairs(app, clock)
    clock.advance(hours=3)
    watcher.once(clock.now)
    accountability(app, clock)
    return watcher


def patrol(app: Ledger, clock: Clock) -> None:
    app.start_inspection_round(clock.ctx("G1"), "PL-PUB", T0)
    app.visit_checkpoint(clock.ctx("G1"), ROUND_1, "GATE")
    app.record_checklist_item(clock.ctx("G1"), ROUND_1, "P1", "pass")
    app.complete_inspection_round(clock.ctx("G1"), ROUND_1)


def repairs(app: Ledger, clock: Clock) -> None:
    register(app, clock, "R1", "repair", "normal")
    app.dispatch_task(clock.ctx("DS"), "R1", "T1", "T1")
    work(app, clock, "R1", "T1")
    app.sign_off_completion(clock.ctx("T1"), "R1")
    app.owner_return(clock.ctx("O1", "owner"), "R1", "还在漏 still leaking")
    app.reopen_task(clock.ctx("DS"), "R1", "owner returned")
    app.dispatch_task(clock.ctx("DS"), "R1", "T1", "T2")
    work(app, clock, "R1", "T2")
    app.sign_off_completion(clock.ctx("T1"), "R1")
    app.owner_accept(clock.ctx("O1", "owner"), "R1", 4)
    app.close_task(clock.ctx("DS"), "R1", "accepted")
    register(app, clock, "R2", "repair", "urgent")
    app.dispatch_task(clock.ctx("DS"), "R2", "T1", "T2")
    work(app, clock, "R2", "T2")
    app.sign_off_completion(clock.ctx("T1"), "R2")
    app.owner_accept(clock.ctx("O1", "owner"), "R2", 5)
    app.close_task(clock.ctx("DS"), "R2", "accepted")


def accountability(app: Ledger, clock: Clock) -> None:
    for case, subject, clause, points in (
        ("C-T2", "T2", "第5条 迟到 late", 3),
        ("C-T1", "T1", "第5条 迟到 late", 2),
        ("C-G1", "G1", "第9条 安全事故 attributable safety accident", 10),
    ):
        app.propose_penalty(clock.ctx("PM"), case, P, subject, "WR", 1, clause, points, "0.00",
                            "6000.00", "2690.00", BASIS, "见记录 see the record")  # fmt: skip
        app.notify_penalty(clock.ctx("PM"), case, "paper", True, clock.now + timedelta(days=3))
    app.file_appeal(clock.ctx("T1"), "C-T1", "电梯故障 the lift was broken")
    clock.advance(days=4)
    app.confirm_penalty(clock.ctx("PO"), "C-T2")
    app.confirm_penalty(clock.ctx("PO"), "C-G1")
    app.grant_reward(clock.ctx("PM"), "RW1", P, "T1", "praise_letter", BASIS, 1, "0.00",
                     "表扬信 praise letter")  # fmt: skip
    due = clock.now + timedelta(days=3)
    app.open_corrective_action(clock.admin(), "CA1", P, "complaint", "R1", "漏水 leak", "ES", due)
    app.plan_corrective_action(clock.ctx("ES"), "CA1", "阀门老化 worn valve", "更换 replace", due)
    app.implement_corrective_action(clock.ctx("T1", evidence=(PHOTO,)), "CA1", "已更换 replaced")
    app.verify_corrective_action(clock.ctx("PO"), "CA1", True, "ok")
    app.close_corrective_action(clock.ctx("PO"), "CA1")


@pytest.fixture
def views(ledger: Ledger) -> Iterator[Engine]:
    world(ledger, Clock())
    engine = views_for(ledger)
    Projector(ledger, engine, [KpiView()]).catch_up()
    yield engine
    engine.dispose()


def records(app: Ledger) -> list[dict[str, Any]]:
    return [json.loads(n.state) for n in app.recorder.select_notifications(1, 100_000)]


def event_ids(app: Ledger, predicate: Callable[[dict[str, Any]], bool]) -> set[str]:
    return {r["event_id"] for r in records(app) if predicate(r)}


# -- the KPIs of the fixture, by hand ------------------------------------------------------------


def test_a_technicians_kpis(views: Engine) -> None:
    (t1,) = kpi_queries.person_kpis(views, "T1", "2026Q3")
    (t2,) = kpi_queries.person_kpis(views, "T2", "2026Q3")

    # T1: E1 ack (executor), R2 arrival (responsible) met; R1 and R2 resolution met
    assert (t1.response, t1.resolution) == (Count(2, 2), Count(2, 2))
    # T2: E2 late (executor at the breach), R2 arrival met; R2 resolution met (R1's clock
    # stopped at T1's first completion, so it is T1's)
    assert (t2.response, t2.resolution) == (Count(2, 1), Count(1, 1))
    assert t1.tasks == Count(2, 1)  # R1 reworked (T1's own work was returned), R2 first time
    assert (t2.tasks, t2.rework) == (Count(2, 2), 0)  # T2 redid R1: not T2's rework
    assert t1.acceptance == Count(3, 2)  # R1 returned, R1 accepted, R2 accepted
    assert t2.acceptance == Count(2, 2)
    assert (t1.rating_sum, t1.rating_count, t1.rating_mean) == (9, 2, Fraction(9, 2))
    # work units go to the executor of the accepted work: R1 60 min, R2 urgent 60 × 1.5 min
    assert (t1.wu_cmin, t2.wu_cmin) == (0, 15_000)
    assert t2.work_units == Fraction(5, 2)
    assert (t1.penalty_points, t1.penalties_pending, t1.reward_points) == (0, 1, 1)
    assert (t2.penalty_points, t2.penalties_pending) == (3, 0)


def test_elapsed_times_are_median_and_p90_of_the_stopped_clocks(views: Engine) -> None:
    (prop,) = kpi_queries.property_kpis(views, P, "2026-07")
    (t2,) = kpi_queries.person_kpis(views, "T2", "2026-07")

    # response stops: E1 after 10 min 2 s, R2 arrival after 3 s, E2 late after 40 min 2 s
    assert (prop.response_p50, prop.response_p90) == (602, 2402)
    assert (t2.response_p50, t2.response_p90) == (3, 2402)
    assert prop.resolution_p50 is not None
    assert prop.resolution_p50 > 0


def test_patrols_zones_penalties_and_corrective_actions(views: Engine) -> None:
    (g1,) = kpi_queries.person_kpis(views, "G1", "2026Q3")
    (ss,) = kpi_queries.person_kpis(views, "SS", "2026Q3")
    (es,) = kpi_queries.person_kpis(views, "ES", "2026Q3")

    assert g1.rounds == Count(2, 1)  # PL-PUB walked, PL-GATE missed
    assert g1.checkpoints == Count(3, 1)  # 1 of 2 checkpoints, then 0 of 1
    assert g1.wu_cmin == 3_000  # one patrol round: 30 standard minutes
    assert (g1.penalty_points, g1.serious_violations) == (10, 1)
    assert (ss.inspection_count, ss.inspection_mean) == (1, Fraction(100))  # PUB × patrol: SS
    assert es.response == Count(1, 0)  # responsible at E2's breach
    assert (es.penalties_pending, es.capa) == (1, Count(1, 1))  # the watcher's rule penalty


def test_property_totals_count_each_fact_once(views: Engine) -> None:
    (prop,) = kpi_queries.property_kpis(views, P, "2026Q3")

    assert (prop.response, prop.resolution) == (Count(3, 2), Count(2, 2))
    assert (prop.tasks, prop.acceptance) == (Count(2, 1), Count(3, 2))
    assert (prop.rating_count, prop.rating_mean) == (2, Fraction(9, 2))
    assert (prop.rounds, prop.checkpoints) == (Count(2, 1), Count(3, 1))
    assert (prop.penalty_points, prop.penalties_pending, prop.serious_violations) == (13, 2, 1)
    assert (prop.reward_points, prop.capa, prop.wu_cmin) == (1, Count(1, 1), 18_000)
    assert [k.period for k in kpi_queries.property_kpis(views, P)] == ["2026-07"]


def test_a_team_is_its_reports_together(views: Engine) -> None:
    (team,) = kpi_queries.team_kpis(views, "ES", "2026Q3")

    assert kpi_queries.team(views, "ES") == ["T1", "T2"]
    # every clock and task once; R1 counts as reworked for the team (T1's part was returned)
    assert (team.response, team.resolution) == (Count(3, 2), Count(2, 2))
    assert (team.tasks, team.acceptance, team.wu_cmin) == (Count(2, 1), Count(3, 2), 15_000)


def test_every_number_names_the_events_it_came_from(ledger: Ledger, views: Engine) -> None:
    (t1,) = kpi_queries.person_kpis(views, "T1", "2026Q3")
    types = {r["event_id"]: r["type"] for r in records(ledger)}

    assert {types[e] for e in t1.sources["response"]} >= {
        "SlaClockStarted", "SlaClockStopped", "TaskAccepted", "ArrivedOnSite"
    }
    assert {types[e] for e in t1.sources["rating"]} == {"OwnerAccepted", "TaskClosed"}
    assert {types[e] for e in t1.sources["penalty"]} == {
        "PenaltyProposed", "PenaltyNotified", "AppealFiled"
    }
    assert {types[e] for e in t1.sources["reward"]} == {"RewardGranted"}
    (t2,) = kpi_queries.person_kpis(views, "T2", "2026Q3")
    breach = event_ids(ledger, lambda r: r["type"] == "SlaBreached")
    assert breach <= set(t2.sources["response"])


def test_periods_are_local_months_and_quarters() -> None:
    assert periods(datetime(2026, 6, 30, 16, 0, tzinfo=UTC)) == ("2026-07", "2026Q3")
    assert periods(datetime(2026, 6, 30, 15, 59, tzinfo=UTC)) == ("2026-06", "2026Q2")
    assert periods(datetime(2026, 12, 31, 16, 0, tzinfo=UTC)) == ("2027-01", "2027Q1")


def test_the_work_standard_weights_emergencies_and_nights_exactly() -> None:
    assert work_cmin(60, emergency=False, night=False) == 6_000
    assert work_cmin(60, emergency=True, night=False) == 9_000
    assert work_cmin(60, emergency=True, night=True) == 10_800  # 1.5 × 1.2
    assert is_night(datetime(2026, 7, 1, 14, 0, tzinfo=UTC))  # 22:00 in Shanghai
    assert not is_night(datetime(2026, 7, 1, 22, 0, tzinfo=UTC))  # 06:00
    assert serious_offence("第9条 安全事故") == "attributable safety accident"
    assert serious_offence("第5条 迟到 late") is None


# -- rebuild equals incremental, crashes, resumes ------------------------------------------------


@contextlib.contextmanager
def kpi_projector(app: Ledger, page_size: int) -> Iterator[Projector]:
    engine = views_for(app)
    try:
        yield Projector(app, engine, [KpiView()], page_size)
    finally:
        engine.dispose()


def test_rebuild_equals_incremental_on_every_store(any_ledger: Ledger) -> None:
    """The fixture, caught up after every command in pages of 3, equals a one-page rebuild."""
    with kpi_projector(any_ledger, page_size=3) as projector:
        world(any_ledger, Clock(), Stepping(any_ledger, projector))
        projector.catch_up()
        incremental = snapshot(projector.engine, [KpiView()])
        projector.page_size = 1000
        projector.rebuild()

        assert snapshot(projector.engine, [KpiView()]) == incremental
        ranked = kpi_queries.ranking(projector.engine, "2026Q3", P)
    assert len(incremental["kpi_facts"]) > 50
    # the same events on any store give the same ranking inputs, byte for byte
    reference = Ledger("memory://")
    world(reference, Clock())
    engine = views_for(reference)
    Projector(reference, engine, [KpiView()]).catch_up()
    expected = kpi_queries.ranking(engine, "2026Q3", P)
    engine.dispose()
    assert (ranked.inputs_sha256, ranked.scores()) == (expected.inputs_sha256, expected.scores())


@functools.cache
def demo_events() -> tuple[StoredEvent, ...]:
    """A few deterministic demo days, written once through the use cases (in memory)."""
    source = Ledger("memory://")
    write_demo(source, seed=5, days=6)
    notes = source.recorder.select_notifications(1, 1_000_000)
    source.close()
    return tuple(StoredEvent(n.originator_id, n.originator_version, n.topic, n.state)
                 for n in notes)  # fmt: skip


def test_rebuild_equals_incremental_on_the_demo(any_ledger: Ledger) -> None:
    """The demo's events (copied into each store by its own recorder), projected in odd-sized
    pages, equal a rebuild."""
    events = demo_events()
    for start in range(0, len(events), 500):
        any_ledger.recorder.insert_events(list(events[start : start + 500]))
    with kpi_projector(any_ledger, page_size=97) as projector:
        projector.catch_up()
        incremental = snapshot(projector.engine, [KpiView()])
        projector.page_size = 1000
        projector.rebuild()

        assert snapshot(projector.engine, [KpiView()]) == incremental
    metrics = {row[3] for row in incremental["kpi_facts"]}
    assert {"response", "resolution", "task", "acceptance", "rating", "round", "zone",
            "penalty", "capa"} <= metrics  # fmt: skip


def test_a_crash_mid_page_resumes_to_the_uninterrupted_result(any_ledger: Ledger) -> None:
    world(any_ledger, Clock())
    failing = Failing(KpiView(), fail_on_call=3)
    with kpi_projector(any_ledger, page_size=10) as projector:
        projector.views = (failing,)
        with pytest.raises(RuntimeError, match="injected"):
            projector.catch_up()
        before = snapshot(projector.engine, [KpiView()])
        failing.calls = 2
        with pytest.raises(RuntimeError, match="injected"):
            projector.step()
        assert snapshot(projector.engine, [KpiView()]) == before

        failing.armed = False
        projector.catch_up()
        resumed = snapshot(projector.engine, [KpiView()])
        projector.views = (KpiView(),)
        projector.rebuild()

        assert snapshot(projector.engine, [KpiView()]) == resumed


# -- rebuild equals incremental for random commands, with the SLA watcher running ------------------

TASKS = ("K1", "K2", "K3")
WORKERS = ("T1", "T2", "ES")


NEXT: dict[str | None, tuple[str, ...]] = {  # the lifecycle the generator mostly follows
    None: ("register",),
    "registered": ("dispatch",),
    "dispatched": ("accept", "accept", "decline", "reassign"),
    "declined": ("dispatch",),
    "reopened": ("dispatch",),
    "accepted": ("arrive",),
    "on_site": ("start",),
    "in_progress": ("complete",),
    "completed": ("sign_off",),
    "signed_off": ("owner_accept", "owner_accept", "owner_return", "close_auto"),
    "owner_accepted": ("close",),
    "returned": ("reopen",),
    "closed": (),
    "cancelled": (),
}
BY_EXECUTOR = ("accept", "decline", "arrive", "start", "complete")


def _task_state(app: Ledger, task: str) -> Task | None:
    try:
        found: object = app.repository.get(stream_id("task", task))
    except AggregateNotFoundError:
        return None
    assert isinstance(found, Task)
    return found


def _task_step(app: Ledger, clock: Clock, data: st.DataObject) -> None:
    """One task command: usually the next step of its lifecycle by the right person."""
    task_no = data.draw(st.sampled_from(TASKS), label="task")
    task = _task_state(app, task_no)
    legal = NEXT[None if task is None else task.status]
    command = data.draw(st.sampled_from(legal * 8 + ("reassign", "cancel", "accept")),
                        label="command")  # fmt: skip
    right = "DS"
    if task is not None and command in BY_EXECUTOR:
        right = str(task.executor_id)
    elif task is not None and command == "sign_off":
        right = str(task.responsible_id)
    who = data.draw(st.sampled_from((right,) * 6 + WORKERS), label="who")
    other = data.draw(st.sampled_from(WORKERS), label="other")
    kind = data.draw(st.sampled_from(("repair", "emergency")), label="kind")
    owner = clock.ctx("O1", "owner")
    steps: dict[str, Callable[[], Any]] = {
        "register": lambda: register(app, clock, task_no, kind,
                                     "urgent" if kind == "emergency" else "normal"),
        "dispatch": lambda: app.dispatch_task(clock.ctx("DS"), task_no, other, who),
        "reassign": lambda: app.reassign_task(clock.ctx("DS"), task_no, other, who, "换人 swap"),
        "decline": lambda: app.decline_task(clock.ctx(who), task_no, "busy"),
        "accept": lambda: app.accept_task(clock.ctx(who), task_no),
        "arrive": lambda: app.arrive_on_site(clock.ctx(who), task_no),
        "start": lambda: app.start_work(clock.ctx(who), task_no),
        "complete": lambda: app.complete_work(clock.ctx(who), task_no, "done", (PHOTO,)),
        "sign_off": lambda: app.sign_off_completion(clock.ctx(who), task_no),
        "owner_accept": lambda: app.owner_accept(owner, task_no, data.draw(st.integers(1, 5))),
        "owner_return": lambda: app.owner_return(owner, task_no, "no"),
        "reopen": lambda: app.reopen_task(clock.ctx("DS"), task_no, "returned"),
        "close": lambda: app.close_task(clock.ctx("DS"), task_no, "accepted"),
        "close_auto": lambda: app.auto_close_task(
            clock.ctx("DS", occurred_at=clock.advance(days=1)), task_no, "policy §1", 1),
        "cancel": lambda: app.cancel_task(clock.ctx("DS"), task_no, "dup"),
    }  # fmt: skip
    steps[command]()


def _other_step(app: Ledger, clock: Clock, data: st.DataObject) -> None:
    """A penalty, reward, patrol, CAPA or staff command."""
    case = data.draw(st.sampled_from(("X1", "X2")), label="case")
    subject = data.draw(st.sampled_from(("T1", "T2", "G1")), label="subject")
    clause = data.draw(st.sampled_from(("第5条 迟到", "第9条 安全事故")), label="clause")
    window = T0 + timedelta(hours=2) * data.draw(st.integers(0, 2), label="window")
    round_id = f"PL-PUB/{window.isoformat()}"
    steps: dict[str, Callable[[], Any]] = {
        "propose": lambda: app.propose_penalty(
            clock.ctx("PM"), case, P, subject, "WR", 1, clause, 2, "0.00", "6000.00", "2690.00",
            BASIS, "see record"),
        "notify": lambda: app.notify_penalty(clock.ctx("PM"), case, "paper", True,
                                             clock.now + timedelta(minutes=30)),
        "appeal": lambda: app.file_appeal(clock.ctx(subject), case, "not me"),
        "rule": lambda: app.rule_appeal(
            clock.ctx("PO"), case, data.draw(st.sampled_from(("upheld", "overturned"))), "ok",
            ("PO",)),
        "confirm": lambda: app.confirm_penalty(clock.ctx("PO"), case),
        "revoke": lambda: app.revoke_penalty(clock.ctx("PO"), case, "withdrawn"),
        "reward": lambda: app.grant_reward(clock.ctx("PM"), f"RW-{clock.counter}", P, subject,
                                           "praise_letter", BASIS, 1, "0.00", "praise"),
        "start_round": lambda: app.start_inspection_round(clock.ctx("G1"), "PL-PUB", window),
        "visit": lambda: app.visit_checkpoint(clock.ctx("G1"), round_id, "GATE"),
        "record_item": lambda: app.record_checklist_item(clock.ctx("G1"), round_id, "P1", "pass"),
        "complete_round": lambda: app.complete_inspection_round(clock.ctx("G1"), round_id),
        "open_capa": lambda: app.open_corrective_action(
            clock.admin(), "CAX", P, "complaint", "K1", "leak", "ES",
            clock.now + timedelta(hours=1)),
        "close_capa": lambda: app.close_corrective_action(clock.ctx("PO"), "CAX"),
        "hand_over": lambda: app.hand_over_responsibility(
            clock.ctx("PM"), "A1", "repair", data.draw(st.sampled_from(WORKERS)), "rota"),
        "move": lambda: app.assign_position(clock.admin(), subject, "technician", P, "PM"),
    }  # fmt: skip
    steps[data.draw(st.sampled_from(sorted(steps)), label="other step")]()


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), page_size=st.integers(1, 9), length=st.integers(0, 80))
def test_rebuild_equals_incremental_for_random_commands(
    data: st.DataObject, page_size: int, length: int
) -> None:
    """Random task lifecycles, penalties, rewards, patrols and CAPAs by random actors (many
    refused), with the watcher starting, stopping and breaching clocks as time jumps, caught up
    in small pages after every command, give exactly a one-page rebuild."""
    app = Ledger("memory://")
    clock = Clock()
    build(app, clock)
    at(clock, T0 + timedelta(minutes=1))
    watcher = Watcher(app, windows_until=T0 + timedelta(hours=6))
    with kpi_projector(app, page_size=page_size) as projector:
        projector.catch_up()
        for _ in range(length):
            choice = data.draw(st.sampled_from(("task",) * 6 + ("other", "watch")))
            with contextlib.suppress(DomainError):
                if choice == "task":
                    _task_step(app, clock, data)
                elif choice == "other":
                    _other_step(app, clock, data)
                else:
                    clock.advance(minutes=data.draw(st.sampled_from((5, 20, 45, 180))))
                    watcher.once(clock.now)
            clock.advance(minutes=3)
            projector.catch_up()
        incremental = snapshot(projector.engine, [KpiView()])
        projector.page_size = 1000
        projector.rebuild()

        assert snapshot(projector.engine, [KpiView()]) == incremental
    app.close()
