"""Schemathesis against the live OpenAPI schema: no 5xx and no response outside the schema.

Every operation is fuzzed with a few generated requests, authenticated as a system principal
holding every role a system may hold (so requests get past authentication and reach the
policy, the validators and the ledger) and, for the routes only an admin may use, as admin.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Err
from schemathesis.specs.openapi.checks import response_schema_conformance

from api.auth import Grant
from api.policy import ROLES_BY_KIND
from tests.api.conftest import Api, build, onboard, to_completed

EXAMPLES = 5
CHECKS = [not_a_server_error, response_schema_conformance]


@pytest.fixture
def fuzzed(tmp_path: Path) -> Iterator[tuple[Api, dict[str, str]]]:
    app, ledger, clock, tokens = build(tmp_path)
    accounts = app.state.services.accounts
    every = accounts.add_token(
        "fuzz", Grant.checked("fuzz", "system", ROLES_BY_KIND["system"], ["*"])
    )
    with TestClient(app) as client:
        api = Api(client, app, ledger, clock, tokens)
        onboard(api)
        to_completed(api)
        yield api, {"system": every, "admin": tokens["admin"]}
    ledger.close()


def test_no_server_errors_and_responses_conform(fuzzed: tuple[Api, dict[str, str]]) -> None:
    api, tokens = fuzzed
    schema = schemathesis.openapi.from_asgi("/openapi.json", api.app)
    failures: list[str] = []
    for result in schema.get_all_operations():
        if isinstance(result, Err):
            failures.append(f"schema: {result.err()}")
            continue
        operation = result.ok()
        strategy = operation.as_strategy()

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=strategy, who=st.sampled_from(sorted(tokens)))
        def check(case: Any, who: str) -> None:
            response = case.call(headers={"Authorization": f"Bearer {tokens[who]}"})
            case.validate_response(response, checks=CHECKS)

        try:
            check()
        except Exception as error:
            failures.append(f"{operation.label}: {error}")
    assert failures == []
