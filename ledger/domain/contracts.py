"""Service contracts (物业服务合同), their service-level clauses and business calendars.

A clause is never edited: a revision is a new version with its own effective time, so an SLA
computed for a task can always name the clause version in force when it started. Every check
lives in a public command; the `@event` mutators only assign.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, fields
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from eventsourcing.domain import CanMutateAggregate, event, filter_kwargs_for_method_params
from eventsourcing.utils import get_topic

from ledger.domain.base import LedgerAggregate, require_choice, require_digest, require_text
from ledger.domain.inspections import require_aware
from ledger.domain.penalties import MAX_POINTS, parse_money, require_ids, require_points
from ledger.domain.staff import POSITIONS
from ledger.domain.tasks import TASK_KINDS
from ledger.envelope import Meta
from ledger.errors import AlreadyExists, InvalidValue, NotFound
from ledger.ids import stream_id

CONTRACT_KINDS = ("preliminary", "selected")  # 前期 / 选聘
FEE_MODELS = ("lump_sum", "cost_plus")  # 包干制 / 酬金制
SERVICE_LINES = (
    "repair",
    "cleaning",
    "security",
    "patrol",
    "complaint",
    "emergency",
    "elevator",
    "fire",
    "greening",
    "notice",
)
METRICS = ("ack", "arrival", "resolution", "frequency", "quality_score")
PAUSE_CONDITIONS = ("owner_hold", "company_hold")
CALENDAR_MODES = ("24x7", "working_hours")
DEFAULT_TZ = "Asia/Shanghai"
CALENDAR_PREFIX = "calendar/"

_DURATION = re.compile(
    r"P(?:(\d{1,6})D)?(?:T(?=\d)(?:(\d{1,6})H)?(?:(\d{1,6})M)?(?:(\d{1,6})S)?)?", re.ASCII
)
_TEXT_TERMS = {  # clause terms that are free text, with their length limits
    "calendar_id": 100,
    "escalation_chain_id": 100,
    "penalty_rule": 100,
    "source_ref": 200,
}
_PERCENT = re.compile(r"[1-9]\d?", re.ASCII)
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
_SPAN = re.compile(r"([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]|24):([0-5]\d)", re.ASCII)


def parse_duration(name: str, text: str) -> timedelta:
    """An ISO-8601 duration in the PnDTnHnMnS form only: fixed length, so SLA deadlines replay."""
    match = _DURATION.fullmatch(text) if isinstance(text, str) else None
    if match is None or text == "P":
        raise InvalidValue(f"{name} must be an ISO-8601 duration like PT30M or P1D; got {text!r}")
    days, hours, minutes, seconds = (int(g) if g else 0 for g in match.groups())
    return timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)


def calendar_key(calendar_id: str) -> str:
    """Calendars live under the contract stream kind, in their own key space."""
    return CALENDAR_PREFIX + calendar_id


def _members(name: str, values: tuple[str, ...], choices: tuple[str, ...]) -> tuple[str, ...]:
    for value in require_ids(name, values, at_least=0):
        require_choice(name, value, choices)
    return values


def _require_warn_at(values: tuple[str, ...]) -> tuple[str, ...]:
    """Warning thresholds are whole percents of the target, 1–99, strictly ascending."""
    if not isinstance(values, tuple) or not all(
        isinstance(v, str) and _PERCENT.fullmatch(v) for v in values
    ):
        raise InvalidValue(f"warn_at must be percents from '1' to '99'; got {values!r}")
    percents = [int(v) for v in values]
    if percents != sorted(set(percents)):
        raise InvalidValue("warn_at must be strictly ascending")
    return values


@dataclass(frozen=True)
class ClauseTerms:
    """What one clause version promises; carried field by field into its event."""

    service_line: str
    metric: str
    target: str
    match_kinds: tuple[str, ...]  # task kinds it applies to; empty: every kind of the line
    match_emergency_only: bool
    calendar_id: str
    warn_at: tuple[str, ...]
    escalation_chain_id: str
    penalty_rule: str
    penalty_points: int
    penalty_amount: str
    pause_on: tuple[str, ...]
    requires_signer_position: str | None
    source_ref: str

    def validated(self) -> dict[str, Any]:
        """The event fields, or InvalidValue for the first term out of range."""
        require_choice("service_line", self.service_line, SERVICE_LINES)
        require_choice("metric", self.metric, METRICS)
        if parse_duration("target", self.target) <= timedelta(0):
            raise InvalidValue("target must be a positive duration")
        _members("match_kinds", self.match_kinds, TASK_KINDS)
        if not isinstance(self.match_emergency_only, bool):
            raise InvalidValue("match_emergency_only must be true or false")
        _require_warn_at(self.warn_at)
        require_points("penalty_points", self.penalty_points, MAX_POINTS)
        parse_money("penalty_amount", self.penalty_amount)
        _members("pause_on", self.pause_on, PAUSE_CONDITIONS)
        if self.requires_signer_position is not None:
            require_choice("requires_signer_position", self.requires_signer_position, POSITIONS)
        terms = asdict(self)
        texts = {name: require_text(name, terms[name], n) for name, n in _TEXT_TERMS.items()}
        return {**terms, **texts}


TERM_NAMES = tuple(f.name for f in fields(ClauseTerms))
CLAUSE_FIELDS = ("clause_id", "version", "effective_from", *TERM_NAMES)


class Contract(LedgerAggregate):
    """A service contract in force and the versioned clauses it promises."""

    class ServiceContractRegistered(LedgerAggregate.Created):
        contract_no: str
        kind: str
        company: str
        counterparty: str
        property_ids: tuple[str, ...]
        term_start: datetime
        term_end: datetime
        fee_model: str
        fee_standard: str
        document_sha256: str

    @event(ServiceContractRegistered)
    def __init__(
        self,
        meta: Meta,
        contract_no: str,
        kind: str,
        company: str,
        counterparty: str,
        property_ids: tuple[str, ...],
        term_start: datetime,
        term_end: datetime,
        fee_model: str,
        fee_standard: str,
        document_sha256: str,
    ) -> None:
        self.contract_no = contract_no
        self.kind = kind
        self.company = company
        self.counterparty = counterparty
        self.property_ids = property_ids
        self.term_start = term_start
        self.term_end = term_end
        self.fee_model = fee_model
        self.fee_standard = fee_standard
        self.document_sha256 = document_sha256
        self.clauses: dict[str, tuple[dict[str, Any], ...]] = {}

    @classmethod
    def register(
        cls,
        meta: Meta,
        contract_no: str,
        kind: str,
        company: str,
        counterparty: str,
        property_ids: tuple[str, ...],
        term_start: datetime,
        term_end: datetime,
        fee_model: str,
        fee_standard: str,
        document_sha256: str,
    ) -> Contract:
        """Register a signed contract; the parties are organisations, never private persons."""
        contract_no = require_text("contract_no", contract_no, 100)
        if contract_no.startswith(CALENDAR_PREFIX):
            raise InvalidValue(f"contract_no may not start with {CALENDAR_PREFIX!r}")
        if require_aware("term_end", term_end) <= require_aware("term_start", term_start):
            raise InvalidValue("term_end must come after term_start")
        parse_money("fee_standard", fee_standard)
        return cls._create(
            cls.ServiceContractRegistered,
            id=stream_id("contract", contract_no),
            meta=meta,
            contract_no=contract_no,
            kind=require_choice("kind", kind, CONTRACT_KINDS),
            company=require_text("company", company, 200),
            counterparty=require_text("counterparty", counterparty, 200),
            property_ids=require_ids("property_ids", property_ids, at_least=1),
            term_start=term_start,
            term_end=term_end,
            fee_model=require_choice("fee_model", fee_model, FEE_MODELS),
            fee_standard=fee_standard,
            document_sha256=require_digest("document_sha256", document_sha256),
        )

    # -- clauses ---------------------------------------------------------------------------

    class ServiceLevelClauseDefined(LedgerAggregate.Event):
        clause_id: str
        version: int
        effective_from: datetime
        service_line: str
        metric: str
        target: str
        match_kinds: tuple[str, ...]
        match_emergency_only: bool
        calendar_id: str
        warn_at: tuple[str, ...]
        escalation_chain_id: str
        penalty_rule: str
        penalty_points: int
        penalty_amount: str
        pause_on: tuple[str, ...]
        requires_signer_position: str | None
        source_ref: str

    @event(ServiceLevelClauseDefined)
    def _clause_defined(
        self,
        meta: Meta,
        clause_id: str,
        version: int,
        effective_from: datetime,
        service_line: str,
        metric: str,
        target: str,
        match_kinds: tuple[str, ...],
        match_emergency_only: bool,
        calendar_id: str,
        warn_at: tuple[str, ...],
        escalation_chain_id: str,
        penalty_rule: str,
        penalty_points: int,
        penalty_amount: str,
        pause_on: tuple[str, ...],
        requires_signer_position: str | None,
        source_ref: str,
    ) -> None:
        self.clauses = self._with_version(locals())

    def define_clause(
        self, meta: Meta, clause_id: str, terms: ClauseTerms, effective_from: datetime | None = None
    ) -> None:
        """Add clause version 1, in force from the contract's start unless said otherwise."""
        clause_id = require_text("clause_id", clause_id, 100)
        if clause_id in self.clauses:
            raise AlreadyExists(f"clause {clause_id!r} is already defined in {self.contract_no}")
        start = self.term_start if effective_from is None else self._within_term(effective_from)
        self._clause_defined(meta, clause_id, 1, start, **terms.validated())

    class ServiceLevelClauseRevised(LedgerAggregate.Event):
        clause_id: str
        version: int
        effective_from: datetime
        service_line: str
        metric: str
        target: str
        match_kinds: tuple[str, ...]
        match_emergency_only: bool
        calendar_id: str
        warn_at: tuple[str, ...]
        escalation_chain_id: str
        penalty_rule: str
        penalty_points: int
        penalty_amount: str
        pause_on: tuple[str, ...]
        requires_signer_position: str | None
        source_ref: str

    @event(ServiceLevelClauseRevised)
    def _clause_revised(
        self,
        meta: Meta,
        clause_id: str,
        version: int,
        effective_from: datetime,
        service_line: str,
        metric: str,
        target: str,
        match_kinds: tuple[str, ...],
        match_emergency_only: bool,
        calendar_id: str,
        warn_at: tuple[str, ...],
        escalation_chain_id: str,
        penalty_rule: str,
        penalty_points: int,
        penalty_amount: str,
        pause_on: tuple[str, ...],
        requires_signer_position: str | None,
        source_ref: str,
    ) -> None:
        self.clauses = self._with_version(locals())

    def revise_clause(
        self, meta: Meta, clause_id: str, effective_from: datetime, terms: ClauseTerms
    ) -> None:
        """A new version from `effective_from` on; never retroactive, never a no-op."""
        latest = self._versions(clause_id)[-1]
        self._within_term(effective_from)
        if effective_from <= latest["effective_from"]:
            raise InvalidValue(
                f"version {latest['version'] + 1} must take effect after version "
                f"{latest['version']} ({latest['effective_from'].isoformat()})"
            )
        if effective_from < meta.occurred_at:
            raise InvalidValue("a revision cannot take effect before it is made")
        new_terms = terms.validated()
        if all(latest[name] == value for name, value in new_terms.items()):
            raise InvalidValue("a revision must change at least one term")
        self._clause_revised(meta, clause_id, latest["version"] + 1, effective_from, **new_terms)

    def clause_at(self, clause_id: str, at: datetime) -> dict[str, Any] | None:
        """The version of a clause in force at `at` (for the SLA engine), None before version 1."""
        require_aware("at", at)
        in_force = [v for v in self._versions(clause_id) if v["effective_from"] <= at]
        return dict(in_force[-1]) if in_force else None

    def _versions(self, clause_id: str) -> tuple[dict[str, Any], ...]:
        if clause_id not in self.clauses:
            raise NotFound(f"no clause {clause_id!r} in contract {self.contract_no}")
        return self.clauses[clause_id]

    def _within_term(self, at: datetime) -> datetime:
        if not self.term_start <= require_aware("effective_from", at) < self.term_end:
            raise InvalidValue("effective_from must fall within the contract term")
        return at

    def _with_version(self, values: dict[str, Any]) -> dict[str, tuple[dict[str, Any], ...]]:
        """The clause map with one more version (shared by both clause mutators)."""
        version = {name: values[name] for name in CLAUSE_FIELDS}
        earlier = self.clauses.get(version["clause_id"], ())
        return {**self.clauses, version["clause_id"]: (*earlier, version)}


