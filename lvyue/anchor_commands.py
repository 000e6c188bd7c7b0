"""`lvyue anchor`: record where a signed checkpoint was anchored outside the company (存证).

The operator submits a checkpoint (`lvyue checkpoint` prints one) to a trusted timestamp
authority, a judicial blockchain or a notary, then records the receipt here: `LedgerAnchored`
holds the checkpoint's size, root and note hash (taken from the store), the platform, its time
and reference, and the receipt file's SHA-256 (also the command's evidence). Keep the receipt
file with the evidence files. Exit codes: 0 recorded, 1 refused, 2 usage.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer

from ledger.domain.anchors import PLATFORMS
from ledger.errors import DomainError
from ledger.ledger import Ledger
from ledger.trail import SealedLog
from lvyue.personal_commands import operator_context
from lvyue.refusal import USAGE, exit_with
from lvyue.settings import Settings
from lvyue.time_arguments import parse_time

anchor_app = typer.Typer(no_args_is_help=True, help="anchoring checkpoints outside (存证)")


@contextmanager
def _ledger() -> Iterator[Ledger]:
    ledger = Ledger(Settings.from_env().database_url)
    try:
        yield ledger
    finally:
        ledger.close()


@anchor_app.command("record")
def record(
    size: Annotated[int, typer.Option("--size", min=1, help="the checkpoint's tree size")],
    platform: Annotated[str, typer.Option("--platform", help=", ".join(PLATFORMS))],
    receipt: Annotated[Path, typer.Option("--receipt", help="the platform's receipt file")],
    ref: Annotated[str, typer.Option("--ref", help="the platform's id for it (tx id, URL)")],
    anchored_at: Annotated[
        str, typer.Option("--anchored-at", help="the platform's time, RFC 3339")
    ],
) -> None:
    """Record the receipt of one anchoring (LedgerAnchored)."""
    try:
        digest = hashlib.sha256(receipt.read_bytes()).hexdigest()
    except OSError as error:
        exit_with(f"用法错误 usage: cannot read the receipt {receipt}: {error}", USAGE)
    moment = parse_time(anchored_at)
    ctx = replace(operator_context(), evidence=(digest,))
    with _ledger() as ledger:
        try:
            ledger.record_anchor(ctx, platform, size, moment, ref, digest)
        except DomainError as error:
            exit_with(f"拒绝 refused: {error.message}")
        root = ledger.signed_checkpoint(size).root_hash.hex()
    typer.echo(
        f"已存证 anchored: checkpoint of {size:,} events (root {root[:16]}…) on {platform}, "
        f"ref {ref}, receipt sha256 {digest}"
    )


@anchor_app.command("checkpoints")
def checkpoints(
    limit: Annotated[int, typer.Option("--limit", min=1, help="how many, newest first")] = 20,
) -> None:
    """The newest signed checkpoints with the platforms each is anchored on (a log signed
    every few minutes has many: each costs a read per platform)."""
    with _ledger() as ledger:
        if not isinstance(ledger.recorder, SealedLog):
            exit_with("the configured store is not a sealed log", USAGE)
        found = ledger.anchorings(limit)
        if not found:
            typer.echo("尚无检查点 no signed checkpoint yet: run `lvyue checkpoint`")
        for a in found:
            on = [anchor.platform for anchor in a.anchors]
            where = ", ".join(on) if on else "未存证 not anchored"
            typer.echo(f"{a.checkpoint.size:>12,}  {a.checkpoint.root_hash.hex()}  {where}")
