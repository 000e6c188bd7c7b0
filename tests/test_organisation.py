"""Organisation: units, areas and the responsibility history, escalation chains, work rules."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ledger.domain.areas import Area, EscalationChain, OrgUnit, parse_levels
from ledger.domain.base import LedgerAggregate
from ledger.domain.tasks import Task
from ledger.domain.work_rules import WorkRule
from ledger.errors import (
    ActorNotActive,
    AlreadyExists,
    CommandIdReused,
    DomainError,
    IllegalTransition,
    InvalidValue,
    NotFound,
    NotResponsible,
)
from ledger.ids import stream_id
from ledger.ledger import Ledger
from tests.clock import T0, Clock

DOC = "cd" * 32
DOC2 = "ef" * 32
LEVELS = (
    "executor:PT0M",
    "site_supervisor:PT15M",
    "project_manager:PT30M",
    "performance_officer:PT1H",
    "leadership:PT2H",
)


# -- helpers shared with test_contracts ------------------------------------------------------


def onboard(app: Ledger, clock: Clock) -> None:
    """S1 project manager, S2 site supervisor, S3/S4 technicians, S5 safety manager; S9 left."""
    for person, family, position in (
        ("S1", "management", "project_manager"),
        ("S2", "management", "site_supervisor"),
        ("S3", "engineering", "technician"),
        ("S4", "engineering", "technician"),
        ("S5", "management", "safety_manager"),
        ("S9", "engineering", "technician"),
    ):
        app.onboard_staff(clock.admin(), person, f"E-{person}", family)
        app.assign_position(clock.admin(), person, position, "P1")
    app.offboard_staff(clock.admin(), "S9", "合同到期 contract ended")


def refused(
    app: Ledger, error: type[DomainError], call: Callable[..., Any], *args: Any, **kwargs: Any
) -> None:
    """The command raises exactly `error` and writes nothing."""
    before = app.recorder.max_notification_id()
    with pytest.raises(error):
        call(*args, **kwargs)
    assert app.recorder.max_notification_id() == before


def topics(app: Ledger) -> list[str]:
    return [n.topic for n in app.recorder.select_notifications(1, 100_000)]


def last_record(app: Ledger) -> dict[str, Any]:
    """The public record of the last event written."""
    last = app.recorder.select_notifications(1, 100_000)[-1]
    record: dict[str, Any] = json.loads(last.state)
    return record


def get(app: Ledger, cls: type[LedgerAggregate], kind: str, key: str) -> Any:
    found: Any = app.repository.get(stream_id(kind, key))
    assert isinstance(found, cls)
    return found


@pytest.fixture
def app(ledger: Ledger) -> Ledger:
    """An in-memory ledger with staff on board and area A1 (repair, cleaning, security)."""
    clock = Clock(prefix="setup")
    onboard(ledger, clock)
    ledger.define_area(clock.admin(), "A1", "P1", "1号楼 Building 1", "building",
                       ("repair", "cleaning", "security"))  # fmt: skip
    return ledger


def area(app: Ledger, area_id: str = "A1") -> Area:
    found: Area = get(app, Area, "area", area_id)
    return found


# -- org units -------------------------------------------------------------------------------


def test_org_units_form_a_tree(ledger: Ledger) -> None:
    clock = Clock()
    ledger.create_org_unit(clock.admin(), "HQ", "总部 head office", "department")
    ledger.create_org_unit(clock.admin(), "PSD", "履约监督部", "performance_supervision", "HQ")
    ledger.create_org_unit(clock.admin(), "PO-P1", "P1 项目部", "project_office", "HQ")
    assert topics(ledger) == ["OrgUnitCreated"] * 3
    unit = get(ledger, OrgUnit, "org_unit", "PSD")
    assert (unit.kind, unit.parent_id) == ("performance_supervision", "HQ")
    assert last_record(ledger)["property_id"] is None


def test_org_unit_refusals(ledger: Ledger) -> None:
    clock = Clock()
    ledger.create_org_unit(clock.admin(), "HQ", "总部", "department")
    create = ledger.create_org_unit
    refused(ledger, AlreadyExists, create, clock.admin(), "HQ", "again", "department")
    refused(ledger, NotFound, create, clock.admin(), "T1", "team", "team", "NOPE")
    refused(ledger, InvalidValue, create, clock.admin(), "T1", "team", "club")
    refused(ledger, InvalidValue, create, clock.admin(), "T1", " ", "team")
    refused(ledger, ActorNotActive, create, clock.ctx("O1", "owner"), "T1", "team", "team")


# -- areas -----------------------------------------------------------------------------------


def test_define_area(app: Ledger) -> None:
    defined = area(app)
    assert (defined.property_id, defined.kind) == ("P1", "building")
    assert defined.service_lines == ("repair", "cleaning", "security")
    assert topics(app)[-1] == "ResponsibilityAreaDefined"
    assert last_record(app)["property_id"] == "P1"


def test_define_area_refusals(app: Ledger) -> None:
    clock = Clock()
    define = app.define_area
    lines = ("repair",)
    refused(app, AlreadyExists, define, clock.admin(), "A1", "P1", "again", "building", lines)
    refused(app, InvalidValue, define, clock.admin(), "A2", "P1", "B2", "tower", lines)
    refused(app, InvalidValue, define, clock.admin(), "A2", "P1", "B2", "grid", ("gardening",))
    refused(app, InvalidValue, define, clock.admin(), "A2", "P1", "B2", "grid", ())
    refused(app, InvalidValue, define, clock.admin(), "A2", "P1", "B2", "grid", ("fire", "fire"))
    refused(app, InvalidValue, define, clock.admin(), "A2", "", "B2", "grid", lines)
    refused(app, ActorNotActive, define, clock.ctx("D7", "device"), "A2", "P1", "B2", "grid", lines)
    refused(app, ActorNotActive, define, clock.ctx("S9"), "A2", "P1", "B2", "grid", lines)


# -- assignment and acceptance ---------------------------------------------------------------


def test_assignment_is_accepted_by_the_responsible_person_only(app: Ledger) -> None:
    clock = Clock()
    app.assign_responsibility(clock.ctx("S2"), "A1", "repair", "S3", deputy_id="S4")
    assert topics(app)[-1] == "ResponsibilityAssigned"
    assert last_record(app)["data"]["acceptance_signed"] is False
    assert area(app).holders["repair"]["accepted"] is False

    accept = app.accept_responsibility
    refused(app, NotResponsible, accept, clock.ctx("S4"), "A1", "repair")
    refused(app, NotResponsible, accept, clock.ctx("S3", "admin"), "A1", "repair")
    app.accept_responsibility(clock.ctx("S3"), "A1", "repair")
    assert topics(app)[-1] == "ResponsibilityAccepted"
    assert last_record(app)["actor"] == {"id": "S3", "kind": "staff", "role": "technician"}
    assert area(app).holders["repair"]["accepted"] is True
    refused(app, IllegalTransition, accept, clock.ctx("S3"), "A1", "repair")
    refused(app, IllegalTransition, accept, clock.ctx("S3"), "A1", "cleaning")
    refused(app, InvalidValue, accept, clock.ctx("S3"), "A1", "fire")
    refused(app, NotFound, accept, clock.ctx("S3"), "A9", "repair")


def test_self_assignment_carries_the_signature(app: Ledger) -> None:
    clock = Clock()
    app.assign_responsibility(clock.ctx("S4"), "A1", "cleaning", "S4")
    assert last_record(app)["data"]["acceptance_signed"] is True
    refused(app, IllegalTransition, app.accept_responsibility, clock.ctx("S4"), "A1", "cleaning")


def test_assignment_refusals(app: Ledger) -> None:
    clock = Clock()
    assign = app.assign_responsibility
    app.assign_responsibility(clock.ctx("S2"), "A1", "repair", "S3")
    refused(app, IllegalTransition, assign, clock.ctx("S2"), "A1", "repair", "S4")
    refused(app, ActorNotActive, assign, clock.ctx("S2"), "A1", "cleaning", "GHOST")
    refused(app, ActorNotActive, assign, clock.ctx("S2"), "A1", "cleaning", "S9")
    refused(app, ActorNotActive, assign, clock.ctx("S2"), "A1", "cleaning", "S3", "GHOST")
    refused(app, InvalidValue, assign, clock.ctx("S2"), "A1", "cleaning", "S3", "S3")
    refused(app, InvalidValue, assign, clock.ctx("S2"), "A1", "fire", "S3")
    refused(app, InvalidValue, assign, clock.ctx("S2"), "A1", "cleaning", "S3",
            effective_from=datetime(2026, 7, 1))  # fmt: skip
    refused(app, NotFound, assign, clock.ctx("S2"), "A9", "cleaning", "S3")
    refused(app, ActorNotActive, assign, clock.ctx("O1", "owner"), "A1", "cleaning", "S3")


# -- release, hand-over and the history ------------------------------------------------------


def test_release_leaves_a_history_read_as_of_any_time(app: Ledger) -> None:
    clock = Clock()
    start, end, later = T0 + timedelta(days=1), T0 + timedelta(days=10), T0 + timedelta(days=12)
    app.assign_responsibility(clock.ctx("S2"), "A1", "repair", "S3", effective_from=start)
    app.release_responsibility(clock.ctx("S2"), "A1", "repair", "调岗 transferred",
                               successor_id="S4", effective_to=end)  # fmt: skip
    assert topics(app)[-1] == "ResponsibilityReleased"
    assert last_record(app)["data"]["responsible_id"] == "S3"
    app.assign_responsibility(clock.ctx("S2"), "A1", "repair", "S4", effective_from=later)
    history = area(app)
    assert history.history["repair"] == (("S3", start, end), ("S4", later, None))
    second = timedelta(seconds=1)
    assert history.responsible_at("repair", start - second) is None
    assert history.responsible_at("repair", start) == "S3"
    assert history.responsible_at("repair", end - second) == "S3"
    assert history.responsible_at("repair", end) is None
    assert history.responsible_at("repair", later) == "S4"
    assert history.responsible_at("cleaning", later) is None


def test_release_refusals(app: Ledger) -> None:
    clock = Clock()
    release = app.release_responsibility
    start = T0 + timedelta(days=1)
    refused(app, IllegalTransition, release, clock.ctx("S2"), "A1", "repair", "no holder")
    app.assign_responsibility(clock.ctx("S2"), "A1", "repair", "S3", effective_from=start)
    refused(app, InvalidValue, release, clock.ctx("S2"), "A1", "repair", "r", effective_to=start)
    refused(app, InvalidValue, release, clock.ctx("S2"), "A1", "repair", "r", successor_id="S3",
            effective_to=start + timedelta(hours=1))  # fmt: skip
    refused(app, ActorNotActive, release, clock.ctx("S2"), "A1", "repair", "r", successor_id="S9",
            effective_to=start + timedelta(hours=1))  # fmt: skip
    refused(app, InvalidValue, release, clock.ctx("S2"), "A1", "repair", " ",
            effective_to=start + timedelta(hours=1))  # fmt: skip
    refused(app, ActorNotActive, release, clock.ctx("O1", "owner"), "A1", "repair", "r",
            effective_to=start + timedelta(hours=1))  # fmt: skip
    app.release_responsibility(clock.ctx("S2"), "A1", "repair", "休假 leave",
                               effective_to=start + timedelta(days=2))  # fmt: skip
    refused(app, InvalidValue, app.assign_responsibility, clock.ctx("S2"), "A1", "repair", "S4",
            effective_from=start + timedelta(days=1))  # fmt: skip


def test_hand_over_releases_and_assigns_in_one_command(app: Ledger) -> None:
    clock = Clock()
    start, at = T0 - timedelta(days=30), T0 + timedelta(hours=5)
    app.assign_responsibility(clock.ctx("S2"), "A1", "repair", "S3", effective_from=start)
    result = app.hand_over_responsibility(
        clock.ctx("S2"), "A1", "repair", "S4", "调岗 transferred", deputy_id="S3", effective_at=at
    )
    assert len(result.events) == 2
    assert topics(app)[-2:] == ["ResponsibilityReleased", "ResponsibilityAssigned"]
    after = area(app)
    assert after.history["repair"] == (("S3", start, at), ("S4", at, None))
    assert after.holders["repair"]["deputy_id"] == "S3"
    assert after.responsible_at("repair", at - timedelta(microseconds=1)) == "S3"
    assert after.responsible_at("repair", at) == "S4"
    assert after.responsible_at("repair", at + timedelta(days=400)) == "S4"


def test_hand_over_refusals(app: Ledger) -> None:
    clock = Clock()
    hand_over = app.hand_over_responsibility
    at = T0 + timedelta(hours=5)
    repair = ("A1", "repair")
    refused(app, IllegalTransition, hand_over, clock.ctx("S2"), *repair, "S4", "r")
    app.assign_responsibility(clock.ctx("S2"), *repair, "S3", effective_from=T0)
    refused(app, InvalidValue, hand_over, clock.ctx("S2"), *repair, "S3", "r", effective_at=at)
    refused(app, ActorNotActive, hand_over, clock.ctx("S2"), *repair, "GHOST", "r")
    refused(app, InvalidValue, hand_over, clock.ctx("S2"), *repair, "S4", "r",
            deputy_id="S4", effective_at=at)  # fmt: skip
    refused(app, InvalidValue, hand_over, clock.ctx("S2"), *repair, "S4", "r", effective_at=T0)
    refused(app, InvalidValue, hand_over, clock.ctx("S2"), *repair, "S4", "", effective_at=at)
    assert area(app).responsible_at("repair", at) == "S3"


def test_a_task_gets_whoever_answered_for_the_area_when_it_happened(app: Ledger) -> None:
    clock = Clock()
    at = T0 + timedelta(hours=1)
    app.assign_responsibility(clock.ctx("S2"), "A1", "repair", "S3", effective_from=T0)
    app.hand_over_responsibility(clock.ctx("S2"), "A1", "repair", "S4", "轮岗", effective_at=at)
    clock.advance(hours=2)

    def register(task_no: str, area_id: str, line: str, occurred_at: datetime | None) -> Any:
        app.register_task(clock.ctx("S2", occurred_at=occurred_at), task_no, "P1", area_id,
                          "repair", line, "normal", "hotline", "1-1203", "漏水 leak")  # fmt: skip
        return get(app, Task, "task", task_no).responsible_id

    assert register("TK1", "A1", "repair", at - timedelta(minutes=1)) == "S3"  # reported late
    assert register("TK2", "A1", "repair", None) == "S4"
    assert register("TK3", "A1", "cleaning", None) is None
    assert register("TK4", "A9", "repair", None) is None


# -- escalation chains -----------------------------------------------------------------------


def test_escalation_chain_defined_and_revised(app: Ledger) -> None:
    clock = Clock()
    app.define_escalation_chain(clock.admin(), "CH1", "P1", LEVELS)
    assert (topics(app)[-1], last_record(app)["property_id"]) == ("EscalationChainDefined", "P1")
    revised = ("executor:PT0M", "S2:PT10M", "project_manager:PT30M")
    app.revise_escalation_chain(clock.ctx("S1"), "CH1", revised)
    assert topics(app)[-1] == "EscalationChainRevised"
    chain = get(app, EscalationChain, "escalation_chain", "CH1")
    assert (chain.chain_version, chain.levels, chain.property_id) == (2, revised, "P1")


def test_escalation_chain_refusals(app: Ledger) -> None:
    clock = Clock()
    define, revise = app.define_escalation_chain, app.revise_escalation_chain
    for bad in (
        (),
        ("executor",),
        (":PT5M",),
        ("executor:30m",),
        ("executor:P1W",),
        ("executor:PT30M", "site_supervisor:PT15M"),
        ("executor:PT0M", "executor:PT15M"),
        tuple(f"L{n}:PT{n}M" for n in range(11)),
    ):
        refused(app, InvalidValue, define, clock.admin(), "CH1", "P1", bad)
    refused(app, ActorNotActive, define, clock.admin(), "CH1", "P1", ("GHOST:PT5M",))
    refused(app, ActorNotActive, define, clock.admin(), "CH1", "P1", ("S9:PT5M",))
    refused(app, InvalidValue, define, clock.admin(), "CH1", "", LEVELS)
    refused(app, NotFound, revise, clock.admin(), "CH1", LEVELS)
    app.define_escalation_chain(clock.admin(), "CH1", "P1", LEVELS)
    refused(app, AlreadyExists, define, clock.admin(), "CH1", "P1", LEVELS)
    refused(app, InvalidValue, revise, clock.admin(), "CH1", LEVELS)
    refused(app, ActorNotActive, revise, clock.ctx("O1", "owner"), "CH1", LEVELS[:2])


def test_levels_name_roles_or_people_with_non_decreasing_delays() -> None:
    parsed = parse_levels(("executor:PT0M", "S2:PT15M", "leadership:P1DT2H"))
    assert parsed[-1] == ("leadership", timedelta(days=1, hours=2))


# -- work rules ------------------------------------------------------------------------------


def test_work_rule_is_acknowledged_per_version_by_each_person(app: Ledger) -> None:
    clock = Clock()
    effective = T0 + timedelta(days=7)
    app.publish_work_rule(clock.admin(), "R1", "奖惩制度 v1", DOC, "职代会决议 2026-03", effective)
    app.acknowledge_work_rule(clock.ctx("S3"), "R1", "S3", 1)
    assert topics(app)[-2:] == ["WorkRulePublished", "WorkRuleAcknowledged"]
    app.revise_work_rule(clock.ctx("S1"), "R1", "奖惩制度 v2", DOC2, "职代会决议 06", effective)
    refused(app, InvalidValue, app.acknowledge_work_rule, clock.ctx("S4"), "R1", "S4", 1)
    app.acknowledge_work_rule(clock.ctx("S3"), "R1", "S3", 2)
    assert topics(app)[-2:] == ["WorkRulePublished", "WorkRuleAcknowledged"]
    rule = get(app, WorkRule, "work_rule", "R1")
    assert (rule.rule_version, rule.document_sha256, rule.version) == (2, DOC2, 4)
    assert rule.acknowledged == {"1": ("S3",), "2": ("S3",)}
    assert rule.has_acknowledged("S3", 1)
    assert not rule.has_acknowledged("S4", 2)


def test_work_rule_refusals(app: Ledger) -> None:
    clock = Clock()
    publish, revise, ack = app.publish_work_rule, app.revise_work_rule, app.acknowledge_work_rule
    effective = T0 + timedelta(days=7)
    naive = datetime(2026, 7, 8)
    owner = clock.ctx("O1", "owner")
    refused(app, InvalidValue, publish, clock.admin(), "R1", "手册", DOC, " ", effective)
    refused(app, InvalidValue, publish, clock.admin(), "R1", "手册", "AB" * 32, "m", effective)
    refused(app, InvalidValue, publish, clock.admin(), "R1", "手册", DOC, "m", naive)
    refused(app, ActorNotActive, publish, owner, "R1", "手册", DOC, "m", effective)
    app.publish_work_rule(clock.admin(), "R1", "员工手册", DOC, "工会会议纪要 2026-02", effective)
    refused(app, AlreadyExists, publish, clock.admin(), "R1", "员工手册", DOC, "m", effective)
    refused(app, NotResponsible, ack, clock.ctx("S4"), "R1", "S3", 1)
    refused(app, NotResponsible, ack, clock.admin(), "R1", "S3", 1)
    refused(app, ActorNotActive, ack, clock.ctx("S4"), "R1", "GHOST", 1)
    refused(app, InvalidValue, ack, clock.ctx("S3"), "R1", "S3", 2)
    refused(app, NotFound, ack, clock.ctx("S3"), "R9", "S3", 1)
    app.acknowledge_work_rule(clock.ctx("S3"), "R1", "S3", 1)
    refused(app, IllegalTransition, ack, clock.ctx("S3"), "R1", "S3", 1)
    refused(app, InvalidValue, revise, clock.admin(), "R1", "员工手册", DOC, "m2", effective)
    refused(app, InvalidValue, revise, clock.admin(), "R1", "员工手册", DOC2, "m2", T0)
    refused(app, InvalidValue, revise, clock.admin(), "R1", "员工手册", DOC2, "", effective)
    refused(app, NotFound, revise, clock.admin(), "R9", "员工手册", DOC2, "m2", effective)
    owner = clock.ctx("O1", "owner")
    refused(app, ActorNotActive, revise, owner, "R1", "员工手册", DOC2, "m", effective)


def test_republished_rule_replays_on_every_store(any_ledger: Ledger) -> None:
    clock = Clock()
    onboard(any_ledger, clock)
    any_ledger.publish_work_rule(clock.admin(), "R1", "手册", DOC, "纪要 1", T0)
    any_ledger.revise_work_rule(clock.admin(), "R1", "手册", DOC2, "纪要 2", T0 + timedelta(days=1))
    any_ledger.acknowledge_work_rule(clock.ctx("S4"), "R1", "S4", 2)
    rule = get(any_ledger, WorkRule, "work_rule", "R1")
    assert (rule.rule_version, rule.procedure_ref) == (2, "纪要 2")
    assert rule.acknowledged == {"1": (), "2": ("S4",)}
    assert rule.effective_from == datetime(2026, 7, 2, 8, tzinfo=UTC)


# -- idempotency -----------------------------------------------------------------------------


def test_a_repeated_command_returns_the_first_result_and_writes_nothing(app: Ledger) -> None:
    clock = Clock()
    first = app.assign_responsibility(clock.ctx("S2", command_id="same"), "A1", "repair", "S3")
    before = app.recorder.max_notification_id()
    again = app.assign_responsibility(clock.ctx("S2", command_id="same"), "A1", "repair", "S3")
    assert (again.repeated, again.events) == (True, first.events)
    assert app.recorder.max_notification_id() == before
    refused(app, CommandIdReused, app.assign_responsibility, clock.ctx("S2", command_id="same"),
            "A1", "repair", "S4")  # fmt: skip