class RecurringCreated(LedgerAggregate.Created):
    """A "created" event type that may occur again later in its own stream.

    Republishing a work rule or a calendar is the same event type with the next version, and
    event types are unique by name; the library lets a created event only start a stream, so a
    later occurrence is applied through the aggregate's `_published` (the body `__init__` uses).
    """

    def mutate(self, aggregate: Any) -> Any:
        if aggregate is None:
            return super().mutate(None)
        CanMutateAggregate.mutate(self, aggregate)
        aggregate._published(**filter_kwargs_for_method_params(vars(self), aggregate._published))
        return aggregate


def recur(aggregate: LedgerAggregate, event_class: type[RecurringCreated], **kwargs: Any) -> None:
    """Trigger the next occurrence of a recurring created event on an existing aggregate."""
    aggregate.trigger_event(event_class, originator_topic=get_topic(type(aggregate)), **kwargs)


def _iso_date(name: str, value: str) -> date:
    try:
        if _DATE.fullmatch(value):
            return date.fromisoformat(value)
    except ValueError:
        pass
    raise InvalidValue(f"{name} must be ISO dates like 2026-10-01; got {value!r}")


def _iso_dates(name: str, values: tuple[str, ...]) -> tuple[date, ...]:
    """Distinct ISO dates (YYYY-MM-DD), sorted."""
    return tuple(sorted(_iso_date(name, v) for v in require_ids(name, values, at_least=0)))


