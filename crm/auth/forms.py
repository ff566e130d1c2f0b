"""Account forms."""

from __future__ import annotations

from wtforms import (
    BooleanField,
    EmailField,
    HiddenField,
    PasswordField,
    RadioField,
    SelectField,
    StringField,
)
from wtforms.validators import DataRequired, Email, EqualTo, Length, ValidationError

from crm.forms import Form, TimeZoneField, strip_filter

PASSWORD_MIN = 10


def new_password_rules(missing: str) -> list:
    """The rules every new password follows (registration, change, reset)."""
    return [DataRequired(message=missing),
            Length(min=PASSWORD_MIN, max=200, message=f"Use at least {PASSWORD_MIN} characters.")]


def allowed_address(form, field) -> None:
    """An address in the organisation's domains (REGISTRATION_DOMAINS), if it has any."""
    from crm.auth.services import address_allowed, domain_refusal

    if field.data and not field.errors and not address_allowed(field.data):
        raise ValidationError(domain_refusal())


def repeat_password(label: str, of: str, missing: str) -> PasswordField:
    """The field that asks for a new password again."""
    return PasswordField(label, validators=[
        DataRequired(message=missing),
        EqualTo(of, message="The passwords do not match.")])


class RegisterForm(Form):
    name = StringField(
        "Your name", filters=[strip_filter],
        validators=[DataRequired(message="Enter your name."), Length(max=120)],
    )
    email = EmailField(
        "Email",
        filters=[strip_filter],
        validators=[DataRequired(message="Enter your email address."), Length(max=254),
                    Email(message="Enter a valid email address."), allowed_address],
    )
    password = PasswordField("Password", validators=new_password_rules("Choose a password."))
    confirm = repeat_password("Repeat password", "password", "Type the password again.")
    time_zone = TimeZoneField("Time zone", default="UTC")
    next = HiddenField()  # where to go once the account exists (a coach's invitation link)


class LoginForm(Form):
    email = EmailField(
        "Email", filters=[strip_filter],
        validators=[DataRequired(message="Enter your email address."), Length(max=254)]
    )
    password = PasswordField("Password", validators=[
        DataRequired(message="Enter your password."), Length(max=200)])
    remember = BooleanField("Keep me logged in on this device")
    next = HiddenField()


class ProfileForm(Form):
    name = StringField(
        "Your name", filters=[strip_filter],
        validators=[DataRequired(message="Enter your name."), Length(max=120)]
    )
    time_zone = TimeZoneField("Time zone")


class EmailForm(Form):
    email = EmailField(
        "New email address", filters=[strip_filter],
        validators=[DataRequired(message="Enter the new address."), Length(max=254),
                    Email(message="Enter a valid email address."), allowed_address],
    )
    current_password = PasswordField("Current password", validators=[
        DataRequired(message="Enter your current password.")])


class PasswordForm(Form):
    current_password = PasswordField("Current password", validators=[
        DataRequired(message="Enter your current password.")])
    new_password = PasswordField("New password",
                                 validators=new_password_rules("Choose a new password."))
    confirm = repeat_password("Repeat new password", "new_password",
                              "Type the new password again.")

    def validate_new_password(self, field):
        if field.data and field.data == self.current_password.data:
            raise ValidationError("Choose a password different from the current one.")


class ForgotPasswordForm(Form):
    email = EmailField(
        "Email", filters=[strip_filter],
        validators=[DataRequired(message="Enter the email address you log in with."),
                    Length(max=254), Email(message="Enter a valid email address.")],
    )


class ResetPasswordForm(Form):
    new_password = PasswordField("New password",
                                 validators=new_password_rules("Choose a new password."))
    confirm = repeat_password("Repeat new password", "new_password",
                              "Type the new password again.")


class ReminderSettingsForm(Form):
    email_mode = RadioField(
        "Reminder emails",
        choices=[
            ("each", "An email for each reminder as it falls due"),
            ("digest", "One daily digest of what is due and overdue"),
            ("off", "No emails: in-app notifications only"),
        ],
        default="each",
    )
    digest_hour = SelectField(
        "Digest time",
        coerce=int,
        choices=[(h, f"{h:02d}:00") for h in range(24)],
        default=8,
    )
