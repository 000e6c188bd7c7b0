"""The offline bundle verifier against good bundles and every kind of tampering we could think of.

Bundles are written by a minimal writer below that follows AUDIT-BUNDLE.md, independent of the
ledger's exporter, so these tests pin the format rather than our own export code.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.checkpoint import SigningKey
from ledger.key_file import create_key_file
from ledger.merkle import MemoryNodeStore, consistency_proof, root_at
from lvyue_verify import BundleError, main, record_leaf_hash, verify_bundle

ORIGIN = "lvyue.test/log"

# --- a minimal bundle writer ----------------------------------------------------------------


def make_records(count: int, broken_link_at: int | None = None) -> list[dict[str, Any]]:
    """Events over three streams (stream-(seq % 3)), linked by prev_hash."""
    records: list[dict[str, Any]] = []
    last: dict[str, tuple[int, str | None]] = {}
    for seq in range(1, count + 1):
        stream = f"stream-{seq % 3}"
        version, prev = last.get(stream, (0, None))
        if seq == broken_link_at:
            prev = "ab" * 32
        record = {
            "seq": seq,
            "event_id": f"event-{seq}",
            "stream_type": "Task",
            "stream_id": stream,
            "stream_version": version + 1,
            "type": "TaskNoted",
            "recorded_at": f"2026-03-01T08:{seq % 60:02d}:00+00:00",
            "occurred_at": f"2026-03-01T07:{seq % 60:02d}:00+00:00",
            "actor": {"id": "staff-7", "kind": "staff", "role": "technician"},
            "data": {"note": f"维修 {seq} \U0001f527", "amount": "12.50", "\U0001f511": seq},
            "prev_hash": prev,
            "property_id": "property-1",
        }
        last[stream] = (version + 1, record_leaf_hash(record).hex())
        records.append(record)
    return records


def stub(record: dict[str, Any]) -> dict[str, Any]:
    return {"seq": record["seq"], "redacted": True, "leaf_hash": record_leaf_hash(record).hex()}


def tree_of(records: list[dict[str, Any]]) -> MemoryNodeStore:
    store = MemoryNodeStore()
    store.append([record_leaf_hash(record) for record in records])
    return store


def write_bundle(
    directory: Path,
    key: SigningKey,
    records: list[dict[str, Any]],
    redact: frozenset[int] = frozenset(),
    since: int | None = None,
) -> None:
    """Write events.jsonl, checkpoint, optional consistency.json and the manifest."""
    directory.mkdir()
    store = tree_of(records)
    size = len(records)
    lines = [
        json.dumps(stub(record) if record["seq"] in redact else record, ensure_ascii=False)
        for record in records
    ]
    (directory / "events.jsonl").write_bytes("".join(f"{line}\n" for line in lines).encode())
    (directory / "checkpoint").write_bytes(
        key.sign_checkpoint(ORIGIN, size, root_at(size, store)).encode()
    )
    if since is not None:
        proof = consistency_proof(since, size, store)
        consistency = {
            "old_checkpoint": key.sign_checkpoint(ORIGIN, since, root_at(since, store)),
            "old_size": since,
            "old_root_hash": root_at(since, store).hex(),
            "new_size": size,
            "proof": [item.hex() for item in proof],
        }
        (directory / "consistency.json").write_text(json.dumps(consistency))
    manifest = {
        "format": "lvyue-audit-bundle/1",
        "origin": ORIGIN,
        "tree_size": size,
        "root_hash": root_at(size, store).hex(),
        "verifier_key": key.verifier_key_text(),
        "scope": {"property": "property-1", "period": "2026-03", "created_at": "2026-04-01"},
        "files": {},
    }
    write_manifest(directory, manifest)


def write_manifest(directory: Path, manifest: dict[str, Any]) -> None:
    """Write the manifest with fresh digests of every other file."""
    manifest["files"] = {
        path.name: hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(directory.iterdir())
        if path.name != "manifest.json"
    }
    (directory / "manifest.json").write_text(json.dumps(manifest, indent=2))


def refresh_digests(directory: Path) -> None:
    """What a forger does after editing a file: make the digest check pass."""
    write_manifest(directory, read_manifest(directory))


def read_manifest(directory: Path) -> dict[str, Any]:
    manifest: dict[str, Any] = json.loads((directory / "manifest.json").read_text())
    return manifest


def edit_lines(directory: Path, edit: Any) -> None:
    path = directory / "events.jsonl"
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(edit(lines)))
    refresh_digests(directory)


def new_key(directory: Path, name: str = "key") -> SigningKey:
    path = directory / f"{name}.key"
    create_key_file(path, os.urandom(32))
    return SigningKey.load(path, ORIGIN)


@pytest.fixture
def key(tmp_path: Path) -> SigningKey:
    return new_key(tmp_path)


@pytest.fixture
def bundle(tmp_path: Path, key: SigningKey) -> Path:
    directory = tmp_path / "bundle"
    write_bundle(directory, key, make_records(12))
    return directory


def failure(directory: Path, earlier: str | None = None, trusted: str | None = None) -> BundleError:
    with pytest.raises(BundleError) as caught:
        verify_bundle(directory, earlier, trusted_key=trusted)
    return caught.value


# --- good bundles ---------------------------------------------------------------------------


def test_good_bundle_verifies(bundle: Path, key: SigningKey) -> None:
    summary = verify_bundle(bundle)
    assert (summary.tree_size, summary.full_records, summary.redacted_records) == (12, 12, 0)
    assert summary.origin == ORIGIN
    assert summary.verifier_key == key.verifier_key_text()
    assert summary.root_hash.hex() == read_manifest(bundle)["root_hash"]


def test_empty_log_verifies(tmp_path: Path, key: SigningKey) -> None:
    write_bundle(tmp_path / "b", key, [])
    assert verify_bundle(tmp_path / "b").root_hash == hashlib.sha256(b"").digest()


def test_redacted_bundle_verifies(tmp_path: Path, key: SigningKey) -> None:
    """Stream 0 wholly out of scope; the first two versions of stream 1 redacted."""
    records = make_records(12)
    redact = frozenset({3, 6, 9, 12, 1, 4})
    write_bundle(tmp_path / "b", key, records, redact=redact)
    summary = verify_bundle(tmp_path / "b")
    assert (summary.full_records, summary.redacted_records) == (6, 6)


def test_consistency_with_an_earlier_checkpoint(tmp_path: Path, key: SigningKey) -> None:
    records = make_records(12)
    write_bundle(tmp_path / "b", key, records, since=5)
    earlier = key.sign_checkpoint(ORIGIN, 5, root_at(5, tree_of(records)))
    assert verify_bundle(tmp_path / "b", earlier).consistent_from == 5
    assert verify_bundle(tmp_path / "b").consistent_from == 5


def test_earlier_checkpoint_of_the_same_size(bundle: Path, key: SigningKey) -> None:
    same = (bundle / "checkpoint").read_text()
    assert verify_bundle(bundle, same).tree_size == 12


def test_pinned_key(bundle: Path, key: SigningKey) -> None:
    assert verify_bundle(bundle, trusted_key=key.verifier_key_text()).tree_size == 12


# --- tampering ------------------------------------------------------------------------------


def test_edited_record_fails_the_digest(bundle: Path) -> None:
    path = bundle / "events.jsonl"
    path.write_bytes(path.read_bytes().replace(b'"amount": "12.50"', b'"amount": "1.50"', 1))
    error = failure(bundle)
    assert (error.file, error.seq) == ("events.jsonl", None)
    assert "SHA-256" in error.message


def test_edited_record_with_fresh_digests_fails_the_root(bundle: Path) -> None:
    edit_lines(bundle, lambda lines: [lines[0].replace(b"12.50", b"1.50"), *lines[1:]])
    error = failure(bundle)
    assert (error.file, error.seq) == ("events.jsonl", None)
    assert "signed root" in error.message
    assert "seq 4" in error.message  # the next version of the edited stream points at it


def test_deleted_line(bundle: Path) -> None:
    edit_lines(bundle, lambda lines: lines[:4] + lines[5:])
    assert (failure(bundle).file, failure(bundle).seq) == ("events.jsonl", 5)


def test_deleted_last_line(bundle: Path) -> None:
    edit_lines(bundle, lambda lines: lines[:-1])
    error = failure(bundle)
    assert (error.file, error.seq) == ("events.jsonl", 12)
    assert "only 11 lines" in error.message


def test_inserted_line(bundle: Path) -> None:
    edit_lines(bundle, lambda lines: [*lines[:3], lines[2], *lines[3:]])
    assert (failure(bundle).file, failure(bundle).seq) == ("events.jsonl", 4)


def test_appended_line(bundle: Path) -> None:
    edit_lines(bundle, lambda lines: [*lines, lines[-1]])
    assert (failure(bundle).file, failure(bundle).seq) == ("events.jsonl", 13)


def test_swapped_lines(bundle: Path) -> None:
    edit_lines(bundle, lambda lines: [*lines[:6], lines[7], lines[6], *lines[8:]])
    assert (failure(bundle).file, failure(bundle).seq) == ("events.jsonl", 7)


def test_swapped_lines_with_renumbered_seq(bundle: Path) -> None:
    """Swapping the records and their seq numbers still breaks the signed root."""

    def swap(lines: list[bytes]) -> list[bytes]:
        a, b = json.loads(lines[6]), json.loads(lines[7])
        a["seq"], b["seq"] = b["seq"], a["seq"]
        return [
            *lines[:6],
            json.dumps(b).encode() + b"\n",
            json.dumps(a).encode() + b"\n",
            *lines[8:],
        ]

    edit_lines(bundle, swap)
    error = failure(bundle)
    assert (error.file, error.seq) == ("events.jsonl", None)


@pytest.mark.parametrize(
    ("field", "value"),
    [("tree_size", 11), ("root_hash", "00" * 32), ("origin", "other.example/log")],
)
def test_changed_manifest(bundle: Path, field: str, value: object) -> None:
    manifest = read_manifest(bundle)
    manifest[field] = value
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    assert (failure(bundle).file, failure(bundle).seq) == ("manifest.json", None)


def test_manifest_digest_changed(bundle: Path) -> None:
    manifest = read_manifest(bundle)
    manifest["files"]["checkpoint"] = "00" * 32
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    assert failure(bundle).file == "checkpoint"


def test_resigned_with_another_key(bundle: Path, tmp_path: Path) -> None:
    forger = new_key(tmp_path, "forger")
    manifest = read_manifest(bundle)
    root = bytes.fromhex(manifest["root_hash"])
    (bundle / "checkpoint").write_text(forger.sign_checkpoint(ORIGIN, 12, root))
    refresh_digests(bundle)
    error = failure(bundle)
    assert error.file == "checkpoint"
    assert "no signature" in error.message


def test_resigned_with_another_key_and_swapped_manifest_key(
    bundle: Path, tmp_path: Path, key: SigningKey
) -> None:
    """Only a pinned key catches a forger who also replaces the manifest's verifier key."""
    forger = new_key(tmp_path, "forger")
    manifest = read_manifest(bundle)
    (bundle / "checkpoint").write_text(
        forger.sign_checkpoint(ORIGIN, 12, bytes.fromhex(manifest["root_hash"]))
    )
    manifest["verifier_key"] = forger.verifier_key_text()
    write_manifest(bundle, manifest)
    assert verify_bundle(bundle).verifier_key == forger.verifier_key_text()
    error = failure(bundle, trusted=key.verifier_key_text())
    assert (error.file, "trusted key" in error.message) == ("manifest.json", True)


