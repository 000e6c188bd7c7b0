"""Use cases for service contracts, their service-level clauses and business calendars."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from ledger.application import Acting, CommandResult, LedgerCore
from ledger.domain.areas import EscalationChain
from ledger.domain.base import LedgerAggregate
from ledger.domain.contracts import (
    DEFAULT_TZ,
    TERM_NAMES,
    BusinessCalendar,
    ClauseTerms,
    Contract,
    calendar_fields,
    calendar_key,
)
from ledger.envelope import CommandContext, Meta
from ledger.errors import InvalidValue, NotFound
from ledger.usecases.organisation import require_manager


class ContractUseCases(LedgerCore):
    """Register contracts, define and revise their clauses, publish business calendars."""

    def register_contract(
        self,
        ctx: CommandContext,
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
    ) -> CommandResult:
        def act(a: Acting) -> list[LedgerAggregate]:
            require_manager(ctx)
            self.require_new("contract", contract_no, f"contract {contract_no!r} already exists")
            first = property_ids[0] if property_ids else None
            contract = Contract.register(
                a.meta(first), contract_no, kind, company, counterparty, property_ids,
                term_start, term_end, fee_model, fee_standard, document_sha256,
            )  # fmt: skip
            return [contract]

        return self.run(ctx, "register_contract", locals(), act)

    def define_clause(
        self,
        ctx: CommandContext,
        contract_no: str,
        clause_id: str,
        service_line: str,
        metric: str,
        target: str,
        calendar_id: str,
        escalation_chain_id: str,
        penalty_rule: str,
        source_ref: str,
        match_kinds: tuple[str, ...] = (),
        match_emergency_only: bool = False,
        warn_at: tuple[str, ...] = ("50", "75"),
        penalty_points: int = 0,
        penalty_amount: str = "0.00",
        pause_on: tuple[str, ...] = (),
        requires_signer_position: str | None = None,
        effective_from: datetime | None = None,
    ) -> CommandResult:
        """Version 1 of a clause; `effective_from` defaults to the contract's start."""

        def step(contract: Contract, meta: Meta, terms: ClauseTerms) -> None:
            contract.define_clause(meta, clause_id, terms, effective_from)

        return self._on_clause(ctx, "define_clause", locals(), step)

    def revise_clause(
        self,
        ctx: CommandContext,
        contract_no: str,
        clause_id: str,
        effective_from: datetime,
        service_line: str,
        metric: str,
        target: str,
        calendar_id: str,
        escalation_chain_id: str,
        penalty_rule: str,
        source_ref: str,
        match_kinds: tuple[str, ...] = (),
        match_emergency_only: bool = False,
        warn_at: tuple[str, ...] = ("50", "75"),
        penalty_points: int = 0,
        penalty_amount: str = "0.00",
        pause_on: tuple[str, ...] = (),
        requires_signer_position: str | None = None,
    ) -> CommandResult:
        """The next version of a clause, in force from `effective_from` (all terms restated)."""

        def step(contract: Contract, meta: Meta, terms: ClauseTerms) -> None:
            contract.revise_clause(meta, clause_id, effective_from, terms)

        return self._on_clause(ctx, "revise_clause", locals(), step)

    def _on_clause(
        self,
        ctx: CommandContext,
        command: str,
        args: dict[str, Any],
        step: Callable[[Contract, Meta, ClauseTerms], None],
    ) -> CommandResult:
        """Load the contract, check the terms and what they refer to, then define or revise."""

        def act(a: Acting) -> list[LedgerAggregate]:
            require_manager(ctx)
            contract = self.load(Contract, "contract", args["contract_no"])
            terms = ClauseTerms(**{name: args[name] for name in TERM_NAMES})
            self._check_references(contract, terms)
            step(contract, a.meta(contract.property_ids[0]), terms)
            return [contract]

        return self.run(ctx, command, args, act)

    def _check_references(self, contract: Contract, terms: ClauseTerms) -> None:
        """The calendar and the escalation chain exist, and the chain serves this contract."""
        if not self.exists("contract", calendar_key(terms.calendar_id)):
            raise NotFound(f"no business calendar {terms.calendar_id!r}")
        chain = self.load(EscalationChain, "escalation_chain", terms.escalation_chain_id)
        if chain.property_id not in contract.property_ids:
            raise InvalidValue(
                f"escalation chain {chain.chain_id} belongs to {chain.property_id}, "
                f"which contract {contract.contract_no} does not cover"
            )

    def publish_calendar(
        self,
        ctx: CommandContext,
        calendar_id: str,
        mode: str,
        weekly_hours: str,
        holidays: tuple[str, ...],
        makeup_workdays: tuple[str, ...],
        source: str,
        tz: str = DEFAULT_TZ,
    ) -> CommandResult:
        """Publish a calendar, or its next version if it already exists."""

        def act(a: Acting) -> list[LedgerAggregate]:
            require_manager(ctx)
            body = calendar_fields(tz, mode, weekly_hours, holidays, makeup_workdays, source)
            if not self.exists("contract", calendar_key(calendar_id)):
                return [BusinessCalendar.publish(a.meta(None), calendar_id, body)]
            calendar = self.load(BusinessCalendar, "contract", calendar_key(calendar_id))
            calendar.republish(a.meta(None), body)
            return [calendar]

        return self.run(ctx, "publish_calendar", locals(), act)
