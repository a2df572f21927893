"""The calendar's date arithmetic, pure (no database, no HTTP): which local days a month, week or day view shows,
the hour slots of a local day, and on which local day and in which slot an instant falls, all in one IANA zone.

Days are local calendar days: a day runs from its first instant to the next day's first instant, so a day of a
daylight-saving change is 23 or 25 hours long. Its hour slots step one real hour from the day's start: on a 23-hour
day the skipped wall-clock hour has no slot, on a 25-hour day the repeated hour has two (told apart by the zone's
abbreviation). Weeks start on Monday. An instant is placed by its local time in the zone, so a post at 23:30 on the
last day of a month (or on a Sunday) stays on that day in every view, even when it is already the next day in UTC."""

from __future__ import annotations

import calendar
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

VIEWS = ("month", "week", "day")
HOUR = timedelta(hours=1)
DEFAULT_SLOT_HOUR = 9  # a month view's "Schedule a post" link proposes this local hour of the day
MIN_YEAR, MAX_YEAR = 1971, 9998  # navigating one period back or forward stays inside what datetime can hold
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def parse_view(text: str | None) -> str:
    """`month`, `week` or `day`; anything else is the month view."""
    return text if text in VIEWS else "month"


def parse_date(text: str | None) -> date | None:
    """A `YYYY-MM-DD` date within the calendar's range, or None."""
    if not text or not _DATE.fullmatch(text.strip()):
        return None
    try:
        value = date.fromisoformat(text.strip())
    except ValueError:
        return None
    return value if MIN_YEAR <= value.year <= MAX_YEAR else None


def today_in(zone: ZoneInfo, now: datetime | None = None) -> date:
    return (now or datetime.now(UTC)).astimezone(zone).date()


def day_start(day: date, zone: ZoneInfo) -> datetime:
    """The first instant of a local day, in UTC. When local midnight does not exist (a zone that changes its clock
    at midnight), zoneinfo resolves it with the offset before the change: the instant the day begins."""
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


@dataclass(frozen=True)
class Slot:
    """One hour of a local day, [start, end) in UTC, shown by its local wall-clock start."""

    start: datetime
    end: datetime
    zone: ZoneInfo

    @property
    def local(self) -> datetime:
        return self.start.astimezone(self.zone)

    @property
    def label(self) -> str:
        return self.local.strftime("%H:%M")

    @property
    def abbreviation(self) -> str:
        return self.local.strftime("%Z")

    @property
    def at(self) -> str:
        """The local time a "Schedule a post" link proposes: `YYYY-MM-DDTHH:MM`."""
        return self.local.strftime("%Y-%m-%dT%H:%M")


def day_slots(day: date, zone: ZoneInfo) -> list[Slot]:
    """The day's hour slots: 24, or 23 / 25 on a daylight-saving change."""
    start, end = day_start(day, zone), day_start(day + timedelta(days=1), zone)
    out: list[Slot] = []
    moment = start
    while moment < end:
        out.append(Slot(moment, min(moment + HOUR, end), zone))
        moment += HOUR
    return out


