"""SLA clocks (服务时限): one clock per task × applicable clause, with the clause version pinned.

Which clauses apply: those of the contract covering the task's property, in force when the task
was registered, whose service line equals the task's, whose `match_kinds` (if any) name the
task's kind, and — with `match_emergency_only` — only emergency or urgent tasks. Only the metrics
in `CONDITIONS` run clocks; frequency commitments are watched per inspection-plan window.

When a clock starts, pauses, resumes, stops or is cancelled is DATA, the `CONDITIONS` table,
keyed by metric; each transition names the task event that justifies it and takes that event's
`occurred_at` as its instant. A hold pauses a clock only if the clause's `pause_on` lists the
hold's condition, the hold is owner-caused (`PAUSING_HOLDS`: a company-caused hold is the
company's own delay and never stops the clock) and carries evidence.

Time: every clock counts whole seconds, wall-clock and business time (its pinned calendar
version, `ledger.business_time`). `due_at` = business_time.add(since, target − business time
already elapsed), recomputed on resume. Instants never run backwards: a task event reported
with an earlier time than the clock's last change counts from that change.

States: Running ⇄ Paused → Stopped(met | late); Running → Breached (still running or paused) →
Stopped(late); Running/Paused → Cancelled. `met` is the fact "business elapsed at the stop ≤
target": a clock that stops after its due time is `met: false`; a stop entered late that had
occurred before the due time is met, beside the breach recorded while it was unknown. A late
stop found before its breach was recorded still gets its `SlaBreached` (so every late clock
has exactly one), but no escalation: escalation ends when the clock stops or is cancelled.

Warnings fire once per threshold of the clause (`warn_at`, percent of the target in business
time) and never after the breach; the breach fires once at `due_at`; escalations go up the
escalation chain version pinned at start, level by level (gaps allowed when a level names
nobody), each no earlier than `breach_at` + that level's delay (wall-clock: an emergency
escalates at night too). Every timed event's instant is computed here, never trusted from the
caller; the command's `occurred_at` must have reached it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from eventsourcing.domain import event

from ledger import business_time
from ledger.business_time import Calendar
from ledger.domain.areas import parse_levels
from ledger.domain.base import LedgerAggregate, require_choice, require_text
from ledger.domain.penalties import require_ids
from ledger.envelope import Meta
from ledger.errors import IllegalTransition, InvalidValue
from ledger.ids import stream_id

CHANNELS = ("in_app", "sms", "phone")
LIVE = ("running", "paused")


@dataclass(frozen=True)
class ClockConditions:
    """The task events that start, stop, pause, resume and cancel a clock of one metric.

    `pause` pairs a task event type with the clause condition (`pause_on` vocabulary) it
    represents; the clause decides whether that condition pauses its clock.
    """

    start: str
    stop: tuple[str, ...]
    pause: tuple[tuple[str, str], ...]
    resume: tuple[str, ...]
    cancel: tuple[str, ...]


CONDITIONS: dict[str, ClockConditions] = {
    "ack": ClockConditions("TaskRegistered", ("TaskAccepted",), (), (), ("TaskCancelled",)),
    "arrival": ClockConditions("TaskRegistered", ("ArrivedOnSite",), (), (), ("TaskCancelled",)),
    "resolution": ClockConditions(
        "TaskRegistered",
        ("WorkCompleted",),
        (("TaskPutOnHold", "owner_hold"),),
        ("TaskResumed",),
        ("TaskCancelled",),
    ),
}
CLOCK_METRICS = tuple(CONDITIONS)
PAUSING_HOLDS = {"owner": "owner_hold"}
"""Hold cause → pause condition. Company-caused holds are absent on purpose: they never pause."""


def clock_key(task_no: str, clause_id: str) -> str:
    """The stream key of a task's clock for one clause."""
    return f"{task_no}/{clause_id}"


def clause_applies(clause: Mapping[str, Any], kind: str, line: str, is_emergency: bool) -> bool:
    """Whether a clause version runs a clock for a task of this kind, line and urgency."""
    return (
        clause["metric"] in CONDITIONS
        and clause["service_line"] == line
        and (not clause["match_kinds"] or kind in clause["match_kinds"])
        and (not clause["match_emergency_only"] or is_emergency)
    )


