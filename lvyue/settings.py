"""Settings from the environment (BRIEF.md "Contracts"): read once, passed everywhere."""

from __future__ import annotations

import os
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from ledger.config import DEFAULT_DATABASE_URL


@dataclass(frozen=True)
class Settings:
    """Where the log lives, which key signs it, what it is called, how times are shown."""

    database_url: str = DEFAULT_DATABASE_URL
    signing_key_path: str = "lvyue-signing.key"
    origin: str = "lvyue.local/ledger"
    display_zone: str = "Asia/Shanghai"
    checkpoint_every_events: int = 1000
    checkpoint_interval_seconds: float = 300.0

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            database_url=os.environ.get("LVYUE_DATABASE_URL", DEFAULT_DATABASE_URL),
            signing_key_path=os.environ.get("LVYUE_SIGNING_KEY", "lvyue-signing.key"),
            origin=os.environ.get("LVYUE_ORIGIN", "lvyue.local/ledger"),
            display_zone=os.environ.get("LVYUE_TIMEZONE", "Asia/Shanghai"),
            checkpoint_every_events=_positive_int("LVYUE_CHECKPOINT_EVERY", 1000),
            checkpoint_interval_seconds=float(_positive_int("LVYUE_CHECKPOINT_INTERVAL", 300)),
        )

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.display_zone)


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
