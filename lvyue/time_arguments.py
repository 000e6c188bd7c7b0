"""Times given on the command line: RFC 3339 with an offset, or a usage error (exit 2)."""

from __future__ import annotations

from datetime import datetime

import typer


def parse_time(text: str) -> datetime:
    """RFC 3339 with an offset; anything else is a usage error naming what to write."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not an RFC 3339 time") from None
    if moment.tzinfo is None:
        raise typer.BadParameter("give the time with an offset, e.g. 2026-09-01T08:00:00+08:00")
    return moment
