"""The calendar: its date arithmetic on its own (weeks from Monday, month grids, 23- and 25-hour days, where an instant
falls), then the page through the real Starlette app on SQLite in two time zones (Europe/Berlin and America/New_York)
across both daylight-saving changes and a month and a week boundary: the same post shows on the same local day and
hour in the month, week and day views and in the posts list. Also: navigation links, "Schedule a post" links with
local times, changing the session's zone (CSRF required, unknown zones refused in one line, `next` never leaving the
site), another workspace's posts never shown and captions / handles rendered inert."""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser
from zoneinfo import ZoneInfo

import pytest

from cliply.store.models_web import WebSession
from cliply.web import calendar_view as cal
from cliply.web.sessions import digest
from tests.test_web_auth import Web, form_csrf, is_signin_redirect, signed_in, web  # noqa: F401
from tests.test_web_pages import XSS_CAPTION, XSS_HANDLE, connect, markup_ok, post

BERLIN, NEW_YORK = ZoneInfo("Europe/Berlin"), ZoneInfo("America/New_York")


# --- the date arithmetic ---


def labels(day: date, zone: ZoneInfo) -> list[str]:
    return [f"{s.label} {s.abbreviation}" for s in cal.day_slots(day, zone)]


@pytest.mark.parametrize(
    ("zone", "day", "hours", "missing", "twice"),
    [
        (NEW_YORK, date(2026, 3, 8), 23, "02:00", None),
        (NEW_YORK, date(2026, 11, 1), 25, None, "01:00"),
        (BERLIN, date(2026, 3, 29), 23, "02:00", None),
        (BERLIN, date(2026, 10, 25), 25, None, "02:00"),
        (BERLIN, date(2026, 3, 28), 24, None, None),
        (NEW_YORK, date(2026, 3, 9), 24, None, None),
    ],
)
def test_a_day_has_one_slot_per_real_hour(
    zone: ZoneInfo, day: date, hours: int, missing: str | None, twice: str | None
) -> None:
    slots = cal.day_slots(day, zone)
    assert len(slots) == hours
    assert slots[0].label == "00:00" and slots[-1].label == "23:00"
    assert all(b.start - a.start == timedelta(hours=1) for a, b in itertools.pairwise(slots))
    names = [s.label for s in slots]
    if missing:
        assert missing not in names
    if twice:
        assert names.count(twice) == 2
        first, second = [s for s in slots if s.label == twice]
        assert first.abbreviation != second.abbreviation  # told apart by the zone's abbreviation
    else:
        assert len(set(names)) == len(names)


def test_the_repeated_hour_keeps_its_abbreviations_in_order() -> None:
    assert labels(date(2026, 11, 1), NEW_YORK)[:4] == ["00:00 EDT", "01:00 EDT", "01:00 EST", "02:00 EST"]
    assert labels(date(2026, 3, 29), BERLIN)[:4] == ["00:00 CET", "01:00 CET", "03:00 CEST", "04:00 CEST"]


def test_slot_labels_name_the_zone_only_where_the_clock_changes() -> None:
    def shown(day: date, zone: ZoneInfo) -> list[str]:
        return [label for _, label in cal.period("day", day, zone, today=day).days[0].labelled_slots]

    assert shown(date(2026, 11, 1), NEW_YORK)[:4] == ["00:00 EDT", "01:00 EDT", "01:00 EST", "02:00"]
    assert shown(date(2026, 3, 29), BERLIN)[:4] == ["00:00 CET", "01:00", "03:00 CEST", "04:00"]
    assert shown(date(2026, 3, 30), BERLIN)[:2] == ["00:00", "01:00"]


def test_a_day_whose_midnight_does_not_exist_starts_at_the_change() -> None:
    havana = ZoneInfo("America/Havana")  # clocks go from 00:00 to 01:00 on the second Sunday of March
    slots = cal.day_slots(date(2026, 3, 8), havana)
    assert len(slots) == 23 and slots[0].label == "01:00"
    assert cal.day_start(date(2026, 3, 8), havana) == datetime(2026, 3, 8, 5, 0, tzinfo=UTC)
    assert cal.day_slots(date(2026, 3, 7), havana)[-1].end == slots[0].start  # no gap, no overlap


