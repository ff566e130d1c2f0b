"""Interactions: the one log of every touch, on every medium."""
