"""Inspections and patrols (巡检/巡更): versioned checklists, scheduled plans and scored rounds.

A round pins the checklist version it used and is keyed by its plan window, so the store's
unique stream key allows exactly one round (or one "missed" record) per window. Every check
lives in a public command; the `@event` mutators only assign.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from eventsourcing.domain import event

from ledger.domain.base import LedgerAggregate, require_choice, require_text
from ledger.domain.staff import POSITIONS
from ledger.envelope import Meta
from ledger.errors import (
    AlreadyExists,
    IllegalTransition,
    InvalidValue,
    NotFound,
    NotResponsible,
)
from ledger.ids import stream_id

ITEM_KINDS = ("pass_fail", "pass_flag_fail", "number", "photo", "text")
RESULTS = ("pass", "flag", "fail")
VISIT_METHODS = ("qr", "nfc", "gps", "manual")
SEVERITIES = ("minor", "major", "critical")
MAX_POINTS = 100

_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,49}")
_NUMBER = re.compile(r"-?\d{1,12}(\.\d{1,6})?")
_DURATION = re.compile(r"P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?")


# -- value helpers -------------------------------------------------------------------------


def require_code(name: str, value: str) -> str:
    """Checkpoint and item codes are short ASCII tokens (they are printed on QR/NFC tags)."""
    if not isinstance(value, str) or not _CODE.fullmatch(value):
        raise InvalidValue(f"{name} must be 1–50 letters, digits, '.', '_' or '-'; got {value!r}")
    return value


def require_aware(name: str, value: datetime) -> datetime:
    """Windows are compared across zones, so naive datetimes are refused."""
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise InvalidValue(f"{name} must be a timezone-aware datetime")
    return value


def parse_frequency(text: str) -> timedelta:
    """An ISO-8601 duration of fixed length (weeks, days, hours, minutes, seconds).

    Years and months are refused: their length varies, so windows would not be reproducible.
    """
    match = _DURATION.fullmatch(text) if isinstance(text, str) else None
    if match is None or text in ("P", "PT") or text.endswith("T"):
        raise InvalidValue(f"frequency must be an ISO-8601 duration like PT2H, P15D; got {text!r}")
    weeks, days, hours, minutes, seconds = (int(g) if g else 0 for g in match.groups())
    period = timedelta(weeks=weeks, days=days, hours=hours, minutes=minutes, seconds=seconds)
    if period < timedelta(minutes=1):
        raise InvalidValue("frequency must be at least one minute")
    return period


def round_key(plan_id: str, window_start: datetime) -> str:
    """The stream key of a plan window's round: one round (or miss) per window."""
    require_aware("window_start", window_start)
    return f"{plan_id}/{window_start.astimezone(UTC).isoformat()}"


