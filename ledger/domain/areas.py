"""Responsibility (责任到人): areas and who answers for them, escalation chains, org units.

Who answered for an area × service line is read from the assignment history as of the moment
asked about, never from today's holder: a breach or finding is charged to the person who held
the line then. Every check lives in a public command; the `@event` mutators only assign.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from eventsourcing.domain import event

from ledger.domain.base import LedgerAggregate, require_choice, require_text
from ledger.domain.contracts import SERVICE_LINES, parse_duration
from ledger.domain.inspections import require_aware
from ledger.domain.penalties import require_ids
from ledger.domain.staff import POSITIONS
from ledger.envelope import Meta
from ledger.errors import IllegalTransition, InvalidValue, NotResponsible
from ledger.ids import stream_id

AREA_KINDS = ("building", "floor", "public_area", "asset_class", "grid")
ORG_UNIT_KINDS = ("department", "project_office", "team", "performance_supervision")
ESCALATION_ROLES = ("executor", "responsible", *POSITIONS)
MAX_LEVELS = 10

Holding = tuple[str, datetime, datetime | None]  # (responsible_id, from, to — None while held)


class Area(LedgerAggregate):
    """A zone or grid (网格) and, per service line, the history of who answered for it."""

    class ResponsibilityAreaDefined(LedgerAggregate.Created):
        area_id: str
        property_id: str
        name: str
        kind: str
        service_lines: tuple[str, ...]

    @event(ResponsibilityAreaDefined)
    def __init__(
        self,
        meta: Meta,
        area_id: str,
        property_id: str,
        name: str,
        kind: str,
        service_lines: tuple[str, ...],
    ) -> None:
        self.area_id = area_id
        self.property_id = property_id
        self.name = name
        self.kind = kind
        self.service_lines = service_lines
        self.holders: dict[str, dict[str, Any]] = {}
        self.history: dict[str, tuple[Holding, ...]] = {}

    @classmethod
    def define(
        cls,
        meta: Meta,
        area_id: str,
        property_id: str,
        name: str,
        kind: str,
        service_lines: tuple[str, ...],
    ) -> Area:
        """Define an area; its name is a place name (楼栋, 楼层, 公共区域), never a person's."""
        for line in require_ids("service_lines", service_lines, at_least=1):
            require_choice("service_lines", line, SERVICE_LINES)
        area_id = require_text("area_id", area_id, 100)
        return cls._create(
            cls.ResponsibilityAreaDefined,
            id=stream_id("area", area_id),
            meta=meta,
            area_id=area_id,
            property_id=require_text("property_id", property_id, 100),
            name=require_text("name", name, 200),
            kind=require_choice("kind", kind, AREA_KINDS),
            service_lines=service_lines,
        )

    # -- assignment and acceptance -----------------------------------------------------------

    class ResponsibilityAssigned(LedgerAggregate.Event):
        service_line: str
        responsible_id: str
        deputy_id: str | None
        effective_from: datetime
        acceptance_signed: bool

    @event(ResponsibilityAssigned)
    def _assigned(
        self,
        meta: Meta,
        service_line: str,
        responsible_id: str,
        deputy_id: str | None,
        effective_from: datetime,
        acceptance_signed: bool,
    ) -> None:
        holder = {
            "responsible_id": responsible_id,
            "deputy_id": deputy_id,
            "effective_from": effective_from,
            "accepted": acceptance_signed,
        }
        self.holders = {**self.holders, service_line: holder}
        held = (responsible_id, effective_from, None)
        self.history = {**self.history, service_line: (*self.history.get(service_line, ()), held)}

    def assign(
        self,
        meta: Meta,
        service_line: str,
        responsible_id: str,
        deputy_id: str | None,
        effective_from: datetime,
    ) -> None:
        """Name who answers for a line; it is signed only if that person records it themselves."""
        self._check_assignee(service_line, responsible_id, deputy_id, effective_from)
        if service_line in self.holders:
            holder = self.holders[service_line]["responsible_id"]
            raise IllegalTransition(
                f"{holder} still answers for {service_line} in {self.area_id}; release or hand over"
            )
        signed = meta.actor.kind == "staff" and meta.actor.id == responsible_id
        self._assigned(meta, service_line, responsible_id, deputy_id, effective_from, signed)

    class ResponsibilityAccepted(LedgerAggregate.Event):
        service_line: str
        responsible_id: str

    @event(ResponsibilityAccepted)
    def _accepted(self, meta: Meta, service_line: str, responsible_id: str) -> None:
        accepted = {**self.holders[service_line], "accepted": True}
        self.holders = {**self.holders, service_line: accepted}

    def accept(self, meta: Meta, service_line: str) -> None:
        """The responsible person's acceptance signature; nobody may sign it for them."""
        holder = self._holder(service_line)
        person = holder["responsible_id"]
        if meta.actor.kind != "staff" or meta.actor.id != person:
            raise NotResponsible(f"only {person} may accept this responsibility")
        if holder["accepted"]:
            raise IllegalTransition(f"{person} has already accepted {service_line}")
        self._accepted(meta, service_line, person)

    # -- release and hand-over --------------------------------------------------------------

    class ResponsibilityReleased(LedgerAggregate.Event):
        service_line: str
        responsible_id: str
        reason: str
        successor_id: str | None
        effective_to: datetime

    @event(ResponsibilityReleased)
    def _released(
        self,
        meta: Meta,
        service_line: str,
        responsible_id: str,
        reason: str,
        successor_id: str | None,
        effective_to: datetime,
    ) -> None:
        self.holders = {k: v for k, v in self.holders.items() if k != service_line}
        *earlier, (holder, start, _) = self.history[service_line]
        self.history = {**self.history, service_line: (*earlier, (holder, start, effective_to))}

    def release(
        self,
        meta: Meta,
        service_line: str,
        reason: str,
        successor_id: str | None,
        effective_to: datetime,
    ) -> None:
        """End the holder's responsibility at `effective_to`; a successor named here is a note."""
        holder = self._check_release(service_line, successor_id, effective_to)
        reason = require_text("reason", reason, 500)
        self._released(meta, service_line, holder, reason, successor_id, effective_to)

    def hand_over(
        self,
        meta: Meta,
        service_line: str,
        successor_id: str,
        deputy_id: str | None,
        reason: str,
        effective_at: datetime,
    ) -> None:
        """Release the holder and assign the successor at one instant (two events, one save)."""
        holder = self._check_release(service_line, successor_id, effective_at)
        self._check_assignee(service_line, successor_id, deputy_id, effective_at)
        reason = require_text("reason", reason, 500)
        self._released(meta, service_line, holder, reason, successor_id, effective_at)
        signed = meta.actor.kind == "staff" and meta.actor.id == successor_id
        self._assigned(meta, service_line, successor_id, deputy_id, effective_at, signed)

    # -- queries and checks -----------------------------------------------------------------

    def responsible_at(self, service_line: str, at: datetime) -> str | None:
        """Who answered for the line at `at`, from the history (periods are [from, to))."""
        require_aware("at", at)
        for person, start, end in self.history.get(service_line, ()):
            if start <= at and (end is None or at < end):
                return person
        return None

    def _holder(self, service_line: str) -> dict[str, Any]:
        require_choice("service_line", service_line, self.service_lines)
        if service_line not in self.holders:
            raise IllegalTransition(f"nobody answers for {service_line} in {self.area_id}")
        return self.holders[service_line]

    def _check_release(self, service_line: str, successor_id: str | None, at: datetime) -> str:
        holder = self._holder(service_line)
        if require_aware("effective time", at) <= holder["effective_from"]:
            raise InvalidValue("a responsibility must end after it began")
        if successor_id == holder["responsible_id"]:
            raise InvalidValue("the successor must be someone other than the current holder")
        return str(holder["responsible_id"])

    def _check_assignee(
        self, service_line: str, responsible_id: str, deputy_id: str | None, start: datetime
    ) -> None:
        require_choice("service_line", service_line, self.service_lines)
        require_text("responsible_id", responsible_id, 100)
        if deputy_id is not None and require_text("deputy_id", deputy_id, 100) == responsible_id:
            raise InvalidValue("the deputy must be someone other than the responsible person")
        require_aware("effective_from", start)
        history = self.history.get(service_line, ())
        ended = history[-1][2] if history else None
        if ended is not None and start < ended:
            raise InvalidValue(f"effective_from overlaps the previous holder's period (to {ended})")


