"""Daily reminder times, pure: local wall-clock times to UTC instants across DST, back-off.

`next_fire(local_time, tz, after)` is the first instant after `after` at which the
learner's clock shows `local_time`:
- on the spring-forward day a time that does not exist fires at the next valid minute
  (01:30 in London on 29 March 2026 fires at 02:00 BST);
- on the autumn day a time that occurs twice fires once, at its first occurrence.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta, timezone
from difflib import get_close_matches
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

__all__ = ["next_fire", "parse_time", "resolve_timezone", "interval_days", "LATE_LIMIT", "QUIET_HOURS",
           "reminder_text", "BACKOFF_AFTER", "reminder_drop_reason"]

LATE_LIMIT = timedelta(hours=2)  # after downtime: send if less late than this, else skip to next day
BACKOFF_AFTER = 3  # reminders in a row with no activity before backing off
QUIET_HOURS = (time(0, 0), time(6, 0))  # never remind in the small hours (local time)
_TIME = re.compile(r"^([01]?\d|2[0-3])[:.h]?([0-5]\d)$")


def _exists(naive: datetime, zone: ZoneInfo) -> bool:
    aware = naive.replace(tzinfo=zone)
    return aware.astimezone(timezone.utc).astimezone(zone).replace(tzinfo=None) == naive


def _fire_on(day: date, local_time: time, zone: ZoneInfo) -> datetime:
    naive = datetime.combine(day, local_time)
    step = 0
    while not _exists(naive, zone) and step < 240:  # in a DST gap: the next valid minute
        naive += timedelta(minutes=1)
        step += 1
    return naive.replace(tzinfo=zone, fold=0).astimezone(timezone.utc)


def next_fire(local_time: time, tz: str, after: datetime, *, every_days: int = 1) -> datetime:
    """The first instant strictly after `after` (plus `every_days - 1` days) showing `local_time` in `tz`."""
    if after.tzinfo is None:
        raise ValueError("naive datetime")
    zone = ZoneInfo(tz)
    start = after + timedelta(days=max(every_days, 1) - 1)
    local_day = start.astimezone(zone).date()
    for offset in range(-1, 3):
        candidate = _fire_on(local_day + timedelta(days=offset), local_time, zone)
        if candidate > start:
            return candidate
    raise AssertionError("unreachable: a day always has the time or the minute after its gap")


def parse_time(text: str) -> time | None:
    """'19:30', '1930', '7.30', '19h30' -> time; None if not a time of day."""
    m = _TIME.match(text.strip().lower())
    if not m:
        return None
    return time(int(m.group(1)), int(m.group(2)))


def in_quiet_hours(t: time) -> bool:
    return QUIET_HOURS[0] <= t < QUIET_HOURS[1]


def reminder_drop_reason(fire_at: datetime, now: datetime, tz: str, *,
                         late_limit: timedelta = LATE_LIMIT) -> str | None:
    """Why a queued reminder must not go out now ("late" or "quiet hours"), or None to send it.

    For outbox rows left over from downtime or slowed by retries: a reminder more than
    `late_limit` past its time, or one that would arrive in the learner's quiet hours, is
    dropped (and logged by the caller), never sent at 3 a.m. An unknown zone counts as UTC.
    """
    if now - fire_at > late_limit:
        return "late"
    try:
        zone = ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    if in_quiet_hours(now.astimezone(zone).time()):
        return "quiet hours"
    return None


@lru_cache(maxsize=1)
def _zones() -> dict[str, str]:
    return {z.casefold(): z for z in available_timezones() if "/" in z or z == "UTC"}


def resolve_timezone(name: str) -> tuple[str | None, list[str]]:
    """An IANA zone name (case-insensitive) -> (zone, []) or (None, suggestions)."""
    zones = _zones()
    key = name.strip().replace(" ", "_").casefold()
    if key in zones:
        try:
            ZoneInfo(zones[key])
            return zones[key], []
        except ZoneInfoNotFoundError:
            pass
    # Suggest by the whole name and by the city part ("Pariss" -> Europe/Paris).
    by_city = {z.rsplit("/", 1)[-1]: z for z in zones}
    found = get_close_matches(key, list(zones), n=3, cutoff=0.6)
    found += [by_city[c] for c in get_close_matches(key.rsplit("/", 1)[-1], list(by_city), n=3, cutoff=0.7)]
    suggestions: list[str] = []
    for f in found:
        if zones[f] not in suggestions:
            suggestions.append(zones[f])
    return None, suggestions[:3]


def interval_days(ignored: int) -> int:
    """Daily; every other day after BACKOFF_AFTER ignored reminders; weekly after two more."""
    if ignored < BACKOFF_AFTER:
        return 1
    if ignored < BACKOFF_AFTER + 2:
        return 2
    return 7


def reminder_text(due: int, new: int, ignored: int, seconds_per_question: int = 35) -> str:
    """What the reminder says: what is waiting, about how long, and any back-off."""
    parts = []
    if due:
        parts.append(f"{due} question{'s' if due != 1 else ''} due")
    if new:
        parts.append(f"{new} new question{'s' if new != 1 else ''}")
    total = due + new
    minutes = max(1, round(total * seconds_per_question / 60))
    text = f"Time to revise: {' and '.join(parts)}, about {minutes} minute{'s' if minutes != 1 else ''}."
    days = interval_days(ignored + 1)
    if days > interval_days(ignored) or days > 1:
        every = "every other day" if days == 2 else "once a week"
        text += (f"\nYou've been busy, so I'll remind you {every} from now on. "
                 "Revise any time and daily reminders come back.")
    return text
