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
import contextlib
import os
import stat
from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from lvyue_verify import (
    VerifierKey,
    ed25519_key_id,
    format_checkpoint,
    is_valid_key_name,
    verify_note,
)

SEED_BYTES = 32
KeyPath = str | os.PathLike[str]


class KeyFileError(ValueError):
    """The signing key file is malformed or readable by others."""


def create_key_file(path: KeyPath, seed: bytes) -> None:
    """Write ``seed`` (32 fresh random bytes) to ``path`` with mode 0600, never replacing a file.

    The seed goes to a private temporary file first and is then hard-linked into place, so
    ``path`` never exists half-written; FileExistsError tells a racing creator to load instead.
    """
    if len(seed) != SEED_BYTES:
        raise ValueError(f"an Ed25519 seed is {SEED_BYTES} bytes")
    target = Path(path)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    temporary.unlink(missing_ok=True)  # a leftover of a crashed process with our pid
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            os.fchmod(handle.fileno(), 0o600)  # exactly 0600, whatever the umask
            handle.write(seed)
            handle.flush()
            os.fsync(handle.fileno())
        os.link(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)


def _read_seed(path: Path) -> bytes:
    """The seed, after checking the file is regular and private to its owner."""
    with path.open("rb") as handle:
        mode = os.fstat(handle.fileno()).st_mode
        if not stat.S_ISREG(mode):
            raise KeyFileError(f"signing key {path} is not a regular file")
        if mode & 0o077:
            raise KeyFileError(
                f"signing key {path} has mode {stat.S_IMODE(mode):04o}; group and others must "
                f"have no access (chmod 600 {path})"
            )
        seed = handle.read(SEED_BYTES + 1)
    if len(seed) != SEED_BYTES:
        raise KeyFileError(f"signing key {path} must hold exactly {SEED_BYTES} raw bytes")
    return seed


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
        seed = _read_seed(Path(path))
        return cls(name, Ed25519PrivateKey.from_private_bytes(seed))

    @classmethod
    def load_or_create(cls, path: KeyPath, name: str, new_seed: Callable[[], bytes]) -> SigningKey:
        """Load the key, first creating it from ``new_seed()`` if the file does not exist yet."""
        if not Path(path).exists():
            with contextlib.suppress(FileExistsError):
                create_key_file(path, new_seed())
        return cls.load(path, name)

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
