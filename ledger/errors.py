"""Named domain errors: every refused command raises one of these and writes nothing."""

from __future__ import annotations


class DomainError(Exception):
    """Base of every refusal; `code` is stable and machine-readable."""

    code = "domain_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidValue(DomainError):
    """A malformed or out-of-range argument."""

    code = "invalid_value"


class NotFound(DomainError):
    """An id that names nothing in the ledger."""

    code = "not_found"


class AlreadyExists(DomainError):
    """A create command for an id that is already taken."""

    code = "already_exists"


class IllegalTransition(DomainError):
    """The command is not allowed in the aggregate's current state."""

    code = "illegal_transition"


class NotResponsible(DomainError):
    """The actor is not the person this step belongs to (e.g. sign-off by a non-assignee)."""

    code = "not_responsible"


class ActorNotActive(DomainError):
    """The actor is unknown, offboarded, or not staff where staff is required."""

    code = "actor_not_active"


class SeparationOfDuties(DomainError):
    """The same person may not both do and judge (ruling own penalty, verifying own fix)."""

    code = "separation_of_duties"


class CommandIdReused(DomainError):
    """A command id was reused for a different command."""

    code = "command_id_reused"


class ConcurrentModification(DomainError):
    """Someone else changed the stream first; reload and retry."""

    code = "concurrent_modification"

    def __init__(self, message: str, current_version: int | None = None) -> None:
        super().__init__(message)
        self.current_version = current_version
