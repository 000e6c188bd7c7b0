"""The authorization matrix: every role × every endpoint × in-scope / out-of-scope property.

The table below is the specification, written independently of `api.policy`: for each
endpoint, the roles that may use it and how its target is scoped. An allowed request may
still be refused by the ledger (a 4xx with a domain code) but never with `forbidden`; a denied
one is a 403 `forbidden` with a reason, and a row in the access-denial log.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from api.auth import Grant
from api.policy import access_denials
from tests.api.conftest import LEVELS, T0, Api, TickingClock, build

SA, SU, PM, QI, PO = (
    "staff",
    "supervisor",
    "project_manager",
    "quality_inspector",
    "performance_officer",
)
OW, AU, AD = "owner", "auditor", "admin"
ROLES = (SA, SU, PM, QI, PO, OW, AU, AD)
DESK = {SA, SU, PM}
STAFF = {SA, SU, PM, QI, PO}
READ = STAFF | {AU, AD}
OVER = {SU, PM, QI, PO}

# (method, path, roles allowed, scope): scope is "scoped" (the target's property),
# "company" (a company-wide target: needs the * scope) or "none" (no property scope applies).
ENDPOINTS: list[tuple[str, str, set[str], str]] = [
    ("POST", "/tasks", DESK | {OW}, "scoped"),
    ("POST", "/tasks/{task}/dispatch", DESK, "scoped"),
    ("POST", "/tasks/{task}/accept", DESK, "scoped"),
    ("POST", "/tasks/{task}/decline", DESK, "scoped"),
    ("POST", "/tasks/{task}/reassign", DESK, "scoped"),
    ("POST", "/tasks/{task}/arrive", DESK, "scoped"),
    ("POST", "/tasks/{task}/start", DESK, "scoped"),
    ("POST", "/tasks/{task}/hold", DESK, "scoped"),
    ("POST", "/tasks/{task}/resume", DESK, "scoped"),
    ("POST", "/tasks/{task}/complete", DESK, "scoped"),
    ("POST", "/tasks/{task}/sign-off", DESK, "scoped"),
    ("POST", "/tasks/{task}/owner-accept", {OW}, "scoped"),
    ("POST", "/tasks/{task}/owner-return", {OW}, "scoped"),
    ("POST", "/tasks/{task}/reopen", DESK, "scoped"),
    ("POST", "/tasks/{task}/close", DESK, "scoped"),
    ("POST", "/tasks/{task}/auto-close", {SU, PM}, "scoped"),
    ("POST", "/tasks/{task}/cancel", {SU, PM}, "scoped"),
    ("POST", "/tasks/{task}/comments", STAFF | {OW}, "scoped"),
    ("POST", "/tasks/{task}/follow-ups", DESK, "scoped"),
    ("POST", "/tasks/{task}/corrections", {SU, PM}, "scoped"),
    ("POST", "/staff", {AD, PM}, "none"),
    ("POST", "/staff/{person}/position", {AD, PM}, "scoped"),
    ("POST", "/staff/{person}/position/revoke", {AD, PM}, "scoped"),
    ("POST", "/staff/{person}/offboard", {AD, PM}, "scoped"),
    ("POST", "/org-units", {AD}, "company"),
    ("POST", "/areas", {AD, PM}, "scoped"),
    ("POST", "/areas/{area}/responsibility/assign", {AD, SU, PM}, "scoped"),
    ("POST", "/areas/{area}/responsibility/accept", STAFF, "scoped"),
    ("POST", "/areas/{area}/responsibility/release", {AD, SU, PM}, "scoped"),
    ("POST", "/areas/{area}/responsibility/hand-over", {AD, SU, PM}, "scoped"),
    ("POST", "/escalation-chains", {AD, PM}, "scoped"),
    ("POST", "/escalation-chains/{chain}/revise", {AD, PM}, "scoped"),
    ("POST", "/work-rules", {AD, PO}, "company"),
    ("POST", "/work-rules/WR/revise", {AD, PO}, "company"),
    ("POST", "/work-rules/WR/acknowledge", STAFF, "none"),
    ("POST", "/contracts", {AD, PM}, "scoped"),
    ("POST", "/contracts/{contract}/clauses", {AD, PM, PO}, "scoped"),
    ("POST", "/contracts/{contract}/clauses/C1/revise", {AD, PM, PO}, "scoped"),
    ("POST", "/calendars/CAL", {AD}, "company"),
    ("POST", "/checklists", {AD, QI}, "company"),
    ("POST", "/checklists/CL/revise", {AD, QI}, "company"),
    ("POST", "/inspection-plans", {QI, SU, PM}, "scoped"),
    ("POST", "/inspection-plans/{plan}/rounds", {SA, SU, QI}, "scoped"),
    ("POST", "/inspection-plans/{plan}/missed-rounds", {SU, QI}, "scoped"),
    ("POST", "/inspection-rounds/{plan}/{window}/visits", {SA, SU, QI}, "scoped"),
    ("POST", "/inspection-rounds/{plan}/{window}/items", {SA, SU, QI}, "scoped"),
    ("POST", "/inspection-rounds/{plan}/{window}/findings", {SU, QI}, "scoped"),
    ("POST", "/inspection-rounds/{plan}/{window}/complete", {SA, SU, QI}, "scoped"),
    ("POST", "/corrective-actions", OVER, "scoped"),
    ("POST", "/corrective-actions/{action}/plan", STAFF, "scoped"),
    ("POST", "/corrective-actions/{action}/implement", STAFF, "scoped"),
    ("POST", "/corrective-actions/{action}/verify", {QI, PO}, "scoped"),
    ("POST", "/corrective-actions/{action}/close", {QI, PO, PM}, "scoped"),
    ("POST", "/corrective-actions/{action}/reopen", {QI, PO}, "scoped"),
    ("POST", "/penalties", {PO, PM}, "scoped"),
    ("POST", "/penalties/{case}/notify", {PO, SU, PM}, "scoped"),
    ("POST", "/penalties/{case}/appeal", STAFF, "scoped"),
    ("POST", "/penalties/{case}/ruling", {PO}, "scoped"),
    ("POST", "/penalties/{case}/confirm", {PO}, "scoped"),
    ("POST", "/penalties/{case}/revoke", {PO}, "scoped"),
    ("POST", "/rewards", {PO, PM}, "scoped"),
    ("POST", "/performance-periods", {PO}, "scoped"),
    ("POST", "/notices", DESK, "scoped"),
    ("POST", "/trail/checkpoints", {AD, PO}, "company"),
    ("GET", "/trail/checkpoints/latest", READ | {OW}, "none"),
    ("GET", "/trail/anchors", READ | {OW}, "none"),
    ("POST", "/anchors", {AD}, "company"),
    ("GET", "/trail/proofs/inclusion?seq=1", READ | {OW}, "none"),
    ("GET", "/trail/proofs/consistency?size1=1&size2=2", READ | {OW}, "none"),
    ("GET", "/trail/verifier-key", READ | {OW}, "none"),
    ("GET", "/trail/audit", {AD, AU, PO}, "none"),
    ("GET", "/trail/export?property_id={P}", {AD, AU, PO}, "scoped"),
    ("GET", "/tasks/{task}/chain", READ | {OW}, "scoped"),
    ("GET", "/tasks/{task}/holders?at=2026-07-01T09:00:00Z", READ | {OW}, "scoped"),
    ("GET", "/areas/{area}/history", READ, "scoped"),
    (
        "GET",
        "/areas/{area}/responsible?service_line=repair&at=2026-07-01T09:00:00Z",
        READ,
        "scoped",
    ),
    ("GET", "/signatures?property_id={P}", READ, "scoped"),
    ("GET", "/notices?property_id={P}", READ | {OW}, "scoped"),
    ("GET", "/audit-trail?property_id={P}", OVER | {AU, AD}, "scoped"),
    ("GET", "/audit-trail?stream=task/{task}", OVER | {AU, AD}, "scoped"),
    ("GET", "/replay/task/{task}", OVER | {AU, AD}, "scoped"),
    ("GET", "/diff/task/{task}?from_version=1", OVER | {AU, AD}, "scoped"),
    ("GET", "/access-denials?property_id={P}", {AD, AU}, "scoped"),
    ("GET", "/tasks/{task}/sla", READ | {OW}, "scoped"),
    ("GET", "/sla/breaches?property_id={P}", READ, "scoped"),
    ("GET", "/kpis/people/{person}?period=2026Q3", OVER | {AU, AD}, "scoped"),
    ("GET", "/kpis/teams/{person}", OVER | {AU, AD}, "scoped"),
    ("GET", "/kpis/properties/{P}?period=2026-07", OVER | {AU, AD}, "scoped"),
    ("GET", "/rankings/2026Q3?property_id={P}", OVER | {AU, AD}, "scoped"),
    ("POST", "/subjects/owner/O1/holds", {AD}, "company"),
    ("POST", "/subjects/owner/O1/holds/H1/release", {AD}, "company"),
    ("POST", "/subjects/owner/O1/erase", {AD}, "company"),
    ("GET", f"/personal/owner/O1/{'ab' * 32}?stream=task/{{task}}", {AD, PM}, "scoped"),
]
KIND = {OW: "owner", AU: "auditor", AD: "admin"}
SAMPLES: dict[str, Any] = {"string": "x1", "integer": 1, "boolean": True, "array": []}


def fill(template: str, prop: str) -> str:
    names = {
        "task": "T",
        "person": "ST",
        "area": "A",
        "chain": "CH",
        "contract": "HT",
        "plan": "PL",
        "action": "CA",
        "case": "PN",
    }
    path = template.replace("{window}", "2026-07-01T08:00:00Z").replace("{P}", prop)
    for name, prefix in names.items():
        path = path.replace(f"{{{name}}}", f"{prefix}-{prop}")
    return path


def sample_body(schema: dict[str, Any], components: dict[str, Any], prop: str) -> dict[str, Any]:
    """A schema-valid body whose property fields name `prop`."""
    body: dict[str, Any] = {}
    for name in schema.get("required", []):
        spec = schema["properties"][name]
        kind = spec.get("type") or next(o["type"] for o in spec["anyOf"] if o["type"] != "null")
        body[name] = "2026-07-01T08:30:00Z" if spec.get("format") == "date-time" else SAMPLES[kind]
    if "property_id" in schema["properties"]:
        body["property_id"] = prop
    if "property_ids" in schema["properties"]:
        body["property_ids"] = [prop]
    return body


def seed(api: Api) -> None:
    """One of everything in P1 and in P2, plus the company-wide rule, checklist and calendar."""
    led, ctx = api.ledger, api.admin_ctx
    led.publish_work_rule(ctx(), "WR", "规范", "cd" * 32, "WI-1", T0)
    led.publish_checklist(ctx(), "CL", "巡检", "cleaning", ("A|地面 floor|pass_fail|10",))
    for prop in ("P1", "P2"):
        person = f"ST-{prop}"
        led.onboard_staff(ctx(), person, f"E-{person}", "quality")
        led.assign_position(ctx(), person, "quality_inspector", prop)
        led.define_area(ctx(), f"A-{prop}", prop, "楼", "building", ("repair",))
        led.define_escalation_chain(ctx(), f"CH-{prop}", prop, LEVELS)
        led.register_contract(
            ctx(),
            f"HT-{prop}",
            "selected",
            "co",
            "cp",
            (prop,),
            T0,
            T0.replace(year=2029),
            "lump_sum",
            "2.80",
            "cd" * 32,
        )
        led.register_task(
            ctx(), f"T-{prop}", prop, f"A-{prop}", "repair", "repair", "normal", "app", "x", "y"
        )
        led.schedule_inspection_plan(
            ctx(), f"PL-{prop}", prop, f"A-{prop}", "CL", 1, ("G1",), "PT2H", T0, (person,)
        )
        now = api.clock()
        staff_ctx = type(ctx())(person, "staff", now, now, f"round-{prop}")
        led.start_inspection_round(staff_ctx, f"PL-{prop}", T0)
        led.open_corrective_action(
            ctx(), f"CA-{prop}", prop, "audit", "x", "p", person, T0.replace(day=9)
        )
        led.propose_penalty(
            ctx(),
            f"PN-{prop}",
            prop,
            person,
            "WR",
            1,
            "§1",
            1,
            "10.00",
            "3000.00",
            "2000.00",
            ("E-1",),
            "late",
        )


@pytest.fixture(scope="module")
def matrix_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    app, ledger, clock, tokens = build(Path(tmp_path_factory.mktemp("matrix")))
    accounts = app.state.services.accounts
    for role, scope in itertools.product(ROLES, ("P1", "*")):
        name = f"{role}.{'all' if scope == '*' else scope}".replace("_", "-").lower()
        grant = Grant.checked(f"M-{role}", KIND.get(role, "staff"), [role], [scope])
        tokens[name] = accounts.add_token(name, grant)
    with TestClient(app) as client:
        world = Api(client, app, ledger, TickingClock(), tokens)
        world.clock = clock
        seed(world)
        yield world
    ledger.close()


def cases() -> Iterator[Any]:
    for method, path, allowed, scope in ENDPOINTS:
        variants = {
            "scoped": (("in", "P1", "P1"), ("out", "P1", "P2")),
            "company": (("global", "*", "P1"), ("local", "P1", "P1")),
            "none": (("in", "P1", "P1"), ("other", "P1", "P2")),
        }[scope]
        for role in ROLES:
            for variant, principal_scope, target in variants:
                expected = role in allowed and variant not in ("out", "local")
                yield pytest.param(
                    method,
                    path,
                    role,
                    principal_scope,
                    target,
                    expected,
                    id=f"{method} {path} {role} {variant}",
                )


def denial_count(api: Api) -> int:
    with api.app.state.services.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(access_denials)).scalar_one())


@pytest.mark.parametrize(("method", "path", "role", "scope", "target", "allowed"), list(cases()))
def test_role_by_endpoint_by_scope(
    matrix_api: Api, method: str, path: str, role: str, scope: str, target: str, allowed: bool
) -> None:
    api = matrix_api
    token = f"{role}.{'all' if scope == '*' else scope}".replace("_", "-").lower()
    url = fill(path, target)
    before = denial_count(api)

    if method == "GET":
        response = api.client.get(
            f"/api{url}", headers={"Authorization": f"Bearer {api.tokens[token]}"}
        )
    else:
        body = request_body(api, method, path, target)
        response = api.post(token, url, body)

    if allowed:
        code = response.json().get("code") if "json" in response.headers["content-type"] else None
        assert code not in ("forbidden", "validation_failed", "unauthenticated"), response.text
        assert response.status_code < 500
        assert denial_count(api) == before
    else:
        assert (response.status_code, response.json()["code"]) == (403, "forbidden"), response.text
        assert response.json()["reason"]
        assert denial_count(api) == before + 1


def request_body(api: Api, method: str, path: str, target: str) -> dict[str, Any]:
    schema = api.client.app.openapi()  # type: ignore[attr-defined]
    template = "/api" + path.split("?", maxsplit=1)[0]
    for placeholder, name in (
        ("{task}", "{task_no}"),
        ("{person}", "{person_id}"),
        ("{area}", "{area_id}"),
        ("{chain}", "{chain_id}"),
        ("{contract}", "{contract_no}"),
        ("{plan}", "{plan_id}"),
        ("{window}", "{window_start}"),
        ("{action}", "{action_id}"),
        ("{case}", "{case_id}"),
        ("/WR/", "/{rule_id}/"),
        ("/C1/", "/{clause_id}/"),
        ("/CAL", "/{calendar_id}"),
        ("/CL/", "/{checklist_id}/"),
        ("/owner/O1/", "/{subject_kind}/{person_id}/"),
        ("/H1/", "/{hold_id}/"),
    ):
        template = template.replace(placeholder, name)
    operation = schema["paths"][template][method.lower()]
    if "requestBody" not in operation:
        return {}
    ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    components = schema["components"]["schemas"]
    return sample_body(components[ref.rsplit("/", 1)[1]], components, target)
