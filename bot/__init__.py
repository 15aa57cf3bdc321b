"""NVQ revision tutor: a Telegram bot (and terminal shell) for contact-centre apprentices."""

__version__ = "0.1.0"
