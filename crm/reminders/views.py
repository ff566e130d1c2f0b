"""Reminder pages: the list, create and edit, done/snooze/dismiss, the inbox,
email links, and the calendar feed."""

from __future__ import annotations

import re
from datetime import datetime

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user, login_required
from sqlalchemy import select

from crm.contacts.forms import ConfirmForm
from crm.contacts.picker import chosen_ids, finding, picker, submitted_one, term_for
from crm.contacts.services import get_contact_or_404
from crm.database import lock_user, writing_request
from crm.extensions import csrf, db
from crm.forms import days_wanted
from crm.interactions.services import InteractionData, log_interaction
from crm.mediums.services import get_medium_or_404, mediums_for
from crm.models import Contact, Initiator, User, utcnow
from crm.models.contact import CADENCE_MAX_DAYS
from crm.models.reminder import Recurrence, Reminder, ReminderKind
from crm.params import page_arg, record_id
from crm.reminders import calendar_feed, links, services
from crm.reminders.forms import DoneForm, ReminderForm, SnoozeForm
from crm.reminders.schedule import occurrence_utc
from crm.templating import back_to
from crm.timezones import to_local, wall_minute

bp = Blueprint("reminders", __name__)



def _shown(reminder: Reminder) -> dict:
    """The reminder as its edit form shows it, field by field: its next occurrence's local
    date and time, to the minute."""
    shown = wall_minute(reminder.due_at, current_user.time_zone)
    return {"title": reminder.title, "contact": reminder.contact_id, "local_date": shown.date(),
            "local_time": shown.time(), "recurrence": reminder.recurrence.value,
            "notes": reminder.notes}


def _reminder_form(reminder: Reminder | None = None) -> ReminderForm:
    # The date and time an edit shows, and keeps when sent back unchanged, even if past.
    shown = wall_minute(reminder.due_at, current_user.time_zone) if reminder else None
    form = ReminderForm(obj=reminder, shown=shown,
                        now_local=wall_minute(utcnow(), current_user.time_zone))
    if request.method == "POST":  # validated against the one contact sent, not the network
        form.contact.choices = submitted_one(
            current_user, "contact", keep=reminder.contact if reminder else None)
    if reminder is not None and request.method == "GET":
        form.show(_shown(reminder))
    return form


def _render_form(form: ReminderForm, reminder: Reminder | None, contact):
    """The reminder form, whom it is about chosen in a picker (a reminder's own contact
    stays listed, archived or not)."""
    about = reminder.contact if reminder is not None else None
    people = picker(current_user, chosen=chosen_ids(form.contact), term=term_for("contact"),
                    keep=[about] if about is not None else ())
    form.contact.choices = [(None, "— Nobody in particular —"), *people.choices]
    return render_template("reminders/form.html", form=form, reminder=reminder,
                           contact=contact, people=people), form.status


def _reminder_data(form: ReminderForm) -> services.ReminderData:
    contact = get_contact_or_404(current_user, form.contact.data) if form.contact.data else None
    try:
        recurrence = Recurrence(form.recurrence.data)
    except ValueError:
        abort(400)
    return services.ReminderData(
        title=form.title.data,
        local_date=form.local_date.data,
        local_time=form.local_time.data,
        recurrence=recurrence,
        notes=form.notes.data or "",
        contact=contact,
    )


@bp.get("/reminders")
@login_required
def index():
    now = utcnow()
    contact = _contact_arg()
    page, due_count = services.open_reminders_page(
        current_user, page=page_arg(), per_page=current_app.config["REMINDERS_PER_PAGE"],
        contact=contact)
    return render_template(
        "reminders/index.html",
        contact=contact,
        page=page,
        due_count=due_count,
        needs_action=[r for r in page.items if r.status.value == "delivered"],
        upcoming=[r for r in page.items if r.status.value != "delivered"],
        problems=services.email_problems(current_user, contact),
        now=now,
        confirm=ConfirmForm(),
    )


@bp.get("/reminders/history")
@login_required
def history():
    contact = _contact_arg()
    return render_template(
        "reminders/history.html", contact=contact,
        page=services.reminder_history(current_user, page=page_arg(), contact=contact),
    )


def _contact_arg() -> Contact | None:
    """The contact a page is about (?contact=, one of the user's, archived or not), or
    None when it names none (what no row's id can be is ignored, as every query id is);
    404 for anyone else's."""
    contact_id = request.args.get("contact", type=record_id)
    return get_contact_or_404(current_user, contact_id) if contact_id else None


