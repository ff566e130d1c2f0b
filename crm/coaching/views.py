"""Coaching pages: a client's coach links, a coach's invitations, clients and their
shared networks (read-only), and coaching notes."""

from __future__ import annotations

from functools import partial

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user, login_required

from crm.coaching import services
from crm.coaching.forms import CoachingNoteForm, InviteCoachForm, ShareNotesForm
from crm.contacts.forms import ConfirmForm
from crm.contacts.services import medium_path
from crm.extensions import db
from crm.insights import cache, presenters
from crm.insights import services as insights
from crm.models import utcnow
from crm.params import page_arg, text_arg

bp = Blueprint("coaching", __name__)


@bp.before_request
@login_required
def _require_login():
    """Every coaching page is for a logged-in user."""


# -- the client's side ---------------------------------------------------------------


@bp.route("/coaching", methods=["GET", "POST"])
def index():
    form = InviteCoachForm()
    if form.validate_on_submit():
        try:
            link, token = services.invite_coach(current_user, form.email.data,
                                                share_notes=form.share_notes.data)
        except services.CoachingError as exc:
            form.email.errors.append(str(exc))
        else:
            db.session.commit()
            _show_invitation_link(link, token)
            return redirect(url_for(".index"))
    return render_template(
        "coaching/index.html",
        form=form,
        links=services.links_for_client(current_user),
        confirm=ConfirmForm(),
    ), (422 if form.errors else 200)


@bp.get("/coaching/notes")
def notes():
    """Every note the client's coaches wrote them."""
    return render_template(
        "coaching/notes.html",
        page=services.all_notes_for_client(current_user, page=page_arg(), per_page=NOTES_PER_PAGE),
        coaching=services.coaches_of(current_user),
    )


NOTES_PER_PAGE = 20


def _show_invitation_link(link, token: str) -> None:
    """The link is shown once, here: only its hash is kept."""
    url = url_for(".join", token=token, _external=True)
    flash(f"Invitation for {link.coach_email} ready. Send them this link, by email or "
          f"however you talk; it is shown only now: {url}", "success")


