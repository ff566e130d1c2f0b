"""Cached network figures.

The figures aggregate every interaction an owner has, so they are computed once
and kept in `insight_snapshots` until the network changes: every flush that adds,
changes or deletes a contact, interaction or tag bumps the owner's
`users.network_version`, and bulk statements call `mark_changed` themselves. A
snapshot is used only at the owner's current version and while younger than
INSIGHTS_CACHE_SECONDS, so a contact marked private disappears from a coach's
figures on the very next request. Reminder figures (overdue follow-ups, lapsed
cadences) change with time alone and are always computed live.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import delete, event, insert, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from crm.extensions import db
from crm.insights import services
from crm.insights.services import ColdContact, NetworkFigures, Strength
from crm.models import Contact, InsightSnapshot, Interaction, Tag, User, utcnow

log = logging.getLogger(__name__)
_TRACKED = (Contact, Interaction, Tag)


def mark_changed(owner_ids, session: Session | None = None) -> None:
    """Make every cached figure of these owners stale (inside the caller's transaction)."""
    ids = sorted({i for i in owner_ids if i is not None})
    if not ids:
        return
    (session or db.session).connection().execute(
        update(User.__table__)
        .where(User.__table__.c.id.in_(ids))
        .values(network_version=User.__table__.c.network_version + 1)
    )


@event.listens_for(Session, "after_flush")
def _network_changed(session: Session, flush_context) -> None:
    owners = set()
    for obj in list(session.new) + list(session.deleted):
        if isinstance(obj, _TRACKED):
            owners.add(obj.owner_id)
    for obj in session.dirty:
        if isinstance(obj, _TRACKED) and session.is_modified(obj, include_collections=True):
            owners.add(obj.owner_id)
    mark_changed(owners, session)


def figures(owner_ids: list[int], *, now: datetime | None = None,
            shared_only: bool = False) -> dict[int, NetworkFigures]:
    """Network figures per owner: from the cache where it is current, computed otherwise."""
    now = now or utcnow()
    if not owner_ids:
        return {}
    versions = dict(db.session.execute(
        select(User.id, User.network_version).where(User.id.in_(owner_ids))
    ).all())
    max_age = timedelta(seconds=current_app.config["INSIGHTS_CACHE_SECONDS"])
    result: dict[int, NetworkFigures] = {}
    for snap in db.session.scalars(
        select(InsightSnapshot).where(
            InsightSnapshot.owner_id.in_(owner_ids), InsightSnapshot.shared_only == shared_only
        )
    ):
        fresh = snap.version == versions.get(snap.owner_id) and (
            timedelta(0) <= now - snap.computed_at < max_age
        )
        if fresh:
            result[snap.owner_id] = _decode(snap.owner_id, snap.payload)
    stale = [oid for oid in owner_ids if oid not in result]
    if stale:
        computed = services.network_figures(stale, now=now, shared_only=shared_only,
                                            with_reminders=False)
        _store(computed, versions, now, shared_only)
        result.update(computed)
    services.add_reminder_figures(result, owner_ids, now=now, shared_only=shared_only)
    return {oid: result[oid] for oid in owner_ids}


def _store(computed: dict[int, NetworkFigures], versions, now, shared_only) -> None:
    """Save snapshots on a connection of their own; a failure only costs a recompute."""
    rows = [
        {"owner_id": oid, "shared_only": shared_only, "version": versions.get(oid, 0),
         "computed_at": now, "payload": _encode(fig)}
        for oid, fig in computed.items()
    ]
    try:
        with db.engine.begin() as connection:
            connection.execute(
                delete(InsightSnapshot).where(
                    InsightSnapshot.owner_id.in_(list(computed)),
                    InsightSnapshot.shared_only == shared_only,
                )
            )
            connection.execute(insert(InsightSnapshot), rows)
    except (IntegrityError, DBAPIError) as exc:  # a concurrent request stored it first
        log.info("insight snapshot not stored: %s", exc.__class__.__name__)


def _encode(fig: NetworkFigures) -> str:
    return json.dumps({
        "contacts": fig.contacts, "active": fig.active, "interactions": fig.interactions,
        "strengths": [[s.contact_id, s.score, s.weight, s.interactions,
                       s.last_at.isoformat() if s.last_at else None] for s in fig.strengths],
        "cold": [[c.contact_id, c.reason, c.since.isoformat() if c.since else None, c.days]
                 for c in fig.cold],
        "mix": fig.mix, "mix_by_month": fig.mix_by_month, "breadth": fig.breadth,
        "origins": fig.origins, "paths": [[a, b, n] for (a, b), n in fig.paths.items()],
        "reciprocity": fig.reciprocity, "new_by_month": fig.new_by_month,
    })


def _when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _decode(owner_id: int, payload: str) -> NetworkFigures:
    data = json.loads(payload)

    def ints(mapping):
        return {int(k): v for k, v in mapping.items()}

    return NetworkFigures(
        owner_id=owner_id,
        contacts=data["contacts"], active=data["active"], interactions=data["interactions"],
        strengths=[Strength(c, s, w, n, _when(t)) for c, s, w, n, t in data["strengths"]],
        cold=[ColdContact(c, r, _when(t), d) for c, r, t, d in data["cold"]],
        mix=ints(data["mix"]),
        mix_by_month={m: ints(v) for m, v in data["mix_by_month"].items()},
        breadth=ints(data["breadth"]), origins=ints(data["origins"]),
        paths={(a, b): n for a, b, n in data["paths"]},
        reciprocity=data["reciprocity"], new_by_month=data["new_by_month"],
    )
