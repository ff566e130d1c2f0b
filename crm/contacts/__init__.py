"""Contacts: the people in a network, their channels and tags."""
