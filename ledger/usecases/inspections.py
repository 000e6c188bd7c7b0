"""Use cases for checklists, inspection plans and rounds, findings and corrective actions."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ledger.application import Acting, CommandResult, LedgerCore, require_staff_actor
from ledger.domain.base import LedgerAggregate
from ledger.domain.corrective_actions import CorrectiveAction
from ledger.domain.inspections import (
    Checklist,
    ChecklistItem,
    InspectionPlan,
    InspectionRound,
    round_key,
)
from ledger.envelope import CommandContext, Meta
from ledger.errors import InvalidValue


class InspectionUseCases(LedgerCore):
    """Publish checklists, schedule plans, walk rounds, raise findings, close the loop."""

    if TYPE_CHECKING:
        # Provided by the application (the areas mixin reads the responsibility history).
        def responsible_for(self, area_id: str, service_line: str, at: datetime) -> str | None: ...

    # -- checklists and plans ------------------------------------------------------------

    def publish_checklist(
        self, ctx: CommandContext, checklist_id: str, title: str, service_line: str,
        items: tuple[str, ...],
    ) -> CommandResult:
        def act(a: Acting) -> list[LedgerAggregate]:
            self.require_new(
                "checklist", checklist_id, f"checklist {checklist_id!r} already exists"
            )
            meta = a.meta(None)
            return [Checklist.publish(meta, checklist_id, title, service_line, tuple(items))]

        return self.run(ctx, "publish_checklist", locals(), act)

    def revise_checklist(
        self, ctx: CommandContext, checklist_id: str, title: str, items: tuple[str, ...]
    ) -> CommandResult:
        def act(a: Acting) -> list[LedgerAggregate]:
            checklist = self.load(Checklist, "checklist", checklist_id)
            checklist.revise(a.meta(None), title, tuple(items))
            return [checklist]

        return self.run(ctx, "revise_checklist", locals(), act)

    def schedule_inspection_plan(
        self,
        ctx: CommandContext,
        plan_id: str,
        property_id: str,
        area_id: str,
        checklist_id: str,
        checklist_version: int,
        checkpoints: tuple[str, ...],
        frequency: str,
        window_start: datetime,
        assignee_ids: tuple[str, ...],
        requires_signer_position: str | None = None,
    ) -> CommandResult:
        def act(a: Acting) -> list[LedgerAggregate]:
            self.require_new(
                "inspection_plan", plan_id, f"inspection plan {plan_id!r} already exists"
            )
            checklist = self.load(Checklist, "checklist", checklist_id)
            for person in assignee_ids:
                self.active_staff(person)
            plan = InspectionPlan.schedule(
                a.meta(property_id), plan_id, property_id, area_id, checklist, checklist_version,
                tuple(checkpoints), frequency, window_start, tuple(assignee_ids),
                requires_signer_position,
            )
            return [plan]

        return self.run(ctx, "schedule_inspection_plan", locals(), act)

    # -- rounds --------------------------------------------------------------------------

    def start_inspection_round(
        self, ctx: CommandContext, plan_id: str, window_start: datetime
    ) -> CommandResult:
        """Start the round of one plan window; its id is `round_key(plan_id, window_start)`."""

        def act(a: Acting) -> list[LedgerAggregate]:
            require_staff_actor(ctx)
            plan = self.load(InspectionPlan, "inspection_plan", plan_id)
            inspection = InspectionRound.start(a.meta(plan.property_id), plan, window_start)
            self._require_open_window(inspection)
            return [inspection]

        return self.run(ctx, "start_inspection_round", locals(), act)

    def record_round_missed(
        self, ctx: CommandContext, plan_id: str, window_start: datetime
    ) -> CommandResult:
        """The watcher marks an expired window that has no round; once per window."""

        def act(a: Acting) -> list[LedgerAggregate]:
            plan = self.load(InspectionPlan, "inspection_plan", plan_id)
            missed = InspectionRound.missed(a.meta(plan.property_id), plan, window_start)
            self._require_open_window(missed)
            return [missed]

        return self.run(ctx, "record_round_missed", locals(), act)

    def visit_checkpoint(
        self, ctx: CommandContext, round_id: str, checkpoint: str, method: str = "qr"
    ) -> CommandResult:
        def step(inspection: InspectionRound, meta: Meta) -> None:
            inspection.visit(meta, self._plan_of(inspection), checkpoint, method)

        return self._on_round(ctx, "visit_checkpoint", locals(), step)

    def record_checklist_item(
        self, ctx: CommandContext, round_id: str, item_code: str, result: str, value: str = ""
    ) -> CommandResult:
        def step(inspection: InspectionRound, meta: Meta) -> None:
            items = self._items_of(inspection)
            inspection.record_item(meta, items, item_code, result, value)

        return self._on_round(ctx, "record_checklist_item", locals(), step)

    def raise_finding(
        self,
        ctx: CommandContext,
        round_id: str,
        finding_id: str,
        severity: str,
        description: str,
        item_code: str | None = None,
        deduction_points: int | None = None,
        open_action_id: str | None = None,
        action_owner_id: str | None = None,
        action_due: datetime | None = None,
    ) -> CommandResult:
        """A finding charged to the area's responsible person at that moment.

        With `open_action_id` it also opens the corrective action, in the same transaction.
        """

        def act(a: Acting) -> list[LedgerAggregate]:
            inspection = self.load(InspectionRound, "inspection_round", round_id)
            checklist = self.load(Checklist, "checklist", inspection.checklist_id)
            responsible = self.responsible_for(
                inspection.area_id, checklist.service_line, ctx.occurred_at
            )
            meta = a.meta(inspection.property_id)
            inspection.raise_finding(
                meta, finding_id, severity, description, responsible, item_code, deduction_points
            )
            if open_action_id is None:
                if action_owner_id is not None or action_due is not None:
                    raise InvalidValue("an action owner or due date needs open_action_id")
                return [inspection]
            action = self._action_for_finding(
                meta, inspection, open_action_id, finding_id, description,
                action_owner_id or responsible, action_due,
            )
            return [inspection, action]

        return self.run(ctx, "raise_finding", locals(), act)

    def complete_inspection_round(self, ctx: CommandContext, round_id: str) -> CommandResult:
        def step(inspection: InspectionRound, meta: Meta) -> None:
            plan = self._plan_of(inspection)
            inspection.complete(meta, plan, self._items_of(inspection))

        return self._on_round(ctx, "complete_inspection_round", locals(), step)

    # -- corrective actions --------------------------------------------------------------

    def open_corrective_action(
        self,
        ctx: CommandContext,
        action_id: str,
        property_id: str,
        source: str,
        source_ref: str,
        problem: str,
        owner_id: str,
        due: datetime,
    ) -> CommandResult:
        def act(a: Acting) -> list[LedgerAggregate]:
            self.require_new(
                "corrective_action", action_id, f"corrective action {action_id!r} already exists"
            )
            self.active_staff(owner_id)
            return [
                CorrectiveAction.open(
                    a.meta(property_id), action_id, property_id, source, source_ref, problem,
                    owner_id, due,
                )
            ]

        return self.run(ctx, "open_corrective_action", locals(), act)

    def plan_corrective_action(
        self, ctx: CommandContext, action_id: str, root_cause: str, actions: str, due: datetime
    ) -> CommandResult:
        return self._on_action(
            ctx, "plan_corrective_action", locals(),
            lambda c, m: c.plan(m, root_cause, actions, due),
        )

    def implement_corrective_action(
        self, ctx: CommandContext, action_id: str, result: str
    ) -> CommandResult:
        def step(action: CorrectiveAction, meta: Meta) -> None:
            require_staff_actor(ctx)
            action.implement(meta, result)

        return self._on_action(ctx, "implement_corrective_action", locals(), step)

    def verify_corrective_action(
        self, ctx: CommandContext, action_id: str, passed: bool, note: str = ""
    ) -> CommandResult:
        return self._on_action(
            ctx, "verify_corrective_action", locals(), lambda c, m: c.verify(m, passed, note)
        )

    def close_corrective_action(self, ctx: CommandContext, action_id: str) -> CommandResult:
        return self._on_action(ctx, "close_corrective_action", locals(), lambda c, m: c.close(m))

    def reopen_corrective_action(
        self, ctx: CommandContext, action_id: str, reason: str
    ) -> CommandResult:
        return self._on_action(
            ctx, "reopen_corrective_action", locals(), lambda c, m: c.reopen(m, reason)
        )

    # -- shared shapes -------------------------------------------------------------------

    def _on_round(
        self,
        ctx: CommandContext,
        command: str,
        args: dict[str, Any],
        step: Callable[[InspectionRound, Meta], None],
    ) -> CommandResult:
        """The common shape of every command on a started round."""

        def act(a: Acting) -> list[LedgerAggregate]:
            inspection = self.load(InspectionRound, "inspection_round", args["round_id"])
            step(inspection, a.meta(inspection.property_id))
            return [inspection]

        return self.run(ctx, command, args, act)

    def _on_action(
        self,
        ctx: CommandContext,
        command: str,
        args: dict[str, Any],
        step: Callable[[CorrectiveAction, Meta], None],
    ) -> CommandResult:
        """The common shape of every command on an open corrective action."""

        def act(a: Acting) -> list[LedgerAggregate]:
            action = self.load(CorrectiveAction, "corrective_action", args["action_id"])
            step(action, a.meta(action.property_id))
            return [action]

        return self.run(ctx, command, args, act)

    def _plan_of(self, inspection: InspectionRound) -> InspectionPlan:
        return self.load(InspectionPlan, "inspection_plan", inspection.plan_id)

    def _items_of(self, inspection: InspectionRound) -> dict[str, ChecklistItem]:
        """The items of the checklist version the round pinned."""
        checklist = self.load(Checklist, "checklist", inspection.checklist_id)
        return checklist.items_of(inspection.checklist_version)

    def _require_open_window(self, inspection: InspectionRound) -> None:
        """One round or one miss per plan window: the window's stream must not exist yet."""
        key = round_key(inspection.plan_id, inspection.window_start)
        self.require_new("inspection_round", key, f"the window {key} already has a round or a miss")

    def _action_for_finding(
        self,
        meta: Meta,
        inspection: InspectionRound,
        action_id: str,
        finding_id: str,
        problem: str,
        owner_id: str | None,
        due: datetime | None,
    ) -> CorrectiveAction:
        """The corrective action a finding opens, owned by the responsible person by default."""
        if owner_id is None:
            raise InvalidValue("no one answers for the area: name the action owner")
        if due is None:
            raise InvalidValue("a corrective action needs a due date")
        self.require_new(
            "corrective_action", action_id, f"corrective action {action_id!r} already exists"
        )
        self.active_staff(owner_id)
        return CorrectiveAction.open(
            meta, action_id, inspection.property_id, "finding", finding_id, problem, owner_id, due
        )
