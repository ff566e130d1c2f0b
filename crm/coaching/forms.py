"""Coaching forms."""

from __future__ import annotations

from wtforms import BooleanField, EmailField, TextAreaField
from wtforms.validators import DataRequired, Email, Length

from crm.forms import Form, strip_filter


class InviteCoachForm(Form):
    email = EmailField(
        "Coach's email",
        filters=[strip_filter],
        validators=[DataRequired(message="Enter your coach's email address."), Length(max=254),
                    Email(message="Enter a valid email address.")],
    )
    share_notes = BooleanField("Share my notes on contacts and interactions")


class ShareNotesForm(Form):
    share_notes = BooleanField("Share my notes with this coach")


class CoachingNoteForm(Form):
    body = TextAreaField(
        "Note for your client",
        filters=[strip_filter],
        validators=[DataRequired(message="Write the note first."), Length(max=4000)],
        description="e.g. Reconnect with three people you first met on LinkedIn.",
    )
