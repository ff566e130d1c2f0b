"""Log, edit and delete interactions: one form for every medium."""

from __future__ import annotations

from datetime import datetime

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from crm.contacts.forms import ConfirmForm
from crm.contacts.picker import choosable, chosen_ids, finding, picker, submitted, term_for
from crm.contacts.services import get_contact_or_404
from crm.extensions import db
from crm.interactions import services
from crm.interactions.forms import ActivityFilterForm, InteractionForm
from crm.mediums.services import get_medium_or_404, mediums_for
from crm.models import Contact, Initiator, ReminderKind, utcnow
from crm.params import record_id
from crm.reminders.schedule import DEFAULT_LOCAL_TIME
from crm.reminders.services import ReminderData, create_reminder, follow_up_title
from crm.templating import back_to, url_with
from crm.timezones import local_to_utc, to_local, wall_minute

bp = Blueprint("interactions", __name__, url_prefix="/interactions")


@bp.before_request
@login_required
def _require_login():
    """Every interaction page is for a logged-in user."""


@bp.get("")
def index():
    """Every interaction of the user, newest first, narrowed by the filters in the URL."""
    mediums = mediums_for(current_user)  # also what each item's medium is read from
    form = ActivityFilterForm(request.args, user=current_user, mediums=mediums)
    valid = form.validate()
    try:  # where the page starts: after `older`, before `newer` (one, or neither)
        older, newer = _position("older"), _position("newer")
        broken_link = older is not None and newer is not None
    except ValueError:
        older = newer = None
        broken_link = True
    page = None
    if valid and not broken_link:
        page = services.activity(current_user, form.filters(), older=older, newer=newer,
                                 per_page=current_app.config["INTERACTIONS_PER_PAGE"])
        if newer is not None and page.newer is None:  # nothing newer: the newest page
            return redirect(url_with(newer=None))
    return render_template("interactions/index.html", form=form, page=page,
                           paged=older is not None or newer is not None,
                           broken_link=broken_link), 200 if page is not None else 422


def _position(name: str) -> services.Position | None:
    """A page's position in the query string, None when it has none; ValueError when the
    link was cut short or mangled."""
    token = request.args.get(name)
    return services.Position.parse(token) if token else None


def _now_local() -> datetime:
    return to_local(utcnow(), current_user.time_zone).replace(tzinfo=None, second=0, microsecond=0)


def _shown(interaction) -> dict:
    """The interaction as its edit form shows it, field by field ("When" to the minute)."""
    return {
        "medium": interaction.medium_id,
        "occurred_at": wall_minute(interaction.occurred_at, current_user.time_zone),
        "initiated_by": interaction.initiated_by.value,
        "participants": [c.id for c in interaction.participants],
        "summary": interaction.summary, "notes": interaction.notes,
        "is_private": interaction.is_private,
    }


def _form(interaction=None) -> InteractionForm:
    # The stored interaction fills the form to show it; a submission is read on its own.
    form = InteractionForm(now_local=_now_local())
    mediums = mediums_for(current_user)
    form.medium.choices = [(None, "— Choose a medium —")] + [(m.id, m.name) for m in mediums]
    form.loaded_mediums = {m.id: m for m in mediums}
    if request.method == "POST":
        # Validating needs only the submitted people; the picker is built to show the form.
        form.loaded_contacts = _submitted_contacts(interaction)
        form.participants.choices = [(c.id, c.name) for c in form.loaded_contacts]
    else:
        form.participants.choices = []  # the picker's, when the form is shown
    if request.method == "GET":
        if interaction is None:
            form.occurred_at.data = _now_local()
        else:
            form.show(_shown(interaction))
    return form


def _submitted_contacts(interaction=None) -> list[Contact]:
    """The submitted participants that the user may choose, and an edited interaction's own
    (whom a stale form's people left as shown are saved as, and named by a conflict): one
    query."""
    keep = interaction.participants if interaction is not None else ()
    return choosable(current_user, [*submitted("participants"), *(c.id for c in keep)],
                     keep=keep)


def _render_form(form: InteractionForm, interaction, contact, **extra):
    """Show the form, its people to choose from in a picker: those chosen, then those
    found by the term typed into it, or the most recent (an edited interaction's
    participants stay listed, archived ones too)."""
    people = picker(current_user, chosen=chosen_ids(form.participants),
                    term=term_for("participants"),
                    keep=interaction.participants if interaction is not None else ())
    form.participants.choices = people.choices
    return render_template("interactions/form.html", form=form, interaction=interaction,
                           contact=contact, people=people, **extra), form.status


