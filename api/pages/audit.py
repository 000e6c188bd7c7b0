"""审计状态 The audit page: latest checkpoint, anchors, the verifier key, an audit run, export.

Running the audit recomputes every leaf, so it is a button (POST with the CSRF token), not a
side effect of opening the page. The bundle download is the API's streamed export route.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from api.deps import Services, ServicesDep
from api.pages.access import Viewer, ViewerDep, checked_form
from api.pages.rendering import render
from ledger.trail import AuditReport, audit

router = APIRouter(include_in_schema=False)


@dataclass(frozen=True)
class Export:
    """One download the viewer may take: the whole log, or one property's bundle."""

    label: str
    href: str


def exports(viewer: Viewer) -> list[Export]:
    found = []
    if viewer.may("export_bundle", ()):
        found.append(Export("全部物业 every property", "/api/trail/export"))
    for prop in sorted(viewer.principal.properties - {"*"}):
        if viewer.may("export_bundle", (prop,)):
            found.append(Export(prop, f"/api/trail/export?property_id={prop}"))
    return found


ANCHOR_ROWS = 10
"""The newest checkpoints shown with the outside platforms they were anchored on."""


def _page(viewer: Viewer, services: Services, report: AuditReport | None) -> Response:
    log = services.sealed_log()
    key = services.signing_key()
    return render(
        "audit.html",
        viewer=viewer,
        anchorings=services.ledger.anchorings(ANCHOR_ROWS),
        checkpoint=log.latest_checkpoint(),
        sealed=log.sealed_size(),
        verifier_key=key.verifier_key_text(),
        origin=services.settings.origin,
        may_run=viewer.may("run_audit", None),
        exports=exports(viewer),
        report=report,
    )


@router.get("/audit")
def audit_status(viewer: ViewerDep, services: ServicesDep) -> Response:
    viewer.require("read_trail_proofs", None)
    return _page(viewer, services, None)


@router.post("/audit", dependencies=[Depends(checked_form)])
def run_audit(viewer: ViewerDep, services: ServicesDep) -> Response:
    viewer.require("run_audit", None)
    report = audit(services.sealed_log(), services.signing_key())
    return _page(viewer, services, report)