def parse_levels(levels: tuple[str, ...]) -> tuple[tuple[str, timedelta], ...]:
    """Levels "role_or_person:delay" (e.g. "site_supervisor:PT15M"), delays non-decreasing."""
    if not isinstance(levels, tuple) or not 1 <= len(levels) <= MAX_LEVELS:
        raise InvalidValue(f"levels must be a tuple of 1 to {MAX_LEVELS} entries")
    parsed = []
    for level in levels:
        who, colon, delay = level.rpartition(":") if isinstance(level, str) else ("", "", "")
        if not colon or not who.strip():
            raise InvalidValue(f"a level must read 'role_or_person:delay'; got {level!r}")
        parsed.append((require_text("level", who, 100), parse_duration("delay", delay)))
    if [d for _, d in parsed] != sorted(d for _, d in parsed):
        raise InvalidValue("escalation delays must not decrease along the chain")
    if len({who for who, _ in parsed}) != len(parsed):
        raise InvalidValue("a role or person may appear only once in a chain")
    return tuple(parsed)


def named_persons(levels: tuple[str, ...]) -> tuple[str, ...]:
    """The levels that name a person rather than a role (they must be active staff)."""
    return tuple(who for who, _ in parse_levels(levels) if who not in ESCALATION_ROLES)


class EscalationChain(LedgerAggregate):
    """Executor → supervisor → project manager → 履约监督部 → leadership, with delays."""

    class EscalationChainDefined(LedgerAggregate.Created):
        chain_id: str
        property_id: str
        levels: tuple[str, ...]

    @event(EscalationChainDefined)
    def __init__(
        self, meta: Meta, chain_id: str, property_id: str, levels: tuple[str, ...]
    ) -> None:
        self.chain_id = chain_id
        self.property_id = property_id
        self.levels = levels
        self.chain_version = 1

    @classmethod
    def define(
        cls, meta: Meta, chain_id: str, property_id: str, levels: tuple[str, ...]
    ) -> EscalationChain:
        """Version 1 of a chain for one property."""
        parse_levels(levels)
        chain_id = require_text("chain_id", chain_id, 100)
        return cls._create(
            cls.EscalationChainDefined,
            id=stream_id("escalation_chain", chain_id),
            meta=meta,
            chain_id=chain_id,
            property_id=require_text("property_id", property_id, 100),
            levels=levels,
        )

    class EscalationChainRevised(LedgerAggregate.Event):
        version: int
        levels: tuple[str, ...]

    @event(EscalationChainRevised)
    def _revised(self, meta: Meta, version: int, levels: tuple[str, ...]) -> None:
        self.chain_version = version
        self.levels = levels

    def revise(self, meta: Meta, levels: tuple[str, ...]) -> None:
        """The next version of the levels; clocks already running keep the version they pinned."""
        parse_levels(levels)
        if levels == self.levels:
            raise InvalidValue(f"chain {self.chain_id} already has these levels")
        self._revised(meta, self.chain_version + 1, levels)


class OrgUnit(LedgerAggregate):
    """A department, project office, team or the 履约监督部 (performance supervision)."""

    class OrgUnitCreated(LedgerAggregate.Created):
        unit_id: str
        name: str
        kind: str
        parent_id: str | None

    @event(OrgUnitCreated)
    def __init__(
        self, meta: Meta, unit_id: str, name: str, kind: str, parent_id: str | None
    ) -> None:
        self.unit_id = unit_id
        self.name = name
        self.kind = kind
        self.parent_id = parent_id

    @classmethod
    def create(
        cls, meta: Meta, unit_id: str, name: str, kind: str, parent_id: str | None
    ) -> OrgUnit:
        """Create a unit; the caller has checked that the parent exists."""
        unit_id = require_text("unit_id", unit_id, 100)
        return cls._create(
            cls.OrgUnitCreated,
            id=stream_id("org_unit", unit_id),
            meta=meta,
            unit_id=unit_id,
            name=require_text("name", name, 200),
            kind=require_choice("kind", kind, ORG_UNIT_KINDS),
            parent_id=parent_id,
        )
