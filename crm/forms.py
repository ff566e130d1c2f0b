"""Form pieces shared by several areas."""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache

from flask import request
from flask_wtf import FlaskForm
from markupsafe import Markup, escape
from werkzeug.datastructures import CombinedMultiDict
from wtforms import DateTimeField, SelectField, StringField
from wtforms.meta import DefaultMeta
from wtforms.validators import ValidationError
from wtforms.widgets import Select, html_params

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


class ListSelect(Select):
    """WTForms' select, for lists as long as a whole network: the same markup, each option
    written in one step instead of through html_params (ten times faster at 5,000)."""

    def opening(self, field, kwargs) -> str:
        """The <select> tag, with the attributes WTForms' own widget gives it."""
        kwargs.setdefault("id", field.id)
        for flag in self.validation_attrs:
            if flag not in kwargs and getattr(field.flags, flag, False):
                kwargs[flag] = True
        return f"<select {html_params(name=field.name, **kwargs)}>"

    def __call__(self, field, **kwargs):
        if field.has_groups():
            return super().__call__(field, **kwargs)
        html = [self.opening(field, kwargs)]
        for value, label, selected, render_kw in field.iter_choices():
            if render_kw or value is True:
                html.append(self.render_option(value, label, selected, **render_kw))
            else:
                html.append(f'<option {"selected " if selected else ""}value="{escape(value)}">'
                            f"{escape(label)}</option>")
        html.append("</select>")
        return Markup("".join(html))  # noqa: S704 - every value and label escaped above


@lru_cache(maxsize=2)
def _zone_choices(allow_blank: bool) -> tuple[tuple[str, str], ...]:
    blank = (("", "— Not set —"),) if allow_blank else ()
    return blank + tuple((z, z.replace("_", " ")) for z in timezone_names())


@lru_cache(maxsize=2)
def _zone_options(allow_blank: bool) -> tuple[tuple[str, ...], dict[str, tuple[int, str]]]:
    """Each zone's <option>, rendered once per process, and by value its place and its
    selected form."""
    choices = _zone_choices(allow_blank)
    options = tuple(Select.render_option(value, label, False) for value, label in choices)
    chosen = {value: (i, Select.render_option(value, label, True))
              for i, (value, label) in enumerate(choices)}
    return options, chosen


class _ZoneSelect(ListSelect):
    """The zone select as WTForms renders it, from options rendered once: escaping some
    600 options per field was most of the rendering time of every page holding one."""

    def __call__(self, field, **kwargs):
        opening = self.opening(field, kwargs)
        options, chosen = _zone_options(field.allow_blank)
        place = chosen.get(field.data) if isinstance(field.data, str) else None
        if place is not None:
            i, selected = place
            options = (*options[:i], selected, *options[i + 1:])
        return Markup(f"{opening}{''.join(options)}</select>")  # noqa: S704 - escaped


class TimeZoneField(SelectField):
    """A select of IANA zone names."""

    widget = _ZoneSelect()

    def __init__(self, label=None, validators=None, allow_blank=False, **kwargs):
        super().__init__(label, validators, validate_choice=False, **kwargs)
        self.allow_blank = allow_blank
        self.choices = list(_zone_choices(allow_blank))

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


def days_wanted(most: int) -> str:
    """What a field for a number of days asks for, whatever was wrong with what it got."""
    return f"Enter a number of days from 1 to {most}, or leave it empty."


def days_up_to(most: int):
    """A validator, after Optional, for a number of days from 1 to `most`: one message for
    text that is no whole number and for a number out of range (WTForms would run its "Not
    a valid integer value." and the range's message together)."""

    def check(form, field):
        if field.data is None or not 1 <= field.data <= most:
            field.errors.clear()
            raise ValidationError(days_wanted(most))

    return check


PAST_DATE = "Choose today or a later date."  # a reminder's, follow-up's or snooze's date


def time_passed(now_local: datetime) -> str:
    """What a form says of a reminder or follow-up set at a wall time already past."""
    return (f"That time has passed (it is {now_local:%-d %b %Y, %H:%M} now): choose a later "
            "date or time.")


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
