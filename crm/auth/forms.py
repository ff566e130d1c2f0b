"""Account forms."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, HiddenField, PasswordField, StringField
from wtforms.validators import Email, EqualTo, InputRequired, Length, ValidationError

from crm.forms import TimeZoneField, strip_filter

PASSWORD_MIN = 10


class RegisterForm(FlaskForm):
    name = StringField(
        "Your name", filters=[strip_filter], validators=[InputRequired(), Length(max=120)]
    )
    email = EmailField(
        "Email",
        filters=[strip_filter],
        validators=[InputRequired(), Length(max=254), Email(message="Enter a valid email address.")],
    )
    password = PasswordField(
        "Password",
        validators=[
            InputRequired(),
            Length(min=PASSWORD_MIN, max=200, message=f"Use at least {PASSWORD_MIN} characters."),
        ],
    )
    confirm = PasswordField(
        "Repeat password",
        validators=[InputRequired(), EqualTo("password", message="The passwords do not match.")],
    )
    time_zone = TimeZoneField("Time zone", default="UTC")


class LoginForm(FlaskForm):
    email = EmailField("Email", filters=[strip_filter], validators=[InputRequired(), Length(max=254)])
    password = PasswordField("Password", validators=[InputRequired(), Length(max=200)])
    remember = BooleanField("Keep me logged in on this device")
    next = HiddenField()


class ProfileForm(FlaskForm):
    name = StringField(
        "Your name", filters=[strip_filter], validators=[InputRequired(), Length(max=120)]
    )
    time_zone = TimeZoneField("Time zone")


class PasswordForm(FlaskForm):
    current_password = PasswordField("Current password", validators=[InputRequired()])
    new_password = PasswordField(
        "New password",
        validators=[
            InputRequired(),
            Length(min=PASSWORD_MIN, max=200, message=f"Use at least {PASSWORD_MIN} characters."),
        ],
    )
    confirm = PasswordField(
        "Repeat new password",
        validators=[
            InputRequired(),
            EqualTo("new_password", message="The passwords do not match."),
        ],
    )

    def validate_new_password(self, field):
        if field.data and field.data == self.current_password.data:
            raise ValidationError("Choose a password different from the current one.")