def locate(instant: datetime, zone: ZoneInfo) -> tuple[date, datetime]:
    """(local day, start of its hour slot in UTC) of an aware instant."""
    day = instant.astimezone(zone).date()
    start = day_start(day, zone)
    hours = int((instant.astimezone(UTC) - start) // HOUR)
    return day, start + hours * HOUR


@dataclass
class Day:
    date: date
    zone: ZoneInfo
    in_period: bool  # false for a month view's leading and trailing days of the neighbouring months
    is_today: bool
    slots: list[Slot] = field(default_factory=list)
    items: list[Any] = field(default_factory=list)  # everything placed on the day, in time order
    by_slot: dict[datetime, list[Any]] = field(default_factory=dict)

    @property
    def hours(self) -> int:
        return len(self.slots)

    @property
    def iso(self) -> str:
        return self.date.isoformat()

    @property
    def at(self) -> str:
        """The local time a month view's "Schedule a post" link proposes for the day."""
        return f"{self.iso}T{DEFAULT_SLOT_HOUR:02d}:00"

    @property
    def changes_clock(self) -> bool:
        return len(self.slots) != 24 or len({s.abbreviation for s in self.slots}) > 1

    @property
    def labelled_slots(self) -> list[tuple[Slot, str]]:
        """Each slot with its label: the zone's abbreviation is added on a day the clocks change, to the first slot,
        where it changes, and to both slots of a repeated hour."""
        counts = Counter(s.label for s in self.slots)
        out: list[tuple[Slot, str]] = []
        previous = None
        for s in self.slots:
            named = self.changes_clock and (s.abbreviation != previous or counts[s.label] > 1)
            out.append((s, f"{s.label} {s.abbreviation}" if named else s.label))
            previous = s.abbreviation
        return out

    def in_slot(self, slot: Slot) -> list[Any]:
        return self.by_slot.get(slot.start, [])


@dataclass
class Period:
    view: str
    anchor: date
    zone: ZoneInfo
    title: str
    previous: date
    next: date
    days: list[Day]

    @property
    def start(self) -> datetime:
        """The first instant shown, in UTC."""
        return day_start(self.days[0].date, self.zone)

    @property
    def end(self) -> datetime:
        """The instant after the last one shown, in UTC."""
        return day_start(self.days[-1].date + timedelta(days=1), self.zone)

    @property
    def weeks(self) -> list[list[Day]]:
        return [self.days[i : i + 7] for i in range(0, len(self.days), 7)]

    def place(self, items: Iterable[tuple[datetime, Any]]) -> list[Any]:
        """Put each item on its local day and in its hour slot; returns the items outside the period."""
        index = {d.date: d for d in self.days}
        outside: list[Any] = []
        for instant, item in sorted(items, key=lambda pair: pair[0]):
            day, slot = locate(instant, self.zone)
            found = index.get(day)
            if found is None:
                outside.append(item)
                continue
            found.items.append(item)
            found.by_slot.setdefault(slot, []).append(item)
        return outside


def _add_months(day: date, months: int) -> date:
    total = day.year * 12 + day.month - 1 + months
    return date(total // 12, total % 12 + 1, 1)


def _range(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def _week_title(first: date, last: date) -> str:
    if first.year != last.year:
        return f"{first.day} {first:%B %Y} – {last.day} {last:%B %Y}"
    if first.month != last.month:
        return f"{first.day} {first:%B} – {last.day} {last:%B %Y}"
    return f"{first.day} – {last.day} {last:%B %Y}"


def period(view: str, anchor: date, zone: ZoneInfo, today: date) -> Period:
    """The days a view of `anchor` shows, with its title and the dates its previous / next links open."""
    view = parse_view(view)
    if view == "month":
        first_of_month = anchor.replace(day=1)
        last_of_month = anchor.replace(day=calendar.monthrange(anchor.year, anchor.month)[1])
        first = first_of_month - timedelta(days=first_of_month.weekday())
        last = last_of_month + timedelta(days=6 - last_of_month.weekday())
        title = f"{anchor:%B %Y}"
        previous, following = _add_months(anchor, -1), _add_months(anchor, 1)
        shown = {d: first_of_month <= d <= last_of_month for d in _range(first, last)}
    elif view == "week":
        first = anchor - timedelta(days=anchor.weekday())
        last = first + timedelta(days=6)
        title = _week_title(first, last)
        previous, following = first - timedelta(days=7), first + timedelta(days=7)
        shown = dict.fromkeys(_range(first, last), True)
    else:
        title = f"{anchor:%A} {anchor.day} {anchor:%B %Y}"
        previous, following = anchor - timedelta(days=1), anchor + timedelta(days=1)
        shown = {anchor: True}
    days = [Day(d, zone, inside, d == today, day_slots(d, zone)) for d, inside in shown.items()]
    return Period(view, anchor, zone, title, previous, following, days)


def day_label(day: date) -> str:
    """`Monday 9 March 2026`."""
    return f"{day:%A} {day.day} {day:%B %Y}"


def local_bounds(first: date | None, last: date | None, zone: ZoneInfo) -> tuple[datetime | None, datetime | None]:
    """A from / to date filter (both inclusive local days) as [start, end) in UTC."""
    start = day_start(first, zone) if first is not None else None
    end = day_start(last + timedelta(days=1), zone) if last is not None else None
    return start, end
