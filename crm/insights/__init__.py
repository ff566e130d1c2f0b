"""Insights: figures about a network in which every medium counts the same."""
