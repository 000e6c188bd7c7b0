"""Work-order lifecycle: the behaviour suite on every store, and every refusal on the fast one."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime

import pytest

from ledger.application import Acting
from ledger.domain.base import LedgerAggregate
from ledger.domain.tasks import Task
from ledger.errors import (
    ActorNotActive,
    AlreadyExists,
    CommandIdReused,
    ConcurrentModification,
    DomainError,
    IllegalTransition,
    InvalidValue,
    NotFound,
    NotResponsible,
)
from ledger.ids import stream_id
from ledger.ledger import Ledger
from tests.clock import PHOTO, Clock


def staff(app: Ledger, clock: Clock) -> None:
    """A supervisor S1, technicians S2 and S3, dispatcher D1."""
    for person, family, position, boss in (
        ("S1", "management", "site_supervisor", None),
        ("S2", "engineering", "technician", "S1"),
        ("S3", "engineering", "technician", "S1"),
        ("D1", "customer_service", "dispatcher", "S1"),
    ):
        app.onboard_staff(clock.admin(), person, f"E-{person}", family)
        app.assign_position(clock.admin(), person, position, "P1", boss)


def register(app: Ledger, clock: Clock, task_no: str = "T1") -> None:
    app.register_task(
        clock.ctx("D1"),
        task_no,
        "P1",
        "A1",
        "repair",
        "repair",
        "normal",
        "app",
        "B1-1203",
        "卫生间漏水 leaking pipe",
        reporter_id="O1",
    )


def types_of(app: Ledger) -> list[str]:
    return [n.topic for n in app.recorder.select_notifications(1, 10_000)]


def task(app: Ledger, task_no: str = "T1") -> Task:
    found: object = app.repository.get(stream_id("task", task_no))
    assert isinstance(found, Task)
    return found


def run_to_signed_off(app: Ledger, clock: Clock) -> None:
    register(app, clock)
    app.dispatch_task(clock.ctx("D1"), "T1", "S1", "S2")
    app.accept_task(clock.ctx("S2"), "T1")
    app.arrive_on_site(clock.ctx("S2"), "T1")
    app.start_work(clock.ctx("S2"), "T1")
    app.complete_work(clock.ctx("S2"), "T1", "换了阀门 replaced the valve", (PHOTO,))
    app.sign_off_completion(clock.ctx("S1"), "T1", "good")


def test_full_lifecycle_on_every_store(any_ledger: Ledger) -> None:
    clock = Clock()
    staff(any_ledger, clock)
    run_to_signed_off(any_ledger, clock)
    any_ledger.owner_accept(clock.ctx("O1", "owner"), "T1", 5, "很好")
    any_ledger.close_task(clock.ctx("D1"), "T1", "accepted")
    assert types_of(any_ledger)[-9:] == [
        "TaskRegistered",
        "TaskDispatched",
        "TaskAccepted",
        "ArrivedOnSite",
        "WorkStarted",
        "WorkCompleted",
        "CompletionSignedOff",
        "OwnerAccepted",
        "TaskClosed",
    ]
    final = task(any_ledger)
    assert (final.status, final.rating, final.signed_off_by) == ("closed", 5, "S1")


def test_return_reopen_and_hand_over_on_every_store(any_ledger: Ledger) -> None:
    clock = Clock()
    staff(any_ledger, clock)
    run_to_signed_off(any_ledger, clock)
    any_ledger.owner_return(clock.ctx("D1", on_behalf_of="O1"), "T1", "still leaking")
    any_ledger.reopen_task(clock.ctx("D1"), "T1", "owner returned")
    any_ledger.dispatch_task(clock.ctx("D1"), "T1", "S1", "S2")
    any_ledger.reassign_task(clock.ctx("S1"), "T1", "S1", "S3", "S2 off sick; S3 takes over")
    any_ledger.accept_task(clock.ctx("S3"), "T1")
    state = task(any_ledger)
    assert (state.status, state.executor_id, state.reopen_count) == ("accepted", "S3", 1)


def test_repeated_command_id_returns_first_result_on_every_store(any_ledger: Ledger) -> None:
    clock = Clock()
    staff(any_ledger, clock)
    register(any_ledger, clock)
    ctx = clock.ctx("D1")
    first = any_ledger.dispatch_task(ctx, "T1", "S1", "S2")
    before = any_ledger.recorder.max_notification_id()
    again = any_ledger.dispatch_task(ctx, "T1", "S1", "S2")
    assert again.repeated
    assert again.events == first.events
    assert any_ledger.recorder.max_notification_id() == before
    with pytest.raises(CommandIdReused):
        any_ledger.dispatch_task(ctx, "T1", "S1", "S3")


def test_a_request_digest_joins_the_fingerprint_on_every_store(any_ledger: Ledger) -> None:
    """Same command id and arguments, but the caller says the request differed: refused."""
    clock = Clock()
    staff(any_ledger, clock)
    register(any_ledger, clock)
    ctx = replace(clock.ctx("D1"), request_digest="a" * 64)
    first = any_ledger.dispatch_task(ctx, "T1", "S1", "S2")
    before = any_ledger.recorder.max_notification_id()
    assert any_ledger.dispatch_task(ctx, "T1", "S1", "S2").events == first.events
    with pytest.raises(CommandIdReused):
        any_ledger.dispatch_task(replace(ctx, request_digest="b" * 64), "T1", "S1", "S2")
    with pytest.raises(CommandIdReused):
        any_ledger.dispatch_task(replace(ctx, request_digest=None), "T1", "S1", "S2")
    assert any_ledger.recorder.max_notification_id() == before
    with pytest.raises(InvalidValue, match="request digest"):
        any_ledger.comment_on_task(replace(clock.ctx("D1"), request_digest=""), "T1", "x")


def test_an_owner_who_never_answers_is_auto_closed_under_the_policy_on_every_store(
    any_ledger: Ledger,
) -> None:
    clock = Clock()
    staff(any_ledger, clock)
    run_to_signed_off(any_ledger, clock)
    signed_at = clock.now
    clock.advance(days=3)

    any_ledger.auto_close_task(clock.ctx("SYS-WATCH", "system"), "T1", "合同 §6.4", 3)

    assert types_of(any_ledger)[-1] == "TaskAutoClosed"
    final = task(any_ledger)
    assert (final.status, final.close_reason) == ("closed", "auto")
    stored = list(any_ledger.recorder.select_events(stream_id("task", "T1"), desc=True, limit=1))
    data = json.loads(stored[0].state)["data"]
    assert data["policy_ref"] == "合同 §6.4"
    assert data["window_days"] == 3
    assert datetime.fromisoformat(data["signed_off_at"]) == signed_at


AUTO_CLOSE_REFUSALS = [
    ("window not over", lambda a, c: a.auto_close_task(c.ctx("D1"), "T1", "p", 3),
     IllegalTransition),
    ("zero-day window", lambda a, c: a.auto_close_task(c.ctx("D1"), "T1", "p", 0), InvalidValue),
    ("31-day window", lambda a, c: a.auto_close_task(c.ctx("D1"), "T1", "p", 31), InvalidValue),
    ("window not whole days", lambda a, c: a.auto_close_task(c.ctx("D1"), "T1", "p", True),
     InvalidValue),
    ("blank policy", lambda a, c: a.auto_close_task(c.ctx("D1", occurred_at=c.advance(days=2)),
                                                    "T1", " ", 1), InvalidValue),
    ("close with reason auto", lambda a, c: a.close_task(c.ctx("D1"), "T1", "auto"),
     IllegalTransition),
]  # fmt: skip


@pytest.mark.parametrize(
    ("name", "command", "error"), AUTO_CLOSE_REFUSALS, ids=[r[0] for r in AUTO_CLOSE_REFUSALS]
)
def test_auto_close_refusals_write_nothing(
    ledger: Ledger, name: str, command: object, error: type[DomainError]
) -> None:
    clock = Clock()
    staff(ledger, clock)
    run_to_signed_off(ledger, clock)
    clock.advance(days=2, hours=23)
    before = ledger.recorder.max_notification_id()
    with pytest.raises(error):
        command(ledger, clock)  # type: ignore[operator]
    assert ledger.recorder.max_notification_id() == before


def test_auto_close_needs_a_signed_off_task_the_owner_left_unanswered(ledger: Ledger) -> None:
    clock = Clock()
    staff(ledger, clock)
    run_to_signed_off(ledger, clock)
    ledger.owner_accept(clock.ctx("O1", "owner"), "T1", 4)
    clock.advance(days=5)
    with pytest.raises(IllegalTransition, match="owner_accepted"):
        ledger.auto_close_task(clock.ctx("D1"), "T1", "p", 3)


def test_stale_copy_conflicts_instead_of_losing_an_update(any_ledger: Ledger) -> None:
    clock = Clock()
    staff(any_ledger, clock)
    register(any_ledger, clock)

    def act_on_stale_copy(a: Acting) -> list[LedgerAggregate]:
        stale = task(any_ledger)
        any_ledger.dispatch_task(clock.ctx("D1"), "T1", "S1", "S2")  # someone else wins the race
        stale.cancel(a.meta("P1"), "duplicate")
        return [stale]

    with pytest.raises(ConcurrentModification):
        any_ledger.run(clock.ctx("D1"), "cancel_task", {"task_no": "T1"}, act_on_stale_copy)
    assert task(any_ledger).status == "dispatched"
    assert types_of(any_ledger)[-1] == "TaskDispatched"


REFUSALS = [
    ("accept by someone else", lambda a, c: a.accept_task(c.ctx("S3"), "T1"), NotResponsible),
    (
        "sign-off before completion",
        lambda a, c: a.sign_off_completion(c.ctx("S1"), "T1"),
        IllegalTransition,
    ),
    ("unknown task", lambda a, c: a.accept_task(c.ctx("S2"), "T404"), NotFound),
    (
        "dispatch twice",
        lambda a, c: a.dispatch_task(c.ctx("D1"), "T1", "S1", "S2"),
        IllegalTransition,
    ),
    ("blank cancel reason", lambda a, c: a.cancel_task(c.ctx("D1"), "T1", ""), InvalidValue),
    (
        "hand-over to the same people",
        lambda a, c: a.reassign_task(c.ctx("S1"), "T1", "S1", "S2", "x"),
        InvalidValue,
    ),
    ("unknown actor", lambda a, c: a.accept_task(c.ctx("X9"), "T1"), ActorNotActive),
    ("blank decline reason", lambda a, c: a.decline_task(c.ctx("S2"), "T1", " "), InvalidValue),
    (
        "offboarded executor named",
        lambda a, c: a.reassign_task(c.ctx("S1"), "T1", "S1", "GONE", "x"),
        ActorNotActive,
    ),
    ("register twice", register, AlreadyExists),
    (
        "owner accepts before sign-off",
        lambda a, c: a.owner_accept(c.ctx("O1", "owner"), "T1", 5),
        IllegalTransition,
    ),
]


@pytest.mark.parametrize(("name", "command", "error"), REFUSALS, ids=[r[0] for r in REFUSALS])
def test_refusals_write_nothing(
    ledger: Ledger, name: str, command: object, error: type[DomainError]
) -> None:
    clock = Clock()
    staff(ledger, clock)
    register(ledger, clock)
    ledger.dispatch_task(clock.ctx("D1"), "T1", "S1", "S2")
    before = ledger.recorder.max_notification_id()
    with pytest.raises(error):
        command(ledger, clock)  # type: ignore[operator]
    assert ledger.recorder.max_notification_id() == before


def test_only_the_responsible_person_signs_off(ledger: Ledger) -> None:
    clock = Clock()
    staff(ledger, clock)
    register(ledger, clock)
    ledger.dispatch_task(clock.ctx("D1"), "T1", "S1", "S2")
    ledger.accept_task(clock.ctx("S2"), "T1")
    ledger.arrive_on_site(clock.ctx("S2"), "T1")
    ledger.start_work(clock.ctx("S2"), "T1")
    ledger.complete_work(clock.ctx("S2"), "T1", "done", (PHOTO,))
    with pytest.raises(NotResponsible):
        ledger.sign_off_completion(
            clock.ctx("S2"), "T1"
        )  # the executor is not the responsible person
    ledger.sign_off_completion(clock.ctx("S1"), "T1")


def test_owner_hold_needs_evidence_and_offboarded_staff_cannot_act(ledger: Ledger) -> None:
    clock = Clock()
    staff(ledger, clock)
    register(ledger, clock)
    ledger.dispatch_task(clock.ctx("D1"), "T1", "S1", "S2")
    ledger.accept_task(clock.ctx("S2"), "T1")
    ledger.arrive_on_site(clock.ctx("S2"), "T1")
    ledger.start_work(clock.ctx("S2"), "T1")
    with pytest.raises(InvalidValue, match="evidence"):
        ledger.put_task_on_hold(clock.ctx("S2"), "T1", "owner", "owner not home")
    ledger.put_task_on_hold(clock.ctx("S2", evidence=(PHOTO,)), "T1", "owner", "owner not home")
    ledger.offboard_staff(clock.admin(), "S2", "resigned")
    with pytest.raises(ActorNotActive):
        ledger.resume_task(clock.ctx("S2"), "T1")


def test_correction_keeps_old_value_in_the_log(ledger: Ledger) -> None:
    clock = Clock()
    staff(ledger, clock)
    register(ledger, clock)
    ledger.correct_task_field(clock.ctx("S1"), "T1", "location", "B1-1204", "wrong unit typed")
    state = task(ledger)
    assert state.location == "B1-1204"
    last = ledger.recorder.select_notifications(1, 1000)[-1]
    assert b'"old":"B1-1203"' in last.state
    assert b'"new":"B1-1204"' in last.state


def test_bad_context_is_refused(ledger: Ledger) -> None:
    from dataclasses import replace

    clock = Clock()
    staff(ledger, clock)
    naive = replace(clock.ctx("D1"), occurred_at=clock.now.replace(tzinfo=None))
    with pytest.raises(InvalidValue, match="timezone"):
        ledger.cancel_task(naive, "T1", "x")
    future = replace(clock.ctx("D1"), occurred_at=clock.now.replace(year=2030))
    with pytest.raises(InvalidValue, match="future"):
        ledger.cancel_task(future, "T1", "x")
    with pytest.raises(InvalidValue, match="SHA-256"):
        ledger.cancel_task(clock.ctx("D1", evidence=("not-a-hash",)), "T1", "x")