@bp.route("/reminders/new", methods=["GET", "POST"])
@login_required
def new():
    form = _reminder_form()
    contact = _contact_arg()
    if contact is not None and contact.is_archived:  # not among the people to choose from
        flash(f"Restore {contact.name} to set reminders about them.", "info")
        return redirect(url_for("contacts.show", contact_id=contact.id))
    if request.method == "GET":
        form.local_date.data = services.default_local_date(current_user)
        if contact is not None:
            form.contact.data = contact.id
            form.title.data = services.follow_up_title(contact)
    if not finding() and form.validate_on_submit():
        data = _reminder_data(form)
        kind = ReminderKind.FOLLOW_UP if data.contact else ReminderKind.CUSTOM
        reminder = services.create_reminder(current_user, data, kind=kind)
        db.session.commit()
        flash(f"Reminder set for {_when(reminder)}.", "success")
        default = (
            url_for("contacts.show", contact_id=contact.id) if contact else url_for(".index")
        )
        return redirect(back_to(default))
    return _render_form(form, None, contact)


def _when(reminder: Reminder, user: User | None = None, *, zone: bool = False) -> str:
    """When the reminder is due, in the user's zone; naming it (as the email does) on the
    pages an email's links open, which may be on a device in another zone, logged out."""
    tz = (user or current_user).time_zone
    when = to_local(reminder.due_at, tz).strftime("%-d %b %Y, %H:%M")
    return f"{when} ({tz})" if zone else when


def _moved(reminder: Reminder, after: str, user: User | None = None, *,
           zone: bool = False) -> str:
    """What a stale notification or email says instead of acting on the moved reminder."""
    return (f"This reminder was moved to {_when(reminder, user, zone=zone)} after this "
            f"{after}: nothing changed.")


@bp.route("/reminders/<int:reminder_id>/edit", methods=["GET", "POST"])
@login_required
def edit(reminder_id: int):
    reminder = services.get_reminder_or_404(current_user, reminder_id)
    if not reminder.is_open:
        flash("That reminder has ended; it stays in your history.", "info")
        return redirect(url_for(".history"))
    if reminder.kind == ReminderKind.KEEP_IN_TOUCH:
        flash(services.KEEP_IN_TOUCH_NOT_EDITED.capitalize() + ".", "info")
        return redirect(url_for("contacts.show", contact_id=reminder.contact_id))
    form = _reminder_form(reminder)
    said = {"contact": lambda: reminder.contact.name}
    if not finding() and form.validate_edit(_shown(reminder), said):
        try:
            moved = services.update_reminder(current_user, reminder, _reminder_data(form))
        except services.ReminderStateError as exc:
            form.form_errors.append(str(exc).capitalize() + ".")
        else:
            db.session.commit()
            flash(f"Reminder moved to {_when(reminder)}." if moved else "Reminder saved.",
                  "success")
            return redirect(back_to(url_for(".index")))
    return _render_form(form, reminder, reminder.contact)


def _occurrence_arg() -> datetime | None:
    """The occurrence a "Done" link from the inbox is about (?occurrence=, ISO 8601)."""
    try:
        value = datetime.fromisoformat(request.args.get("occurrence", ""))
    except ValueError:
        return None
    return value if value.tzinfo else None


def _moved_since_link(reminder: Reminder) -> str | None:
    """Said on a Done or Snooze page opened from a notification of a time the reminder has
    since moved from, before anyone submits it."""
    occurrence = _occurrence_arg()
    if occurrence is None or not reminder.has_left(occurrence):
        return None
    return (f"This reminder was moved to {_when(reminder)} after the notification you came "
            "from: this page would change nothing.")


def _done_form(reminder: Reminder) -> DoneForm:
    form = DoneForm(prefix=f"done{reminder.id}")
    form.medium.choices = [(None, "Just mark it done")] + [
        (m.id, m.name) for m in mediums_for(current_user)
    ]
    return form


@bp.route("/reminders/<int:reminder_id>/done", methods=["GET", "POST"])
@login_required
def done(reminder_id: int):
    reminder = services.get_reminder_or_404(current_user, reminder_id)
    form = _done_form(reminder)
    if form.validate_on_submit():
        try:
            # First: logging the interaction re-syncs keep-in-touch reminders, which would
            # close this one (if it is one) before mark_done and make it refuse.
            services.mark_done(reminder, occurrence=_occurrence_arg())
            if form.medium.data is not None and reminder.contact is not None:
                medium = get_medium_or_404(current_user, form.medium.data)
                log_interaction(
                    current_user,
                    InteractionData(
                        medium=medium,
                        occurred_at=utcnow(),
                        initiated_by=Initiator.ME,
                        participants=[reminder.contact],
                        summary=form.summary.data or reminder.title,
                    ),
                )
                sync_after_interaction(reminder.contact.id)
        except services.ReminderMovedError:
            db.session.rollback()
            flash(_moved(reminder, "notification"), "info")
        except services.ReminderStateError as exc:
            db.session.rollback()
            flash(str(exc).capitalize() + ".", "error")
        else:
            db.session.commit()
            flash("Done." + (" Interaction logged." if form.medium.data else "")
                  + (f" The next one is {_when(reminder)}." if reminder.is_open else ""),
                  "success")
        return redirect(back_to(url_for(".index")))
    return render_template("reminders/done.html", reminder=reminder, form=form,
                           moved_since=_moved_since_link(reminder)), (
        422 if form.errors else 200
    )


