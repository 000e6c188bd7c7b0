"""The SLA clock use cases: every command's happy path and every refusal (which writes nothing).

Times: the world is set up just after T0 (2026-07-01 16:00 in Shanghai, a Wednesday); tasks are
registered at T0 + 5 min, so an emergency's 30-minute acknowledgement is due at T0 + 35 min.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from ledger.domain.inspections import round_key
from ledger.domain.penalties import PenaltyCase
from ledger.errors import (
    ActorNotActive,
    AlreadyExists,
    DomainError,
    IllegalTransition,
    InvalidValue,
    NotFound,
    NotResponsible,
)
from ledger.ids import event_id, stream_id
from ledger.ledger import Ledger
from tests.clock import T0, Clock
from tests.sla_world import (
    CONTRACT,
    LEVELS,
    build_world,
    dispatch,
    head,
    hold,
    last_event_id,
    moment,
    register,
    system,
    to_work,
    topics,
)

Z = ZoneInfo("Asia/Shanghai")
EMG = "EMG-ACK"


def minutes(n: float) -> datetime:
    return T0 + timedelta(minutes=n)


@pytest.fixture
def world(ledger: Ledger) -> tuple[Ledger, Clock]:
    clock = Clock()
    build_world(ledger, clock)
    return ledger, clock


def refused(app: Ledger, error: type[DomainError], command: Callable[[], Any]) -> None:
    """The command raises exactly `error` and writes nothing."""
    before = head(app)
    with pytest.raises(error):
        command()
    assert head(app) == before


def emergency(app: Ledger, clock: Clock, task_no: str = "E-1") -> None:
    """An emergency registered at T0 + 5 min, its acknowledgement clock started at + 6 min."""
    register(app, clock, task_no, at=minutes(5))
    app.start_sla_clock(system(clock, minutes(6)), task_no, CONTRACT, EMG)


def breached(app: Ledger, clock: Clock, task_no: str = "E-1") -> None:
    emergency(app, clock, task_no)
    app.record_sla_breach(system(clock, minutes(35)), task_no, EMG)


# -- starting ----------------------------------------------------------------------------------


def test_a_clock_starts_with_clause_calendar_and_chain_versions_pinned(
    world: tuple[Ledger, Clock],
) -> None:
    app, clock = world
    register(app, clock, "E-1", at=minutes(5))
    before = head(app)
    app.start_sla_clock(system(clock, minutes(6)), "E-1", CONTRACT, EMG)
    assert topics(app, before) == ["SlaClockStarted"]
    c = app.sla_clock("E-1", EMG)
    assert (c.clause_version, c.calendar_id, c.calendar_version, c.chain_version) == (
        1, "CAL-24X7", 1, 1,
    )  # fmt: skip
    assert (c.metric, c.target, c.target_seconds) == ("ack", "PT30M", 1800)
    assert c.started_at == minutes(5)
    assert c.due_at == minutes(35)
    assert c.warn_at == ("50", "75")
    assert c.escalation_levels == LEVELS
    assert c.start_event_id == str(event_id(stream_id("task", "E-1"), 1))
    assert c.status == "running"
    assert not c.breached


@pytest.mark.parametrize(
    ("kind", "priority", "clauses"),
    [
        ("emergency", "urgent", ("EMG-ACK",)),
        ("repair", "urgent", ("REP-ARR", "REP-RES")),
        ("repair", "normal", ("REP-RES",)),
        ("complaint", "normal", ("CMP-ACK",)),
    ],
)
def test_which_clauses_apply_follows_line_kind_and_urgency(
    world: tuple[Ledger, Clock], kind: str, priority: str, clauses: tuple[str, ...]
) -> None:
    app, clock = world
    register(app, clock, "T-1", kind=kind, priority=priority, at=minutes(5))
    assert app.applicable_clauses("T-1", CONTRACT) == clauses


def test_a_working_hours_clock_is_due_three_working_days_later(
    world: tuple[Ledger, Clock],
) -> None:
    """Registered Wed Jul 1 16:05: 1 h 55 that day, Thu and Fri, then Mon Jul 6 until 16:05."""
    app, clock = world
    register(app, clock, "R-1", kind="repair", priority="normal", at=minutes(5))
    app.start_sla_clock(system(clock, minutes(6)), "R-1", CONTRACT, "REP-RES")
    c = app.sla_clock("R-1", "REP-RES")
    assert c.target_seconds == 27 * 3600
    assert c.due_at == datetime(2026, 7, 6, 16, 5, tzinfo=Z)


@pytest.mark.parametrize(
    ("error", "task_no", "contract", "clause", "actor_kind"),
    [
        (NotResponsible, "E-1", CONTRACT, EMG, "staff"),
        (NotFound, "E-9", CONTRACT, EMG, "system"),
        (NotFound, "E-1", "C-9", EMG, "system"),
        (NotFound, "E-1", CONTRACT, "NO-SUCH", "system"),
        (InvalidValue, "E-1", CONTRACT, "REP-RES", "system"),
        (InvalidValue, "E-1", CONTRACT, "PATROL", "system"),
    ],
)
def test_start_refusals_write_nothing(
    world: tuple[Ledger, Clock],
    error: type[DomainError],
    task_no: str,
    contract: str,
    clause: str,
    actor_kind: str,
) -> None:
    app, clock = world
    register(app, clock, "E-1", at=minutes(5))
    ctx = clock.ctx("DS" if actor_kind == "staff" else "watcher", actor_kind)
    refused(app, error, lambda: app.start_sla_clock(ctx, task_no, contract, clause))


def test_a_clock_starts_once_and_a_repeated_command_id_writes_nothing(
    world: tuple[Ledger, Clock],
) -> None:
    app, clock = world
    register(app, clock, "E-1", at=minutes(5))
    first = app.start_sla_clock(system(clock, command_id="sla/E-1/EMG-ACK/start"), "E-1",
                                CONTRACT, EMG)  # fmt: skip
    before = head(app)
    again = app.start_sla_clock(system(clock, command_id="sla/E-1/EMG-ACK/start"), "E-1",
                                CONTRACT, EMG)  # fmt: skip
    assert again.repeated
    assert again.events == first.events
    assert head(app) == before
    refused(app, AlreadyExists, lambda: app.start_sla_clock(system(clock), "E-1", CONTRACT, EMG))


# -- warnings, breach, escalation ------------------------------------------------------------


def test_warnings_fire_once_per_threshold_when_reached(world: tuple[Ledger, Clock]) -> None:
    app, clock = world
    emergency(app, clock)
    warn = app.raise_sla_warning
    refused(app, IllegalTransition, lambda: warn(system(clock, minutes(19)), "E-1", EMG, "50", ()))
    before = head(app)
    warn(system(clock, minutes(20)), "E-1", EMG, "50", ("ES",))
    assert topics(app, before) == ["SlaWarningRaised"]
    assert app.sla_clock("E-1", EMG).warnings == ("50",)
    refused(app, IllegalTransition, lambda: warn(system(clock), "E-1", EMG, "50", ("ES",)))
    refused(app, InvalidValue, lambda: warn(system(clock), "E-1", EMG, "60", ("ES",)))
    refused(app, ActorNotActive, lambda: warn(system(clock, minutes(28)), "E-1", EMG, "75",
                                              ("NOBODY",)))  # fmt: skip
    refused(app, NotResponsible, lambda: warn(clock.ctx("ES"), "E-1", EMG, "75", ("ES",)))


def test_the_breach_names_who_was_responsible_then(world: tuple[Ledger, Clock]) -> None:
    app, clock = world
    emergency(app, clock)
    breach = app.record_sla_breach
    refused(app, IllegalTransition, lambda: breach(system(clock, minutes(34)), "E-1", EMG))
    before = head(app)
    breach(system(clock, minutes(35)), "E-1", EMG)
    assert topics(app, before) == ["SlaBreached"]
    c = app.sla_clock("E-1", EMG)
    assert c.breached
    assert c.breach_at == minutes(35)
    assert c.responsible_at_breach == "ES"  # nobody dispatched yet: the area's emergency holder
    refused(app, IllegalTransition, lambda: breach(system(clock), "E-1", EMG))
    refused(app, IllegalTransition, lambda: app.raise_sla_warning(
        system(clock), "E-1", EMG, "75", ("ES",)))  # fmt: skip


def test_the_responsible_person_at_the_breach_survives_a_later_hand_over(
    world: tuple[Ledger, Clock],
) -> None:
    """T1 had it, handed it to T2 before the due time, and got it back after: the breach
    (recorded later still) is T2's."""
    app, clock = world
    emergency(app, clock)
    moment(clock, minutes(7))
    dispatch(app, clock, "E-1", "T1")
    moment(clock, minutes(20))
    app.reassign_task(clock.ctx("ES"), "E-1", "T2", "T2", "T1 调往另一处 pulled away")
    moment(clock, minutes(40))
    app.reassign_task(clock.ctx("ES"), "E-1", "T1", "T1", "T2 下班 off shift")
    app.record_sla_breach(system(clock, minutes(45)), "E-1", EMG)
    c = app.sla_clock("E-1", EMG)
    assert c.breach_at == minutes(35)
    assert c.responsible_at_breach == "T2"
    breach = next(e for e in app.history(c.id) if type(e).__name__ == "SlaBreached")
    assert (breach.responsible_role, breach.executor_at_breach) == ("technician", "T2")


