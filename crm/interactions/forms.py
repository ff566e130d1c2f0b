"""The interaction form: the same for every medium."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta

from flask_login import current_user
from wtforms import (
    BooleanField,
    DateField,
    DateTimeLocalField,
    Form,
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
from crm.contacts.services import get_contacts
from crm.forms import (
    PAST_DATE,
    EditForm,
    days_up_to,
    optional_int,
    strip_filter,
    time_passed,
    within_years,
)
from crm.interactions.services import (
    MORE_THAN_A_DAY_AHEAD,
    ActivityFilters,
    more_than_a_day_ahead,
)
from crm.mediums.forms import check_chosen_medium
from crm.mediums.services import NOT_YOUR_MEDIUM
from crm.models import Contact, Initiator
from crm.models.types import holds_hidden_characters
from crm.params import record_id
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


class LocalDayField(DateField):
    """A day as a date input sends it (YYYY-MM-DD), read in the user's zone by its caller;
    anything else, or a day no calendar has (30 February), says how to write one."""

    _DAY = re.compile(r"\d{4}-\d{2}-\d{2}")

    def process_formdata(self, valuelist):
        text = valuelist[0].replace("\x00", "").strip() if valuelist else ""
        self.data = None
        if not text:
            return
        try:
            if not self._DAY.fullmatch(text):
                raise ValueError(text)
            self.data = date.fromisoformat(text)
        except ValueError:
            raise ValueError(f"“{text[:20]}” is not a day: give one that exists, as "
                             "YYYY-MM-DD (2026-03-31).") from None


SEARCH_MAX = 100
SEARCH_TOO_LONG = f"Search for at most {SEARCH_MAX} characters."
SEARCH_ON_ONE_LINE = "Search for words without line breaks, tabs or hidden characters."


def search_refusal(words: str) -> str | None:
    """Why the list of interactions cannot search for these words (blanks around set
    aside), or None: the web list's rules, which the API's `q` follows too."""
    words = words.strip()
    if len(words) > SEARCH_MAX:
        return SEARCH_TOO_LONG
    if holds_hidden_characters(words):
        return SEARCH_ON_ONE_LINE
    return None


class ActivityFilterForm(Form):
    """The filters of the list of all one's interactions, read from the query string (a GET
    form: a filtered list is a link to keep or share, and nothing is written, so no CSRF
    token). A value that is not one of the user's (a medium or person of someone else's,
    a mangled id, an impossible day) is an error on its field, never ignored."""

    # Words the summary or notes contain: as long as the contact search's, and on one line
    # (a NUL would be refused by PostgreSQL; a tab or a zero-width space matches by chance).
    q = StringField("Search", filters=[strip_filter], validators=[
        Length(max=SEARCH_MAX, message=SEARCH_TOO_LONG)])
    medium = SelectField("Medium", validate_choice=False)
    by = SelectField("Who reached out", validate_choice=False,
                     choices=[("", "Anyone"), *((i.value, i.label) for i in Initiator)])
    first_day = LocalDayField("From", name="from", validators=[within_years])
    last_day = LocalDayField("To", name="to", validators=[within_years])
    contact = StringField("With")

    def __init__(self, formdata, *, user, mediums):
        super().__init__(formdata)
        self.user = user
        # Alphabetical, as every list of mediums (never by use).
        self.medium.choices = [("", "Any medium"), *((str(m.id), m.name) for m in mediums)]
        self.mediums = {m.id: m for m in mediums}
        self.person: Contact | None = None

    def validate_q(self, field):
        if field.data and holds_hidden_characters(field.data):
            raise ValidationError(SEARCH_ON_ONE_LINE)

    def validate_medium(self, field):
        if field.data and _known_id(field.data, self.mediums) is None:
            raise ValidationError(NOT_YOUR_MEDIUM)

    def validate_by(self, field):
        if field.data and field.data not in {i.value for i in Initiator}:
            raise ValidationError("Choose who reached out from the list.")

    def validate_last_day(self, field):
        if field.data and self.first_day.data and field.data < self.first_day.data:
            raise ValidationError("Choose a day on or after the “From” day.")

    def validate_contact(self, field):
        if not field.data:
            return
        try:
            found = get_contacts(self.user, [record_id(field.data)])
        except ValueError:
            found = []
        if not found:
            raise ValidationError("Choose one of your contacts.")
        self.person = found[0]

    @property
    def narrowed(self) -> bool:
        """Whether any filter is set."""
        return bool(self.q.data) or self.narrowed_beyond_words

    @property
    def narrowed_beyond_words(self) -> bool:
        """Whether a filter other than the words is set."""
        return any(f.data for f in (self.medium, self.by, self.first_day, self.last_day,
                                    self.contact))

    def filters(self) -> ActivityFilters:
        """The validated filters, for the service."""
        return ActivityFilters(
            medium_id=_known_id(self.medium.data, self.mediums),
            initiated_by=Initiator(self.by.data) if self.by.data else None,
            first_day=self.first_day.data,
            last_day=self.last_day.data,
            contact_id=self.person.id if self.person else None,
            words=self.q.data or "",
        )


def _known_id(value: str | None, rows: dict) -> int | None:
    """The id a select sent, if it is one of rows' keys."""
    try:
        number = record_id(value)
    except (TypeError, ValueError):
        return None
    return number if number in rows else None