def _occurred_at(form: InteractionForm, interaction=None) -> datetime:
    """The instant the form names. An edit that leaves "When" as shown (a local time, to
    the minute) keeps the stored instant: its seconds, and which of the two 01:30s of an
    autumn night it was."""
    wall = form.occurred_at.data
    if interaction is not None and wall == wall_minute(interaction.occurred_at,
                                                       current_user.time_zone):
        return interaction.occurred_at
    return local_to_utc(wall, current_user.time_zone)


def _data(form: InteractionForm, interaction=None) -> services.InteractionData:
    """The validated form as service data, from the rows _form loaded to validate it."""
    chosen = set(form.participants.data)
    participants = [c for c in form.loaded_contacts if c.id in chosen]
    medium = form.loaded_mediums.get(form.medium.data)
    if len(participants) != len(chosen) or medium is None:
        abort(404)
    return services.InteractionData(
        medium=medium,
        occurred_at=_occurred_at(form, interaction),
        initiated_by=Initiator(form.initiated_by.data),
        participants=participants,
        summary=form.summary.data,
        notes=form.notes.data or "",
        is_private=form.is_private.data,
    )


def _schedule_follow_up(form: InteractionForm, interaction):
    """Create the follow-up the form asked for, one per participant."""
    local_date = form.follow_up_local_date()
    if local_date is None:
        return None
    first = None
    for contact in interaction.participants:
        reminder = create_reminder(
            current_user,
            ReminderData(
                title=follow_up_title(contact),
                local_date=local_date,
                local_time=form.follow_up_time.data or DEFAULT_LOCAL_TIME,
                notes=interaction.summary,
                contact=contact,
            ),
            kind=ReminderKind.FOLLOW_UP,
            interaction_id=interaction.id,
        )
        first = first or reminder
    return first


@bp.route("/new", methods=["GET", "POST"])
def new():
    form = _form()
    contact = None
    contact_id = request.args.get("contact", type=record_id)
    if contact_id is not None:
        contact = get_contact_or_404(current_user, contact_id)
        if contact.is_archived:  # not among the people to choose from
            flash(f"Restore {contact.name} to log interactions with them.", "info")
            return redirect(url_for("contacts.show", contact_id=contact.id))
        if request.method == "GET":
            form.participants.data = [contact.id]
    medium_id = request.args.get("medium", type=record_id)
    if medium_id is not None and request.method == "GET":
        form.medium.data = get_medium_or_404(current_user, medium_id).id
    if not finding() and form.validate_on_submit():
        interaction = services.log_interaction(current_user, _data(form))
        follow_up = _schedule_follow_up(form, interaction)
        # The message and the way back are read before the commit expires what they use.
        message = f"{interaction.medium.name} interaction logged."
        if follow_up is not None:
            when = to_local(follow_up.due_at, current_user.time_zone).strftime("%-d %b %Y, %H:%M")
            message += f" Follow-up set for {when}."
        if contact is not None and contact in interaction.participants:
            target = url_for("contacts.show", contact_id=contact.id)
        else:
            first = interaction.participants[0]
            target = back_to(url_for("contacts.show", contact_id=first.id))
        db.session.commit()
        flash(message, "success")
        return redirect(target)
    return _render_form(form, None, contact)


@bp.route("/<int:interaction_id>/edit", methods=["GET", "POST"])
def edit(interaction_id: int):
    interaction = services.get_interaction_or_404(current_user, interaction_id)
    form = _form(interaction)
    if not finding() and form.validate_edit(_shown(interaction)):
        kept = services.update_interaction(interaction, _data(form, interaction))
        target = back_to(url_for("contacts.show", contact_id=interaction.participants[0].id))
        db.session.commit()
        flash("Interaction saved." + "".join(
            f" “{r.title}” is still open, though {r.contact.name} is no longer in it: mark "
            "it done or dismiss it under Reminders if you no longer need it." for r in kept),
            "success")
        return redirect(target)
    return _render_form(form, interaction, None, confirm=ConfirmForm())


@bp.post("/<int:interaction_id>/delete")
def delete(interaction_id: int):
    interaction = services.get_interaction_or_404(current_user, interaction_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    first = interaction.participants[0] if interaction.participants else None
    services.delete_interaction(interaction)
    db.session.commit()
    flash("Interaction deleted.", "success")
    default = url_for("contacts.show", contact_id=first.id) if first else url_for("main.home")
    return redirect(back_to(default))
