"""Personal data in the vault: the public record holds only salted references, on every store."""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Iterator
from typing import Any

import pytest
from eventsourcing.persistence import IntegrityError

from ledger.application import Acting, fingerprint
from ledger.domain.staff import Staff
from ledger.domain.tasks import Task
from ledger.envelope import Actor, Meta
from ledger.errors import AlreadyExists, IllegalTransition, InvalidValue, NotFound
from ledger.ids import stream_id
from ledger.ledger import Ledger
from ledger.personal import (
    PERSONAL_MARK,
    Entropy,
    EntropyMissing,
    PersonalRef,
    SealedValue,
    VaultCorrupted,
    VaultWrites,
    digest_of,
    is_personal_ref,
    mask_personal,
    open_personal,
    require_subject,
    seal_personal,
)
from tests.clock import Clock

NAME, PHONE, NOTE = "李娜", "13812345678", "业主晚上六点后在家，电话先联系"
STAFF_NAME = "王建华"
TASK_ARGS = ("T1", "P1", "A1", "repair", "repair", "normal", "app", "B1", "x")


def counter_entropy() -> Entropy:
    """Deterministic, never-repeating bytes for tests (never the OS source)."""
    counter = itertools.count()
    return lambda n: hashlib.shake_256(f"test-entropy-{next(counter)}".encode()).digest(n)


@pytest.fixture
def app(any_ledger: Ledger) -> Ledger:
    any_ledger.entropy = counter_entropy()
    return any_ledger


@pytest.fixture
def mem() -> Iterator[Ledger]:
    ledger = Ledger("memory://", entropy=counter_entropy())
    yield ledger
    ledger.close()


def staff(app: Ledger, clock: Clock, name: str | None = STAFF_NAME) -> None:
    """Dispatcher D1 (named) at P1."""
    app.onboard_staff(clock.admin(), "D1", "E-D1", "customer_service", name=name)
    app.assign_position(clock.admin(), "D1", "dispatcher", "P1")


def register(app: Ledger, clock: Clock, task_no: str = "T1", **personal: str | None) -> None:
    app.register_task(
        clock.ctx("D1"),
        task_no,
        "P1",
        "A1",
        "repair",
        "repair",
        "normal",
        "hotline",
        "B1-1203",
        "卫生间漏水 leaking pipe",
        reporter_id=personal.pop("reporter_id", "O1"),
        **personal,
    )


def raw_rows(app: Ledger) -> list[bytes]:
    return [n.state for n in app.recorder.select_notifications(1, 10_000)]


def max_id(app: Ledger) -> int:
    return app.recorder.max_notification_id() or 0


def record_of(app: Ledger, topic: str) -> dict[str, Any]:
    rows = [n.state for n in app.recorder.select_notifications(1, 10_000) if n.topic == topic]
    record: dict[str, Any] = json.loads(rows[-1])
    return record


# -- the public record -----------------------------------------------------------------------


def test_the_public_record_holds_only_references_and_reveal_gives_the_values(app: Ledger) -> None:
    clock = Clock()
    staff(app, clock)
    register(app, clock, reporter_name=NAME, reporter_phone=PHONE)
    app.comment_on_task(clock.ctx("D1"), "T1", NOTE, personal=True)
    for row in raw_rows(app):
        for plain in (NAME, PHONE, NOTE, STAFF_NAME):
            assert plain.encode() not in row
    task: Task = app.repository.get(stream_id("task", "T1"))
    assert task.reporter_contact is not None
    assert set(task.reporter_contact) == {"name", "phone"}
    phone = task.reporter_contact["phone"]
    assert is_personal_ref(phone)
    assert phone["subject"] == "owner/O1"
    assert phone["field"] == "phone"
    assert app.reveal(phone) == PHONE
    assert app.reveal(task.reporter_contact["name"]) == NAME
    data = record_of(app, "TaskRegistered")["data"]
    assert data["reporter_contact"] == task.reporter_contact
    comment = record_of(app, "TaskCommentAdded")["data"]
    assert comment["personal"] is True
    assert comment["text"] == ""
    assert app.reveal(comment["text_ref"]) == NOTE
    named: Staff = app.repository.get(stream_id("staff", "D1"))
    assert named.name is not None
    assert named.name["subject"] == "staff/D1"
    assert app.reveal(named.name) == STAFF_NAME


def test_one_key_per_subject_and_a_fresh_salt_per_value(mem: Ledger) -> None:
    clock = Clock()
    staff(mem, clock)
    register(mem, clock, "T1", reporter_phone=PHONE)
    register(mem, clock, "T2", reporter_phone=PHONE)
    first: PersonalRef = mem.repository.get(stream_id("task", "T1")).reporter_contact["phone"]
    second: PersonalRef = mem.repository.get(stream_id("task", "T2")).reporter_contact["phone"]
    assert first["digest"] != second["digest"]  # same phone, unlinkable digests
    assert first["digest"] != hashlib.sha256(PHONE.encode()).hexdigest()
    assert mem.vault.personal_count("owner/O1") == 2
    key = mem.vault.read_vault("owner/O1", None).slot.key
    assert key is not None
    assert len(key) == 32