def _require_tz(tz: str) -> str:
    try:
        ZoneInfo(require_text("tz", tz, 64))
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidValue(f"tz must be an IANA time zone like {DEFAULT_TZ}; got {tz!r}") from None
    return tz


def _require_hours(mode: str, weekly_hours: str) -> str:
    """Working spans of a working day, e.g. "09:00-12:00,13:30-18:00"; none for 24x7."""
    if mode == "24x7":
        if weekly_hours:
            raise InvalidValue("a 24x7 calendar has no weekly_hours")
        return weekly_hours
    spans = weekly_hours.split(",") if isinstance(weekly_hours, str) else [""]
    matches = [_SPAN.fullmatch(span) for span in spans]
    bounds = [int(m[i]) * 60 + int(m[i + 1]) for m in matches if m for i in (1, 3)]
    if None in matches or bounds != sorted(set(bounds)) or bounds[-1] > 24 * 60:
        raise InvalidValue(f"weekly_hours must be spans like 09:00-18:00; got {weekly_hours!r}")
    return weekly_hours


def calendar_fields(
    tz: str,
    mode: str,
    weekly_hours: str,
    holidays: tuple[str, ...],
    makeup_workdays: tuple[str, ...],
    source: str,
) -> dict[str, Any]:
    """The validated body of one calendar publication.

    Working days are Monday to Friday, minus `holidays`, plus `makeup_workdays` (调休), which
    are therefore weekend days that are not also holidays.
    """
    off = _iso_dates("holidays", holidays)
    makeup = _iso_dates("makeup_workdays", makeup_workdays)
    if set(off) & set(makeup):
        raise InvalidValue("a day cannot be both a holiday and a make-up workday")
    if any(day.weekday() < 5 for day in makeup):
        raise InvalidValue("make-up workdays (调休) must fall on a Saturday or Sunday")
    return {
        "tz": _require_tz(tz),
        "mode": require_choice("mode", mode, CALENDAR_MODES),
        "weekly_hours": _require_hours(mode, weekly_hours),
        "holidays": tuple(day.isoformat() for day in off),
        "makeup_workdays": tuple(day.isoformat() for day in makeup),
        "source": require_text("source", source, 200),
    }


