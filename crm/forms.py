"""Form pieces shared by several areas."""

from __future__ import annotations

from flask import request
from flask_wtf import FlaskForm
from werkzeug.datastructures import CombinedMultiDict
from wtforms import DateTimeField, SelectField, StringField
from wtforms.meta import DefaultMeta
from wtforms.validators import ValidationError

from crm.params import YEAR_MAX, YEAR_MIN, in_year_range
from crm.timezones import is_valid_timezone, timezone_names


def optional_int(value):
    """Coerce a select's value to an int, or None for the blank choice."""
    if value in (None, "", "None"):
        return None
    return int(value)


def strip_filter(value):
    """Strip surrounding white space from submitted text."""
    return value.strip() if isinstance(value, str) else value


class TimeZoneField(SelectField):
    """A select of IANA zone names."""

    def __init__(self, label=None, validators=None, allow_blank=False, **kwargs):
        super().__init__(label, validators, validate_choice=False, **kwargs)
        self.allow_blank = allow_blank
        blank = [("", "— Not set —")] if allow_blank else []
        self.choices = blank + [(z, z.replace("_", " ")) for z in timezone_names()]

    def pre_validate(self, form):
        if self.allow_blank and not self.data:
            return
        if not is_valid_timezone(self.data):
            raise ValidationError("Choose a time zone from the list.")


def no_nul(form, field):
    """No NUL characters in text: nobody types one, no stored text holds one, and
    PostgreSQL refuses them."""
    if isinstance(field.data, str) and "\x00" in field.data:
        raise ValidationError("Remove the NUL character from this text.")


def within_years(form, field):
    """Dates within YEAR_MIN..YEAR_MAX (the API's range too)."""
    year = getattr(field.data, "year", None)
    if year is not None and not in_year_range(year):
        raise ValidationError(f"Choose a date between {YEAR_MIN} and {YEAR_MAX}.")


class _Meta(DefaultMeta):
    def wrap_formdata(self, form, formdata):
        """The submitted form fields, never a JSON body: Flask-WTF would read one as form
        data, and its numbers, lists and objects are not what a field expects."""
        if formdata is None or hasattr(formdata, "getlist"):
            return formdata
        if request.method in SUBMIT_METHODS:
            return CombinedMultiDict((request.files, request.form)) if request.files \
                else request.form
        return None

    def bind_field(self, form, unbound_field, options):
        field = super().bind_field(form, unbound_field, options)
        if isinstance(field, StringField):  # text, text areas, passwords, emails
            field.validators = [no_nul, *field.validators]
        elif isinstance(field, DateTimeField):  # dates and times of day (no year: passed)
            field.validators = [*field.validators, within_years]
        return field


SUBMIT_METHODS = ("POST", "PUT", "PATCH", "DELETE")


class Form(FlaskForm):
    """Every form of the app: a FlaskForm (CSRF) that reads only submitted form fields,
    whose text fields refuse NUL characters and whose dates stay within YEAR_MIN..YEAR_MAX."""

    Meta = _Meta
