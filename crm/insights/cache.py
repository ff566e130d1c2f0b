"""Cached network figures.

The figures aggregate every interaction an owner has, so they are computed once
and kept in `insight_snapshots` until the network changes: every flush that adds,
changes or deletes a contact, interaction, medium or tag gives the owner's
`users.network_version` a new random value, and bulk statements call `mark_changed`
themselves. A snapshot is used only at the owner's current version and while younger than
INSIGHTS_CACHE_SECONDS (or within the grace below), so a contact marked private disappears
from a coach's figures on the very next request. Reminder figures (overdue follow-ups, lapsed
cadences) change with time alone and are always computed live.

Expiry accounts only for recency drifting, so the expired figures of an unchanged network
are still shown for INSIGHTS_GRACE_SECONDS while the worker recomputes them (the page marks
the snapshot wanted): whoever keeps using Rapport does not wait for a whole aggregate every
INSIGHTS_CACHE_SECONDS. Past the grace (no worker running), the page computes them itself.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta

from flask import current_app
from markupsafe import Markup
from sqlalchemy import bindparam, case, delete, event, insert, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from crm.database import ASIDE_FAILURES, write_aside
from crm.extensions import db
from crm.insights import services
from crm.insights.services import ColdContact, NetworkFigures, Strength
from crm.memo import MISSING, memo
from crm.models import Contact, InsightSnapshot, Interaction, Medium, Tag, User, utcnow
from crm.models.user import new_network_version

log = logging.getLogger(__name__)
# How long a process shows expired figures before it looks for the worker's new ones.
AGED_RECHECK = timedelta(seconds=5)
# How long a worker's claim on one owner's refresh lasts: far longer than an aggregate
# takes (about a second at 100,000 interactions); a failed or abandoned refresh is taken up
# again after it.
REFRESH_LEASE = timedelta(minutes=5)
_TRACKED = (Contact, Interaction, Medium, Tag)  # a medium's name labels the figures
# Raised whenever a stored figure changes what it counts, so that snapshots stored before
# are recomputed instead of shown. 2: "interactions" counts each interaction once, not once
# per participant. 3: "archived", whether the owner has archived contacts.
PAYLOAD_FORMAT = 3


@functools.cache
def _new_version_statement():
    # Built once per process: every write of a network runs it (see crm.database.user_by_id).
    users = User.__table__
    return (update(users).where(users.c.id.in_(bindparam("ids", expanding=True)))
            .values(network_version=bindparam("version")))


def mark_changed(owner_ids, session: Session | None = None) -> None:
    """Make every cached figure of these owners stale (inside the caller's transaction)."""
    ids = sorted({i for i in owner_ids if i is not None})
    if not ids:
        return
    session = session or db.session
    session.connection().execute(_new_version_statement(),
                                 {"ids": ids, "version": new_network_version()})
    # A User already loaded in this session reads its new version on next access, so a
    # memo keyed by it later in the same transaction never answers for the old network.
    for user_id in ids:
        user = session.identity_map.get(identity_key(User, user_id))
        if user is not None:
            session.expire(user, ["network_version"])


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


def figures(owner_ids: list[int], *, now: datetime | None = None, shared_only: bool = False,
            lapsed: bool = True) -> dict[int, NetworkFigures]:
    """Network figures per owner: from the cache where it is current (or expired within the
    grace, see the module's docstring), computed otherwise.
    With lapsed=False, lapsed keep-in-touch cadences are not added to the contacts going
    cold (for pages that show only counts).

    Decoded snapshots are also memoised in this process at the owner's version, so a
    page view at an unchanged network neither reads nor decodes the snapshot."""
    now = now or utcnow()
    if not owner_ids:
        return {}
    versions = dict(db.session.execute(
        select(User.id, User.network_version).where(User.id.in_(owner_ids))
    ).all())
    decoded = memo("network_figures")
    result: dict[int, NetworkFigures] = {}
    for oid in owner_ids:
        fig = decoded.get((oid, shared_only), versions.get(oid), now)
        if fig is not MISSING:
            result[oid] = fig
    missing = [oid for oid in owner_ids if oid not in result]
    if missing:
        config = current_app.config
        max_age = timedelta(seconds=config["INSIGHTS_CACHE_SECONDS"])
        grace = timedelta(seconds=config["INSIGHTS_GRACE_SECONDS"])
        wanted = []
        for snap in db.session.scalars(
            select(InsightSnapshot).where(
                InsightSnapshot.owner_id.in_(missing), InsightSnapshot.shared_only == shared_only
            )
        ):
            if snap.version != versions.get(snap.owner_id):
                continue  # the network changed: never shown
            fig = _decode(snap.owner_id, snap.payload, snap.computed_at)
            if fig is None:
                continue  # counted by an earlier Rapport: recomputed, never shown
            age = now - snap.computed_at
            if timedelta(0) <= age < max_age:
                at = snap.computed_at
            elif max_age <= age < max_age + grace:
                # Only recency has drifted: shown while the worker recomputes them, and
                # asked for once; this process looks for the new figures again shortly,
                # and never keeps these past the grace.
                at = min(now - max_age + AGED_RECHECK, snap.computed_at + grace)
                if snap.wanted_at is None:
                    wanted.append(snap.owner_id)
            else:
                continue
            result[snap.owner_id] = fig
            decoded.put((snap.owner_id, shared_only), snap.version, result[snap.owner_id], at)
        if wanted:
            _want(wanted, now, shared_only)
        stale = [oid for oid in missing if oid not in result]
        if stale:
            computed = services.network_figures(stale, now=now, shared_only=shared_only,
                                                with_reminders=False)
            for fig in computed.values():
                fig.computed_at = now
            _store(computed, versions, now, shared_only)
            result.update(computed)
            for oid, fig in computed.items():
                decoded.put((oid, shared_only), versions.get(oid), fig, now)
    # The memoised figures stay as stored; the clock-driven ones go on a copy.
    live = {oid: replace(result[oid], cold=list(result[oid].cold), version=versions.get(oid, 0),
                         lapsed=())
            for oid in owner_ids}
    services.add_reminder_figures(live, owner_ids, now=now, shared_only=shared_only,
                                  lapsed=lapsed)
    return live


def render_figures(template: str, fig: NetworkFigures, view: Callable[[], object], *,
                   shared_only: bool, key: tuple = (), now: datetime | None = None,
                   **context) -> Markup:
    """A partial that shows one owner's figures, rendered once per network version,
    computation of the figures (a worker's refresh shows at once) and state of the
    clock-driven figures (going cold, overdue) in this process.

    `view()` builds what the partial renders (a presenters.FigureView) and is called only
    when the memo misses; `key` names whatever else the partial shows (names, links).
    The partial is rendered with `view`, `fig` and `context` and without the layout's
    context processors."""
    now = now or utcnow()
    live_state = (fig.overdue_follow_ups, fig.lapsed)

    def render() -> Markup:
        # noqa below: the partial is an autoescaping .html template; its output is safe.
        return Markup(current_app.jinja_env.get_template(template).render(  # noqa: S704
            view=view(), fig=fig, **context))

    return memo("figures_html").get_or_compute(
        (template, fig.owner_id, shared_only),
        (fig.version, fig.computed_at, live_state, *key), now, render)


def contact_figures(owner: User, contact, *, now: datetime | None = None,
                    shared_only: bool = False) -> dict:
    """One contact's figures (services.contact_figures), memoised in this process at the
    owner's network version: a contact with thousands of interactions costs its aggregate
    once per change of the network, not once per page view. Treat the result as read-only."""
    now = now or utcnow()
    return memo("contact_figures").get_or_compute(
        (owner.id, contact.id, shared_only),
        owner.network_version,
        now,
        lambda: services.contact_figures(owner.id, contact, now=now, shared_only=shared_only),
    )


def refresh_stale(now: datetime, limit: int = 10) -> int:
    """Recompute the stored figures of owners whose network changed since they were
    computed, so the next page view finds them current instead of aggregating the whole
    network itself (0.35–0.7 s at 100,000 interactions), then the expired ones a page
    showed and asked for (`wanted_at`). The worker runs this every
    FIGURES_REFRESH_SECONDS. Only owners with a snapshot are refreshed (someone looks at
    their figures), the most recently looked at first, at most `limit` a run.

    Everything is read in transactions that take no write lock (SQLite's would hold up
    every web process for the whole aggregate); each owner's figures are stored in a short
    write, labelled with the version read before they were, and only if that is still the
    owner's version: a change made meanwhile leaves the old snapshot stale (never wrong),
    and a page that stored newer figures in the meantime keeps them. Each owner is claimed
    first (`refreshing_until`), so several workers share the work instead of repeating it.
    One owner whose figures fail is logged and skipped until its claim lapses. Returns
    how many snapshots were stored."""
    db.session.connection(execution_options={"rapport_writes": False})
    changed = InsightSnapshot.version != User.network_version
    stale = db.session.execute(
        select(InsightSnapshot.owner_id, InsightSnapshot.shared_only, User.network_version)
        .join(User, User.id == InsightSnapshot.owner_id)
        .where(or_(changed, InsightSnapshot.wanted_at.is_not(None)), _unclaimed(now))
        # Changed networks first: their next page view would aggregate; expired figures
        # are still shown meanwhile.
        .order_by(case((changed, 0), else_=1), InsightSnapshot.computed_at.desc(),
                  InsightSnapshot.owner_id)
        .limit(limit)
    ).all()
    db.session.rollback()
    stored = 0
    for owner_id, shared_only, version in stale:
        if not _claim(owner_id, shared_only, version, now):
            continue  # another worker has it, or has just refreshed it
        try:
            db.session.connection(execution_options={"rapport_writes": False})
            computed = services.network_figures([owner_id], now=now, shared_only=shared_only,
                                                with_reminders=False)
            db.session.rollback()  # the reads end here; the write below is short
            current = db.session.scalar(select(User.network_version).where(User.id == owner_id))
            if current == version and _store(computed, {owner_id: version}, now, shared_only):
                stored += 1  # a new row: neither wanted nor claimed
            else:  # changed meanwhile: free for the next run at once
                db.session.execute(_claims(owner_id, shared_only).values(refreshing_until=None))
            db.session.commit()
        except Exception:
            db.session.rollback()
            # The claim stays until it lapses: a failing owner is retried once a lease.
            log.exception("figures of owner %s not refreshed", owner_id)
    return stored


def _unclaimed(now: datetime):
    return or_(InsightSnapshot.refreshing_until.is_(None), InsightSnapshot.refreshing_until <= now)


def _claims(owner_id: int, shared_only: bool):
    return update(InsightSnapshot).where(
        InsightSnapshot.owner_id == owner_id, InsightSnapshot.shared_only == shared_only
    ).execution_options(synchronize_session=False)


def _claim(owner_id: int, shared_only: bool, version: int, now: datetime) -> bool:
    """Take the owner's refresh for REFRESH_LEASE in a short write of its own, unless
    another worker holds it or the snapshot is no longer changed nor wanted: workers on
    any number of nodes then never aggregate the same network at once."""
    claimed = db.session.execute(
        _claims(owner_id, shared_only)
        .where(_unclaimed(now),
               or_(InsightSnapshot.version != version, InsightSnapshot.wanted_at.is_not(None)))
        .values(refreshing_until=now + REFRESH_LEASE)
    ).rowcount
    db.session.commit()
    return claimed == 1


def _want(owner_ids: list[int], now: datetime, shared_only: bool) -> None:
    """Ask the worker to recompute these owners' expired figures (a write aside; when it
    cannot be made at once, a later page view asks again)."""
    try:
        with write_aside() as connection:
            connection.execute(
                update(InsightSnapshot)
                .where(InsightSnapshot.owner_id.in_(owner_ids),
                       InsightSnapshot.shared_only == shared_only,
                       InsightSnapshot.wanted_at.is_(None))
                .values(wanted_at=now)
            )
    except ASIDE_FAILURES as exc:
        log.info("expired figures not flagged: %s", exc.__class__.__name__)


def _store(computed: dict[int, NetworkFigures], versions, now, shared_only) -> bool:
    """Save snapshots aside from the request's work; a failure only costs a recompute.
    Tells whether they were saved."""
    rows = [
        {"owner_id": oid, "shared_only": shared_only, "version": versions.get(oid, 0),
         "computed_at": now, "payload": _encode(fig)}
        for oid, fig in computed.items()
    ]
    try:
        with write_aside() as connection:
            connection.execute(
                delete(InsightSnapshot).where(
                    InsightSnapshot.owner_id.in_(list(computed)),
                    InsightSnapshot.shared_only == shared_only,
                )
            )
            connection.execute(insert(InsightSnapshot), rows)
    except ASIDE_FAILURES as exc:  # e.g. a concurrent request stored it first
        log.info("insight snapshot not stored: %s", exc.__class__.__name__)
        return False
    return True


def _encode(fig: NetworkFigures) -> str:
    return json.dumps({
        "format": PAYLOAD_FORMAT,
        "contacts": fig.contacts, "archived": fig.archived, "active": fig.active,
        "interactions": fig.interactions,
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


def _decode(owner_id: int, payload: str, computed_at: datetime) -> NetworkFigures | None:
    """The stored figures, or None when they were stored in another format."""
    data = json.loads(payload)
    if data.get("format") != PAYLOAD_FORMAT:
        return None

    def ints(mapping):
        return {int(k): v for k, v in mapping.items()}

    return NetworkFigures(
        owner_id=owner_id,
        contacts=data["contacts"], archived=data["archived"], active=data["active"],
        interactions=data["interactions"],
        strengths=[Strength(c, s, w, n, _when(t)) for c, s, w, n, t in data["strengths"]],
        cold=sorted((ColdContact(c, r, _when(t), d) for c, r, t, d in data["cold"]),
                    key=services.cold_order),
        mix=ints(data["mix"]),
        mix_by_month={m: ints(v) for m, v in data["mix_by_month"].items()},
        breadth=ints(data["breadth"]), origins=ints(data["origins"]),
        paths={(a, b): n for a, b, n in data["paths"]},
        reciprocity=data["reciprocity"], new_by_month=data["new_by_month"],
        computed_at=computed_at,
    )
