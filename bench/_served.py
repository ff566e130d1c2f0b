"""The app bench/pages.py serves: crm:create_app() plus one route of its own.

POST /bench/write-floor is the cheapest honest authenticated write the stack can make: the
session cookie and Flask-Login's user, the CSRF check, one interaction and one participant
inserted through the ORM, a commit and a redirect. It validates nothing and refreshes
nothing, so no real form POST can be cheaper; the benchmark prints its req/s beside the
log-interaction POST's, as the floor for pages that write. The route exists only in this
benchmark's server, never in the product.
"""

from __future__ import annotations

from flask import redirect, request
from flask_login import current_user, login_required
from sqlalchemy import insert

from crm import create_app
from crm.extensions import db
from crm.models import Initiator, Interaction, interaction_participants, utcnow

app = create_app()


@login_required
def write_floor():
    interaction = Interaction(
        owner_id=current_user.id, medium_id=int(request.form["medium"]), occurred_at=utcnow(),
        initiated_by=Initiator.ME, summary=request.form["summary"][:200], notes="",
    )
    db.session.add(interaction)
    db.session.flush()
    db.session.execute(insert(interaction_participants).values(
        interaction_id=interaction.id, contact_id=int(request.form["participants"])))
    db.session.commit()
    return redirect("/")


app.add_url_rule("/bench/write-floor", "bench_write_floor", write_floor, methods=["POST"])
