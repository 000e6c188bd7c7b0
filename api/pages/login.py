"""登录 / 退出: the login form (with a login CSRF cookie) and logout (with the session's token)."""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated

from fastapi import APIRouter, Cookie, Depends, Request
from fastapi.responses import RedirectResponse, Response

from api.auth import SESSION_COOKIE, set_session_cookie
from api.deps import ServicesDep, session_cookie
from api.pages.access import CSRF_FIELD, FormDep, checked_form, safe_target
from api.pages.rendering import render

router = APIRouter(include_in_schema=False)
LOGIN_CSRF_COOKIE = "lvyue_login_csrf"
MAX_USERNAME, MAX_PASSWORD = 64, 1024


def _form(request: Request, target: str, error: str | None, username: str, status: int) -> Response:
    """The login form with a fresh login CSRF token (double-submit: cookie and field)."""
    token = secrets.token_urlsafe(32)
    response = render(
        "login.html", status, viewer=None, csrf=token, next=target, error=error, username=username
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        max_age=3600,
        path="/login",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@router.get("/login")
def login_page(
    request: Request,
    services: ServicesDep,
    token: Annotated[str | None, Depends(session_cookie)],
    next: str | None = None,
) -> Response:
    target = safe_target(next)
    if token and services.accounts.principal_for(token) is not None:
        return RedirectResponse(target, status_code=303)
    return _form(request, target, None, "", 200)


@router.post("/login")
def log_in(
    request: Request,
    services: ServicesDep,
    form: FormDep,
    login_csrf: Annotated[str | None, Cookie(alias=LOGIN_CSRF_COOKIE)] = None,
) -> Response:
    target = safe_target(form.get("next"))
    username = form.get("username", "")[:MAX_USERNAME]
    if not login_csrf or not hmac.compare_digest(form.get(CSRF_FIELD, ""), login_csrf):
        message = "页面已过期，请重试 the form expired; please try again"
        return _form(request, target, message, username, 403)
    password = form.get("password", "")
    session = None
    if username and 0 < len(password) <= MAX_PASSWORD:
        session = services.accounts.login(username, password)
    if session is None:
        message = "用户名或密码错误 wrong username or password"
        return _form(request, target, message, username, 401)
    response = RedirectResponse(target, status_code=303)
    set_session_cookie(response, session.token, secure=request.url.scheme == "https")
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


@router.post("/logout", dependencies=[Depends(checked_form)])
def log_out(
    services: ServicesDep, token: Annotated[str | None, Depends(session_cookie)]
) -> Response:
    if token:
        services.accounts.logout(token)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response
