"""Anchors over HTTP: an integration records a platform's receipt for a signed checkpoint
(admin only, the receipt's hash in the evidence); readers list where checkpoints are anchored."""

from __future__ import annotations

import hashlib

from tests.api.conftest import Api

RECEIPT = hashlib.sha256(b"judicial chain receipt").hexdigest()


def body(size: int, **changes: object) -> dict[str, object]:
    return {
        "platform": "judicial_chain", "tree_size": size,
        "anchored_at": "2026-07-01T09:00:00+08:00", "receipt_ref": "tx-0xabc",
        "receipt_sha256": RECEIPT, "evidence": [RECEIPT], **changes,
    }  # fmt: skip


def test_an_integration_records_a_receipt_and_readers_see_it(api: Api) -> None:
    signed = api.client.post("/api/trail/checkpoints", headers=api.headers("admin"))
    assert signed.status_code == 200, signed.text
    size = signed.json()["size"]

    api.ok("admin", "/anchors", body(size))

    listed = api.get("auditor", "/trail/anchors").json()["checkpoints"]
    assert listed[0]["size"] == size
    assert listed[0]["root_hash"] == signed.json()["root_hash"]
    (anchor,) = listed[0]["anchors"]
    assert (anchor["platform"], anchor["receipt_ref"], anchor["receipt_sha256"]) == (
        "judicial_chain", "tx-0xabc", RECEIPT,
    )  # fmt: skip
    assert api.topics()[-1] == "LedgerAnchored"


def test_refused_receipts_write_nothing(api: Api) -> None:
    size = api.client.post("/api/trail/checkpoints", headers=api.headers("admin")).json()["size"]
    before = api.max_id()

    cases = {
        "no evidence": (body(size, evidence=[]), 422, "invalid_value"),
        "unknown checkpoint": (body(size + 5), 404, "not_found"),
        "unknown platform": (body(size, platform="wechat"), 422, "invalid_value"),
        "naive time": (body(size, anchored_at="2026-07-01T09:00:00"), 422, "validation_failed"),
        "not staff of the company": (body(size), 403, "forbidden"),
    }
    for name, (payload, status, code) in cases.items():
        who = "pm" if name == "not staff of the company" else "admin"
        response = api.post(who, "/anchors", payload)
        assert (response.status_code, response.json()["code"]) == (status, code), name
    assert api.max_id() == before
