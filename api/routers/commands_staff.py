"""Staff commands: onboard, appoint to a position in a property, revoke, offboard."""

from __future__ import annotations

from fastapi import APIRouter, Response

from api.command import COMMAND_RESPONSES, CommandRoute, Target, joined
from api.deps import CommandDep
from api.idempotency import MasksPersonal
from api.schemas import Code, CommandBody, CommandOut, Ids, Key, KeyPath, Text

router = APIRouter(
    prefix="/staff", tags=["staff"], responses=COMMAND_RESPONSES, route_class=CommandRoute
)


class OnboardStaff(MasksPersonal, CommandBody):
    """`name` is the person's personal data (staff/<person_id>): kept encrypted in the vault,
    never in the log, and erasable; everything else refers to the person by id."""

    person_id: Key
    employee_no: Key
    job_family: Code
    certificates: Ids = ()
    name: Text | None = None

    def personal_fields(self) -> tuple[str, ...]:
        return ("name",)


class AssignPosition(CommandBody):
    position: Code
    property_id: Key
    supervisor_id: Key | None = None


class Reason(CommandBody):
    reason: Text


@router.post("", status_code=201)
def onboard_staff(body: OnboardStaff, command: CommandDep, response: Response) -> CommandOut:
    """入职: the person belongs to no property until a position is assigned."""
    return command.run(
        "onboard_staff",
        Target(None),
        body,
        lambda ctx: command.ledger.onboard_staff(ctx, **body.args()),
        response,
    )


@router.post("/{person_id}/position", status_code=201)
def assign_position(
    person_id: KeyPath, body: AssignPosition, command: CommandDep, response: Response
) -> CommandOut:
    """任命: scoped by the new property and, on a move, the current one."""
    current = command.properties_of("staff", person_id)
    target = Target(joined(current, (body.property_id,)), ("staff", person_id))
    return command.run(
        "assign_position",
        target,
        body,
        lambda ctx: command.ledger.assign_position(ctx, person_id, **body.args()),
        response,
    )


@router.post("/{person_id}/position/revoke", status_code=201)
def revoke_position(
    person_id: KeyPath, body: Reason, command: CommandDep, response: Response
) -> CommandOut:
    return command.run(
        "revoke_position",
        command.existing("staff", person_id),
        body,
        lambda ctx: command.ledger.revoke_position(ctx, person_id, **body.args()),
        response,
    )


@router.post("/{person_id}/offboard", status_code=201)
def offboard_staff(
    person_id: KeyPath, body: Reason, command: CommandDep, response: Response
) -> CommandOut:
    """离职: the history stays; the person can no longer act or be named responsible."""
    return command.run(
        "offboard_staff",
        command.existing("staff", person_id),
        body,
        lambda ctx: command.ledger.offboard_staff(ctx, person_id, **body.args()),
        response,
    )