def test_escalation_goes_level_by_level_after_each_delay(world: tuple[Ledger, Clock]) -> None:
    app, clock = world
    emergency(app, clock)
    escalate = app.escalate_sla
    refused(app, IllegalTransition, lambda: escalate(system(clock, minutes(30)), "E-1", EMG, 1,
                                                     "ES"))  # fmt: skip
    app.record_sla_breach(system(clock, minutes(35)), "E-1", EMG)
    before = head(app)
    escalate(system(clock, minutes(35)), "E-1", EMG, 1, "ES")
    refused(app, IllegalTransition, lambda: escalate(system(clock, minutes(49)), "E-1", EMG, 2,
                                                     "PM"))  # fmt: skip
    escalate(system(clock, minutes(50)), "E-1", EMG, 2, "PM")
    assert topics(app, before) == ["SlaEscalated", "SlaEscalated"]
    refused(app, IllegalTransition, lambda: escalate(system(clock), "E-1", EMG, 2, "PM"))
    refused(app, IllegalTransition, lambda: escalate(system(clock), "E-1", EMG, 1, "ES"))
    refused(app, InvalidValue, lambda: escalate(system(clock), "E-1", EMG, 0, "PM"))
    refused(app, InvalidValue, lambda: escalate(system(clock), "E-1", EMG, 6, "PM"))
    refused(app, InvalidValue, lambda: escalate(system(clock, minutes(65)), "E-1", EMG, 3, "PM",
                                                "fax"))  # fmt: skip
    refused(app, ActorNotActive, lambda: escalate(system(clock, minutes(65)), "E-1", EMG, 3,
                                                  "NOBODY"))  # fmt: skip
    escalate(system(clock, minutes(155)), "E-1", EMG, 5, "LD")  # a level may be skipped
    c = app.sla_clock("E-1", EMG)
    assert c.escalated_level == 5
    levels = [(e.level, e.role, e.notified_id, e.escalated_at)
              for e in app.history(c.id) if type(e).__name__ == "SlaEscalated"]  # fmt: skip
    assert levels == [
        (1, "executor", "ES", minutes(35)),
        (2, "site_supervisor", "PM", minutes(50)),
        (5, "leadership", "LD", minutes(155)),
    ]


