"""`lvyue audit | checkpoint | export | verify | verifier-key`: the tamper-evident log's commands.

Exit codes: 0 ok, 1 a check failed (the first failure is printed with its seq or file),
2 usage or configuration error. This is a composition root: the checkpoint key's seed is
drawn here from the operating system (``ledger/`` reads no randomness), and the export's
creation time is read from the clock here.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from ledger.checkpoint import SigningKey
from ledger.key_file import KeyFileError
from ledger.ledger import Ledger
from ledger.trail import SealedLog, TrailError, sign_checkpoint
from ledger.trail import audit as run_audit
from lvyue.checkpointing import load_signing_key
from lvyue.refusal import USAGE, exit_with
from lvyue.settings import Settings
from lvyue_verify import BundleError, anchor_lines, verify_bundle
from projections.bundle import EarlierCheckpointRejected, ExportError, TargetNotEmpty, export_bundle


def _signing_key(settings: Settings) -> SigningKey:
    """The log's key, created (mode 0600) from the OS random source on first use."""
    try:
        return load_signing_key(settings)
    except (KeyFileError, OSError, ValueError) as error:
        exit_with(f"签名密钥不可用 signing key unusable: {error}", USAGE)


@contextmanager
def _sealed_log(settings: Settings) -> Iterator[SealedLog]:
    """The configured store's sealing recorder, closed afterwards."""
    ledger = Ledger(settings.database_url)
    try:
        recorder = ledger.recorder
        if not isinstance(recorder, SealedLog):
            exit_with("the configured store is not a sealed log", USAGE)
        yield recorder
    finally:
        ledger.close()


def audit() -> None:
    """Recompute every leaf and checkpoint from the stored events (审计)."""
    settings = Settings.from_env()
    key = _signing_key(settings)
    with _sealed_log(settings) as log:
        report = run_audit(log, key)
    if report.first is not None:
        for finding in report.findings[1:]:
            typer.echo(f"  also: {finding.describe()}", err=True)
        exit_with(f"审计失败 audit FAILED: {report.first.describe()}")
    typer.echo(
        f"审计通过 audit ok: {report.size:,} events, {report.checkpoints:,} checkpoints, "
        f"root {report.root.hex()}"
    )


def checkpoint() -> None:
    """Sign and print a checkpoint of the whole log (签署检查点)."""
    settings = Settings.from_env()
    key = _signing_key(settings)
    with _sealed_log(settings) as log:
        try:
            note = sign_checkpoint(log, key, settings.origin)
        except TrailError as error:
            exit_with(f"拒绝签署 checkpoint refused: {error}")
    typer.echo(note, nl=False)


def export(
    out_dir: Annotated[Path, typer.Argument(help="new or empty directory for the bundle")],
    property_id: Annotated[
        str | None, typer.Option("--property", help="only this property's events in full")
    ] = None,
    since_checkpoint: Annotated[
        Path | None,
        typer.Option("--since-checkpoint", help="an earlier checkpoint to prove consistency with"),
    ] = None,
) -> None:
    """Write an audit bundle (导出审计包), see AUDIT-BUNDLE.md."""
    settings = Settings.from_env()
    earlier = _read_text(since_checkpoint) if since_checkpoint is not None else None
    key = _signing_key(settings)
    with _sealed_log(settings) as log:
        try:
            summary = export_bundle(
                log,
                out_dir,
                key,
                settings.origin,
                property_id=property_id,
                since_checkpoint_text=earlier,
                created_at=datetime.now(UTC),
                display_zone=settings.display_zone,
            )
        except TargetNotEmpty as error:
            exit_with(f"用法错误 usage: {error}", USAGE)
        except (ExportError, TrailError) as error:
            label = "检查点不符" if isinstance(error, EarlierCheckpointRejected) else "导出拒绝"
            exit_with(f"{label} export refused: {error}")
    since = (
        f", consistent with checkpoint {summary.consistent_from:,}"
        if summary.consistent_from
        else ""
    )
    typer.echo(
        f"导出完成 export ok: {summary.tree_size:,} events ({summary.in_scope:,} in scope, "
        f"{summary.redacted:,} redacted), root {summary.root_hash.hex()}{since} -> "
        f"{summary.out_dir}"
    )


def verify(
    bundle_dir: Annotated[Path, typer.Argument(help="the bundle directory")],
    checkpoint_file: Annotated[
        Path | None, typer.Option("--checkpoint", help="an earlier checkpoint you trust")
    ] = None,
    key: Annotated[
        str | None, typer.Option("--key", help="the verifier key the operator published")
    ] = None,
) -> None:
    """Verify an audit bundle offline, with no database (校验审计包)."""
    if not bundle_dir.is_dir():
        exit_with(f"用法错误 usage: {bundle_dir} is not a directory", USAGE)
    earlier = _read_text(checkpoint_file) if checkpoint_file is not None else None
    try:
        summary = verify_bundle(bundle_dir, earlier, trusted_key=key)
    except BundleError as error:
        exit_with(f"校验失败 verification FAILED ({error.location()}): {error.message}")
    typer.echo(
        f"校验通过 verified: {summary.tree_size:,} events ({summary.full_records:,} full, "
        f"{summary.redacted_records:,} redacted), root {summary.root_hash.hex()}, "
        f"origin {summary.origin}"
    )
    if summary.consistent_from is not None:
        typer.echo(f"与检查点一致 consistent with checkpoint {summary.consistent_from:,}")
    for line in anchor_lines(summary.anchors):
        typer.echo(line)
    if key is None:
        typer.echo(f"验证密钥 verifier key {summary.verifier_key} (compare with the published key)")


def verifier_key() -> None:
    """Print the public verifier key to publish (公开验证密钥)."""
    typer.echo(_signing_key(Settings.from_env()).verifier_key_text())


def _read_text(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError) as error:
        exit_with(f"用法错误 usage: cannot read {path}: {error}", USAGE)
