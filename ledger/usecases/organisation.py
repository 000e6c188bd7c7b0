"""Use cases for the organisation: units, responsibility areas, escalation chains, work rules."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from ledger.application import Acting, CommandResult, LedgerCore
from ledger.domain.areas import Area, EscalationChain, OrgUnit, named_persons
from ledger.domain.base import LedgerAggregate
from ledger.domain.work_rules import WorkRule
from ledger.envelope import CommandContext, Meta
from ledger.errors import ActorNotActive, NotFound

A = TypeVar("A", bound=LedgerAggregate)

MANAGING_ACTORS = ("staff", "admin")


def require_manager(ctx: CommandContext) -> None:
    """The organisation and its contracts are set up by staff or an administrator only."""
    if ctx.actor_kind not in MANAGING_ACTORS:
        raise ActorNotActive(f"an actor of kind {ctx.actor_kind!r} cannot change the organisation")


class OrganisationUseCases(LedgerCore):
    """Create units and areas, assign and hand over responsibility, define chains and rules."""

    def responsible_for(self, area_id: str, service_line: str, at: datetime) -> str | None:
        """Who answered for area × service line at `at`, from the area's history."""
        try:
            area = self.load(Area, "area", area_id)
        except NotFound:
            return None
        return area.responsible_at(service_line, at)

    def _on(
        self,
        ctx: CommandContext,
        command: str,
        args: dict[str, Any],
        target: tuple[type[A], str, str],
        step: Callable[[A, Meta], None],
    ) -> CommandResult:
        """The common shape of every command on an existing aggregate (cls, kind, key)."""

        def act(a: Acting) -> list[LedgerAggregate]:
            aggregate = self.load(*target)
            step(aggregate, a.meta(getattr(aggregate, "property_id", None)))
            return [aggregate]

        return self.run(ctx, command, args, act)

    def _new(
        self,
        ctx: CommandContext,
        command: str,
        args: dict[str, Any],
        stream: tuple[str, str],
        create: Callable[[Acting], A],
    ) -> CommandResult:
        """The common shape of every create command: managers only, never over an existing id."""

        def act(a: Acting) -> list[LedgerAggregate]:
            require_manager(ctx)
            self.require_new(*stream, f"{stream[0].replace('_', ' ')} {stream[1]!r} already exists")
            return [create(a)]

        return self.run(ctx, command, args, act)

    # -- org units and areas ---------------------------------------------------------------

    def create_org_unit(
        self, ctx: CommandContext, unit_id: str, name: str, kind: str, parent_id: str | None = None
    ) -> CommandResult:
        def create(a: Acting) -> OrgUnit:
            if parent_id is not None:
                self.load(OrgUnit, "org_unit", parent_id)
            return OrgUnit.create(a.meta(None), unit_id, name, kind, parent_id)

        return self._new(ctx, "create_org_unit", locals(), ("org_unit", unit_id), create)

    def define_area(
        self,
        ctx: CommandContext,
        area_id: str,
        property_id: str,
        name: str,
        kind: str,
        service_lines: tuple[str, ...],
    ) -> CommandResult:
        def create(a: Acting) -> Area:
            return Area.define(a.meta(property_id), area_id, property_id, name, kind, service_lines)

        return self._new(ctx, "define_area", locals(), ("area", area_id), create)

    # -- responsibility --------------------------------------------------------------------

    def assign_responsibility(
        self,
        ctx: CommandContext,
        area_id: str,
        service_line: str,
        responsible_id: str,
        deputy_id: str | None = None,
        effective_from: datetime | None = None,
    ) -> CommandResult:
        def step(area: Area, meta: Meta) -> None:
            require_manager(ctx)
            self._require_staff(responsible_id, deputy_id)
            start = effective_from or ctx.occurred_at
            area.assign(meta, service_line, responsible_id, deputy_id, start)

        return self._on(ctx, "assign_responsibility", locals(), (Area, "area", area_id), step)

    def accept_responsibility(
        self, ctx: CommandContext, area_id: str, service_line: str
    ) -> CommandResult:
        def step(area: Area, meta: Meta) -> None:
            area.accept(meta, service_line)

        return self._on(ctx, "accept_responsibility", locals(), (Area, "area", area_id), step)

    def release_responsibility(
        self,
        ctx: CommandContext,
        area_id: str,
        service_line: str,
        reason: str,
        successor_id: str | None = None,
        effective_to: datetime | None = None,
    ) -> CommandResult:
        def step(area: Area, meta: Meta) -> None:
            require_manager(ctx)
            self._require_staff(successor_id)
            end = effective_to or ctx.occurred_at
            area.release(meta, service_line, reason, successor_id, end)

        return self._on(ctx, "release_responsibility", locals(), (Area, "area", area_id), step)

    def hand_over_responsibility(
        self,
        ctx: CommandContext,
        area_id: str,
        service_line: str,
        successor_id: str,
        reason: str,
        deputy_id: str | None = None,
        effective_at: datetime | None = None,
    ) -> CommandResult:
        def step(area: Area, meta: Meta) -> None:
            require_manager(ctx)
            self._require_staff(successor_id, deputy_id)
            at = effective_at or ctx.occurred_at
            area.hand_over(meta, service_line, successor_id, deputy_id, reason, at)

        return self._on(ctx, "hand_over_responsibility", locals(), (Area, "area", area_id), step)

    def _require_staff(self, *person_ids: str | None) -> None:
        for person_id in person_ids:
            if person_id is not None:
                self.active_staff(person_id)

    # -- escalation chains -----------------------------------------------------------------

    def define_escalation_chain(
        self, ctx: CommandContext, chain_id: str, property_id: str, levels: tuple[str, ...]
    ) -> CommandResult:
        def create(a: Acting) -> EscalationChain:
            self._require_staff(*named_persons(levels))
            return EscalationChain.define(a.meta(property_id), chain_id, property_id, levels)

        return self._new(
            ctx, "define_escalation_chain", locals(), ("escalation_chain", chain_id), create
        )

    def revise_escalation_chain(
        self, ctx: CommandContext, chain_id: str, levels: tuple[str, ...]
    ) -> CommandResult:
        def step(chain: EscalationChain, meta: Meta) -> None:
            require_manager(ctx)
            self._require_staff(*named_persons(levels))
            chain.revise(meta, levels)

        return self._on(
            ctx,
            "revise_escalation_chain",
            locals(),
            (EscalationChain, "escalation_chain", chain_id),
            step,
        )

    # -- work rules ------------------------------------------------------------------------

    def publish_work_rule(
        self,
        ctx: CommandContext,
        rule_id: str,
        title: str,
        document_sha256: str,
        procedure_ref: str,
        effective_from: datetime,
    ) -> CommandResult:
        def create(a: Acting) -> WorkRule:
            meta = a.meta(None)
            return WorkRule.publish(
                meta, rule_id, title, document_sha256, procedure_ref, effective_from
            )

        return self._new(ctx, "publish_work_rule", locals(), ("work_rule", rule_id), create)

    def revise_work_rule(
        self,
        ctx: CommandContext,
        rule_id: str,
        title: str,
        document_sha256: str,
        procedure_ref: str,
        effective_from: datetime,
    ) -> CommandResult:
        def step(rule: WorkRule, meta: Meta) -> None:
            require_manager(ctx)
            rule.revise(meta, title, document_sha256, procedure_ref, effective_from)

        return self._on(ctx, "revise_work_rule", locals(), (WorkRule, "work_rule", rule_id), step)

    def acknowledge_work_rule(
        self, ctx: CommandContext, rule_id: str, person_id: str, version: int
    ) -> CommandResult:
        def step(rule: WorkRule, meta: Meta) -> None:
            self.active_staff(person_id)
            rule.acknowledge(meta, person_id, version)

        return self._on(
            ctx, "acknowledge_work_rule", locals(), (WorkRule, "work_rule", rule_id), step
        )
