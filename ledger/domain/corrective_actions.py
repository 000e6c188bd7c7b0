"""Corrective actions (整改闭环): problem → plan → fix → independent verification → close.

Whoever implemented a fix may neither verify nor close it: the loop only closes when
someone else has seen the result. Every check lives in a public command; mutators only assign.
"""

from __future__ import annotations

from datetime import datetime

from eventsourcing.domain import event

from ledger.domain.base import LedgerAggregate, require_choice, require_text
from ledger.envelope import Meta
from ledger.errors import (
    IllegalTransition,
    InvalidValue,
    NotResponsible,
    SeparationOfDuties,
)
from ledger.ids import stream_id

SOURCES = ("finding", "complaint", "audit", "incident")
PLANNABLE = ("opened", "reopened")
REOPENABLE = ("verification_failed", "closed")


def require_due(due: datetime, meta: Meta) -> datetime:
    """A due date is timezone-aware and lies after the moment it is set."""
    if not isinstance(due, datetime) or due.tzinfo is None:
        raise InvalidValue("due must be a timezone-aware datetime")
    if due <= meta.occurred_at:
        raise InvalidValue("due must lie after the time of the command")
    return due


class CorrectiveAction(LedgerAggregate):
    """One problem and the loop that fixes it, with every implementer kept out of judging."""

    class CorrectiveActionOpened(LedgerAggregate.Created):
        action_id: str
        property_id: str
        source: str
        source_ref: str
        problem: str
        owner_id: str
        due: datetime

    @event(CorrectiveActionOpened)
    def __init__(
        self,
        meta: Meta,
        action_id: str,
        property_id: str,
        source: str,
        source_ref: str,
        problem: str,
        owner_id: str,
        due: datetime,
    ) -> None:
        self.action_id = action_id
        self.property_id = property_id
        self.source = source
        self.source_ref = source_ref
        self.problem = problem
        self.owner_id = owner_id
        self.due = due
        self.status = "opened"
        self.root_cause: str | None = None
        self.implementer_id: str | None = None
        self.implementers: tuple[str, ...] = ()
        self.verifier_id: str | None = None
        self.reopen_count = 0

    @classmethod
    def open(
        cls,
        meta: Meta,
        action_id: str,
        property_id: str,
        source: str,
        source_ref: str,
        problem: str,
        owner_id: str,
        due: datetime,
    ) -> CorrectiveAction:
        """Log a problem with the person who owns its correction and when it is due."""
        return cls._create(
            cls.CorrectiveActionOpened,
            id=stream_id("corrective_action", require_text("action_id", action_id, 100)),
            meta=meta,
            action_id=action_id,
            property_id=require_text("property_id", property_id, 100),
            source=require_choice("source", source, SOURCES),
            source_ref=require_text("source_ref", source_ref, 200),
            problem=require_text("problem", problem),
            owner_id=require_text("owner_id", owner_id, 100),
            due=require_due(due, meta),
        )

    class CorrectiveActionPlanned(LedgerAggregate.Event):
        root_cause: str
        actions: str
        due: datetime

    @event(CorrectiveActionPlanned)
    def _planned(self, meta: Meta, root_cause: str, actions: str, due: datetime) -> None:
        self.status = "planned"
        self.root_cause = root_cause
        self.due = due

    def plan(self, meta: Meta, root_cause: str, actions: str, due: datetime) -> None:
        """The owner states the root cause and the actions; again after every reopening."""
        self._require_status("plan", PLANNABLE)
        if meta.actor.id != self.owner_id:
            raise NotResponsible(f"only the owner ({self.owner_id}) may plan this action")
        self._planned(
            meta,
            require_text("root_cause", root_cause),
            require_text("actions", actions),
            require_due(due, meta),
        )

    class CorrectiveActionImplemented(LedgerAggregate.Event):
        implementer_id: str
        result: str

    @event(CorrectiveActionImplemented)
    def _implemented(self, meta: Meta, implementer_id: str, result: str) -> None:
        self.status = "implemented"
        self.implementer_id = implementer_id
        self.implementers = (*self.implementers, implementer_id)

    def implement(self, meta: Meta, result: str) -> None:
        """The actor reports the fix done, with evidence in the envelope."""
        self._require_status("implement", ("planned",))
        if not meta.evidence:
            raise InvalidValue("an implemented correction needs evidence (SHA-256)")
        self._implemented(meta, meta.actor.id, require_text("result", result, 1000))

    class CorrectiveActionVerified(LedgerAggregate.Event):
        verifier_id: str
        passed: bool
        note: str

    @event(CorrectiveActionVerified)
    def _verified(self, meta: Meta, verifier_id: str, passed: bool, note: str) -> None:
        self.status = "verified" if passed else "verification_failed"
        self.verifier_id = verifier_id

    def verify(self, meta: Meta, passed: bool, note: str) -> None:
        """Someone who implemented no part of the fix judges it."""
        self._require_status("verify", ("implemented",))
        self._require_not_implementer(meta, "verify")
        if not isinstance(passed, bool):
            raise InvalidValue("passed must be true or false")
        if not isinstance(note, str) or len(note) > 1000:
            raise InvalidValue("note must be a string of at most 1000 characters")
        self._verified(meta, meta.actor.id, passed, note)

    class CorrectiveActionClosed(LedgerAggregate.Event):
        closer_id: str

    @event(CorrectiveActionClosed)
    def _closed(self, meta: Meta, closer_id: str) -> None:
        self.status = "closed"

    def close(self, meta: Meta) -> None:
        """Close after a passed verification, by someone who did not implement the fix."""
        self._require_status("close", ("verified",))
        self._require_not_implementer(meta, "close")
        self._closed(meta, meta.actor.id)

    class CorrectiveActionReopened(LedgerAggregate.Event):
        reason: str
        reopen_count: int

    @event(CorrectiveActionReopened)
    def _reopened(self, meta: Meta, reason: str, reopen_count: int) -> None:
        self.status = "reopened"
        self.reopen_count = reopen_count

    def reopen(self, meta: Meta, reason: str) -> None:
        """Back to planning after a failed verification, or a recurrence after closing."""
        self._require_status("reopen", REOPENABLE)
        self._reopened(meta, require_text("reason", reason, 1000), self.reopen_count + 1)

    def _require_status(self, action: str, allowed: tuple[str, ...]) -> None:
        if self.status not in allowed:
            raise IllegalTransition(f"cannot {action} a corrective action that is {self.status}")

    def _require_not_implementer(self, meta: Meta, action: str) -> None:
        if meta.actor.id in self.implementers:
            raise SeparationOfDuties(
                f"{meta.actor.id} implemented this correction and may not {action} it"
            )