@pytest.mark.parametrize("keep", [0, 10, 40, 90, -1])
def test_truncated_checkpoint(bundle: Path, keep: int) -> None:
    path = bundle / "checkpoint"
    path.write_bytes(path.read_bytes()[:keep])
    refresh_digests(bundle)
    assert failure(bundle).file == "checkpoint"


def test_broken_prev_hash_link(tmp_path: Path, key: SigningKey) -> None:
    write_bundle(tmp_path / "b", key, make_records(12, broken_link_at=8))
    error = failure(tmp_path / "b")
    assert (error.file, error.seq) == ("events.jsonl", 8)
    assert "prev_hash" in error.message


def test_link_to_a_redacted_version_must_name_its_stub(tmp_path: Path, key: SigningKey) -> None:
    """Stream 1: versions at seq 1 and 4 redacted; seq 7 links to a hash that is no stub."""
    records = make_records(12, broken_link_at=7)
    write_bundle(tmp_path / "b", key, records, redact=frozenset({1, 4}))
    error = failure(tmp_path / "b")
    assert (error.file, error.seq) == ("events.jsonl", 7)


def test_first_version_must_not_link(tmp_path: Path, key: SigningKey) -> None:
    write_bundle(tmp_path / "b", key, make_records(6, broken_link_at=2))
    error = failure(tmp_path / "b")
    assert (error.file, error.seq) == ("events.jsonl", 2)
    assert "version 1" in error.message


