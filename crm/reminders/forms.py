"""Reminder forms."""

from __future__ import annotations

from datetime import datetime

from flask_login import current_user
from wtforms import DateField, RadioField, SelectField, StringField, TextAreaField, TimeField
from wtforms.validators import DataRequired, Length, Optional, ValidationError

from crm.contacts.picker import refusal
from crm.forms import PAST_DATE, EditForm, Form, optional_int, strip_filter, time_passed
from crm.mediums.forms import check_chosen_medium
from crm.models.reminder import Recurrence
from crm.reminders.schedule import DEFAULT_LOCAL_TIME

RECURRENCE_LABELS = {
    Recurrence.NONE: "Once",
    Recurrence.DAILY: "Every day",
    Recurrence.WEEKLY: "Every week",
    Recurrence.MONTHLY: "Every month",
    Recurrence.YEARLY: "Every year",
}



class ReminderForm(EditForm):
    together = (("local_date", "local_time"),)  # one moment: never half stored, half typed
    title = StringField(
        "What to do",
        filters=[strip_filter],
        validators=[DataRequired(message="Say what the reminder is for."), Length(max=200)],
    )
    contact = SelectField("About", coerce=optional_int, validate_choice=False)
    local_date = DateField("Date", validators=[DataRequired(message="Choose a date.")])
    local_time = TimeField("Time", default=DEFAULT_LOCAL_TIME,
                           validators=[DataRequired(message="Choose a time.")])
    recurrence = SelectField(
        "Repeat",
        choices=[(r.value, label) for r, label in RECURRENCE_LABELS.items()],
        default=Recurrence.NONE.value,
    )
    notes = TextAreaField("Notes", validators=[Length(max=5000)])

    def __init__(self, *args, now_local: datetime | None = None,
                 shown: datetime | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.now_local = now_local  # the user's wall time now, to the minute
        self.shown = shown  # an edit's date and time as shown: kept as they are, even if past

    def validate_contact(self, field):
        message = refusal(current_user, [field.data], field.choices,
                          "Choose one of your contacts.")
        if message:
            raise ValidationError(message)

    def _sent_as_shown(self) -> bool:
        """Whether the date and time are an edit's own, sent back unchanged: as stored now,
        or as the form was opened (a stale page's, which the save leaves as stored now)."""
        return (self.shown is not None and self.local_time.data is not None
                and (datetime.combine(self.local_date.data, self.local_time.data) == self.shown
                     or self.left_as_opened("local_date", "local_time")))

    def validate_local_date(self, field):
        if field.data and field.data.year < 1970:
            raise ValidationError("Choose a date after 1970.")
        # A day already past is the date's fault, whatever the time.
        if (field.data and self.now_local and field.data < self.now_local.date()
                and not self._sent_as_shown()):
            raise ValidationError(PAST_DATE)

    def validate_local_time(self, field):
        if not (self.now_local and self.local_date.data and field.data) \
                or self.local_date.errors:
            return
        wall = datetime.combine(self.local_date.data, field.data)
        if wall < self.now_local and not self._sent_as_shown():
            raise ValidationError(time_passed(self.now_local))


class SnoozeForm(Form):
    until = RadioField(
        "Snooze until",
        choices=[("tomorrow", "Tomorrow, 09:00"), ("next_week", "Next week, 09:00"),
                 ("date", "A date I choose")],
        default="tomorrow",
        validators=[DataRequired(message="Choose when.")],
    )
    date = DateField("Date", validators=[Optional()])
    time = TimeField("Time", default=DEFAULT_LOCAL_TIME, validators=[Optional()])

    def __init__(self, *args, now_local: datetime | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.now_local = now_local  # the user's wall time now, to the minute

    def validate_until(self, field):
        # Here, not on the date: an empty date stops its own checks (Optional); a date
        # that is not one says so itself.
        if field.data == "date" and not any(self.date.raw_data or ()):
            raise ValidationError("Choose the date to snooze until.")

    def validate(self, extra_validators=None):
        """Also refuse a chosen date and time already past, on the field at fault: the
        date for a day before today, the time (09:00 when left blank, which stops the
        time's own checks) for today at a time already past or this very minute."""
        if not super().validate(extra_validators):
            return False
        if self.until.data != "date" or self.now_local is None:
            return True
        day = self.date.data
        if day < self.now_local.date():
            self.date.errors.append(PAST_DATE)
        elif datetime.combine(day, self.time.data or DEFAULT_LOCAL_TIME) <= self.now_local:
            self.time.errors.append(time_passed(self.now_local))
        else:
            return True
        return False


class DoneForm(Form):
    """Done, optionally logging the interaction in the same step ("done — called them")."""

    medium = SelectField("Log it as", coerce=optional_int, validate_choice=False)
    summary = StringField("Summary", filters=[strip_filter], validators=[Length(max=200)])

    def validate_medium(self, field):
        check_chosen_medium(field)
