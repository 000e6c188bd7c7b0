"""C2SP signed notes and checkpoints: the published example, our signer, hostile notes."""

from __future__ import annotations

import base64
import hashlib
import os
import stat
from pathlib import Path

import pytest

from ledger.checkpoint import SigningKey
from ledger.key_file import KeyFileError, create_key_file
from lvyue_verify import (
    Checkpoint,
    VerificationError,
    format_checkpoint,
    parse_checkpoint,
    parse_verifier_key,
    verify_note,
)

EXAMPLE_KEY = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
EXAMPLE_TEXT = "This is an example message.\n"
EXAMPLE_SIG = (
    "Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM="
)
EXAMPLE_NOTE = f"{EXAMPLE_TEXT}\n\u2014 example.com/foo {EXAMPLE_SIG}\n"
B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
ROOT = hashlib.sha256(b"root").digest()


@pytest.fixture
def key(tmp_path: Path) -> SigningKey:
    path = tmp_path / "signing.key"
    create_key_file(path, os.urandom(32))
    return SigningKey.load(path, "lvyue.test/log")


def other(char: str) -> str:
    return "B" if char == "A" else "A"


def test_published_example_verifies() -> None:
    verifier = parse_verifier_key(EXAMPLE_KEY)
    assert verifier.key_id.hex() == "530d903a"
    assert verifier.text() == EXAMPLE_KEY
    assert verify_note(EXAMPLE_NOTE, verifier) == EXAMPLE_TEXT


def test_any_one_character_change_in_the_text_is_rejected() -> None:
    verifier = parse_verifier_key(EXAMPLE_KEY)
    for i in range(len(EXAMPLE_TEXT) - 1):
        text = EXAMPLE_TEXT[:i] + ("x" if EXAMPLE_TEXT[i] != "x" else "y") + EXAMPLE_TEXT[i + 1 :]
        with pytest.raises(VerificationError):
            verify_note(f"{text}\n\u2014 example.com/foo {EXAMPLE_SIG}\n", verifier)


def test_any_one_character_change_in_the_signature_is_rejected() -> None:
    """Including changes to padding bits: only canonical base64 is accepted."""
    verifier = parse_verifier_key(EXAMPLE_KEY)
    for i, char in enumerate(EXAMPLE_SIG):
        for replacement in {other(char), B64[(B64.index(char) + 1) % 64] if char in B64 else "A"}:
            sig = EXAMPLE_SIG[:i] + replacement + EXAMPLE_SIG[i + 1 :]
            with pytest.raises(VerificationError):
                verify_note(f"{EXAMPLE_TEXT}\n\u2014 example.com/foo {sig}\n", verifier)


def test_round_trip_with_a_fresh_key(key: SigningKey) -> None:
    note = key.sign_checkpoint("lvyue.test/log", 42, ROOT)
    verifier = parse_verifier_key(key.verifier_key_text())
    body = verify_note(note, verifier)
    assert body == format_checkpoint("lvyue.test/log", 42, ROOT)
    assert parse_checkpoint(body) == Checkpoint("lvyue.test/log", 42, ROOT)
    assert note.endswith("\n")
    assert "\n\n\u2014 lvyue.test/log " in note


def test_signing_is_deterministic(key: SigningKey) -> None:
    assert key.sign_checkpoint("lvyue.test/log", 7, ROOT) == key.sign_checkpoint(
        "lvyue.test/log", 7, ROOT
    )


def test_key_file_is_private_and_never_replaced(tmp_path: Path) -> None:
    path = tmp_path / "signing.key"
    create_key_file(path, os.urandom(32))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(path.read_bytes()) == 32
    before = path.read_bytes()
    with pytest.raises(FileExistsError):
        create_key_file(path, os.urandom(32))
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["signing.key"]


def test_load_or_create_reuses_the_key(tmp_path: Path) -> None:
    path = tmp_path / "signing.key"
    seeds = [os.urandom(32), os.urandom(32)]
    first = SigningKey.load_or_create(path, "lvyue.test/log", seeds.pop)
    second = SigningKey.load_or_create(path, "lvyue.test/log", seeds.pop)
    assert first.verifier_key_text() == second.verifier_key_text()
    assert len(seeds) == 1


def test_seed_must_be_32_bytes(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        create_key_file(tmp_path / "k", b"short")
    assert not (tmp_path / "k").exists()


def test_readable_key_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "signing.key"
    create_key_file(path, os.urandom(32))
    os.chmod(path, 0o640)
    with pytest.raises(KeyFileError, match="chmod 600"):
        SigningKey.load(path, "lvyue.test/log")


def test_malformed_key_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "signing.key"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, b"short")
    os.close(fd)
    with pytest.raises(KeyFileError, match="32 raw bytes"):
        SigningKey.load(path, "lvyue.test/log")


