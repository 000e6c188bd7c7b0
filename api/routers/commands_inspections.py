"""Inspection commands: checklists, plans, rounds and findings, and the corrective-action loop."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response
from pydantic import AfterValidator, AwareDatetime

from api.command import COMMAND_RESPONSES, CommandRoute, Target
from api.deps import CommandDep
from api.schemas import (
    Code,
    Codes,
    CommandBody,
    CommandOut,
    Count,
    EmptyCommand,
    Ids,
    Key,
    KeyPath,
    Lines,
    Moment,
    Text,
    sane_moment,
)
from ledger.domain.inspections import round_key

router = APIRouter(tags=["inspections"], responses=COMMAND_RESPONSES, route_class=CommandRoute)

WindowPath = Annotated[
    AwareDatetime,
    AfterValidator(sane_moment),
    Path(description="the start of the plan window (RFC 3339 with offset)"),
]


class PublishChecklist(CommandBody):
    checklist_id: Key
    title: Text
    service_line: Code
    items: Lines


class ReviseChecklist(CommandBody):
    title: Text
    items: Lines


class SchedulePlan(CommandBody):
    plan_id: Key
    property_id: Key
    area_id: Key
    checklist_id: Key
    checklist_version: Count
    checkpoints: Codes
    frequency: Code
    window_start: Moment
    assignee_ids: Ids
    requires_signer_position: Code | None = None


class Window(CommandBody):
    window_start: Moment


class VisitCheckpoint(CommandBody):
    checkpoint: Code
    method: Code = "qr"


class RecordItem(CommandBody):
    item_code: Code
    result: Code
    value: Text = ""


class RaiseFinding(CommandBody):
    """With `open_action_id` the finding also opens its corrective action, atomically."""

    finding_id: Key
    severity: Code
    description: Text
    item_code: Code | None = None
    deduction_points: Count | None = None
    open_action_id: Key | None = None
    action_owner_id: Key | None = None
    action_due: Moment | None = None


class OpenCorrectiveAction(CommandBody):
    action_id: Key
    property_id: Key
    source: Code
    source_ref: Text
    problem: Text
    owner_id: Key
    due: Moment


class PlanCorrectiveAction(CommandBody):
    root_cause: Text
    actions: Text
    due: Moment


class ImplementCorrectiveAction(CommandBody):
    result: Text


class VerifyCorrectiveAction(CommandBody):
    passed: bool
    note: Text = ""


class ReopenCorrectiveAction(CommandBody):
    reason: Text


# -- checklists and plans ----------------------------------------------------------------


@router.post("/checklists", status_code=201)
def publish_checklist(
    body: PublishChecklist, command: CommandDep, response: Response
) -> CommandOut:
    """A versioned checklist template (company-wide)."""
    return command.run(
        "publish_checklist",
        Target.new(),
        body,
        lambda ctx: command.ledger.publish_checklist(ctx, **body.args()),
        response,
    )


@router.post("/checklists/{checklist_id}/revise", status_code=201)
def revise_checklist(
    checklist_id: KeyPath, body: ReviseChecklist, command: CommandDep, response: Response
) -> CommandOut:
    return command.run_on(
        response, "revise_checklist", ("checklist", checklist_id), body,
        lambda ctx: command.ledger.revise_checklist(ctx, checklist_id, **body.args()),
    )  # fmt: skip


@router.post("/inspection-plans", status_code=201)
def schedule_inspection_plan(
    body: SchedulePlan, command: CommandDep, response: Response
) -> CommandOut:
    return command.run(
        "schedule_inspection_plan",
        Target.new(body.property_id),
        body,
        lambda ctx: command.ledger.schedule_inspection_plan(ctx, **body.args()),
        response,
    )


@router.post("/inspection-plans/{plan_id}/rounds", status_code=201)
def start_inspection_round(
    plan_id: KeyPath, body: Window, command: CommandDep, response: Response
) -> CommandOut:
    """Start the round of one plan window (one round or one miss per window)."""
    return command.run_on(
        response, "start_inspection_round", ("inspection_plan", plan_id), body,
        lambda ctx: command.ledger.start_inspection_round(ctx, plan_id, **body.args()),
    )  # fmt: skip


@router.post("/inspection-plans/{plan_id}/missed-rounds", status_code=201)
def record_round_missed(
    plan_id: KeyPath, body: Window, command: CommandDep, response: Response
) -> CommandOut:
    """漏巡: recorded by a system principal (the deadline watcher) for an expired window."""
    return command.run_on(
        response, "record_round_missed", ("inspection_plan", plan_id), body,
        lambda ctx: command.ledger.record_round_missed(ctx, plan_id, **body.args()),
    )  # fmt: skip


# -- rounds: addressed by plan and window --------------------------------------------------


@router.post("/inspection-rounds/{plan_id}/{window_start}/visits", status_code=201)
def visit_checkpoint(
    plan_id: KeyPath,
    window_start: WindowPath,
    body: VisitCheckpoint,
    command: CommandDep,
    response: Response,
) -> CommandOut:
    round_id = round_key(plan_id, window_start)
    return command.run_on(
        response, "visit_checkpoint", ("inspection_round", round_id), body,
        lambda ctx: command.ledger.visit_checkpoint(ctx, round_id, **body.args()),
    )  # fmt: skip


@router.post("/inspection-rounds/{plan_id}/{window_start}/items", status_code=201)
def record_checklist_item(
    plan_id: KeyPath,
    window_start: WindowPath,
    body: RecordItem,
    command: CommandDep,
    response: Response,
) -> CommandOut:
    round_id = round_key(plan_id, window_start)
    return command.run_on(
        response, "record_checklist_item", ("inspection_round", round_id), body,
        lambda ctx: command.ledger.record_checklist_item(ctx, round_id, **body.args()),
    )  # fmt: skip


@router.post("/inspection-rounds/{plan_id}/{window_start}/findings", status_code=201)
def raise_finding(
    plan_id: KeyPath,
    window_start: WindowPath,
    body: RaiseFinding,
    command: CommandDep,
    response: Response,
) -> CommandOut:
    """A finding, charged to whoever answered for the area when it was found."""
    round_id = round_key(plan_id, window_start)
    return command.run_on(
        response, "raise_finding", ("inspection_round", round_id), body,
        lambda ctx: command.ledger.raise_finding(ctx, round_id, **body.args()),
    )  # fmt: skip


@router.post("/inspection-rounds/{plan_id}/{window_start}/complete", status_code=201)
def complete_inspection_round(
    plan_id: KeyPath,
    window_start: WindowPath,
    body: EmptyCommand,
    command: CommandDep,
    response: Response,
) -> CommandOut:
    round_id = round_key(plan_id, window_start)
    return command.run_on(
        response, "complete_inspection_round", ("inspection_round", round_id), body,
        lambda ctx: command.ledger.complete_inspection_round(ctx, round_id),
    )  # fmt: skip


# -- corrective actions --------------------------------------------------------------------


@router.post("/corrective-actions", status_code=201)
def open_corrective_action(
    body: OpenCorrectiveAction, command: CommandDep, response: Response
) -> CommandOut:
    """整改: problem → action → verification."""
    return command.run(
        "open_corrective_action",
        Target.new(body.property_id),
        body,
        lambda ctx: command.ledger.open_corrective_action(ctx, **body.args()),
        response,
    )


@router.post("/corrective-actions/{action_id}/plan", status_code=201)
def plan_corrective_action(
    action_id: KeyPath, body: PlanCorrectiveAction, command: CommandDep, response: Response
) -> CommandOut:
    return command.run_on(
        response, "plan_corrective_action", ("corrective_action", action_id), body,
        lambda ctx: command.ledger.plan_corrective_action(ctx, action_id, **body.args()),
    )  # fmt: skip


@router.post("/corrective-actions/{action_id}/implement", status_code=201)
def implement_corrective_action(
    action_id: KeyPath,
    body: ImplementCorrectiveAction,
    command: CommandDep,
    response: Response,
) -> CommandOut:
    return command.run_on(
        response, "implement_corrective_action", ("corrective_action", action_id),
        body, lambda ctx: command.ledger.implement_corrective_action(ctx, action_id, **body.args()),
    )  # fmt: skip


@router.post("/corrective-actions/{action_id}/verify", status_code=201)
def verify_corrective_action(
    action_id: KeyPath, body: VerifyCorrectiveAction, command: CommandDep, response: Response
) -> CommandOut:
    """Verified by someone other than who fixed it (separation of duties)."""
    return command.run_on(
        response, "verify_corrective_action", ("corrective_action", action_id), body,
        lambda ctx: command.ledger.verify_corrective_action(ctx, action_id, **body.args()),
    )  # fmt: skip


@router.post("/corrective-actions/{action_id}/close", status_code=201)
def close_corrective_action(
    action_id: KeyPath, body: EmptyCommand, command: CommandDep, response: Response
) -> CommandOut:
    return command.run_on(
        response, "close_corrective_action", ("corrective_action", action_id), body,
        lambda ctx: command.ledger.close_corrective_action(ctx, action_id),
    )  # fmt: skip


@router.post("/corrective-actions/{action_id}/reopen", status_code=201)
def reopen_corrective_action(
    action_id: KeyPath, body: ReopenCorrectiveAction, command: CommandDep, response: Response
) -> CommandOut:
    return command.run_on(
        response, "reopen_corrective_action", ("corrective_action", action_id), body,
        lambda ctx: command.ledger.reopen_corrective_action(ctx, action_id, **body.args()),
    )  # fmt: skip
