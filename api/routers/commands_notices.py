"""Notice commands: publishing a public notice (公示) of a property."""

from __future__ import annotations

from fastapi import APIRouter, Response

from api.command import COMMAND_RESPONSES, CommandRoute, Target
from api.deps import CommandDep
from api.schemas import Code, Codes, CommandBody, CommandOut, Ids, Key, Moment, Text

router = APIRouter(tags=["notices"], responses=COMMAND_RESPONSES, route_class=CommandRoute)


class PublishNotice(CommandBody):
    """`scope` lists building or area ids (empty: the whole property); a notice on the board
    carries the photo of the posted board in `evidence`; `doc_sha256` is the published
    document's SHA-256."""

    notice_id: Key
    property_id: Key
    kind: Code
    title: Text
    scope: Ids
    channels: Codes
    valid_from: Moment
    valid_to: Moment | None = None
    doc_sha256: Code


@router.post("/notices", status_code=201)
def publish_notice(body: PublishNotice, command: CommandDep, response: Response) -> CommandOut:
    """公示: what was disclosed, where, on which channels and for how long."""
    return command.run(
        "publish_notice",
        Target.new(body.property_id),
        body,
        lambda ctx: command.ledger.publish_notice(ctx, **body.args()),
        response,
    )
