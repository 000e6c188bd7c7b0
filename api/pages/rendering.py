"""Templates and the formatting the pages share: times in the display zone, rates, headers.

Every page is rendered here, with a Content-Security-Policy that allows nothing but this
server: no CDN, no inline script, no external font or image can load.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from fractions import Fraction
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from api.pages import labels

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
STATIC = Path(__file__).resolve().parent.parent / "static"
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


@cache
def environment() -> Environment:
    """The Jinja2 environment (autoescaping on; a missing variable is an error, not blank)."""
    return Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render(template: str, status: int = 200, **context: Any) -> HTMLResponse:
    html = environment().get_template(template).render(labels=labels, **context)
    return HTMLResponse(html, status_code=status, headers=SECURITY_HEADERS)


@dataclass(frozen=True)
class Show:
    """How values read on a page: times in the display zone, fractions as percentages."""

    zone: ZoneInfo

    def time(self, moment: datetime | str | None) -> str:
        local = self._local(moment)
        return "—" if local is None else local.strftime("%Y-%m-%d %H:%M")

    def seconds(self, moment: datetime | str | None) -> str:
        local = self._local(moment)
        return "—" if local is None else local.strftime("%Y-%m-%d %H:%M:%S")

    def iso(self, moment: datetime | str | None) -> str:
        """The `datetime` attribute of a `<time>` element (RFC 3339, display zone)."""
        local = self._local(moment)
        return "" if local is None else local.isoformat(timespec="seconds")

    def _local(self, moment: datetime | str | None) -> datetime | None:
        if moment is None:
            return None
        value = datetime.fromisoformat(moment) if isinstance(moment, str) else moment
        return value.astimezone(self.zone)

    @staticmethod
    def percent(value: Fraction | Decimal | float | None) -> str:
        return "—" if value is None else f"{float(value) * 100:.1f}%"

    @staticmethod
    def hours(seconds: int | None) -> str:
        return "—" if seconds is None else f"{seconds / 3600:.1f} h"

    @staticmethod
    def number(value: Decimal | Fraction | float | int | None, places: int = 2) -> str:
        return "—" if value is None else f"{float(value):.{places}f}"
