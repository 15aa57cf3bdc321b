"""Persistence: the only package that speaks SQL."""

from bot.store.records import ClaimedOutboxItem, InboxItem, retry_backoff
from bot.store.store import Store, migrate

__all__ = ["Store", "migrate", "ClaimedOutboxItem", "InboxItem", "retry_backoff"]
