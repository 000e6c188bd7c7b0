"""A hypothesis state machine for the task lifecycle, checked against a plain model.

The model is a status plus who is responsible and who executes; it predicts which commands
the ledger must accept. Invariants: a dispatched, non-terminal task has exactly one responsible
person; only the person responsible at that moment ever signs off; refusals write nothing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from ledger.domain.tasks import Task
from ledger.errors import DomainError
from ledger.ids import stream_id
from ledger.ledger import Ledger
from tests.clock import PHOTO, Clock

PEOPLE = ("S1", "S2", "S3")
WORK_STATES = ("dispatched", "accepted", "on_site", "in_progress", "on_hold")


@dataclass
class Model:
    status: str = "registered"
    responsible: str | None = None
    executor: str | None = None
    signed_off_at: datetime | None = None


class TaskLifecycle(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.app = Ledger("memory://")
        self.clock = Clock()
        for person in (*PEOPLE, "D1"):
            self.app.onboard_staff(self.clock.admin(), person, f"E-{person}", "engineering")
            self.app.assign_position(self.clock.admin(), person, "technician", "P1")
        self.app.register_task(
            self.clock.ctx("D1"),
            "T1",
            "P1",
            "A1",
            "repair",
            "repair",
            "normal",
            "app",
            "B2-301",
            "门锁坏了",
            reporter_id="O1",
        )
        self.model = Model()

    def attempt(self, allowed: bool, command: object, *args: object) -> None:
        before = self.app.recorder.max_notification_id()
        try:
            command(*args)  # type: ignore[operator]
        except DomainError:
            assert not allowed, f"refused a legal {getattr(command, '__name__', command)}"
            assert self.app.recorder.max_notification_id() == before
            return
        assert allowed, (
            f"accepted an illegal {getattr(command, '__name__', command)} in {self.model}"
        )

    @rule(responsible=st.sampled_from(PEOPLE), executor=st.sampled_from(PEOPLE))
    def dispatch(self, responsible: str, executor: str) -> None:
        allowed = self.model.status in ("registered", "declined", "reopened")
        self.attempt(
            allowed, self.app.dispatch_task, self.clock.ctx("D1"), "T1", responsible, executor
        )
        if allowed:
            self.model = Model("dispatched", responsible, executor)

    @rule(actor=st.sampled_from(PEOPLE))
    def accept(self, actor: str) -> None:
        allowed = self.model.status == "dispatched" and actor == self.model.executor
        self.attempt(allowed, self.app.accept_task, self.clock.ctx(actor), "T1")
        if allowed:
            self.model.status = "accepted"

    @rule(actor=st.sampled_from(PEOPLE))
    def decline(self, actor: str) -> None:
        allowed = self.model.status == "dispatched" and actor == self.model.executor
        self.attempt(allowed, self.app.decline_task, self.clock.ctx(actor), "T1", "busy")
        if allowed:
            self.model.status, self.model.executor = "declined", None

    @rule(responsible=st.sampled_from(PEOPLE), executor=st.sampled_from(PEOPLE))
    def hand_over(self, responsible: str, executor: str) -> None:
        allowed = self.model.status in WORK_STATES and (responsible, executor) != (
            self.model.responsible,
            self.model.executor,
        )
        self.attempt(
            allowed,
            self.app.reassign_task,
            self.clock.ctx("S1"),
            "T1",
            responsible,
            executor,
            "交接",
        )
        if allowed:
            self.model = Model("dispatched", responsible, executor)

    @rule(actor=st.sampled_from(PEOPLE))
    def arrive_and_start(self, actor: str) -> None:
        allowed = self.model.status == "accepted" and actor == self.model.executor
        self.attempt(allowed, self.app.arrive_on_site, self.clock.ctx(actor), "T1")
        if allowed:
            self.app.start_work(self.clock.ctx(actor), "T1")
            self.model.status = "in_progress"

    @rule(actor=st.sampled_from(PEOPLE))
    def hold(self, actor: str) -> None:
        allowed = self.model.status == "in_progress" and actor in (
            self.model.executor,
            self.model.responsible,
        )
        ctx = self.clock.ctx(actor, evidence=(PHOTO,))
        self.attempt(allowed, self.app.put_task_on_hold, ctx, "T1", "owner", "nobody home")
        if allowed:
            self.model.status = "on_hold"

    @rule(actor=st.sampled_from(PEOPLE))
    def resume(self, actor: str) -> None:
        allowed = self.model.status == "on_hold" and actor in (
            self.model.executor,
            self.model.responsible,
        )
        self.attempt(allowed, self.app.resume_task, self.clock.ctx(actor), "T1")
        if allowed:
            self.model.status = "in_progress"

    @rule(actor=st.sampled_from(PEOPLE))
    def complete(self, actor: str) -> None:
        allowed = self.model.status == "in_progress" and actor == self.model.executor
        self.attempt(
            allowed, self.app.complete_work, self.clock.ctx(actor), "T1", "fixed", (PHOTO,)
        )
        if allowed:
            self.model.status = "completed"

    @rule(actor=st.sampled_from(PEOPLE))
    def sign_off(self, actor: str) -> None:
        allowed = self.model.status == "completed" and actor == self.model.responsible
        ctx = self.clock.ctx(actor)
        self.attempt(allowed, self.app.sign_off_completion, ctx, "T1")
        if allowed:
            self.model.status, self.model.signed_off_at = "signed_off", ctx.occurred_at

    @rule(accept=st.booleans(), rating=st.integers(min_value=0, max_value=6))
    def owner_decides(self, accept: bool, rating: int) -> None:
        ctx = self.clock.ctx("O1", "owner")
        if accept:
            allowed = self.model.status == "signed_off" and 1 <= rating <= 5
            self.attempt(allowed, self.app.owner_accept, ctx, "T1", rating)
            if allowed:
                self.model.status = "owner_accepted"
        else:
            allowed = self.model.status == "signed_off"
            self.attempt(allowed, self.app.owner_return, ctx, "T1", "not fixed")
            if allowed:
                self.model.status = "returned"

    @rule()
    def reopen(self) -> None:
        allowed = self.model.status == "returned"
        self.attempt(allowed, self.app.reopen_task, self.clock.ctx("D1"), "T1", "owner returned")
        if allowed:
            self.model.status, self.model.executor = "reopened", None

    @rule()
    def close(self) -> None:
        allowed = self.model.status == "owner_accepted"
        self.attempt(allowed, self.app.close_task, self.clock.ctx("D1"), "T1", "accepted")
        if allowed:
            self.model.status = "closed"

    @rule(hours=st.integers(min_value=0, max_value=100), window_days=st.integers(0, 31))
    def auto_close(self, hours: int, window_days: int) -> None:
        """The owner stays silent for `hours`; the policy's window must have run out since the
        latest sign-off, and be 1–30 days."""
        self.clock.advance(hours=hours)
        ctx = self.clock.ctx("D1", "system")
        signed = self.model.signed_off_at
        allowed = (
            self.model.status == "signed_off"
            and 1 <= window_days <= 30
            and signed is not None
            and ctx.occurred_at >= signed + timedelta(days=window_days)
        )
        self.attempt(allowed, self.app.auto_close_task, ctx, "T1", "policy §6.4", window_days)
        if allowed:
            self.model.status = "closed"

    @precondition(lambda self: self.model.status not in ("closed", "cancelled"))
    @rule(cancel=st.booleans())
    def maybe_cancel(self, cancel: bool) -> None:
        if cancel:
            self.attempt(True, self.app.cancel_task, self.clock.ctx("D1"), "T1", "owner withdrew")
            self.model.status = "cancelled"

    @invariant()
    def ledger_matches_model(self) -> None:
        task: object = self.app.repository.get(stream_id("task", "T1"))
        assert isinstance(task, Task)
        assert task.status == self.model.status
        if task.status in WORK_STATES:
            assert task.responsible_id is not None
            assert task.responsible_id == self.model.responsible
            assert task.executor_id == self.model.executor

    @invariant()
    def only_the_responsible_person_at_that_moment_signed(self) -> None:
        """Walk the stored log, not the model: each sign-off came from the responsible person."""
        responsible = None
        for stored in self.app.recorder.select_events(stream_id("task", "T1")):
            record = json.loads(stored.state)
            data = record["data"]
            if record["type"] in ("TaskRegistered", "TaskDispatched"):
                responsible = data["responsible_id"]
            elif record["type"] == "TaskReassigned":
                responsible = data["to_responsible_id"]
            elif record["type"] == "CompletionSignedOff":
                assert record["actor"]["id"] == data["signer_id"] == responsible


TestTaskLifecycle = TaskLifecycle.TestCase
TestTaskLifecycle.settings = settings(
    max_examples=60,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
