"""Use cases for data subjects: legal holds, erasure (crypto-shredding) and revealing values.

Erasure writes `SubjectErased` and destroys the subject's key and ciphertexts in ONE transaction
(the vault changes travel with the event, ledger/personal.py), so either both happen or
neither; the store is compacted after the commit so the key bytes leave its live files.
"""

from __future__ import annotations

from ledger.application import Acting, CommandResult, LedgerCore
from ledger.domain.base import LedgerAggregate
from ledger.domain.subjects import Subject
from ledger.envelope import CommandContext
from ledger.personal import PersonalRef, require_subject, reveal


class PersonalUseCases(LedgerCore):
    """Place and release legal holds, erase a subject, reveal a personal value."""

    def place_legal_hold(
        self, ctx: CommandContext, subject_id: str, hold_id: str, reason: str, case_ref: str
    ) -> CommandResult:
        def act(a: Acting) -> list[LedgerAggregate]:
            subject = self._subject(subject_id)
            if subject is None:
                return [Subject.open_with_hold(a.meta(None), subject_id, hold_id, reason, case_ref)]
            subject.place_hold(a.meta(None), hold_id, reason, case_ref)
            return [subject]

        return self.run(ctx, "place_legal_hold", locals(), act)

    def release_legal_hold(
        self, ctx: CommandContext, subject_id: str, hold_id: str, reason: str
    ) -> CommandResult:
        def act(a: Acting) -> list[LedgerAggregate]:
            subject = self.load(Subject, "subject", require_subject(subject_id))
            subject.release_hold(a.meta(None), hold_id, reason)
            return [subject]

        return self.run(ctx, "release_legal_hold", locals(), act)

    def erase_subject(self, ctx: CommandContext, subject_id: str, reason: str) -> CommandResult:
        """Crypto-shred a subject's personal data; refused under an active legal hold."""

        def act(a: Acting) -> list[LedgerAggregate]:
            subject = self._subject(subject_id)
            count = self.vault.personal_count(subject_id)
            a.vault.erase = subject_id
            if subject is None:
                return [Subject.open_with_erasure(a.meta(None), subject_id, reason, count)]
            subject.erase(a.meta(None), reason, count)
            return [subject]

        result = self.run(ctx, "erase_subject", locals(), act)
        self.vault.compact_vault()  # best effort after the commit; False means "retry later"
        return result

    def reveal(self, ref: PersonalRef) -> str | None:
        """The personal value a reference in an event stands for; None once erased.

        Unlogged: for the operator's own console. A person reading through the API goes
        through `reveal_recorded`.
        """
        return reveal(self.vault, ref, self.vault_key)

    def reveal_recorded(self, ctx: CommandContext, ref: PersonalRef, read_from: str) -> str | None:
        """Record `PersonalDataRevealed` for the caller, then reveal: no access without its log.

        `read_from` names the record the reference was read from (a stream id). The log entry is
        written even when the value turns out to be erased, because the attempt is an access.
        """

        def act(a: Acting) -> list[LedgerAggregate]:
            fields = (ref["field"], ref["digest"], read_from)
            subject = self._subject(ref["subject"])
            if subject is None:
                return [Subject.open_with_reveal(a.meta(None), ref["subject"], *fields)]
            subject.record_reveal(a.meta(None), *fields)
            return [subject]

        self.run(ctx, "reveal_personal", {"ref": dict(ref), "read_from": read_from}, act)
        return reveal(self.vault, ref, self.vault_key)

    def data_subject(self, subject_id: str) -> Subject | None:
        """The subject's holds and erasure state, or None if nothing was ever recorded."""
        return self._subject(subject_id)

    def _subject(self, subject_id: str) -> Subject | None:
        key = require_subject(subject_id)
        return self.load(Subject, "subject", key) if self.exists("subject", key) else None
