"""Data subjects (数据主体): legal holds, erasure, and who saw one person's personal data.

The stream is keyed by the subject id (``owner/O-GD-1-0101``, ``staff/GD-T1``) and holds no
personal data itself. Erasure (PIPL art. 47, GDPR art. 17) is refused while a legal hold is
active, because a dispute's evidence must survive (GDPR art. 17(3)(e)); erasure is final. Every
reveal of a stored value is recorded first (`PersonalDataRevealed`: who, which field, read from
which record), so the subject's stream answers "who has seen my data" (PIPL art. 45, 54).

Any of these events may be the first of the stream (a hold or an erasure can come first) and
may follow in it (`OpensOrFollows`, ledger/domain/base.py); as with `RecurringCreated` in
contracts.py, the events apply themselves through the aggregate's private mutators, which only
assign.
"""

from __future__ import annotations

from typing import Any, Self

from eventsourcing.domain import event
from eventsourcing.utils import get_topic

from ledger.domain.base import LedgerAggregate, OpensOrFollows, require_text
from ledger.envelope import Meta
from ledger.errors import AlreadyExists, IllegalTransition, NotFound
from ledger.ids import stream_id
from ledger.personal import require_subject


class SubjectEvent(OpensOrFollows):
    """A Subject event that may open the stream or follow in it."""

    subject: str


class Subject(LedgerAggregate):
    """One person as a data subject: the legal holds on their data and its erasure."""

    class LegalHoldPlaced(SubjectEvent):
        hold_id: str
        reason: str
        case_ref: str

        def apply(self, aggregate: Any) -> None:
            aggregate._hold_placed(self.hold_id, self.case_ref)

    class LegalHoldReleased(SubjectEvent):
        hold_id: str
        reason: str

        def apply(self, aggregate: Any) -> None:
            aggregate._hold_released(self.hold_id)

    class SubjectErased(SubjectEvent):
        reason: str
        fields_erased: int
        key_destroyed: bool

        def apply(self, aggregate: Any) -> None:
            aggregate._erased(self.fields_erased)

    class PersonalDataRevealed(SubjectEvent):
        field: str
        digest: str
        read_from: str

        def apply(self, aggregate: Any) -> None:
            aggregate._revealed(self.read_from)

    @event(LegalHoldPlaced)
    def __init__(self, meta: Meta, subject: str) -> None:
        self.subject = subject
        self.active_holds: dict[str, str] = {}
        self.released_holds: tuple[str, ...] = ()
        self.erased = False
        self.fields_erased = 0
        self.reveals = 0

    def _hold_placed(self, hold_id: str, case_ref: str) -> None:
        self.active_holds = {**self.active_holds, hold_id: case_ref}

    def _hold_released(self, hold_id: str) -> None:
        self.active_holds = {k: v for k, v in self.active_holds.items() if k != hold_id}
        self.released_holds = (*self.released_holds, hold_id)

    def _erased(self, fields_erased: int) -> None:
        self.erased = True
        self.fields_erased = fields_erased

    def _revealed(self, read_from: str) -> None:
        self.reveals = self.reveals + 1
        self.last_read_from = read_from

    # -- commands --------------------------------------------------------------------------

    @classmethod
    def open_with_hold(
        cls, meta: Meta, subject: str, hold_id: str, reason: str, case_ref: str
    ) -> Self:
        """The first event about a subject is a legal hold."""
        return cls._open(
            cls.LegalHoldPlaced, meta, subject, _hold_fields(hold_id, reason, case_ref)
        )

    @classmethod
    def open_with_erasure(cls, meta: Meta, subject: str, reason: str, fields_erased: int) -> Self:
        """The first event about a subject is its erasure (no hold was ever placed)."""
        fields = {
            "reason": require_text("reason", reason, 500),
            "fields_erased": fields_erased,
            "key_destroyed": True,
        }
        return cls._open(cls.SubjectErased, meta, subject, fields)

    @classmethod
    def open_with_reveal(
        cls, meta: Meta, subject: str, field: str, digest: str, read_from: str
    ) -> Self:
        """The first event about a subject is someone seeing one of its values."""
        fields = _reveal_fields(field, digest, read_from)
        return cls._open(cls.PersonalDataRevealed, meta, subject, fields)

    @classmethod
    def _open(
        cls, event_class: type[SubjectEvent], meta: Meta, subject: str, fields: dict[str, Any]
    ) -> Self:
        sid = stream_id("subject", require_subject(subject))
        return cls._create(event_class, id=sid, meta=meta, subject=subject, **fields)

    def record_reveal(self, meta: Meta, field: str, digest: str, read_from: str) -> None:
        """Log one reveal; allowed after erasure too, since an attempt is still an access."""
        self._next(self.PersonalDataRevealed, meta, **_reveal_fields(field, digest, read_from))

    def place_hold(self, meta: Meta, hold_id: str, reason: str, case_ref: str) -> None:
        """Suspend erasure for a dispute; hold ids are unique within the subject."""
        self._require_not_erased("place a legal hold on")
        if hold_id in self.active_holds or hold_id in self.released_holds:
            raise AlreadyExists(f"hold {hold_id!r} already exists for {self.subject}")
        self._next(self.LegalHoldPlaced, meta, **_hold_fields(hold_id, reason, case_ref))

    def release_hold(self, meta: Meta, hold_id: str, reason: str) -> None:
        """End one hold; erasure stays blocked while any other is active."""
        if hold_id in self.released_holds:
            raise IllegalTransition(f"hold {hold_id!r} of {self.subject} was already released")
        if hold_id not in self.active_holds:
            raise NotFound(f"no legal hold {hold_id!r} on {self.subject}")
        reason = require_text("reason", reason, 500)
        self._next(self.LegalHoldReleased, meta, hold_id=hold_id, reason=reason)

    def erase(self, meta: Meta, reason: str, fields_erased: int) -> None:
        """Record the erasure; the use case destroys the key in the same transaction."""
        self._require_not_erased("erase")
        if self.active_holds:
            held = ", ".join(sorted(self.active_holds))
            raise IllegalTransition(f"{self.subject} is under legal hold ({held}); not erased")
        self._next(
            self.SubjectErased,
            meta,
            reason=require_text("reason", reason, 500),
            fields_erased=fields_erased,
            key_destroyed=True,
        )

    def _next(self, event_class: type[SubjectEvent], meta: Meta, **fields: Any) -> None:
        self.trigger_event(
            event_class,
            originator_topic=get_topic(type(self)),
            meta=meta,
            subject=self.subject,
            **fields,
        )

    def _require_not_erased(self, action: str) -> None:
        if self.erased:
            raise IllegalTransition(f"cannot {action} {self.subject}: it was erased")


def _hold_fields(hold_id: str, reason: str, case_ref: str) -> dict[str, str]:
    return {
        "hold_id": require_text("hold_id", hold_id, 100),
        "reason": require_text("reason", reason, 500),
        "case_ref": require_text("case_ref", case_ref, 200),
    }


def _reveal_fields(field: str, digest: str, read_from: str) -> dict[str, str]:
    return {
        "field": require_text("field", field, 100),
        "digest": require_text("digest", digest, 64),
        "read_from": require_text("read_from", read_from, 300),
    }
