"""Use cases for anchoring the log outside the company: record a platform's receipt."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from ledger.application import Acting, CommandResult, LedgerCore
from ledger.domain.anchors import PLATFORMS, Anchor, anchor_key, require_tree_size
from ledger.domain.base import LedgerAggregate
from ledger.envelope import CommandContext
from ledger.errors import NotFound
from ledger.trail import SealedLog, StoredCheckpoint


class AnchorUseCases(LedgerCore):
    """Record that a signed checkpoint was anchored on an outside platform (LedgerAnchored)."""

    def record_anchor(
        self,
        ctx: CommandContext,
        platform: str,
        tree_size: int,
        anchored_at: datetime,
        receipt_ref: str,
        receipt_sha256: str,
    ) -> CommandResult:
        """The checkpoint of `tree_size` must be one this store signed: its root and note hash
        are copied from the store, so a receipt can only ever vouch for the log's own tree."""

        def act(a: Acting) -> list[LedgerAggregate]:
            self.require_new(
                "anchor", anchor_key(platform, tree_size),
                f"the checkpoint of size {tree_size} is already anchored on {platform}",
            )  # fmt: skip
            signed = self.signed_checkpoint(tree_size)
            anchor = Anchor.record(
                a.meta(None), platform, tree_size, signed.root_hash.hex(),
                hashlib.sha256(signed.note.encode()).hexdigest(), anchored_at, receipt_ref,
                receipt_sha256,
            )  # fmt: skip
            return [anchor]

        return self.run(ctx, "record_anchor", locals(), act)

    def signed_checkpoint(self, tree_size: int) -> StoredCheckpoint:
        """The store's signed checkpoint of exactly `tree_size` events."""
        log = self.recorder
        require_tree_size(tree_size)
        found = (
            [c for c in log.all_checkpoints() if c.size == tree_size]
            if isinstance(log, SealedLog)
            else []
        )
        if not found:
            raise NotFound(
                f"no signed checkpoint of size {tree_size}: anchor one that `lvyue checkpoint` "
                "signed (`lvyue anchor checkpoints` lists them)"
            )
        return found[0]

    def anchors_of(self, tree_size: int) -> list[Anchor]:
        """The anchors recorded for the checkpoint of `tree_size`, one per platform at most."""
        found = []
        for platform in PLATFORMS:
            try:
                found.append(self.load(Anchor, "anchor", anchor_key(platform, tree_size)))
            except NotFound:
                continue
        return found

    def anchorings(self, limit: int) -> list[Anchoring]:
        """The newest `limit` signed checkpoints, each with the anchors recorded for it."""
        log = self.recorder
        signed = log.all_checkpoints() if isinstance(log, SealedLog) else []
        newest = sorted(signed, key=lambda c: -c.size)[:limit]
        return [Anchoring(c, self.anchors_of(c.size)) for c in newest]


@dataclass(frozen=True)
class Anchoring:
    """A signed checkpoint and the anchors recorded for it (none: not anchored yet)."""

    checkpoint: StoredCheckpoint
    anchors: list[Anchor]
