"""Forms of the tags page: rename (or merge) and delete."""

from __future__ import annotations

from wtforms import HiddenField, RadioField, StringField
from wtforms.validators import DataRequired

from crm.forms import EditForm, Form, strip_filter
from crm.params import record_id


def _record_id_or_none(value):
    try:
        return record_id(value)
    except (TypeError, ValueError):
        return None


class TagForm(EditForm):
    """A tag's new name. A name another of the user's tags has asks first to merge the two:
    the confirmation sends back which tag it merges into, the cadences it showed and, when
    both tags have one, the cadence chosen."""

    name = StringField(
        "Name",
        filters=[strip_filter],
        validators=[DataRequired(message="Give the tag a name.")],
        description="Another of your tags’ name merges the two (you confirm first).",
    )
    merge_into = HiddenField(filters=[_record_id_or_none])
    cadences_shown = HiddenField()
    keep_cadence = RadioField("Default cadence of the merged tag", validate_choice=False)


class DeleteTagForm(Form):
    """A tag's deletion, confirmed for what the page showed of it: its name, how many
    contacts carry it and its default cadence."""

    name_shown = HiddenField()
    impact_shown = HiddenField()