def sync_after_interaction(contact_id: int) -> None:
    """Logging an interaction resets the contact's keep-in-touch cadence."""
    services.sync_keep_in_touch(current_user.id, [contact_id])


@bp.route("/reminders/<int:reminder_id>/snooze", methods=["GET", "POST"])
@login_required
def snooze(reminder_id: int):
    reminder = services.get_reminder_or_404(current_user, reminder_id)
    form = SnoozeForm(prefix=f"snooze{reminder.id}",
                      now_local=wall_minute(utcnow(), current_user.time_zone))
    if form.validate_on_submit():
        until = _snooze_until(current_user, form)
        try:
            services.snooze(reminder, until, occurrence=_occurrence_arg())
        except services.ReminderMovedError:
            flash(_moved(reminder, "notification"), "info")
            return redirect(back_to(url_for(".index")))
        except services.ReminderStateError as exc:
            form.form_errors.append(str(exc).capitalize() + ".")
        else:
            db.session.commit()
            flash(f"Snoozed until {_when(reminder)}.", "success")
            return redirect(back_to(url_for(".index")))
    return render_template("reminders/snooze.html", reminder=reminder, form=form,
                           moved_since=_moved_since_link(reminder)), (
        422 if form.errors else 200
    )


def _snooze_until(user: User, form: SnoozeForm):
    choices = services.snooze_choices(user)
    if form.until.data in choices:
        return choices[form.until.data]
    return occurrence_utc(form.date.data, form.time.data or services.DEFAULT_LOCAL_TIME,
                          user.time_zone, utcnow())


