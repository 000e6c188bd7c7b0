"""The corrective-action loop: plan, fix, independent verification, close, reopen; every refusal."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest

from ledger.domain.corrective_actions import CorrectiveAction
from ledger.errors import (
    ActorNotActive,
    AlreadyExists,
    DomainError,
    IllegalTransition,
    InvalidValue,
    NotFound,
    NotResponsible,
    SeparationOfDuties,
)
from ledger.ids import stream_id
from ledger.ledger import Ledger
from tests.clock import PHOTO, T0, Clock

DUE = T0 + timedelta(days=7)


@pytest.fixture
def app() -> Iterator[Ledger]:
    ledger = Ledger("memory://")
    yield ledger
    ledger.close()


def onboard(app: Ledger, clock: Clock) -> None:
    """Owner O1 (supervisor), technicians T1 and T2, quality inspector Q1."""
    for person, family, position in (
        ("O1", "management", "site_supervisor"),
        ("T1", "engineering", "technician"),
        ("T2", "engineering", "technician"),
        ("Q1", "quality", "quality_inspector"),
    ):
        app.onboard_staff(clock.admin(), person, f"E-{person}", family)
        app.assign_position(clock.admin(), person, position, "P1")


def opened(app: Ledger, clock: Clock, action_id: str = "CA1") -> None:
    onboard(app, clock)
    app.open_corrective_action(
        clock.admin(), action_id, "P1", "complaint", "T-2026-000123", "漏水反复 recurring leak",
        "O1", DUE,
    )


def implemented(app: Ledger, clock: Clock, by: str = "T1") -> None:
    cause, plan = "阀门老化 worn valve", "更换阀门 replace"
    app.plan_corrective_action(clock.ctx("O1"), "CA1", cause, plan, DUE)
    app.implement_corrective_action(clock.ctx(by, evidence=(PHOTO,)), "CA1", "已更换 replaced")


def action(app: Ledger) -> CorrectiveAction:
    found: object = app.repository.get(stream_id("corrective_action", "CA1"))
    assert isinstance(found, CorrectiveAction)
    return found


def topics(app: Ledger) -> list[str]:
    return [n.topic for n in app.recorder.select_notifications(1, 10_000)]


def refused(app: Ledger, error: type[DomainError], call: Callable[..., Any], *args: Any,
            **kwargs: Any) -> None:
    """The command raises exactly `error` and writes nothing."""
    before = app.recorder.max_notification_id()
    with pytest.raises(error):
        call(*args, **kwargs)
    assert app.recorder.max_notification_id() == before


def test_the_loop_closes_after_independent_verification(app: Ledger) -> None:
    clock = Clock()
    opened(app, clock)
    implemented(app, clock)
    app.verify_corrective_action(clock.ctx("Q1", evidence=(PHOTO,)), "CA1", True, "复查无渗漏")
    app.close_corrective_action(clock.ctx("O1"), "CA1")
    assert topics(app)[-5:] == [
        "CorrectiveActionOpened", "CorrectiveActionPlanned", "CorrectiveActionImplemented",
        "CorrectiveActionVerified", "CorrectiveActionClosed",
    ]
    done = action(app)
    assert (done.status, done.implementer_id, done.verifier_id) == ("closed", "T1", "Q1")
    assert done.root_cause == "阀门老化 worn valve"


def test_failed_verification_reopens_and_loops_back(app: Ledger) -> None:
    clock = Clock()
    opened(app, clock)
    implemented(app, clock)
    app.verify_corrective_action(clock.ctx("Q1"), "CA1", False, "仍有渗漏 still leaking")
    refused(app, IllegalTransition, app.close_corrective_action, clock.ctx("Q1"), "CA1")
    app.reopen_corrective_action(clock.ctx("Q1"), "CA1", "复查不合格 failed re-check")
    assert (action(app).status, action(app).reopen_count) == ("reopened", 1)
    implemented(app, clock, by="T2")
    # T1 implemented the first attempt: still not independent of the fix.
    refused(app, SeparationOfDuties, app.verify_corrective_action, clock.ctx("T1"), "CA1", True)
    app.verify_corrective_action(clock.ctx("Q1"), "CA1", True)
    app.close_corrective_action(clock.ctx("O1"), "CA1")
    app.reopen_corrective_action(clock.ctx("O1"), "CA1", "30天内复发 recurred within 30 days")
    assert (action(app).status, action(app).reopen_count) == ("reopened", 2)
    assert topics(app).count("CorrectiveActionReopened") == 2


def test_the_implementer_may_neither_verify_nor_close(app: Ledger) -> None:
    clock = Clock()
    opened(app, clock)
    implemented(app, clock, by="O1")  # the owner fixes it personally
    verify, close = app.verify_corrective_action, app.close_corrective_action
    refused(app, SeparationOfDuties, verify, clock.ctx("O1"), "CA1", True)
    app.verify_corrective_action(clock.ctx("Q1"), "CA1", True)
    refused(app, SeparationOfDuties, close, clock.ctx("O1"), "CA1")
    close(clock.ctx("Q1"), "CA1")


def test_open_refusals(app: Ledger) -> None:
    clock = Clock()
    onboard(app, clock)
    good: dict[str, Any] = {
        "action_id": "CA1", "property_id": "P1", "source": "audit", "source_ref": "AUD-7",
        "problem": "消防通道堵塞 blocked fire lane", "owner_id": "O1", "due": DUE,
    }
    for change, error in (
        ({"source": "gossip"}, InvalidValue),
        ({"owner_id": "GHOST"}, ActorNotActive),
        ({"due": T0 - timedelta(days=1)}, InvalidValue),
        ({"problem": " "}, InvalidValue),
        ({"source_ref": ""}, InvalidValue),
    ):
        refused(app, error, app.open_corrective_action, clock.admin(), **{**good, **change})
    app.open_corrective_action(clock.admin(), **good)
    refused(app, AlreadyExists, app.open_corrective_action, clock.admin(), **good)
    app.offboard_staff(clock.admin(), "T2", "left")
    refused(app, ActorNotActive, app.open_corrective_action, clock.admin(),
            **{**good, "action_id": "CA2", "owner_id": "T2"})


def test_step_refusals(app: Ledger) -> None:
    clock = Clock()
    opened(app, clock)
    plan, implement = app.plan_corrective_action, app.implement_corrective_action
    verify, close, reopen = (
        app.verify_corrective_action, app.close_corrective_action, app.reopen_corrective_action
    )
    ev = (PHOTO,)
    refused(app, NotFound, plan, clock.ctx("O1"), "CA9", "cause", "actions", DUE)
    refused(app, IllegalTransition, implement, clock.ctx("T1", evidence=ev), "CA1", "done")
    refused(app, IllegalTransition, verify, clock.ctx("Q1"), "CA1", True)
    refused(app, IllegalTransition, close, clock.ctx("Q1"), "CA1")
    refused(app, IllegalTransition, reopen, clock.ctx("Q1"), "CA1", "why")
    refused(app, NotResponsible, plan, clock.ctx("T1"), "CA1", "cause", "actions", DUE)
    refused(app, InvalidValue, plan, clock.ctx("O1"), "CA1", " ", "actions", DUE)
    refused(app, InvalidValue, plan, clock.ctx("O1"), "CA1", "cause", "actions", T0)
    plan(clock.ctx("O1"), "CA1", "cause", "actions", DUE)
    refused(app, IllegalTransition, plan, clock.ctx("O1"), "CA1", "cause", "again", DUE)
    refused(app, InvalidValue, implement, clock.ctx("T1"), "CA1", "done, no photo")
    refused(app, ActorNotActive, implement, clock.admin(evidence=ev), "CA1", "done")
    refused(app, InvalidValue, implement, clock.ctx("T1", evidence=ev), "CA1", " ")
    implement(clock.ctx("T1", evidence=ev), "CA1", "done")
    refused(app, IllegalTransition, implement, clock.ctx("T2", evidence=ev), "CA1", "again")
    refused(app, IllegalTransition, close, clock.ctx("Q1"), "CA1")
    refused(app, InvalidValue, verify, clock.ctx("Q1"), "CA1", "yes")
    refused(app, InvalidValue, verify, clock.ctx("Q1"), "CA1", True, "x" * 1001)
    verify(clock.ctx("Q1"), "CA1", True)
    refused(app, IllegalTransition, verify, clock.ctx("Q1"), "CA1", True)
    refused(app, IllegalTransition, reopen, clock.ctx("Q1"), "CA1", "not yet closed")
    close(clock.ctx("Q1"), "CA1")
    refused(app, IllegalTransition, close, clock.ctx("Q1"), "CA1")
    refused(app, InvalidValue, reopen, clock.ctx("Q1"), "CA1", " ")


def test_repeated_command_id_returns_the_first_result(app: Ledger) -> None:
    clock = Clock()
    opened(app, clock)
    first = app.plan_corrective_action(clock.ctx("O1", command_id="plan-1"), "CA1", "c", "a", DUE)
    before = app.recorder.max_notification_id()
    again = app.plan_corrective_action(clock.ctx("O1", command_id="plan-1"), "CA1", "c", "a", DUE)
    assert again.repeated
    assert again.events == first.events
    assert app.recorder.max_notification_id() == before


def test_loop_on_every_store(any_ledger: Ledger) -> None:
    clock = Clock()
    opened(any_ledger, clock)
    implemented(any_ledger, clock)
    any_ledger.verify_corrective_action(clock.ctx("Q1"), "CA1", True)
    any_ledger.close_corrective_action(clock.ctx("Q1"), "CA1")
    done = action(any_ledger)
    assert (done.status, done.due, done.implementers) == ("closed", DUE, ("T1",))