# -- stop, pause, resume, cancel -------------------------------------------------------------


def test_a_late_stop_is_not_met_and_ends_escalation(world: tuple[Ledger, Clock]) -> None:
    app, clock = world
    breached(app, clock)
    moment(clock, minutes(60))
    dispatch(app, clock, "E-1", "T1")
    dispatched = last_event_id(app, "E-1")
    app.accept_task(clock.ctx("T1"), "E-1")
    accepted = last_event_id(app, "E-1")
    stop = app.stop_sla_clock
    refused(app, InvalidValue, lambda: stop(system(clock), "E-1", EMG, dispatched))
    refused(app, NotFound, lambda: stop(system(clock), "E-1", EMG, "no-such-event"))
    before = head(app)
    stop(system(clock, minutes(62)), "E-1", EMG, accepted)
    assert topics(app, before) == ["SlaClockStopped"]
    c = app.sla_clock("E-1", EMG)
    assert c.status == "stopped"
    assert c.met is False
    assert c.stopped_at == minutes(60) + timedelta(seconds=1)  # the acceptance's own time
    assert c.business_seconds == 55 * 60 + 1
    refused(app, IllegalTransition, lambda: stop(system(clock), "E-1", EMG, accepted))
    refused(app, IllegalTransition, lambda: app.escalate_sla(system(clock, minutes(200)), "E-1",
                                                             EMG, 2, "PM"))  # fmt: skip


