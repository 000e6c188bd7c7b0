"""Checklists, plans, rounds, findings and missed windows: happy paths and every refusal."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from ledger.domain.corrective_actions import CorrectiveAction
from ledger.domain.inspections import (
    Checklist,
    InspectionPlan,
    InspectionRound,
    parse_frequency,
    round_key,
)
from ledger.errors import (
    ActorNotActive,
    AlreadyExists,
    DomainError,
    IllegalTransition,
    InvalidValue,
    NotFound,
    NotResponsible,
)
from ledger.ids import stream_id
from ledger.ledger import Ledger
from tests.clock import PHOTO, T0, Clock

ITEMS = (
    "A|地面无垃圾 floor clean|pass_fail|10",
    "B|标识完好 signage intact|pass_flag_fail|7",
    "C|水箱温度 tank temperature|number|4",
    "D|设备间照片 plant room photo|photo|5",
    "E|备注 remarks|text|2",
)
TWO_HOURS = timedelta(hours=2)


class AreasLedger(Ledger):
    """A Ledger whose responsibility history is a dict: (area, line) → [(since, person)]."""

    def __init__(self) -> None:
        super().__init__("memory://")
        self.holders: dict[tuple[str, str], list[tuple[datetime, str]]] = {}

    def responsible_for(self, area_id: str, service_line: str, at: datetime) -> str | None:
        holders = [p for since, p in self.holders.get((area_id, service_line), []) if since <= at]
        return holders[-1] if holders else None


@pytest.fixture
def app() -> Iterator[AreasLedger]:
    ledger = AreasLedger()
    yield ledger
    ledger.close()


def onboard(app: Ledger, clock: Clock) -> None:
    """Inspectors I1, I2; safety manager SM; cleaners R1, R2 (responsible for area A1)."""
    for person, family, position in (
        ("I1", "quality", "quality_inspector"),
        ("I2", "quality", "quality_inspector"),
        ("SM", "management", "safety_manager"),
        ("R1", "cleaning", "cleaner"),
        ("R2", "cleaning", "cleaner"),
    ):
        app.onboard_staff(clock.admin(), person, f"E-{person}", family)
        app.assign_position(clock.admin(), person, position, "P1")


def setup(app: Ledger, clock: Clock, checkpoints: tuple[str, ...] = ("G1", "G2")) -> None:
    """Staff, checklist CL1 v1 and a two-hourly plan PL1 from T0 assigned to I1 and I2."""
    onboard(app, clock)
    app.publish_checklist(clock.admin(), "CL1", "保洁巡检 cleaning", "cleaning", ITEMS)
    app.schedule_inspection_plan(
        clock.admin(), "PL1", "P1", "A1", "CL1", 1, checkpoints, "PT2H", T0, ("I1", "I2")
    )


def start(app: Ledger, clock: Clock, who: str = "I1", window: datetime = T0) -> str:
    app.start_inspection_round(clock.ctx(who), "PL1", window)
    return round_key("PL1", window)


def record_all_pass(app: Ledger, clock: Clock, round_id: str, who: str = "I1") -> None:
    for code, value in (("A", ""), ("B", ""), ("C", "21.5"), ("E", "ok")):
        app.record_checklist_item(clock.ctx(who), round_id, code, "pass", value)
    app.record_checklist_item(clock.ctx(who, evidence=(PHOTO,)), round_id, "D", "pass")


def topics(app: Ledger) -> list[str]:
    return [n.topic for n in app.recorder.select_notifications(1, 10_000)]


def get(app: Ledger, kind: str, key: str) -> Any:
    return app.repository.get(stream_id(kind, key))


def refused(app: Ledger, error: type[DomainError], call: Callable[..., Any], *args: Any,
            **kwargs: Any) -> None:
    """The command raises exactly `error` and writes nothing."""
    before = app.recorder.max_notification_id()
    with pytest.raises(error):
        call(*args, **kwargs)
    assert app.recorder.max_notification_id() == before


# -- checklists ------------------------------------------------------------------------------


def test_checklist_versions_are_kept(app: AreasLedger) -> None:
    clock = Clock()
    app.publish_checklist(clock.admin(), "CL1", "保洁巡检", "cleaning", ITEMS)
    v2 = (*ITEMS[:2], "F|新增 new|pass_fail|3")
    app.revise_checklist(clock.admin(), "CL1", "保洁巡检 v2", v2)
    assert topics(app) == ["ChecklistTemplatePublished", "ChecklistTemplateRevised"]
    checklist = get(app, "checklist", "CL1")
    assert isinstance(checklist, Checklist)
    assert checklist.version == 2
    assert list(checklist.items_of(1)) == ["A", "B", "C", "D", "E"]
    assert list(checklist.items_of(2)) == ["A", "B", "F"]
    assert checklist.items_of(1)["B"].deduction("flag") == 3
    with pytest.raises(NotFound):
        checklist.items_of(3)


def test_checklist_refusals(app: AreasLedger) -> None:
    clock = Clock()
    publish = app.publish_checklist
    for items in (
        (),
        ("A|text|pass_fail",),
        ("A|text|yes_no|3",),
        ("A|text|pass_fail|x",),
        ("A|text|pass_fail|-1",),
        ("A|text|pass_fail|101",),
        ("A|text|pass_fail|1", "A|again|pass_fail|2"),
        ("a b|text|pass_fail|1",),
        ("A| |pass_fail|1",),
    ):
        refused(app, InvalidValue, publish, clock.admin(), "CL1", "t", "cleaning", items)
    refused(app, InvalidValue, publish, clock.admin(), "CL1", " ", "cleaning", ITEMS)
    refused(app, NotFound, app.revise_checklist, clock.admin(), "CL9", "t", ITEMS)
    publish(clock.admin(), "CL1", "t", "cleaning", ITEMS)
    refused(app, AlreadyExists, publish, clock.admin(), "CL1", "t", "cleaning", ITEMS)
    refused(app, InvalidValue, app.revise_checklist, clock.admin(), "CL1", "t", ITEMS)


# -- plans -----------------------------------------------------------------------------------


def test_frequencies_parse_to_fixed_durations() -> None:
    assert parse_frequency("PT2H") == TWO_HOURS
    assert parse_frequency("P1D") == timedelta(days=1)
    assert parse_frequency("P15D") == timedelta(days=15)
    assert parse_frequency("P1W") == timedelta(days=7)
    for bad in ("P1M", "P1Y", "2H", "PT", "P", "P1DT", "PT0S", "PT30S", "pt2h", ""):
        with pytest.raises(InvalidValue):
            parse_frequency(bad)


def test_schedule_plan(app: AreasLedger) -> None:
    clock = Clock()
    setup(app, clock)
    assert topics(app)[-1] == "InspectionPlanScheduled"
    plan = get(app, "inspection_plan", "PL1")
    assert isinstance(plan, InspectionPlan)
    assert (plan.checkpoints, plan.frequency, plan.assignee_ids) == (("G1", "G2"), "PT2H",
                                                                       ("I1", "I2"))
    assert plan.window(T0 + 2 * TWO_HOURS) == (T0 + 2 * TWO_HOURS, T0 + 3 * TWO_HOURS)
    assert plan.window_containing(T0 + timedelta(hours=5)) == (T0 + 2 * TWO_HOURS,
                                                               T0 + 3 * TWO_HOURS)
    assert plan.window_containing(T0 - timedelta(seconds=1)) is None
    with pytest.raises(InvalidValue, match="timezone"):
        plan.window(datetime(2026, 7, 1, 8))  # naive


def test_plan_refusals(app: AreasLedger) -> None:
    clock = Clock()
    setup(app, clock)
    schedule = app.schedule_inspection_plan
    good: dict[str, Any] = {
        "plan_id": "PL2", "property_id": "P1", "area_id": "A1", "checklist_id": "CL1",
        "checklist_version": 1, "checkpoints": ("G1",), "frequency": "P1D",
        "window_start": T0, "assignee_ids": ("I1",),
    }
    for change, error in (
        ({"frequency": "P1M"}, InvalidValue),
        ({"checklist_version": 2}, NotFound),
        ({"checklist_id": "CL9"}, NotFound),
        ({"assignee_ids": ("NOBODY",)}, ActorNotActive),
        ({"assignee_ids": ()}, InvalidValue),
        ({"assignee_ids": ("I1", "I1")}, InvalidValue),
        ({"checkpoints": ("G1", "G1")}, InvalidValue),
        ({"checkpoints": ("bad code",)}, InvalidValue),
        ({"requires_signer_position": "king"}, InvalidValue),
        ({"plan_id": "PL1"}, AlreadyExists),
    ):
        refused(app, error, schedule, clock.admin(), **{**good, **change})
    schedule(clock.admin(), **good)


# -- rounds ----------------------------------------------------------------------------------


def test_round_score_counts_fails_flags_and_free_findings(app: AreasLedger) -> None:
    clock = Clock()
    setup(app, clock)
    app.holders[("A1", "cleaning")] = [(T0 - timedelta(days=30), "R1")]
    round_id = start(app, clock)
    app.visit_checkpoint(clock.ctx("I1"), round_id, "G1", "qr")
    app.visit_checkpoint(clock.ctx("I1"), round_id, "G2", "nfc")
    app.record_checklist_item(clock.ctx("I1"), round_id, "A", "fail", "垃圾未清")
    app.record_checklist_item(clock.ctx("I1"), round_id, "B", "flag")
    app.record_checklist_item(clock.ctx("I1"), round_id, "C", "fail", "-3.5")
    app.record_checklist_item(clock.ctx("I1", evidence=(PHOTO,)), round_id, "D", "pass")
    app.record_checklist_item(clock.ctx("I1"), round_id, "E", "pass", "其余正常")
    evidence = clock.ctx("I1", evidence=(PHOTO,))
    app.raise_finding(evidence, round_id, "F1", "major", "大堂垃圾 lobby litter", item_code="A")
    evidence = clock.ctx("I1", evidence=(PHOTO,))
    app.raise_finding(evidence, round_id, "F2", "minor", "门口积水 standing water",
                      deduction_points=5)
    app.complete_inspection_round(clock.ctx("I1"), round_id)
    assert topics(app)[-11:] == [
        "InspectionRoundStarted", "CheckpointVisited", "CheckpointVisited",
        *["ChecklistItemRecorded"] * 5, "FindingRaised", "FindingRaised",
        "InspectionRoundCompleted",
    ]
    done = get(app, "inspection_round", round_id)
    assert isinstance(done, InspectionRound)
    # A fail 10 + B flag 7//2=3 + C fail 4 + free finding 5; the finding on A is not double-counted.
    assert (done.status, done.score, done.missed_checkpoints) == ("completed", 78, ())
    assert done.item_deductions == {"A": 10, "B": 3, "C": 4, "D": 0, "E": 0}
    assert done.finding_deductions == {"F1": 0, "F2": 5}


def test_score_never_goes_below_zero(app: AreasLedger) -> None:
    clock = Clock()
    setup(app, clock)
    round_id = start(app, clock)
    record_all_pass(app, clock, round_id)
    for n in range(3):
        app.raise_finding(clock.ctx("I1", evidence=(PHOTO,)), round_id, f"F{n}", "critical",
                          "严重 serious", deduction_points=40)
    app.complete_inspection_round(clock.ctx("I1"), round_id)
    assert get(app, "inspection_round", round_id).score == 0


def test_visit_outside_the_window_is_recorded_and_counts_as_missed(app: AreasLedger) -> None:
    clock = Clock()
    setup(app, clock)
    round_id = start(app, clock)
    app.visit_checkpoint(clock.ctx("I1"), round_id, "G1", "gps")
    clock.advance(hours=3)
    app.visit_checkpoint(clock.ctx("I1"), round_id, "G2", "manual")
    record_all_pass(app, clock, round_id)
    app.complete_inspection_round(clock.ctx("I1"), round_id)
    visits = [n for n in app.recorder.select_notifications(1, 10_000)
              if n.topic == "CheckpointVisited"]
    assert [b'"in_window":true' in v.state for v in visits] == [True, False]
    done = get(app, "inspection_round", round_id)
    assert done.visited_in_window == {"G1": True, "G2": False}
    assert (done.score, done.missed_checkpoints) == (100, ("G2",))


def test_finding_is_charged_to_whoever_was_responsible_then(app: AreasLedger) -> None:
    clock = Clock()
    setup(app, clock)
    handover = T0 + timedelta(hours=1)
    app.holders[("A1", "cleaning")] = [(T0 - timedelta(days=1), "R1"), (handover, "R2")]
    round_id = start(app, clock)
    app.raise_finding(clock.ctx("I1", evidence=(PHOTO,)), round_id, "F1", "minor", "before")
    clock.advance(hours=1)
    app.raise_finding(clock.ctx("I1", evidence=(PHOTO,)), round_id, "F2", "minor", "after")
    late = clock.ctx("I1", evidence=(PHOTO,), occurred_at=handover - timedelta(minutes=1))
    app.raise_finding(late, round_id, "F3", "minor", "reported late, happened before")
    found = [n.state for n in app.recorder.select_notifications(1, 10_000)
             if n.topic == "FindingRaised"]
    assert [b'"responsible_id":"R1"' in s for s in found] == [True, False, True]
    assert b'"responsible_id":"R2"' in found[1]


def test_finding_can_open_a_corrective_action_in_the_same_command(app: AreasLedger) -> None:
    clock = Clock()
    setup(app, clock)
    app.holders[("A1", "cleaning")] = [(T0 - timedelta(days=1), "R1")]
    round_id = start(app, clock)
    due = T0 + timedelta(days=3)
    result = app.raise_finding(
        clock.ctx("I1", evidence=(PHOTO,)), round_id, "F1", "major", "电梯厅脏 dirty lobby",
        open_action_id="CA1", action_due=due,
    )
    assert topics(app)[-2:] == ["FindingRaised", "CorrectiveActionOpened"]
    assert {s for s, _ in result.events} == {
        str(stream_id("inspection_round", round_id)), str(stream_id("corrective_action", "CA1"))
    }
    action = get(app, "corrective_action", "CA1")
    assert isinstance(action, CorrectiveAction)
    assert (action.owner_id, action.source, action.source_ref, action.due) == (
        "R1", "finding", "F1", due)
    assert action.property_id == "P1"
    app.raise_finding(clock.ctx("I1", evidence=(PHOTO,)), round_id, "F2", "minor", "x",
                      open_action_id="CA2", action_owner_id="R2", action_due=due)
    assert get(app, "corrective_action", "CA2").owner_id == "R2"


def test_finding_with_action_refusals(app: AreasLedger) -> None:
    clock = Clock()
    setup(app, clock)
    round_id = start(app, clock)
    due = T0 + timedelta(days=3)

    def finding(**kw: Any) -> None:
        app.raise_finding(clock.ctx("I1", evidence=(PHOTO,)), round_id, "F1", "major", "x", **kw)

    refused(app, InvalidValue, finding, open_action_id="CA1", action_due=due)  # nobody answers
    app.holders[("A1", "cleaning")] = [(T0 - timedelta(days=1), "R1")]
    refused(app, InvalidValue, finding, open_action_id="CA1")  # no due
    refused(app, InvalidValue, finding, open_action_id="CA1", action_due=T0 - TWO_HOURS)
    refused(app, InvalidValue, finding, action_due=due)  # due without an action id
    refused(app, ActorNotActive, finding, open_action_id="CA1", action_owner_id="GHOST",
            action_due=due)
    app.open_corrective_action(clock.admin(), "CA1", "P1", "audit", "AUD-1", "x", "R1", due)
    refused(app, AlreadyExists, finding, open_action_id="CA1", action_due=due)
    assert "FindingRaised" not in topics(app)


def test_round_refusals(app: AreasLedger) -> None:
    clock = Clock()
    setup(app, clock)
    begin = app.start_inspection_round
    refused(app, NotResponsible, begin, clock.ctx("R1"), "PL1", T0)
    refused(app, ActorNotActive, begin, clock.admin(), "PL1", T0)
    refused(app, InvalidValue, begin, clock.ctx("I1"), "PL1", T0 + timedelta(hours=1))
    refused(app, InvalidValue, begin, clock.ctx("I1"), "PL1", T0 - TWO_HOURS)
    refused(app, IllegalTransition, begin, clock.ctx("I1"), "PL1", T0 + 5 * TWO_HOURS)
    refused(app, NotFound, begin, clock.ctx("I1"), "PL9", T0)
    round_id = start(app, clock)
    refused(app, AlreadyExists, begin, clock.ctx("I2"), "PL1", T0)

    visit, item, finding = app.visit_checkpoint, app.record_checklist_item, app.raise_finding
    refused(app, NotResponsible, visit, clock.ctx("I2"), round_id, "G1", "qr")
    refused(app, InvalidValue, visit, clock.ctx("I1"), round_id, "G9", "qr")
    refused(app, InvalidValue, visit, clock.ctx("I1"), round_id, "G1", "telepathy")
    refused(app, NotFound, visit, clock.ctx("I1"), "PL1/nowhere", "G1", "qr")

    refused(app, NotResponsible, item, clock.ctx("I2"), round_id, "A", "pass")
    refused(app, InvalidValue, item, clock.ctx("I1"), round_id, "A", "flag")
    refused(app, InvalidValue, item, clock.ctx("I1"), round_id, "C", "flag", "3")
    refused(app, InvalidValue, item, clock.ctx("I1"), round_id, "Z", "pass")
    refused(app, InvalidValue, item, clock.ctx("I1"), round_id, "A", "maybe")
    refused(app, InvalidValue, item, clock.ctx("I1"), round_id, "C", "pass", "warm")
    refused(app, InvalidValue, item, clock.ctx("I1"), round_id, "D", "pass")  # photo, no evidence
    refused(app, InvalidValue, item, clock.ctx("I1"), round_id, "E", "pass", "  ")
    app.record_checklist_item(clock.ctx("I1"), round_id, "A", "pass")
    refused(app, IllegalTransition, item, clock.ctx("I1"), round_id, "A", "fail")

    ev = (PHOTO,)
    refused(app, InvalidValue, finding, clock.ctx("I1"), round_id, "F1", "minor", "no evidence")
    refused(app, NotResponsible, finding, clock.ctx("I2", evidence=ev), round_id, "F1", "minor",
            "x")
    refused(app, InvalidValue, finding, clock.ctx("I1", evidence=ev), round_id, "F1", "bad", "x")
    refused(app, InvalidValue, finding, clock.ctx("I1", evidence=ev), round_id, "F1", "minor",
            " ")
    refused(app, InvalidValue, finding, clock.ctx("I1", evidence=ev), round_id, "F1", "minor",
            "on a passed item", item_code="A")
    refused(app, InvalidValue, finding, clock.ctx("I1", evidence=ev), round_id, "F1", "minor",
            "x", deduction_points=101)
    refused(app, InvalidValue, finding, clock.ctx("I1", evidence=ev), round_id, "F1", "minor",
            "x", deduction_points=-1)
    app.record_checklist_item(clock.ctx("I1"), round_id, "B", "fail")
    refused(app, InvalidValue, finding, clock.ctx("I1", evidence=ev), round_id, "F1", "minor",
            "points differ from the item", item_code="B", deduction_points=3)
    app.raise_finding(clock.ctx("I1", evidence=ev), round_id, "F1", "minor", "x", item_code="B",
                      deduction_points=7)
    refused(app, AlreadyExists, finding, clock.ctx("I1", evidence=ev), round_id, "F1", "minor",
            "x")

    complete = app.complete_inspection_round
    refused(app, IllegalTransition, complete, clock.ctx("I1"), round_id)  # C, D, E unrecorded
    app.record_checklist_item(clock.ctx("I1"), round_id, "C", "pass", "20")
    app.record_checklist_item(clock.ctx("I1", evidence=ev), round_id, "D", "pass")
    app.record_checklist_item(clock.ctx("I1"), round_id, "E", "pass", "ok")
    refused(app, NotResponsible, complete, clock.ctx("I2"), round_id)
    complete(clock.ctx("I1"), round_id)
    refused(app, IllegalTransition, complete, clock.ctx("I1"), round_id)
    refused(app, IllegalTransition, visit, clock.ctx("I1"), round_id, "G1", "qr")
    refused(app, IllegalTransition, item, clock.ctx("I1"), round_id, "A", "pass")
    refused(app, IllegalTransition, finding, clock.ctx("I1", evidence=ev), round_id, "F9",
            "minor", "x")


def test_plan_signer_position_is_required_to_complete(app: AreasLedger) -> None:
    clock = Clock()
    onboard(app, clock)
    app.publish_checklist(clock.admin(), "EL", "电梯维保 elevator", "elevator",
                          ("M1|曳引机 traction machine|pass_fail|20",))
    app.schedule_inspection_plan(clock.admin(), "PL-EL", "P1", "LIFT-1", "EL", 1, ("L1",),
                                 "P15D", T0, ("I1", "SM"), "safety_manager")
    by_inspector = round_key("PL-EL", T0)
    app.start_inspection_round(clock.ctx("I1"), "PL-EL", T0)
    app.record_checklist_item(clock.ctx("I1"), by_inspector, "M1", "pass")
    refused(app, NotResponsible, app.complete_inspection_round, clock.ctx("I1"), by_inspector)
    later = T0 + timedelta(days=15)
    clock.now = later
    app.start_inspection_round(clock.ctx("SM"), "PL-EL", later)
    by_manager = round_key("PL-EL", later)
    app.record_checklist_item(clock.ctx("SM"), by_manager, "M1", "pass")
    app.complete_inspection_round(clock.ctx("SM"), by_manager)
    assert b'"signer_id":"SM"' in app.recorder.select_notifications(1, 10_000)[-1].state


def test_round_pins_the_checklist_version_of_its_plan(app: AreasLedger) -> None:
    clock = Clock()
    setup(app, clock)
    app.revise_checklist(clock.admin(), "CL1", "v2", ("A|only one|pass_fail|10",))
    round_id = start(app, clock)
    refused(app, InvalidValue, app.record_checklist_item, clock.ctx("I1"), round_id, "F", "pass")
    record_all_pass(app, clock, round_id)  # v1 items, all five
    app.complete_inspection_round(clock.ctx("I1"), round_id)


# -- missed windows --------------------------------------------------------------------------


def test_missed_window_is_recorded_once(app: AreasLedger) -> None:
    clock = Clock()
    setup(app, clock)
    missed = app.record_round_missed
    refused(app, IllegalTransition, missed, clock.ctx("watcher", "system"), "PL1", T0)
    clock.advance(hours=2)
    refused(app, NotResponsible, missed, clock.ctx("I1"), "PL1", T0)
    refused(app, InvalidValue, missed, clock.ctx("watcher", "system"), "PL1",
            T0 + timedelta(minutes=30))
    first = missed(clock.ctx("watcher", "system", command_id="miss-PL1-0"), "PL1", T0)
    assert topics(app)[-1] == "InspectionRoundMissed"
    again = missed(clock.ctx("watcher", "system", command_id="miss-PL1-0"), "PL1", T0)
    assert again.repeated
    assert again.events == first.events
    refused(app, AlreadyExists, missed, clock.ctx("watcher", "system"), "PL1", T0)
    refused(app, AlreadyExists, app.start_inspection_round, clock.ctx("I1"), "PL1", T0)
    gone = get(app, "inspection_round", round_key("PL1", T0))
    assert isinstance(gone, InspectionRound)
    assert (gone.status, gone.inspector_id, gone.window_end) == ("missed", None, T0 + TWO_HOURS)
    refused(app, IllegalTransition, app.visit_checkpoint, clock.ctx("I1"), gone.round_id, "G1",
            "qr")


def test_a_started_window_cannot_be_marked_missed(app: AreasLedger) -> None:
    clock = Clock()
    setup(app, clock)
    start(app, clock)
    clock.advance(hours=3)
    refused(app, AlreadyExists, app.record_round_missed, clock.ctx("watcher", "system"), "PL1",
            T0)


# -- idempotency and persistence -------------------------------------------------------------


def test_repeated_command_id_returns_the_first_result(app: AreasLedger) -> None:
    clock = Clock()
    setup(app, clock)
    round_id = start(app, clock)
    first = app.visit_checkpoint(clock.ctx("I1", command_id="visit-1"), round_id, "G1", "qr")
    before = app.recorder.max_notification_id()
    again = app.visit_checkpoint(clock.ctx("I1", command_id="visit-1"), round_id, "G1", "qr")
    assert again.repeated
    assert again.events == first.events
    assert app.recorder.max_notification_id() == before


def test_round_lifecycle_on_every_store(any_ledger: Ledger) -> None:
    clock = Clock()
    setup(any_ledger, clock)
    round_id = start(any_ledger, clock)
    any_ledger.visit_checkpoint(clock.ctx("I1"), round_id, "G1", "qr")
    record_all_pass(any_ledger, clock, round_id)
    any_ledger.raise_finding(clock.ctx("I1", evidence=(PHOTO,)), round_id, "F1", "minor", "x",
                             deduction_points=4)
    any_ledger.complete_inspection_round(clock.ctx("I1"), round_id)
    clock.advance(hours=4)
    any_ledger.record_round_missed(clock.ctx("watcher", "system"), "PL1", T0 + TWO_HOURS)
    done = get(any_ledger, "inspection_round", round_id)
    assert (done.status, done.score, done.missed_checkpoints) == ("completed", 96, ("G2",))
    assert get(any_ledger, "inspection_round", round_key("PL1", T0 + TWO_HOURS)).status == "missed"
