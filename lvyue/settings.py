"""Settings from the environment (BRIEF.md "Contracts"): read once, passed everywhere."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

from ledger.config import DEFAULT_DATABASE_URL
from ledger.ledger import Ledger
from ledger.personal import VaultKey


@dataclass(frozen=True)
class Settings:
    """Where the log lives, which keys sign it and guard its personal data, how times show."""

    database_url: str = DEFAULT_DATABASE_URL
    signing_key_path: str = "lvyue-signing.key"
    origin: str = "lvyue.local/ledger"
    display_zone: str = "Asia/Shanghai"
    checkpoint_every_events: int = 1000
    checkpoint_interval_seconds: float = 300.0
    vault_key_path: str = ""

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            database_url=os.environ.get("LVYUE_DATABASE_URL", DEFAULT_DATABASE_URL),
            signing_key_path=os.environ.get("LVYUE_SIGNING_KEY", "lvyue-signing.key"),
            origin=os.environ.get("LVYUE_ORIGIN", "lvyue.local/ledger"),
            display_zone=os.environ.get("LVYUE_TIMEZONE", "Asia/Shanghai"),
            checkpoint_every_events=_positive_int("LVYUE_CHECKPOINT_EVERY", 1000),
            checkpoint_interval_seconds=float(_positive_int("LVYUE_CHECKPOINT_INTERVAL", 300)),
            vault_key_path=os.environ.get("LVYUE_VAULT_KEY", ""),
        )

    @property
    def vault_key_file(self) -> str:
        """`LVYUE_VAULT_KEY`, else `lvyue-vault.key` beside the signing key: both are secrets
        that must live outside the database and its backups."""
        return self.vault_key_path or str(Path(self.signing_key_path).with_name("lvyue-vault.key"))

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.display_zone)


def open_ledger(settings: Settings) -> Ledger:
    """The ledger on the configured store, able to store and reveal personal data: the OS's
    randomness for new keys, and the vault key (created with mode 0600 on first use)."""
    vault_key = VaultKey.load_or_create(settings.vault_key_file, lambda: os.urandom(32))
    return Ledger(settings.database_url, entropy=os.urandom, vault_key=vault_key)


def _positive_int(name: str, default: int) -> int:
    """An environment integer ≥ 1; anything else is a configuration error naming the variable."""
    text = os.environ.get(name)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"{name} must be a positive integer, got {text!r}") from None
    if value < 1:
        raise ValueError(f"{name} must be a positive integer, got {text!r}")
    return value
