"""The envelope every event carries: who acted, in which role, when, and why.

Time, actor and ids are always passed in, never read from a clock, so a replay is identical.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

ACTOR_KINDS = ("staff", "owner", "system", "admin", "auditor", "device")


@dataclass(frozen=True)
class Actor:
    """The authenticated principal and the role they held when acting."""

    id: str
    kind: str
    role: str


@dataclass(frozen=True)
class Meta:
    """Envelope fields stored with each event (and hashed into its public record)."""

    actor: Actor
    occurred_at: datetime
    recorded_at: datetime
    command_id: str
    on_behalf_of: str | None = None
    causation_id: str | None = None
    correlation_id: str | None = None
    evidence: tuple[str, ...] = ()
    property_id: str | None = None


@dataclass(frozen=True)
class CommandContext:
    """What a caller supplies with every command; the role is derived by the ledger."""

    actor_id: str
    actor_kind: str
    occurred_at: datetime
    recorded_at: datetime
    command_id: str
    on_behalf_of: str | None = None
    causation_id: str | None = None
    correlation_id: str | None = None
    evidence: tuple[str, ...] = field(default=())
    request_digest: str | None = None
    """A digest of the whole request the caller received (an HTTP path, body and envelope).
    Given, it joins the command's fingerprint in the receipt: the same command id with a
    different request is refused, even where the use case's arguments agree."""

    def meta(self, role: str, property_id: str | None) -> Meta:
        """Seal the context into an envelope once the actor's role is known."""
        return Meta(
            actor=Actor(self.actor_id, self.actor_kind, role),
            occurred_at=self.occurred_at,
            recorded_at=self.recorded_at,
            command_id=self.command_id,
            on_behalf_of=self.on_behalf_of,
            causation_id=self.causation_id,
            correlation_id=self.correlation_id,
            evidence=self.evidence,
            property_id=property_id,
        )
