"""Form pieces shared by several areas."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping
from datetime import date, datetime, time
from enum import Enum
from functools import lru_cache
from typing import Any, ClassVar

from flask import request
from flask_wtf import FlaskForm
from markupsafe import Markup, escape
from werkzeug.datastructures import CombinedMultiDict
from wtforms import DateTimeField, Field, FileField, SelectField, StringField
from wtforms.meta import DefaultMeta
from wtforms.validators import ValidationError
from wtforms.widgets import HiddenInput, Select, html_params

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
            # Files only for a form that takes one: a file sent under a text field's name
            # is no text (it was a 500), and reads as not sent.
            takes_files = any(isinstance(field, FileField) for field in form)
            return CombinedMultiDict((request.files, request.form)) \
                if request.files and takes_files else request.form
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


# -- edits from a stale page ---------------------------------------------------------------

BASE_MAX = 4096  # characters: a digest per field of the longest form is some 400


def comparable(value: Any) -> Any:
    """A field's value as an edit compares it: text without surrounding blanks and with one
    kind of line break (a browser sends a text area's lines back with CRLF), empty text as
    nothing, a date or time in ISO form, a list as a set."""
    if isinstance(value, str):
        return re.sub(r"\r\n?", "\n", value.strip()) or None
    if isinstance(value, list | tuple | set):
        return sorted({json.dumps(comparable(v), sort_keys=True, default=str) for v in value})
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    return value


def _digest(value: Any) -> str:
    """A short digest of a comparable value: a base carries these, not the text itself (a
    contact's notes would double the size of every save)."""
    text = json.dumps(value, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


def _read_base(text: str) -> dict[str, str] | None:
    """A base as a form sent it back, or None for anything else (a form shown before bases
    existed sends none; a mangled one is no base either, never an error)."""
    if len(text) > BASE_MAX:
        return None
    try:
        base = json.loads(text)
    except (ValueError, RecursionError):
        return None
    if not isinstance(base, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in base.items()):
        return None
    return base


class BaseField(Field):
    """The hidden field of an EditForm: a digest of each field as the form showed it."""

    widget = HiddenInput()

    def process_formdata(self, valuelist):
        self.data = _read_base(valuelist[0]) if valuelist else None

    def _value(self):
        return json.dumps(self.data, separators=(",", ":")) if self.data else ""


def _shortened(text: str, most: int = 80) -> str:
    return text if len(text) <= most else text[:most].rstrip() + "…"


class EditForm(Form):
    """A form that edits a stored record. It carries in `base` what each field showed when
    the form was opened, so that a save from a stale page (another tab, another device, an
    import or the API since) changes only what the user changed there: a field sent back as
    it was shown keeps the value stored now, and a field changed both here and since, to
    different values, is a conflict shown on it, saving nothing. Without a base (a form
    opened before there were bases), every field is saved as sent, as it always was."""

    base = BaseField()
    # Fields compared otherwise than by their value (tags typed as text compared as a set).
    compared_as: ClassVar[dict[str, Callable[[Any], Any]]] = {}
    # Fields that together make one value, kept or changed together.
    together: ClassVar[tuple[tuple[str, ...], ...]] = ()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.conflicts: list[str] = []

    @property
    def status(self) -> int:
        """The status the form is answered with: 409 for a clash with a change made since
        it was opened, 422 for a mistake, else 200."""
        return 409 if self.conflicts else 422 if self.errors else 200

    def _comparable(self, name: str, value: Any) -> Any:
        how = self.compared_as.get(name)
        return comparable(how(value) if how is not None else value)

    def show(self, current: Mapping[str, Any]) -> None:
        """Fill the form with the record's values as stored (each field's name, and what it
        holds), and remember them as the base a save is compared with."""
        for name, value in current.items():
            self[name].data = value
        self.base.data = {name: _digest(self._comparable(name, value))
                          for name, value in current.items()}

    def left_as_opened(self, *names: str) -> bool:
        """Whether these fields were sent back as the form showed them when it was opened
        (without a base, nobody can tell)."""
        base = self.base.data or {}
        return all(base.get(name) == _digest(self._comparable(name, self[name].data))
                   for name in names)

    def validate_edit(self, current: Mapping[str, Any],
                      said: Mapping[str, Callable[[], str]] | None = None) -> bool:
        """Validate a submitted edit against the record as stored now (`current`, as show()
        takes it). A field left as the form was opened takes the stored value, so edits
        elsewhere to other fields survive; a field changed here and since, to different
        values, gets a message naming what it holds now (from `said`, for a field whose
        value is an id its choices may not name), and its base moves to that, so saving
        the form again replaces it. Fields left as opened are shown again as stored now,
        when the form comes back. Whether the edit may be saved."""
        valid = self.validate_on_submit()
        base = self.base.data
        if not base:
            return valid
        # Fields that make one value (a reminder's date and time): one changed here counts
        # as all of them changed here, so none takes a stored value the others do not fit.
        changed_here = {name for name, value in current.items()
                        if _digest(self._comparable(name, self[name].data)) != base.get(name)}
        for group in self.together:
            if changed_here.intersection(group):
                changed_here.update(group)
        kept = {}
        for name, value in current.items():
            field, opened = self[name], base.get(name)
            theirs = self._comparable(name, value)
            mine = self._comparable(name, field.data)
            if opened is None or mine == theirs:
                continue
            if name not in changed_here:
                kept[name] = value
            elif _digest(theirs) != opened:
                words = said[name]() if said and name in said and theirs is not None \
                    else _words(field, value)
                field.errors = [*field.errors, _changed_since(words)]
                base[name] = _digest(theirs)
                self.conflicts.append(name)
        for name, value in kept.items():
            # Saved, or shown again, as stored now: a form sent back shows what a save of
            # it would keep, not the stale values it was opened with.
            self[name].data = value
            self[name].raw_data = None  # a date or time field shows what it was sent else
            self[name].shown_as_stored = True
            base[name] = _digest(self._comparable(name, value))
        return valid and not self.conflicts


def _words(field: Field, value: Any) -> str | None:
    """How a stored value reads in a message about its field, or None when it is empty."""
    if comparable(value) in (None, []):
        return None
    labels = {choice[0]: str(choice[1]) for choice in getattr(field, "choices", None) or ()}
    if isinstance(value, list | tuple):
        return ", ".join(labels.get(v, str(v)) for v in value)
    if value in labels:
        return labels[value]
    if isinstance(value, datetime):
        return f"{value:%-d %b %Y, %H:%M}"
    if isinstance(value, date):
        return f"{value:%-d %b %Y}"
    if isinstance(value, time):
        return f"{value:%H:%M}"
    return _shortened(" ".join(str(value).split()))


def _changed_since(words: str | None) -> str:
    """What a field changed both in the form and since it was opened says."""
    if words is None:
        return "Cleared since you opened this form. Save again to keep yours."
    return (f"Changed since you opened this form, to “{words}”. Save again to replace it "
            "with yours.")
