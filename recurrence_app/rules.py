"""RFC 5545 recurrence rules: parsing, validation and expansion in a series' time zone.

Expansion runs on naive wall-clock times in the series' zone, so "every day at 09:00
Europe/Berlin" stays at 09:00 local across DST, and each occurrence is then converted to UTC:

- a wall time that does not exist (spring forward) is read with the offset in force before the
  gap, which moves it forward by the gap (02:30 becomes 03:30), as RFC 5545 section 3.3.5 says
  (section 3.3.10 would drop it instead; Google Calendar and ical.net 5 move it, as here);
- an ambiguous wall time (fall back) takes its first instance (the DST offset);
- the occurrences are instants: one that a gap moved onto another occurrence's instant is
  dropped (HOURLY across the gap gives 00:00Z, 01:00Z, 02:00Z, not 01:00Z twice), one that a
  gap moved past later wall times is put back in time order, and COUNT counts distinct instants.

DTSTART always counts as the first occurrence (RFC 5545 section 3.8.5.3), even when it does not
match the rule; the rule's COUNT then includes it.
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from functools import lru_cache
from itertools import islice, pairwise
from typing import Any
from zoneinfo import ZoneInfo

from dateutil.rrule import rrule, rrulestr

from webapp.timezones import known_time_zone

MAX_COUNT = 1000
MAX_LEAD_TIME = timedelta(days=366)
# How far from now a series may start (services); the sample span of the density check.
SEARCH_HORIZON = timedelta(days=366 * 10)
ANCHORS = ("due", "completion")
# Sub-minute and minute-level rules would flood a user's list and the database.
FORBIDDEN_FREQ = {"SECONDLY": "every second", "MINUTELY": "every minute"}
FORBIDDEN_PARTS = {"DTSTART", "TZID"}
# ...and not through BY parts either (FREQ=HOURLY;BYMINUTE=0,15,30,45): occurrences of a rule
# come at least this far apart, checked on its first DENSITY_SAMPLE occurrences.
MIN_GAP = timedelta(hours=1)
DENSITY_SAMPLE = 200
# One line of NAME=VALUE parts: a newline would make dateutil read further properties
# (EXDATE, RRULE) and hand back a set instead of a rule.
_PART_RE = re.compile(r"[A-Z]+=[A-Z0-9,+-]+")
# UNTIL stays far enough from the year 9999 to be converted to any zone and compared.
_UNTIL_MAX_YEAR = 8999
# Calendar steps a walk may take without finding an occurrence: months for WEEKLY and shorter
# (Feb 29 recurs within 8 years), periods for MONTHLY and YEARLY (so YEARLY;INTERVAL=100 takes
# one step per occurrence). This, not a time horizon, bounds the walk of a rule that stops
# matching.
_MAX_IDLE_STEPS = 12 * 11
_UNTIL_RE = re.compile(r"^(\d{4})(\d{2})(\d{2})(?:T(\d{2})(\d{2})(\d{2})(Z?))?$")
# How far back an expansion starts before the instant asked about: wider than any UTC offset
# change, so converting `after` to wall time never skips an occurrence.
_WALL_MARGIN = timedelta(hours=26)


class RecurrenceError(ValueError):
    """A problem with one field of a recurrence (`rule`, `timezone`, `anchor`, `lead_time`)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Rule:
    """A validated rule: the text (normalised, without UNTIL), its parts and its end."""

    text: str
    freq: str
    count: int | None
    until: datetime | None  # aware UTC, inclusive


def zone(name: str) -> ZoneInfo:
    found = known_time_zone(name)
    if found is None:
        raise RecurrenceError("timezone", f"Unknown time zone {name!r}.")
    return found


