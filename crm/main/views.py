"""Home, health check, and what every page shows (unread count, worker banner)."""

from __future__ import annotations

from datetime import timedelta

from alembic.util import CommandError
from flask import Blueprint, current_app, jsonify, render_template, url_for
from flask_login import current_user
from sqlalchemy import func, select, text
from sqlalchemy.exc import OperationalError, ProgrammingError

from crm.auth.recovery import can_email
from crm.database import first_line, migrations_pending
from crm.extensions import db
from crm.interactions.services import recent_interactions
from crm.models import utcnow
from crm.models.reminder import WorkerHeartbeat

bp = Blueprint("main", __name__)


def last_heartbeat():
    """The most recent beat of any worker, or None."""
    return db.session.scalar(select(func.max(WorkerHeartbeat.beat_at)))


@bp.app_context_processor
def page_globals():
    """Unread notifications and whether reminders are paused, for the layout."""
    if not current_user or not current_user.is_authenticated:
        return {}
    from crm.reminders.services import layout_figures

    unread, beat = layout_figures(current_user)
    stale_after = timedelta(seconds=current_app.config["WORKER_STALE_AFTER_SECONDS"])
    return {
        "unread_count": unread,
        "worker_paused": beat is None or utcnow() - beat > stale_after,
        "worker_last_beat": beat,
    }


@bp.get("/")
def home():
    if not current_user.is_authenticated:
        return render_template("main/landing.html")
    from crm.coaching.services import notes_for_client
    from crm.insights import cache, presenters
    from crm.insights import services as insights

    now = utcnow()
    fig = cache.figures([current_user.id], now=now)[current_user.id]
    _, end_of_day = insights.today_bounds(current_user.time_zone, now)
    figures_html = cache.render_figures(
        "_partials/network_figures.html", fig,
        lambda: presenters.build(fig, shared_only=False),
        shared_only=False, key=("contacts.show",), now=now,
        contact_href=lambda contact_id: url_for("contacts.show", contact_id=contact_id),
    ) if fig.contacts else None
    return render_template(
        "main/home.html",
        fig=fig,
        figures_html=figures_html,
        due=insights.due_and_overdue(current_user.id, now=now, tz_end_of_day=end_of_day),
        now=now,
        coaching_notes=notes_for_client(current_user, limit=5),
        recent=recent_interactions(current_user, limit=8),
        sends_email=can_email(),
    )


@bp.get("/ping")
def ping():
    """The cheapest response the app can give: the framework floor for benchmarks."""
    return "pong", 200, {"Content-Type": "text/plain; charset=utf-8"}


@bp.get("/healthz")
def healthz():
    """For load balancers and monitoring: the database, and the workers' last heartbeat."""
    body: dict = {"status": "ok"}
    try:
        db.session.execute(text("SELECT 1"))
        body["database"] = "ok"
    except Exception as exc:  # noqa: BLE001 - report any database failure
        db.session.rollback()
        # The reason (host, port, refusal) goes to the log only: /healthz answers anyone.
        current_app.logger.warning("healthz: database unreachable: %s", first_line(exc))
        body["database"] = f"error: {exc.__class__.__name__}"
        body["status"] = "error"
        return jsonify(body), 503
    try:
        pending = migrations_pending(db.session)
        beat = last_heartbeat()
    except (OperationalError, ProgrammingError):  # reachable, but no tables: not migrated
        db.session.rollback()
        body.update(status="error", database="error: no schema yet (run crm db upgrade)")
        return jsonify(body), 503
    except CommandError:  # no migrations to compare with: not installed from a checkout
        body.update(status="error", database=(
            "error: cannot read the migrations (install Rapport from a checkout; see README)"))
        return jsonify(body), 503
    if pending is not None:  # pages that need the newer schema would fail
        body.update(status="error", database=(
            f"error: migrations pending, the database is at {pending[0]} and this code "
            f"needs {pending[1]} (run crm db upgrade)"))
        return jsonify(body), 503
    stale_after = current_app.config["WORKER_STALE_AFTER_SECONDS"]
    age = None if beat is None else (utcnow() - beat).total_seconds()
    body["worker"] = {
        "last_heartbeat": beat.isoformat() if beat else None,
        "seconds_since_heartbeat": round(age, 1) if age is not None else None,
        "status": "ok" if age is not None and age <= stale_after else "stale",
    }
    if body["worker"]["status"] != "ok":
        body["status"] = "degraded"
    return jsonify(body), 200