@pytest.mark.parametrize(
    ("instant", "zone", "day", "slot_local"),
    [
        (datetime(2026, 4, 1, 3, 30, tzinfo=UTC), NEW_YORK, date(2026, 3, 31), "2026-03-31T23:00"),
        (datetime(2026, 3, 31, 22, 30, tzinfo=UTC), BERLIN, date(2026, 4, 1), "2026-04-01T00:00"),
        (datetime(2026, 3, 9, 3, 30, tzinfo=UTC), NEW_YORK, date(2026, 3, 8), "2026-03-08T23:00"),
        (datetime(2026, 3, 8, 7, 30, tzinfo=UTC), NEW_YORK, date(2026, 3, 8), "2026-03-08T03:00"),
        (datetime(2026, 11, 1, 6, 30, tzinfo=UTC), NEW_YORK, date(2026, 11, 1), "2026-11-01T01:00"),
        (datetime(2026, 10, 25, 1, 30, tzinfo=UTC), BERLIN, date(2026, 10, 25), "2026-10-25T02:00"),
    ],
)
def test_an_instant_falls_on_its_local_day_and_hour(
    instant: datetime, zone: ZoneInfo, day: date, slot_local: str
) -> None:
    found_day, slot_start = cal.locate(instant, zone)
    assert found_day == day
    assert slot_start.astimezone(zone).strftime("%Y-%m-%dT%H:%M") == slot_local
    assert slot_start <= instant < slot_start + timedelta(hours=1)
    assert slot_start in {s.start for s in cal.day_slots(day, zone)}


def test_the_two_slots_of_a_repeated_hour_are_different_instants() -> None:
    first = cal.locate(datetime(2026, 11, 1, 5, 30, tzinfo=UTC), NEW_YORK)  # 01:30 EDT
    second = cal.locate(datetime(2026, 11, 1, 6, 30, tzinfo=UTC), NEW_YORK)  # 01:30 EST
    assert first[0] == second[0] == date(2026, 11, 1)
    assert second[1] - first[1] == timedelta(hours=1)


def test_month_grids_run_monday_to_sunday() -> None:
    march = cal.period("month", date(2026, 3, 15), BERLIN, today=date(2026, 3, 10))
    assert march.days[0].date == date(2026, 2, 23) and march.days[-1].date == date(2026, 4, 5)
    assert len(march.weeks) == 6 and all(w[0].date.weekday() == 0 and len(w) == 7 for w in march.weeks)
    inside = [d.date for d in march.days if d.in_period]
    assert inside[0] == date(2026, 3, 1) and inside[-1] == date(2026, 3, 31) and len(inside) == 31
    assert [d.date for d in march.days if d.is_today] == [date(2026, 3, 10)]
    assert march.title == "March 2026"
    assert (march.previous, march.next) == (date(2026, 2, 1), date(2026, 4, 1))
    assert march.start == datetime(2026, 2, 22, 23, 0, tzinfo=UTC)  # Berlin midnight in winter
    assert march.end == datetime(2026, 4, 5, 22, 0, tzinfo=UTC)  # in summer
    june = cal.period("month", date(2026, 6, 1), NEW_YORK, today=date(2026, 3, 10))
    assert june.days[0].date == date(2026, 6, 1) and len(june.weeks) == 5  # June 2026 starts on a Monday


def test_month_navigation_crosses_years() -> None:
    january = cal.period("month", date(2027, 1, 31), BERLIN, today=date(2027, 1, 1))
    assert (january.previous, january.next) == (date(2026, 12, 1), date(2027, 2, 1))
    december = cal.period("month", date(2026, 12, 5), BERLIN, today=date(2027, 1, 1))
    assert december.next == date(2027, 1, 1) and december.title == "December 2026"


def test_weeks_start_on_monday_and_dst_weeks_have_their_real_length() -> None:
    week = cal.period("week", date(2026, 3, 29), BERLIN, today=date(2026, 1, 1))  # a Sunday
    assert [d.date for d in week.days] == [date(2026, 3, 23) + timedelta(days=i) for i in range(7)]
    assert (week.previous, week.next) == (date(2026, 3, 16), date(2026, 3, 30))
    assert week.end - week.start == timedelta(hours=7 * 24 - 1)
    assert [d.hours for d in week.days] == [24, 24, 24, 24, 24, 24, 23]
    assert week.title == "23 – 29 March 2026"
    autumn = cal.period("week", date(2026, 11, 1), NEW_YORK, today=date(2026, 1, 1))
    assert autumn.end - autumn.start == timedelta(hours=7 * 24 + 1)
    assert autumn.title == "26 October – 1 November 2026"
    across = cal.period("week", date(2026, 12, 31), NEW_YORK, today=date(2026, 1, 1))
    assert across.title == "28 December 2026 – 3 January 2027"


