"""Use cases for public notices (公示): publishing what the company discloses to owners."""

from __future__ import annotations

from datetime import datetime

from ledger.application import Acting, CommandResult, LedgerCore, require_staff_actor
from ledger.domain.base import LedgerAggregate
from ledger.domain.notices import Notice
from ledger.envelope import CommandContext


class NoticeUseCases(LedgerCore):
    """Publish notices; the publisher is active staff (the runner's `role_of` checks that)."""

    def publish_notice(
        self,
        ctx: CommandContext,
        notice_id: str,
        property_id: str,
        kind: str,
        title: str,
        scope: tuple[str, ...],
        channels: tuple[str, ...],
        valid_from: datetime,
        valid_to: datetime | None,
        doc_sha256: str,
    ) -> CommandResult:
        def act(a: Acting) -> list[LedgerAggregate]:
            require_staff_actor(ctx)
            self.require_new("notice", notice_id, f"notice {notice_id!r} already exists")
            notice = Notice.publish(
                a.meta(property_id), notice_id, property_id, kind, title, tuple(scope),
                tuple(channels), valid_from, valid_to, doc_sha256,
            )
            return [notice]

        return self.run(ctx, "publish_notice", locals(), act)
