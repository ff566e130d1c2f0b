"""Contact pages: list, create, show with timeline, edit, archive, delete, channels."""

from __future__ import annotations

from flask import (
    Blueprint,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user, login_required

from crm.contacts import services
from crm.contacts.channels import ChannelError, normalise_channel
from crm.contacts.forms import ChannelForm, ConfirmForm, ContactForm
from crm.contacts.picker import (
    TERM_MAX,
    chosen_ids,
    finding,
    label,
    picker,
    status_text,
    submitted_one,
    suggestions,
    term_for,
)
from crm.extensions import db
from crm.insights.cache import contact_figures
from crm.insights.services import STRENGTH_EXPLANATION
from crm.interactions.services import timeline
from crm.mediums.services import get_medium_or_404, mediums_for
from crm.params import page_arg, record_id, text_arg
from crm.reminders.services import open_reminders
from crm.templating import show_as

bp = Blueprint("contacts", __name__, url_prefix="/contacts")


@bp.before_request
@login_required
def _require_login():
    """Every contact page is for a logged-in user."""



@bp.get("")
def index():
    q = text_arg("q", 100)
    tag = text_arg("tag", 40)
    sort = request.args.get("sort", "name")
    archived = request.args.get("archived") == "1"
    page = services.list_contacts(
        current_user,
        q=q,
        tag=tag,
        sort=sort,
        archived=archived,
        page=page_arg(),
        per_page=current_app.config["CONTACTS_PER_PAGE"],
        count_search=False,
    )
    # An empty list says whether the network is empty or every contact is archived.
    empty = not page.items and page.page == 1 and not (q or tag or archived)
    return render_template(
        "contacts/index.html",
        page=page,
        q=q,
        tag=tag,
        sort=sort if sort in services.SORTS else "name",
        archived=archived,
        archived_count=services.archived_contact_count(current_user) if empty else 0,
    )


def _shown(contact) -> dict:
    """The contact as its edit form shows it, field by field."""
    return {
        "name": contact.name, "company": contact.company, "title": contact.title,
        "location": contact.location, "time_zone": contact.time_zone, "notes": contact.notes,
        "tags": ", ".join(contact.tag_names), "origin_medium": contact.origin_medium_id,
        "origin_date": contact.origin_date, "introduced_by": contact.introduced_by_id,
        "keep_in_touch_days": contact.keep_in_touch_days, "is_private": contact.is_private,
    }


def _contact_form(contact=None) -> ContactForm:
    # The stored contact fills the form to show it; a submission is read on its own (a
    # field it leaves out is empty, never the stored tags or the like).
    form = ContactForm()
    if contact is not None:
        form.carried_tags = tuple(contact.tag_names)
    form.origin_medium.choices = [(None, "— Not recorded —")] + [
        (m.id, m.name) for m in mediums_for(current_user)
    ]
    if contact is not None and request.method == "GET":
        form.show(_shown(contact))
    if request.method == "POST":  # validated against the one contact sent, not the network
        form.introduced_by.choices = submitted_one(
            current_user, "introduced_by", keep=contact.introduced_by if contact else None,
            exclude_id=contact.id if contact else None)
    return form


def _render_form(form: ContactForm, contact=None):
    """The contact form, with who introduced them chosen in a picker (the introducer stays
    listed, archived or not; a contact never introduces themselves)."""
    introducer = contact.introduced_by if contact is not None else None
    people = picker(current_user, chosen=chosen_ids(form.introduced_by),
                    term=term_for("introduced_by"),
                    exclude_id=contact.id if contact is not None else None,
                    keep=[introducer] if introducer is not None else ())
    form.introduced_by.choices = [(None, "— Nobody —"), *people.choices]
    return render_template("contacts/form.html", form=form, contact=contact,
                           people=people), form.status


def _contact_data(form: ContactForm) -> services.ContactData:
    origin = (
        get_medium_or_404(current_user, form.origin_medium.data)
        if form.origin_medium.data
        else None
    )
    introducer = (
        services.get_contact_or_404(current_user, form.introduced_by.data)
        if form.introduced_by.data
        else None
    )
    return services.ContactData(
        name=form.name.data,
        company=form.company.data or "",
        title=form.title.data or "",
        location=form.location.data or "",
        time_zone=form.time_zone.data or None,
        notes=form.notes.data or "",
        tags=services.parse_tags(form.tags.data or ""),
        origin_medium=origin,
        origin_date=form.origin_date.data,
        introduced_by=introducer,
        keep_in_touch_days=form.keep_in_touch_days.data,
        is_private=form.is_private.data,
    )


@bp.get("/choices")
def choices():
    """People for a picker, as JSON: those the term ?q= finds (by name, company, tag or
    handle, as the contact search), or without one those most recently in touch; never
    the contact ?exclude= names (who cannot introduce themselves)."""
    exclude = request.args.get("exclude", type=record_id)
    term = text_arg("q", TERM_MAX).strip()
    found, more = suggestions(current_user, term, exclude=[exclude])
    total = services.active_contact_count(current_user)
    return jsonify(choices=[{"id": c.id, "label": label(c)} for c in found], more=more,
                   total=total, status=status_text(term, len(found), more=more, total=total))


@bp.route("/new", methods=["GET", "POST"])
def new():
    form = _contact_form()
    if not finding() and form.validate_on_submit():
        contact = services.create_contact(current_user, _contact_data(form))
        db.session.commit()
        flash(f"{contact.name} added.", "success")
        return redirect(url_for("contacts.show", contact_id=contact.id))
    return _render_form(form)


@bp.get("/<int:contact_id>")
def show(contact_id: int):
    contact = services.get_contact_page_or_404(current_user, contact_id)
    return _render_show(contact, ChannelForm())


def _channel_mediums(mediums) -> list[tuple[int | None, str]]:
    # No medium is preselected: the first one would be a default that ranks it.
    return [(None, "— Choose a medium —")] + [(m.id, m.name) for m in mediums]


REMINDERS_SHOWN = 20  # a contact's open reminders on their page, the soonest first


def _render_show(contact, channel_form: ChannelForm, status: int = 200):
    show_as("contacts.show", contact_id=contact.id)
    # Loading every visible medium first lets the timeline, the path and the
    # channels find their medium in the session instead of querying for it.
    mediums = mediums_for(current_user)
    if not channel_form.medium.choices:
        channel_form.medium.choices = _channel_mediums(mediums)
    newest_first = request.args.get("order", "newest") != "oldest"
    figures = contact_figures(current_user, contact)
    interactions = timeline(
        current_user,
        contact,
        newest_first=newest_first,
        page=page_arg(),
        per_page=current_app.config["INTERACTIONS_PER_PAGE"],
        total=sum(figures["mix"].values()),
    )
    page = render_template(
        "contacts/show.html",
        contact=contact,
        interactions=interactions,
        newest_first=newest_first,
        path=services.medium_path(contact, uses=figures["uses"],
                                  tz_name=current_user.time_zone),
        channel_form=channel_form,
        confirm=ConfirmForm(),
        # One more than shown: the page says when there are more than it lists.
        reminders=open_reminders(current_user, contact=contact,
                                 limit=REMINDERS_SHOWN + 1),
        reminders_shown=REMINDERS_SHOWN,
        figures=figures,
        strength_explanation=STRENGTH_EXPLANATION,
    )
    return page, status


@bp.route("/<int:contact_id>/edit", methods=["GET", "POST"])
def edit(contact_id: int):
    contact = services.get_contact_or_404(current_user, contact_id)
    form = _contact_form(contact)
    said = {"introduced_by": lambda: contact.introduced_by.name}
    if not finding() and form.validate_edit(_shown(contact), said):
        try:
            services.update_contact(current_user, contact, _contact_data(form))
        except ValueError:
            form.introduced_by.errors.append(
                f"{contact.name} introduced that person (directly or through others)."
            )
        else:
            db.session.commit()
            flash("Changes saved.", "success")
            return redirect(url_for("contacts.show", contact_id=contact.id))
    return _render_form(form, contact)


@bp.post("/<int:contact_id>/archive")
def archive(contact_id: int):
    contact = services.get_contact_or_404(current_user, contact_id)
    if ConfirmForm().validate_on_submit():
        archived = request.form.get("restore") != "1"
        services.set_archived(contact, archived)
        db.session.commit()
        flash(
            f"{contact.name} archived. Their history is kept; restore them any time."
            if archived
            else f"{contact.name} restored.",
            "success",
        )
    return redirect(url_for("contacts.show", contact_id=contact.id))


@bp.route("/<int:contact_id>/delete", methods=["GET", "POST"])
def delete(contact_id: int):
    contact = services.get_contact_or_404(current_user, contact_id)
    form = ConfirmForm()
    if form.validate_on_submit():
        name = contact.name
        services.delete_contact(contact)
        db.session.commit()
        flash(f"{name} deleted.", "success")
        return redirect(url_for("contacts.index"))
    return render_template(
        "contacts/delete.html", contact=contact, form=form, impact=services.deletion_impact(contact)
    )


@bp.post("/<int:contact_id>/channels")
def add_channel(contact_id: int):
    contact = services.get_contact_or_404(current_user, contact_id)
    form = ChannelForm()
    mediums = mediums_for(current_user)
    form.medium.choices = _channel_mediums(mediums)
    if form.validate_on_submit():
        medium = next(m for m in mediums if m.id == form.medium.data)
        try:
            value = normalise_channel(
                medium, form.value.data, phone_region=current_app.config["PHONE_DEFAULT_REGION"]
            )
            services.add_channel(contact, medium, value, form.label.data or "")
        except ChannelError as exc:
            form.value.errors.append(str(exc))
        except ValueError:
            form.value.errors.append(f"{contact.name} already has that {medium.name} handle.")
        else:
            db.session.commit()
            flash(f"{medium.name} handle added.", "success")
            return redirect(url_for("contacts.show", contact_id=contact.id) + "#channels")
    return _render_show(contact, form, 422)


@bp.post("/<int:contact_id>/channels/<int:channel_id>/delete")
def remove_channel(contact_id: int, channel_id: int):
    contact = services.get_contact_or_404(current_user, contact_id)
    channel = services.get_channel_or_404(contact, channel_id)
    if ConfirmForm().validate_on_submit():
        services.remove_channel(channel)
        db.session.commit()
        flash("Handle removed.", "success")
    return redirect(url_for("contacts.show", contact_id=contact.id) + "#channels")
