"""Forms for personal access tokens."""

from __future__ import annotations

from wtforms import StringField
from wtforms.validators import DataRequired, Length

from crm.forms import Form, strip_filter


class TokenForm(Form):
    name = StringField(
        "Token name",
        filters=[strip_filter],
        validators=[DataRequired(message="Name the token, e.g. after the script that uses it."),
                    Length(max=80)],
        description="What uses it, e.g. “phone shortcut” or “sync script”.",
    )