def test_fork_of_a_stream_version(tmp_path: Path, key: SigningKey) -> None:
    records = make_records(6)
    records[4] = {**records[1], "seq": 5, "event_id": "event-5b"}
    records[5]["seq"] = 6
    write_bundle(tmp_path / "b", key, records)
    error = failure(tmp_path / "b")
    assert (error.file, error.seq) == ("events.jsonl", 5)


def test_unlisted_file(bundle: Path) -> None:
    (bundle / "notes.txt").write_text("hello")
    error = failure(bundle)
    assert (error.file, error.seq) == ("notes.txt", None)
    assert "not listed" in error.message


def test_missing_listed_file(tmp_path: Path, key: SigningKey) -> None:
    write_bundle(tmp_path / "b", key, make_records(6), since=3)
    (tmp_path / "b" / "consistency.json").unlink()
    assert failure(tmp_path / "b").file == "consistency.json"


def test_inconsistent_earlier_checkpoint(tmp_path: Path, key: SigningKey) -> None:
    """The log was rewritten after the reader saw size 5: the earlier root is a fork."""
    write_bundle(tmp_path / "b", key, make_records(12), since=5)
    forked = make_records(5)
    forked[2]["data"]["note"] = "rewritten"
    earlier = key.sign_checkpoint(ORIGIN, 5, root_at(5, tree_of(forked)))
    error = failure(tmp_path / "b", earlier)
    assert error.file == "consistency.json"


