"""Contact and channel forms."""

from __future__ import annotations

from flask_login import current_user
from wtforms import BooleanField, DateField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from crm.contacts.picker import refusal
from crm.contacts.services import (
    FIRST_MET_LATER_THAN_TODAY,
    first_met_later_than_today,
    parse_tags,
    tags_refusal,
)
from crm.forms import EditForm, Form, TimeZoneField, days_up_to, optional_int, strip_filter
from crm.mediums.forms import check_chosen_medium
from crm.models.contact import CADENCE_MAX_DAYS, TAG_MAX_LENGTH
from crm.models.types import name_key


class ContactForm(EditForm):
    # Tags are one tag whatever their order or case: "b, A" leaves "a, b" as it was.
    compared_as = {"tags": lambda text: [name_key(tag) for tag in parse_tags(text or "")]}

    name = StringField(
        "Name",
        filters=[strip_filter],
        validators=[DataRequired(message="Give the contact a name."), Length(max=120)],
    )
    company = StringField("Company", filters=[strip_filter], validators=[Length(max=120)])
    title = StringField("Title", filters=[strip_filter], validators=[Length(max=120)])
    location = StringField("Location", filters=[strip_filter], validators=[Length(max=120)])
    time_zone = TimeZoneField("Their time zone", allow_blank=True)
    tags = StringField(
        "Tags",
        filters=[strip_filter],
        description="Separate tags with commas, e.g. conference, design, Berlin",
    )
    origin_medium = SelectField("First met on", coerce=optional_int, validate_choice=False)
    origin_date = DateField("First met date", validators=[Optional()])
    introduced_by = SelectField("Introduced by", coerce=optional_int, validate_choice=False)
    keep_in_touch_days = IntegerField(
        "Keep in touch every (days)",
        validators=[Optional(), days_up_to(CADENCE_MAX_DAYS)],
    )
    notes = TextAreaField("Notes", validators=[Length(max=20000)])
    is_private = BooleanField("Private (never shown to a coach)")
    # The tags of the contact edited, as stored: kept even where the rule for a tag's name
    # would refuse them now (tags_refusal).
    carried_tags: tuple[str, ...] = ()

    def validate_tags(self, field):
        if field.errors:  # a NUL character, said already
            return
        refusal = tags_refusal((field.data or "").split(","), carried=self.carried_tags)
        if refusal:
            raise ValidationError(refusal)
        for tag in parse_tags(field.data or ""):
            if len(tag) > TAG_MAX_LENGTH:
                raise ValidationError(
                    f"Each tag can have at most {TAG_MAX_LENGTH} characters: “{tag[:20]}…” is "
                    f"{len(tag)}."
                )
        if len(parse_tags(field.data or "")) > 30:
            raise ValidationError("A contact can have at most 30 tags.")

    def validate_origin_date(self, field):
        if first_met_later_than_today(current_user, field.data):
            raise ValidationError(FIRST_MET_LATER_THAN_TODAY)

    def validate_origin_medium(self, field):
        check_chosen_medium(field)

    def validate_introduced_by(self, field):
        message = refusal(current_user, [field.data], field.choices,
                          "Choose one of your contacts.")
        if message:
            raise ValidationError(message)


class ChannelForm(Form):
    medium = SelectField("Medium", coerce=optional_int, validate_choice=False)
    value = StringField(
        "Handle, address or number",
        filters=[strip_filter],
        validators=[DataRequired(message="Enter a handle, address or number."), Length(max=255)],
    )
    label = StringField(
        "Label", filters=[strip_filter], validators=[Length(max=40)],
        description="Optional, e.g. work or personal",
    )

    def validate_medium(self, field):
        if field.data is None:
            raise ValidationError("Choose the medium this handle is on.")
        check_chosen_medium(field)


class ConfirmForm(Form):
    """An empty form: a POST with a CSRF token."""
