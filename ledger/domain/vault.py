"""The personal-data vault as a whole (个人信息密钥): each rotation of its vault key.

Rotating the vault key (the key-encryption key, ledger/personal.py) re-wraps every subject key
in the store; `VaultKeyRotated` is recorded in the same transaction, so the log says who
rotated it, when, why, and from which key to which (by public key ids, never key bytes).
The first rotation opens the stream and later ones follow in it (`OpensOrFollows`, as the
Subject stream's events do); the private mutator only assigns.
"""

from __future__ import annotations

from typing import Any, Self

from eventsourcing.domain import event
from eventsourcing.utils import get_topic

from ledger.domain.base import LedgerAggregate, OpensOrFollows, require_text
from ledger.envelope import Meta
from ledger.errors import IllegalTransition
from ledger.ids import stream_id

VAULT_KIND = "vault"
VAULT_KEY = "personal-data"


class VaultEvent(OpensOrFollows):
    """A vault event that may open the stream or follow in it."""

    vault: str


class PersonalDataVault(LedgerAggregate):
    """The vault's key history: which vault key its subject keys are wrapped under."""

    class VaultKeyRotated(VaultEvent):
        reason: str
        key_before: str
        key_after: str

        def apply(self, aggregate: Any) -> None:
            aggregate._rotated(self.key_after)

    @event(VaultKeyRotated)
    def __init__(self, meta: Meta, vault: str) -> None:
        self.vault = vault
        self.key_id = ""
        self.rotations = 0

    def _rotated(self, key_after: str) -> None:
        self.key_id = key_after
        self.rotations = self.rotations + 1

    @classmethod
    def first_rotation(cls, meta: Meta, reason: str, key_before: str, key_after: str) -> Self:
        """The vault's first recorded rotation opens its stream."""
        fields = _rotation_fields(reason, key_before, key_after)
        sid = stream_id(VAULT_KIND, VAULT_KEY)
        return cls._create(cls.VaultKeyRotated, id=sid, meta=meta, vault=VAULT_KEY, **fields)

    def rotate(self, meta: Meta, reason: str, key_before: str, key_after: str) -> None:
        """Record a rotation; it must start from the key the last one ended with."""
        if key_before != self.key_id:
            raise IllegalTransition(
                f"the vault key is {self.key_id}, not {key_before}; rotate from the current key"
            )
        self.trigger_event(
            self.VaultKeyRotated,
            originator_topic=get_topic(type(self)),
            meta=meta,
            vault=self.vault,
            **_rotation_fields(reason, key_before, key_after),
        )


def _rotation_fields(reason: str, key_before: str, key_after: str) -> dict[str, str]:
    if key_before == key_after:
        raise IllegalTransition("a rotation needs a new vault key, not the current one")
    return {
        "reason": require_text("reason", reason, 500),
        "key_before": require_text("key_before", key_before, 64),
        "key_after": require_text("key_after", key_after, 64),
    }
