"""Performance periods (月度/季度考核): the closed, reproducible snapshot of everyone's score.

A closure records the formula version, the log position and a digest of the inputs it was
computed from, so anyone can recompute the same scores from the ledger; a period closes once.
"""

from __future__ import annotations

import re

from eventsourcing.domain import event

from ledger.domain.base import LedgerAggregate, require_digest, require_text
from ledger.envelope import Meta
from ledger.errors import InvalidValue
from ledger.ids import stream_id

BANDS = ("A", "B", "C", "D")
MAX_SCORES = 10_000

_PERIOD = re.compile(r"\d{4}(-(0[1-9]|1[0-2])|Q[1-4])", re.ASCII)
_SCORE = re.compile(r"-?\d{1,3}(\.\d{1,4})?", re.ASCII)


def period_key(property_id: str, period: str) -> str:
    """The stream key of one property's period: one closure per key."""
    return f"{property_id}/{period}"


def require_period(period: str) -> str:
    """A month ("2026-09") or a quarter ("2026Q3")."""
    if not isinstance(period, str) or not _PERIOD.fullmatch(period):
        raise InvalidValue(
            f"period must be a month like '2026-09' or a quarter like '2026Q3'; got {period!r}"
        )
    return period


def require_scores(scores: tuple[str, ...]) -> tuple[str, ...]:
    """Each score is "person_id:score:band" with a decimal score, one per person."""
    if not isinstance(scores, tuple) or len(scores) > MAX_SCORES:
        raise InvalidValue(f"scores must be a tuple of at most {MAX_SCORES} entries")
    people: set[str] = set()
    for entry in scores:
        parts = entry.split(":") if isinstance(entry, str) else []
        if len(parts) != 3 or not parts[0].strip() or len(parts[0]) > 100:
            raise InvalidValue(f"a score must look like 'person_id:score:band'; got {entry!r}")
        person, score, band = parts
        if not _SCORE.fullmatch(score):
            raise InvalidValue(f"score of {person} must be a decimal like '85.6'; got {score!r}")
        if band not in BANDS:
            raise InvalidValue(f"band of {person} must be one of {', '.join(BANDS)}; got {band!r}")
        if person in people:
            raise InvalidValue(f"{person} is scored twice")
        people.add(person)
    return scores


class PerformancePeriod(LedgerAggregate):
    """One property's evaluation period; it exists only once it is closed."""

    class PerformancePeriodClosed(LedgerAggregate.Created):
        property_id: str
        period: str
        formula_version: str
        log_position: int
        inputs_sha256: str
        scores: tuple[str, ...]

    @event(PerformancePeriodClosed)
    def __init__(
        self,
        meta: Meta,
        property_id: str,
        period: str,
        formula_version: str,
        log_position: int,
        inputs_sha256: str,
        scores: tuple[str, ...],
    ) -> None:
        self.property_id = property_id
        self.period = period
        self.formula_version = formula_version
        self.log_position = log_position
        self.inputs_sha256 = inputs_sha256
        self.scores = scores
        self.closed_by = meta.actor.id

    @classmethod
    def close(
        cls,
        meta: Meta,
        property_id: str,
        period: str,
        formula_version: str,
        log_position: int,
        inputs_sha256: str,
        scores: tuple[str, ...],
    ) -> PerformancePeriod:
        """Close the period with the scores computed at `log_position` by `formula_version`."""
        property_id = require_text("property_id", property_id, 100)
        if "/" in property_id:
            raise InvalidValue("property_id must not contain '/'")
        period = require_period(period)
        if isinstance(log_position, bool) or not isinstance(log_position, int) or log_position < 0:
            raise InvalidValue("log_position must be a non-negative integer")
        require_digest("inputs_sha256", inputs_sha256)
        return cls._create(
            cls.PerformancePeriodClosed,
            id=stream_id("performance_period", period_key(property_id, period)),
            meta=meta,
            property_id=property_id,
            period=period,
            formula_version=require_text("formula_version", formula_version, 50),
            log_position=log_position,
            inputs_sha256=inputs_sha256,
            scores=require_scores(scores),
        )