def test_a_stop_in_time_is_met(world: tuple[Ledger, Clock]) -> None:
    app, clock = world
    emergency(app, clock)
    moment(clock, minutes(10))
    dispatch(app, clock, "E-1", "T1")
    app.accept_task(clock.ctx("T1"), "E-1")
    app.stop_sla_clock(system(clock), "E-1", EMG, last_event_id(app, "E-1"))
    c = app.sla_clock("E-1", EMG)
    assert c.met is True
    assert c.next_due(app.clock_calendar(c)) is None
    refused(app, IllegalTransition, lambda: app.record_sla_breach(system(clock, minutes(40)),
                                                                  "E-1", EMG))  # fmt: skip


def test_an_owner_hold_with_evidence_pauses_and_the_resume_moves_the_due_time(
    world: tuple[Ledger, Clock],
) -> None:
    """Repair registered Wed 16:05; held by the owner at 17:05 (1 h used); resumed Thu 10:05 with
    26 h left: Thu 7 h 55, Fri 9 h, Mon 9 h, and five minutes on Tue Jul 7 → 09:05."""
    app, clock = world
    register(app, clock, "R-1", kind="repair", priority="normal", at=minutes(5))
    app.start_sla_clock(system(clock, minutes(6)), "R-1", CONTRACT, "REP-RES")
    moment(clock, minutes(65) - timedelta(seconds=4))  # four steps, then the hold at 17:05
    to_work(app, clock, "R-1", "T1")
    hold(app, clock, "R-1", "T1", "owner")
    held = last_event_id(app, "R-1")
    app.pause_sla_clock(system(clock), "R-1", "REP-RES", held)
    c = app.sla_clock("R-1", "REP-RES")
    assert c.status == "paused"
    assert c.business_seconds == 3600
    refused(app, IllegalTransition, lambda: app.pause_sla_clock(system(clock), "R-1", "REP-RES",
                                                                held))  # fmt: skip
    moment(clock, datetime(2026, 7, 2, 10, 5, tzinfo=Z))
    app.resume_task(clock.ctx("T1"), "R-1")
    app.resume_sla_clock(system(clock), "R-1", "REP-RES", last_event_id(app, "R-1"))
    c = app.sla_clock("R-1", "REP-RES")
    assert c.status == "running"
    assert c.due_at == datetime(2026, 7, 7, 9, 5, tzinfo=Z)


