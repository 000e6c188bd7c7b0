"""Work-order commands: register, dispatch, work, sign off, owner acceptance, close, correct."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from api.command import COMMAND_RESPONSES, CommandRoute, Target
from api.deps import CommandDep
from api.idempotency import MasksPersonal
from api.schemas import (
    Code,
    CommandBody,
    CommandOut,
    Count,
    EmptyCommand,
    Key,
    KeyPath,
    Moment,
    Text,
)

router = APIRouter(
    prefix="/tasks", tags=["tasks"], responses=COMMAND_RESPONSES, route_class=CommandRoute
)


class RegisterTask(MasksPersonal, CommandBody):
    """`reporter_name` / `reporter_phone` are the reporter's (owner/<reporter_id>) personal
    data: kept encrypted in the vault, never in the log, and erasable."""

    task_no: Key
    property_id: Key
    area_id: Key
    kind: Code
    service_line: Code
    priority: Code
    channel: Code
    location: Text
    description: Text
    reporter_id: Key | None = None
    reporter_name: Text | None = None
    reporter_phone: Code | None = None

    def personal_fields(self) -> tuple[str, ...]:
        return ("reporter_name", "reporter_phone")


class DispatchTask(CommandBody):
    responsible_id: Key
    executor_id: Key
    mode: Code = "manual"


class AcceptTask(CommandBody):
    eta: Moment | None = None


class Reason(CommandBody):
    reason: Text


class ReassignTask(CommandBody):
    to_responsible_id: Key
    to_executor_id: Key
    note: Text


class ArriveOnSite(CommandBody):
    method: Code = "gps"


class PutOnHold(CommandBody):
    cause: Code
    reason: Text


class CompleteWork(CommandBody):
    """`evidence` (photos, signatures) is the envelope's list of SHA-256 digests."""

    result: Text


class SignOff(CommandBody):
    quality: Code = "good"


class OwnerAccept(CommandBody):
    rating: Count
    comment: Text = ""


class ReopenTask(CommandBody):
    cause: Text


class CloseTask(CommandBody):
    reason: Code = "accepted"


class AutoCloseTask(CommandBody):
    """The policy that closes signed-off work its owner never answered, and its window."""

    policy_ref: Text
    window_days: Count


class Comment(MasksPersonal, CommandBody):
    """`personal`: the text is the reporter's personal data (vault, not log; erasable)."""

    text: Text
    visibility: Code = "internal"
    personal: bool = False

    def personal_fields(self) -> tuple[str, ...]:
        return ("text", "personal") if self.personal else ("personal",)

    def args(self) -> dict[str, Any]:
        """`personal` is passed only when set: a plain comment is the call it always was."""
        args = super().args()
        if not self.personal:
            del args["personal"]
        return args


class FollowUp(CommandBody):
    channel: Code
    satisfied: bool
    comment: Text = ""


class CorrectField(CommandBody):
    field: Code
    new: Text
    justification: Text


@router.post("", status_code=201)
def register_task(body: RegisterTask, command: CommandDep, response: Response) -> CommandOut:
    """登记工单: a new work order, charged to whoever answers for the area now."""
    return command.run(
        "register_task",
        Target.new(body.property_id),
        body,
        lambda ctx: command.ledger.register_task(ctx, **body.args()),
        response,
    )


@router.post("/{task_no}/dispatch", status_code=201)
def dispatch_task(
    task_no: KeyPath, body: DispatchTask, command: CommandDep, response: Response
) -> CommandOut:
    """派单: name the responsible person and the executor."""
    return command.run_on(
        response, "dispatch_task", ("task", task_no), body,
        lambda ctx: command.ledger.dispatch_task(ctx, task_no, **body.args()),
    )  # fmt: skip


@router.post("/{task_no}/accept", status_code=201)
def accept_task(
    task_no: KeyPath, body: AcceptTask, command: CommandDep, response: Response
) -> CommandOut:
    return command.run_on(
        response, "accept_task", ("task", task_no), body,
        lambda ctx: command.ledger.accept_task(ctx, task_no, **body.args()),
    )  # fmt: skip


@router.post("/{task_no}/decline", status_code=201)
def decline_task(
    task_no: KeyPath, body: Reason, command: CommandDep, response: Response
) -> CommandOut:
    return command.run_on(
        response, "decline_task", ("task", task_no), body,
        lambda ctx: command.ledger.decline_task(ctx, task_no, **body.args()),
    )  # fmt: skip


@router.post("/{task_no}/reassign", status_code=201)
def reassign_task(
    task_no: KeyPath, body: ReassignTask, command: CommandDep, response: Response
) -> CommandOut:
    return command.run_on(
        response, "reassign_task", ("task", task_no), body,
        lambda ctx: command.ledger.reassign_task(ctx, task_no, **body.args()),
    )  # fmt: skip


@router.post("/{task_no}/arrive", status_code=201)
def arrive_on_site(
    task_no: KeyPath, body: ArriveOnSite, command: CommandDep, response: Response
) -> CommandOut:
    return command.run_on(
        response, "arrive_on_site", ("task", task_no), body,
        lambda ctx: command.ledger.arrive_on_site(ctx, task_no, **body.args()),
    )  # fmt: skip


