"""Finding 16: reminders from before downtime are dropped when late or in quiet hours (pure rule)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from bot.tutor.remind import reminder_drop_reason

UTC = timezone.utc


def test_on_time_reminder_is_sent() -> None:
    fire = datetime(2026, 3, 2, 19, 0, tzinfo=UTC)
    assert reminder_drop_reason(fire, fire + timedelta(minutes=5), "Europe/London") is None


def test_reminder_more_than_two_hours_late_is_dropped() -> None:
    fire = datetime(2026, 3, 2, 19, 0, tzinfo=UTC)
    assert reminder_drop_reason(fire, fire + timedelta(hours=2, seconds=1), "Europe/London") == "late"
    assert reminder_drop_reason(fire, fire + timedelta(hours=2), "Europe/London") is None


def test_reminder_in_the_learners_quiet_hours_is_dropped() -> None:
    fire = datetime(2026, 3, 2, 23, 30, tzinfo=UTC)  # queued 23:30 London, restarted 00:30 London
    assert reminder_drop_reason(fire, fire + timedelta(hours=1), "Europe/London") == "quiet hours"
    # the same instant is 06:00 in Kolkata (UTC+5:30): out of quiet hours there
    assert reminder_drop_reason(fire, fire + timedelta(hours=1), "Asia/Kolkata") is None


def test_unknown_zone_counts_as_utc() -> None:
    fire = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
    assert reminder_drop_reason(fire, fire, "Nowhere/City") == "quiet hours"
