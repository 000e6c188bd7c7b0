"""Use cases for data subjects: legal holds, erasure (crypto-shredding) and revealing values.

Erasure writes `SubjectErased` and destroys the subject's key and ciphertexts in ONE transaction
(the vault changes travel with the event, ledger/personal.py), so either both happen or
neither; the store is compacted after the commit so the key bytes leave its live files.
"""

from __future__ import annotations

from ledger.application import Acting, CommandResult, LedgerCore
from ledger.domain.base import LedgerAggregate
from ledger.domain.subjects import Subject
from ledger.domain.vault import VAULT_KEY, VAULT_KIND, PersonalDataVault
from ledger.envelope import CommandContext
from ledger.personal import (
    KEY_CHECK_SUBJECT,
    PersonalRef,
    Rotation,
    VaultKey,
    require_subject,
    reveal,
)


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

    def rotate_vault_key(
        self, ctx: CommandContext, new_key: VaultKey, reason: str
    ) -> CommandResult:
        """Re-wrap every subject key under `new_key` and record `VaultKeyRotated`, in ONE
        transaction; this process then uses `new_key`.

        Other processes still holding the old key are refused when they next store a new
        subject key or read a value (VaultKeyMismatch): restart them with the new key file.
        The old wrapped keys are then compacted out of the store's live files, as after an
        erasure. The fingerprint names the keys by id only: key bytes never reach a receipt.
        """
        old_key = self.vault_key

        def act(a: Acting) -> list[LedgerAggregate]:
            a.vault.rotation = Rotation(old_key, new_key)
            a.vault.vault_key = new_key
            ids = (old_key.key_id(), new_key.key_id())
            if not self.exists(VAULT_KIND, VAULT_KEY):
                return [PersonalDataVault.first_rotation(a.meta(None), reason, *ids)]
            vault = self.load(PersonalDataVault, VAULT_KIND, VAULT_KEY)
            vault.rotate(a.meta(None), reason, *ids)
            return [vault]

        args = {"reason": reason, "key_before": old_key.key_id(), "key_after": new_key.key_id()}
        result = self.run(ctx, "rotate_vault_key", args, act)
        self.vault_key = new_key
        self.vault.compact_vault()  # best effort after the commit, as after an erasure
        return result

    def vault_key_state(self, key: VaultKey) -> str:
        """Whether the store's subject keys are wrapped under `key`: "current", "other", or
        "unchecked" (no key stored yet under a key-check slot)."""
        stored = self.vault.read_vault(KEY_CHECK_SUBJECT, None).slot.key
        if stored is None:
            return "unchecked"
        return "current" if stored == key.check_value() else "other"

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