def applicable(
    clauses: Mapping[str, tuple[Mapping[str, Any], ...]],
    kind: str,
    line: str,
    is_emergency: bool,
    at: datetime,
) -> tuple[str, ...]:
    """The clause ids (of one contract's versioned clauses) that run a clock for such a task
    registered at `at`, judged by the version in force then."""
    found = []
    for clause_id in sorted(clauses):
        in_force = [v for v in clauses[clause_id] if v["effective_from"] <= at]
        if in_force and clause_applies(in_force[-1], kind, line, is_emergency):
            found.append(clause_id)
    return tuple(found)


def action_for(
    metric: str,
    pause_on: tuple[str, ...],
    event_type: str,
    hold_cause: str | None = None,
    has_evidence: bool = False,
) -> str | None:
    """What a task event does to a clock of `metric`: start, stop, pause, resume, cancel or None."""
    rules = CONDITIONS.get(metric)
    if rules is None:
        return None
    plain = {
        rules.start: "start",
        **dict.fromkeys(rules.stop, "stop"),
        **dict.fromkeys(rules.cancel, "cancel"),
        **dict.fromkeys(rules.resume, "resume"),
    }
    if event_type in plain:
        return plain[event_type]
    condition = PAUSING_HOLDS.get(hold_cause or "")
    pausing = (event_type, condition) in rules.pause and has_evidence
    return "pause" if pausing and condition in pause_on else None


def whole(moment: datetime) -> datetime:
    """Clocks count whole seconds."""
    return moment.replace(microsecond=0)


def seconds(span: timedelta) -> int:
    return int(span.total_seconds())


Segment = tuple[datetime, datetime, int, int]  # (since, until, business before, business after)