def test_a_company_hold_never_pauses_and_a_resume_needs_a_pause(
    world: tuple[Ledger, Clock],
) -> None:
    app, clock = world
    register(app, clock, "R-1", kind="repair", priority="normal", at=minutes(5))
    app.start_sla_clock(system(clock, minutes(6)), "R-1", CONTRACT, "REP-RES")
    to_work(app, clock, "R-1", "T1")
    hold(app, clock, "R-1", "T1", "company")
    held = last_event_id(app, "R-1")
    refused(app, InvalidValue, lambda: app.pause_sla_clock(system(clock), "R-1", "REP-RES", held))
    app.resume_task(clock.ctx("T1"), "R-1")
    resumed = last_event_id(app, "R-1")
    refused(app, IllegalTransition, lambda: app.resume_sla_clock(system(clock), "R-1", "REP-RES",
                                                                 resumed))  # fmt: skip


def test_cancelling_the_task_cancels_its_clock(world: tuple[Ledger, Clock]) -> None:
    app, clock = world
    emergency(app, clock)
    app.cancel_task(clock.ctx("DS"), "E-1", "业主撤回 withdrawn")
    before = head(app)
    app.cancel_sla_clock(system(clock), "E-1", EMG, last_event_id(app, "E-1"))
    assert topics(app, before) == ["SlaClockCancelled"]
    assert app.sla_clock("E-1", EMG).status == "cancelled"
    refused(app, IllegalTransition, lambda: app.record_sla_breach(system(clock, minutes(40)),
                                                                  "E-1", EMG))  # fmt: skip


# -- penalties by rule -----------------------------------------------------------------------


def test_a_rule_penalty_is_proposed_appealed_and_overturned_with_every_step_logged(
    world: tuple[Ledger, Clock],
) -> None:
    app, clock = world
    breached(app, clock)
    start = head(app)
    app.propose_rule_penalty_for_breach(system(clock), "E-1", EMG, "8500.00", "2690.00")
    case = app.load(PenaltyCase, "penalty", "SLA-E-1/EMG-ACK")
    breach_id = str(event_id(stream_id("sla_clock", "E-1/EMG-ACK"), 2))
    assert (case.subject_id, case.rule_id, case.rule_version) == ("ES", "奖惩制度 第3条", 1)
    assert case.clause.startswith("C1 EMG-ACK v1")
    assert case.basis_event_ids == (breach_id,)
    assert (case.points, case.amount, case.proposer_id) == (2, "100.00", "watcher")
    deadline = clock.now + timedelta(days=5)
    app.notify_penalty(clock.ctx("PM"), "SLA-E-1/EMG-ACK", "in_app", True, deadline)
    app.file_appeal(clock.ctx("ES"), "SLA-E-1/EMG-ACK", "当晚停电, 电话不通 power cut, no phone")
    app.rule_appeal(clock.ctx("PO"), "SLA-E-1/EMG-ACK", "overturned", "有停电证明 evidence",
                    ("PO", "LD"))  # fmt: skip
    assert topics(app, start) == [
        "PenaltyProposed", "PenaltyNotified", "AppealFiled", "AppealRuled", "PenaltyRevoked",
    ]  # fmt: skip
    case = app.load(PenaltyCase, "penalty", "SLA-E-1/EMG-ACK")
    assert case.status == "revoked"
    assert case.final_amount == "0.00"


