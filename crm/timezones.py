"""Time zone helpers: users enter local wall time; the database stores UTC."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones


@lru_cache(maxsize=1)
def timezone_names() -> tuple[str, ...]:
    """Every IANA zone name this machine knows, sorted."""
    return tuple(sorted(z for z in available_timezones() if "/" in z or z == "UTC"))


@lru_cache(maxsize=1)
def _known_zones() -> frozenset[str]:
    return frozenset(timezone_names())


def is_valid_timezone(name: str | None) -> bool:
    """Tell whether name is a known IANA zone (checked against the list, not the disk)."""
    return bool(name) and name in _known_zones()


@lru_cache(maxsize=1024)  # pages convert dozens of times per request, in a few zones
def zone(name: str | None) -> ZoneInfo:
    """Return the zone, falling back to UTC for an unknown name."""
    if not is_valid_timezone(name):
        return ZoneInfo("UTC")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return ZoneInfo("UTC")


def to_local(value: datetime, tz_name: str | None) -> datetime:
    """Convert an aware datetime to the zone's wall time."""
    return value.astimezone(zone(tz_name))


def local_today(tz_name: str | None, now: datetime | None = None) -> date:
    """The date it is now in the zone."""
    return to_local(now or datetime.now(UTC), tz_name).date()


def local_day_start(day: date, tz_name: str | None) -> datetime:
    """The instant (UTC) a local day begins in the zone: its midnight, or the first minute
    after it where a clock change skips midnight. The next day's start ends it, so a day
    lasts 23 or 25 hours across a change (never "add 24 hours in UTC")."""
    return local_to_utc(datetime.combine(day, datetime.min.time()), tz_name)


def wall_minute(value: datetime, tz_name: str | None) -> datetime:
    """The zone's wall time of an instant, naive and to the minute: what a form shows of it
    (and sends back unchanged when the user left it alone)."""
    return to_local(value, tz_name).replace(tzinfo=None, second=0, microsecond=0)


def local_to_utc(naive_local: datetime, tz_name: str | None,
                 ahead_of: datetime | None = None) -> datetime:
    """Interpret a wall-clock time in the zone and return it in UTC.

    A wall time skipped by a spring-forward change moves to the first valid
    minute after it; an ambiguous one (fall back) takes its first occurrence, unless
    ahead_of is given (a time someone chose to come, at that moment) and only the second
    is still ahead of it: at the second 01:10, "01:40 today" is the 01:40 to come.
    """
    tz = zone(tz_name)
    candidate = naive_local.replace(tzinfo=None)
    # Gaps are a few hours, or a whole day where a zone crossed the date line (Samoa had no
    # 30 December 2011: that day starts, and ends, at 31 December's midnight).
    for _ in range(25 * 60):
        if _exists(candidate, tz):
            first = candidate.replace(tzinfo=tz, fold=0).astimezone(UTC)
            if ahead_of is not None and first <= ahead_of:
                second = candidate.replace(tzinfo=tz, fold=1).astimezone(UTC)
                if second > ahead_of:
                    return second
            return first
        candidate = candidate.replace(second=0, microsecond=0) + timedelta(minutes=1)
    raise ValueError(f"no valid local time near {naive_local} in {tz}")


def _exists(naive: datetime, tz: ZoneInfo) -> bool:
    back = naive.replace(tzinfo=tz, fold=0).astimezone(UTC).astimezone(tz)
    return back.replace(tzinfo=None) == naive
