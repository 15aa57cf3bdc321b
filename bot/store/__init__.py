"""Persistence: the only package that speaks SQL."""

from bot.store.store import Store, migrate

__all__ = ["Store", "migrate"]
