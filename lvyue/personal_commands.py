"""`lvyue erase | hold | release-hold`: personal-data erasure and legal holds; replay's reveal.

A composition root: the operator acts as actor kind "admin" with the id in `LVYUE_OPERATOR`
(default "admin"); time and command ids are taken here, and the ledger gets the operating
system's entropy. Exit codes: 0 done, 1 refused (e.g. under legal hold; the reason is printed),
2 usage. Erasure destroys the subject's key in the transaction that records `SubjectErased`;
copies in backups and PostgreSQL WAL archives are outside its reach (ledger/personal.py).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from eventsourcing.persistence import PersistenceError

from ledger.application import CommandResult
from ledger.config import ConfigError
from ledger.domain.subjects import Subject
from ledger.envelope import CommandContext
from ledger.errors import DomainError
from ledger.ledger import Ledger
from ledger.personal import VaultCorrupted, is_personal_ref
from ledger.replay import StreamState
from lvyue.refusal import USAGE, exit_with
from lvyue.settings import Settings, open_ledger

ERASED = "[已删除 erased]"
UNAVAILABLE = "[不可读 unreadable]"

Command = Callable[[Ledger, CommandContext], CommandResult]


def operator_context() -> CommandContext:
    """The operator's context: actor kind admin, id from LVYUE_OPERATOR, now, a fresh id."""
    now = datetime.now(UTC)
    return CommandContext(
        actor_id=os.environ.get("LVYUE_OPERATOR", "admin"),
        actor_kind="admin",
        occurred_at=now,
        recorded_at=now,
        command_id=f"cli-{uuid.uuid4()}",
    )


@contextmanager
def _ledger() -> Iterator[Ledger]:
    try:
        ledger = open_ledger(Settings.from_env())
    except ConfigError as error:
        exit_with(f"配置错误 configuration error: {error}", USAGE)
    try:
        yield ledger
    finally:
        ledger.close()


def _run(ledger: Ledger, command: Command) -> CommandResult:
    try:
        return command(ledger, operator_context())
    except DomainError as error:
        exit_with(f"拒绝 refused ({error.code}): {error.message}")


def erase(
    subject_id: Annotated[str, typer.Argument(help="e.g. owner/O-GD-1-0101 or staff/GD-T1")],
    reason: Annotated[str, typer.Option("--reason", help="why (recorded in the event)")],
) -> None:
    """Crypto-shred one person's personal data (删除个人信息); refused under a legal hold.

    Run again on an erased subject, it is refused (exit 1) but finishes a compaction that an
    open reader or an older snapshot deferred.
    """
    with _ledger() as ledger:
        try:
            ledger.erase_subject(operator_context(), subject_id, reason)
        except DomainError as error:
            subject = _known_subject(ledger, subject_id)
            if subject is not None and subject.erased:
                _report_compaction(ledger, subject_id)
            exit_with(f"拒绝 refused ({error.code}): {error.message}")
        subject = ledger.data_subject(subject_id)
        count = subject.fields_erased if subject is not None else 0
        typer.echo(f"已删除 erased {subject_id}: {count} personal values, key destroyed")
        _report_compaction(ledger, subject_id)


def _known_subject(ledger: Ledger, subject_id: str) -> Subject | None:
    try:
        return ledger.data_subject(subject_id)
    except DomainError:
        return None


def _report_compaction(ledger: Ledger, subject_id: str) -> None:
    """Compact the store now; say so when old copies of the key had to stay for now."""
    try:
        complete = ledger.vault.compact_vault()
    except PersistenceError as error:
        complete = False
        typer.echo(f"compaction failed: {error}", err=True)
    if not complete:
        typer.echo(
            "注意 note: the key is destroyed, but an open reader or an older snapshot keeps the "
            "store from dropping its old copies yet; run `lvyue erase "
            f"{subject_id} --reason ...` again later to finish (it reports 'already erased')",
            err=True,
        )


def hold(
    subject_id: Annotated[str, typer.Argument(help="e.g. owner/O-GD-1-0101")],
    reason: Annotated[str, typer.Option("--reason", help="why the data must be kept")],
    case: Annotated[str, typer.Option("--case", help="case or matter reference")],
    hold_id: Annotated[
        str | None, typer.Option("--hold-id", help="default: H<n>, the subject's next number")
    ] = None,
) -> None:
    """Place a legal hold (诉讼保全): erasure is refused until it is released."""
    with _ledger() as ledger:
        chosen = hold_id or _next_hold_id(ledger, subject_id)
        _run(
            ledger,
            lambda app, ctx: app.place_legal_hold(ctx, subject_id, chosen, reason, case),
        )
    typer.echo(f"已保全 hold {chosen} placed on {subject_id} ({case})")


def release_hold(
    subject_id: Annotated[str, typer.Argument(help="e.g. owner/O-GD-1-0101")],
    hold_id: Annotated[str, typer.Argument(help="the hold to release, e.g. H1")],
    reason: Annotated[str, typer.Option("--reason", help="why the hold ends")],
) -> None:
    """Release a legal hold (解除保全)."""
    with _ledger() as ledger:
        _run(ledger, lambda app, ctx: app.release_legal_hold(ctx, subject_id, hold_id, reason))
        subject = ledger.data_subject(subject_id)
    others = sorted(subject.active_holds) if subject is not None else []
    still = f"; still held by {', '.join(others)}" if others else ""
    typer.echo(f"已解除 hold {hold_id} released on {subject_id}{still}")


def _next_hold_id(ledger: Ledger, subject_id: str) -> str:
    try:
        subject = ledger.data_subject(subject_id)
    except DomainError as error:
        exit_with(f"拒绝 refused ({error.code}): {error.message}")
    if subject is None:
        return "H1"
    return f"H{len(subject.active_holds) + len(subject.released_holds) + 1}"


# -- replay: personal references shown as their values -------------------------------------


def reveal_state(ledger: Ledger, result: StreamState) -> StreamState:
    """The replayed state with each personal reference replaced by its value or ERASED.

    The events stay as recorded (references only): they are the hashed public record.
    """
    return replace(result, state={k: _revealed(ledger, v) for k, v in result.state.items()})


def _revealed(ledger: Ledger, value: Any) -> Any:
    if is_personal_ref(value):
        try:
            text = ledger.reveal(value)
        except VaultCorrupted:
            return UNAVAILABLE
        return ERASED if text is None else text
    if isinstance(value, dict):
        return {k: _revealed(ledger, v) for k, v in value.items()}
    return value