def test_wrong_key_is_rejected(key: SigningKey, tmp_path: Path) -> None:
    path = tmp_path / "other.key"
    create_key_file(path, os.urandom(32))
    impostor = SigningKey.load(path, "lvyue.test/log")
    note = impostor.sign_checkpoint("lvyue.test/log", 1, ROOT)
    with pytest.raises(VerificationError, match="no signature"):
        verify_note(note, key.verifier_key())


def test_known_key_with_bad_signature_is_rejected(key: SigningKey) -> None:
    """Same name and key id but a signature over other text: reject, not ignore."""
    note = key.sign_checkpoint("lvyue.test/log", 1, ROOT)
    forged = note.replace("\n1\n", "\n2\n", 1)
    with pytest.raises(VerificationError, match="does not verify"):
        verify_note(forged, key.verifier_key())


def test_unknown_signatures_are_ignored(key: SigningKey) -> None:
    note = key.sign_checkpoint("lvyue.test/log", 1, ROOT)
    witness = base64.b64encode(b"\x01\x02\x03\x04" + bytes(64)).decode()
    with_witness = f"{note}\u2014 witness.example/w1 {witness}\n"
    assert verify_note(with_witness, key.verifier_key()).startswith("lvyue.test/log\n1\n")


def test_truncated_notes_are_rejected(key: SigningKey) -> None:
    note = key.sign_checkpoint("lvyue.test/log", 1, ROOT)
    for cut in (1, 2, 10, len(note) // 2, len(note) - 60):
        with pytest.raises(VerificationError):
            verify_note(note[:-cut], key.verifier_key())


@pytest.mark.parametrize(
    "note",
    [
        "no blank line\n\u2014 example.com/foo " + EXAMPLE_SIG + "\n",
        EXAMPLE_TEXT + "\n",
        EXAMPLE_TEXT + "\n\n",
        EXAMPLE_TEXT + "\n\u2014 example.com/foo not*base64\n",
        EXAMPLE_TEXT + "\n\u2014 example.com/foo " + EXAMPLE_SIG,
        EXAMPLE_TEXT + "\n- example.com/foo " + EXAMPLE_SIG + "\n",
        EXAMPLE_TEXT + "\n\u2014 example.com/foo  " + EXAMPLE_SIG + "\n",
        EXAMPLE_TEXT + "\n\u2014 example.com/foo AAAA\n",
        EXAMPLE_TEXT.replace("example", "exa\tmple")
        + "\n\u2014 example.com/foo "
        + EXAMPLE_SIG
        + "\n",
        EXAMPLE_TEXT
        + "\n\u2014 example.com/foo "
        + base64.b64encode(b"\x53\x0d\x90\x3b" + bytes(64)).decode()
        + "\n",
        EXAMPLE_TEXT + "\n\u2014 example.com/bar " + EXAMPLE_SIG + "\n",
        "",
    ],
)
def test_hostile_notes_are_rejected(note: str) -> None:
    with pytest.raises(VerificationError):
        verify_note(note, parse_verifier_key(EXAMPLE_KEY))


@pytest.mark.parametrize(
    "text",
    [
        "example.com/foo+530d903b+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
        "example.com/bar+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
        "example.com/foo+530d903a+AkyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
        "example.com/foo+530d903a+AukyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
        "example.com/foo+530d903a",
        "example com+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
        "+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
    ],
)
def test_bad_verifier_keys_are_rejected(text: str) -> None:
    with pytest.raises(VerificationError):
        parse_verifier_key(text)


@pytest.mark.parametrize(
    "body",
    [
        "origin\n1\n" + base64.b64encode(ROOT).decode(),
        "origin\n01\n" + base64.b64encode(ROOT).decode() + "\n",
        "origin\n-1\n" + base64.b64encode(ROOT).decode() + "\n",
        "origin\n+1\n" + base64.b64encode(ROOT).decode() + "\n",
        "origin\n\u0661\n" + base64.b64encode(ROOT).decode() + "\n",
        "origin\n1\n" + base64.b64encode(ROOT[:31]).decode() + "\n",
        "origin\n1\n" + base64.b64encode(ROOT).decode() + "\nextension\n",
        "\n1\n" + base64.b64encode(ROOT).decode() + "\n",
        "origin\n99999999999999999999\n" + base64.b64encode(ROOT).decode() + "\n",
    ],
)
def test_bad_checkpoint_bodies_are_rejected(body: str) -> None:
    with pytest.raises(VerificationError):
        parse_checkpoint(body)


def test_signer_refuses_a_foreign_origin(key: SigningKey) -> None:
    with pytest.raises(ValueError, match="origin"):
        key.sign_checkpoint("other.example/log", 1, ROOT)