@dataclass(frozen=True)
class ChecklistItem:
    """One parsed checklist line: `code|text|kind|points`."""

    code: str
    text: str
    kind: str
    points: int

    @classmethod
    def parse(cls, line: str) -> ChecklistItem:
        """Validate one item line; the points are the deduction on a fail."""
        parts = line.split("|") if isinstance(line, str) else []
        if len(parts) != 4:
            raise InvalidValue(f"a checklist item is 'code|text|kind|points'; got {line!r}")
        code, text, kind, points = (p.strip() for p in parts)
        if not points.isdigit() or int(points) > MAX_POINTS:
            raise InvalidValue(f"item points must be an integer 0–{MAX_POINTS}; got {points!r}")
        return cls(
            require_code("item code", code),
            require_text("item text", text, 500),
            require_choice("item kind", kind, ITEM_KINDS),
            int(points),
        )

    def line(self) -> str:
        """The normalised form stored in events."""
        return f"{self.code}|{self.text}|{self.kind}|{self.points}"

    def deduction(self, result: str) -> int:
        """A fail costs the item's points, a flag half of them (rounded down), a pass nothing."""
        return {"pass": 0, "flag": self.points // 2, "fail": self.points}[result]

    def check_result(self, result: str, value: str, evidence: tuple[str, ...]) -> None:
        """The result and value must fit the item kind."""
        require_choice("result", result, RESULTS)
        if result == "flag" and self.kind != "pass_flag_fail":
            raise InvalidValue(f"item {self.code} ({self.kind}) cannot be flagged")
        if self.kind == "number" and not _NUMBER.fullmatch(value):
            raise InvalidValue(f"item {self.code} needs a decimal number as its value")
        if self.kind == "text":
            require_text("value", value, 500)
        if self.kind == "photo" and not evidence:
            raise InvalidValue(f"item {self.code} needs a photo (evidence digest)")


def parse_items(lines: tuple[str, ...]) -> tuple[ChecklistItem, ...]:
    """At least one item, each valid, codes unique."""
    if not isinstance(lines, tuple) or not lines:
        raise InvalidValue("a checklist needs at least one item")
    items = tuple(ChecklistItem.parse(line) for line in lines)
    codes = [item.code for item in items]
    if len(set(codes)) != len(codes):
        raise InvalidValue("checklist item codes must be unique")
    return items


# -- checklists ----------------------------------------------------------------------------


class Checklist(LedgerAggregate):
    """A versioned checklist template; every version stays readable for the rounds pinned to it."""

    class ChecklistTemplatePublished(LedgerAggregate.Created):
        checklist_id: str
        version: int
        title: str
        service_line: str
        items: tuple[str, ...]

    @event(ChecklistTemplatePublished)
    def __init__(
        self,
        meta: Meta,
        checklist_id: str,
        version: int,
        title: str,
        service_line: str,
        items: tuple[str, ...],
    ) -> None:
        self.checklist_id = checklist_id
        self.checklist_version = version
        self.title = title
        self.service_line = service_line
        self.versions: dict[int, tuple[str, ...]] = {version: items}

    @classmethod
    def publish(
        cls, meta: Meta, checklist_id: str, title: str, service_line: str, items: tuple[str, ...]
    ) -> Checklist:
        """Publish version 1."""
        return cls._create(
            cls.ChecklistTemplatePublished,
            id=stream_id("checklist", require_code("checklist_id", checklist_id)),
            meta=meta,
            checklist_id=checklist_id,
            version=1,
            title=require_text("title", title, 200),
            service_line=require_text("service_line", service_line, 50),
            items=tuple(item.line() for item in parse_items(items)),
        )

    class ChecklistTemplateRevised(LedgerAggregate.Event):
        version: int
        title: str
        items: tuple[str, ...]

    @event(ChecklistTemplateRevised)
    def _revised(self, meta: Meta, version: int, title: str, items: tuple[str, ...]) -> None:
        self.checklist_version = version
        self.title = title
        self.versions[version] = items

    def revise(self, meta: Meta, title: str, items: tuple[str, ...]) -> None:
        """Republish as the next version; earlier versions stay as they were."""
        title = require_text("title", title, 200)
        lines = tuple(item.line() for item in parse_items(items))
        if (title, lines) == (self.title, self.versions[self.checklist_version]):
            raise InvalidValue("a revision must change the title or the items")
        self._revised(meta, self.checklist_version + 1, title, lines)

    def items_of(self, version: int) -> dict[str, ChecklistItem]:
        """The items of one published version, by code, in checklist order."""
        if version not in self.versions:
            raise NotFound(f"checklist {self.checklist_id!r} has no version {version!r}")
        return {item.code: item for item in map(ChecklistItem.parse, self.versions[version])}


# -- plans ---------------------------------------------------------------------------------


class InspectionPlan(LedgerAggregate):
    """Where, what, how often and by whom: windows repeat every `frequency` from `window_start`."""

    class InspectionPlanScheduled(LedgerAggregate.Created):
        plan_id: str
        property_id: str
        area_id: str
        checklist_id: str
        checklist_version: int
        checkpoints: tuple[str, ...]
        frequency: str
        window_start: datetime
        assignee_ids: tuple[str, ...]
        requires_signer_position: str | None

    @event(InspectionPlanScheduled)
    def __init__(
        self,
        meta: Meta,
        plan_id: str,
        property_id: str,
        area_id: str,
        checklist_id: str,
        checklist_version: int,
        checkpoints: tuple[str, ...],
        frequency: str,
        window_start: datetime,
        assignee_ids: tuple[str, ...],
        requires_signer_position: str | None,
    ) -> None:
        self.plan_id = plan_id
        self.property_id = property_id
        self.area_id = area_id
        self.checklist_id = checklist_id
        self.checklist_version = checklist_version
        self.checkpoints = checkpoints
        self.frequency = frequency
        self.window_start = window_start
        self.assignee_ids = assignee_ids
        self.requires_signer_position = requires_signer_position

    @classmethod
    def schedule(
        cls,
        meta: Meta,
        plan_id: str,
        property_id: str,
        area_id: str,
        checklist: Checklist,
        checklist_version: int,
        checkpoints: tuple[str, ...],
        frequency: str,
        window_start: datetime,
        assignee_ids: tuple[str, ...],
        requires_signer_position: str | None,
    ) -> InspectionPlan:
        """Schedule a plan against one pinned checklist version."""
        checklist.items_of(checklist_version)
        parse_frequency(frequency)
        if requires_signer_position is not None:
            require_choice("requires_signer_position", requires_signer_position, POSITIONS)
        return cls._create(
            cls.InspectionPlanScheduled,
            id=stream_id("inspection_plan", require_code("plan_id", plan_id)),
            meta=meta,
            plan_id=plan_id,
            property_id=require_text("property_id", property_id, 100),
            area_id=require_text("area_id", area_id, 100),
            checklist_id=checklist.checklist_id,
            checklist_version=checklist_version,
            checkpoints=_unique_codes("checkpoints", checkpoints),
            frequency=frequency,
            window_start=require_aware("window_start", window_start),
            assignee_ids=_require_assignees(assignee_ids),
            requires_signer_position=requires_signer_position,
        )

    @property
    def period(self) -> timedelta:
        return parse_frequency(self.frequency)

    def window(self, window_start: datetime) -> tuple[datetime, datetime]:
        """The (start, end) of the scheduled window that starts at `window_start`."""
        require_aware("window_start", window_start)
        offset = window_start - self.window_start
        if offset < timedelta(0) or offset % self.period:
            raise InvalidValue(f"{window_start.isoformat()} starts no window of {self.plan_id}")
        return window_start, window_start + self.period

    def window_containing(self, at: datetime) -> tuple[datetime, datetime] | None:
        """The window `at` falls in, or None before the plan's first window."""
        require_aware("at", at)
        if at < self.window_start:
            return None
        elapsed = (at - self.window_start) // self.period
        return self.window(self.window_start + elapsed * self.period)


def _unique_codes(name: str, values: tuple[str, ...]) -> tuple[str, ...]:
    if not isinstance(values, tuple):
        raise InvalidValue(f"{name} must be a tuple of codes")
    codes = tuple(require_code(name, v) for v in values)
    if len(set(codes)) != len(codes):
        raise InvalidValue(f"{name} must not repeat")
    return codes


def _require_assignees(assignee_ids: tuple[str, ...]) -> tuple[str, ...]:
    if not isinstance(assignee_ids, tuple) or not assignee_ids:
        raise InvalidValue("a plan needs at least one assignee")
    cleaned = tuple(require_text("assignee_id", a, 100) for a in assignee_ids)
    if len(set(cleaned)) != len(cleaned):
        raise InvalidValue("assignee_ids must not repeat")
    return cleaned


# -- rounds --------------------------------------------------------------------------------


class InspectionRound(LedgerAggregate):
    """One plan window: either a round walked and signed by its inspector, or a missed window."""

    class InspectionRoundStarted(LedgerAggregate.Created):
        round_id: str
        plan_id: str
        property_id: str
        area_id: str
        checklist_id: str
        checklist_version: int
        inspector_id: str
        window_start: datetime
        window_end: datetime

    class InspectionRoundMissed(LedgerAggregate.Created):
        round_id: str
        plan_id: str
        property_id: str
        area_id: str
        checklist_id: str
        checklist_version: int
        window_start: datetime
        window_end: datetime

    @event(InspectionRoundStarted)
    def __init__(
        self,
        meta: Meta,
        round_id: str,
        plan_id: str,
        property_id: str,
        area_id: str,
        checklist_id: str,
        checklist_version: int,
        window_start: datetime,
        window_end: datetime,
        inspector_id: str | None = None,
    ) -> None:
        """Both creation events build the same state; a missed window has no inspector."""
        self.round_id = round_id
        self.plan_id = plan_id
        self.property_id = property_id
        self.area_id = area_id
        self.checklist_id = checklist_id
        self.checklist_version = checklist_version
        self.inspector_id = inspector_id
        self.window_start = window_start
        self.window_end = window_end
        self.status = "missed" if inspector_id is None else "in_progress"
        self.visited_in_window: dict[str, bool] = {}
        self.results: dict[str, str] = {}
        self.item_deductions: dict[str, int] = {}
        self.finding_deductions: dict[str, int] = {}
        self.score: int | None = None
        self.missed_checkpoints: tuple[str, ...] = ()

    @classmethod
    def start(cls, meta: Meta, plan: InspectionPlan, window_start: datetime) -> InspectionRound:
        """An assignee of the plan starts the round of one window, not before it opens."""
        start, end = plan.window(window_start)
        if meta.actor.id not in plan.assignee_ids:
            raise NotResponsible(f"{meta.actor.id} is not assigned to plan {plan.plan_id}")
        if meta.occurred_at < start:
            raise IllegalTransition(f"the window starting {start.isoformat()} has not opened")
        key = round_key(plan.plan_id, start)
        return cls._create(
            cls.InspectionRoundStarted,
            id=stream_id("inspection_round", key),
            meta=meta,
            round_id=key,
            plan_id=plan.plan_id,
            property_id=plan.property_id,
            area_id=plan.area_id,
            checklist_id=plan.checklist_id,
            checklist_version=plan.checklist_version,
            inspector_id=meta.actor.id,
            window_start=start,
            window_end=end,
        )

    @classmethod
    def missed(cls, meta: Meta, plan: InspectionPlan, window_start: datetime) -> InspectionRound:
        """The system records that a window expired without a round."""
        start, end = plan.window(window_start)
        if meta.actor.kind != "system":
            raise NotResponsible("only the system records a missed inspection window")
        if meta.occurred_at < end:
            raise IllegalTransition(f"the window ending {end.isoformat()} has not expired yet")
        key = round_key(plan.plan_id, start)
        return cls._create(
            cls.InspectionRoundMissed,
            id=stream_id("inspection_round", key),
            meta=meta,
            round_id=key,
            plan_id=plan.plan_id,
            property_id=plan.property_id,
            area_id=plan.area_id,
            checklist_id=plan.checklist_id,
            checklist_version=plan.checklist_version,
            window_start=start,
            window_end=end,
        )

    # -- walking the round -----------------------------------------------------------------

    class CheckpointVisited(LedgerAggregate.Event):
        checkpoint: str
        method: str
        in_window: bool

    @event(CheckpointVisited)
    def _visited(self, meta: Meta, checkpoint: str, method: str, in_window: bool) -> None:
        earlier = self.visited_in_window.get(checkpoint, False)
        self.visited_in_window[checkpoint] = earlier or in_window

    def visit(self, meta: Meta, plan: InspectionPlan, checkpoint: str, method: str) -> None:
        """Check in at a checkpoint of the plan; the time decides whether it was in the window."""
        self._require_inspecting(meta, "visit a checkpoint")
        if checkpoint not in plan.checkpoints:
            raise InvalidValue(f"{checkpoint!r} is not a checkpoint of plan {plan.plan_id}")
        in_window = self.window_start <= meta.occurred_at < self.window_end
        self._visited(meta, checkpoint, require_choice("method", method, VISIT_METHODS), in_window)

    class ChecklistItemRecorded(LedgerAggregate.Event):
        item_code: str
        result: str
        value: str
        deduction: int

    @event(ChecklistItemRecorded)
    def _item_recorded(
        self, meta: Meta, item_code: str, result: str, value: str, deduction: int
    ) -> None:
        self.results[item_code] = result
        self.item_deductions[item_code] = deduction

    def record_item(
        self, meta: Meta, items: dict[str, ChecklistItem], item_code: str, result: str, value: str
    ) -> None:
        """Record one item of the pinned checklist version, once; the deduction follows the kind."""
        self._require_inspecting(meta, "record a checklist item")
        item = items.get(item_code)
        if item is None:
            raise InvalidValue(f"{item_code!r} is not on checklist v{self.checklist_version}")
        if item_code in self.results:
            raise IllegalTransition(f"item {item_code} is already recorded in this round")
        if not isinstance(value, str) or len(value) > 500:
            raise InvalidValue("value must be a string of at most 500 characters")
        item.check_result(result, value.strip(), meta.evidence)
        self._item_recorded(meta, item_code, result, value.strip(), item.deduction(result))

    class FindingRaised(LedgerAggregate.Event):
        finding_id: str
        item_code: str | None
        severity: str
        deduction_points: int
        description: str
        responsible_id: str | None

    @event(FindingRaised)
    def _finding_raised(
        self,
        meta: Meta,
        finding_id: str,
        item_code: str | None,
        severity: str,
        deduction_points: int,
        description: str,
        responsible_id: str | None,
    ) -> None:
        self.finding_deductions[finding_id] = 0 if item_code else deduction_points

    def raise_finding(
        self,
        meta: Meta,
        finding_id: str,
        severity: str,
        description: str,
        responsible_id: str | None,
        item_code: str | None = None,
        deduction_points: int | None = None,
    ) -> None:
        """A non-conformity with evidence, charged to whoever answered for the area then.

        A finding on a recorded item carries that item's deduction (already in the score);
        a free-standing finding's own deduction counts towards the score.
        """
        self._require_inspecting(meta, "raise a finding")
        require_code("finding_id", finding_id)
        if finding_id in self.finding_deductions:
            raise AlreadyExists(f"finding {finding_id} is already raised in this round")
        require_choice("severity", severity, SEVERITIES)
        if not meta.evidence:
            raise InvalidValue("a finding needs at least one evidence file (SHA-256)")
        points = self._finding_points(item_code, deduction_points)
        self._finding_raised(
            meta, finding_id, item_code, severity, points,
            require_text("description", description), responsible_id,
        )

    def _finding_points(self, item_code: str | None, deduction_points: int | None) -> int:
        if item_code is None:
            points = 0 if deduction_points is None else deduction_points
            if isinstance(points, bool) or not isinstance(points, int):
                raise InvalidValue("deduction_points must be an integer")
            if not 0 <= points <= MAX_POINTS:
                raise InvalidValue(f"deduction_points must be an integer 0–{MAX_POINTS}")
            return points
        if self.results.get(item_code) not in ("flag", "fail"):
            raise InvalidValue(f"a finding on item {item_code!r} needs it recorded as flag or fail")
        points = self.item_deductions[item_code]
        if deduction_points is not None and deduction_points != points:
            raise InvalidValue(f"item {item_code} deducts {points}, not {deduction_points!r}")
        return points

    # -- completion ------------------------------------------------------------------------

    class InspectionRoundCompleted(LedgerAggregate.Event):
        score: int
        missed_checkpoints: tuple[str, ...]
        signer_id: str

    @event(InspectionRoundCompleted)
    def _completed(
        self, meta: Meta, score: int, missed_checkpoints: tuple[str, ...], signer_id: str
    ) -> None:
        self.status = "completed"
        self.score = score
        self.missed_checkpoints = missed_checkpoints

    def complete(self, meta: Meta, plan: InspectionPlan, items: dict[str, ChecklistItem]) -> None:
        """The inspector signs the round; every item must be recorded first.

        A checkpoint counts as missed unless it was visited inside the window.
        """
        self._require_inspecting(meta, "complete the round")
        position = plan.requires_signer_position
        if position is not None and meta.actor.role != position:
            raise NotResponsible(f"this round must be signed by a {position}")
        unrecorded = [code for code in items if code not in self.results]
        if unrecorded:
            raise IllegalTransition(f"items not yet recorded: {', '.join(unrecorded)}")
        missed = tuple(c for c in plan.checkpoints if not self.visited_in_window.get(c, False))
        self._completed(meta, self.current_score(), missed, meta.actor.id)

    def current_score(self) -> int:
        """100 minus every deduction so far, never below zero."""
        spent = sum(self.item_deductions.values()) + sum(self.finding_deductions.values())
        return max(0, 100 - spent)

    def _require_inspecting(self, meta: Meta, action: str) -> None:
        if self.status != "in_progress":
            raise IllegalTransition(f"cannot {action}: the round is {self.status}")
        if meta.actor.id != self.inspector_id:
            raise NotResponsible(f"only the inspector ({self.inspector_id}) may {action}")
