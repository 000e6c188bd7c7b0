"""A test clock: contexts with increasing times and fresh command ids, never the real clock."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from ledger.envelope import CommandContext

T0 = datetime(2026, 7, 1, 8, 0, tzinfo=UTC)


@dataclass
class Clock:
    """Hands out command contexts; `advance` moves business time forward."""

    now: datetime = T0
    counter: int = 0
    prefix: str = "cmd"
    evidence: tuple[str, ...] = field(default=())

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now

    def ctx(
        self,
        actor: str,
        kind: str = "staff",
        *,
        on_behalf_of: str | None = None,
        evidence: tuple[str, ...] = (),
        command_id: str | None = None,
        occurred_at: datetime | None = None,
    ) -> CommandContext:
        self.counter += 1
        self.now += timedelta(seconds=1)
        return CommandContext(
            actor_id=actor,
            actor_kind=kind,
            occurred_at=occurred_at or self.now,
            recorded_at=self.now,
            command_id=command_id or f"{self.prefix}-{self.counter}",
            on_behalf_of=on_behalf_of,
            evidence=evidence,
        )

    def admin(self, **kw: object) -> CommandContext:
        return self.ctx("admin", "admin", **kw)  # type: ignore[arg-type]


PHOTO = "ab" * 32
