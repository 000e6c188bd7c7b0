"""Use cases for accountability: penalty cases with their appeal path, rewards, period closures."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from ledger.application import Acting, CommandResult, LedgerCore
from ledger.domain.base import LedgerAggregate
from ledger.domain.penalties import PenaltyCase
from ledger.domain.periods import PerformancePeriod, period_key
from ledger.domain.rewards import Reward
from ledger.envelope import CommandContext, Meta


class AccountabilityUseCases(LedgerCore):
    """Propose, notify, appeal, rule, confirm and revoke penalties; grant rewards; close periods."""

    def propose_penalty(
        self,
        ctx: CommandContext,
        case_id: str,
        property_id: str,
        subject_id: str,
        rule_id: str,
        rule_version: int,
        clause: str,
        points: int,
        amount: str,
        monthly_wage: str,
        minimum_wage: str,
        basis_event_ids: tuple[str, ...],
        reason: str,
    ) -> CommandResult:
        def act(a: Acting) -> list[LedgerAggregate]:
            self.require_new("penalty", case_id, f"penalty case {case_id!r} already exists")
            self.active_staff(subject_id)
            case = PenaltyCase.propose(
                a.meta(property_id), case_id, property_id, subject_id, rule_id, rule_version,
                clause, points, amount, monthly_wage, minimum_wage, tuple(basis_event_ids), reason,
            )
            return [case]

        return self.run(ctx, "propose_penalty", locals(), act)

    def _on_case(
        self,
        ctx: CommandContext,
        command: str,
        args: dict[str, Any],
        step: Callable[[PenaltyCase, Meta], None],
    ) -> CommandResult:
        """The common shape of every command on an existing penalty case."""

        def act(a: Acting) -> list[LedgerAggregate]:
            case = self.load(PenaltyCase, "penalty", args["case_id"])
            step(case, a.meta(case.property_id))
            return [case]

        return self.run(ctx, command, args, act)

    def notify_penalty(
        self,
        ctx: CommandContext,
        case_id: str,
        method: str,
        acknowledged: bool,
        appeal_deadline: datetime,
        witness_id: str | None = None,
    ) -> CommandResult:
        def step(case: PenaltyCase, meta: Meta) -> None:
            if witness_id is not None:
                self.active_staff(witness_id)
            case.notify(meta, method, acknowledged, witness_id, appeal_deadline)

        return self._on_case(ctx, "notify_penalty", locals(), step)

    def file_appeal(self, ctx: CommandContext, case_id: str, grounds: str) -> CommandResult:
        return self._on_case(ctx, "file_appeal", locals(), lambda c, m: c.file_appeal(m, grounds))

    def rule_appeal(
        self,
        ctx: CommandContext,
        case_id: str,
        decision: str,
        reasoning: str,
        panel_ids: tuple[str, ...],
        reduced_points: int | None = None,
        reduced_amount: str | None = None,
    ) -> CommandResult:
        def step(case: PenaltyCase, meta: Meta) -> None:
            panel = tuple(panel_ids)
            for member in panel:
                self.active_staff(member)
            case.rule(meta, decision, reasoning, panel, reduced_points, reduced_amount)

        return self._on_case(ctx, "rule_appeal", locals(), step)

    def confirm_penalty(self, ctx: CommandContext, case_id: str) -> CommandResult:
        return self._on_case(ctx, "confirm_penalty", locals(), lambda c, m: c.confirm(m))

    def revoke_penalty(self, ctx: CommandContext, case_id: str, reason: str) -> CommandResult:
        return self._on_case(ctx, "revoke_penalty", locals(), lambda c, m: c.revoke(m, reason))

    def grant_reward(
        self,
        ctx: CommandContext,
        reward_id: str,
        property_id: str,
        person_id: str,
        kind: str,
        basis_event_ids: tuple[str, ...],
        points: int,
        amount: str,
        reason: str,
    ) -> CommandResult:
        def act(a: Acting) -> list[LedgerAggregate]:
            self.require_new("reward", reward_id, f"reward {reward_id!r} already exists")
            self.active_staff(person_id)
            reward = Reward.grant(
                a.meta(property_id), reward_id, property_id, person_id, kind,
                tuple(basis_event_ids), points, amount, reason,
            )
            return [reward]

        return self.run(ctx, "grant_reward", locals(), act)

    def close_performance_period(
        self,
        ctx: CommandContext,
        property_id: str,
        period: str,
        formula_version: str,
        log_position: int,
        inputs_sha256: str,
        scores: tuple[str, ...],
    ) -> CommandResult:
        def act(a: Acting) -> list[LedgerAggregate]:
            self.require_new(
                "performance_period", period_key(property_id, period),
                f"period {period} of {property_id} is already closed",
            )
            closed = PerformancePeriod.close(
                a.meta(property_id), property_id, period, formula_version, log_position,
                inputs_sha256, tuple(scores),
            )
            return [closed]

        return self.run(ctx, "close_performance_period", locals(), act)