def test_earlier_checkpoint_of_another_size(tmp_path: Path, key: SigningKey) -> None:
    records = make_records(12)
    write_bundle(tmp_path / "b", key, records, since=5)
    earlier = key.sign_checkpoint(ORIGIN, 4, root_at(4, tree_of(records)))
    assert failure(tmp_path / "b", earlier).file == "consistency.json"


def test_earlier_checkpoint_without_consistency_file(bundle: Path, key: SigningKey) -> None:
    earlier = key.sign_checkpoint(ORIGIN, 5, root_at(5, tree_of(make_records(12))))
    error = failure(bundle, earlier)
    assert (error.file, "missing" in error.message) == ("consistency.json", True)


def test_earlier_checkpoint_same_size_other_root(bundle: Path, key: SigningKey) -> None:
    earlier = key.sign_checkpoint(ORIGIN, 12, hashlib.sha256(b"fork").digest())
    assert failure(bundle, earlier).file == "earlier checkpoint"


def test_earlier_checkpoint_from_another_key(bundle: Path, tmp_path: Path) -> None:
    forger = new_key(tmp_path, "forger")
    earlier = forger.sign_checkpoint(ORIGIN, 12, hashlib.sha256(b"x").digest())
    assert failure(bundle, earlier).file == "earlier checkpoint"


