"""Work rules (规章制度, 奖惩制度): published versions and each person's signed acknowledgement.

A rule binds staff only if it went through a democratic procedure and was made known to them
(劳动合同法 4; SPC labour interpretation I art. 50), so a publication must name the meeting
record and an acknowledgement can only be signed by the person themselves.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from eventsourcing.domain import event

from ledger.domain.base import LedgerAggregate, require_digest, require_text
from ledger.domain.contracts import RecurringCreated, recur
from ledger.domain.inspections import require_aware
from ledger.envelope import Meta
from ledger.errors import IllegalTransition, InvalidValue, NotResponsible
from ledger.ids import stream_id


class WorkRule(LedgerAggregate):
    """One rule document through its versions, with who acknowledged which version."""

    class WorkRulePublished(RecurringCreated):
        rule_id: str
        version: int
        title: str
        document_sha256: str
        procedure_ref: str
        effective_from: datetime

    @event(WorkRulePublished)
    def __init__(
        self,
        meta: Meta,
        rule_id: str,
        version: int,
        title: str,
        document_sha256: str,
        procedure_ref: str,
        effective_from: datetime,
    ) -> None:
        self.acknowledged: dict[str, tuple[str, ...]] = {}
        self._published(
            meta, rule_id, version, title, document_sha256, procedure_ref, effective_from
        )

    def _published(
        self,
        meta: Meta,
        rule_id: str,
        version: int,
        title: str,
        document_sha256: str,
        procedure_ref: str,
        effective_from: datetime,
    ) -> None:
        self.rule_id = rule_id
        self.rule_version = version
        self.title = title
        self.document_sha256 = document_sha256
        self.procedure_ref = procedure_ref
        self.effective_from = effective_from
        self.acknowledged = {**self.acknowledged, str(version): ()}

    @classmethod
    def publish(
        cls,
        meta: Meta,
        rule_id: str,
        title: str,
        document_sha256: str,
        procedure_ref: str,
        effective_from: datetime,
    ) -> WorkRule:
        """Version 1; `procedure_ref` names the union or staff-meeting minutes that adopted it."""
        rule_id = require_text("rule_id", rule_id, 100)
        return cls._create(
            cls.WorkRulePublished,
            id=stream_id("work_rule", rule_id),
            meta=meta,
            rule_id=rule_id,
            version=1,
            **_publication(title, document_sha256, procedure_ref, effective_from),
        )

    def revise(
        self,
        meta: Meta,
        title: str,
        document_sha256: str,
        procedure_ref: str,
        effective_from: datetime,
    ) -> None:
        """Republish a new document as the next version; acknowledgements do not carry over."""
        body = _publication(title, document_sha256, procedure_ref, effective_from)
        if document_sha256 == self.document_sha256:
            raise InvalidValue(f"version {self.rule_version} already has this document")
        if effective_from < self.effective_from:
            raise InvalidValue(f"a revision cannot take effect before version {self.rule_version}")
        recur(
            self,
            self.WorkRulePublished,
            meta=meta,
            rule_id=self.rule_id,
            version=self.rule_version + 1,
            **body,
        )

    class WorkRuleAcknowledged(LedgerAggregate.Event):
        person_id: str
        version: int

    @event(WorkRuleAcknowledged)
    def _acknowledged(self, meta: Meta, person_id: str, version: int) -> None:
        signed = (*self.acknowledged[str(version)], person_id)
        self.acknowledged = {**self.acknowledged, str(version): signed}

    def acknowledge(self, meta: Meta, person_id: str, version: int) -> None:
        """The person's own signature that they received the current version."""
        if meta.actor.kind != "staff" or meta.actor.id != person_id:
            raise NotResponsible("only the person themselves may acknowledge a work rule")
        if version != self.rule_version:
            raise InvalidValue(f"the current version of {self.rule_id} is {self.rule_version}")
        if self.has_acknowledged(person_id, version):
            raise IllegalTransition(f"{person_id} has already acknowledged version {version}")
        self._acknowledged(meta, person_id, version)

    def has_acknowledged(self, person_id: str, version: int) -> bool:
        """Whether the person signed for that version (penalties rest on an acknowledged rule)."""
        return person_id in self.acknowledged.get(str(version), ())


def _publication(
    title: str, document_sha256: str, procedure_ref: str, effective_from: datetime
) -> dict[str, Any]:
    return {
        "title": require_text("title", title, 200),
        "document_sha256": require_digest("document_sha256", document_sha256),
        "procedure_ref": require_text("procedure_ref", procedure_ref, 200),
        "effective_from": require_aware("effective_from", effective_from),
    }