def test_commands_without_personal_data_keep_their_old_shape(app: Ledger) -> None:
    clock = Clock()
    staff(app, clock, name=None)
    register(app, clock)
    app.comment_on_task(clock.ctx("D1"), "T1", "已电话联系 called back")
    assert app.repository.get(stream_id("task", "T1")).reporter_contact is None
    assert app.repository.get(stream_id("staff", "D1")).name is None
    comment = record_of(app, "TaskCommentAdded")["data"]
    assert comment == {
        "text": "已电话联系 called back",
        "visibility": "internal",
        "personal": False,
        "text_ref": None,
    }
    assert app.vault.read_vault("owner/O1", None).slot.key is None


def test_a_ledger_without_entropy_refuses_personal_data_loudly() -> None:
    app, clock = Ledger("memory://"), Clock()
    staff(app, clock, name=None)
    register(app, clock)  # no personal data: no entropy needed
    before = max_id(app)
    with pytest.raises(EntropyMissing):
        register(app, clock, "T2", reporter_phone=PHONE)
    assert max_id(app) == before


# -- refusals write nothing, personal data included ------------------------------------------


@pytest.mark.parametrize(
    ("change", "error"),
    [
        ({"reporter_id": None}, InvalidValue),  # whose data would it be?
        ({"reporter_phone": "call me maybe"}, InvalidValue),
        ({"reporter_name": " "}, InvalidValue),
        ({"task_no": "T1"}, AlreadyExists),
        ({"reporter_id": " O2"}, InvalidValue),
    ],
)
def test_a_refused_registration_writes_no_personal_data(
    app: Ledger, change: dict[str, str | None], error: type[Exception]
) -> None:
    clock = Clock()
    staff(app, clock)
    register(app, clock, "T1")
    before = max_id(app)
    args: dict[str, str | None] = {"reporter_name": NAME, "reporter_phone": PHONE, **change}
    task_no = str(args.pop("task_no", "T2"))
    with pytest.raises(error):
        register(app, clock, task_no, **args)
    assert max_id(app) == before
    for subject in ("owner/O1", "owner/O2"):
        assert app.vault.read_vault(subject, None).slot.key is None
        assert app.vault.personal_count(subject) == 0


def test_a_refused_task_kind_stores_no_key(mem: Ledger) -> None:
    clock = Clock()
    staff(mem, clock)
    before = max_id(mem)
    with pytest.raises(InvalidValue):
        mem.register_task(
            clock.ctx("D1"), "T9", "P1", "A1", "teleport", "repair", "normal", "app", "B1", "x",
            reporter_id="O9", reporter_phone=PHONE,
        )  # fmt: skip
    assert max_id(mem) == before
    assert mem.vault.read_vault("owner/O9", None).slot.key is None


def test_personal_comment_refusals(mem: Ledger) -> None:
    clock = Clock()
    staff(mem, clock)
    register(mem, clock, "T1")
    register(mem, clock, "T2", reporter_id=None)
    before = max_id(mem)
    for task_no, text, visibility, error in (
        ("T2", NOTE, "internal", InvalidValue),  # no reporter: no subject to file it under
        ("T1", NOTE, "public", InvalidValue),
        ("T1", "  ", "internal", InvalidValue),
        ("T9", NOTE, "internal", NotFound),
    ):
        with pytest.raises(error):
            mem.comment_on_task(clock.ctx("D1"), task_no, text, visibility, personal=True)
    assert max_id(mem) == before
    assert mem.vault.personal_count("owner/O1") == 0


def test_a_personal_comment_carries_no_text_in_the_event() -> None:
    meta = Meta(Actor("D1", "staff", "dispatcher"), Clock().now, Clock().now, "c1")
    task = Task.register(meta, *TASK_ARGS, "O1", None)
    ref = {"subject": "owner/O1", "digest": "0" * 64, "field": "comment"}
    with pytest.raises(InvalidValue):
        task.comment(meta, NOTE, "internal", text_ref=ref)
    with pytest.raises(InvalidValue):  # contact details need a reporter id
        Task.register(meta, *TASK_ARGS, None, None, reporter_contact={"phone": ref})


# -- idempotency: the fingerprint holds no plaintext -----------------------------------------


def test_a_retry_is_repeated_and_writes_nothing(mem: Ledger) -> None:
    clock = Clock()
    staff(mem, clock)
    ctx = clock.ctx("D1", command_id="register-T1")
    first = mem.register_task(ctx, *TASK_ARGS, reporter_id="O1", reporter_phone=PHONE)
    before, values = max_id(mem), mem.vault.personal_count("owner/O1")
    again = mem.register_task(ctx, *TASK_ARGS, reporter_id="O1", reporter_phone=PHONE)
    assert again.repeated
    assert again.events == first.events
    assert (max_id(mem), mem.vault.personal_count("owner/O1")) == (before, values)


