"""Anchoring over HTTP: an integration that hands checkpoints to a timestamp authority, a
judicial chain or a notary records each receipt here (LedgerAnchored, see ledger/domain/anchors.py).

The receipt file's SHA-256 must also be in the command's `evidence`: the file itself is kept
with the other evidence files, content-addressed.
"""

from __future__ import annotations

from fastapi import APIRouter, Response

from api.command import COMMAND_RESPONSES, CommandRoute, Target
from api.deps import CommandDep
from api.schemas import Code, CommandBody, CommandOut, Count, Moment, Text

router = APIRouter(tags=["trail"], responses=COMMAND_RESPONSES, route_class=CommandRoute)


class RecordAnchor(CommandBody):
    """`tree_size` names a checkpoint this store signed; its root is taken from the store."""

    platform: Code
    tree_size: Count
    anchored_at: Moment
    receipt_ref: Text
    receipt_sha256: Code


@router.post("/anchors", status_code=201)
def record_anchor(body: RecordAnchor, command: CommandDep, response: Response) -> CommandOut:
    """存证: a signed checkpoint's root was handed to an outside platform; here is its receipt."""
    return command.run(
        "record_anchor",
        Target.new(),
        body,
        lambda ctx: command.ledger.record_anchor(ctx, **body.args()),
        response,
    )