def test_rule_penalty_refusals(world: tuple[Ledger, Clock]) -> None:
    app, clock = world
    emergency(app, clock)
    propose = app.propose_rule_penalty_for_breach
    refused(app, IllegalTransition, lambda: propose(system(clock), "E-1", EMG, "8500.00",
                                                    "2690.00"))  # fmt: skip
    app.record_sla_breach(system(clock, minutes(35)), "E-1", EMG)
    refused(app, NotResponsible, lambda: propose(clock.ctx("PM"), "E-1", EMG, "8500.00",
                                                 "2690.00"))  # fmt: skip
    refused(app, InvalidValue, lambda: propose(system(clock), "E-1", EMG, "85", "2690.00"))
    propose(system(clock), "E-1", EMG, "8500.00", "2690.00")
    refused(app, AlreadyExists, lambda: propose(system(clock), "E-1", EMG, "8500.00", "2690.00"))
    register(app, clock, "C-1", kind="complaint", priority="normal", at=minutes(5))
    app.start_sla_clock(system(clock), "C-1", CONTRACT, "CMP-ACK")
    app.record_sla_breach(system(clock, T0 + timedelta(hours=25)), "C-1", "CMP-ACK")
    refused(app, InvalidValue, lambda: propose(system(clock), "C-1", "CMP-ACK", "8500.00",
                                               "2690.00"))  # fmt: skip


@pytest.mark.parametrize(
    ("deducted", "amount", "capped"),
    [("0.00", "100.00", False), ("1650.00", "50.00", True), ("1700.00", "0.00", True)],
)
def test_a_rule_penalty_is_capped_at_twenty_percent_of_the_monthly_wage(
    world: tuple[Ledger, Clock], deducted: str, amount: str, capped: bool
) -> None:
    app, clock = world
    breached(app, clock)
    app.propose_rule_penalty_for_breach(system(clock), "E-1", EMG, "8500.00", "2690.00", deducted)
    case = app.load(PenaltyCase, "penalty", "SLA-E-1/EMG-ACK")
    assert (case.points, case.amount) == (2, amount)
    assert ("capped" in case.reason) is capped


def test_a_missed_round_proposes_the_frequency_clause_penalty(
    world: tuple[Ledger, Clock],
) -> None:
    app, clock = world
    missed = round_key("PL-1", T0)
    app.record_round_missed(system(clock, T0 + timedelta(hours=2)), "PL-1", T0)
    propose = app.propose_rule_penalty_for_missed_round
    refused(app, InvalidValue, lambda: propose(system(clock), missed, CONTRACT, EMG, "8500.00",
                                               "2690.00"))  # fmt: skip
    propose(system(clock), missed, CONTRACT, "PATROL", "8500.00", "2690.00")
    case = app.load(PenaltyCase, "penalty", f"MISS-{missed}")
    assert case.subject_id == "SS"  # answered for patrols in the gates area then
    assert case.basis_event_ids == (str(event_id(stream_id("inspection_round", missed), 1)),)
    walked = T0 + timedelta(hours=2)
    app.start_inspection_round(clock.ctx("G1", occurred_at=None), "PL-1", walked)
    refused(app, IllegalTransition, lambda: propose(system(clock), round_key("PL-1", walked),
                                                    CONTRACT, "PATROL", "8500.00", "2690.00"))


# -- the core flow on every store ------------------------------------------------------------


def test_the_clock_lifecycle_on_every_store(any_ledger: Ledger) -> None:
    app, clock = any_ledger, Clock()
    build_world(app, clock)
    emergency(app, clock)
    start = head(app)
    app.raise_sla_warning(system(clock, minutes(20)), "E-1", EMG, "50", ("ES",))
    app.record_sla_breach(system(clock, minutes(35)), "E-1", EMG)
    app.escalate_sla(system(clock, minutes(35)), "E-1", EMG, 1, "ES")
    moment(clock, minutes(40))
    dispatch(app, clock, "E-1", "T1")
    app.accept_task(clock.ctx("T1"), "E-1")
    app.stop_sla_clock(system(clock), "E-1", EMG, last_event_id(app, "E-1"))
    assert topics(app, start) == [
        "SlaWarningRaised", "SlaBreached", "SlaEscalated", "TaskDispatched", "TaskAccepted",
        "SlaClockStopped",
    ]  # fmt: skip
    c = app.sla_clock("E-1", EMG)
    assert (c.status, c.met, c.responsible_at_breach, c.escalated_level) == (
        "stopped", False, "ES", 1,
    )  # fmt: skip