class BusinessCalendar(LedgerAggregate):
    """Working time for SLA clocks, republished as a new version when the year's holidays change."""

    class BusinessCalendarPublished(RecurringCreated):
        calendar_id: str
        version: int
        tz: str
        mode: str
        weekly_hours: str
        holidays: tuple[str, ...]
        makeup_workdays: tuple[str, ...]
        source: str

    @event(BusinessCalendarPublished)
    def __init__(
        self,
        meta: Meta,
        calendar_id: str,
        version: int,
        tz: str,
        mode: str,
        weekly_hours: str,
        holidays: tuple[str, ...],
        makeup_workdays: tuple[str, ...],
        source: str,
    ) -> None:
        self._published(
            meta, calendar_id, version, tz, mode, weekly_hours, holidays, makeup_workdays, source
        )

    def _published(
        self,
        meta: Meta,
        calendar_id: str,
        version: int,
        tz: str,
        mode: str,
        weekly_hours: str,
        holidays: tuple[str, ...],
        makeup_workdays: tuple[str, ...],
        source: str,
    ) -> None:
        self.calendar_id = calendar_id
        self.calendar_version = version
        self.tz = tz
        self.mode = mode
        self.weekly_hours = weekly_hours
        self.holidays = holidays
        self.makeup_workdays = makeup_workdays
        self.source = source

    @classmethod
    def publish(cls, meta: Meta, calendar_id: str, body: dict[str, Any]) -> BusinessCalendar:
        """Version 1 of a calendar; `body` comes from `calendar_fields`."""
        calendar_id = require_text("calendar_id", calendar_id, 100)
        return cls._create(
            cls.BusinessCalendarPublished,
            id=stream_id("contract", calendar_key(calendar_id)),
            meta=meta,
            calendar_id=calendar_id,
            version=1,
            **body,
        )

    def republish(self, meta: Meta, body: dict[str, Any]) -> None:
        """The next version; publishing the same calendar again is refused."""
        if all(getattr(self, name) == value for name, value in body.items()):
            raise InvalidValue(f"calendar {self.calendar_id} v{self.calendar_version} is unchanged")
        recur(
            self,
            self.BusinessCalendarPublished,
            meta=meta,
            calendar_id=self.calendar_id,
            version=self.calendar_version + 1,
            **body,
        )