def test_tampered_consistency_proof(tmp_path: Path, key: SigningKey) -> None:
    write_bundle(tmp_path / "b", key, make_records(12), since=5)
    path = tmp_path / "b" / "consistency.json"
    doc = json.loads(path.read_text())
    doc["proof"][0] = "00" * 32
    path.write_text(json.dumps(doc))
    refresh_digests(tmp_path / "b")
    assert failure(tmp_path / "b").file == "consistency.json"


def consistency_variants() -> list[Any]:
    good = {"old_checkpoint": "", "old_size": 5, "old_root_hash": "", "new_size": 12, "proof": []}
    return [
        [],
        "text",
        {**good, "extra": 1},
        {k: v for k, v in good.items() if k != "proof"},
        {**good, "old_checkpoint": 5},
        {**good, "old_checkpoint": "lvyue.test/log\n5\n\ud800\n\n\u2014 x AAAA\n"},
        {**good, "old_size": True},
        {**good, "old_size": "5"},
        {**good, "new_size": 11},
        {**good, "proof": "00"},
        {**good, "proof": [1, 2]},
        {**good, "proof": ["zz" * 32]},
        {**good, "old_root_hash": "00" * 32},
    ]


@pytest.mark.parametrize("variant", consistency_variants())
def test_hostile_consistency_file(tmp_path: Path, key: SigningKey, variant: Any) -> None:
    write_bundle(tmp_path / "b", key, make_records(12), since=5)
    path = tmp_path / "b" / "consistency.json"
    doc = json.loads(path.read_text())
    if isinstance(variant, dict):
        variant = {k: doc[k] if v in ("", []) and k in doc else v for k, v in variant.items()}
    path.write_text(json.dumps(variant))
    refresh_digests(tmp_path / "b")
    assert failure(tmp_path / "b").file == "consistency.json"


def test_consistency_from_size_zero_is_rejected(tmp_path: Path, key: SigningKey) -> None:
    write_bundle(tmp_path / "b", key, make_records(4))
    doc = {
        "old_checkpoint": key.sign_checkpoint(ORIGIN, 0, hashlib.sha256(b"").digest()),
        "old_size": 0,
        "old_root_hash": hashlib.sha256(b"").hexdigest(),
        "new_size": 4,
        "proof": [],
    }
    (tmp_path / "b" / "consistency.json").write_text(json.dumps(doc))
    refresh_digests(tmp_path / "b")
    error = failure(tmp_path / "b")
    assert (error.file, "size 0" in error.message) == ("consistency.json", True)


# --- hostile input --------------------------------------------------------------------------

HOSTILE_LINES = [
    b"not json\n",
    b"\n",
    b"[1, 2]\n",
    b'"a string"\n',
    b"null\n",
    b'{"seq": 3}\n',
    b'{"seq": "3", "redacted": true, "leaf_hash": "' + b"00" * 32 + b'"}\n',
    b'{"seq": true, "redacted": true, "leaf_hash": "' + b"00" * 32 + b'"}\n',
    b'{"seq": 3, "redacted": true, "leaf_hash": "' + b"0" * 63 + b'"}\n',
    b'{"seq": 3, "redacted": true, "leaf_hash": "' + b"AB" * 32 + b'"}\n',
    b'{"seq": 3, "redacted": 1, "leaf_hash": "' + b"00" * 32 + b'"}\n',
    b'{"seq": 3, "redacted": true, "leaf_hash": "' + b"00" * 32 + b'", "x": 1}\n',
    b'{"seq": 3, "seq": 3, "redacted": true, "leaf_hash": "' + b"00" * 32 + b'"}\n',
    b'{"seq": 3' + b"0" * 5000 + b"}\n",
    b'{"seq": 3.0}\n',
    b'{"seq": 3, "x": NaN}\n',
    b'{"seq": 3, "x": "\xff\xfe"}\n',
    b"\xef\xbb\xbf" + b'{"seq": 3}\n',
    b'{"seq": 3, "x": "\\ud800"}\n',
    b'{"seq": 3, "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}\n",
    b'{"seq": 3, "x": "unterminated}\n',
]


