"""A learner's preferences: the daily reminder, the time zone, new questions a day.

Plain functions over the store port, called by `Engine.handle`; `now` is injected.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from bot.tutor.actions import Remind, SetDaily, SetTimezone
from bot.tutor.models import Learner
from bot.tutor.ports import TutorStore
from bot.tutor.remind import in_quiet_hours, next_fire, parse_time, resolve_timezone
from bot.tutor.replies import NEXT, Message, Reply, kb

__all__ = ["remind", "set_timezone", "set_daily"]



def remind(store: TutorStore, now: datetime, learner: Learner, action: Remind) -> list[Reply]:
    """/remind 19:30 [Area/City], /remind off, /remind (show)."""
    arg = action.arg.strip()
    settings = store.settings(learner.id)
    if arg.lower() == "none":
        return [Message("No reminders, then. Send /remind 19:30 any time to get one.")]
    if arg.lower() in ("off", "stop", "no"):
        store.disable_reminder(learner.id)
        return [Message("Daily reminders are off. /remind 19:30 turns them back on.")]
    if not arg:
        rem = store.get_reminder(learner.id)
        if rem is None or not rem.enabled:
            return [Message("You have no daily reminder. Set one with /remind 19:30 "
                            "(or /remind 19:30 Europe/Paris for another time zone).")]
        return [Message(f"Your daily reminder is at {rem.local_time} ({rem.timezone}). "
                        "/remind off stops it; /remind 19:30 changes it.")]
    parts = arg.split()
    at = parse_time(parts[0])
    if at is None or len(parts) > 2:
        return [Message("Send a time like /remind 19:30, optionally with a time zone: /remind 19:30 Europe/Paris.")]
    tz = settings.timezone
    if len(parts) == 2:
        zone, suggestions = resolve_timezone(parts[1])
        if zone is None:
            return [_unknown_zone(parts[1], suggestions)]
        tz = zone
        store.update_settings(learner.id, timezone=tz)
    if in_quiet_hours(at):
        return [Message("I don't send reminders between midnight and 6 a.m. Pick a time from 06:00 to 23:59.")]
    when = f"{at:%H:%M}"
    nxt = next_fire(at, tz, now)
    store.set_reminder(learner.id, when, tz, nxt)
    local = nxt.astimezone(ZoneInfo(tz))
    return [Message(f"Done: I'll remind you at {when} every day ({tz}), when there's something to revise. "
                    f"First one: {local:%A %H:%M}. /remind off stops them.")]


def set_timezone(store: TutorStore, now: datetime, learner: Learner, action: SetTimezone) -> list[Reply]:
    """/timezone Area/City: a reminder moves with it."""
    if not action.name.strip():
        tz = store.settings(learner.id).timezone
        return [Message(f"Your time zone is {tz}. Change it with /timezone Area/City, e.g. /timezone Europe/Paris.")]
    zone, suggestions = resolve_timezone(action.name)
    if zone is None:
        return [_unknown_zone(action.name, suggestions)]
    store.update_settings(learner.id, timezone=zone)
    rem = store.get_reminder(learner.id)
    if rem is not None and rem.enabled:
        at = parse_time(rem.local_time)
        assert at is not None
        store.set_reminder(learner.id, rem.local_time, zone, next_fire(at, zone, now))
    return [Message(f"Time zone set to {zone}." + (" Your reminder moves with it." if rem and rem.enabled else ""))]


def set_daily(store: TutorStore, learner: Learner, action: SetDaily) -> list[Reply]:
    """/daily N: new questions a day."""
    if action.count is None:
        n = store.settings(learner.id).new_per_day
        return [Message(f"You get up to {n} new questions a day (reviews come on top). "
                        "Change it with /daily 15 (0 to 100; 0 means reviews only).")]
    store.update_settings(learner.id, new_per_day=action.count)
    return [Message(f"Done: up to {action.count} new questions a day.", kb([NEXT]))]


def _unknown_zone(name: str, suggestions: list[str]) -> Message:
    hint = f" Did you mean {' or '.join(suggestions)}?" if suggestions else ""
    return Message(f"I don't know the time zone {name[:40]!r}.{hint} Use an IANA name like Europe/London.")
