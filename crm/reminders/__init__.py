"""Reminders: follow-ups, keep-in-touch cadences and custom reminders."""
