"""The penalty/appeal lifecycle against a plain model, with random actors and times.

A small model predicts whether each command is accepted; the ledger must agree, a refusal must
raise a named domain error and write nothing, and nobody may ever rule on their own proposal.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import Enum

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from ledger.application import CommandResult
from ledger.domain.penalties import PenaltyCase
from ledger.envelope import CommandContext
from ledger.errors import DomainError
from ledger.ids import stream_id
from ledger.ledger import Ledger

PROPOSER, SUBJECT = "S1", "S2"
POOL = (PROPOSER, SUBJECT, "S3", "S4")
T0 = datetime(2026, 9, 1, 8, 0, tzinfo=UTC)
DEADLINES = (T0 + timedelta(days=7), T0 + timedelta(days=8))
SECOND = timedelta(seconds=1)
OFFSETS = (-timedelta(days=6), -SECOND, timedelta(0), SECOND, timedelta(days=1))
LATE = T0 + timedelta(days=20)
RECORDED_FROM = T0 + timedelta(days=30)  # every command is reported after its business time
PROPOSED_POINTS, PROPOSED_AMOUNT = 3, "200.00"
REDUCTIONS: tuple[tuple[int, str] | None, ...] = (None, (1, "50.00"), (3, "200.00"), (4, "10.00"))
GOOD_REDUCTION = (1, "50.00")

OTHERS = ("S3", "S4")
Command = Callable[[CommandContext], CommandResult]

actors = st.sampled_from(POOL)
# Business time relative to the (expected) appeal deadline, weighted towards the boundary.
offsets = st.sampled_from(OFFSETS[1:4]) | st.sampled_from(OFFSETS)
# Biased draws so that the rare legal paths (an appeal by the subject, an independent ruling)
# are reached often within a few steps; the uniform draw still offers every illegal actor.
subject_mostly = st.just(SUBJECT) | actors
others_mostly = st.sampled_from(OTHERS) | actors
panels = st.lists(st.sampled_from(OTHERS), unique=True, min_size=1) | st.lists(
    actors, unique=True, max_size=3
)


class Status(Enum):
    """The expected state of case C1; NONE until it is proposed."""

    NONE = "none"
    PROPOSED = "proposed"
    NOTIFIED = "notified"
    APPEALED = "appealed"
    CONFIRMED = "confirmed"
    REDUCED = "reduced"
    REVOKED = "revoked"


OPEN = (Status.PROPOSED, Status.NOTIFIED, Status.APPEALED)
TERMINAL = (Status.CONFIRMED, Status.REDUCED, Status.REVOKED)
FINAL_OF = {"upheld": Status.CONFIRMED, "reduced": Status.REDUCED, "overturned": Status.REVOKED}


@dataclass
class Model:
    """What the ledger should hold: the status and who is who on the case."""

    status: Status = Status.NONE
    proposer: str = ""
    subject: str = ""
    deadline: datetime | None = None


class PenaltyLifecycle(RuleBasedStateMachine):
    """Drives the use cases on an in-memory ledger and checks them against `Model`."""

    def __init__(self) -> None:
        super().__init__()
        self.app = Ledger("memory://")
        self.model = Model()
        self.steps = 0
        self.terminal: tuple[str, int] | None = None

    @initialize(
        stage=st.sampled_from(("proposed", "notified", "notified", "appealed", "appealed")),
        deadline=st.sampled_from(DEADLINES),
        acknowledged=st.booleans(),
    )
    def start(self, stage: str, deadline: datetime, acknowledged: bool) -> None:
        """Four staff and case C1 (S1 against S2), legally driven to a random open stage.

        Starting deep keeps the rare paths (rulings above all) well covered in few steps.
        """
        for person in POOL:
            self.app.onboard_staff(self.ctx("admin", T0, "admin"), person, f"E-{person}", "quality")
        self.propose(PROPOSER, SUBJECT)
        if stage != "proposed":
            witness = None if acknowledged else "S4"
            self.notify("S3", OFFSETS[0], deadline, acknowledged, witness)
        if stage == "appealed":
            self.appeal(SUBJECT, OFFSETS[0])
        assert self.model.status.value == stage

    # -- driving ------------------------------------------------------------------------------

    def ctx(self, actor: str, occurred_at: datetime, kind: str = "staff") -> CommandContext:
        self.steps += 1
        recorded = RECORDED_FROM + timedelta(seconds=self.steps)
        return CommandContext(actor, kind, occurred_at, recorded, f"cmd-{self.steps}")

    def attempt(self, expected: bool, actor: str, at: datetime, call: Command) -> bool:
        """Run one command; the model's prediction must hold, and a refusal writes nothing."""
        ctx = self.ctx(actor, at)
        before = self.app.recorder.max_notification_id()
        if expected:
            first = call(ctx)
            after = self.app.recorder.max_notification_id()
            assert not first.repeated
            assert (after or 0) > (before or 0)
            again = call(ctx)  # a retry returns the first result and writes nothing
            assert again.repeated
            assert again.events == first.events
            assert self.app.recorder.max_notification_id() == after
            return True
        with pytest.raises(DomainError) as refused:
            call(ctx)
        assert type(refused.value) is not DomainError  # always a named subclass
        assert self.app.recorder.max_notification_id() == before
        return False

    # -- rules: one per command -----------------------------------------------------------------

    @rule(actor=actors, subject=actors)
    def propose_again(self, actor: str, subject: str) -> None:
        """A second proposal under the same case id is always refused."""
        self.propose(actor, subject)

    def propose(self, actor: str, subject: str) -> None:
        expected = self.model.status is Status.NONE and actor != subject
        if self.attempt(
            expected, actor, T0,
            lambda c: self.app.propose_penalty(
                c, "C1", "P1", subject, "WR-1", 1, "§4.2", PROPOSED_POINTS, PROPOSED_AMOUNT,
                "3000.00", "2000.00", ("e-1",), "late arrival",
            ),
        ):
            self.model = Model(Status.PROPOSED, actor, subject)

    def around(self, offset: timedelta) -> datetime:
        """A business time near the expected appeal deadline (or the first one, before notice)."""
        return (self.model.deadline or DEADLINES[0]) + offset

    @rule(
        actor=actors, offset=offsets, deadline=st.sampled_from(DEADLINES),
        acknowledged=st.booleans(), witness=st.none() | actors,
    )
    def notify(
        self, actor: str, offset: timedelta, deadline: datetime, acknowledged: bool,
        witness: str | None,
    ) -> None:
        m = self.model
        expected = (
            m.status is Status.PROPOSED
            and (acknowledged or witness is not None)
            and witness != m.subject
            and offset < timedelta(0)
        )
        if self.attempt(
            expected, actor, deadline + offset,
            lambda c: self.app.notify_penalty(c, "C1", "paper", acknowledged, deadline, witness),
        ):
            m.status, m.deadline = Status.NOTIFIED, deadline

    @rule(actor=subject_mostly, offset=offsets)
    def appeal(self, actor: str, offset: timedelta) -> None:
        m = self.model
        expected = m.status is Status.NOTIFIED and actor == m.subject and offset <= timedelta(0)
        if self.attempt(
            expected, actor, self.around(offset), lambda c: self.app.file_appeal(c, "C1", "unfair")
        ):
            m.status = Status.APPEALED

    @rule(
        actor=others_mostly,
        decision=st.sampled_from(tuple(FINAL_OF)),
        panel=panels,
        reduction=st.none() | st.sampled_from(REDUCTIONS),
    )
    def rule_appeal(
        self, actor: str, decision: str, panel: list[str], reduction: tuple[int, str] | None
    ) -> None:
        m = self.model
        good = GOOD_REDUCTION if decision == "reduced" else None
        expected = (
            m.status is Status.APPEALED
            and actor not in (m.proposer, m.subject)
            and bool(panel)
            and m.proposer not in panel
            and m.subject not in panel
            and reduction == good
        )
        points, amount = reduction if reduction is not None else (None, None)
        if self.attempt(
            expected, actor, LATE,
            lambda c: self.app.rule_appeal(
                c, "C1", decision, "reviewed the evidence", tuple(panel), points, amount
            ),
        ):
            m.status = FINAL_OF[decision]

    @rule(actor=actors, offset=offsets)
    def confirm(self, actor: str, offset: timedelta) -> None:
        m = self.model
        expected = m.status is Status.NOTIFIED and actor != m.subject and offset > timedelta(0)
        if self.attempt(
            expected, actor, self.around(offset), lambda c: self.app.confirm_penalty(c, "C1")
        ):
            m.status = Status.CONFIRMED

    @rule(actor=actors, offset=offsets, reason=st.sampled_from(("", "withdrawn on review")))
    def revoke(self, actor: str, offset: timedelta, reason: str) -> None:
        m = self.model
        expected = m.status in OPEN and actor not in (m.proposer, m.subject) and bool(reason)
        if self.attempt(
            expected, actor, self.around(offset), lambda c: self.app.revoke_penalty(c, "C1", reason)
        ):
            m.status = Status.REVOKED

    # -- invariants ---------------------------------------------------------------------------

    @invariant()
    def a_ruling_never_comes_from_the_proposer(self) -> None:
        records = [
            json.loads(n.state) for n in self.app.recorder.select_notifications(1, 10_000)
        ]
        proposers = {r["actor"]["id"] for r in records if r["type"] == "PenaltyProposed"}
        for ruling in (r for r in records if r["type"] == "AppealRuled"):
            assert ruling["actor"]["id"] not in proposers
            assert not proposers & set(ruling["data"]["panel_ids"])

    @invariant()
    def the_aggregate_state_equals_the_model_state(self) -> None:
        if self.model.status is Status.NONE:
            assert not self.app.exists("penalty", "C1")
            return
        case: object = self.app.repository.get(stream_id("penalty", "C1"))
        assert isinstance(case, PenaltyCase)
        assert case.status == self.model.status.value
        assert (case.proposer_id, case.subject_id) == (self.model.proposer, self.model.subject)
        assert case.appeal_deadline == self.model.deadline

    @invariant()
    def terminal_states_stay_terminal(self) -> None:
        """Once confirmed, reduced or revoked, neither the status nor the stream moves again."""
        if not self.app.exists("penalty", "C1"):
            return
        case: object = self.app.repository.get(stream_id("penalty", "C1"))
        assert isinstance(case, PenaltyCase)
        now = (case.status, case.version)
        if self.terminal is not None:
            assert now == self.terminal
        elif case.status in {s.value for s in TERMINAL}:
            self.terminal = now

    def teardown(self) -> None:
        self.app.close()


PenaltyLifecycle.TestCase.settings = settings(
    max_examples=50, stateful_step_count=20, deadline=None
)
test_penalty_lifecycle = PenaltyLifecycle.TestCase
