"""The asyncio services behind the bot: engine threads, the paced outbox sender, the reminder sweep."""