class SlaClock(LedgerAggregate):
    """One SLA timer: the pinned clause and calendar, its running segments and what it fired."""

    class SlaClockStarted(LedgerAggregate.Created):
        task_no: str
        property_id: str
        contract_no: str
        clause_id: str
        clause_version: int
        calendar_id: str
        calendar_version: int
        metric: str
        target: str
        target_seconds: int
        started_at: datetime
        due_at: datetime
        warn_at: tuple[str, ...]
        escalation_chain_id: str
        chain_version: int
        escalation_levels: tuple[str, ...]
        start_event_id: str

    @event(SlaClockStarted)
    def __init__(
        self,
        meta: Meta,
        task_no: str,
        property_id: str,
        contract_no: str,
        clause_id: str,
        clause_version: int,
        calendar_id: str,
        calendar_version: int,
        metric: str,
        target: str,
        target_seconds: int,
        started_at: datetime,
        due_at: datetime,
        warn_at: tuple[str, ...],
        escalation_chain_id: str,
        chain_version: int,
        escalation_levels: tuple[str, ...],
        start_event_id: str,
    ) -> None:
        self.task_no = task_no
        self.property_id = property_id
        self.contract_no = contract_no
        self.clause_id = clause_id
        self.clause_version = clause_version
        self.calendar_id = calendar_id
        self.calendar_version = calendar_version
        self.metric = metric
        self.target = target
        self.target_seconds = target_seconds
        self.started_at = started_at
        self.due_at = due_at
        self.warn_at = warn_at
        self.escalation_chain_id = escalation_chain_id
        self.chain_version = chain_version
        self.escalation_levels = escalation_levels
        self.start_event_id = start_event_id
        self.status = "running"
        self.running_since: datetime | None = started_at
        self.last_change = started_at
        self.business_seconds = 0
        self.segments: tuple[Segment, ...] = ()
        self.applied: tuple[str, ...] = (start_event_id,)
        self.warnings: tuple[str, ...] = ()
        self.breached = False
        self.breach_at: datetime | None = None
        self.responsible_at_breach: str | None = None
        self.escalated_level = 0
        self.stopped_at: datetime | None = None
        self.met: bool | None = None

    @classmethod
    def start(
        cls,
        meta: Meta,
        cal: Calendar,
        task_no: str,
        property_id: str,
        contract_no: str,
        clause: Mapping[str, Any],
        calendar_version: int,
        chain_version: int,
        escalation_levels: tuple[str, ...],
        started_at: datetime,
        start_event_id: str,
    ) -> SlaClock:
        """Attach a clock for one clause version, due after the target in business time."""
        metric = require_choice("metric", clause["metric"], CLOCK_METRICS)
        parse_levels(escalation_levels)
        target = business_time.duration(cal, clause["target"])
        started_at = whole(started_at)
        clause_id = require_text("clause_id", clause["clause_id"], 100)
        return cls._create(
            cls.SlaClockStarted,
            id=stream_id("sla_clock", clock_key(require_text("task_no", task_no, 100), clause_id)),
            meta=meta,
            task_no=task_no,
            property_id=require_text("property_id", property_id, 100),
            contract_no=contract_no,
            clause_id=clause_id,
            clause_version=int(clause["version"]),
            calendar_id=clause["calendar_id"],
            calendar_version=calendar_version,
            metric=metric,
            target=clause["target"],
            target_seconds=seconds(target),
            started_at=started_at,
            due_at=business_time.add(cal, started_at, target),
            warn_at=tuple(clause["warn_at"]),
            escalation_chain_id=clause["escalation_chain_id"],
            chain_version=chain_version,
            escalation_levels=escalation_levels,
            start_event_id=require_text("start_event_id", start_event_id, 100),
        )

    # -- pause and resume ------------------------------------------------------------------

    class SlaClockPaused(LedgerAggregate.Event):
        justifying_event_id: str
        paused_at: datetime
        business_elapsed_seconds: int

    @event(SlaClockPaused)
    def _paused(
        self,
        meta: Meta,
        justifying_event_id: str,
        paused_at: datetime,
        business_elapsed_seconds: int,
    ) -> None:
        since = self.running_since or paused_at
        segment = (since, paused_at, self.business_seconds, business_elapsed_seconds)
        self.segments = (*self.segments, segment)
        self.business_seconds = business_elapsed_seconds
        self.running_since = None
        self.last_change = paused_at
        self.applied = (*self.applied, justifying_event_id)
        self.status = "paused"

    def pause(self, meta: Meta, cal: Calendar, at: datetime, justifying_event_id: str) -> None:
        """Stop counting (an owner-caused hold with evidence); the business time so far is kept."""
        self._require_status("pause", ("running",))
        self._require_unused(justifying_event_id)
        at = self._instant(at)
        business = self.business_at(cal, at)
        self._paused(meta, justifying_event_id, at, seconds(business))

    class SlaClockResumed(LedgerAggregate.Event):
        justifying_event_id: str
        resumed_at: datetime
        due_at: datetime

    @event(SlaClockResumed)
    def _resumed(
        self, meta: Meta, justifying_event_id: str, resumed_at: datetime, due_at: datetime
    ) -> None:
        self.running_since = resumed_at
        self.last_change = resumed_at
        self.due_at = due_at
        self.applied = (*self.applied, justifying_event_id)
        self.status = "running"

    def resume(self, meta: Meta, cal: Calendar, at: datetime, justifying_event_id: str) -> None:
        """Count again; the new due time is the remaining target after `at`, in business time."""
        self._require_status("resume", ("paused",))
        self._require_unused(justifying_event_id)
        at = self._instant(at)
        remaining = timedelta(seconds=self.target_seconds - self.business_seconds)
        due = self.due_at if self.breached else business_time.add(cal, at, remaining)
        self._resumed(meta, justifying_event_id, at, due)

    # -- warnings, breach, escalation ------------------------------------------------------

    class SlaWarningRaised(LedgerAggregate.Event):
        threshold: str
        warned_at: datetime
        business_elapsed_seconds: int
        notified_ids: tuple[str, ...]

    @event(SlaWarningRaised)
    def _warned(
        self,
        meta: Meta,
        threshold: str,
        warned_at: datetime,
        business_elapsed_seconds: int,
        notified_ids: tuple[str, ...],
    ) -> None:
        self.warnings = (*self.warnings, threshold)

    def raise_warning(
        self, meta: Meta, cal: Calendar, threshold: str, notified_ids: tuple[str, ...]
    ) -> None:
        """A threshold of the target crossed: once per threshold, never after the breach."""
        if threshold not in self.warn_at:
            raise InvalidValue(f"{threshold!r} is not a warning threshold of {self.clause_id}")
        if threshold in self.warnings:
            raise IllegalTransition(f"the {threshold}% warning was already raised")
        self._require_status("warn on", LIVE)
        if self.breached:
            raise IllegalTransition("the clock has already breached; no more warnings")
        business = self.threshold_seconds(threshold)
        at = self._reached(cal, business, meta, f"the {threshold}% threshold")
        notified = require_ids("notified_ids", tuple(notified_ids), at_least=0)
        self._warned(meta, threshold, at, business, notified)

    class SlaBreached(LedgerAggregate.Event):
        task_no: str
        breach_at: datetime
        responsible_at_breach: str | None
        responsible_role: str | None
        executor_at_breach: str | None
        business_elapsed_seconds: int

    @event(SlaBreached)
    def _breached(
        self,
        meta: Meta,
        task_no: str,
        breach_at: datetime,
        responsible_at_breach: str | None,
        responsible_role: str | None,
        executor_at_breach: str | None,
        business_elapsed_seconds: int,
    ) -> None:
        self.breached = True
        self.breach_at = breach_at
        self.responsible_at_breach = responsible_at_breach

    def breach_instant(self, cal: Calendar) -> datetime | None:
        """When the business time elapsed reached the target (None if it has not, yet)."""
        return self.instant_of(cal, self.target_seconds)

    def record_breach(
        self,
        meta: Meta,
        cal: Calendar,
        responsible_id: str | None,
        responsible_role: str | None,
        executor_id: str | None,
    ) -> None:
        """The due time passed without a stop; names who was responsible at that instant."""
        if self.breached:
            raise IllegalTransition("the breach of this clock was already recorded")
        late_stop = self.status == "stopped" and self.met is False
        if self.status not in LIVE and not late_stop:
            raise IllegalTransition(f"cannot record a breach on a clock that is {self.status}")
        at = self._reached(cal, self.target_seconds, meta, "the due time")
        self._breached(
            meta, self.task_no, at, responsible_id, responsible_role, executor_id,
            self.target_seconds,
        )  # fmt: skip

    class SlaEscalated(LedgerAggregate.Event):
        task_no: str
        level: int
        role: str
        notified_id: str
        channel: str
        escalated_at: datetime

    @event(SlaEscalated)
    def _escalated(
        self,
        meta: Meta,
        task_no: str,
        level: int,
        role: str,
        notified_id: str,
        channel: str,
        escalated_at: datetime,
    ) -> None:
        self.escalated_level = level

    def escalation_at(self, level: int) -> datetime | None:
        """When a level of the pinned chain is due: the breach plus that level's delay."""
        levels = parse_levels(self.escalation_levels)
        if self.breach_at is None or not 1 <= level <= len(levels):
            return None
        return self.breach_at + levels[level - 1][1]

    def role_of_level(self, level: int) -> str:
        levels = parse_levels(self.escalation_levels)
        if isinstance(level, bool) or not isinstance(level, int) or not 1 <= level <= len(levels):
            raise InvalidValue(f"level must be 1 to {len(levels)}; got {level!r}")
        return levels[level - 1][0]

    def escalate(self, meta: Meta, level: int, notified_id: str, channel: str) -> None:
        """Tell the next level of the chain; each level once, in order, after its delay."""
        role = self.role_of_level(level)
        if not self.breached:
            raise IllegalTransition("only a breached clock escalates")
        self._require_status("escalate", LIVE)
        if level <= self.escalated_level:
            raise IllegalTransition(f"level {self.escalated_level} was already notified")
        due = self.escalation_at(level)
        if due is None or meta.occurred_at < due:
            raise IllegalTransition(f"level {level} is not due before {due}")
        require_choice("channel", channel, CHANNELS)
        notified = require_text("notified_id", notified_id, 100)
        self._escalated(meta, self.task_no, level, role, notified, channel, due)

    # -- stop and cancel -------------------------------------------------------------------

    class SlaClockStopped(LedgerAggregate.Event):
        stop_event_id: str
        stopped_at: datetime
        elapsed_seconds: int
        business_elapsed_seconds: int
        met: bool

    @event(SlaClockStopped)
    def _stopped(
        self,
        meta: Meta,
        stop_event_id: str,
        stopped_at: datetime,
        elapsed_seconds: int,
        business_elapsed_seconds: int,
        met: bool,
    ) -> None:
        if self.running_since is not None:
            since, before = self.running_since, self.business_seconds
            self.segments = (*self.segments, (since, stopped_at, before, business_elapsed_seconds))
        self.business_seconds = business_elapsed_seconds
        self.running_since = None
        self.last_change = stopped_at
        self.applied = (*self.applied, stop_event_id)
        self.stopped_at = stopped_at
        self.met = met
        self.status = "stopped"

    def stop(self, meta: Meta, cal: Calendar, at: datetime, stop_event_id: str) -> None:
        """The commitment was fulfilled at `at`: met if the business time used fits the target."""
        self._require_status("stop", LIVE)
        self._require_unused(stop_event_id)
        at = self._instant(at)
        business = seconds(self.business_at(cal, at))
        elapsed = seconds(at - self.started_at)
        self._stopped(meta, stop_event_id, at, elapsed, business, business <= self.target_seconds)

    class SlaClockCancelled(LedgerAggregate.Event):
        cancel_event_id: str
        cancelled_at: datetime

    @event(SlaClockCancelled)
    def _cancelled(self, meta: Meta, cancel_event_id: str, cancelled_at: datetime) -> None:
        self.applied = (*self.applied, cancel_event_id)
        self.last_change = cancelled_at
        self.status = "cancelled"

    def cancel(self, meta: Meta, at: datetime, cancel_event_id: str) -> None:
        """The task was cancelled: the clock ends with no result."""
        self._require_status("cancel", LIVE)
        self._require_unused(cancel_event_id)
        self._cancelled(meta, cancel_event_id, self._instant(at))

    # -- queries ---------------------------------------------------------------------------

    def business_at(self, cal: Calendar, at: datetime) -> timedelta:
        """Business time elapsed by `at` (later than the last change, or it is the total so far)."""
        total = timedelta(seconds=self.business_seconds)
        if self.running_since is None:
            return total
        return total + business_time.elapsed(cal, self.running_since, whole(at))

    def instant_of(self, cal: Calendar, business: int) -> datetime | None:
        """When `business` seconds had elapsed (projected while running; None while short)."""
        if business <= 0:
            return self.started_at
        for since, _until, before, after in self.segments:
            if before < business <= after:
                return business_time.add(cal, since, timedelta(seconds=business - before))
        if self.running_since is not None and business > self.business_seconds:
            remaining = timedelta(seconds=business - self.business_seconds)
            return business_time.add(cal, self.running_since, remaining)
        return None

    def threshold_seconds(self, threshold: str) -> int:
        return self.target_seconds * int(threshold) // 100

    def pending_warnings(self) -> tuple[str, ...]:
        """Thresholds still to raise (none once the clock breached or ended)."""
        if self.breached or self.status not in LIVE:
            return ()
        return tuple(t for t in self.warn_at if t not in self.warnings)

    def next_due(self, cal: Calendar) -> datetime | None:
        """The next instant the watcher has something to record for this clock, if any."""
        if self.breached:
            nxt = self.escalated_level + 1
            return self.escalation_at(nxt) if self.status in LIVE else None
        late_stop = self.status == "stopped" and self.met is False
        if self.status not in LIVE and not late_stop:
            return None
        marks = [self.threshold_seconds(t) for t in self.pending_warnings()]
        instants = [self.instant_of(cal, s) for s in (*marks, self.target_seconds)]
        found = [i for i in instants if i is not None]
        return min(found) if found else None

    # -- checks ----------------------------------------------------------------------------

    def _instant(self, at: datetime) -> datetime:
        """Whole seconds, and never before the clock's last change."""
        if not isinstance(at, datetime) or at.tzinfo is None:
            raise InvalidValue("a clock instant must be a timezone-aware datetime")
        return max(whole(at), self.last_change)

    def _reached(self, cal: Calendar, business: int, meta: Meta, what: str) -> datetime:
        at = self.instant_of(cal, business)
        if at is None or meta.occurred_at < at:
            raise IllegalTransition(f"{what} of this clock has not been reached")
        return at

    def _require_status(self, action: str, allowed: tuple[str, ...]) -> None:
        if self.status not in allowed:
            raise IllegalTransition(f"cannot {action} a clock that is {self.status}")

    def _require_unused(self, event_id: str) -> None:
        require_text("event id", event_id, 100)
        if event_id in self.applied:
            raise IllegalTransition(f"task event {event_id} was already applied to this clock")
