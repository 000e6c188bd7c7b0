"""Work orders (工单): registration to closure, responsible person apart from the executor.

The responsible person (责任人) answers for the outcome and signs the completion off; the executor
does the work. Every check lives in a public command; the `@event` mutators only assign.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from eventsourcing.domain import event

from ledger.domain.base import (
    LedgerAggregate,
    require_choice,
    require_sha256,
    require_text,
    require_whole,
)
from ledger.envelope import Meta
from ledger.errors import IllegalTransition, InvalidValue, NotResponsible
from ledger.ids import stream_id
from ledger.personal import PersonalRef

TASK_KINDS = ("repair", "cleaning", "security", "patrol_follow_up", "complaint", "emergency")
PRIORITIES = ("low", "normal", "high", "urgent")
CHANNELS = ("app", "hotline", "wechat", "visit", "staff_on_behalf", "iot", "inspection_finding")
DISPATCH_MODES = ("manual", "rule", "round_robin", "grab")
HOLD_CAUSES = ("owner", "company")
QC_VALUES = ("good", "bad")
CLOSE_REASONS = ("accepted",)
"""What `close` accepts. Logs written before `TaskAutoClosed` also hold TaskClosed "auto"."""
AUTO_CLOSE_WINDOW_DAYS = (1, 30)
"""The owner's answer window after sign-off that an automatic-closure policy may set, in days."""
CORRECTABLE_FIELDS = ("description", "location", "priority")

OPEN_WORK = ("dispatched", "accepted", "on_site", "in_progress", "on_hold")
TERMINAL = ("closed", "cancelled")