@router.post("/{task_no}/start", status_code=201)
def start_work(
    task_no: KeyPath, body: EmptyCommand, command: CommandDep, response: Response
) -> CommandOut:
    return command.run_on(
        response, "start_work", ("task", task_no), body,
        lambda ctx: command.ledger.start_work(ctx, task_no),
    )  # fmt: skip


@router.post("/{task_no}/hold", status_code=201)
def put_task_on_hold(
    task_no: KeyPath, body: PutOnHold, command: CommandDep, response: Response
) -> CommandOut:
    return command.run_on(
        response, "put_task_on_hold", ("task", task_no), body,
        lambda ctx: command.ledger.put_task_on_hold(ctx, task_no, **body.args()),
    )  # fmt: skip


@router.post("/{task_no}/resume", status_code=201)
def resume_task(
    task_no: KeyPath, body: EmptyCommand, command: CommandDep, response: Response
) -> CommandOut:
    return command.run_on(
        response, "resume_task", ("task", task_no), body,
        lambda ctx: command.ledger.resume_task(ctx, task_no),
    )  # fmt: skip


@router.post("/{task_no}/complete", status_code=201)
def complete_work(
    task_no: KeyPath, body: CompleteWork, command: CommandDep, response: Response
) -> CommandOut:
    return command.run_on(
        response, "complete_work", ("task", task_no), body,
        lambda ctx: command.ledger.complete_work(
            ctx, task_no, body.result, tuple(body.evidence)
        ),
    )  # fmt: skip


@router.post("/{task_no}/sign-off", status_code=201)
def sign_off_completion(
    task_no: KeyPath, body: SignOff, command: CommandDep, response: Response
) -> CommandOut:
    """责任人签字确认: only the person responsible now may sign."""
    return command.run_on(
        response, "sign_off_completion", ("task", task_no), body,
        lambda ctx: command.ledger.sign_off_completion(ctx, task_no, **body.args()),
    )  # fmt: skip


@router.post("/{task_no}/owner-accept", status_code=201)
def owner_accept(
    task_no: KeyPath, body: OwnerAccept, command: CommandDep, response: Response
) -> CommandOut:
    """业主验收: the owner, or front-desk staff with `on_behalf_of` the owner."""
    return command.run_on(
        response, "owner_accept", ("task", task_no), body,
        lambda ctx: command.ledger.owner_accept(ctx, task_no, **body.args()),
    )  # fmt: skip


@router.post("/{task_no}/owner-return", status_code=201)
def owner_return(
    task_no: KeyPath, body: Reason, command: CommandDep, response: Response
) -> CommandOut:
    return command.run_on(
        response, "owner_return", ("task", task_no), body,
        lambda ctx: command.ledger.owner_return(ctx, task_no, **body.args()),
    )  # fmt: skip


@router.post("/{task_no}/reopen", status_code=201)
def reopen_task(
    task_no: KeyPath, body: ReopenTask, command: CommandDep, response: Response
) -> CommandOut:
    return command.run_on(
        response, "reopen_task", ("task", task_no), body,
        lambda ctx: command.ledger.reopen_task(ctx, task_no, **body.args()),
    )  # fmt: skip


@router.post("/{task_no}/close", status_code=201)
def close_task(
    task_no: KeyPath, body: CloseTask, command: CommandDep, response: Response
) -> CommandOut:
    return command.run_on(
        response, "close_task", ("task", task_no), body,
        lambda ctx: command.ledger.close_task(ctx, task_no, **body.args()),
    )  # fmt: skip


@router.post("/{task_no}/auto-close", status_code=201)
def auto_close_task(
    task_no: KeyPath, body: AutoCloseTask, command: CommandDep, response: Response
) -> CommandOut:
    return command.run_on(
        response, "auto_close_task", ("task", task_no), body,
        lambda ctx: command.ledger.auto_close_task(ctx, task_no, **body.args()),
    )  # fmt: skip


@router.post("/{task_no}/cancel", status_code=201)
def cancel_task(
    task_no: KeyPath, body: Reason, command: CommandDep, response: Response
) -> CommandOut:
    return command.run_on(
        response, "cancel_task", ("task", task_no), body,
        lambda ctx: command.ledger.cancel_task(ctx, task_no, **body.args()),
    )  # fmt: skip


@router.post("/{task_no}/comments", status_code=201)
def comment_on_task(
    task_no: KeyPath, body: Comment, command: CommandDep, response: Response
) -> CommandOut:
    return command.run_on(
        response, "comment_on_task", ("task", task_no), body,
        lambda ctx: command.ledger.comment_on_task(ctx, task_no, **body.args()),
    )  # fmt: skip


@router.post("/{task_no}/follow-ups", status_code=201)
def record_follow_up(
    task_no: KeyPath, body: FollowUp, command: CommandDep, response: Response
) -> CommandOut:
    """回访: the follow-up call after closure."""
    return command.run_on(
        response, "record_follow_up", ("task", task_no), body,
        lambda ctx: command.ledger.record_follow_up(ctx, task_no, **body.args()),
    )  # fmt: skip


@router.post("/{task_no}/corrections", status_code=201)
def correct_task_field(
    task_no: KeyPath, body: CorrectField, command: CommandDep, response: Response
) -> CommandOut:
    """A correction is a new event naming the field it corrects; nothing is overwritten."""
    return command.run_on(
        response, "correct_task_field", ("task", task_no), body,
        lambda ctx: command.ledger.correct_task_field(ctx, task_no, **body.args()),
    )  # fmt: skip
