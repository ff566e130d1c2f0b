"""Accounts: registration, login, settings."""
