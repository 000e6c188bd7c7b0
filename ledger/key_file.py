"""Secret key files: 32 raw bytes, mode 0600, written once and never replaced.

The log's checkpoint seed (ledger/checkpoint.py) and the vault's key-encryption key
(ledger/personal.py) are both such files. Loading refuses a file that group or others may read
or write, because whoever holds it can sign in the log's name or read the personal data. The
new secret comes in as an argument: `ledger/` reads no randomness of its own.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Callable
from pathlib import Path

KEY_FILE_BYTES = 32

KeyPath = str | os.PathLike[str]


class KeyFileError(ValueError):
    """A key file is malformed or readable by others."""


def create_key_file(path: KeyPath, secret: bytes, what: str = "key") -> None:
    """Write `secret` (32 fresh random bytes) to `path` with mode 0600, never replacing a file.

    The secret goes to a private temporary file first and is then hard-linked into place, so
    `path` never exists half-written; FileExistsError tells a racing creator to load instead.
    """
    if len(secret) != KEY_FILE_BYTES:
        raise ValueError(f"a {what} is {KEY_FILE_BYTES} bytes")
    target = Path(path)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    temporary.unlink(missing_ok=True)  # a leftover of a crashed process with our pid
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            os.fchmod(handle.fileno(), 0o600)  # exactly 0600, whatever the umask
            handle.write(secret)
            handle.flush()
            os.fsync(handle.fileno())
        os.link(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)


def read_key_file(path: KeyPath, what: str = "key") -> bytes:
    """The secret, after checking the file is regular and private to its owner."""
    path = Path(path)
    with path.open("rb") as handle:
        mode = os.fstat(handle.fileno()).st_mode
        if not stat.S_ISREG(mode):
            raise KeyFileError(f"{what} {path} is not a regular file")
        if mode & 0o077:
            raise KeyFileError(
                f"{what} {path} has mode {stat.S_IMODE(mode):04o}; group and others must "
                f"have no access (chmod 600 {path})"
            )
        secret = handle.read(KEY_FILE_BYTES + 1)
    if len(secret) != KEY_FILE_BYTES:
        raise KeyFileError(f"{what} {path} must hold exactly {KEY_FILE_BYTES} raw bytes")
    return secret


def load_or_create_key_file(path: KeyPath, new_secret: Callable[[], bytes], what: str) -> bytes:
    """The secret at `path`, first creating the file from `new_secret()` if it does not exist."""
    if not Path(path).exists():
        with contextlib.suppress(FileExistsError):
            create_key_file(path, new_secret(), what)
    return read_key_file(path, what)


def promote_key_file(source: KeyPath, target: KeyPath) -> None:
    """Move a new key file over the current one in one atomic rename, made durable (the
    directory is synced), so `target` always holds either the old key or the new one."""
    os.replace(source, target)
    directory = os.open(Path(target).parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
