"""The home page and site-wide routes."""
