"""Idempotency keys: the `Idempotency-Key` header names the command, retries are safe.

The key, namespaced by the caller, becomes the ledger's command id, and the ledger's receipt
returns the first result to a retry. The ledger fingerprints the use-case arguments; a digest
of the whole request (method, path, body and envelope) travels with the command
(`CommandContext.request_digest`) into the same receipt, written in the command's own
transaction: the same key with a different request is a 409, never a silent replay of the
first one, and there is no second table to keep in step with the log.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pydantic import BaseModel, SerializerFunctionWrapHandler, model_serializer

from api.policy import Principal
from ledger.personal import mask_personal

KEY_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,99}$"


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