def test_day_view_and_placing_items() -> None:
    day = cal.period("day", date(2026, 10, 25), BERLIN, today=date(2026, 10, 25))
    assert day.title == "Sunday 25 October 2026"
    assert (day.previous, day.next) == (date(2026, 10, 24), date(2026, 10, 26))
    assert day.days[0].hours == 25 and day.days[0].changes_clock
    before = datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # 02:30 CEST
    after = datetime(2026, 10, 25, 1, 30, tzinfo=UTC)  # 02:30 CET
    outside = datetime(2026, 10, 25, 23, 30, tzinfo=UTC)  # 00:30 on the 26th in Berlin
    left = day.place([(after, "after"), (outside, "outside"), (before, "before")])
    assert left == ["outside"]
    only = day.days[0]
    assert only.items == ["before", "after"]
    slots = [s for s in only.slots if only.in_slot(s)]
    assert [f"{s.label} {s.abbreviation}" for s in slots] == ["02:00 CEST", "02:00 CET"]
    assert [only.in_slot(s) for s in slots] == [["before"], ["after"]]


def test_dates_and_views_are_parsed_strictly() -> None:
    assert cal.parse_date("2026-03-08") == date(2026, 3, 8)
    for bad in ("", None, "2026-3-8", "2026-02-30", "08/03/2026", "0001-01-01", "9999-12-31", "2026-03-08x"):
        assert cal.parse_date(bad) is None, bad
    assert cal.parse_view("week") == "week" and cal.parse_view("year") == "month" and cal.parse_view(None) == "month"
    start, end = cal.local_bounds(date(2026, 3, 8), date(2026, 3, 8), NEW_YORK)
    assert start is not None and end is not None and end - start == timedelta(hours=23)


# --- the page ---


@dataclass
class Placed:
    day: str | None
    slot: str | None  # the slot's local start, YYYY-MM-DDTHH:MM
    zone: str | None  # the slot's zone abbreviation


class Cells(HTMLParser):
    """Where each post (data-post) sits: the day (data-date) and the hour slot (data-local) around it."""

    VOID = frozenset({"input", "br", "img", "meta", "link", "hr", "source", "option", "col", "wbr"})

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[dict[str, str | None]] = []
        self.found: dict[str, list[Placed]] = {}

    def _inner(self, key: str) -> str | None:
        return next((a[key] for a in reversed(self.stack) if a.get(key)), None)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if values.get("data-post"):
            placed = Placed(self._inner("data-date"), self._inner("data-local"), self._inner("data-zone"))
            self.found.setdefault(str(values["data-post"]), []).append(placed)
        if tag not in self.VOID:
            self.stack.append({"tag": tag, **values})

    def handle_endtag(self, tag: str) -> None:
        if tag in self.VOID or all(a["tag"] != tag for a in self.stack):
            return
        while self.stack:
            if self.stack.pop()["tag"] == tag:
                break


def cells(html: str) -> dict[str, list[Placed]]:
    parser = Cells()
    parser.feed(html)
    return parser.found


def set_zone(web: Web, zone: str, shown: str | None = None) -> None:
    token = form_csrf(web.http.get("/web/calendar").text)
    r = web.http.post("/web/timezone", data={"csrf": token, "timezone": zone, "next": "/web/calendar"})
    assert r.status_code == 200 and f"Times are shown in {shown or zone}" in r.text


def zone_of_session(web: Web, secret: str) -> str | None:
    with web.env.db.reading() as s:
        row = s.get(WebSession, digest(secret))
        assert row is not None
        return row.timezone


@dataclass(frozen=True)
class Case:
    zone: str
    instant: datetime  # UTC
    day: str  # the local day it must show on
    hour: str  # the local start of its hour slot
    abbreviation: str
    clock: str
    why: str


