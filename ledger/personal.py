"""Personal data outside the hashed public record: a per-subject vault and crypto-shredding.

Names, phone numbers and free text a person marks personal never enter an event. The use case
encrypts each value under its subject's key (AES-256-GCM, `cryptography`) and the event holds
only a reference, the `PersonalRef` dict ``{"subject", "digest", "field"}`` where ``digest`` is
the hex SHA-256 of a fresh 16-byte salt followed by the UTF-8 value. The salt travels INSIDE the
ciphertext, so the digest commits to the value (a court can be shown salt and value) but cannot
be brute-forced from the public record, not even for a guessable phone number, and once the key
is gone nothing ties the digest to a value. The AEAD associated data binds each ciphertext to
its subject, field and digest (JSON array), so rows cannot be swapped between references.

Storage (each sealing recorder): ``<events>_subject_keys(subject_id PK, key)`` and
``<events>_personal(subject_id, digest, ciphertext, PK(subject_id, digest))``, written in the
SAME transaction as the events that refer to them (`VaultWrites`, passed to the recorder as the
``vault`` keyword), so no event refers to data that was never stored and a refused command
stores none. Erasure writes `SubjectErased` and, in that same transaction, deletes the subject's
ciphertexts and replaces its key with a tombstone (key NULL): the tombstone refuses new data for
an erased subject, even from a command that raced the erasure. Afterwards the recorder compacts
(`Vault.compact_vault`): SQLite writes with ``secure_delete`` on and truncates its WAL;
PostgreSQL runs ``VACUUM FULL`` on the key table and ``VACUUM`` on the ciphertext table — but
only once no snapshot older than the erasure remains (MVCC keeps the dead row for it), else it
reports False and must be called again (`lvyue erase` says so).

Key-encryption key (`VaultKey`): each subject key is stored wrapped (AES key wrap, RFC 3394)
under a 32-byte vault key kept in a file outside the database (`LVYUE_VAULT_KEY`, mode 0600,
created on first use), so a copy of the database alone — a backup, a dump, a replica — holds no
readable personal data. With a vault key configured a raw key is refused, reading and writing:
whoever can write the database could plant one and read every value stored under it from then
on. Erasure deletes the wrapped key, exactly as before.

Rotation (`Rotation`, `rotate_keys`): a new vault key re-wraps every live subject key in the
transaction that records `VaultKeyRotated` (ledger/domain/vault.py). The key-check slot
(`KEY_CHECK_SUBJECT`) holds a known key wrapped under the current vault key; a command that
wraps a new subject key is checked against it inside its own transaction (`guard_keys`, which
also creates the slot with the first key), so a process still running with the rotated-away
key can never store a key only that key opens.
Rotation re-wraps: the subject keys and the ciphertexts stay as they are.

Residual risks, not covered here: whoever holds both the database and the vault key before an
erasure holds the data; backups, file-system snapshots, PostgreSQL WAL archives and replicas
keep the wrapped key until they expire; the file system may keep freed blocks; process memory
and API logs are out of scope.
Erasure is complete only when those copies age out — write the retention of backups and WAL
archives into the erasure procedure.

`ledger/` draws no randomness of its own: keys, salts and nonces come from the application's
`entropy` callable, which the composition root supplies (the OS source in production, a seeded
source in the demo, whose keys are therefore not secret).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeGuard, runtime_checkable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap, aes_key_wrap

from ledger.errors import IllegalTransition, InvalidValue
from ledger.key_file import KeyPath, load_or_create_key_file

PersonalRef = dict[str, str]
"""``{"subject": "owner/O-GD-1-0101", "digest": "<64 hex>", "field": "phone"}``."""

Entropy = Callable[[int], bytes]
"""n → n unpredictable bytes (production: the operating system's source)."""

SUBJECT_KINDS = ("owner", "resident", "staff")
KEY_BYTES = 32
SALT_BYTES = 16
NONCE_BYTES = 12
ENVELOPE_VERSION = b"\x01"
REF_KEYS = frozenset({"subject", "digest", "field"})
PERSONAL_MARK = "<personal>"


class EntropyMissing(RuntimeError):
    """The application was built without an entropy source but asked to store personal data."""


class VaultCorrupted(RuntimeError):
    """A reference whose ciphertext is missing or fails authentication while its key exists."""


class VaultKeyMismatch(VaultCorrupted):
    """This process's vault key is not the one the store's keys are wrapped under: the key was
    rotated since the process started (restart it with the current key file), or the process
    was given another store's key."""


def no_entropy(n: int) -> bytes:
    """The default source: fail loudly, so a composition root that forgot the wiring is seen."""
    raise EntropyMissing(
        f"no entropy source configured (asked for {n} bytes): construct the Ledger with "
        "entropy=<the operating system's source>"
    )


# -- subjects ------------------------------------------------------------------------------


def subject_id(kind: str, key: str) -> str:
    """The subject id of a person: ``owner/O-GD-1-0101``, ``staff/GD-T1``."""
    return require_subject(f"{kind}/{key}")


def require_subject(value: str) -> str:
    """A subject id is ``<kind>/<person id>`` with kind owner, resident or staff."""
    if not isinstance(value, str):
        raise InvalidValue("subject id must be a string like owner/O-GD-1-0101")
    kind, _, key = value.partition("/")
    if kind not in SUBJECT_KINDS or not key or key != key.strip() or len(value) > 120:
        raise InvalidValue(
            f"subject id must be <{'|'.join(SUBJECT_KINDS)}>/<person id>; got {value!r}"
        )
    return value


def require_phone(value: str) -> str:
    """A phone number as people write it: digits with an optional +, spaces and dashes."""
    text = value.strip() if isinstance(value, str) else ""
    digits = sum(ch.isdigit() for ch in text)
    if not 3 <= digits <= 20 or any(not (ch.isdigit() or ch in "+- ()") for ch in text):
        raise InvalidValue("phone must be 3–20 digits, optionally with +, spaces, dashes")
    return text


# -- the envelope --------------------------------------------------------------------------


def digest_of(salt: bytes, value: str) -> str:
    """The public commitment to a value: hex SHA-256(salt || UTF-8 value)."""
    return hashlib.sha256(salt + value.encode()).hexdigest()


def _aad(subject: str, field_name: str, digest: str) -> bytes:
    return json.dumps([subject, field_name, digest], ensure_ascii=False).encode()


def seal_personal(
    value: str, subject: str, field_name: str, key: bytes, salt: bytes, nonce: bytes
) -> tuple[PersonalRef, bytes]:
    """Encrypt one value; returns its ref and ``version || nonce || AES-GCM(salt || value)``."""
    if (len(key), len(salt), len(nonce)) != (KEY_BYTES, SALT_BYTES, NONCE_BYTES):
        raise ValueError("key, salt and nonce must be 32, 16 and 12 bytes")
    digest = digest_of(salt, value)
    ref = {"subject": subject, "digest": digest, "field": field_name}
    body = AESGCM(key).encrypt(nonce, salt + value.encode(), _aad(subject, field_name, digest))
    return ref, ENVELOPE_VERSION + nonce + body


def open_personal(ref: PersonalRef, key: bytes, envelope: bytes) -> str:
    """Decrypt and check a value against its reference; VaultCorrupted when they disagree."""
    if envelope[:1] != ENVELOPE_VERSION:
        raise VaultCorrupted(f"unknown envelope version for {ref['subject']} {ref['digest']}")
    nonce, body = envelope[1 : 1 + NONCE_BYTES], envelope[1 + NONCE_BYTES :]
    aad = _aad(ref["subject"], ref["field"], ref["digest"])
    try:
        plain = AESGCM(key).decrypt(nonce, body, aad)
    except InvalidTag:
        raise VaultCorrupted(f"ciphertext of {ref['subject']} {ref['digest']} fails") from None
    salt, value = plain[:SALT_BYTES], plain[SALT_BYTES:].decode()
    if digest_of(salt, value) != ref["digest"]:
        raise VaultCorrupted(f"value of {ref['subject']} does not match {ref['digest']}")
    return value


def is_personal_ref(value: object) -> TypeGuard[PersonalRef]:
    """Whether a value (from an event or a state) is a personal-data reference."""
    if not isinstance(value, dict) or set(value) != REF_KEYS:
        return False
    if not all(isinstance(v, str) for v in value.values()):
        return False
    digest = value["digest"]
    return len(digest) == 64 and all(ch in "0123456789abcdef" for ch in digest)


def mask_personal(args: Mapping[str, Any], *names: str) -> dict[str, Any]:
    """Command arguments for the idempotency fingerprint, without personal plaintext.

    A digest of a phone number is brute-forced in seconds, and receipts are never erased, so a
    personal argument counts only as present (absent ones are dropped, which keeps fingerprints
    of commands without personal data as they were). A retry that changes only personal values
    under the same command id is therefore treated as a repeat.
    """
    masked = {k: v for k, v in args.items() if k not in names}
    for name in names:
        if args.get(name) not in (None, False):
            masked[name] = PERSONAL_MARK
    return masked


# -- the vault port ------------------------------------------------------------------------


WRAPPED_KEY_BYTES = KEY_BYTES + 8  # RFC 3394 adds one 64-bit block


@dataclass(frozen=True)
class VaultKey:
    """The key-encryption key that subject keys are stored under (None: stored as they are).

    Without one (tests, an embedded development store) keys are stored raw. Each mode reads
    only its own form: a wrapped key without the vault key, or a raw key beside one, is refused
    loudly rather than guessed (a raw key there may have been planted by whoever could write
    the database, to read what is stored under it next).
    """

    kek: bytes | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.kek is not None and len(self.kek) != KEY_BYTES:
            raise ValueError(f"a vault key is {KEY_BYTES} bytes")

    @classmethod
    def load_or_create(cls, path: KeyPath, new_secret: Callable[[], bytes]) -> VaultKey:
        """The vault key in `path`, created with mode 0600 from `new_secret()` on first use."""
        return cls(load_or_create_key_file(path, new_secret, "vault key"))

    def check_value(self) -> bytes:
        """What this vault key stores in the key-check slot (KEY_CHECK_SUBJECT): the known key
        in stored form. AES key wrap is deterministic, so equal bytes mean the same vault key."""
        return self.wrap(KEY_CHECK_PLAIN)

    def key_id(self) -> str:
        """A public name for this vault key (none: "raw"), for events and messages."""
        return "raw" if self.kek is None else hashlib.sha256(self.check_value()).hexdigest()[:16]

    def wrap(self, key: bytes) -> bytes:
        """A new subject key in its stored form."""
        return key if self.kek is None else aes_key_wrap(self.kek, key)

    def unwrap(self, subject: str, stored: bytes) -> bytes:
        """A stored subject key back, in the form this configuration stores."""
        if self.kek is None:
            if len(stored) != KEY_BYTES:
                raise VaultCorrupted(f"the key of {subject} is wrapped; no vault key is configured")
            return stored
        if len(stored) != WRAPPED_KEY_BYTES:
            raise VaultCorrupted(
                f"the key of {subject} is not wrapped under the vault key; refused (a raw key "
                "in the database may have been planted)"
            )
        try:
            return aes_key_unwrap(self.kek, stored)
        except InvalidUnwrap:
            raise VaultCorrupted(
                f"the key of {subject} does not unwrap with this vault key"
            ) from None


NO_VAULT_KEY = VaultKey()
KEY_CHECK_SUBJECT = "~vault-key-check"
"""A reserved key slot (no subject id has this form) holding KEY_CHECK_PLAIN in stored form.

A process stores a new subject key only while the slot holds its own vault key's check value
(checked in the command's transaction), and a rotation re-wraps the slot with every key, so a
process still holding a rotated-away vault key can never wrap a new key under it."""
KEY_CHECK_PLAIN = bytes(KEY_BYTES)


@dataclass(frozen=True)
class KeySlot:
    """A subject's key as stored: live, never created (key None), or destroyed by erasure."""

    key: bytes | None
    erased: bool = False


@dataclass(frozen=True)
class VaultEntry:
    """A subject's key slot and, when asked for, one ciphertext — read in one snapshot."""

    slot: KeySlot
    ciphertext: bytes | None


@dataclass(frozen=True)
class SealedValue:
    """One ciphertext row."""

    subject: str
    digest: str
    ciphertext: bytes


@dataclass
class VaultWrites:
    """Every vault change of one command, applied by the recorder in the events' transaction."""

    new_keys: dict[str, bytes] = field(default_factory=dict)
    values: list[SealedValue] = field(default_factory=list)
    erase: str | None = None
    vault_key: VaultKey | None = None
    """With new keys: the vault key they are wrapped under. The store checks it against the
    key-check slot inside its transaction (`guard_keys`) and refuses the whole command if the
    store's keys are under another vault key."""
    rotation: Rotation | None = None

    def __bool__(self) -> bool:
        return bool(self.new_keys or self.values or self.erase or self.rotation)

    def protect(
        self,
        vault: Vault,
        entropy: Entropy,
        subject: str,
        field_name: str,
        value: str,
        vault_key: VaultKey = NO_VAULT_KEY,
    ) -> PersonalRef:
        """Encrypt `value` under `subject`'s key (created on first use); returns the reference.

        `new_keys` holds keys in their stored form (wrapped under `vault_key`).
        """
        subject = require_subject(subject)
        stored = self.new_keys.get(subject)
        if stored is None:
            slot = vault.read_vault(subject, None).slot
            if slot.erased:
                raise IllegalTransition(
                    f"{subject} was erased; no personal data may be stored for it again"
                )
            stored = slot.key
        if stored is None:
            key = _draw(entropy, KEY_BYTES)
            self.vault_key = vault_key
            self.new_keys[subject] = vault_key.wrap(key)
        else:
            key = vault_key.unwrap(subject, stored)
        ref, ciphertext = seal_personal(
            value, subject, field_name, key, _draw(entropy, SALT_BYTES), _draw(entropy, NONCE_BYTES)
        )
        self.values.append(SealedValue(subject, ref["digest"], ciphertext))
        return ref


_MISMATCH = (
    "the store's personal-data keys are not wrapped under this process's vault key {key_id}: "
    "was the vault key rotated (lvyue vault rotate)? Restart with the current key file"
)


def _require_same_key(vault_key: VaultKey, subject: str, stored: bytes) -> None:
    try:
        vault_key.unwrap(subject, stored)
    except VaultCorrupted:
        raise VaultKeyMismatch(_MISMATCH.format(key_id=vault_key.key_id())) from None


@dataclass(frozen=True)
class Rotation:
    """A vault-key rotation for the store to apply in the transaction of its event: every live
    subject key re-wrapped from `old` to `new`, and the key-check slot moved with them."""

    old: VaultKey
    new: VaultKey

    def rewrap(self, subject: str, stored: bytes) -> bytes:
        return self.new.wrap(self.old.unwrap(subject, stored))


class KeyRows(Protocol):
    """The subject-key table as seen from inside a store's write transaction."""

    def key_of(self, subject: str) -> bytes | None: ...

    def live_keys(self) -> list[tuple[str, bytes]]: ...

    def replace_keys(self, rows: Sequence[tuple[str, bytes]]) -> None: ...


def guard_keys(rows: KeyRows, writes: VaultWrites) -> None:
    """The store's checks, after it inserted `writes.new_keys` in the same transaction: apply a
    rotation, then require the key-check slot to hold the writer's vault key's check value —
    creating the slot with the first new key, once an older key (if any) proved to unwrap. A
    failure raises before commit, so the command's events and vault changes are all refused
    together: a process left on a rotated-away key can never store a key only it opens."""
    if writes.rotation is not None:
        rotate_keys(rows, writes.rotation)
    key = writes.vault_key
    if key is None:
        return
    slot = rows.key_of(KEY_CHECK_SUBJECT)
    if slot is None:
        older = [
            (s, k)
            for s, k in rows.live_keys()
            if s != KEY_CHECK_SUBJECT and s not in writes.new_keys
        ]
        if older:
            _require_same_key(key, *older[0])
        rows.replace_keys([(KEY_CHECK_SUBJECT, key.check_value())])
    elif slot != key.check_value():
        raise VaultKeyMismatch(_MISMATCH.format(key_id=key.key_id()))


def rotate_keys(rows: KeyRows, rotation: Rotation) -> None:
    """Re-wrap every live subject key and the key-check slot.

    Refused (VaultKeyMismatch) when the slot holds neither key's check value, or a key does
    not unwrap under `old`: a store is never left with keys under two vault keys."""
    slot = rows.key_of(KEY_CHECK_SUBJECT)
    if slot is not None and slot != rotation.old.check_value():
        raise VaultKeyMismatch(_MISMATCH.format(key_id=rotation.old.key_id()))
    live = [(s, k) for s, k in rows.live_keys() if s != KEY_CHECK_SUBJECT]
    try:
        rewrapped = [(subject, rotation.rewrap(subject, key)) for subject, key in live]
    except VaultCorrupted as error:
        raise VaultKeyMismatch(f"{error}; no key was re-wrapped") from None
    rows.replace_keys([*rewrapped, (KEY_CHECK_SUBJECT, rotation.new.check_value())])


def _draw(entropy: Entropy, n: int) -> bytes:
    data = entropy(n)
    if not isinstance(data, bytes) or len(data) != n:
        raise EntropyMissing(f"the entropy source returned no {n} bytes")
    return data


@runtime_checkable
class Vault(Protocol):
    """What every sealing recorder offers for personal data (writes go with `insert_events`)."""

    def read_vault(self, subject: str, digest: str | None) -> VaultEntry: ...

    def personal_count(self, subject: str) -> int: ...

    def compact_vault(self) -> bool: ...


def reveal(vault: Vault, ref: PersonalRef, vault_key: VaultKey = NO_VAULT_KEY) -> str | None:
    """The value a reference stands for, or None once its subject was erased."""
    if not is_personal_ref(ref):
        raise InvalidValue("not a personal-data reference")
    entry = vault.read_vault(ref["subject"], ref["digest"])
    if entry.slot.erased:
        return None
    if entry.slot.key is None or entry.ciphertext is None:
        raise VaultCorrupted(f"no stored value for {ref['subject']} {ref['digest']}")
    return open_personal(ref, vault_key.unwrap(ref["subject"], entry.slot.key), entry.ciphertext)
