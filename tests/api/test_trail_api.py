"""The tamper-evident log over HTTP: checkpoints, proofs, verifier key, audit, bundle export."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

from lvyue_verify import verify_bundle
from tests.api.conftest import Api, register


def test_checkpoints_are_signed_and_proofs_served(api: Api) -> None:
    register(api)
    size = api.max_id()

    signed = api.post("po", "/trail/checkpoints").json()
    latest = api.get("auditor", "/trail/checkpoints/latest").json()
    by_seq = api.get("auditor", "/trail/proofs/inclusion", seq=1).json()
    by_event = api.get("auditor", "/trail/proofs/inclusion", stream="task/T1", version=1).json()
    consistency = api.get("auditor", "/trail/proofs/consistency", size1=1, size2=size).json()
    key = api.get("owner", "/trail/verifier-key").json()

    assert signed == latest
    assert signed["size"] == size
    assert by_seq["root_hash"] == signed["root_hash"] == consistency["root2"]
    assert by_event["seq"] == size
    assert key["verifier_key"].startswith("test.lvyue/ledger+")


def test_proof_requests_out_of_range_are_422(api: Api) -> None:
    register(api)

    assert api.get("auditor", "/trail/proofs/inclusion", seq=10_000).status_code == 422
    assert api.get("auditor", "/trail/proofs/consistency", size1=5, size2=2).status_code == 422
    assert api.get("auditor", "/trail/proofs/inclusion").status_code == 422
    assert (
        api.get("auditor", "/trail/proofs/inclusion", stream="task/T9", version=1).status_code
        == 404
    )


def test_no_checkpoint_yet_is_404(api: Api) -> None:
    assert api.get("auditor", "/trail/checkpoints/latest").json()["code"] == "not_found"


def test_the_audit_passes_on_an_untouched_log(api: Api) -> None:
    register(api)

    report = api.get("auditor", "/trail/audit").json()

    assert (report["ok"], report["first_finding"]) == (True, None)
    assert report["size"] == api.max_id()


def test_the_bundle_streams_as_a_tar_that_verifies_offline(api: Api, tmp_path: Path) -> None:
    register(api)

    response = api.get("auditor", "/trail/export", property_id="P1")
    with tarfile.open(fileobj=io.BytesIO(response.content), mode="r:gz") as tar:
        tar.extractall(tmp_path / "out", filter="data")

    assert response.headers["content-type"] == "application/gzip"
    (bundle,) = (tmp_path / "out").iterdir()
    summary = verify_bundle(bundle, None)
    assert summary.tree_size == api.max_id()


def test_a_company_wide_export_needs_a_company_wide_scope(api: Api) -> None:
    register(api)

    assert api.get("auditor", "/trail/export").status_code == 403
