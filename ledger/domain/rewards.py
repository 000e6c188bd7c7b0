"""Rewards (奖励): commendations and bonuses, each naming what it rests on.

Rewards feed the B term of the 履约之星 score, so like penalties they must be reproducible: the
basis is a ledger event or an evidence file (a scanned praise letter, a photo of the banner), and
nobody rewards themselves.
"""

from __future__ import annotations

from eventsourcing.domain import event

from ledger.domain.base import LedgerAggregate, require_choice, require_text
from ledger.domain.penalties import parse_money, require_ids, require_points
from ledger.envelope import Meta
from ledger.errors import InvalidValue, SeparationOfDuties
from ledger.ids import stream_id

REWARD_KINDS = ("praise_letter", "banner", "rescue", "bonus", "award")
MAX_REWARD_POINTS = 5


class Reward(LedgerAggregate):
    """One commendation or bonus granted to one person."""

    class RewardGranted(LedgerAggregate.Created):
        reward_id: str
        property_id: str
        person_id: str
        kind: str
        basis_event_ids: tuple[str, ...]
        points: int
        amount: str
        reason: str

    @event(RewardGranted)
    def __init__(
        self,
        meta: Meta,
        reward_id: str,
        property_id: str,
        person_id: str,
        kind: str,
        basis_event_ids: tuple[str, ...],
        points: int,
        amount: str,
        reason: str,
    ) -> None:
        self.reward_id = reward_id
        self.property_id = property_id
        self.person_id = person_id
        self.kind = kind
        self.basis_event_ids = basis_event_ids
        self.points = points
        self.amount = amount
        self.reason = reason
        self.granted_by = meta.actor.id

    @classmethod
    def grant(
        cls,
        meta: Meta,
        reward_id: str,
        property_id: str,
        person_id: str,
        kind: str,
        basis_event_ids: tuple[str, ...],
        points: int,
        amount: str,
        reason: str,
    ) -> Reward:
        """Grant a reward; its basis is at least one ledger event or one evidence file."""
        person_id = require_text("person_id", person_id, 100)
        if person_id == meta.actor.id:
            raise SeparationOfDuties("a person cannot grant a reward to themselves")
        basis = require_ids("basis_event_ids", basis_event_ids, at_least=0)
        if not basis and not meta.evidence:
            raise InvalidValue("a reward needs a basis: basis_event_ids or an evidence file")
        parse_money("amount", amount)
        return cls._create(
            cls.RewardGranted,
            id=stream_id("reward", require_text("reward_id", reward_id, 100)),
            meta=meta,
            reward_id=reward_id,
            property_id=require_text("property_id", property_id, 100),
            person_id=person_id,
            kind=require_choice("kind", kind, REWARD_KINDS),
            basis_event_ids=basis,
            points=require_points("points", points, MAX_REWARD_POINTS),
            amount=amount,
            reason=require_text("reason", reason),
        )
