"""Home: a landing page for visitors, the latest activity for users."""

from __future__ import annotations

from flask import Blueprint, render_template
from flask_login import current_user
from sqlalchemy import func, select

from crm.extensions import db
from crm.interactions.services import recent_interactions
from crm.models import Contact

bp = Blueprint("main", __name__)


@bp.get("/")
def home():
    if not current_user.is_authenticated:
        return render_template("main/landing.html")
    contact_count = db.session.scalar(
        select(func.count()).select_from(Contact).where(
            Contact.owner_id == current_user.id, Contact.archived_at.is_(None)
        )
    )
    return render_template(
        "main/home.html",
        recent=recent_interactions(current_user, limit=15),
        contact_count=contact_count or 0,
    )
