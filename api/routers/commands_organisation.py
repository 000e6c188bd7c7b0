"""Organisation commands: org units, areas and who answers for them, escalation chains, rules."""

from __future__ import annotations

from fastapi import APIRouter, Response

from api.command import COMMAND_RESPONSES, CommandRoute, Target
from api.deps import CommandDep
from api.schemas import Code, Codes, CommandBody, CommandOut, Count, Key, KeyPath, Moment, Text

router = APIRouter(tags=["organisation"], responses=COMMAND_RESPONSES, route_class=CommandRoute)


class CreateOrgUnit(CommandBody):
    unit_id: Key
    name: Text
    kind: Code
    parent_id: Key | None = None


class DefineArea(CommandBody):
    area_id: Key
    property_id: Key
    name: Text
    kind: Code
    service_lines: Codes


class AssignResponsibility(CommandBody):
    service_line: Code
    responsible_id: Key
    deputy_id: Key | None = None
    effective_from: Moment | None = None


class AcceptResponsibility(CommandBody):
    service_line: Code


class ReleaseResponsibility(CommandBody):
    service_line: Code
    reason: Text
    successor_id: Key | None = None
    effective_to: Moment | None = None


class HandOverResponsibility(CommandBody):
    service_line: Code
    successor_id: Key
    reason: Text
    deputy_id: Key | None = None
    effective_at: Moment | None = None


class DefineEscalationChain(CommandBody):
    chain_id: Key
    property_id: Key
    levels: Codes


class ReviseEscalationChain(CommandBody):
    levels: Codes


class PublishWorkRule(CommandBody):
    rule_id: Key
    title: Text
    document_sha256: Code
    procedure_ref: Text
    effective_from: Moment


class ReviseWorkRule(CommandBody):
    title: Text
    document_sha256: Code
    procedure_ref: Text
    effective_from: Moment


class AcknowledgeWorkRule(CommandBody):
    person_id: Key
    version: Count


@router.post("/org-units", status_code=201)
def create_org_unit(body: CreateOrgUnit, command: CommandDep, response: Response) -> CommandOut:
    """A department, project office or team (company-wide)."""
    return command.run(
        "create_org_unit",
        Target.new(),
        body,
        lambda ctx: command.ledger.create_org_unit(ctx, **body.args()),
        response,
    )


@router.post("/areas", status_code=201)
def define_area(body: DefineArea, command: CommandDep, response: Response) -> CommandOut:
    return command.run(
        "define_area",
        Target.new(body.property_id),
        body,
        lambda ctx: command.ledger.define_area(ctx, **body.args()),
        response,
    )


@router.post("/areas/{area_id}/responsibility/assign", status_code=201)
def assign_responsibility(
    area_id: KeyPath, body: AssignResponsibility, command: CommandDep, response: Response
) -> CommandOut:
    """责任到人: from `effective_from` (default: occurred_at) this person answers."""
    return command.run_on(
        response, "assign_responsibility", ("area", area_id), body,
        lambda ctx: command.ledger.assign_responsibility(ctx, area_id, **body.args()),
    )  # fmt: skip


@router.post("/areas/{area_id}/responsibility/accept", status_code=201)
def accept_responsibility(
    area_id: KeyPath, body: AcceptResponsibility, command: CommandDep, response: Response
) -> CommandOut:
    """The responsible person signs for the duty."""
    return command.run_on(
        response, "accept_responsibility", ("area", area_id), body,
        lambda ctx: command.ledger.accept_responsibility(ctx, area_id, **body.args()),
    )  # fmt: skip


@router.post("/areas/{area_id}/responsibility/release", status_code=201)
def release_responsibility(
    area_id: KeyPath, body: ReleaseResponsibility, command: CommandDep, response: Response
) -> CommandOut:
    return command.run_on(
        response, "release_responsibility", ("area", area_id), body,
        lambda ctx: command.ledger.release_responsibility(ctx, area_id, **body.args()),
    )  # fmt: skip


@router.post("/areas/{area_id}/responsibility/hand-over", status_code=201)
def hand_over_responsibility(
    area_id: KeyPath, body: HandOverResponsibility, command: CommandDep, response: Response
) -> CommandOut:
    """交接: the duty passes to the successor at `effective_at`."""
    return command.run_on(
        response, "hand_over_responsibility", ("area", area_id), body,
        lambda ctx: command.ledger.hand_over_responsibility(ctx, area_id, **body.args()),
    )  # fmt: skip


@router.post("/escalation-chains", status_code=201)
def define_escalation_chain(
    body: DefineEscalationChain, command: CommandDep, response: Response
) -> CommandOut:
    return command.run(
        "define_escalation_chain",
        Target.new(body.property_id),
        body,
        lambda ctx: command.ledger.define_escalation_chain(ctx, **body.args()),
        response,
    )


@router.post("/escalation-chains/{chain_id}/revise", status_code=201)
def revise_escalation_chain(
    chain_id: KeyPath, body: ReviseEscalationChain, command: CommandDep, response: Response
) -> CommandOut:
    return command.run_on(
        response, "revise_escalation_chain", ("escalation_chain", chain_id), body,
        lambda ctx: command.ledger.revise_escalation_chain(ctx, chain_id, **body.args()),
    )  # fmt: skip


@router.post("/work-rules", status_code=201)
def publish_work_rule(body: PublishWorkRule, command: CommandDep, response: Response) -> CommandOut:
    """A company rule (制度), company-wide."""
    return command.run(
        "publish_work_rule",
        Target.new(),
        body,
        lambda ctx: command.ledger.publish_work_rule(ctx, **body.args()),
        response,
    )


@router.post("/work-rules/{rule_id}/revise", status_code=201)
def revise_work_rule(
    rule_id: KeyPath, body: ReviseWorkRule, command: CommandDep, response: Response
) -> CommandOut:
    return command.run_on(
        response, "revise_work_rule", ("work_rule", rule_id), body,
        lambda ctx: command.ledger.revise_work_rule(ctx, rule_id, **body.args()),
    )  # fmt: skip


@router.post("/work-rules/{rule_id}/acknowledge", status_code=201)
def acknowledge_work_rule(
    rule_id: KeyPath, body: AcknowledgeWorkRule, command: CommandDep, response: Response
) -> CommandOut:
    """The person themselves confirms they have read this version."""
    return command.run_on(
        response, "acknowledge_work_rule", ("work_rule", rule_id), body,
        lambda ctx: command.ledger.acknowledge_work_rule(ctx, rule_id, **body.args()),
    )  # fmt: skip
