"""Idempotency keys: the `Idempotency-Key` header names the command, retries are safe.

The key, namespaced by the caller, becomes the ledger's command id, and the ledger's receipt
returns the first result to a retry. The ledger fingerprints only the use-case arguments, so
this table also remembers a digest of the whole request (path, body and envelope): the same
key with a different request is a 409, never a silent replay of the first one.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from pydantic import BaseModel, SerializerFunctionWrapHandler, model_serializer
from sqlalchemy import Column, Engine, MetaData, String, Table, delete, insert, select
from sqlalchemy.exc import IntegrityError

from api.policy import Principal
from api.problems import ApiProblem
from ledger.personal import mask_personal

KEY_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,99}$"

metadata = MetaData()

idempotency_keys = Table(
    "api_idempotency_keys",
    metadata,
    Column("command_id", String(200), primary_key=True),
    Column("fingerprint", String(64), nullable=False),
    Column("created_at", String(40), nullable=False),
)


def command_id(principal: Principal, key: str) -> str:
    """Keys are per caller: two clients choosing the same key never meet."""
    return f"{principal.kind}:{principal.principal_id}/{key}"


class MasksPersonal(BaseModel):
    """A request body with personal fields: they are dumped (and so fingerprinted) masked.

    The fingerprint table is never erased and a SHA-256 of a phone number is brute-forced in
    seconds, so, like the ledger's own receipts (`ledger.personal.mask_personal`), a personal
    value counts only as present: a retry that changes only a personal value is a repeat.
    """

    def personal_fields(self) -> tuple[str, ...]:
        """The fields of this body that hold personal data (they may depend on its values)."""
        return ()

    @model_serializer(mode="wrap")
    def _mask_personal(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        dumped: dict[str, Any] = handler(self)
        return mask_personal(dumped, *self.personal_fields())


def request_fingerprint(method: str, path: str, body: Any) -> str:
    """A digest of everything the command depends on (personal values masked: MasksPersonal)."""
    text = json.dumps([method, path, body], sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


class IdempotencyKeys:
    """Claims a command id for one request fingerprint."""

    def __init__(self, engine: Engine, clock: Callable[[], datetime]) -> None:
        self.engine = engine
        self.clock = clock

    def claim(self, cid: str, fingerprint: str) -> bool:
        """True when this request claimed the id now; False for a retry of the same request.

        Raises a 409 problem when the id was claimed by a different request.
        """
        now = self.clock().isoformat()
        row = {"command_id": cid, "fingerprint": fingerprint, "created_at": now}
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(idempotency_keys), row)
        except IntegrityError:
            if self._fingerprint(cid) != fingerprint:
                raise ApiProblem(
                    409,
                    "command_id_reused",
                    "this Idempotency-Key was already used for a different request",
                ) from None
            return False
        return True

    def release(self, cid: str, fingerprint: str) -> None:
        """Free a key whose command was refused (nothing was written under it)."""
        c = idempotency_keys.c
        with self.engine.begin() as conn:
            conn.execute(
                delete(idempotency_keys).where(c.command_id == cid, c.fingerprint == fingerprint)
            )

    def _fingerprint(self, cid: str) -> str | None:
        query = select(idempotency_keys.c.fingerprint).where(idempotency_keys.c.command_id == cid)
        with self.engine.connect() as conn:
            return conn.execute(query).scalar()
