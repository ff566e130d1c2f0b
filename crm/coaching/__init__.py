"""Coaching: clients share their network with a coach, who reads it and writes notes."""
