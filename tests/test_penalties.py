"""Penalty cases: wage caps, notification, appeal and ruling, and every refusal writing nothing."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest

from ledger.domain.penalties import PenaltyCase
from ledger.envelope import CommandContext
from ledger.errors import (
    ActorNotActive,
    AlreadyExists,
    CommandIdReused,
    DomainError,
    IllegalTransition,
    InvalidValue,
    NotFound,
    NotResponsible,
    SeparationOfDuties,
)
from ledger.ids import stream_id
from ledger.ledger import Ledger
from tests.clock import Clock

PROPOSER, SUBJECT, REVIEWER, WITNESS = "S1", "S2", "S3", "S4"
BASIS = ("6c1b7a52-2d63-5d0f-9d7e-0c1f3a4b5c6d",)


# -- helpers ----------------------------------------------------------------------------------


def onboard(app: Ledger, clock: Clock) -> None:
    """A supervisor who proposes, a technician who is penalised, a reviewer and a witness."""
    for person in (PROPOSER, SUBJECT, REVIEWER, WITNESS):
        app.onboard_staff(clock.admin(), person, f"E-{person}", "engineering")


def at(clock: Clock, moment: datetime, actor: str, kind: str = "staff") -> CommandContext:
    """A context whose business and server time are both exactly `moment`."""
    clock.now = moment - timedelta(seconds=1)
    return clock.ctx(actor, kind)


def propose(
    app: Ledger,
    clock: Clock,
    case_id: str = "C1",
    *,
    actor: str = PROPOSER,
    kind: str = "staff",
    subject: str = SUBJECT,
    points: int = 3,
    amount: str = "200.00",
    wage: str = "3000.00",
    minimum: str = "2000.00",
    basis: tuple[str, ...] = BASIS,
    rule_version: int = 2,
    clause: str = "§4.2 late arrival",
) -> None:
    app.propose_penalty(
        clock.ctx(actor, kind), case_id, "P1", subject, "WR-1", rule_version, clause, points,
        amount, wage, minimum, basis, "arrived 50 minutes late to an emergency",
    )


def notify(app: Ledger, clock: Clock, *, acknowledged: bool = True) -> datetime:
    """Notify the subject; returns the appeal deadline (three days later)."""
    deadline = clock.now + timedelta(days=3)
    witness = None if acknowledged else WITNESS
    app.notify_penalty(clock.ctx(PROPOSER), "C1", "paper", acknowledged, deadline, witness)
    return deadline


def case(app: Ledger, case_id: str = "C1") -> PenaltyCase:
    found: object = app.repository.get(stream_id("penalty", case_id))
    assert isinstance(found, PenaltyCase)
    return found


def types_of(app: Ledger) -> list[str]:
    return [n.topic for n in app.recorder.select_notifications(1, 10_000)]


def refused(app: Ledger, error: type[DomainError], command: Callable[[], object]) -> DomainError:
    """The command raises exactly `error` and writes nothing."""
    before = app.recorder.max_notification_id()
    with pytest.raises(error) as caught:
        command()
    assert type(caught.value) is error
    assert app.recorder.max_notification_id() == before
    return caught.value


# -- happy paths ------------------------------------------------------------------------------


def test_confirmed_without_appeal_after_the_deadline_on_every_store(any_ledger: Ledger) -> None:
    clock = Clock()
    onboard(any_ledger, clock)
    propose(any_ledger, clock)
    deadline = notify(any_ledger, clock)
    any_ledger.confirm_penalty(at(clock, deadline + timedelta(seconds=1), REVIEWER), "C1")
    assert types_of(any_ledger)[-3:] == ["PenaltyProposed", "PenaltyNotified", "PenaltyConfirmed"]
    final = case(any_ledger)
    assert (final.status, final.final_points, final.final_amount) == ("confirmed", 3, "200.00")
    assert (final.rule_id, final.rule_version, final.clause) == ("WR-1", 2, "§4.2 late arrival")
    assert final.basis_event_ids == BASIS
    assert final.proposer_id == PROPOSER


def test_witnessed_refusal_then_appeal_at_the_deadline_upheld(ledger: Ledger) -> None:
    clock = Clock()
    onboard(ledger, clock)
    propose(ledger, clock)
    deadline = notify(ledger, clock, acknowledged=False)
    ledger.file_appeal(at(clock, deadline, SUBJECT), "C1", "the lift was broken")
    ledger.rule_appeal(clock.ctx(REVIEWER), "C1", "upheld", "CCTV: the lift worked", (WITNESS,))
    assert types_of(ledger)[-5:] == [
        "PenaltyProposed", "PenaltyNotified", "AppealFiled", "AppealRuled", "PenaltyConfirmed",
    ]
    final = case(ledger)
    assert (final.status, final.decision, final.ruled_by) == ("confirmed", "upheld", REVIEWER)
    assert (final.final_points, final.final_amount) == (3, "200.00")


def test_appeal_reduced(ledger: Ledger) -> None:
    clock = Clock()
    onboard(ledger, clock)
    propose(ledger, clock)
    notify(ledger, clock)
    ledger.file_appeal(clock.ctx(SUBJECT), "C1", "traffic accident on the way")
    ledger.rule_appeal(
        clock.ctx(REVIEWER), "C1", "reduced", "mitigating circumstances", (REVIEWER, WITNESS),
        reduced_points=1, reduced_amount="50.00",
    )
    assert types_of(ledger)[-2:] == ["AppealRuled", "PenaltyReduced"]
    final = case(ledger)
    assert (final.status, final.final_points, final.final_amount) == ("reduced", 1, "50.00")


def test_points_only_reduction_keeps_a_zero_amount(ledger: Ledger) -> None:
    clock = Clock()
    onboard(ledger, clock)
    propose(ledger, clock, amount="0.00")
    notify(ledger, clock)
    ledger.file_appeal(clock.ctx(SUBJECT), "C1", "first time")
    ledger.rule_appeal(
        clock.ctx(REVIEWER), "C1", "reduced", "first offence", (REVIEWER,),
        reduced_points=1, reduced_amount="0.00",
    )
    assert case(ledger).final_points == 1


def test_appeal_overturned(ledger: Ledger) -> None:
    clock = Clock()
    onboard(ledger, clock)
    propose(ledger, clock)
    notify(ledger, clock)
    ledger.file_appeal(clock.ctx(SUBJECT), "C1", "it was not my zone that day")
    ledger.rule_appeal(clock.ctx(REVIEWER), "C1", "overturned", "zone belonged to S4", (REVIEWER,))
    assert types_of(ledger)[-2:] == ["AppealRuled", "PenaltyRevoked"]
    final = case(ledger)
    assert (final.status, final.final_points, final.final_amount) == ("revoked", 0, "0.00")


def test_revoked_by_a_reviewer_before_notification(ledger: Ledger) -> None:
    clock = Clock()
    onboard(ledger, clock)
    propose(ledger, clock)
    ledger.revoke_penalty(clock.ctx(REVIEWER), "C1", "wrong person named")
    assert types_of(ledger)[-1] == "PenaltyRevoked"
    assert case(ledger).status == "revoked"


def test_the_rule_engine_may_propose_and_is_then_the_proposer(ledger: Ledger) -> None:
    clock = Clock()
    onboard(ledger, clock)
    propose(ledger, clock, actor="sla-engine", kind="system")
    notify(ledger, clock)
    ledger.file_appeal(clock.ctx(SUBJECT), "C1", "clock was wrong")
    refused(
        ledger, SeparationOfDuties,
        lambda: ledger.rule_appeal(
            clock.ctx("sla-engine", "system"), "C1", "upheld", "rule fired", (REVIEWER,)
        ),
    )
    assert case(ledger).proposer_id == "sla-engine"


def test_an_offboarded_proposer_cannot_propose(ledger: Ledger) -> None:
    clock = Clock()
    onboard(ledger, clock)
    ledger.offboard_staff(clock.admin(), PROPOSER, "left the company")
    refused(ledger, ActorNotActive, lambda: propose(ledger, clock))


# -- the wage caps (工资支付暂行规定 16) ----------------------------------------------------------


def test_exactly_twenty_percent_passes(ledger: Ledger) -> None:
    clock = Clock()
    onboard(ledger, clock)
    propose(ledger, clock, amount="600.00", wage="3000.00", minimum="2000.00")
    assert case(ledger).amount == "600.00"


def test_one_cent_over_twenty_percent_fails(ledger: Ledger) -> None:
    clock = Clock()
    onboard(ledger, clock)
    error = refused(
        ledger, InvalidValue,
        lambda: propose(ledger, clock, amount="600.01", wage="3000.00", minimum="2000.00"),
    )
    assert "20% cap" in error.message


def test_exactly_at_the_minimum_wage_passes(ledger: Ledger) -> None:
    clock = Clock()
    onboard(ledger, clock)
    propose(ledger, clock, amount="400.00", wage="2500.00", minimum="2100.00")
    assert case(ledger).amount == "400.00"


def test_one_cent_below_the_minimum_wage_fails(ledger: Ledger) -> None:
    clock = Clock()
    onboard(ledger, clock)
    error = refused(
        ledger, InvalidValue,
        lambda: propose(ledger, clock, amount="400.01", wage="2500.00", minimum="2100.00"),
    )
    assert "minimum wage cap" in error.message


def test_repeated_command_id_returns_the_first_result(ledger: Ledger) -> None:
    clock = Clock()
    onboard(ledger, clock)
    args = ("C1", "P1", SUBJECT, "WR-1", 2, "§4", 3, "200.00", "3000.00", "2000.00", BASIS, "late")
    ctx = clock.ctx(PROPOSER, command_id="propose-C1")
    first = ledger.propose_penalty(ctx, *args)
    before = ledger.recorder.max_notification_id()
    again = ledger.propose_penalty(ctx, *args)
    assert again.repeated
    assert again.events == first.events
    assert ledger.recorder.max_notification_id() == before
    refused(ledger, CommandIdReused, lambda: ledger.revoke_penalty(ctx, "C1", "other command"))


# -- every refusal writes nothing ---------------------------------------------------------------


@dataclass
class Scene:
    """A ledger with case C1 at some stage, its clock, and the appeal deadline once notified."""

    app: Ledger
    clock: Clock
    deadline: datetime | None = None

    @property
    def due(self) -> datetime:
        assert self.deadline is not None
        return self.deadline

    def after(self, delta: timedelta = timedelta(hours=1)) -> datetime:
        return self.due + delta

    def propose(self, **changes: Any) -> None:
        propose(self.app, self.clock, **changes)

    def notify(
        self, method: str = "sms", ack: bool = True, witness: str | None = None,
        deadline: datetime | None = None,
    ) -> None:
        when = deadline or self.clock.now + timedelta(days=3)
        self.app.notify_penalty(self.clock.ctx(PROPOSER), "C1", method, ack, when, witness)

    def appeal(
        self, actor: str = SUBJECT, when: datetime | None = None, grounds: str = "x"
    ) -> None:
        ctx = at(self.clock, when, actor) if when else self.clock.ctx(actor)
        self.app.file_appeal(ctx, "C1", grounds)

    def rule(
        self, actor: str = REVIEWER, decision: str = "upheld", panel: tuple[str, ...] = (REVIEWER,),
        points: int | None = None, amount: str | None = None, reasoning: str = "ok",
    ) -> None:
        self.app.rule_appeal(
            self.clock.ctx(actor), "C1", decision, reasoning, panel, points, amount
        )

    def confirm(self, actor: str = REVIEWER, when: datetime | None = None) -> None:
        ctx = at(self.clock, when, actor) if when else self.clock.ctx(actor)
        self.app.confirm_penalty(ctx, "C1")

    def revoke(self, actor: str = REVIEWER, reason: str = "withdrawn") -> None:
        self.app.revoke_penalty(self.clock.ctx(actor), "C1", reason)


def staged(app: Ledger, clock: Clock, stage: str) -> Scene:
    """Bring case C1 to `stage` by legal commands."""
    onboard(app, clock)
    scene = Scene(app, clock)
    if stage == "none":
        return scene
    scene.propose()
    if stage == "revoked":
        scene.revoke()
    if stage in ("proposed", "revoked"):
        return scene
    scene.deadline = notify(app, clock)
    if stage in ("appealed", "reduced"):
        scene.appeal()
    if stage == "confirmed":
        scene.confirm(when=scene.after())
    if stage == "reduced":
        scene.rule(decision="reduced", points=1, amount="10.00")
    return scene


Command = Callable[[Scene], object]

REFUSALS: list[tuple[str, str, Command, type[DomainError]]] = [
    # proposing
    ("duplicate case", "proposed", lambda s: s.propose(), AlreadyExists),
    ("subject not staff", "none", lambda s: s.propose(subject="X9"), ActorNotActive),
    ("own penalty", "none", lambda s: s.propose(subject=PROPOSER), SeparationOfDuties),
    ("no basis events", "none", lambda s: s.propose(basis=()), InvalidValue),
    ("duplicate basis", "none", lambda s: s.propose(basis=BASIS * 2), InvalidValue),
    ("rule version 0", "none", lambda s: s.propose(rule_version=0), InvalidValue),
    ("empty clause", "none", lambda s: s.propose(clause=" "), InvalidValue),
    ("points > 100", "none", lambda s: s.propose(points=101), InvalidValue),
    ("negative points", "none", lambda s: s.propose(points=-1), InvalidValue),
    ("bool points", "none", lambda s: s.propose(points=True), InvalidValue),
    ("nothing deducted", "none", lambda s: s.propose(points=0, amount="0.00"), InvalidValue),
    ("amount one decimal", "none", lambda s: s.propose(amount="200.0"), InvalidValue),
    ("amount no decimals", "none", lambda s: s.propose(amount="200"), InvalidValue),
    ("negative amount", "none", lambda s: s.propose(amount="-1.00"), InvalidValue),
    ("float amount", "none", lambda s: s.propose(amount=200.0), InvalidValue),
    ("zero wage", "none", lambda s: s.propose(wage="0.00"), InvalidValue),
    # notifying
    ("unknown case", "none", lambda s: s.notify(), NotFound),
    ("bad method", "proposed", lambda s: s.notify(method="fax"), InvalidValue),
    ("refusal without witness", "proposed", lambda s: s.notify(ack=False), InvalidValue),
    ("subject as witness", "proposed",
     lambda s: s.notify(ack=False, witness=SUBJECT), InvalidValue),
    ("witness not staff", "proposed", lambda s: s.notify(ack=False, witness="X9"), ActorNotActive),
    ("deadline not after notice", "proposed",
     lambda s: s.notify(deadline=s.clock.now + timedelta(seconds=1)), InvalidValue),
    ("naive deadline", "proposed", lambda s: s.notify(deadline=datetime(2026, 8, 1)), InvalidValue),
    ("notified twice", "notified", lambda s: s.notify(), IllegalTransition),
    # appealing
    ("appeal before notice", "proposed", lambda s: s.appeal(), IllegalTransition),
    ("appeal by non-subject", "notified", lambda s: s.appeal(REVIEWER), NotResponsible),
    ("appeal by proposer", "notified", lambda s: s.appeal(PROPOSER), NotResponsible),
    ("appeal after deadline", "notified",
     lambda s: s.appeal(when=s.after(timedelta(seconds=1))), IllegalTransition),
    ("second appeal", "appealed", lambda s: s.appeal(), IllegalTransition),
    ("empty grounds", "notified", lambda s: s.appeal(grounds=""), InvalidValue),
    # ruling
    ("ruling without appeal", "notified", lambda s: s.rule(), IllegalTransition),
    ("ruling own penalty", "appealed", lambda s: s.rule(PROPOSER), SeparationOfDuties),
    ("subject rules own appeal", "appealed",
     lambda s: s.rule(SUBJECT, "overturned"), SeparationOfDuties),
    ("proposer on the panel", "appealed",
     lambda s: s.rule(panel=(REVIEWER, PROPOSER)), SeparationOfDuties),
    ("subject on the panel", "appealed", lambda s: s.rule(panel=(SUBJECT,)), SeparationOfDuties),
    ("empty panel", "appealed", lambda s: s.rule(panel=()), InvalidValue),
    ("panel member not staff", "appealed", lambda s: s.rule(panel=("X9",)), ActorNotActive),
    ("bad decision", "appealed", lambda s: s.rule(decision="halved"), InvalidValue),
    ("empty reasoning", "appealed", lambda s: s.rule(reasoning=" "), InvalidValue),
    ("reduced without values", "appealed", lambda s: s.rule(decision="reduced"), InvalidValue),
    ("reduced not lower", "appealed",
     lambda s: s.rule(decision="reduced", points=3, amount="200.00"), InvalidValue),
    ("reduced amount higher", "appealed",
     lambda s: s.rule(decision="reduced", points=1, amount="200.01"), InvalidValue),
    ("reduced points higher", "appealed",
     lambda s: s.rule(decision="reduced", points=4, amount="10.00"), InvalidValue),
    ("reduced to nothing", "appealed",
     lambda s: s.rule(decision="reduced", points=0, amount="0.00"), InvalidValue),
    ("upheld with reduced values", "appealed",
     lambda s: s.rule(points=1, amount="10.00"), InvalidValue),
    # confirming
    ("confirm before notice", "proposed", lambda s: s.confirm(), IllegalTransition),
    ("confirm within window", "notified", lambda s: s.confirm(), IllegalTransition),
    ("confirm exactly at deadline", "notified", lambda s: s.confirm(when=s.due), IllegalTransition),
    ("confirm by subject", "notified",
     lambda s: s.confirm(SUBJECT, when=s.after()), SeparationOfDuties),
    ("confirm under appeal", "appealed", lambda s: s.confirm(when=s.after()), IllegalTransition),
    # revoking
    ("revoke by proposer", "notified", lambda s: s.revoke(PROPOSER), SeparationOfDuties),
    ("revoke by subject", "appealed", lambda s: s.revoke(SUBJECT), SeparationOfDuties),
    ("revoke without reason", "proposed", lambda s: s.revoke(reason=""), InvalidValue),
    ("revoke after confirmation", "confirmed", lambda s: s.revoke(), IllegalTransition),
    # terminal states refuse everything further
    ("notify revoked", "revoked", lambda s: s.notify(), IllegalTransition),
    ("appeal confirmed", "confirmed", lambda s: s.appeal(), IllegalTransition),
    ("rule reduced again", "reduced", lambda s: s.rule(decision="overturned"), IllegalTransition),
    ("confirm revoked", "revoked", lambda s: s.confirm(), IllegalTransition),
    ("revoke revoked", "revoked", lambda s: s.revoke(WITNESS), IllegalTransition),
    ("confirm confirmed", "confirmed", lambda s: s.confirm(), IllegalTransition),
]


@pytest.mark.parametrize(
    ("stage", "command", "error"),
    [pytest.param(stage, command, error, id=name) for name, stage, command, error in REFUSALS],
)
def test_refusals_write_nothing(
    ledger: Ledger, stage: str, command: Command, error: type[DomainError]
) -> None:
    scene = staged(ledger, Clock(), stage)
    refused(ledger, error, lambda: command(scene))