CASES = [
    Case(
        "America/New_York",
        datetime(2026, 4, 1, 3, 30, tzinfo=UTC),
        "2026-03-31",
        "23:00",
        "EDT",
        "23:30",
        "last day of a month, already April in UTC",
    ),
    Case(
        "America/New_York",
        datetime(2026, 3, 9, 3, 30, tzinfo=UTC),
        "2026-03-08",
        "23:00",
        "EDT",
        "23:30",
        "a 23-hour Sunday, already Monday in UTC",
    ),
    Case(
        "America/New_York",
        datetime(2026, 3, 8, 7, 30, tzinfo=UTC),
        "2026-03-08",
        "03:00",
        "EDT",
        "03:30",
        "right after the skipped hour",
    ),
    Case(
        "America/New_York",
        datetime(2026, 11, 1, 6, 30, tzinfo=UTC),
        "2026-11-01",
        "01:00",
        "EST",
        "01:30",
        "the second 01:30 of a 25-hour Sunday",
    ),
    Case(
        "Europe/Berlin",
        datetime(2026, 3, 29, 1, 30, tzinfo=UTC),
        "2026-03-29",
        "03:00",
        "CEST",
        "03:30",
        "a 23-hour Sunday, after the skipped hour",
    ),
    Case(
        "Europe/Berlin",
        datetime(2026, 10, 25, 1, 30, tzinfo=UTC),
        "2026-10-25",
        "02:00",
        "CET",
        "02:30",
        "the second 02:30 of a 25-hour Sunday",
    ),
    Case(
        "Europe/Berlin",
        datetime(2026, 10, 31, 23, 30, tzinfo=UTC),
        "2026-11-01",
        "00:00",
        "CET",
        "00:30",
        "first day of a month, still October in UTC",
    ),
    Case(
        "Europe/Berlin",
        datetime(2026, 5, 31, 21, 30, tzinfo=UTC),
        "2026-05-31",
        "23:00",
        "CEST",
        "23:30",
        "the last day of a month and a Sunday",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.why for c in CASES])
def test_a_post_shows_on_the_same_local_day_and_hour_in_every_view(web: Web, case: Case) -> None:
    account = connect(web, "acme", "youtube", "acme-channel")
    post_id = post(web, "acme", account, "youtube", "Calendar caption", case.instant)
    signed_in(web.http, web.tokens["acme"])
    set_zone(web, case.zone)
    slot = f"{case.day}T{case.hour}"
    day = date.fromisoformat(case.day)
    for view in ("month", "week", "day"):
        r = web.http.get(f"/web/calendar?view={view}&date={case.day}")
        assert r.status_code == 200, r.text
        placed = cells(r.text).get(post_id, [])
        assert len(placed) == 1, (view, placed)  # once, on one day
        assert placed[0].day == case.day, (view, placed)
        if view != "month":
            assert (placed[0].slot, placed[0].zone) == (slot, case.abbreviation), (view, placed)
        entry = r.text[r.text.index(f'data-post="{post_id}"') :]
        assert f"{case.clock}</time>" in entry[:400], view
        assert f'<time datetime="{case.instant.isoformat()}">' in entry[:400]
    # The neighbouring month and week views show it on the same day when that day is in their grid, else not at all.
    for view, other in (
        ("month", day.replace(day=1) - timedelta(days=1)),
        ("month", day.replace(day=28) + timedelta(days=7)),
        ("week", day - timedelta(days=7)),
        ("week", day + timedelta(days=7)),
    ):
        placed = cells(web.http.get(f"/web/calendar?view={view}&date={other.isoformat()}").text).get(post_id, [])
        shown = cal.period(view, other, ZoneInfo(case.zone), today=day)
        if shown.days[0].date <= day <= shown.days[-1].date:
            assert [p.day for p in placed] == [case.day], (view, other)
        else:
            assert placed == [], (view, other)
    # The list, filtered to that local day, shows it with the same local time.
    listing = web.http.get(f"/web/posts?from={case.day}&to={case.day}")
    assert listing.status_code == 200 and post_id in cells(listing.text)
    assert f"{case.day} {case.clock} {case.abbreviation}</time>" in listing.text
    previous_day = (day - timedelta(days=1)).isoformat()
    assert post_id not in cells(web.http.get(f"/web/posts?from={previous_day}&to={previous_day}").text)


