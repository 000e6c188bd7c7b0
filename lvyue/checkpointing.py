"""Automatic checkpoints: sign when the log has grown enough or enough time has passed.

Long-running processes (the demo, `lvyue serve`, `lvyue watch`, `lvyue project`) call
`Checkpointer.maybe_sign`; `lvyue checkpoint` signs on demand. Signing refuses anything
inconsistent with the last checkpoint (ledger.trail.sign_checkpoint).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field

from ledger.checkpoint import SigningKey
from ledger.trail import SealedLog, sign_checkpoint
from lvyue.settings import Settings


def load_signing_key(settings: Settings) -> SigningKey:
    """The checkpoint key, created 0600 on first use (never in ledger/)."""
    return SigningKey.load_or_create(
        settings.signing_key_path, settings.origin, lambda: os.urandom(32)
    )


@dataclass
class Checkpointer:
    """Signs every `every_events` new events or every `every_seconds` of the caller's clock."""

    log: SealedLog
    key: SigningKey
    origin: str
    every_events: int
    every_seconds: float
    clock: Callable[[], float]
    last_time: float = field(default=0.0)

    def maybe_sign(self) -> str | None:
        """Sign if due; returns the new note or None."""
        size = self.log.sealed_size()
        latest = self.log.latest_checkpoint()
        signed = latest.size if latest is not None else 0
        grown = size - signed
        now = self.clock()
        due = grown >= self.every_events or (
            grown > 0 and now - self.last_time >= self.every_seconds
        )
        if not due:
            return None
        self.last_time = now
        return sign_checkpoint(self.log, self.key, self.origin)

    def maybe_sign_final(self) -> str | None:
        """At the end of a run: sign whatever is not yet covered by a checkpoint."""
        size = self.log.sealed_size()
        latest = self.log.latest_checkpoint()
        if size == 0 or (latest is not None and latest.size == size):
            return latest.note if latest is not None else None
        return sign_checkpoint(self.log, self.key, self.origin)
