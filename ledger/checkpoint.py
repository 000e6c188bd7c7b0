"""The signing side of checkpoints: C2SP signed notes made with the log's Ed25519 key.

Key file format: exactly the 32-byte raw Ed25519 private seed (RFC 8032), no encoding, no
newline. It is written once by :func:`create_key_file` with mode 0600 and never replaced;
:meth:`SigningKey.load` refuses a file that group or others may read or write, because
anyone holding the seed can sign checkpoints in the log's name.

The key's name is the log's origin (``LVYUE_ORIGIN``), so the verifier key a regulator is
given reads ``<origin>+<key id>+<base64 public key>``. The caller must persist the last signed
size and root before signing the next checkpoint: two inconsistent checkpoints must never
exist. Signing is deterministic (Ed25519). Like ids and times elsewhere in ``ledger/``, the new
seed comes in as an argument, drawn by the composition root from the operating system's
random source, because ``ledger/`` reads no clock and no randomness.
"""

from __future__ import annotations

import base64
from collections.abc import Callable

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.key_file import (
    KEY_FILE_BYTES,
    KeyPath,
    load_or_create_key_file,
    read_key_file,
)
from lvyue_verify import (
    VerifierKey,
    ed25519_key_id,
    format_checkpoint,
    is_valid_key_name,
    verify_note,
)

SEED_BYTES = KEY_FILE_BYTES
class SigningKey:
    """The log's checkpoint signer: an Ed25519 key named after the log's origin."""

    def __init__(self, name: str, private_key: Ed25519PrivateKey) -> None:
        if not is_valid_key_name(name):
            raise ValueError(f"key name {name!r} must be non-empty, without spaces or '+'")
        self._name = name
        self._private = private_key
        self._public = private_key.public_key().public_bytes_raw()
        self._key_id = ed25519_key_id(name, self._public)

    @classmethod
    def load(cls, path: KeyPath, name: str) -> SigningKey:
        """Load the seed at ``path`` (see the module docstring for the file format)."""
        seed = read_key_file(path, "signing key")
        return cls(name, Ed25519PrivateKey.from_private_bytes(seed))

    @classmethod
    def load_or_create(cls, path: KeyPath, name: str, new_seed: Callable[[], bytes]) -> SigningKey:
        """Load the key, first creating it from ``new_seed()`` if the file does not exist yet."""
        seed = load_or_create_key_file(path, new_seed, "signing key")
        return cls(name, Ed25519PrivateKey.from_private_bytes(seed))

    @property
    def key_name(self) -> str:
        """The key's name, which is the log's origin."""
        return self._name

    @property
    def key_id(self) -> bytes:
        """The 4-byte C2SP key id."""
        return self._key_id

    def verifier_key_text(self) -> str:
        """The public verifier key to publish: ``<name>+<hex id>+<base64(0x01 || key)>``."""
        return self.verifier_key().text()

    def verifier_key(self) -> VerifierKey:
        """The public half, as the verifier uses it."""
        return VerifierKey(self._name, self._key_id, self._public)

    def sign_note(self, text: str) -> str:
        """A signed note of ``text`` (which ends in a newline), checked before it is returned."""
        signature = self._private.sign(text.encode())
        encoded = base64.b64encode(self._key_id + signature).decode()
        note = f"{text}\n\u2014 {self._name} {encoded}\n"
        if verify_note(note, self.verifier_key()) != text:
            raise ValueError("text cannot be carried by a signed note")
        return note

    def sign_checkpoint(self, origin: str, size: int, root: bytes) -> str:
        """The signed ``tlog-checkpoint`` note for a tree of ``size`` leaves with ``root``."""
        if origin != self._name:
            raise ValueError(f"origin {origin!r} is not this key's name {self._name!r}")
        return self.sign_note(format_checkpoint(origin, size, root))