def parse_rule(text: str, *, tz: ZoneInfo) -> Rule:
    """Check the rule text and return it normalised, with UNTIL as an aware UTC instant.

    Errors carry the parser's own reason. UNTIL may be a date (the whole day counts), a local
    date-time, or a UTC date-time ending in Z.
    """
    body = text.strip()
    if body.upper().startswith("RRULE:"):
        body = body[len("RRULE:") :]
    if not body:
        raise RecurrenceError("rule", "The rule is empty.")
    parts: dict[str, str] = {}
    for chunk in body.split(";"):
        name, sep, value = chunk.partition("=")
        name, value = name.strip().upper(), value.strip().upper()
        if not sep or not name or not value:
            raise RecurrenceError("rule", f"{chunk!r} is not NAME=VALUE.")
        if not _PART_RE.fullmatch(f"{name}={value}"):
            raise RecurrenceError(
                "rule", "The rule must be one line of NAME=VALUE parts separated by ';'."
            )
        if name in parts:
            raise RecurrenceError("rule", f"{name} is given twice.")
        parts[name] = value
    freq = parts.get("FREQ")
    if freq is None:
        raise RecurrenceError("rule", "FREQ is required.")
    if freq in FORBIDDEN_FREQ:
        raise RecurrenceError(
            "rule", f"FREQ={freq} is not supported: a task cannot repeat {FORBIDDEN_FREQ[freq]}."
        )
    for name in sorted(FORBIDDEN_PARTS & parts.keys()):
        raise RecurrenceError("rule", f"{name} is not supported in the rule.")
    if freq == "HOURLY" and "BYSETPOS" in parts:
        # An hour holds one instant, so BYSETPOS only thins it out, one empty hour at a time.
        raise RecurrenceError("rule", "BYSETPOS is not supported with FREQ=HOURLY.")
    if "COUNT" in parts and "UNTIL" in parts:
        raise RecurrenceError("rule", "COUNT and UNTIL cannot both be given.")
    count = _count(parts.get("COUNT"))
    if "INTERVAL" in parts and (not parts["INTERVAL"].isdigit() or int(parts["INTERVAL"]) < 1):
        raise RecurrenceError("rule", "INTERVAL must be a whole number of at least 1.")
    _check_numbers(parts, "BYMONTHDAY", 31)
    _check_numbers(parts, "BYMONTH", 12, allow_negative=False)
    until = _until(parts.pop("UNTIL"), tz) if "UNTIL" in parts else None
    normalised = ";".join(f"{name}={value}" for name, value in parts.items())
    try:
        parsed = rrulestr(normalised, dtstart=datetime(2000, 1, 1))  # noqa: DTZ001  # wall time
    except (ValueError, TypeError) as exc:
        raise RecurrenceError("rule", f"Invalid rule: {exc}.") from exc
    if not isinstance(parsed, rrule):
        raise RecurrenceError("rule", "The rule must be a single RRULE.")
    return Rule(text=normalised, freq=freq, count=count, until=until)


def _count(raw: str | None) -> int | None:
    if raw is None:
        return None
    if not raw.isdigit() or int(raw) < 1:
        raise RecurrenceError("rule", "COUNT must be a whole number of at least 1.")
    if int(raw) > MAX_COUNT:
        raise RecurrenceError("rule", f"COUNT may be at most {MAX_COUNT}.")
    return int(raw)


def _check_numbers(
    parts: dict[str, str], name: str, limit: int, *, allow_negative: bool = True
) -> None:
    if name not in parts:
        return
    for item in parts[name].split(","):
        try:
            number = int(item)
        except ValueError:
            raise RecurrenceError("rule", f"{name} must list whole numbers.") from None
        if number == 0 or abs(number) > limit or (number < 0 and not allow_negative):
            span = f"1 to {limit}" + (f" or -{limit} to -1" if allow_negative else "")
            raise RecurrenceError("rule", f"{name} values must be {span}.")


def _until(raw: str, tz: ZoneInfo) -> datetime:
    match = _UNTIL_RE.match(raw)
    if match is None:
        raise RecurrenceError("rule", "UNTIL must be YYYYMMDD, YYYYMMDDTHHMMSS or ...Z.")
    year, month, day, hour, minute, second, utc = match.groups()
    if int(year) > _UNTIL_MAX_YEAR:
        raise RecurrenceError("rule", f"UNTIL must be before the year {_UNTIL_MAX_YEAR + 1}.")
    try:
        if hour is None:
            # A date UNTIL includes that whole local day.
            moment = datetime(int(year), int(month), int(day), 23, 59, 59, tzinfo=tz)
        else:
            moment = datetime(
                int(year),
                int(month),
                int(day),
                int(hour),
                int(minute),
                int(second),
                tzinfo=UTC if utc else tz,
            )
    except ValueError as exc:
        raise RecurrenceError("rule", f"Invalid UNTIL: {exc}.") from exc
    return moment.astimezone(UTC)


def parse_lead_time(value: timedelta) -> timedelta:
    if value < timedelta(0):
        raise RecurrenceError("lead_time", "The lead time cannot be negative.")
    if value > MAX_LEAD_TIME:
        raise RecurrenceError("lead_time", "The lead time may be at most 366 days.")
    return value


