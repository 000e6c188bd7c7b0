"""Rewards and performance-period closures: happy paths and every refusal writing nothing."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from ledger.domain.periods import PerformancePeriod
from ledger.domain.rewards import Reward
from ledger.errors import (
    ActorNotActive,
    AlreadyExists,
    DomainError,
    InvalidValue,
    SeparationOfDuties,
)
from ledger.ids import stream_id
from ledger.ledger import Ledger
from tests.clock import PHOTO, Clock

GRANTER, PERSON = "S1", "S2"
BASIS = ("1f0c2d3e-4a5b-5c6d-8e7f-901a2b3c4d5e",)
INPUTS = "cd" * 32
SCORES = ("S1:85.6:B", "S2:91:A", "S3:-4.5:D")


def onboard(app: Ledger, clock: Clock) -> None:
    """A manager who grants and a technician who is commended."""
    for person in (GRANTER, PERSON):
        app.onboard_staff(clock.admin(), person, f"E-{person}", "engineering")


def grant(
    app: Ledger,
    clock: Clock,
    reward_id: str = "R1",
    *,
    actor: str = GRANTER,
    person: str = PERSON,
    kind: str = "praise_letter",
    basis: tuple[str, ...] = BASIS,
    points: int = 1,
    amount: str = "0.00",
    evidence: tuple[str, ...] = (),
) -> None:
    app.grant_reward(
        clock.ctx(actor, evidence=evidence), reward_id, "P1", person, kind, basis, points, amount,
        "owner praise letter for the night repair",
    )


def close(
    app: Ledger,
    clock: Clock,
    *,
    property_id: str = "P1",
    period: str = "2026-09",
    log_position: int = 1234,
    inputs: str = INPUTS,
    scores: tuple[str, ...] = SCORES,
    formula: str = "star-v1",
) -> None:
    app.close_performance_period(
        clock.ctx("evaluator", "system"), property_id, period, formula, log_position, inputs, scores
    )


def types_of(app: Ledger) -> list[str]:
    return [n.topic for n in app.recorder.select_notifications(1, 10_000)]


def refused(app: Ledger, error: type[DomainError], command: Callable[[], object]) -> None:
    """The command raises exactly `error` and writes nothing."""
    before = app.recorder.max_notification_id()
    with pytest.raises(error) as caught:
        command()
    assert type(caught.value) is error
    assert app.recorder.max_notification_id() == before


# -- rewards ----------------------------------------------------------------------------------


def test_reward_granted_on_every_store(any_ledger: Ledger) -> None:
    clock = Clock()
    onboard(any_ledger, clock)
    grant(any_ledger, clock, kind="bonus", points=2, amount="300.00")
    assert types_of(any_ledger)[-1] == "RewardGranted"
    reward: object = any_ledger.repository.get(stream_id("reward", "R1"))
    assert isinstance(reward, Reward)
    assert (reward.person_id, reward.kind) == (PERSON, "bonus")
    assert (reward.points, reward.amount) == (2, "300.00")
    assert (reward.basis_event_ids, reward.granted_by) == (BASIS, GRANTER)


def test_reward_may_rest_on_an_evidence_file_alone(ledger: Ledger) -> None:
    clock = Clock()
    onboard(ledger, clock)
    grant(ledger, clock, kind="banner", basis=(), evidence=(PHOTO,))
    assert types_of(ledger)[-1] == "RewardGranted"


def test_repeated_reward_command_is_idempotent(ledger: Ledger) -> None:
    clock = Clock()
    onboard(ledger, clock)
    ctx = clock.ctx(GRANTER, command_id="grant-R1")
    args = ("R1", "P1", PERSON, "rescue", BASIS, 5, "0.00", "pulled a resident from the lift")
    first = ledger.grant_reward(ctx, *args)
    before = ledger.recorder.max_notification_id()
    again = ledger.grant_reward(ctx, *args)
    assert again.repeated
    assert again.events == first.events
    assert ledger.recorder.max_notification_id() == before


REWARD_REFUSALS: list[tuple[str, Callable[[Ledger, Clock], object], type[DomainError]]] = [
    ("duplicate id", grant, AlreadyExists),  # R1 is granted first
    ("reward to self", lambda a, c: grant(a, c, person=GRANTER), SeparationOfDuties),
    ("person not staff", lambda a, c: grant(a, c, person="X9"), ActorNotActive),
    ("bad kind", lambda a, c: grant(a, c, kind="medal"), InvalidValue),
    ("points above 5", lambda a, c: grant(a, c, points=6), InvalidValue),
    ("negative points", lambda a, c: grant(a, c, points=-1), InvalidValue),
    ("bad amount", lambda a, c: grant(a, c, amount="12.5"), InvalidValue),
    ("no basis at all", lambda a, c: grant(a, c, basis=()), InvalidValue),
    ("duplicate basis", lambda a, c: grant(a, c, basis=BASIS * 2), InvalidValue),
    ("empty reward id", lambda a, c: grant(a, c, reward_id=""), InvalidValue),
]


@pytest.mark.parametrize(
    ("command", "error"),
    [pytest.param(command, error, id=name) for name, command, error in REWARD_REFUSALS],
)
def test_reward_refusals_write_nothing(
    ledger: Ledger, command: Callable[[Ledger, Clock], object], error: type[DomainError]
) -> None:
    clock = Clock()
    onboard(ledger, clock)
    if error is AlreadyExists:
        grant(ledger, clock)
    refused(ledger, error, lambda: command(ledger, clock))


# -- performance periods ----------------------------------------------------------------------


def test_period_closed_on_every_store(any_ledger: Ledger) -> None:
    clock = Clock()
    close(any_ledger, clock)
    close(any_ledger, clock, period="2026Q3")
    assert types_of(any_ledger)[-2:] == ["PerformancePeriodClosed", "PerformancePeriodClosed"]
    closed: object = any_ledger.repository.get(stream_id("performance_period", "P1/2026-09"))
    assert isinstance(closed, PerformancePeriod)
    assert (closed.formula_version, closed.log_position, closed.inputs_sha256) == (
        "star-v1", 1234, INPUTS,
    )
    assert closed.scores == SCORES


def test_closing_twice_is_refused(ledger: Ledger) -> None:
    clock = Clock()
    close(ledger, clock)
    refused(ledger, AlreadyExists, lambda: close(ledger, clock, log_position=2000))


def test_another_property_closes_the_same_period(ledger: Ledger) -> None:
    clock = Clock()
    close(ledger, clock)
    close(ledger, clock, property_id="P2")
    assert types_of(ledger).count("PerformancePeriodClosed") == 2


PERIOD_REFUSALS: list[tuple[str, dict[str, object]]] = [
    ("month 13", {"period": "2026-13"}),
    ("month 0", {"period": "2026-00"}),
    ("quarter 5", {"period": "2026Q5"}),
    ("trailing newline", {"period": "2026-09\n"}),
    ("free text period", {"period": "September"}),
    ("negative position", {"log_position": -1}),
    ("bool position", {"log_position": True}),
    ("short digest", {"inputs": "ab" * 16}),
    ("upper-case digest", {"inputs": "AB" * 32}),
    ("empty formula", {"formula": ""}),
    ("slash in property", {"property_id": "P1/x"}),
    ("score without band", {"scores": ("S1:85.6",)}),
    ("score not a number", {"scores": ("S1:high:A",)}),
    ("bad band", {"scores": ("S1:85:E",)}),
    ("empty person", {"scores": (":85:A",)}),
    ("person scored twice", {"scores": ("S1:85:B", "S1:90:A")}),
    ("float score", {"scores": ("S1:1e3:A",)}),
]


@pytest.mark.parametrize(
    "changes", [pytest.param(changes, id=name) for name, changes in PERIOD_REFUSALS]
)
def test_period_refusals_write_nothing(ledger: Ledger, changes: dict[str, object]) -> None:
    clock = Clock()
    onboard(ledger, clock)
    refused(ledger, InvalidValue, lambda: close(ledger, clock, **changes))  # type: ignore[arg-type]