@bp.post("/reminders/<int:reminder_id>/dismiss")
@login_required
def dismiss(reminder_id: int):
    reminder = services.get_reminder_or_404(current_user, reminder_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        services.dismiss(reminder)
    except services.ReminderStateError as exc:
        flash(str(exc).capitalize() + ".", "error")
    else:
        db.session.commit()
        flash("Reminder dismissed. It stays in your history.", "success")
    return redirect(back_to(url_for(".index")))


@bp.route("/reminders/cadences", methods=["GET", "POST"])
@login_required
def cadences():
    """Default keep-in-touch cadences per tag. Each field comes with the value it showed: a
    field sent back as shown keeps what is stored now (a page opened before a merge, or
    before another tab saved, changes only what the user changed), and one changed here
    and elsewhere since comes back to settle (409)."""
    tags = services.tags_with_cadences(current_user)
    form = ConfirmForm()
    errors: dict[int, str] = {}
    stored = {t.id: "" if t.keep_in_touch_days is None else str(t.keep_in_touch_days)
              for t in tags}
    values, shown = dict(stored), dict(stored)
    clash = False
    if form.validate_on_submit():
        parsed: dict[int, int | None] = {}
        for tag in tags:
            raw = request.form.get(f"tag-{tag.id}")
            if raw is None:  # not on the page that was sent (a tag made since)
                continue
            raw = raw.strip()
            base = request.form.get(f"shown-{tag.id}")
            # A form without bases (an older page, a script) sets what it sends.
            base = stored[tag.id] if base is None else base.strip()
            values[tag.id], shown[tag.id] = raw, base
            if raw == base and base != stored[tag.id]:
                # Left as shown: what is stored now stays, and is what a page shown again
                # (with another field's mistake) shows, and sends back as shown.
                values[tag.id] = shown[tag.id] = stored[tag.id]
                continue
            if raw != stored[tag.id] and base != stored[tag.id]:
                clash = True
                errors[tag.id] = (
                    "Changed since you opened this page, to "
                    + (f"every {stored[tag.id]} days" if stored[tag.id] else "no cadence")
                    + ". Save again to replace it with yours.")
                shown[tag.id] = stored[tag.id]
            elif not raw:
                parsed[tag.id] = None
            elif (raw.isascii() and raw.isdigit() and len(raw) <= 4
                  and 1 <= int(raw) <= CADENCE_MAX_DAYS):
                parsed[tag.id] = int(raw)
            else:
                errors[tag.id] = days_wanted(CADENCE_MAX_DAYS)
        if not errors:
            count = services.set_tag_cadences(current_user, parsed)
            db.session.commit()
            flash(f"Cadences saved ({count} changed).", "success")
            return redirect(url_for(".cadences"))
    status = 409 if clash else 422 if errors else 200
    return render_template("reminders/cadences.html", tags=tags, values=values, shown=shown,
                           errors=errors, clash=clash, form=form), status


@bp.get("/notifications")
@login_required
def notifications():
    return render_template(
        "reminders/notifications.html",
        page=services.notifications(current_user, page=page_arg()),
        confirm=ConfirmForm(),
    )


@bp.post("/notifications/read")
@login_required
def mark_read():
    if not ConfirmForm().validate_on_submit():
        abort(400)
    count = services.mark_all_read(current_user)
    db.session.commit()
    flash(f"{count} notification{'' if count == 1 else 's'} marked read.", "success")
    return redirect(url_for(".notifications"))


# -- signed links from emails ---------------------------------------------------


@bp.route("/r/<token>", methods=["GET", "POST"])
def email_action(token: str):
    try:
        data = links.read_token(token)
    except links.LinkExpired as expired:
        # 410, not 404: the link was genuine and will never work again; the reminder may
        # well still be there, a login away.
        return render_template("reminders/email_link_expired.html",
                               action=expired.data["a"], reminder_id=expired.data["r"]), 410
    if data is None:
        abort(404)
    # The owner first, under its lock when the link acts (every writing request locks its
    # user before their rows): a deactivated account's links are 404 while it is
    # deactivated, as its password links are, and a deactivation that committed first
    # is seen.
    owner = lock_user(data["u"]) if writing_request() else db.session.get(User, data["u"])
    if owner is None or not owner.is_active:
        abort(404)
    reminder = db.session.scalar(
        select(Reminder).where(Reminder.id == data["r"], Reminder.owner_id == owner.id)
    )
    if reminder is None:
        abort(404)
    action = data["a"]
    if action == "log":
        # Logging needs the full form: send the user there (login first if needed).
        target = url_for("interactions.new", contact=reminder.contact_id) if reminder.contact_id \
            else url_for("interactions.new")
        return redirect(target)
    form = ConfirmForm()
    choices = services.snooze_choices(owner)
    occurrence = datetime.fromisoformat(data["o"])
    if form.validate_on_submit():
        try:
            if action == "snooze":
                choice = request.form.get("until", "tomorrow")
                if choice not in choices:
                    abort(400)
                services.snooze(reminder, choices[choice], occurrence=occurrence)
                message = f"Snoozed until {_when(reminder, owner, zone=True)}."
            else:
                services.mark_done(reminder, occurrence=occurrence)
                message = "Marked done."
        except services.ReminderMovedError:
            db.session.rollback()
            message = _moved(reminder, "email", owner, zone=True) + " Open it in Rapport to " + (
                "snooze it." if action == "snooze" else "mark it done.")
        except services.ReminderStateError as exc:
            db.session.rollback()
            message = str(exc).capitalize() + "."
        else:
            db.session.commit()
        return render_template("reminders/email_action_done.html", reminder=reminder,
                               message=message)
    return render_template(
        "reminders/email_action.html",
        reminder=reminder,
        action=action,
        form=form,
        choices={k: to_local(v, owner.time_zone) for k, v in choices.items()},
        owner=owner,
    )


@bp.route("/unsubscribe/<token>", methods=["GET", "POST"])
@csrf.exempt  # mail providers POST without a CSRF token (RFC 8058); the signed token stands in
def unsubscribe(token: str):
    """One-click unsubscribe from an email: GET asks, POST turns reminder emails off."""
    user = services.unsubscribing_user(links.read_unsubscribe_token(token))
    if user is None:
        abort(404)
    if request.method == "POST":
        stopped = services.stop_emails(user)
        db.session.commit()
        return render_template("reminders/unsubscribed.html", stopped=stopped)
    return render_template("reminders/unsubscribe.html", user=user)


# -- calendar feed ----------------------------------------------------------------

_CALENDAR_TOKEN = re.compile(r"[A-Za-z0-9_-]{20,64}")


@bp.get("/calendar/<token>.ics")
def calendar(token: str):
    if not _CALENDAR_TOKEN.fullmatch(token):  # never asks the database about anything else
        abort(404)
    user = db.session.scalar(select(User).where(User.calendar_token == token))
    if user is None or not user.is_active:  # a deactivated account's feed is nobody's
        abort(404)
    body = calendar_feed.render(user, base_url=request.host_url.rstrip("/"))
    response = Response(body, mimetype="text/calendar")
    response.headers["Content-Disposition"] = 'inline; filename="rapport-reminders.ics"'
    response.headers["Cache-Control"] = "private, max-age=300"
    return response