@pytest.mark.parametrize("line", HOSTILE_LINES, ids=range(len(HOSTILE_LINES)))
def test_hostile_lines_are_reported_not_crashing(bundle: Path, line: bytes) -> None:
    edit_lines(bundle, lambda lines: [*lines[:2], line, *lines[3:]])
    error = failure(bundle)
    assert error.file == "events.jsonl"
    assert error.seq in (3, None)


def full_record_variants() -> list[dict[str, Any]]:
    base = make_records(3)[2]
    variants: list[dict[str, Any]] = []
    for name in base:
        if name != "seq":
            variants.append({k: v for k, v in base.items() if k != name})
    wrong_types: list[tuple[str, Any]] = [
        ("event_id", 5),
        ("stream_version", "1"),
        ("stream_version", 0),
        ("stream_version", True),
        ("actor", "staff-7"),
        ("actor", {"id": "x", "kind": "staff"}),
        ("actor", {"id": 1, "kind": "staff", "role": "r"}),
        ("data", []),
        ("prev_hash", "abc"),
        ("prev_hash", 0),
        ("data", {"amount": 12.5}),
        ("data", {"n": 2**60}),
    ]
    variants.extend({**base, name: value} for name, value in wrong_types)
    return variants


@pytest.mark.parametrize("record", full_record_variants())
def test_malformed_records_are_rejected(bundle: Path, record: dict[str, Any]) -> None:
    line = json.dumps(record, ensure_ascii=False).encode() + b"\n"
    edit_lines(bundle, lambda lines: [*lines[:2], line, *lines[3:]])
    error = failure(bundle)
    assert (error.file, error.seq) in {("events.jsonl", 3), ("events.jsonl", None)}


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"not json",
        b"[]",
        b'{"format": "other"}',
        b"\xff",
        b'{"format": "lvyue-audit-bundle/1"}',
    ],
)
def test_hostile_manifest(bundle: Path, content: bytes) -> None:
    (bundle / "manifest.json").write_bytes(content)
    assert failure(bundle).file == "manifest.json"


@pytest.mark.parametrize("name", ["../escape", "sub/dir", ".hidden", "manifest.json"])
def test_hostile_file_names_in_manifest(bundle: Path, name: str) -> None:
    manifest = read_manifest(bundle)
    manifest["files"][name] = "00" * 32
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    assert failure(bundle).file == "manifest.json"


