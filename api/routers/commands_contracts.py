"""Contract commands: register a contract, define and revise its SLA clauses, calendars."""

from __future__ import annotations

import json

from fastapi import APIRouter, Response

from api.command import COMMAND_RESPONSES, CommandCall, CommandRoute, Target
from api.deps import CommandDep
from api.schemas import Code, Codes, CommandBody, CommandOut, Count, Ids, Key, KeyPath, Moment, Text
from ledger.ids import stream_id

router = APIRouter(tags=["contracts"], responses=COMMAND_RESPONSES, route_class=CommandRoute)


class RegisterContract(CommandBody):
    contract_no: Key
    kind: Code
    company: Text
    counterparty: Text
    property_ids: Ids
    term_start: Moment
    term_end: Moment
    fee_model: Code
    fee_standard: Text
    document_sha256: Code


class ClauseTerms(CommandBody):
    """The terms of a clause version (all restated on every revision)."""

    service_line: Code
    metric: Code
    target: Code
    calendar_id: Key
    escalation_chain_id: Key
    penalty_rule: Text
    source_ref: Text
    match_kinds: Codes = ()
    match_emergency_only: bool = False
    warn_at: Codes = ("50", "75")
    penalty_points: Count = 0
    penalty_amount: Code = "0.00"
    pause_on: Codes = ()
    requires_signer_position: Code | None = None


class DefineClause(ClauseTerms):
    clause_id: Key
    effective_from: Moment | None = None


class ReviseClause(ClauseTerms):
    effective_from: Moment


class PublishCalendar(CommandBody):
    mode: Code
    weekly_hours: Text
    holidays: Codes
    makeup_workdays: Codes
    source: Text
    tz: Code = "Asia/Shanghai"


def _contract(command: CommandCall, contract_no: str) -> Target:
    """A contract is scoped by every property it covers."""
    stored = command.ledger.recorder.select_events(stream_id("contract", contract_no), limit=1)
    if not stored:
        return Target(None, ("contract", contract_no))
    covered = json.loads(stored[0].state).get("data", {}).get("property_ids") or []
    return Target(tuple(str(p) for p in covered), ("contract", contract_no))


@router.post("/contracts", status_code=201)
def register_contract(
    body: RegisterContract, command: CommandDep, response: Response
) -> CommandOut:
    """物业服务合同: scoped by every property it covers."""
    return command.run(
        "register_contract",
        Target.new(*body.property_ids),
        body,
        lambda ctx: command.ledger.register_contract(ctx, **body.args()),
        response,
    )


@router.post("/contracts/{contract_no}/clauses", status_code=201)
def define_clause(
    contract_no: KeyPath, body: DefineClause, command: CommandDep, response: Response
) -> CommandOut:
    """Version 1 of a service-level clause."""
    return command.run(
        "define_clause",
        _contract(command, contract_no),
        body,
        lambda ctx: command.ledger.define_clause(ctx, contract_no, **body.args()),
        response,
    )


@router.post("/contracts/{contract_no}/clauses/{clause_id}/revise", status_code=201)
def revise_clause(
    contract_no: KeyPath,
    clause_id: KeyPath,
    body: ReviseClause,
    command: CommandDep,
    response: Response,
) -> CommandOut:
    """The next version of a clause, in force from `effective_from`."""
    return command.run(
        "revise_clause",
        _contract(command, contract_no),
        body,
        lambda ctx: command.ledger.revise_clause(ctx, contract_no, clause_id, **body.args()),
        response,
    )


@router.post("/calendars/{calendar_id}", status_code=201)
def publish_calendar(
    calendar_id: KeyPath, body: PublishCalendar, command: CommandDep, response: Response
) -> CommandOut:
    """Publish a business calendar, or its next version (company-wide)."""
    return command.run(
        "publish_calendar",
        Target.new(),
        body,
        lambda ctx: command.ledger.publish_calendar(ctx, calendar_id, **body.args()),
        response,
    )
