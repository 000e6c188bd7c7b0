"""Shared pydantic shapes: the command envelope, field types, and the response models.

Request models forbid unknown fields, so a client can never smuggle in an actor: the actor is
always the authenticated principal. Each router declares its own request bodies on
`CommandBody`; the field names are the use case's parameter names.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Path
from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

T = TypeVar("T")
U = TypeVar("U")
MAX_LIMIT = 500
EARLIEST, LATEST = datetime(1970, 1, 1, tzinfo=UTC), datetime(2200, 1, 1, tzinfo=UTC)


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("text must not contain NUL characters")
    return value


def sane_moment(value: datetime) -> datetime:
    """Refuse times the stores and time-zone arithmetic cannot represent."""
    try:
        utc = value.astimezone(UTC)
    except OverflowError:
        raise ValueError("time is out of range") from None
    if not EARLIEST <= utc < LATEST:
        raise ValueError("time must lie between 1970 and 2200")
    return value


Key = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:\-]*$")]
"""An id chosen by the client (task number, person id, area id …)."""
Text = Annotated[str, Field(max_length=2000), AfterValidator(_no_nul)]
Code = Annotated[str, Field(max_length=100), AfterValidator(_no_nul)]
Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
Moment = Annotated[AwareDatetime, AfterValidator(sane_moment)]
"""An RFC 3339 time with an offset (naive times are refused)."""
Count = Annotated[int, Field(ge=-1_000_000_000, le=1_000_000_000)]
Ids = Annotated[tuple[Key, ...], Field(max_length=200)]
Codes = Annotated[tuple[Code, ...], Field(max_length=200)]
Lines = Annotated[tuple[Text, ...], Field(max_length=200)]
ENVELOPE = frozenset({"occurred_at", "on_behalf_of", "causation_id", "correlation_id", "evidence"})


class Strict(BaseModel):
    """Unknown fields are an error (422), never silently dropped."""

    model_config = ConfigDict(extra="forbid")


class CommandBody(Strict):
    """The envelope every command may carry besides its arguments.

    `occurred_at` (business time, default: now) may be reported late but not more than
    5 minutes ahead of the server clock; `on_behalf_of` names the owner a front-desk
    user acts for; `evidence` lists SHA-256 digests of content-addressed files.
    """

    occurred_at: Moment | None = None
    on_behalf_of: Key | None = None
    causation_id: Code | None = None
    correlation_id: Code | None = None
    evidence: Annotated[tuple[Sha256, ...], Field(max_length=50)] = ()

    def args(self) -> dict[str, Any]:
        """The use-case arguments: every field but the envelope."""
        names = type(self).model_fields.keys() - ENVELOPE
        return {name: getattr(self, name) for name in names}


class EmptyCommand(CommandBody):
    """A command with no arguments beyond its path."""


class EventRef(BaseModel):
    """One event a command wrote: its stream and the version within it."""

    stream_id: str
    version: int


class CommandOut(BaseModel):
    """The outcome of a command; a retry with the same key gets the same answer."""

    command_id: str
    idempotency_key: str
    repeated: bool
    events: list[EventRef]


class Page(BaseModel, Generic[T]):
    """One page of a list; pass `next_cursor` back as `cursor` for the next one."""

    items: list[T]
    next_cursor: str | None
    limit: int

    def map(self, convert: Callable[[T], U]) -> Page[U]:
        """The same page with each item converted (only the page's items, not the list's)."""
        return Page[U](
            items=[convert(i) for i in self.items], next_cursor=self.next_cursor, limit=self.limit
        )


def offset_page(items: Sequence[T], cursor: str | None, limit: int) -> Page[T]:
    """The page of a computed list that starts at offset `cursor` (the first page when None)."""
    start = int(cursor or 0)
    end = start + limit
    next_cursor = str(end) if end < len(items) else None
    return Page[T](items=list(items[start:end]), next_cursor=next_cursor, limit=limit)


KeyPath = Annotated[
    str, Path(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:\-]*$")
]
"""A client-chosen id in the URL path."""
