"""Mediums: the built-ins every user shares and each user's own."""