def test_the_same_post_moves_with_the_sessions_zone(web: Web) -> None:
    account = connect(web, "acme", "youtube", "acme-channel")
    post_id = post(web, "acme", account, "youtube", "Moving caption", datetime(2026, 4, 1, 3, 30, tzinfo=UTC))
    secret = signed_in(web.http, web.tokens["acme"])
    assert zone_of_session(web, secret) is None  # UTC until changed
    utc = cells(web.http.get("/web/calendar?view=week&date=2026-04-01").text)[post_id]
    assert utc == [Placed("2026-04-01", "2026-04-01T03:00", "UTC")]
    set_zone(web, "America/New_York")
    assert zone_of_session(web, secret) == "America/New_York"
    ny = cells(web.http.get("/web/calendar?view=week&date=2026-04-01").text)[post_id]
    assert ny == [Placed("2026-03-31", "2026-03-31T23:00", "EDT")]
    set_zone(web, "europe/berlin", "Europe/Berlin")  # case-insensitive, stored in zoneinfo's spelling
    assert zone_of_session(web, secret) == "Europe/Berlin"
    berlin = cells(web.http.get("/web/calendar?view=day&date=2026-04-01").text)[post_id]
    assert berlin == [Placed("2026-04-01", "2026-04-01T05:00", "CEST")]
    march = web.http.get("/web/calendar?view=month&date=2026-03-01").text
    assert cells(march)[post_id] == [Placed("2026-04-01", None, None)]  # a trailing day of March's grid


def test_calendar_navigation_and_schedule_links(web: Web) -> None:
    signed_in(web.http, web.tokens["acme"])
    set_zone(web, "America/New_York")
    week = web.http.get("/web/calendar?view=week&date=2026-03-11")
    assert week.status_code == 200
    markup_ok(week.text)
    html = week.text
    assert '<a href="/web/calendar" aria-current="page">Calendar</a>' in html
    assert '<a href="/web/posts">Posts</a>' in html
    assert "<title>Calendar · 9 – 15 March 2026 · Cliply</title>" in html
    assert 'href="/web/calendar?view=week&amp;date=2026-03-02" rel="prev">Previous week</a>' in html
    assert 'href="/web/calendar?view=week&amp;date=2026-03-16" rel="next">Next week</a>' in html
    today = datetime.now(NEW_YORK).date().isoformat()
    assert f'href="/web/calendar?view=week&amp;date={today}">Today</a>' in html
    assert 'href="/web/calendar?view=month&amp;date=2026-03-11">Month</a>' in html
    assert re.findall(r'data-date="([^"]+)"', html) == [f"2026-03-{d:02d}" for d in range(9, 16)]
    assert html.count('class="calendar-add"') == 7 * 24
    assert 'href="/web/posts/new?at=2026-03-09T14:00"' in html

    dst = web.http.get("/web/calendar?view=day&date=2026-03-08").text
    assert dst.count('class="calendar-add"') == 23
    assert "it has 23 hours" in dst
    assert "at=2026-03-08T02:00" not in dst and 'href="/web/posts/new?at=2026-03-08T03:00"' in dst
    assert "Nothing is scheduled on this day." in dst
    autumn = web.http.get("/web/calendar?view=day&date=2026-11-01").text
    assert autumn.count('class="calendar-add"') == 25 and autumn.count('data-local="2026-11-01T01:00"') == 2

    month = web.http.get("/web/calendar?view=month&date=2026-03-20").text
    markup_ok(month)
    assert '<h2 id="period-heading">March 2026</h2>' in month
    assert re.findall(r'data-date="([^"]+)"', month)[0] == "2026-02-23"  # a Monday
    assert month.count('class="calendar-add"') == 42
    assert 'href="/web/posts/new?at=2026-03-31T09:00"' in month
    assert 'href="/web/calendar?view=month&amp;date=2026-04-01" rel="next">Next month</a>' in month

    bad = web.http.get("/web/calendar?view=week&date=2026-02-30")
    assert bad.status_code == 400 and "That date could not be read" in bad.text
    assert f'data-date="{today}"' in bad.text  # today's week instead
    assert web.http.get("/web/calendar?view=year").status_code == 200  # the month view
    for edge in ("9998-12-31", "1971-01-01"):
        for view in ("month", "week", "day"):
            assert web.http.get(f"/web/calendar?view={view}&date={edge}").status_code == 200, (view, edge)
    assert web.http.get("/web/calendar?view=day&date=9999-12-31").status_code == 400


