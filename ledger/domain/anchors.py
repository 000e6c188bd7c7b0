"""Anchors (存证): a signed checkpoint handed to a party outside the company, and its receipt.

A court weighs electronic data more when a neutral party fixed it in time (证据规定 94(2),
在线诉讼规则 16): a trusted timestamp (RFC 3161), a judicial blockchain, a notary. The log's
own checkpoints prove that nothing was rewritten after they were signed; an anchor proves when
the signed tree existed, to someone who does not trust the company's clock. The event copies the
tree size, root hash and the signed note's SHA-256 from the store's checkpoint (never from the
caller), and keeps the platform's receipt by hash and reference.
"""

from __future__ import annotations

from datetime import datetime

from eventsourcing.domain import event

from ledger.domain.base import (
    LedgerAggregate,
    require_choice,
    require_digest,
    require_text,
    require_whole,
)
from ledger.domain.inspections import require_aware
from ledger.envelope import Meta
from ledger.errors import InvalidValue
from ledger.ids import stream_id

PLATFORMS = ("rfc3161_tsa", "judicial_chain", "notary", "evidence_platform")


def require_tree_size(value: int) -> int:
    """A checkpoint covers at least one event."""
    return require_whole("tree_size", value, 1)


def anchor_key(platform: str, tree_size: int) -> str:
    """One anchor per platform and tree size: anchoring the same tree there twice is refused."""
    return f"{platform}/{tree_size}"


class Anchor(LedgerAggregate):
    """One checkpoint anchored on one outside platform."""

    class LedgerAnchored(LedgerAggregate.Created):
        platform: str
        tree_size: int
        root_hash: str
        checkpoint_sha256: str
        anchored_at: datetime
        receipt_ref: str
        receipt_sha256: str

    @event(LedgerAnchored)
    def __init__(
        self,
        meta: Meta,
        platform: str,
        tree_size: int,
        root_hash: str,
        checkpoint_sha256: str,
        anchored_at: datetime,
        receipt_ref: str,
        receipt_sha256: str,
    ) -> None:
        self.platform = platform
        self.tree_size = tree_size
        self.root_hash = root_hash
        self.checkpoint_sha256 = checkpoint_sha256
        self.anchored_at = anchored_at
        self.receipt_ref = receipt_ref
        self.receipt_sha256 = receipt_sha256

    @classmethod
    def record(
        cls,
        meta: Meta,
        platform: str,
        tree_size: int,
        root_hash: str,
        checkpoint_sha256: str,
        anchored_at: datetime,
        receipt_ref: str,
        receipt_sha256: str,
    ) -> Anchor:
        """Record the receipt of an anchoring; the platform's time cannot be after we record
        it, and the receipt file travels as the command's evidence too."""
        require_choice("platform", platform, PLATFORMS)
        require_tree_size(tree_size)
        for name, digest in (
            ("root_hash", root_hash),
            ("checkpoint_sha256", checkpoint_sha256),
            ("receipt_sha256", receipt_sha256),
        ):
            require_digest(name, digest)
        if require_aware("anchored_at", anchored_at) > meta.recorded_at:
            raise InvalidValue("anchored_at is after now: a receipt cannot come from the future")
        if receipt_sha256 not in meta.evidence:
            raise InvalidValue("attach the platform's receipt file as evidence (its SHA-256)")
        return cls._create(
            cls.LedgerAnchored,
            id=stream_id("anchor", anchor_key(platform, tree_size)),
            meta=meta,
            platform=platform,
            tree_size=tree_size,
            root_hash=root_hash,
            checkpoint_sha256=checkpoint_sha256,
            anchored_at=anchored_at,
            receipt_ref=require_text("receipt_ref", receipt_ref, 300),
            receipt_sha256=receipt_sha256,
        )
