"""Form pieces shared by several areas."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import SelectField, StringField
from wtforms.meta import DefaultMeta
from wtforms.validators import ValidationError

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


class _Meta(DefaultMeta):
    def bind_field(self, form, unbound_field, options):
        field = super().bind_field(form, unbound_field, options)
        if isinstance(field, StringField):  # text, text areas, passwords, emails
            field.validators = [no_nul, *field.validators]
        return field


class Form(FlaskForm):
    """Every form of the app: a FlaskForm (CSRF) whose text fields refuse NUL characters."""

    Meta = _Meta
