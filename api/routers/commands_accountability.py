"""Accountability commands: penalty cases and their appeal path, rewards, period closures."""

from __future__ import annotations

from fastapi import APIRouter, Response

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
    Moment,
    Text,
)

router = APIRouter(tags=["accountability"], responses=COMMAND_RESPONSES, route_class=CommandRoute)


class ProposePenalty(CommandBody):
    """Money is a decimal string ("200.00"), never a float."""

    case_id: Key
    property_id: Key
    subject_id: Key
    rule_id: Key
    rule_version: Count
    clause: Text
    points: Count
    amount: Code
    monthly_wage: Code
    minimum_wage: Code
    basis_event_ids: Ids
    reason: Text


class NotifyPenalty(CommandBody):
    method: Code
    acknowledged: bool
    appeal_deadline: Moment
    witness_id: Key | None = None


class FileAppeal(CommandBody):
    grounds: Text


class RuleAppeal(CommandBody):
    decision: Code
    reasoning: Text
    panel_ids: Ids
    reduced_points: Count | None = None
    reduced_amount: Code | None = None


class RevokePenalty(CommandBody):
    reason: Text


class GrantReward(CommandBody):
    reward_id: Key
    property_id: Key
    person_id: Key
    kind: Code
    basis_event_ids: Ids
    points: Count
    amount: Code
    reason: Text


class ClosePeriod(CommandBody):
    """Closing records the formula version and the log position the scores came from."""

    property_id: Key
    period: Code
    formula_version: Code
    log_position: Count
    inputs_sha256: Code
    scores: Codes


@router.post("/penalties", status_code=201)
def propose_penalty(body: ProposePenalty, command: CommandDep, response: Response) -> CommandOut:
    """处罚提议: names the rule version and the events it rests on."""
    return command.run(
        "propose_penalty",
        Target.new(body.property_id),
        body,
        lambda ctx: command.ledger.propose_penalty(ctx, **body.args()),
        response,
    )


@router.post("/penalties/{case_id}/notify", status_code=201)
def notify_penalty(
    case_id: KeyPath, body: NotifyPenalty, command: CommandDep, response: Response
) -> CommandOut:
    return command.run_on(
        response, "notify_penalty", ("penalty", case_id), body,
        lambda ctx: command.ledger.notify_penalty(ctx, case_id, **body.args()),
    )  # fmt: skip


@router.post("/penalties/{case_id}/appeal", status_code=201)
def file_appeal(
    case_id: KeyPath, body: FileAppeal, command: CommandDep, response: Response
) -> CommandOut:
    """申诉: only the subject of the penalty may appeal."""
    return command.run_on(
        response, "file_appeal", ("penalty", case_id), body,
        lambda ctx: command.ledger.file_appeal(ctx, case_id, **body.args()),
    )  # fmt: skip


@router.post("/penalties/{case_id}/ruling", status_code=201)
def rule_appeal(
    case_id: KeyPath, body: RuleAppeal, command: CommandDep, response: Response
) -> CommandOut:
    """裁决: neither the proposer nor the subject may rule or sit on the panel."""
    return command.run_on(
        response, "rule_appeal", ("penalty", case_id), body,
        lambda ctx: command.ledger.rule_appeal(ctx, case_id, **body.args()),
    )  # fmt: skip


@router.post("/penalties/{case_id}/confirm", status_code=201)
def confirm_penalty(
    case_id: KeyPath, body: EmptyCommand, command: CommandDep, response: Response
) -> CommandOut:
    return command.run_on(
        response, "confirm_penalty", ("penalty", case_id), body,
        lambda ctx: command.ledger.confirm_penalty(ctx, case_id),
    )  # fmt: skip


@router.post("/penalties/{case_id}/revoke", status_code=201)
def revoke_penalty(
    case_id: KeyPath, body: RevokePenalty, command: CommandDep, response: Response
) -> CommandOut:
    return command.run_on(
        response, "revoke_penalty", ("penalty", case_id), body,
        lambda ctx: command.ledger.revoke_penalty(ctx, case_id, **body.args()),
    )  # fmt: skip


@router.post("/rewards", status_code=201)
def grant_reward(body: GrantReward, command: CommandDep, response: Response) -> CommandOut:
    return command.run(
        "grant_reward",
        Target.new(body.property_id),
        body,
        lambda ctx: command.ledger.grant_reward(ctx, **body.args()),
        response,
    )


@router.post("/performance-periods", status_code=201)
def close_performance_period(
    body: ClosePeriod, command: CommandDep, response: Response
) -> CommandOut:
    """Close a month or quarter with its scores (履约之星 is ranked from these)."""
    return command.run(
        "close_performance_period",
        Target.new(body.property_id),
        body,
        lambda ctx: command.ledger.close_performance_period(ctx, **body.args()),
        response,
    )
