"""Log in and out (session tokens for people; systems use API tokens), and who am I."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import BaseModel, Field

from api.auth import SESSION_COOKIE, set_session_cookie
from api.deps import CurrentPrincipal, ServicesDep, bearer, session_cookie
from api.policy import Principal
from api.problems import ApiProblem, problem_responses
from api.schemas import Strict

router = APIRouter(prefix="/session", tags=["session"])


class Login(Strict):
    username: Annotated[str, Field(min_length=1, max_length=64)]
    password: Annotated[str, Field(min_length=1, max_length=1024)]


class PrincipalOut(BaseModel):
    """Who the caller is to the ledger: actor id and kind, roles and property scopes."""

    subject: str
    principal_id: str
    kind: str
    roles: list[str]
    properties: list[str]

    @classmethod
    def of(cls, principal: Principal) -> PrincipalOut:
        return cls(
            subject=principal.subject,
            principal_id=principal.principal_id,
            kind=principal.kind,
            roles=sorted(principal.roles),
            properties=sorted(principal.properties),
        )


class SessionOut(BaseModel):
    """A bearer token for the session (also set as an HttpOnly cookie for the pages)."""

    access_token: str
    token_type: str = "bearer"
    expires_at: datetime
    principal: PrincipalOut


@router.post("/login", responses=problem_responses(401, 413, 422))
def login(body: Login, request: Request, response: Response, services: ServicesDep) -> SessionOut:
    session = services.accounts.login(body.username, body.password)
    if session is None:
        raise ApiProblem(401, "invalid_credentials", "wrong username or password")
    set_session_cookie(response, session.token, secure=request.url.scheme == "https")
    return SessionOut(
        access_token=session.token,
        expires_at=session.expires_at,
        principal=PrincipalOut.of(session.principal),
    )


@router.post("/logout", status_code=204, responses=problem_responses(401))
def logout(
    principal: CurrentPrincipal,
    services: ServicesDep,
    response: Response,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    cookie: Annotated[str | None, Depends(session_cookie)],
) -> None:
    """End the session the request was made with (API tokens are not ended by this)."""
    token = credentials.credentials if credentials is not None else cookie
    if token is not None and principal.subject.startswith("user:"):
        services.accounts.logout(token)
    response.delete_cookie(SESSION_COOKIE)


@router.get("/me", responses=problem_responses(401))
def me(principal: CurrentPrincipal) -> PrincipalOut:
    return PrincipalOut.of(principal)
