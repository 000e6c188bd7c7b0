"""Business-calendar arithmetic around the 2026 Spring Festival and National Day (调休 included).

The calendars are built from the `chinese-calendar` package's 2026 data, exactly as the demo
publishes them; every expected instant below was worked out by hand from the official 2026
schedule (Spring Festival: Feb 15–23 off, Sat Feb 14 and Sat Feb 28 worked; Mid-Autumn and
National Day: Sep 25–27 and Oct 1–7 off, Sun Sep 20 and Sat Oct 10 worked).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.business_time import Calendar, _parse, add, calendar_of, duration, elapsed
from ledger.domain.contracts import BusinessCalendar, calendar_key
from ledger.errors import InvalidValue
from ledger.ids import stream_id
from ledger.ledger import Ledger
from tests.clock import Clock
from tests.sla_world import holidays_2026

Z = ZoneInfo("Asia/Shanghai")
OFF, MAKEUP = holidays_2026()
WORK = _parse("Asia/Shanghai", "working_hours", "09:00-18:00", OFF, MAKEUP)
LUNCH = _parse("Asia/Shanghai", "working_hours", "09:00-12:00,13:30-18:00", OFF, MAKEUP)
ALWAYS = _parse("Asia/Shanghai", "24x7", "", (), ())


def local(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=Z)


def test_the_2026_data_has_the_make_up_days_the_tests_rely_on() -> None:
    for day in ("2026-02-14", "2026-02-28", "2026-09-20", "2026-10-10"):
        assert day in MAKEUP
    for day in ("2026-02-16", "2026-02-23", "2026-09-25", "2026-10-01", "2026-10-07"):
        assert day in OFF


def test_three_working_days_before_national_day_end_on_the_make_up_saturday() -> None:
    """Wed Sep 30 15:00: 3 h that day, Oct 1–7 off, Thu Oct 8 and Fri Oct 9 (18 h), then the
    make-up Saturday Oct 10 from 09:00: six more hours → 15:00."""
    start = local(2026, 9, 30, 15, 0)
    target = duration(WORK, "P3D")
    assert target == timedelta(hours=27)
    due = add(WORK, start, target)
    assert due == local(2026, 10, 10, 15, 0)
    assert elapsed(WORK, start, due) == target
    assert elapsed(WORK, local(2026, 9, 30, 18, 0), local(2026, 10, 8, 9, 0)) == timedelta(0)


def test_three_working_days_before_the_spring_festival_cross_the_nine_day_break() -> None:
    """Fri Feb 13 16:00: 2 h, make-up Sat Feb 14 9 h, Feb 15–23 off, Tue Feb 24 9 h, then
    Wed Feb 25 09:00 + 7 h → 16:00."""
    start = local(2026, 2, 13, 16, 0)
    due = add(WORK, start, duration(WORK, "P3D"))
    assert due == local(2026, 2, 25, 16, 0)
    assert elapsed(WORK, local(2026, 2, 14, 18, 0), local(2026, 2, 24, 9, 0)) == timedelta(0)


@pytest.mark.parametrize(
    ("start", "end", "hours"),
    [
        ((2026, 2, 27, 18, 0), (2026, 3, 2, 9, 0), 9),  # Sat Feb 28 worked, Sun Mar 1 not
        ((2026, 9, 19, 0, 0), (2026, 9, 21, 0, 0), 9),  # Sun Sep 20 worked
        ((2026, 9, 24, 18, 0), (2026, 9, 28, 9, 0), 0),  # Mid-Autumn Fri Sep 25 – Sun 27 off
        ((2026, 10, 9, 18, 0), (2026, 10, 12, 9, 0), 9),  # Sat Oct 10 worked, Sun Oct 11 not
        ((2026, 7, 3, 18, 0), (2026, 7, 6, 9, 0), 0),  # an ordinary weekend
    ],
)
def test_elapsed_business_hours_across_weekends_and_make_up_days(
    start: tuple[int, int, int, int, int], end: tuple[int, int, int, int, int], hours: int
) -> None:
    assert elapsed(WORK, local(*start), local(*end)) == timedelta(hours=hours)


def test_a_lunch_break_does_not_count_and_a_working_day_is_the_spans_total() -> None:
    assert duration(LUNCH, "P1D") == timedelta(hours=7, minutes=30)
    assert add(LUNCH, local(2026, 7, 1, 10, 0), timedelta(hours=4)) == local(2026, 7, 1, 15, 30)
    assert elapsed(LUNCH, local(2026, 7, 1, 11, 0), local(2026, 7, 1, 14, 0)) == timedelta(
        hours=1, minutes=30
    )


def test_twenty_four_seven_is_wall_clock_time() -> None:
    start = local(2026, 10, 1, 23, 50)  # a holiday, at night
    assert duration(ALWAYS, "P1D") == timedelta(hours=24)
    assert add(ALWAYS, start, duration(ALWAYS, "PT30M")) == local(2026, 10, 2, 0, 20)
    assert elapsed(ALWAYS, start, local(2026, 10, 2, 0, 20)) == timedelta(minutes=30)


def test_edges_outside_hours_at_a_span_end_and_zero() -> None:
    saturday = local(2026, 7, 4, 10, 0)  # not a make-up day
    assert add(WORK, saturday, timedelta(hours=1)) == local(2026, 7, 6, 10, 0)
    assert add(WORK, local(2026, 7, 1, 17, 0), timedelta(hours=1)) == local(2026, 7, 1, 18, 0)
    assert add(WORK, saturday, timedelta(0)) == saturday
    assert elapsed(WORK, local(2026, 7, 2), local(2026, 7, 1)) == timedelta(0)


def test_naive_times_and_bad_targets_are_refused() -> None:
    with pytest.raises(InvalidValue):
        elapsed(WORK, datetime(2026, 7, 1), local(2026, 7, 2))
    with pytest.raises(InvalidValue):
        add(WORK, datetime(2026, 7, 1), timedelta(hours=1))
    with pytest.raises(InvalidValue):
        duration(WORK, "3 days")


def test_a_published_calendar_version_is_read_from_its_event_data() -> None:
    app, clock = Ledger("memory://"), Clock()
    app.publish_calendar(
        clock.admin(), "CAL-WORK", "working_hours", "09:00-18:00", OFF, MAKEUP, "chinese-calendar"
    )
    published: object = app.repository.get(stream_id("contract", calendar_key("CAL-WORK")))
    assert isinstance(published, BusinessCalendar)
    assert calendar_of(published) == WORK


MINUTE_IN_2026 = st.integers(0, 364 * 24 * 60).map(
    lambda m: datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=m)
)


@settings(max_examples=150, deadline=None)
@given(
    calendar=st.sampled_from([WORK, LUNCH, ALWAYS]),
    start=MINUTE_IN_2026,
    minutes=st.integers(0, 60 * 60),
)
def test_adding_then_measuring_gives_the_duration_back(
    calendar: Calendar, start: datetime, minutes: int
) -> None:
    business = timedelta(minutes=minutes)
    due = add(calendar, start, business)
    assert due >= start
    assert elapsed(calendar, start, due) == business


@settings(max_examples=150, deadline=None)
@given(start=MINUTE_IN_2026, minutes=st.integers(0, 20 * 24 * 60))
def test_measuring_then_adding_never_passes_the_end(start: datetime, minutes: int) -> None:
    end = start + timedelta(minutes=minutes)
    reached = add(WORK, start, elapsed(WORK, start, end))
    assert reached <= end
    assert elapsed(WORK, reached, end) == timedelta(0)
