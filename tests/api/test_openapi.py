"""The OpenAPI document is complete: every route has a response model and its problems."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from api.policy import POLICY
from api.problems import PROBLEM_JSON
from tests.api.conftest import Api

STREAMED = {("get", "/api/trail/export")}


def operations(api: Api) -> list[tuple[str, str, dict[str, Any]]]:
    schema = api.client.get("/openapi.json").json()
    return [
        (method, path, op) for path, item in schema["paths"].items() for method, op in item.items()
    ]


def test_every_operation_documents_its_success_and_its_problems(api: Api) -> None:
    for method, path, op in operations(api):
        success = [code for code in op["responses"] if code.startswith("2")]
        assert success, (method, path)
        for code in success:
            if code == "204" or (method, path) in STREAMED:
                continue
            schema = op["responses"][code]["content"]["application/json"]["schema"]
            assert schema, (method, path, code)
        problems = [c for c in op["responses"] if c[0] in "45"]
        assert "422" in problems or (not op.get("parameters") and "requestBody" not in op)
        for code in problems:
            content = op["responses"][code]["content"]
            assert list(content) == [PROBLEM_JSON], (method, path, code)


def test_every_command_documents_auth_idempotency_and_conflicts(api: Api) -> None:
    for method, path, op in operations(api):
        if method != "post" or path.startswith(("/api/session", "/api/trail")):
            continue
        names = {p["name"] for p in op["parameters"]}
        assert {"Idempotency-Key", "If-Match"} <= names, path
        assert {"200", "201", "401", "403", "404", "409", "413", "422"} <= set(op["responses"])
        assert op["security"], path


def test_every_policy_action_is_used_by_a_route() -> None:
    """No rule in the policy table is dead (each action name appears in a router)."""
    routers = Path(__file__).resolve().parents[2] / "api" / "routers"
    source = "".join(p.read_text(encoding="utf-8") for p in routers.glob("*.py"))
    assert [a for a in POLICY if f'"{a}"' not in source] == []


def test_request_bodies_forbid_unknown_fields(api: Api) -> None:
    schemas = api.client.get("/openapi.json").json()["components"]["schemas"]
    for _, path, op in operations(api):
        if "requestBody" in op:
            ref = op["requestBody"]["content"]["application/json"]["schema"]["$ref"]
            assert schemas[ref.rsplit("/", 1)[1]]["additionalProperties"] is False, path