@bp.post("/coaching/links/<int:link_id>/new-link")
def new_link(link_id: int):
    link = services.client_link_or_404(current_user, link_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        token = services.new_invitation_link(link)
    except services.CoachingError as exc:
        flash(str(exc), "error")
    else:
        db.session.commit()
        _show_invitation_link(link, token)
    return redirect(url_for(".index"))


@bp.post("/coaching/links/<int:link_id>/revoke")
def revoke(link_id: int):
    link = services.client_link_or_404(current_user, link_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        services.revoke(link)
    except services.CoachingError as exc:
        flash(str(exc), "error")
    else:
        db.session.commit()
        flash(f"{link.coach_email} no longer has access to your network.", "success")
    return redirect(url_for(".index"))


@bp.post("/coaching/links/<int:link_id>/share-notes")
def share_notes(link_id: int):
    link = services.client_link_or_404(current_user, link_id)
    form = ShareNotesForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        services.set_share_notes(link, form.share_notes.data)
    except services.CoachingError as exc:
        flash(str(exc), "error")
    else:
        db.session.commit()
        flash("Notes are now shared." if link.share_notes else "Notes are no longer shared.",
              "success")
    return redirect(url_for(".index"))


@bp.route("/coaching/join/<token>", methods=["GET", "POST"])
def join(token: str):
    """The invitation a client sent: accept or decline it (logging in first if need be)."""
    link = services.invitation_by_link_or_404(token)
    form = ConfirmForm()
    if form.validate_on_submit():
        answer = request.form.get("answer")
        try:
            if answer == "accept":
                services.accept(current_user, link)
                message = f"You are now coaching {link.client.name}."
            elif answer == "decline":
                services.decline(current_user, link)
                message = f"You declined {link.client.name}'s invitation."
            else:
                abort(400)
        except services.CoachingError as exc:
            db.session.rollback()
            form.form_errors.append(str(exc))
        else:
            db.session.commit()
            flash(message, "success")
            return redirect(url_for(".clients") if answer == "accept" else url_for(".index"))
    return render_template("coaching/join.html", link=link, form=form), (
        422 if form.form_errors else 200)


# -- the coach's side ------------------------------------------------------------------


@bp.get("/coach")
def clients():
    page = services.active_links_for_coach(
        current_user, page=page_arg(), per_page=current_app.config["COACH_CLIENTS_PER_PAGE"])
    links = page.items
    client_ids = [link.client_id for link in links]
    now = utcnow()
    # The cards show counts, not who is going cold.
    figures = cache.figures(client_ids, now=now, shared_only=True, lapsed=False)
    mediums: dict = {}

    def card_view(fig):
        if not mediums:  # one query for every card that has to be rendered
            mediums.update(insights.mediums_by_id(client_ids))
        return presenters.build(fig, shared_only=True, strengths_limit=0, cold_limit=0,
                                with_network=False, mediums=mediums)

    cards = [
        cache.render_figures(
            "coaching/_client_card.html", figures[link.client_id],
            partial(card_view, figures[link.client_id]),
            shared_only=True, key=(link.client.name,), now=now, link=link)
        for link in links
    ]
    return render_template("coaching/clients.html", cards=cards, page=page)


@bp.get("/coach/clients/<int:client_id>")
def client(client_id: int):
    link = services.active_link_or_404(current_user, client_id)
    return _render_client(link, CoachingNoteForm())


def _render_client(link, form: CoachingNoteForm, status: int = 200):
    now = utcnow()
    fig = cache.figures([link.client_id], now=now, shared_only=True)[link.client_id]
    figures_html = cache.render_figures(
        "_partials/network_figures.html", fig,
        lambda: presenters.build(fig, shared_only=True),
        shared_only=True, key=("coaching.client_contact",), now=now,
        contact_href=lambda contact_id: url_for("coaching.client_contact",
                                                client_id=link.client_id, contact_id=contact_id),
    )
    return render_template(
        "coaching/client.html",
        link=link,
        fig=fig,
        figures_html=figures_html,
        notes=services.notes_by_coach(link),
        form=form,
    ), status


@bp.post("/coach/clients/<int:client_id>/notes")
def add_note(client_id: int):
    link = services.active_link(current_user, client_id)
    if link is None:
        return _note_not_saved(client_id)
    form = CoachingNoteForm()
    if form.validate_on_submit():
        services.add_note(current_user, link, form.body.data)
        db.session.commit()
        flash(f"Note saved; {link.client.name} sees it on their dashboard.", "success")
        return redirect(url_for(".client", client_id=client_id) + "#notes")
    return _render_client(link, form, 422)


def _note_not_saved(client_id: int):
    """A note sent after the client ended coaching, or while the client's account is
    suspended (deactivated): say so and give the text back to copy (403). A coach who
    never coached this client gets the 404 every coach view gives."""
    link = services.suspended_link(current_user, client_id)
    suspended = link is not None
    if not suspended:
        link = services.ended_link_or_404(current_user, client_id)
    return render_template("coaching/note_not_saved.html", link=link, suspended=suspended,
                           body=request.form.get("body", "")), 403


@bp.get("/coach/clients/<int:client_id>/contacts")
def client_contacts(client_id: int):
    link = services.active_link_or_404(current_user, client_id)
    q = text_arg("q", 100)
    page = services.list_shared_contacts(link, q=q, page=page_arg(),
                                         per_page=current_app.config["CONTACTS_PER_PAGE"])
    last = services.last_shared_interactions([c.id for c in page.items])
    return render_template("coaching/contacts.html", link=link, page=page, q=q, last=last)


@bp.get("/coach/clients/<int:client_id>/contacts/<int:contact_id>")
def client_contact(client_id: int, contact_id: int):
    link = services.active_link_or_404(current_user, client_id)
    contact = services.shared_contact_or_404(link, contact_id)
    interactions = services.shared_timeline(
        link, contact, page=page_arg(), per_page=current_app.config["INTERACTIONS_PER_PAGE"]
    )
    figures = cache.contact_figures(link.client, contact, shared_only=True)
    insights.mediums_by_id([client_id])  # loaded once: the path finds each in the session
    return render_template(
        "coaching/contact.html",
        link=link,
        contact=contact,
        interactions=interactions,
        figures=figures,
        # The mediums in the order the client's own page lists them: first used first.
        path=medium_path(contact, uses=figures["uses"], tz_name=current_user.time_zone),
    )
