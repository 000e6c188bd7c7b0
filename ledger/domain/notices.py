"""Notices (公示): what the company posted for owners to see, where, and from when until when.

Civil Code 943 obliges the company to disclose its service items, responsible persons, fees,
maintenance-fund use and common-part income; 1253/1254 make published safety warnings part of
its proof of "necessary safety measures". A dispute turns on what was posted, on which channels
and when, so the event keeps the published document by its SHA-256 and, for a physical notice
board, the photo of the posted board as the command's evidence.
"""

from __future__ import annotations

from datetime import datetime

from eventsourcing.domain import event

from ledger.domain.base import LedgerAggregate, require_choice, require_digest, require_text
from ledger.domain.inspections import require_aware
from ledger.domain.penalties import require_ids
from ledger.envelope import Meta
from ledger.errors import InvalidValue
from ledger.ids import stream_id

NOTICE_KINDS = (
    "service_standards",
    "responsible_persons",
    "fees",
    "maintenance_plan",
    "income_expense",
    "common_revenue",
    "maintenance_fund",
    "annual_report",
    "outage",
    "emergency",
    "safety_warning",
)
CHANNELS = ("board", "app", "wechat", "sms", "letter")
BOARD = "board"
MAX_TITLE = 200


class Notice(LedgerAggregate):
    """One public notice of one property, posted on one or more channels."""

    class NoticePublished(LedgerAggregate.Created):
        notice_id: str
        property_id: str
        kind: str
        title: str
        scope: tuple[str, ...]
        channels: tuple[str, ...]
        valid_from: datetime
        valid_to: datetime | None
        doc_sha256: str

    @event(NoticePublished)
    def __init__(
        self,
        meta: Meta,
        notice_id: str,
        property_id: str,
        kind: str,
        title: str,
        scope: tuple[str, ...],
        channels: tuple[str, ...],
        valid_from: datetime,
        valid_to: datetime | None,
        doc_sha256: str,
    ) -> None:
        self.notice_id = notice_id
        self.property_id = property_id
        self.kind = kind
        self.title = title
        self.scope = scope
        self.channels = channels
        self.valid_from = valid_from
        self.valid_to = valid_to
        self.doc_sha256 = doc_sha256
        self.published_by = meta.actor.id

    @classmethod
    def publish(
        cls,
        meta: Meta,
        notice_id: str,
        property_id: str,
        kind: str,
        title: str,
        scope: tuple[str, ...],
        channels: tuple[str, ...],
        valid_from: datetime,
        valid_to: datetime | None,
        doc_sha256: str,
    ) -> Notice:
        """Publish a notice; an empty scope covers the whole property."""
        channels = require_channels(channels)
        if BOARD in channels and not meta.evidence:
            raise InvalidValue(
                "a notice on the board needs the photo of the posted board as evidence"
            )
        notice_id = require_text("notice_id", notice_id, 100)
        return cls._create(
            cls.NoticePublished,
            id=stream_id("notice", notice_id),
            meta=meta,
            notice_id=notice_id,
            property_id=require_text("property_id", property_id, 100),
            kind=require_choice("kind", kind, NOTICE_KINDS),
            title=require_text("title", title, MAX_TITLE),
            scope=require_ids("scope", scope, at_least=0),
            channels=channels,
            valid_from=require_aware("valid_from", valid_from),
            valid_to=require_validity_end(valid_from, valid_to),
            doc_sha256=require_digest("doc_sha256", doc_sha256),
        )


def require_channels(channels: tuple[str, ...]) -> tuple[str, ...]:
    """At least one channel, each from the closed list, none twice."""
    if not isinstance(channels, tuple) or not channels:
        raise InvalidValue(f"channels must name at least one of {', '.join(CHANNELS)}")
    for channel in channels:
        require_choice("channels", channel, CHANNELS)
    if len(set(channels)) != len(channels):
        raise InvalidValue("channels contains duplicates")
    return channels


def require_validity_end(valid_from: datetime, valid_to: datetime | None) -> datetime | None:
    """An open-ended notice has no end; a given end lies after the start."""
    if valid_to is None:
        return None
    if require_aware("valid_to", valid_to) <= require_aware("valid_from", valid_from):
        raise InvalidValue("valid_to must be after valid_from")
    return valid_to

