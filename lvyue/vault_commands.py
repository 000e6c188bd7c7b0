"""`lvyue vault rotate`: a new vault key (个人信息密钥轮换) for the personal-data vault.

Every subject key is re-wrapped under the new key and `VaultKeyRotated` is recorded in ONE
transaction (ledger/usecases/personal.py); only then does the new key file replace the old one.
The new key is first written beside the old as `<key file>.next`, so a rotation interrupted at
any point is finished by running the command again: before the commit nothing changed and
it rotates; after it the store already answers to the `.next` key, so only the file moves.
Processes that still hold the old key are refused when they next need it (VaultKeyMismatch):
copy the new key file to every host and restart them. Exit codes: 0 rotated, 1 refused, 2 usage.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Annotated

import typer

from ledger.config import ConfigError
from ledger.errors import DomainError
from ledger.key_file import KeyFileError, create_key_file, promote_key_file, read_key_file
from ledger.ledger import Ledger
from ledger.personal import VaultCorrupted, VaultKey
from lvyue.personal_commands import operator_context
from lvyue.refusal import USAGE, exit_with
from lvyue.settings import Settings

WHAT = "vault key"

vault_app = typer.Typer(help="The personal-data vault's key (个人信息密钥).", no_args_is_help=True)


def next_key_path(path: Path) -> Path:
    """Where a rotation keeps the new key until the store has switched to it."""
    return path.with_name(f"{path.name}.next")


@vault_app.command("rotate")
def rotate(
    reason: Annotated[str, typer.Option("--reason", help="why (recorded in the event)")],
    keep_previous: Annotated[
        Path | None,
        typer.Option(
            "--keep-previous",
            help="also write the old key here (0600), to restore backups taken before now",
        ),
    ] = None,
) -> None:
    """Re-wrap every subject key under a new vault key, then replace the key file."""
    settings = Settings.from_env()
    path = Path(settings.vault_key_file)
    try:
        old = VaultKey(read_key_file(path, WHAT))
        new = VaultKey(_next_key(next_key_path(path)))
    except FileNotFoundError:
        exit_with(f"没有密钥 no vault key at {path}: nothing to rotate", USAGE)
    except KeyFileError as error:
        exit_with(f"密钥文件错误 key file error: {error}", USAGE)
    rewrapped = _rotate_store(settings, old, new, reason)
    if keep_previous is not None:
        _keep(keep_previous, old)
    promote_key_file(next_key_path(path), path)
    done = "已轮换 rotated" if rewrapped else "已完成 finished an interrupted rotation"
    typer.echo(
        f"个人信息密钥{done}: vault key {old.key_id()} → {new.key_id()} in {path}.\n"
        "Copy this key file to every host that runs lvyue and restart them (API, watcher, "
        "projector): until then they are refused when they need the key."
        + ("" if keep_previous is None else f"\nThe old key is in {keep_previous}.")
    )


def _next_key(path: Path) -> bytes:
    """The `.next` key of an interrupted rotation, else a new one written there first."""
    if not path.exists():
        with contextlib.suppress(FileExistsError):  # a second `rotate` racing this one
            create_key_file(path, os.urandom(32), WHAT)
    return read_key_file(path, WHAT)


def _rotate_store(settings: Settings, old: VaultKey, new: VaultKey, reason: str) -> bool:
    """Rotate the store from `old` to `new`; False when it had been rotated to `new` already."""
    try:
        ledger = Ledger(settings.database_url, entropy=os.urandom, vault_key=old)
    except ConfigError as error:
        exit_with(f"配置错误 configuration error: {error}", USAGE)
    try:
        if ledger.vault_key_state(new) == "current":
            return False
        ledger.rotate_vault_key(operator_context(), new, reason)
        return True
    except DomainError as error:
        exit_with(f"拒绝 refused ({error.code}): {error.message}")
    except VaultCorrupted as error:
        exit_with(f"拒绝 refused: {error}")
    finally:
        ledger.close()


def _keep(path: Path, old: VaultKey) -> None:
    """Write the old key for older backups (an identical file from an earlier try is fine)."""
    assert old.kek is not None
    try:
        create_key_file(path, old.kek, WHAT)
    except FileExistsError:
        if read_key_file(path, WHAT) != old.kek:
            exit_with(f"{path} exists and holds another key; choose another --keep-previous", USAGE)