def test_missing_manifest(bundle: Path) -> None:
    (bundle / "manifest.json").unlink()
    assert failure(bundle).file == "manifest.json"


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A good bundle with redactions and a consistency proof, copied by the fuzz test."""
    base = tmp_path_factory.mktemp("template")
    key = new_key(base)
    write_bundle(base / "b", key, make_records(20), redact=frozenset({1, 4, 5, 9}), since=7)
    return base / "b"


@settings(max_examples=150, deadline=None)
@given(
    name=st.sampled_from(["events.jsonl", "checkpoint", "consistency.json", "manifest.json"]),
    position=st.floats(min_value=0, max_value=1, exclude_max=True),
    replacement=st.binary(min_size=0, max_size=3),
    refresh=st.booleans(),
)
def test_random_corruption_never_crashes(
    template: Path, name: str, position: float, replacement: bytes, refresh: bool
) -> None:
    """Any byte-level edit of any file ends in a BundleError (or, rarely, a harmless edit)."""
    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(scratch) / "b"
        shutil.copytree(template, directory)
        path = directory / name
        data = path.read_bytes()
        cut = int(position * len(data))
        path.write_bytes(data[:cut] + replacement + data[cut + 1 :])
        if refresh and name != "manifest.json":
            refresh_digests(directory)
        try:
            summary = verify_bundle(directory)
        except BundleError:
            return
        assert summary.root_hash.hex() == read_manifest(template)["root_hash"]


# --- command line ---------------------------------------------------------------------------


def test_main_ok(bundle: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(bundle)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(
        f"ok: 12 events, root {read_manifest(bundle)['root_hash']}, origin {ORIGIN}"
    )
    assert "(12 full, 0 redacted)" in out


def test_main_with_earlier_checkpoint(tmp_path: Path, key: SigningKey) -> None:
    records = make_records(9)
    write_bundle(tmp_path / "b", key, records, since=4)
    earlier = tmp_path / "earlier.checkpoint"
    earlier.write_text(key.sign_checkpoint(ORIGIN, 4, root_at(4, tree_of(records))))
    assert main([str(tmp_path / "b"), "--checkpoint", str(earlier)]) == 0
    assert main([str(tmp_path / "b"), "--key", key.verifier_key_text()]) == 0


def test_main_failure(bundle: Path, capsys: pytest.CaptureFixture[str]) -> None:
    edit_lines(bundle, lambda lines: [*lines[:2], b"oops\n", *lines[3:]])
    assert main([str(bundle)]) == 1
    assert capsys.readouterr().err.startswith("FAILED (events.jsonl, seq 3): ")


def test_main_usage_errors(tmp_path: Path, bundle: Path) -> None:
    assert main([]) == 2
    assert main([str(bundle), "--bogus"]) == 2
    assert main([str(tmp_path / "nowhere")]) == 2
    assert main([str(bundle), "--checkpoint", str(tmp_path / "nowhere")]) == 2


# --- anchors (LedgerAnchored): the anchored root must be this bundle's prefix ------------------


def with_anchor(records: list[dict[str, Any]], size: int, root: bytes) -> list[dict[str, Any]]:
    """`records` plus a LedgerAnchored record naming the root of the first `size` of them."""
    seq = len(records) + 1
    anchored = {
        **records[0],
        "seq": seq,
        "event_id": f"event-{seq}",
        "stream_type": "Anchor",
        "stream_id": f"anchor-{size}",
        "stream_version": 1,
        "type": "LedgerAnchored",
        "data": {
            "platform": "rfc3161_tsa", "tree_size": size, "root_hash": root.hex(),
            "checkpoint_sha256": "cd" * 32, "anchored_at": "2026-03-01T10:00:00+00:00",
            "receipt_ref": "tsa-42", "receipt_sha256": "ef" * 32,
        },
        "prev_hash": None,
        "property_id": None,
    }  # fmt: skip
    return [*records, anchored]


def test_an_anchor_of_this_bundles_prefix_verifies_and_is_reported(
    tmp_path: Path, key: SigningKey, capsys: pytest.CaptureFixture[str]
) -> None:
    records = make_records(7)
    directory = tmp_path / "anchored"
    write_bundle(directory, key, with_anchor(records, 5, root_at(5, tree_of(records))))

    summary = verify_bundle(directory)

    (anchor,) = summary.anchors
    assert (anchor.seq, anchor.tree_size, anchor.platform, anchor.receipt_ref) == (
        8, 5, "rfc3161_tsa", "tsa-42",
    )  # fmt: skip
    assert main([str(directory)]) == 0
    assert "anchored (存证): the first 5 events" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("size", "root", "message"),
    [
        (5, "ROOT_OF_4", "is not the root of this bundle's first 5 events"),
        (8, "ROOT_OF_4", "not before itself"),
        (0, "ROOT_OF_4", "tree_size is not a positive integer"),
        (5, "not hex", "root_hash must be 64 lowercase hex digits"),
    ],
)
def test_a_wrong_or_malformed_anchor_fails_at_its_seq(
    tmp_path: Path, key: SigningKey, size: int, root: str, message: str
) -> None:
    records = make_records(7)
    right = root_at(4, tree_of(records))
    bundle_records = with_anchor(records, size, right)
    if root != "ROOT_OF_4":
        bundle_records[-1]["data"]["root_hash"] = root
    directory = tmp_path / "bad-anchor"
    write_bundle(directory, key, bundle_records)

    error = failure(directory)

    assert (error.file, error.seq) == ("events.jsonl", 8)
    assert message in error.message
