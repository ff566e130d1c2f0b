"""The interaction form: the same for every medium."""

from __future__ import annotations

from datetime import datetime, timedelta

from flask_login import current_user
from wtforms import (
    BooleanField,
    DateField,
    DateTimeLocalField,
    HiddenField,
    IntegerField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
    TimeField,
)
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from crm.contacts.picker import refusal
from crm.forms import PAST_DATE, EditForm, days_up_to, optional_int, strip_filter, time_passed
from crm.interactions.services import MORE_THAN_A_DAY_AHEAD, more_than_a_day_ahead
from crm.mediums.forms import check_chosen_medium
from crm.mediums.services import NOT_YOUR_MEDIUM
from crm.models import Initiator
from crm.reminders.schedule import DEFAULT_LOCAL_TIME
from crm.timezones import is_valid_timezone


class InteractionForm(EditForm):
    medium = SelectField("Medium", coerce=optional_int, validate_choice=False)
    occurred_at = DateTimeLocalField(
        "When",
        format=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"],
        validators=[DataRequired(message="Say when it happened.")],
    )
    initiated_by = RadioField(
        "Who reached out",
        choices=[(i.value, i.label) for i in Initiator],
        default=Initiator.ME.value,
        validators=[DataRequired(message="Say who reached out.")],
    )
    participants = SelectMultipleField("With", coerce=int, validate_choice=False)
    summary = StringField(
        "Summary",
        filters=[strip_filter],
        validators=[DataRequired(message="Write a short summary."), Length(max=200)],
    )
    notes = TextAreaField("Notes", validators=[Length(max=20000)])
    is_private = BooleanField("Private (never shown to a coach)")
    follow_up_days = IntegerField(
        "Follow up in (days)",
        validators=[Optional(), days_up_to(3650)],
    )
    follow_up_date = DateField("…or follow up on", validators=[Optional()])
    follow_up_time = TimeField("Follow up at", default=DEFAULT_LOCAL_TIME, validators=[Optional()])
    # The zone "When" was shown in: an instant typed in one zone and read in another would
    # move the interaction (the user changed zone in another tab meanwhile).
    zone = HiddenField(default=lambda: current_user.time_zone)

    def __init__(self, *args, now_local: datetime | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.now_local = now_local

    def validate(self, extra_validators=None):
        """Also refuse a "When" typed while the form showed another zone than the user's
        now (one left as an edit form showed it keeps the stored instant: no harm)."""
        valid = super().validate(extra_validators)
        shown, now = self.zone.data, current_user.time_zone
        self.zone.data = now  # shown again, the form is in the zone it is now
        if (shown and shown != now and is_valid_timezone(shown)
                and self.occurred_at.data is not None
                and not (self.base.data and self.left_as_opened("occurred_at"))):
            self.occurred_at.errors = [*self.occurred_at.errors, (
                f"Your time zone changed from {shown.replace('_', ' ')} to "
                f"{now.replace('_', ' ')} since this form was opened: check that this time "
                f"is in {now.replace('_', ' ')} and save again.")]
            return False
        return valid

    def validate_medium(self, field):
        if field.data is None:
            raise ValidationError(NOT_YOUR_MEDIUM)
        check_chosen_medium(field)

    def validate_participants(self, field):
        if not field.data:
            raise ValidationError("Choose at least one person.")
        message = refusal(current_user, field.data, field.choices,
                          "Choose people from your contacts.")
        if message:
            raise ValidationError(message)

    def validate_occurred_at(self, field):
        if field.errors:  # outside the years Rapport takes: that message says it all
            return
        if field.data and self.now_local and more_than_a_day_ahead(field.data, self.now_local):
            raise ValidationError(MORE_THAN_A_DAY_AHEAD)
        if field.data and field.data.year < 1900:
            raise ValidationError("Give a date after 1900.")

    def validate_follow_up_date(self, field):
        if field.data and self.follow_up_days.data:
            raise ValidationError("Give a number of days or a date, not both.")
        if field.data and self.now_local and field.data < self.now_local.date():
            raise ValidationError(PAST_DATE)
        # Today at a time already past, the time left blank (09:00) included.
        at = self.follow_up_time.data or DEFAULT_LOCAL_TIME
        if field.data and self.now_local and field.data == self.now_local.date() \
                and datetime.combine(field.data, at) < self.now_local:
            raise ValidationError(time_passed(self.now_local))


    def follow_up_local_date(self):
        """The local date of the requested follow-up, or None."""
        if self.follow_up_date.data:
            return self.follow_up_date.data
        if self.follow_up_days.data and self.now_local:
            return self.now_local.date() + timedelta(days=self.follow_up_days.data)
        return None
