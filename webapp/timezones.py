"""The IANA time zones users may choose: one list for validation and for the API schema."""

from __future__ import annotations

from zoneinfo import ZoneInfo, available_timezones

# "localtime" is the server's own zone under another name and "Factory" is no zone at all:
# neither means anything to a user.
TIME_ZONES: frozenset[str] = frozenset(available_timezones() - {"localtime", "Factory"})


def known_time_zone(name: str) -> ZoneInfo | None:
    """The zone called `name`, or None if users may not choose it."""
    return ZoneInfo(name) if name in TIME_ZONES else None
