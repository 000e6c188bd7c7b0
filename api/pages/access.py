"""Who is looking at a page: the session cookie, the same policy as the API, CSRF tokens.

Not logged in → a redirect to the login page. Out of scope → a 403 page with the reason, and
the denial is recorded exactly as the API records it (the same `Guard`). Forms carry a CSRF
token derived from the session (the cookie is also SameSite=strict).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import parse_qsl, quote
from zoneinfo import ZoneInfo

from fastapi import Depends, FastAPI, Request
from fastapi.responses import RedirectResponse, Response

from api.deps import ServicesDep, session_cookie
from api.pages.rendering import Show, render
from api.policy import Guard, Principal, RequestLine, refusal
from api.problems import ApiProblem

CSRF_FIELD = "csrf"
MAX_FORM_BYTES = 8 * 1024


class LoginRequired(Exception):
    """No valid session: go to the login page, then come back to `target`."""

    def __init__(self, target: str) -> None:
        super().__init__(target)
        self.target = target


class PageProblem(Exception):
    """A page that cannot be shown: rendered as an HTML error page with this status."""

    def __init__(self, status: int, title: str, detail: str, viewer: Viewer | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.title = title
        self.detail = detail
        self.viewer = viewer


def csrf_token(session_token: str) -> str:
    """The session's CSRF token: only a holder of the (HttpOnly) session can know it."""
    return hmac.new(session_token.encode(), b"lvyue-pages-csrf", hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Viewer:
    """The logged-in person looking at a page, bound to the API's policy for this request."""

    principal: Principal
    csrf: str
    guard: Guard
    show: Show

    def require(self, action: str, properties: Sequence[str] | None) -> None:
        """Allowed, or a 403 page (the denial is recorded by the guard, as in the API)."""
        try:
            self.guard.require(action, properties)
        except ApiProblem as problem:
            raise PageProblem(403, "无权查看 Forbidden", problem.detail, self) from None

    def may(self, action: str, properties: Sequence[str] | None) -> bool:
        """Whether to offer a link or button (nothing is recorded: nothing was asked yet)."""
        return refusal(self.principal, action, properties) is None

    @property
    def name(self) -> str:
        return self.principal.subject.removeprefix("user:")

    def covers(self, property_id: str | None) -> bool:
        return (
            self.principal.company_wide
            if property_id is None
            else self.principal.covers(property_id)
        )


def here(request: Request) -> str:
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


def get_viewer(
    request: Request,
    services: ServicesDep,
    token: Annotated[str | None, Depends(session_cookie)],
) -> Viewer:
    principal = services.accounts.principal_for(token) if token else None
    if token is None or principal is None:
        raise LoginRequired(here(request))
    line = RequestLine(request.method, request.url.path)
    guard = Guard(principal, services.denials, services.clock, line)
    zone = ZoneInfo(services.settings.display_zone)
    return Viewer(principal, csrf_token(token), guard, Show(zone))


ViewerDep = Annotated[Viewer, Depends(get_viewer)]


async def read_form(request: Request) -> dict[str, str]:
    """An urlencoded form body (small; repeated fields keep the last value)."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        raise PageProblem(415, "表单格式 Unsupported form", "send the form as urlencoded")
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise PageProblem(413, "表单过大 Form too large", "the form is too large")
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=20)
    except (UnicodeDecodeError, ValueError):
        raise PageProblem(400, "表单无效 Bad form", "the form could not be read") from None
    return dict(pairs)


FormDep = Annotated[dict[str, str], Depends(read_form)]


def checked_form(viewer: ViewerDep, form: FormDep) -> dict[str, str]:
    """The form, if it carries this session's CSRF token."""
    if not hmac.compare_digest(form.get(CSRF_FIELD, ""), viewer.csrf):
        raise PageProblem(
            403,
            "请求无效 Forbidden",
            "the form's CSRF token is missing or stale; reload the page and try again",
            viewer,
        )
    return form


CheckedFormDep = Annotated[dict[str, str], Depends(checked_form)]


def safe_target(target: str | None) -> str:
    """A local path to return to after login (never another site).

    Browsers drop tabs and newlines from URLs and read a backslash as a slash, so such a path
    could turn into `//other.site`: any control character, space or backslash means home.
    """
    if not target or not target.startswith("/") or target.startswith("//"):
        return "/"
    if any(ch == "\\" or ord(ch) <= 0x20 or ord(ch) == 0x7F for ch in target):
        return "/"
    return target


async def _login_required(_request: Request, error: Exception) -> Response:
    assert isinstance(error, LoginRequired)
    return RedirectResponse(f"/login?next={quote(error.target, safe='')}", status_code=303)


async def _page_problem(_request: Request, error: Exception) -> Response:
    assert isinstance(error, PageProblem)
    return render(
        "error.html", error.status, viewer=error.viewer, title=error.title, detail=error.detail
    )


def add_page_handlers(app: FastAPI) -> None:
    app.add_exception_handler(LoginRequired, _login_required)
    app.add_exception_handler(PageProblem, _page_problem)
