"""Forms for importing, merging and deleting an account."""

from __future__ import annotations

from flask import current_app
from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField, PasswordField, RadioField, SelectField
from wtforms.validators import DataRequired, ValidationError

from crm.forms import Form
from crm.models import ImportKind
from crm.portability.parsers import FIELD_LABELS

DEFAULT_IMPORT_MAX_BYTES = 10 * 1024 * 1024


def import_max_bytes() -> int:
    """The largest file an import accepts (IMPORT_MAX_BYTES, default 10 MiB)."""
    return int(current_app.config.get("IMPORT_MAX_BYTES", DEFAULT_IMPORT_MAX_BYTES))


def human_size(size: int) -> str:
    """1.5 MB, 300 kB, 12 bytes."""
    if size >= 1024 * 1024:
        return f"{size / (1024 * 1024):.1f} MB".replace(".0 MB", " MB")
    if size >= 1024:
        return f"{size // 1024} kB"
    return f"{size} bytes"


class UploadForm(Form):
    kind = RadioField(
        "What are you importing?",
        choices=[
            (ImportKind.LINKEDIN.value, "LinkedIn connections (Connections.csv)"),
            (ImportKind.CSV.value, "A CSV file from a spreadsheet or another app"),
            (ImportKind.VCARD.value, "vCard (.vcf) from Google Contacts, Apple Contacts…"),
        ],
        default=ImportKind.LINKEDIN.value,
        validators=[DataRequired(message="Choose what kind of file it is.")],
    )
    file = FileField("File", validators=[FileRequired(message="Choose a file to upload.")])

    def validate_file(self, field):
        data = field.data.read()
        field.data.seek(0)
        limit = import_max_bytes()
        if len(data) > limit:
            raise ValidationError(
                f"The file is {human_size(len(data))}; Rapport imports files up to "
                f"{human_size(limit)} at a time. Split it into smaller files and import each."
            )
        if not data.strip():
            raise ValidationError("The file is empty.")


class RunImportForm(Form):
    skip_invalid = BooleanField("Skip the invalid rows and import the rest")


def mapping_form(header: list[str], mediums, mapping: dict[int, str]) -> Form:
    """A select per column: which field (or handle on which medium) it holds."""
    choices = list(FIELD_LABELS.items()) + [
        (f"medium:{m.id}", f"Handle on {m.name}") for m in mediums
        if m.key not in ("email", "phone")
    ]

    class MappingForm(Form):
        def validate(self, extra_validators=None):
            ok = super().validate(extra_validators)
            chosen = [f.data for name, f in self._fields.items() if name.startswith("col_")]
            if not {"name", "first_name", "last_name"} & set(chosen):
                self.form_errors.append(
                    "Map at least one column to Name, First name or Last name.")
                ok = False
            for single in ("name", "first_name", "middle_name", "last_name", "company", "title",
                           "location"):
                if chosen.count(single) > 1:
                    self.form_errors.append(
                        f"Only one column can be {FIELD_LABELS[single]}.")
                    ok = False
            return ok

    for index, heading in enumerate(header):
        setattr(MappingForm, f"col_{index}", SelectField(
            heading or f"Column {index + 1}", choices=choices, default=mapping.get(index, ""),
        ))
    return MappingForm()


class MergeForm(Form):
    keep = RadioField("Keep", validators=[DataRequired(message="Choose the contact to keep.")])


class DeleteAccountForm(Form):
    password = PasswordField(
        "Your password", validators=[DataRequired(message="Enter your password to confirm.")]
    )
    understand = BooleanField(
        "I understand that my contacts, interactions and reminders are deleted for good",
        validators=[DataRequired(message="Tick the box to confirm.")],
    )