def test_changing_the_zone_needs_the_csrf_token(web: Web) -> None:
    secret = signed_in(web.http, web.tokens["acme"])
    for data in ({"timezone": "Europe/Berlin"}, {"timezone": "Europe/Berlin", "csrf": "wrong"}):
        r = web.http.post("/web/timezone", data=data, follow_redirects=False)
        assert r.status_code == 403 and "security token" in r.text
    assert zone_of_session(web, secret) is None
    with web.client() as stranger:
        r = stranger.post("/web/timezone", data={"timezone": "Europe/Berlin"}, follow_redirects=False)
        assert is_signin_redirect(r)
    for path in ("/web/posts", "/web/calendar"):
        with web.client() as stranger:
            assert is_signin_redirect(stranger.get(path, follow_redirects=False))


def test_an_unknown_zone_is_refused_in_one_line_and_kept(web: Web) -> None:
    secret = signed_in(web.http, web.tokens["acme"])
    token = form_csrf(web.http.get("/web/calendar").text)
    for typed, page in (("Mars/Olympus_Mons", "/web/calendar?view=week&date=2026-03-11"), ("localtime", "/web/posts")):
        r = web.http.post("/web/timezone", data={"csrf": token, "timezone": typed, "next": page})
        assert r.status_code == 400
        markup_ok(r.text)
        error = re.search(r'<p class="alert" role="alert" id="timezone-error">([^<]*)</p>', r.text)
        assert error and "\n" not in error.group(1) and "Unknown time zone" in error.group(1)
        assert f'value="{typed}"' in r.text and 'aria-invalid="true"' in r.text
        assert f'name="next" value="{page.replace("&", "&amp;")}"' in r.text  # the page it came from, again
    empty = web.http.post("/web/timezone", data={"csrf": token, "timezone": " ", "next": "/web/posts"})
    assert empty.status_code == 400 and "Choose a time zone" in empty.text
    assert zone_of_session(web, secret) is None


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/web/",
        "//evil.example/web/",
        "/\\evil.example",
        "\\\\evil.example",
        "javascript:alert(1)",
        "/web/../evil",
        "/web/%2e%2E/evil",
        "/api/posts",
        "/web/\r\nSet-Cookie:x=1",
        "",
    ],
)
def test_next_never_leaves_the_pages(web: Web, target: str) -> None:
    signed_in(web.http, web.tokens["acme"])
    token = form_csrf(web.http.get("/web/calendar").text)
    r = web.http.post("/web/timezone", data={"csrf": token, "timezone": "UTC", "next": target}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/web/calendar"


def test_next_keeps_a_page_of_the_site(web: Web) -> None:
    signed_in(web.http, web.tokens["acme"])
    token = form_csrf(web.http.get("/web/posts").text)
    r = web.http.post(
        "/web/timezone",
        data={"csrf": token, "timezone": "Asia/Kolkata", "next": "/web/posts?status=scheduled&platform=x"},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == "/web/posts?status=scheduled&platform=x"
    assert "Times are shown in Asia/Kolkata" in web.http.get(r.headers["location"]).text


def test_the_calendar_shows_only_this_workspace_and_escapes_what_it_shows(web: Web) -> None:
    at = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
    ours = connect(web, "acme", "x", XSS_HANDLE)
    theirs = connect(web, "globex", "x", "globex_handle")
    mine = post(web, "acme", ours, "x", XSS_CAPTION, at)
    other = post(web, "globex", theirs, "x", "globex secret caption", at)
    signed_in(web.http, web.tokens["acme"])
    for view in ("month", "week", "day"):
        html = web.http.get(f"/web/calendar?view={view}&date=2026-03-10").text
        assert mine in cells(html) and other not in html and "globex" not in html
        assert "<script>alert" not in html
        assert "&#34;&gt;&lt;script&gt;alert(&#34;caption&#34;)&lt;/script&gt;" in html
        markup_ok(html)