class Task(LedgerAggregate):
    """One work order and its whole lifecycle."""

    class TaskRegistered(LedgerAggregate.Created):
        task_no: str
        property_id: str
        area_id: str
        kind: str
        service_line: str
        priority: str
        is_emergency: bool
        channel: str
        location: str
        description: str
        reporter_id: str | None
        responsible_id: str | None
        reporter_contact: dict[str, PersonalRef] | None  # {"name"?, "phone"?: vault refs}

    @event(TaskRegistered)
    def __init__(
        self,
        meta: Meta,
        task_no: str,
        property_id: str,
        area_id: str,
        kind: str,
        service_line: str,
        priority: str,
        is_emergency: bool,
        channel: str,
        location: str,
        description: str,
        reporter_id: str | None,
        responsible_id: str | None,
        reporter_contact: dict[str, PersonalRef] | None = None,
    ) -> None:
        self.task_no = task_no
        self.property_id = property_id
        self.area_id = area_id
        self.kind = kind
        self.service_line = service_line
        self.priority = priority
        self.is_emergency = is_emergency
        self.channel = channel
        self.location = location
        self.description = description
        self.reporter_id = reporter_id
        self.responsible_id = responsible_id
        self.reporter_contact = reporter_contact
        self.executor_id: str | None = None
        self.status = "registered"
        self.registered_at = meta.occurred_at
        self.hold_cause: str | None = None
        self.reopen_count = 0
        self.rating: int | None = None
        self.completion_evidence: tuple[str, ...] = ()
        self.signed_off_by: str | None = None
        self.signed_off_at: datetime | None = None
        self.close_reason: str | None = None

    @classmethod
    def register(
        cls,
        meta: Meta,
        task_no: str,
        property_id: str,
        area_id: str,
        kind: str,
        service_line: str,
        priority: str,
        channel: str,
        location: str,
        description: str,
        reporter_id: str | None,
        responsible_id: str | None,
        reporter_contact: dict[str, PersonalRef] | None = None,
    ) -> Task:
        """Register a task; the responsible person defaults to the area's at that moment.

        The reporter's name and phone arrive as vault references (ledger/personal.py), never
        in clear, and only for a reporter with an id (whose data an erasure can find).
        """
        require_choice("kind", kind, TASK_KINDS)
        if reporter_contact is not None and reporter_id is None:
            raise InvalidValue("reporter contact details need the reporter's id")
        require_choice("priority", priority, PRIORITIES)
        require_choice("channel", channel, CHANNELS)
        return cls._create(
            cls.TaskRegistered,
            id=stream_id("task", require_text("task_no", task_no, 100)),
            meta=meta,
            task_no=task_no,
            property_id=require_text("property_id", property_id, 100),
            area_id=require_text("area_id", area_id, 100),
            kind=kind,
            service_line=require_text("service_line", service_line, 50),
            priority=priority,
            is_emergency=kind == "emergency" or priority == "urgent",
            channel=channel,
            location=require_text("location", location, 200),
            description=require_text("description", description),
            reporter_id=reporter_id,
            responsible_id=responsible_id,
            reporter_contact=reporter_contact,
        )

    # -- dispatch, acceptance, hand-over ---------------------------------------------------

    class TaskDispatched(LedgerAggregate.Event):
        responsible_id: str
        executor_id: str
        mode: str

    @event(TaskDispatched)
    def _dispatched(self, meta: Meta, responsible_id: str, executor_id: str, mode: str) -> None:
        self.responsible_id = responsible_id
        self.executor_id = executor_id
        self.status = "dispatched"

    def dispatch(self, meta: Meta, responsible_id: str, executor_id: str, mode: str) -> None:
        """Name who answers for the task and who does it (they may be the same person)."""
        self._require_status("dispatch", ("registered", "declined", "reopened"))
        require_choice("mode", mode, DISPATCH_MODES)
        self._dispatched(
            meta,
            require_text("responsible_id", responsible_id, 100),
            require_text("executor_id", executor_id, 100),
            mode,
        )

    class TaskAccepted(LedgerAggregate.Event):
        eta: datetime | None

    @event(TaskAccepted)
    def _accepted(self, meta: Meta, eta: datetime | None) -> None:
        self.status = "accepted"

    def accept(self, meta: Meta, eta: datetime | None = None) -> None:
        """接单: only the executor the task was dispatched to may take it."""
        self._require_status("accept", ("dispatched",))
        self._require_executor(meta, "accept")
        self._accepted(meta, eta)

    class TaskDeclined(LedgerAggregate.Event):
        reason: str

    @event(TaskDeclined)
    def _declined(self, meta: Meta, reason: str) -> None:
        self.executor_id = None
        self.status = "declined"

    def decline(self, meta: Meta, reason: str) -> None:
        """退单: the executor refuses; the task goes back to dispatch."""
        self._require_status("decline", ("dispatched",))
        self._require_executor(meta, "decline")
        self._declined(meta, require_text("reason", reason, 500))

    class TaskReassigned(LedgerAggregate.Event):
        from_responsible_id: str | None
        to_responsible_id: str
        from_executor_id: str | None
        to_executor_id: str
        note: str

    @event(TaskReassigned)
    def _reassigned(
        self,
        meta: Meta,
        from_responsible_id: str | None,
        to_responsible_id: str,
        from_executor_id: str | None,
        to_executor_id: str,
        note: str,
    ) -> None:
        self.responsible_id = to_responsible_id
        self.executor_id = to_executor_id
        self.status = "dispatched"

    def reassign(self, meta: Meta, to_responsible_id: str, to_executor_id: str, note: str) -> None:
        """转单: hand the task over; the new executor must accept it again."""
        self._require_status("reassign", OPEN_WORK)
        to_responsible_id = require_text("to_responsible_id", to_responsible_id, 100)
        to_executor_id = require_text("to_executor_id", to_executor_id, 100)
        if (to_responsible_id, to_executor_id) == (self.responsible_id, self.executor_id):
            raise InvalidValue("a hand-over must change the responsible person or the executor")
        self._reassigned(
            meta,
            self.responsible_id,
            to_responsible_id,
            self.executor_id,
            to_executor_id,
            require_text("note", note, 1000),
        )

    # -- on site and working -----------------------------------------------------------------

    class ArrivedOnSite(LedgerAggregate.Event):
        method: str

    @event(ArrivedOnSite)
    def _arrived(self, meta: Meta, method: str) -> None:
        self.status = "on_site"
        self.arrived_at = meta.occurred_at

    def arrive(self, meta: Meta, method: str = "gps") -> None:
        """The executor reports arrival (the arrival SLA stops here)."""
        self._require_status("arrive", ("accepted",))
        self._require_executor(meta, "arrive")
        self._arrived(meta, require_choice("method", method, ("gps", "qr", "nfc", "manual")))

    class WorkStarted(LedgerAggregate.Event):
        pass

    @event(WorkStarted)
    def _started(self, meta: Meta) -> None:
        self.status = "in_progress"

    def start_work(self, meta: Meta) -> None:
        """The executor starts the work on site."""
        self._require_status("start work", ("on_site",))
        self._require_executor(meta, "start work")
        self._started(meta)

    class TaskPutOnHold(LedgerAggregate.Event):
        cause: str
        reason: str

    @event(TaskPutOnHold)
    def _held(self, meta: Meta, cause: str, reason: str) -> None:
        self.status = "on_hold"
        self.hold_cause = cause

    def put_on_hold(self, meta: Meta, cause: str, reason: str) -> None:
        """Pause the work; an owner-caused hold must carry evidence (it pauses SLA clocks)."""
        self._require_status("put on hold", ("in_progress",))
        self._require_executor_or_responsible(meta, "put on hold")
        require_choice("cause", cause, HOLD_CAUSES)
        if cause == "owner" and not meta.evidence:
            raise InvalidValue("an owner-caused hold needs evidence (photo, call record)")
        self._held(meta, cause, require_text("reason", reason, 500))

    class TaskResumed(LedgerAggregate.Event):
        pass

    @event(TaskResumed)
    def _resumed(self, meta: Meta) -> None:
        self.status = "in_progress"
        self.hold_cause = None

    def resume(self, meta: Meta) -> None:
        """Work continues after a hold."""
        self._require_status("resume", ("on_hold",))
        self._require_executor_or_responsible(meta, "resume")
        self._resumed(meta)

    class WorkCompleted(LedgerAggregate.Event):
        result: str
        evidence: tuple[str, ...]

    @event(WorkCompleted)
    def _completed(self, meta: Meta, result: str, evidence: tuple[str, ...]) -> None:
        self.status = "completed"
        self.completion_evidence = evidence

    def complete(self, meta: Meta, result: str, evidence: tuple[str, ...]) -> None:
        """The executor reports the work done, with SHA-256 references to photos or records."""
        self._require_status("complete", ("in_progress",))
        self._require_executor(meta, "complete")
        if not evidence:
            raise InvalidValue("completion needs at least one evidence file (SHA-256)")
        self._completed(
            meta, require_text("result", result, 1000), require_sha256("evidence", evidence)
        )

    # -- sign-off, owner acceptance, closure ----------------------------------------------

    class CompletionSignedOff(LedgerAggregate.Event):
        signer_id: str
        quality: str

    @event(CompletionSignedOff)
    def _signed_off(self, meta: Meta, signer_id: str, quality: str) -> None:
        self.status = "signed_off"
        self.signed_off_by = signer_id
        self.signed_off_at = meta.occurred_at

    def sign_off(self, meta: Meta, quality: str) -> None:
        """责任人签字确认: only the person responsible at this moment may sign."""
        self._require_status("sign off", ("completed",))
        if meta.actor.id != self.responsible_id:
            raise NotResponsible(
                f"only the responsible person ({self.responsible_id}) may sign this task off"
            )
        self._signed_off(meta, meta.actor.id, require_choice("quality", quality, QC_VALUES))

    class OwnerAccepted(LedgerAggregate.Event):
        rating: int
        comment: str

    @event(OwnerAccepted)
    def _owner_accepted(self, meta: Meta, rating: int, comment: str) -> None:
        self.status = "owner_accepted"
        self.rating = rating

    def owner_accept(self, meta: Meta, rating: int, comment: str = "") -> None:
        """The reporting owner accepts the work (验收) with a 1–5 rating."""
        self._require_status("accept as owner", ("signed_off",))
        self._require_reporter(meta)
        if isinstance(rating, bool) or not isinstance(rating, int) or not 1 <= rating <= 5:
            raise InvalidValue("rating must be an integer from 1 to 5")
        if len(comment) > 1000:
            raise InvalidValue("comment is longer than 1000 characters")
        self._owner_accepted(meta, rating, comment)

    class OwnerReturned(LedgerAggregate.Event):
        reason: str

    @event(OwnerReturned)
    def _owner_returned(self, meta: Meta, reason: str) -> None:
        self.status = "returned"

    def owner_return(self, meta: Meta, reason: str) -> None:
        """The owner rejects the result; the task must be reopened."""
        self._require_status("return", ("signed_off",))
        self._require_reporter(meta)
        self._owner_returned(meta, require_text("reason", reason, 1000))

    class TaskReopened(LedgerAggregate.Event):
        cause: str
        reopen_count: int

    @event(TaskReopened)
    def _reopened(self, meta: Meta, cause: str, reopen_count: int) -> None:
        self.status = "reopened"
        self.reopen_count = reopen_count
        self.executor_id = None

    def reopen(self, meta: Meta, cause: str) -> None:
        """Back to dispatch after an owner's return; the count feeds the rework rate."""
        self._require_status("reopen", ("returned",))
        self._reopened(meta, require_text("cause", cause, 500), self.reopen_count + 1)

    class TaskClosed(LedgerAggregate.Event):
        reason: str

    @event(TaskClosed)
    def _closed(self, meta: Meta, reason: str) -> None:
        self.status = "closed"
        self.close_reason = reason

    def close(self, meta: Meta, reason: str) -> None:
        """Close after owner acceptance; an owner who never answered is `auto_close`."""
        if reason == "auto":
            raise IllegalTransition(
                "an automatic closure names its policy and the owner's window: use auto_close"
            )
        require_choice("reason", reason, CLOSE_REASONS)
        self._require_status(f"close ({reason})", ("owner_accepted",))
        self._closed(meta, reason)

    class TaskAutoClosed(LedgerAggregate.Event):
        policy_ref: str
        window_days: int
        signed_off_at: datetime

    @event(TaskAutoClosed)
    def _auto_closed(
        self, meta: Meta, policy_ref: str, window_days: int, signed_off_at: datetime
    ) -> None:
        self.status = "closed"
        self.close_reason = "auto"

    def auto_close(self, meta: Meta, policy_ref: str, window_days: int) -> None:
        """Closed under a policy because the owner neither accepted nor returned the signed-off
        work within `window_days`; the event keeps the policy, the window and the sign-off
        time, so anyone can check the window had really run out (an owner's "I was never
        asked" dispute)."""
        self._require_status("close automatically", ("signed_off",))
        require_whole("window_days", window_days, *AUTO_CLOSE_WINDOW_DAYS)
        ends = self.owner_window_ends(window_days)
        if ends is None or self.signed_off_at is None:  # pragma: no cover - signed off here
            raise IllegalTransition("the task has no sign-off time")
        if meta.occurred_at < ends:
            raise IllegalTransition(
                f"the owner's {window_days}-day window after sign-off runs until "
                f"{ends.isoformat()}; the task cannot be closed automatically before then"
            )
        policy = require_text("policy_ref", policy_ref, 200)
        self._auto_closed(meta, policy, window_days, self.signed_off_at)

    def owner_window_ends(self, window_days: int) -> datetime | None:
        """When the owner's answer window after the latest sign-off ends; None unless the task
        is signed off and waiting for the owner (the watcher schedules auto-closure by it)."""
        if self.status != "signed_off" or self.signed_off_at is None:
            return None
        return self.signed_off_at + timedelta(days=window_days)

    class TaskCancelled(LedgerAggregate.Event):
        reason: str

    @event(TaskCancelled)
    def _cancelled(self, meta: Meta, reason: str) -> None:
        self.status = "cancelled"

    def cancel(self, meta: Meta, reason: str) -> None:
        """Cancel from any non-terminal state, with a reason."""
        if self.status in TERMINAL:
            raise IllegalTransition(f"cannot cancel a task that is {self.status}")
        self._cancelled(meta, require_text("reason", reason, 500))

    # -- notes and corrections -----------------------------------------------------------

    class TaskCommentAdded(LedgerAggregate.Event):
        text: str
        visibility: str
        personal: bool  # marked personal: `text` is empty, the words are in the vault
        text_ref: PersonalRef | None

    @event(TaskCommentAdded)
    def _commented(
        self, meta: Meta, text: str, visibility: str, personal: bool, text_ref: PersonalRef | None
    ) -> None:
        pass

    def comment(
        self,
        meta: Meta,
        text: str,
        visibility: str = "internal",
        text_ref: PersonalRef | None = None,
    ) -> None:
        """A note on the task, internal or visible to the owner; a personal one by reference."""
        require_choice("visibility", visibility, ("internal", "owner"))
        if text_ref is None:
            self._commented(meta, require_text("text", text), visibility, False, None)
        elif text:
            raise InvalidValue("a personal comment's text belongs in the vault, not the event")
        else:
            self._commented(meta, "", visibility, True, text_ref)

    class FollowUpVisitRecorded(LedgerAggregate.Event):
        channel: str
        satisfied: bool
        comment: str

    @event(FollowUpVisitRecorded)
    def _followed_up(self, meta: Meta, channel: str, satisfied: bool, comment: str) -> None:
        self.followed_up = True

    def record_follow_up(self, meta: Meta, channel: str, satisfied: bool, comment: str) -> None:
        """回访: a follow-up contact with the owner after the work."""
        self._require_status("record a follow-up", ("signed_off", "owner_accepted", "closed"))
        require_choice("channel", channel, ("phone", "app", "visit"))
        self._followed_up(meta, channel, bool(satisfied), comment[:1000])

    class TaskFieldCorrected(LedgerAggregate.Event):
        field: str
        old: str
        new: str
        justification: str

    @event(TaskFieldCorrected)
    def _corrected(self, meta: Meta, field: str, old: str, new: str, justification: str) -> None:
        setattr(self, field, new)

    def correct_field(self, meta: Meta, field: str, new: str, justification: str) -> None:
        """A compensating correction: the old value stays in the log beside the new one."""
        require_choice("field", field, CORRECTABLE_FIELDS)
        if field == "priority":
            require_choice("priority", new, PRIORITIES)
        old = str(getattr(self, field))
        if new == old:
            raise InvalidValue(f"{field} already has that value")
        self._corrected(
            meta, field, old, require_text("new", new), require_text("justification", justification)
        )

    # -- checks ----------------------------------------------------------------------------

    def _require_status(self, action: str, allowed: tuple[str, ...]) -> None:
        if self.status not in allowed:
            raise IllegalTransition(f"cannot {action} a task that is {self.status}")

    def _require_executor(self, meta: Meta, action: str) -> None:
        if meta.actor.id != self.executor_id:
            raise NotResponsible(f"only the executor ({self.executor_id}) may {action} this task")

    def _require_executor_or_responsible(self, meta: Meta, action: str) -> None:
        if meta.actor.id not in (self.executor_id, self.responsible_id):
            raise NotResponsible(f"only the executor or the responsible person may {action}")

    def _require_reporter(self, meta: Meta) -> None:
        owner = meta.on_behalf_of if meta.on_behalf_of else meta.actor.id
        if self.reporter_id is None or owner != self.reporter_id:
            raise NotResponsible("only the owner who reported the task may accept or return it")
