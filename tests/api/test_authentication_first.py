"""A command's caller is authenticated before its request is validated: 401 comes first.

FastAPI validates a dependency's own parameters (the Idempotency-Key header) only after its
sub-dependencies have run, so the principal must stay a dependency of `get_command`, not a
call inside it; otherwise an unauthenticated request learns about its headers (422).
"""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from tests.api.conftest import build

BODY = {"person_id": "S9", "employee_no": "E-S9", "job_family": "engineering"}


def test_an_unauthenticated_command_is_401_whatever_else_is_wrong(tmp_path: Path) -> None:
    app, ledger, _, tokens = build(tmp_path)
    with TestClient(app) as client:
        cases = [
            ({}, BODY),
            ({"Authorization": "Bearer nope", "Idempotency-Key": "!!"}, BODY),
            ({"Idempotency-Key": "k"}, {"person_id": 1}),
        ]
        for headers, body in cases:
            response = client.post("/api/staff", json=body, headers=headers)
            assert (response.status_code, response.json()["code"]) == (401, "unauthenticated")
        authenticated = {"Authorization": f"Bearer {tokens['admin']}"}
        missing_key = client.post("/api/staff", json=BODY, headers=authenticated)
        assert missing_key.status_code == 422
    ledger.close()