def test_the_stored_fingerprint_does_not_depend_on_personal_values() -> None:
    """Receipts are never erased, and a digest of a phone number is brute-forced in seconds."""
    receipts = []
    for phone in (PHONE, "13900000000"):
        ledger, clock = Ledger("memory://", entropy=counter_entropy()), Clock()
        staff(ledger, clock)
        ctx = clock.ctx("D1", command_id="register-T1")
        ledger.register_task(ctx, *TASK_ARGS, reporter_id="O1", reporter_phone=phone)
        receipts.append(ledger.stored_receipt("register-T1"))
    assert receipts[0] is not None
    assert receipts[1] is not None
    assert receipts[0].fingerprint == receipts[1].fingerprint
    assert mask_personal({"phone": PHONE, "name": None}, "phone", "name") == {
        "phone": PERSONAL_MARK
    }


def test_masking_keeps_old_fingerprints() -> None:
    args = {"task_no": "T1", "text": "hello", "visibility": "internal"}
    assert fingerprint("c", mask_personal({**args, "personal": False}, "personal")) == fingerprint(
        "c", args
    )


# -- the envelope ------------------------------------------------------------------------------


def test_the_digest_commits_to_salt_and_value_and_the_envelope_is_bound_to_its_ref() -> None:
    key, salt, nonce = bytes(range(32)), bytes(16), bytes(12)
    ref, envelope = seal_personal(PHONE, "owner/O1", "phone", key, salt, nonce)
    assert ref["digest"] == digest_of(salt, PHONE)
    assert ref["digest"] == hashlib.sha256(salt + PHONE.encode()).hexdigest()
    assert open_personal(ref, key, envelope) == PHONE
    assert PHONE.encode() not in envelope
    assert salt + PHONE.encode() not in envelope
    other_ref, other_envelope = seal_personal(NAME, "owner/O1", "name", key, bytes(16), nonce)
    with pytest.raises(VaultCorrupted):
        open_personal(ref, key, other_envelope)  # swapped rows fail authentication
    with pytest.raises(VaultCorrupted):
        open_personal({**ref, "field": "name"}, key, envelope)
    with pytest.raises(VaultCorrupted):
        open_personal(ref, bytes(32), envelope)
    assert open_personal(other_ref, key, other_envelope) == NAME


@pytest.mark.parametrize(
    "bad", ["O1", "client/O1", "owner/", "owner/ O1", "", "staff/" + "x" * 120]
)
def test_subject_ids_name_a_kind_and_a_person(bad: str) -> None:
    with pytest.raises(InvalidValue):
        require_subject(bad)


def test_a_missing_ciphertext_under_a_live_key_is_corruption_not_erasure(mem: Ledger) -> None:
    clock = Clock()
    staff(mem, clock)
    register(mem, clock, reporter_phone=PHONE)
    ref: PersonalRef = mem.repository.get(stream_id("task", "T1")).reporter_contact["phone"]
    with pytest.raises(VaultCorrupted):
        mem.reveal({**ref, "digest": "f" * 64})
    with pytest.raises(InvalidValue):
        mem.reveal({"subject": "owner/O1"})


# -- the store refuses what would break "every ciphertext has a live key" ----------------------


def test_the_store_refuses_data_for_an_erased_subject_even_if_a_command_raced(app: Ledger) -> None:
    clock = Clock()
    staff(app, clock)
    register(app, clock, reporter_phone=PHONE)
    key = app.vault.read_vault("owner/O1", None).slot.key
    assert key is not None
    app.erase_subject(clock.admin(), "owner/O1", "PIPL request")
    before = max_id(app)
    late, _ = seal_personal(PHONE, "owner/O1", "phone", key, bytes(16), bytes(12))
    for person, writes in (
        ("N1", VaultWrites(values=[SealedValue("owner/O1", late["digest"], b"\x01" + bytes(40))])),
        ("N2", VaultWrites(new_keys={"owner/O1": bytes(32)})),
    ):
        newcomer = Staff.onboard(clock.admin().meta("admin", None), person, "E-N", "cleaning", ())
        with pytest.raises(IntegrityError):
            app.save(newcomer, vault=writes)
        assert max_id(app) == before
        assert not app.exists("staff", person)
    assert app.vault.read_vault("owner/O1", None).slot.erased
    with pytest.raises(IllegalTransition):
        register(app, clock, "T2", reporter_phone=PHONE)


def test_vault_writes_never_travel_without_an_event(mem: Ledger) -> None:
    clock = Clock()
    staff(mem, clock)

    def act(a: Acting) -> list[Staff]:
        mem.protect(a, "staff/D1", "phone", "13700000000")
        return []

    with pytest.raises(ValueError, match="event"):
        mem.run(clock.admin(), "nothing", {}, act)
    assert mem.vault.personal_count("staff/D1") == 1  # only the onboarding's name