def parse_anchor(value: str) -> str:
    if value not in ANCHORS:
        raise RecurrenceError("anchor", f"Anchor must be one of: {', '.join(ANCHORS)}.")
    return value


def check_has_future(
    *, rule: Rule, tz: ZoneInfo, dtstart: datetime, now: datetime, excluded: Iterable[datetime]
) -> None:
    """Refuse a rule that ends before `now`, that never matches after DTSTART (31 February)
    or whose every future occurrence is excluded.

    No time horizon: YEARLY;INTERVAL=100 has its next occurrence a century on. What bounds the
    search is the walk itself (_BoundedRRule): a rule that finds no occurrence within
    _MAX_IDLE_STEPS calendar steps is taken to have ended, so one that can never match does not
    walk the calendar to the year 9999.
    """
    if rule.until is not None and rule.until < now:
        raise RecurrenceError("rule", "End date must be in the future.")
    if rule.until is not None and rule.until < dtstart:
        raise RecurrenceError("rule", "End date must not be before the first due date.")
    # Whether the rule matches at all is asked without its UNTIL: an UNTIL that leaves DTSTART
    # as the only occurrence is as fine as COUNT=1.
    open_ended = Rule(text=rule.text, freq=rule.freq, count=None, until=None)
    moments = iter_occurrences(rule=open_ended, tz=tz, dtstart=dtstart)
    next(moments)  # DTSTART
    if rule.count != 1 and next(moments, None) is None:
        raise RecurrenceError("rule", "The rule has no occurrence in the future.")
    # The rule matches, so this walk ends at its first unexcluded occurrence after now, at its
    # COUNT or UNTIL, or when the idle bound gives up.
    if (
        next_occurrence(
            rule=rule, tz=tz, dtstart=dtstart, after=now, excluded=excluded, inclusive=True
        )
        is None
    ):
        raise RecurrenceError("rule", "The rule has no occurrence in the future.")


