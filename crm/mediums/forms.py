"""Forms for a user's own mediums."""

from __future__ import annotations

from wtforms import SelectField, StringField
from wtforms.validators import DataRequired, Length, ValidationError

from crm.forms import Form, optional_int, strip_filter
from crm.mediums.services import medium_refusal


def check_chosen_medium(field) -> None:
    """A medium field's check in every form that offers the user's mediums: an id sent that
    is not among its choices is refused, saying why (deleted since the form was shown, or
    none of theirs: medium_refusal)."""
    if field.data is not None and field.data not in {c[0] for c in field.choices}:
        raise ValidationError(medium_refusal(field.data))


class MediumForm(Form):
    name = StringField(
        "Name",
        filters=[strip_filter],
        validators=[DataRequired(message="Give the medium a name."), Length(max=60)],
        description="e.g. Mastodon, Zoom, Signal, a conference",
    )


class DeleteMediumForm(Form):
    move_to = SelectField(
        "Move its interactions to",
        coerce=optional_int,
        validate_choice=False,
    )

    def __init__(self, *args, in_use: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.in_use = in_use

    def validate_move_to(self, field):
        allowed = {c[0] for c in field.choices} - {None}
        if self.in_use and field.data not in allowed:
            raise ValidationError("Choose where its interactions should go.")
