"""Business time: how much of an interval a business calendar counts, and when a target falls due.

Pure arithmetic over one published calendar version (`BusinessCalendarPublished` data); no
dates live in this code, they all come from the calendar, which is built from a maintained
source (the `chinese-calendar` package) when it is published.

- `24x7`: business time is wall-clock time.
- `working_hours`: the calendar's daily spans (e.g. "09:00-12:00,13:30-18:00", in the
  calendar's time zone) on working days; working days are Monday to Friday, minus the
  statutory `holidays`, plus the `makeup_workdays` (调休, weekend days worked instead).

Targets are ISO-8601 durations. On a working-hours calendar a day in the target means one
working day (the length of the daily spans, e.g. 9 h), so "P3D" reads as the contract's
"3个工作日" — three working days — not 72 working hours (the classic SLA-engine trap where
"3 days" on a 9-to-6 schedule silently becomes eight business days). Hours, minutes and
seconds are working time. On a 24×7 calendar a day is 24 hours.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Protocol
from zoneinfo import ZoneInfo

from ledger.domain.contracts import parse_duration
from ledger.errors import InvalidValue

MAX_DAYS = 3660
"""Never search further than ten years for working time (a calendar with none is an error)."""

_PARTS = re.compile(r"P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?", re.ASCII)
_SPAN = re.compile(r"(\d\d):(\d\d)-(\d\d):(\d\d)", re.ASCII)


class CalendarData(Protocol):
    """The fields of one calendar publication (the aggregate or its event both have them)."""

    @property
    def tz(self) -> str: ...

    @property
    def mode(self) -> str: ...

    @property
    def weekly_hours(self) -> str: ...

    @property
    def holidays(self) -> tuple[str, ...]: ...

    @property
    def makeup_workdays(self) -> tuple[str, ...]: ...


@dataclass(frozen=True)
class Calendar:
    """One calendar version, parsed once: zone, daily spans (minutes) and the day exceptions."""

    tz: str
    always: bool
    spans: tuple[tuple[int, int], ...]
    holidays: frozenset[date]
    makeup_workdays: frozenset[date]

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.tz)

    @property
    def working_day(self) -> timedelta:
        """The business length of one day: 24 h on 24×7, else the sum of the daily spans."""
        if self.always:
            return timedelta(days=1)
        return timedelta(minutes=sum(end - start for start, end in self.spans))

    def is_working_day(self, day: date) -> bool:
        """Mon–Fri minus holidays, plus make-up workdays (调休)."""
        if day in self.makeup_workdays:
            return True
        return day.weekday() < 5 and day not in self.holidays


def calendar_of(data: CalendarData) -> Calendar:
    """The parsed calendar of a publication (cached: versions never change)."""
    return _parse(
        data.tz, data.mode, data.weekly_hours, tuple(data.holidays), tuple(data.makeup_workdays)
    )


@lru_cache(maxsize=64)
def _parse(
    tz: str, mode: str, weekly_hours: str, holidays: tuple[str, ...], makeup: tuple[str, ...]
) -> Calendar:
    spans = tuple(
        (int(m[1]) * 60 + int(m[2]), int(m[3]) * 60 + int(m[4]))
        for m in (_SPAN.fullmatch(s.strip()) for s in weekly_hours.split(",") if s.strip())
        if m
    )
    always = mode == "24x7"
    if not always and not spans:
        raise InvalidValue(f"a working-hours calendar needs spans; got {weekly_hours!r}")
    return Calendar(
        tz=tz,
        always=always,
        spans=spans,
        holidays=frozenset(date.fromisoformat(d) for d in holidays),
        makeup_workdays=frozenset(date.fromisoformat(d) for d in makeup),
    )


def duration(cal: Calendar, target: str) -> timedelta:
    """The business length of an ISO-8601 target on this calendar (days are working days)."""
    parse_duration("target", target)  # the contract's own validation and error message
    match = _PARTS.fullmatch(target)
    if match is None:
        raise InvalidValue(f"target must be an ISO-8601 duration like PT30M; got {target!r}")
    days, hours, minutes, seconds = (int(g) if g else 0 for g in match.groups())
    rest = timedelta(hours=hours, minutes=minutes, seconds=seconds)
    return days * cal.working_day + rest


def elapsed(cal: Calendar, start: datetime, end: datetime) -> timedelta:
    """Business time between two instants (zero if `end` is not after `start`)."""
    _require_aware(start, end)
    if end <= start:
        return timedelta(0)
    if cal.always:
        return end - start
    total = timedelta(0)
    for low, high in _working_spans(cal, start):
        if low >= end:
            break
        total += min(high, end) - max(low, start)
    return total


def add(cal: Calendar, start: datetime, business: timedelta) -> datetime:
    """The instant at which `business` time has elapsed after `start`.

    A target that runs out exactly at a span's end falls due then, not at the next opening.
    """
    _require_aware(start)
    if business <= timedelta(0):
        return start
    if cal.always:
        return start + business
    remaining = business
    for low, high in _working_spans(cal, start):
        begin = max(low, start)
        if remaining <= high - begin:
            return begin + remaining
        remaining -= high - begin
    raise InvalidValue(f"calendar has no working time within {MAX_DAYS} days")  # pragma: no cover


def _working_spans(cal: Calendar, start: datetime) -> Iterator[tuple[datetime, datetime]]:
    """Working spans (as UTC instants) that end after `start`, in order, for up to MAX_DAYS."""
    zone = cal.zone
    day = start.astimezone(zone).date() - timedelta(days=1)  # a span may cross midnight in UTC
    for _ in range(MAX_DAYS):
        if cal.is_working_day(day):
            for low, high in cal.spans:
                begin, end = _at(day, low, zone), _at(day, high, zone)
                if end > start:
                    yield begin, end
        day += timedelta(days=1)


def _at(day: date, minutes: int, zone: ZoneInfo) -> datetime:
    """The UTC instant of a local wall-clock minute of `day` (24:00 is the next midnight)."""
    extra, minute = divmod(minutes, 24 * 60)
    local = datetime.combine(day + timedelta(days=extra), time(minute // 60, minute % 60))
    return local.replace(tzinfo=zone).astimezone(UTC)


def _require_aware(*moments: datetime) -> None:
    for moment in moments:
        if not isinstance(moment, datetime) or moment.tzinfo is None:
            raise InvalidValue("business time needs timezone-aware datetimes")