def check_density(rule: Rule) -> None:
    """Refuse a rule whose occurrences come closer than MIN_GAP, whatever its FREQ.

    The gaps come from the rule's parts (DTSTART only fills a part left open, with one value),
    so the rule is laid on a fixed start; its first DENSITY_SAMPLE wall times (within
    SEARCH_HORIZON, so a sparse rule costs little) cover a day of any BYHOUR/BYMINUTE list and
    the step from one matching day to the next.
    """
    utc = ZoneInfo("UTC")
    start = datetime(2000, 1, 1, tzinfo=utc)
    sample = Rule(text=rule.text, freq=rule.freq, count=None, until=start + SEARCH_HORIZON)
    walls = list(islice(_rrule(sample, utc, to_wall(start, utc), count=None), DENSITY_SAMPLE))
    gap = min((later - earlier for earlier, later in pairwise(walls)), default=None)
    if gap is not None and gap < MIN_GAP:
        minutes = int(gap.total_seconds() // 60)
        span = f"{minutes} minute{'' if minutes == 1 else 's'}"
        raise RecurrenceError(
            "rule", f"The rule repeats within {span}: a task can repeat at most once an hour."
        )


# Expansion ---------------------------------------------------------------------------------


class _GaveUp(Exception):
    pass


class _BoundedRRule(rrule):
    """An rrule whose walk between two occurrences is at most _MAX_IDLE_STEPS calendar steps.

    dateutil compares UNTIL only with the instants a rule produces, so a rule that never
    matches (30 February) walks period by period to the year 9999: 10-28 s of CPU. The walk
    rebuilds its calendar tables, reading `_byeaster`, at each new month (each new period for
    MONTHLY and YEARLY); counting those reads bounds it. A walk that gives up ends as if the
    rule had ended: no occurrence within more than SEARCH_HORIZON. Validation refuses such a
    rule, so only rules stored before it end this way.
    """

    _idle = 0

    @property
    def _byeaster(self) -> Any:
        self._idle += 1
        if self._idle > _MAX_IDLE_STEPS:
            raise _GaveUp
        return self.__dict__["_byeaster"]

    @_byeaster.setter
    def _byeaster(self, value: Any) -> None:
        self.__dict__["_byeaster"] = value

    def _iter(self) -> Iterator[datetime]:
        self._idle = 0
        try:
            for wall in super()._iter():  # type: ignore[misc]
                self._idle = 0
                yield wall
        except _GaveUp:
            return


def to_utc(wall: datetime, tz: ZoneInfo) -> datetime:
    """Wall time in `tz` to UTC: fold=0 takes the first of an ambiguous time and moves a
    non-existent one forward by the gap."""
    return wall.replace(tzinfo=tz, fold=0).astimezone(UTC)


def to_wall(moment: datetime, tz: ZoneInfo) -> datetime:
    return moment.astimezone(tz).replace(tzinfo=None, fold=0)


@lru_cache(maxsize=4096)
def _template(text: str) -> rrule:
    """The parsed rule, re-based per use with `replace` (parsing costs more than re-basing)."""
    parsed: rrule = rrulestr(text, dtstart=datetime(2000, 1, 1))  # type: ignore[assignment]  # noqa: DTZ001
    return parsed


def _rrule(rule: Rule, tz: ZoneInfo, wall_start: datetime, *, count: int | None) -> rrule:
    until = to_wall(rule.until, tz) if rule.until is not None else None
    based: rrule = _template(rule.text).replace(dtstart=wall_start, count=count, until=until)
    # A fresh object per use, so its walk count is its own.
    based.__class__ = _BoundedRRule
    return based


def _instants(walls: Iterable[datetime], tz: ZoneInfo) -> Iterator[datetime]:
    """The UTC instants of increasing wall times in `tz`: strictly increasing, each once.

    Wall order is instant order except across a DST gap: a wall time in the gap is moved
    forward by the gap, onto or past wall times just after it (01:30 in a 01:00-02:00 gap is
    02:30 after it). Such an instant is held until a later wall time's instant reaches it:
    those that come first are given first, and one on the same instant is given once.
    """
    held: list[datetime] = []  # a heap: instants of wall times a gap moved forward
    last: datetime | None = None
    for wall in walls:
        moment = to_utc(wall, tz)
        while held and held[0] <= moment:
            early = heapq.heappop(held)
            if early < moment and (last is None or early > last):
                last = early
                yield early
        if to_wall(moment, tz) != wall:
            heapq.heappush(held, moment)
        elif last is None or moment > last:
            last = moment
            yield moment
    for early in sorted(held):
        if last is None or early > last:
            last = early
            yield early


def iter_occurrences(*, rule: Rule, tz: ZoneInfo, dtstart: datetime) -> Iterator[datetime]:
    """Every occurrence in UTC, in order, DTSTART first (no exclusions applied).

    COUNT counts instants, DTSTART included whether or not the rule would produce it (RFC
    5545 3.8.5.3), so it is applied here rather than by dateutil, which counts wall times.
    """
    wall_start = to_wall(dtstart, tz)
    yield dtstart
    given = 1
    if rule.count is not None and given >= rule.count:
        return
    for moment in _instants(_rrule(rule, tz, wall_start, count=None), tz):
        if moment <= dtstart:
            continue
        if rule.until is not None and moment > rule.until:
            return
        yield moment
        given += 1
        if rule.count is not None and given >= rule.count:
            return


def occurrences_after(
    *,
    rule: Rule,
    tz: ZoneInfo,
    dtstart: datetime,
    after: datetime,
    excluded: Iterable[datetime] = (),
    inclusive: bool = False,
    limit: int,
    rebase: bool = False,
) -> list[datetime]:
    """Up to `limit` occurrences after `after` (UTC), excluded dates removed.

    `rebase`: `after` is known to be an occurrence, so the walk may start there.
    """
    skip = set(excluded)
    found: list[datetime] = []
    if limit <= 0:
        return found
    for moment in _occurrences_from(rule=rule, tz=tz, dtstart=dtstart, after=after, rebase=rebase):
        if moment < after or (moment == after and not inclusive) or moment in skip:
            continue
        found.append(moment)
        if len(found) >= limit:
            break
    return found


def next_occurrence(
    *,
    rule: Rule,
    tz: ZoneInfo,
    dtstart: datetime,
    after: datetime,
    excluded: Iterable[datetime] = (),
    inclusive: bool = False,
    rebase: bool = False,
) -> datetime | None:
    found = occurrences_after(
        rule=rule,
        tz=tz,
        dtstart=dtstart,
        after=after,
        excluded=excluded,
        inclusive=inclusive,
        limit=1,
        rebase=rebase,
    )
    return found[0] if found else None


def _occurrences_from(
    *, rule: Rule, tz: ZoneInfo, dtstart: datetime, after: datetime, rebase: bool = False
) -> Iterator[datetime]:
    """Occurrences starting near `after`, in order (the caller drops those before it).

    dateutil walks every rule from its DTSTART, which costs a series' whole age on each call.
    With `rebase` (the caller knows `after` is itself an occurrence) and no COUNT, the rule is
    restarted at `after`: from an occurrence, a rule produces the same later occurrences, as
    long as that occurrence keeps the series' wall time of day (one moved by a DST gap does
    not, and falls back to the walk).
    """
    wall_start = to_wall(dtstart, tz)
    if rule.count is None and rebase and after > dtstart:
        wall_after = to_wall(after, tz)
        if to_utc(wall_after, tz) == after and wall_after.time() == wall_start.time():
            wall_start = wall_after
    elif rule.count is not None or after <= dtstart + _WALL_MARGIN:
        # COUNT must be counted from DTSTART; near the start the walk is short anyway.
        yield from iter_occurrences(rule=rule, tz=tz, dtstart=dtstart)
        return
    expansion = _rrule(rule, tz, wall_start, count=None)
    resume = max(wall_start, to_wall(after - _WALL_MARGIN, tz))
    for moment in _instants(expansion.xafter(resume, inc=True), tz):
        if rule.until is not None and moment > rule.until:
            return
        yield moment


def next_from_completion(
    *, rule: Rule, tz: ZoneInfo, dtstart: datetime, completed_at: datetime
) -> datetime | None:
    """The next due time of a series anchored on completion ("every!" in Todoist).

    The rule restarts on the local day of completion at the series' time of day (for HOURLY,
    in the hour of completion at the series' minute), and the next due time is its first
    occurrence after that local day (HOURLY: after the completion instant). So "every 3 days",
    completed on Wednesday afternoon, is next due on Saturday at the usual time; "weekly on
    Monday" is due the Monday after completion. UNTIL still ends the series; COUNT is applied
    by the caller (it counts instances, not rule steps).
    """
    start_wall = to_wall(dtstart, tz)
    done_wall = to_wall(completed_at, tz)
    if rule.freq == "HOURLY":
        restart = done_wall.replace(minute=start_wall.minute, second=start_wall.second)
        threshold = done_wall
    else:
        restart = datetime.combine(done_wall.date(), start_wall.time())
        threshold = datetime.combine(done_wall.date(), time.max)
    expansion = _rrule(rule, tz, restart, count=None)
    moment = next(_instants(expansion.xafter(threshold, inc=False), tz), None)
    if moment is None or (rule.until is not None and moment > rule.until):
        return None
    return moment


def restart_from(
    *, rule: Rule, tz: ZoneInfo, wall_time_of: datetime, now: datetime
) -> datetime | None:
    """The first occurrence at or after `now` of `rule` laid on the wall clock of `wall_time_of`.

    Used when a series' rule or zone changes: the new rule starts from now, keeping the series'
    local time of day (and the day pattern of the old start where the rule leaves it open).
    """
    wall_start = to_wall(wall_time_of, tz)
    open_ended = Rule(text=rule.text, freq=rule.freq, count=None, until=rule.until)
    expansion = _rrule(open_ended, tz, wall_start, count=None)
    for moment in _instants(expansion.xafter(to_wall(now - _WALL_MARGIN, tz), inc=True), tz):
        if rule.until is not None and moment > rule.until:
            return None
        if moment >= now:
            return moment
    return None


# ISO 8601 durations --------------------------------------------------------------------------


def iso_duration(value: timedelta) -> str:
    """`PT15M`, `P1DT2H`, `PT0S`: the shape the API and reminder templates speak."""
    total = int(value.total_seconds())
    sign = "-" if total < 0 else ""
    total = abs(total)
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    clock = "".join(
        f"{number}{unit}"
        for number, unit in ((hours, "H"), (minutes, "M"), (seconds, "S"))
        if number
    )
    text = f"{sign}P{f'{days}D' if days else ''}{'T' + clock if clock else ''}"
    return text if text not in ("P", "-P") else "PT0S"


__all__ = [
    "MAX_COUNT",
    "RecurrenceError",
    "Rule",
    "check_density",
    "check_has_future",
    "iso_duration",
    "iter_occurrences",
    "next_from_completion",
    "next_occurrence",
    "occurrences_after",
    "parse_anchor",
    "parse_lead_time",
    "parse_rule",
    "restart_from",
    "to_utc",
    "to_wall",
    "zone",
]
