"""The REST API at /api/v1: bearer tokens only (no session cookies, no CSRF), problem+json
errors, a per-token rate limit, and an OpenAPI document generated from these declarations."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable
from datetime import datetime

from flask import Blueprint, current_app, g, jsonify, render_template, request, url_for
from sqlalchemy import select
from werkzeug.exceptions import NotFound, PreconditionFailed

from crm.api import tokens
from crm.api.cursors import CursorRefused, make_cursor, read_cursor
from crm.api.registry import API_PREFIX, ApiSpec, BadBody, Response, UnsupportedBody
from crm.api.schema import Field, Schema, ValidationFailed, example_for
from crm.contacts import services as contacts
from crm.contacts.channels import ChannelError, normalise_channel
from crm.contacts.picker import choosable, joined
from crm.database import lock_user, writing_request
from crm.errors import problem
from crm.extensions import db
from crm.interactions import services as interactions
from crm.interactions.forms import SEARCH_MAX, search_refusal
from crm.mediums import services as mediums
from crm.models import (
    Contact,
    ContactChannel,
    Initiator,
    Interaction,
    Medium,
    Recurrence,
    Reminder,
    ReminderKind,
    Tag,
    interaction_participants,
    utcnow,
)
from crm.models.contact import CADENCE_MAX_DAYS, TAG_MAX_LENGTH
from crm.models.reminder import OPEN_STATUSES
from crm.reminders import services as reminders
from crm.tags import services as tags
from crm.timezones import is_valid_timezone, to_local

bp = Blueprint("api", __name__)
spec = ApiSpec(
    bp,
    title="Rapport API",
    version="1.0.0",
    description=(
        "Your contacts, their handles, interactions on every medium, mediums, tags and "
        "reminders. "
        "Authenticate with a personal access token: `Authorization: Bearer rap_…`. Errors are "
        "`application/problem+json`; a 422 carries `errors`, a message per field. Ids of "
        "anything that is not yours answer 404. Send a write with an `Idempotency-Key` to "
        "send it again safely when its answer never came."
    ),
)
PUBLIC_ENDPOINTS = {"api.openapi_document", "api.docs"}


def _user():
    return g.api_user


@bp.before_request
def _authenticate():
    """Bearer token only: a session cookie alone is not enough."""
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return _unauthorized("Send a personal access token: Authorization: Bearer <token>.")
    found = tokens.authenticate(value.strip())
    if found is None:
        return _unauthorized("The token is unknown or has been revoked.")
    token, user = found
    retry_after = current_app.extensions["rapport_api_rate_limiter"].hit(token)
    if retry_after is not None:
        response = problem(429, "Too Many Requests",
                           f"This token made too many requests; retry in {retry_after} s.")
        response.headers["Retry-After"] = str(retry_after)
        return response
    if writing_request():  # take the user's lock first, as every writing request does
        # Read again under the lock: an account deleted or deactivated by a transaction
        # that committed after the token's check is refused, as load_user refuses a
        # session, rather than let one write through.
        user = lock_user(user.id)
        if user is None or not user.is_active:
            return _unauthorized("The token is unknown or has been revoked.")
    tokens.touch(token)
    g.api_user = user
    g.api_token = token
    return None


def _unauthorized(detail: str):
    response = problem(401, "Unauthorized", detail)
    response.headers["WWW-Authenticate"] = 'Bearer realm="Rapport API"'
    return response


@bp.errorhandler(ValidationFailed)
def _invalid(error: ValidationFailed):
    db.session.rollback()
    return problem(422, "Unprocessable Content", "Some fields are invalid.", errors=error.errors)


@bp.errorhandler(BadBody)
def _bad_body(error):
    return problem(400, "Bad Request", "The body must be JSON (Content-Type: application/json).")


@bp.errorhandler(UnsupportedBody)
def _unsupported_body(error):
    return problem(415, "Unsupported Media Type",
                   "Send the body as JSON, with Content-Type: application/json.")


def _written() -> None:
    """End a view's write: flush it and read it back as stored, as after a commit, for the
    answer. The route commits the write with that answer, and with the answer kept under an
    Idempotency-Key, in one transaction (crm.api.idempotency.write_once)."""
    db.session.flush()
    db.session.expire_all()


def _cursor_problem(detail: str):
    """400: a cursor that cannot go on (the detail says why); nothing was read."""
    return problem(400, "Bad Request", detail)


def _cursor_or_page(query: dict) -> None:
    """422 for a request that asks for both a cursor and a page number."""
    if query["cursor"] is not None and query["page"] is not None:
        raise ValidationFailed({"page": "Send either page or cursor, not both."})


def _continued(list_name: str, query: dict, names: tuple[str, ...], filters: dict,
               position):
    """The filters and position a list request goes on with: its own filters and None,
    or, given a cursor, the cursor's (read by `position`). CursorRefused for a cursor
    Rapport did not give this user for this list, or one sent with other filters: any
    of `names` sent beside it, even empty or false, must be the very ones it carries."""
    if not query["cursor"]:
        return filters, None
    carried, after = read_cursor(list_name, query["cursor"], _user().id, position)
    if any(query[name] is not None for name in names) and filters != carried:
        raise CursorRefused("The cursor was made for other filters: send it alone (it "
                            "carries its own) or with the very filters of the page that "
                            "gave it.")
    return carried, after


def _conflict(detail: str):
    db.session.rollback()
    return problem(409, "Conflict", detail)


def _version(body: dict) -> str:
    """A resource's ETag: the digest of its JSON, so it changes exactly when what a client
    reads changes (any field, updated_at included), however the change was made."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def _versioned(body: dict, status: int = 200):
    """The resource with its ETag; a GET (or HEAD) whose If-None-Match holds it answers
    304."""
    response = jsonify(body)
    response.status_code = status
    response.set_etag(_version(body))
    return response.make_conditional(request) if request.method in ("GET", "HEAD") \
        else response


# The header every 201 of a resource one can GET carries.
CREATED = {"Location": {"schema": {"type": "string", "format": "uri-reference"},
                        "description": "The new resource's address (GET it)."}}


def _created(response, endpoint: str, **ids):
    """201 Created, with the new resource's address in Location (kept with an
    Idempotency-Key's answer, so a retry learns it too)."""
    response.status_code = 201
    response.headers["Location"] = url_for(f"{bp.name}.{endpoint}", **ids)
    return response


def _unchanged_since_read(current: Callable[[], dict], noun: str) -> None:
    """Refuse (412) a change whose If-Match names another version than the current one:
    someone changed the resource since this client read it, and applying the change would
    silently undo theirs. Checked under the user's lock, which every writing request takes
    first, so two clients holding one version cannot both pass. `current` builds the
    resource's JSON, only when an If-Match asks for it (a contact's reads its handles)."""
    condition = request.if_match
    if not condition or condition.star_tag or condition.contains(_version(current())):
        return
    raise PreconditionFailed(
        f"The {noun} changed since the version in If-Match: read it again (GET gives its "
        "current ETag), then send your change with that ETag. Nothing was changed.")


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")


# --- schemas -------------------------------------------------------------------------

ID = {"type": "integer"}
NULLABLE_ID = {"type": ["integer", "null"]}
DATETIME = {"type": "string", "format": "date-time"}
NULLABLE_DATETIME = {"type": ["string", "null"], "format": "date-time"}


def _object(properties: dict, description: str = "") -> dict:
    schema = {"type": "object", "properties": properties, "required": list(properties),
              "additionalProperties": False}
    if description:
        schema["description"] = description
    return schema


def _page_of(ref: dict) -> dict:
    return _object({
        "items": {"type": "array", "items": ref},
        "page": {"type": "integer"},
        "per_page": {"type": "integer"},
        "total": {"type": "integer"},
        "pages": {"type": "integer"},
    })


CHANNEL = spec.component("Channel", _object({
    "id": ID,
    "medium_id": ID,
    "value": {"type": "string", "examples": ["https://www.linkedin.com/in/ada-lovelace"]},
    "label": {"type": "string", "examples": ["work"]},
}, "A contact's handle on a medium: an address, number, @handle or profile link."))

CONTACT = spec.component("Contact", _object({
    "id": ID,
    "name": {"type": "string", "examples": ["Ada Lovelace"]},
    "company": {"type": "string", "examples": ["Analytical Engines"]},
    "title": {"type": "string", "examples": ["Mathematician"]},
    "location": {"type": "string", "examples": ["London"]},
    "time_zone": {"type": ["string", "null"], "examples": ["Europe/London"]},
    "notes": {"type": "string"},
    "tags": {"type": "array", "items": {"type": "string"}, "examples": [["conference"]]},
    "origin_medium_id": NULLABLE_ID,
    "origin_date": {"type": ["string", "null"], "format": "date", "examples": ["2010-11-22"]},
    "introduced_by_id": NULLABLE_ID,
    "keep_in_touch_days": {"type": ["integer", "null"], "examples": [30]},
    "is_private": {"type": "boolean"},
    "archived": {"type": "boolean"},
    "last_interaction_at": NULLABLE_DATETIME,
    "created_at": DATETIME,
    "updated_at": DATETIME,
    "channels": {"type": "array", "items": CHANNEL},
}, "A person in your network."))

INTERACTION = spec.component("Interaction", _object({
    "id": ID,
    "medium_id": ID,
    "occurred_at": DATETIME,
    "initiated_by": {"type": "string", "enum": [i.value for i in Initiator]},
    "summary": {"type": "string", "examples": ["Coffee after the talk"]},
    "notes": {"type": "string"},
    "is_private": {"type": "boolean"},
    "participant_ids": {"type": "array", "items": ID, "examples": [[1]]},
    "created_at": DATETIME,
    "updated_at": DATETIME,
}, "One touch of a relationship, on any medium, with one or more contacts."))

MEDIUM = spec.component("Medium", _object({
    "id": ID,
    "name": {"type": "string", "examples": ["Mastodon"]},
    "builtin": {"type": "boolean"},
}, "Where an interaction happens. Built-ins are shared; your own you can rename or delete."))

REMINDER = spec.component("Reminder", _object({
    "id": ID,
    "title": {"type": "string", "examples": ["Follow up with Ada Lovelace"]},
    "notes": {"type": "string"},
    "kind": {"type": "string", "enum": ["follow_up", "keep_in_touch", "custom"]},
    "status": {"type": "string", "enum": [
        "pending", "claimed", "delivered", "done", "dismissed", "cancelled"]},
    "due_at": DATETIME,
    "recurrence": {"type": "string", "enum": [r.value for r in Recurrence]},
    "time_zone": {"type": "string", "examples": ["Europe/London"]},
    "contact_id": NULLABLE_ID,
    "interaction_id": NULLABLE_ID,
    "snoozed_count": {"type": "integer"},
    "created_at": DATETIME,
    "completed_at": NULLABLE_DATETIME,
}, "Something to do at a time: a follow-up, a keep-in-touch nudge or your own."))

PAGE = Field("integer", maximum=100000, description="Page number, from 1.", example=1)
PER_PAGE = Field("integer", maximum=100, description="Items per page (at most 100).",
                 example=25)


def _pagination(page) -> dict:
    return {"page": page.page, "per_page": page.per_page, "total": page.total or 0,
            "pages": page.pages}


# --- serialisers ---------------------------------------------------------------------


def _channel_json(ch: ContactChannel) -> dict:
    return {"id": ch.id, "medium_id": ch.medium_id, "value": ch.value, "label": ch.label or ""}


def _contact_json(c: Contact, channels: list[ContactChannel]) -> dict:
    return {
        "id": c.id, "name": c.name, "company": c.company or "", "title": c.title or "",
        "location": c.location or "", "time_zone": c.time_zone, "notes": c.notes or "",
        "tags": c.tag_names, "origin_medium_id": c.origin_medium_id,
        "origin_date": c.origin_date.isoformat() if c.origin_date else None,
        "introduced_by_id": c.introduced_by_id, "keep_in_touch_days": c.keep_in_touch_days,
        "is_private": bool(c.is_private), "archived": c.is_archived,
        "last_interaction_at": _iso(c.last_interaction_at), "created_at": _iso(c.created_at),
        "updated_at": _iso(c.updated_at),
        "channels": [_channel_json(ch) for ch in channels],
    }


def _channels_by_contact(ids: list[int]) -> dict[int, list[ContactChannel]]:
    found: dict[int, list[ContactChannel]] = {i: [] for i in ids}
    if ids:
        for ch in db.session.scalars(select(ContactChannel).where(
                ContactChannel.contact_id.in_(ids)).order_by(ContactChannel.id)):
            found[ch.contact_id].append(ch)
    return found


def _one_contact_json(c: Contact) -> dict:
    db.session.refresh(c)
    return _contact_json(c, _channels_by_contact([c.id])[c.id])


def _participants(ids: list[int]) -> dict[int, list[int]]:
    found: dict[int, list[int]] = {i: [] for i in ids}
    if ids:
        for iid, cid in db.session.execute(
            select(interaction_participants.c.interaction_id, interaction_participants.c.contact_id)
            .where(interaction_participants.c.interaction_id.in_(ids))
            .order_by(interaction_participants.c.contact_id)
        ):
            found[iid].append(cid)
    return found


def _interaction_json(i: Interaction, participant_ids: list[int]) -> dict:
    return {
        "id": i.id, "medium_id": i.medium_id, "occurred_at": _iso(i.occurred_at),
        "initiated_by": Initiator(i.initiated_by).value, "summary": i.summary,
        "notes": i.notes or "", "is_private": bool(i.is_private),
        "participant_ids": participant_ids, "created_at": _iso(i.created_at),
        "updated_at": _iso(i.updated_at),
    }


def _one_interaction_json(i: Interaction) -> dict:
    db.session.refresh(i)
    return _interaction_json(i, _participants([i.id])[i.id])


def _medium_json(m: Medium) -> dict:
    return {"id": m.id, "name": m.name, "builtin": m.is_builtin}


def _reminder_json(r: Reminder) -> dict:
    return {
        "id": r.id, "title": r.title, "notes": r.notes or "", "kind": r.kind.value,
        "status": r.status.value, "due_at": _iso(r.due_at), "recurrence": r.recurrence.value,
        "time_zone": r.time_zone, "contact_id": r.contact_id,
        "interaction_id": r.interaction_id, "snoozed_count": r.snoozed_count or 0,
        "created_at": _iso(r.created_at), "completed_at": _iso(r.completed_at),
    }


# --- contacts --------------------------------------------------------------------------

TAG = Field("string", min_length=1, max_length=40)
_CONTACT_FIELDS = {
    "name": Field("string", required=True, min_length=1, max_length=120,
                  example="Ada Lovelace"),
    "company": Field("string", max_length=120, example="Analytical Engines"),
    "title": Field("string", max_length=120, example="Mathematician"),
    "location": Field("string", max_length=120),
    "time_zone": Field("string", nullable=True, max_length=64,
                       description="An IANA zone, e.g. Europe/London."),
    "notes": Field("string", max_length=20000, strip=False),
    "tags": Field("array", items=TAG, max_items=30, example=["conference", "design"],
                  description="No comma, line break, tab or invisible character in a tag, as "
                              "on the web (a tag the contact carries already stays)."),
    "origin_medium_id": Field("integer", nullable=True,
                              description="The medium you first met on."),
    "origin_date": Field("date", nullable=True, description="When you first met."),
    "introduced_by_id": Field("integer", nullable=True,
                              description="Another of your contacts, not archived (an "
                                          "archived one who introduced them already stays)."),
    "keep_in_touch_days": Field("integer", nullable=True, maximum=CADENCE_MAX_DAYS,
                                description="A keep-in-touch reminder every N days."),
    "is_private": Field("boolean", description="Never shown to a coach."),
}
CONTACT_INPUT = Schema("ContactInput", _CONTACT_FIELDS)
CONTACT_PATCH = Schema("ContactPatch", {
    **{name: Field(f.type, nullable=f.nullable, min_length=f.min_length,
                   max_length=f.max_length, minimum=f.minimum, maximum=f.maximum,
                   items=f.items, max_items=f.max_items, description=f.description,
                   strip=f.strip)
       for name, f in _CONTACT_FIELDS.items()},
    "archived": Field("boolean", description="Archive (true) or restore (false)."),
}, description="Only the fields you send change.")


def _visible_medium(medium_id: int | None) -> Medium | None:
    if medium_id is None:
        return None
    return db.session.scalar(
        select(Medium).where(Medium.id == medium_id, mediums.visible_to(_user())))


def _chosen(ids: list[int], unknown: str, *, keep: Iterable[Contact] = ()
            ) -> tuple[list[Contact], str | None]:
    """The contacts these ids name, if the user may choose them as a web picker lets them
    (crm.contacts.picker.choosable: active ones, archived ones only among `keep`, the
    record's own), else why not: `unknown` for an id not among theirs, or who is archived."""
    found = choosable(_user(), ids, keep=keep)
    if len(found) == len(ids):
        return found, None
    # Only a refusal pays for this second query: it names the archived, as the web's list
    # shows them, so the client knows what to do.
    chosen = {c.id for c in found}
    missing = [i for i in ids if i not in chosen]
    archived = contacts.get_contacts(_user(), missing)
    if len(archived) != len(missing):
        return found, unknown
    names = [c.name for c in archived]
    return found, (f"{joined(names)} {'is' if len(names) == 1 else 'are'} archived: "
                   "restore them first.")


def _contact_data(body: dict, current: Contact | None = None) -> contacts.ContactData:
    """Merge the body onto the current values; check the references are the user's."""
    errors: dict[str, str] = {}
    if "time_zone" in body and body["time_zone"] and not is_valid_timezone(body["time_zone"]):
        errors["time_zone"] = "Give an IANA time zone such as Europe/London."
    refusal = contacts.tags_refusal(body.get("tags", []),
                                    carried=current.tag_names if current is not None else ())
    if refusal:
        errors["tags"] = refusal
    if contacts.first_met_later_than_today(_user(), body.get("origin_date")):
        errors["origin_date"] = contacts.FIRST_MET_LATER_THAN_TODAY
    origin = current.origin_medium if current is not None else None
    if "origin_medium_id" in body:
        origin = _visible_medium(body["origin_medium_id"])
        if body["origin_medium_id"] is not None and origin is None:
            errors["origin_medium_id"] = "No such medium among yours."
    introducer = current.introduced_by if current is not None else None
    if "introduced_by_id" in body:
        introducer = None
        wanted = body["introduced_by_id"]
        if current is not None and wanted == current.id:
            errors["introduced_by_id"] = "A contact cannot introduce themselves."
        elif wanted is not None:
            own = current.introduced_by if current is not None else None
            found, error = _chosen([wanted], "No such contact among yours.",
                                   keep=[own] if own is not None else ())
            if error:
                errors["introduced_by_id"] = error
            else:
                introducer = found[0]
    if errors:
        raise ValidationFailed(errors)

    def pick(name, default):
        return body.get(name, default)

    return contacts.ContactData(
        name=pick("name", current.name if current else ""),
        company=pick("company", current.company if current else ""),
        title=pick("title", current.title if current else ""),
        location=pick("location", current.location if current else ""),
        time_zone=pick("time_zone", current.time_zone if current else None) or None,
        notes=pick("notes", current.notes if current else ""),
        tags=contacts.parse_tags(",".join(pick("tags", current.tag_names if current else []))),
        origin_medium=origin,
        origin_date=pick("origin_date", current.origin_date if current else None),
        introduced_by=introducer,
        keep_in_touch_days=pick("keep_in_touch_days",
                                current.keep_in_touch_days if current else None),
        is_private=pick("is_private", current.is_private if current else False),
    )


def _next_cursor(what: str) -> dict:
    return {"type": ["string", "null"],
            "description": f"Send it as `cursor` for the {what} after this page, with the "
                           "same filters; null on the last page."}


def _cursor_page(name: str, items: dict, what: str, description: str) -> dict:
    """The schema of a page asked for by cursor: no count."""
    return spec.component(name, _object({
        "items": {"type": "array", "items": items}, "per_page": {"type": "integer"},
        "next_cursor": _next_cursor(what)}, description))


CONTACT_CURSOR_PAGE = _cursor_page(
    "ContactCursorPage", CONTACT, "contacts",
    "A page of contacts by name asked for by `cursor`: not counted, so no `total`.")
_CONTACT_FILTERS = ("q", "tag", "archived")


def _name_position(value) -> contacts.NamePosition:
    """A contact list's position as a cursor keeps it: [sort_name, id]."""
    sort_name, contact_id = value
    if not isinstance(sort_name, str) or type(contact_id) is not int:
        raise ValueError(value)
    return contacts.NamePosition(sort_name, contact_id)


@spec.route(
    "GET", "/contacts", tag="Contacts", summary="List contacts",
    description="Search by name, company, tag or handle; filter by tag; page through. By "
                "name (the default order) a list can be walked by cursor: ask with "
                "`cursor` empty, then with each answer's `next_cursor` until it is null; "
                "each page holds the contacts after the last one of the page before, "
                "each once however many are added or deleted meanwhile (one renamed moves "
                "to where its new name files), no count, so no `total`. A cursor carries "
                "its filters: send it alone or with the very same ones (else 400, as for "
                "a cursor Rapport did not give you); one whose tag was renamed, merged or "
                "deleted since is a 404. `cursor` with another `sort`, or with `page`, is "
                "a 422.",
    query={
        "q": Field("string", max_length=100, description="Text to search for.",
                   example="ada"),
        "tag": Field("string", max_length=40, description="Only contacts with this tag."),
        "archived": Field("boolean", description="true lists archived contacts instead."),
        "sort": Field("string", enum=list(contacts.SORTS),
                      description="name, -name, last (recent first) or -last."),
        "cursor": Field("string", description="A `next_cursor` from a page of this list by "
                                              "name, to go on after it; empty for the "
                                              "first page of a walk by cursor."),
        "page": PAGE, "per_page": PER_PAGE,
    },
    errors=(400, 404),
    ok=Response(200, "A page of contacts: by number, or by cursor.",
                {"oneOf": [_page_of(CONTACT), CONTACT_CURSOR_PAGE]}),
)
def list_contacts(query):
    if query["cursor"] is not None:
        return _contacts_by_cursor(query)
    page = contacts.list_contacts(
        _user(), q=query["q"] or "", tag=query["tag"] or "", sort=query["sort"] or "name",
        archived=bool(query["archived"]), page=query["page"] or 1,
        per_page=query["per_page"] or 25,
    )
    channels = _channels_by_contact([c.id for c in page.items])
    return jsonify({"items": [_contact_json(c, channels[c.id]) for c in page.items],
                    **_pagination(page)})


def _contacts_by_cursor(query):
    """A page of contacts by name after a cursor (or the first, for an empty one)."""
    user = _user()
    _cursor_or_page(query)
    if query["sort"] not in (None, "name"):
        raise ValidationFailed({"sort": "A cursor walks the list by name: leave sort out."})
    # archived=false is sent, but kept as no filter (a cursor keeps only true).
    filters = {name: query[name] for name in _CONTACT_FILTERS if query[name]}
    try:
        filters, after = _continued("contacts", query, _CONTACT_FILTERS, filters,
                                    _name_position)
    except CursorRefused as exc:
        return _cursor_problem(str(exc))
    if after is not None and filters.get("tag") and not contacts.tags_named(user,
                                                                           filters["tag"]):
        # Else the walk would end here, empty, as if it had read every contact.
        return problem(404, "Not Found", (
            f"You have no tag named {filters['tag']!r} any more (renamed, merged or "
            "deleted since): the tag filter this cursor carries cannot go on; start "
            "again without it."))
    per_page = query["per_page"] or 25
    found = contacts.contacts_by_name(
        user, q=filters.get("q", ""), tag=filters.get("tag", ""),
        archived=bool(filters.get("archived")), after=after, per_page=per_page)
    channels = _channels_by_contact([c.id for c in found.items])
    return jsonify({
        "items": [_contact_json(c, channels[c.id]) for c in found.items],
        "per_page": per_page,
        "next_cursor": make_cursor("contacts", user.id, filters,
                                   [found.after.sort_name, found.after.id])
        if found.after is not None else None})


@spec.route("POST", "/contacts", tag="Contacts", summary="Create a contact",
            body=CONTACT_INPUT, ok=Response(201, "The new contact.", CONTACT, CREATED),
            versioned=True)
def create_contact(body):
    body = body()
    contact = contacts.create_contact(_user(), _contact_data(body))
    _written()
    return _created(_versioned(_one_contact_json(contact)), "get_contact", contact_id=contact.id)


@spec.route("GET", "/contacts/{contact_id}", tag="Contacts", summary="Get a contact",
            ok=Response(200, "The contact, with its handles.", CONTACT), versioned=True)
def get_contact(contact_id):
    return _versioned(_one_contact_json(contacts.get_contact_or_404(_user(), contact_id)))


@spec.route("PATCH", "/contacts/{contact_id}", tag="Contacts", summary="Update a contact",
            body=CONTACT_PATCH, partial=True, ok=Response(200, "The updated contact.", CONTACT),
            versioned=True)
def update_contact(contact_id, body):
    contact = contacts.get_contact_or_404(_user(), contact_id)
    _unchanged_since_read(lambda: _one_contact_json(contact), "contact")
    body = body()
    fields = {k: v for k, v in body.items() if k != "archived"}
    if fields:
        try:
            contacts.update_contact(_user(), contact, _contact_data(fields, contact))
        except ValueError as exc:
            raise ValidationFailed(
                {"introduced_by_id": "That would make an introduction cycle."}) from exc
    if "archived" in body and body["archived"] != contact.is_archived:
        contacts.set_archived(contact, body["archived"])
    _written()
    return _versioned(_one_contact_json(contact))


@spec.route("DELETE", "/contacts/{contact_id}", tag="Contacts", summary="Delete a contact",
            description="Their handles go too, and every reminder about them (open or "
                        "ended), and the interactions only they took part in; shared "
                        "interactions stay, without them. People they introduced stay, "
                        "with introduced_by_id null.",
            ok=Response(204, "Deleted."), versioned=True)
def delete_contact(contact_id):
    contact = contacts.get_contact_or_404(_user(), contact_id)
    _unchanged_since_read(lambda: _one_contact_json(contact), "contact")
    contacts.delete_contact(contact)
    _written()
    return "", 204


# --- channels --------------------------------------------------------------------------

CHANNEL_INPUT = Schema("ChannelInput", {
    "medium_id": Field("integer", required=True, example=5),
    "value": Field("string", required=True, min_length=1, max_length=255,
                   example="https://www.linkedin.com/in/ada-lovelace",
                   description="Checked and normalised for the medium (emails, E.164 "
                               "phones, @handles, profile links)."),
    "label": Field("string", max_length=40, example="work"),
})


@spec.route("GET", "/contacts/{contact_id}/channels", tag="Contacts",
            summary="List a contact's handles",
            ok=Response(200, "The handles.", {"type": "array", "items": CHANNEL}))
def list_channels(contact_id):
    contact = contacts.get_contact_or_404(_user(), contact_id)
    return jsonify([_channel_json(ch) for ch in _channels_by_contact([contact.id])[contact.id]])


@spec.route("POST", "/contacts/{contact_id}/channels", tag="Contacts",
            summary="Add a handle to a contact", body=CHANNEL_INPUT,
            ok=Response(201, "The new handle.", CHANNEL))
def add_channel(contact_id, body):
    contact = contacts.get_contact_or_404(_user(), contact_id)
    body = body()
    medium = _visible_medium(body["medium_id"])
    if medium is None:
        raise ValidationFailed({"medium_id": "No such medium among yours."})
    try:
        value = normalise_channel(medium, body["value"],
                                  phone_region=current_app.config.get("PHONE_DEFAULT_REGION"))
    except ChannelError as exc:
        raise ValidationFailed({"value": str(exc)}) from exc
    try:
        channel = contacts.add_channel(contact, medium, value, body.get("label", ""))
    except ValueError as exc:
        raise ValidationFailed({"value": "The contact has this handle already."}) from exc
    _written()
    return jsonify(_channel_json(channel)), 201


@spec.route("DELETE", "/contacts/{contact_id}/channels/{channel_id}", tag="Contacts",
            summary="Remove a handle", ok=Response(204, "Removed."))
def remove_channel(contact_id, channel_id):
    contact = contacts.get_contact_or_404(_user(), contact_id)
    contacts.remove_channel(contacts.get_channel_or_404(contact, channel_id))
    _written()
    return "", 204


# --- interactions --------------------------------------------------------------------

_INTERACTION_FIELDS = {
    "medium_id": Field("integer", required=True, example=1),
    "occurred_at": Field("date-time", required=True, example="2025-06-01T09:30:00Z",
                         description="With an offset; stored in UTC. Not more than a day "
                                     "ahead of now, as on the web: log interactions that "
                                     "happened."),
    "initiated_by": Field("string", enum=[i.value for i in Initiator],
                          description="Who reached out (default me)."),
    "participant_ids": Field("array", required=True, min_items=1, max_items=50,
                             items=Field("integer"), example=[1],
                             description="Your contacts who took part, not archived ones "
                                         "(an interaction's own archived participants "
                                         "stay)."),
    "summary": Field("string", required=True, min_length=1, max_length=200,
                     example="Coffee after the talk"),
    "notes": Field("string", max_length=20000, strip=False),
    "is_private": Field("boolean"),
}
INTERACTION_INPUT = Schema("InteractionInput", _INTERACTION_FIELDS)
INTERACTION_PATCH = Schema("InteractionPatch", {
    name: Field(f.type, min_length=f.min_length, max_length=f.max_length, enum=f.enum,
                items=f.items, min_items=f.min_items, max_items=f.max_items,
                description=f.description, strip=f.strip)
    for name, f in _INTERACTION_FIELDS.items()
}, description="Only the fields you send change.")


def _interaction_data(body: dict, current: Interaction | None = None
                      ) -> interactions.InteractionData:
    errors: dict[str, str] = {}
    medium = current.medium if current is not None else None
    if "medium_id" in body:
        medium = _visible_medium(body["medium_id"])
        if medium is None:
            errors["medium_id"] = "No such medium among yours."
    participants = list(current.participants) if current is not None else []
    if "participant_ids" in body:
        wanted = list(dict.fromkeys(body["participant_ids"]))
        participants, error = _chosen(
            wanted, "Every participant must be one of your contacts.",
            keep=current.participants if current is not None else ())
        if error:
            errors["participant_ids"] = error
    # The web form's rule, whenever a time is sent (a PATCH resending a stored one too).
    if "occurred_at" in body and interactions.more_than_a_day_ahead(body["occurred_at"],
                                                                    utcnow()):
        errors["occurred_at"] = interactions.MORE_THAN_A_DAY_AHEAD
    if errors:
        raise ValidationFailed(errors)

    def pick(name, default):
        return body.get(name, default)

    return interactions.InteractionData(
        medium=medium,
        occurred_at=pick("occurred_at", current.occurred_at if current else None),
        initiated_by=Initiator(pick("initiated_by", current.initiated_by if current else "me")),
        participants=participants,
        summary=pick("summary", current.summary if current else ""),
        notes=pick("notes", current.notes if current else ""),
        is_private=pick("is_private", current.is_private if current else False),
    )


INTERACTION_PAGE = spec.component("InteractionPage", _object({
    "items": {"type": "array", "items": INTERACTION},
    "page": {"type": "integer"},
    "per_page": {"type": "integer"},
    "total": {"type": "integer"},
    "pages": {"type": "integer"},
    "next_cursor": _next_cursor("interactions"),
}, "A page asked for by number (`page`), counted: `total` interactions in `pages` pages."))
INTERACTION_CURSOR_PAGE = _cursor_page(
    "InteractionCursorPage", INTERACTION, "interactions",
    "A page asked for by `cursor`, or of a search (`q`): not counted, so no `total`.")
# The API's filters of the list, by the names a cursor keeps them under.
_INTERACTION_FILTERS = ("contact_id", "medium_id", "since", "until", "q")


def _interaction_filters(query: dict) -> dict:
    """The filters a request sets, as a cursor keeps them (JSON values: times in UTC)."""
    found = {name: query[name] for name in _INTERACTION_FILTERS
             if query[name] is not None and query[name] != ""}
    for name in ("since", "until"):
        if name in found:
            found[name] = _iso(found[name])
    return found


@spec.route(
    "GET", "/interactions", tag="Interactions", summary="List interactions",
    description="Newest first (ties by id). Filter by contact, medium, a time range and "
                "what was said (`q`). To walk the whole list, or one that may change while "
                "you read it, follow `next_cursor`: send it back as `cursor` and you get "
                "the interactions strictly after the last one you have, in the same order "
                "and with the same filters, each once, however many are logged or deleted "
                "meanwhile (one whose time is edited moves with it), at the same cost on "
                "the thousandth page as on the first. Send "
                "`cursor` empty to start a walk at the newest without counting. A cursor "
                "carries the filters it was made with: send it alone, or with the very "
                "same filters (another filter is a 400, as is a cursor Rapport did not "
                "give you). Cursor pages and searches are not counted: they answer "
                "`items`, `per_page` and `next_cursor`, no `total`. `page` (counted from "
                "the newest, with `total` and `pages`, and a `next_cursor` to go on by "
                "cursor) still works, but an interaction logged while you page by number "
                "moves the rest by one, and a deep page costs more than the first. A "
                "search (`q`) is paged by cursor: `page` above 1 with `q` is a 422.",
    query={
        "contact_id": Field("integer", description="Only interactions with this contact."),
        "medium_id": Field("integer", description="Only interactions on this medium."),
        "since": Field("date-time", description="At or after this time.",
                       example="2025-01-01T00:00:00Z"),
        "until": Field("date-time", description="Before this time."),
        "q": Field("string", max_length=SEARCH_MAX, check=search_refusal, example="coffee",
                   description="Only interactions whose summary or notes contain this "
                               "text, in any case, as the web list's search: one line, "
                               f"at most {SEARCH_MAX} characters."),
        "cursor": Field("string", description="A `next_cursor` from a page of this list, "
                                              "to go on after it; empty for the first page "
                                              "of a walk by cursor."),
        "page": PAGE, "per_page": PER_PAGE,
    },
    errors=(400, 404),
    ok=Response(200, "A page of interactions: by number, or by cursor or search.",
                {"oneOf": [INTERACTION_PAGE, INTERACTION_CURSOR_PAGE]}),
)
def list_interactions(query):
    user = _user()
    _cursor_or_page(query)
    try:
        filters, after = _continued("interactions", query, _INTERACTION_FILTERS,
                                    _interaction_filters(query), interactions.Position.parse)
    except CursorRefused as exc:
        return _cursor_problem(str(exc))
    if "q" in filters and (query["page"] or 1) > 1:
        raise ValidationFailed({"page": "A search is not counted, so it has no page "
                                        "numbers: follow next_cursor instead."})
    contact_id, medium_id = filters.get("contact_id"), filters.get("medium_id")
    looking_for = "contact"
    try:
        if contact_id is not None:
            contact_id = contacts.get_contact_or_404(user, contact_id).id
        looking_for = "medium"
        if medium_id is not None:
            medium_id = mediums.get_medium_or_404(user, medium_id).id
    except NotFound:
        return problem(404, "Not Found", (
            f"No such {looking_for} among yours: the {looking_for}_id filter"
            + (" this cursor carries names one deleted since: start again without it."
               if query["cursor"] else " names none of yours.")))
    per_page = query["per_page"] or 25
    if query["cursor"] is not None or "q" in filters:
        found = interactions.activity(user, interactions.ActivityFilters(
            medium_id=medium_id, contact_id=contact_id, words=filters.get("q", ""),
            since=_instant(filters.get("since")), until=_instant(filters.get("until")),
        ), older=after, per_page=per_page)
        return jsonify({"items": [_listed_interaction_json(i) for i in found.items],
                        "per_page": per_page,
                        "next_cursor": make_cursor("interactions", user.id, filters,
                                                   found.older.token)
                        if found.older is not None else None})
    q = interactions.interactions_for(user)
    if contact_id is not None:
        q = interactions.with_contact(q, contact_id)
    if medium_id is not None:
        q = q.where(Interaction.medium_id == medium_id)
    if query["since"] is not None:
        q = q.where(Interaction.occurred_at >= query["since"])
    if query["until"] is not None:
        q = q.where(Interaction.occurred_at < query["until"])
    if contact_id is None:  # with_contact orders a contact's interactions
        q = q.order_by(Interaction.occurred_at.desc(), Interaction.id.desc())
    page = db.paginate(q, page=query["page"] or 1, per_page=per_page,
                       error_out=False, max_per_page=100)
    people = _participants([i.id for i in page.items])
    return jsonify({"items": [_interaction_json(i, people[i.id]) for i in page.items],
                    **_pagination(page),
                    "next_cursor": make_cursor("interactions", user.id, filters,
                                               interactions.Position.of(page.items[-1]).token)
                    if page.has_next and page.items else None})


def _instant(value: str | None) -> datetime | None:
    """A time a cursor or a request's filters keep (ours, in UTC: checked when it was
    sent, in the zone it was sent in, so not against the year range again)."""
    return None if value is None else datetime.fromisoformat(value)


def _listed_interaction_json(i: Interaction) -> dict:
    """An interaction of a keyset page, whose participants the page loaded with it."""
    return _interaction_json(i, sorted(c.id for c in i.participants))


@spec.route("POST", "/interactions", tag="Interactions", summary="Log an interaction",
            body=INTERACTION_INPUT, ok=Response(201, "The new interaction.", INTERACTION, CREATED),
            versioned=True)
def create_interaction(body):
    body = body()
    interaction = interactions.log_interaction(_user(), _interaction_data(body))
    _written()
    return _created(_versioned(_one_interaction_json(interaction)), "get_interaction",
                    interaction_id=interaction.id)


@spec.route("GET", "/interactions/{interaction_id}", tag="Interactions",
            summary="Get an interaction", ok=Response(200, "The interaction.", INTERACTION),
            versioned=True)
def get_interaction(interaction_id):
    return _versioned(_one_interaction_json(
        interactions.get_interaction_or_404(_user(), interaction_id)))


@spec.route("PATCH", "/interactions/{interaction_id}", tag="Interactions",
            summary="Update an interaction", body=INTERACTION_PATCH, partial=True,
            ok=Response(200, "The updated interaction.", INTERACTION), versioned=True)
def update_interaction(interaction_id, body):
    interaction = interactions.get_interaction_or_404(_user(), interaction_id)
    _unchanged_since_read(lambda: _one_interaction_json(interaction), "interaction")
    interactions.update_interaction(interaction, _interaction_data(body(), interaction))
    _written()
    return _versioned(_one_interaction_json(interaction))


@spec.route("DELETE", "/interactions/{interaction_id}", tag="Interactions",
            summary="Delete an interaction", ok=Response(204, "Deleted."), versioned=True)
def delete_interaction(interaction_id):
    interaction = interactions.get_interaction_or_404(_user(), interaction_id)
    _unchanged_since_read(lambda: _one_interaction_json(interaction), "interaction")
    interactions.delete_interaction(interaction)
    _written()
    return "", 204


# --- mediums -------------------------------------------------------------------------

MEDIUM_INPUT = Schema("MediumInput", {
    "name": Field("string", required=True, min_length=1, max_length=60, example="Mastodon"),
})


@spec.route("GET", "/mediums", tag="Mediums", summary="List mediums",
            description="Built-ins and your own, alphabetically. No medium ranks above another.",
            ok=Response(200, "Every medium you can use.", {"type": "array", "items": MEDIUM}))
def list_mediums():
    return jsonify([_medium_json(m) for m in mediums.mediums_for(_user())])


@spec.route("POST", "/mediums", tag="Mediums", summary="Add a medium of your own",
            body=MEDIUM_INPUT, ok=Response(201, "The new medium.", MEDIUM, CREATED))
def create_medium(body):
    body = body()
    try:
        medium = mediums.create_medium(_user(), body["name"])
    except mediums.MediumNameTaken as exc:
        raise ValidationFailed({"name": "You have a medium with this name already."}) from exc
    except mediums.MediumNameInvalid as exc:
        raise ValidationFailed({"name": str(exc)}) from exc
    _written()
    return _created(jsonify(_medium_json(medium)), "get_medium", medium_id=medium.id)


@spec.route("GET", "/mediums/{medium_id}", tag="Mediums", summary="Get a medium",
            ok=Response(200, "The medium.", MEDIUM))
def get_medium(medium_id):
    return jsonify(_medium_json(mediums.get_medium_or_404(_user(), medium_id)))


def _own_medium(medium_id: int) -> Medium:
    medium = mediums.get_medium_or_404(_user(), medium_id)
    if medium.is_builtin:
        from flask import abort

        abort(403, "Built-in mediums cannot be changed.")
    return medium


@spec.route("PATCH", "/mediums/{medium_id}", tag="Mediums", summary="Rename a medium",
            body=MEDIUM_INPUT, errors=(403,), ok=Response(200, "The renamed medium.", MEDIUM))
def rename_medium(medium_id, body):
    medium = _own_medium(medium_id)
    body = body()
    try:
        mediums.rename_medium(_user(), medium, body["name"])
    except mediums.MediumNameTaken as exc:
        raise ValidationFailed({"name": "You have a medium with this name already."}) from exc
    except mediums.MediumNameInvalid as exc:
        raise ValidationFailed({"name": str(exc)}) from exc
    _written()
    return jsonify(_medium_json(medium))


@spec.route("DELETE", "/mediums/{medium_id}", tag="Mediums", summary="Delete an unused medium",
            description="A medium in use (by interactions, handles or origins) answers 409: "
                        "delete it in the web app, which moves what uses it.",
            errors=(403, 409), ok=Response(204, "Deleted."))
def delete_medium(medium_id):
    medium = _own_medium(medium_id)
    if any(mediums.usage(medium).values()):
        return _conflict("The medium is in use; move what uses it first.")
    mediums.delete_medium(_user(), medium, None)
    _written()
    return "", 204


# --- tags ----------------------------------------------------------------------------

TAG_RESOURCE = spec.component("Tag", _object({
    "id": ID,
    "name": {"type": "string", "examples": ["conference"]},
    "keep_in_touch_days": {"type": ["integer", "null"], "examples": [30],
                           "description": "The default keep-in-touch cadence of the contacts "
                                          "carrying it that have none of their own."},
    "active_contacts": {"type": "integer", "description": "Contacts carrying it, not archived."},
    "archived_contacts": {"type": "integer", "description": "Archived contacts carrying it."},
}, "A label on your contacts, with how many carry it and its default cadence."))
TAG_PATCH = Schema("TagPatch", {
    "name": Field("string", min_length=1, max_length=TAG_MAX_LENGTH, example="Conference 2025",
                  description="A new name, checked as the tags page checks it: white space "
                              "collapsed, no comma, line break, tab or invisible character. "
                              "Another of your tags' name, in any case or spelling, is a "
                              "409: merge the two with POST /tags/{tag_id}/merge."),
    "keep_in_touch_days": Field("integer", nullable=True, maximum=CADENCE_MAX_DAYS,
                                description="The default keep-in-touch cadence in days of "
                                            "the contacts carrying the tag that have none of "
                                            "their own (null for none); their keep-in-touch "
                                            "reminders follow."),
}, description="Only the fields you send change.")
TAG_MERGE = Schema("TagMerge", {
    "into_id": Field("integer", required=True, example=2,
                     description="Another of your tags, which keeps its name: every contact "
                                 "carrying this tag carries that one instead (once)."),
    "keep_in_touch_days": Field("integer", nullable=True, maximum=CADENCE_MAX_DAYS,
                                description="The default cadence the merged tag keeps: one "
                                            "of the two, required when each tag has its own. "
                                            "Otherwise the one there is stays (or none): "
                                            "leave it out."),
})


def _tag_json(use: tags.TagUse) -> dict:
    return {"id": use.tag.id, "name": use.tag.name,
            "keep_in_touch_days": use.tag.keep_in_touch_days,
            "active_contacts": use.active, "archived_contacts": use.archived}


def _one_tag_json(tag: Tag) -> dict:
    return _tag_json(tags.tag_use(_user(), tag))


def _tag_to_change(tag_id: int) -> Tag:
    """One of the user's tags, still the version an If-Match names (else 404, 412)."""
    tag = tags.get_own_tag_or_404(_user(), tag_id)
    _unchanged_since_read(lambda: _one_tag_json(tag), "tag")
    return tag


@spec.route("GET", "/tags", tag="Tags", summary="List tags",
            description="Every tag of yours, alphabetically with accents set aside (as the "
                        "tags page lists them), each with the contacts carrying it counted "
                        "and its default cadence.",
            query={"page": PAGE, "per_page": PER_PAGE},
            ok=Response(200, "A page of tags.", _page_of(TAG_RESOURCE)))
def list_tags(query):
    # All counted in one statement, then paged here: the order is Python's (Tag.sort_key),
    # the same on both databases, and a user has tags by the hundred at most.
    uses = tags.tags_in_use(_user())
    page, per_page = query["page"] or 1, query["per_page"] or 25
    return jsonify({"items": [_tag_json(u) for u in uses[(page - 1) * per_page:page * per_page]],
                    "page": page, "per_page": per_page, "total": len(uses),
                    "pages": -(-len(uses) // per_page)})


@spec.route("GET", "/tags/{tag_id}", tag="Tags", summary="Get a tag",
            ok=Response(200, "The tag.", TAG_RESOURCE), versioned=True)
def get_tag(tag_id):
    return _versioned(_one_tag_json(tags.get_own_tag_or_404(_user(), tag_id)))


@spec.route("PATCH", "/tags/{tag_id}", tag="Tags", summary="Rename a tag or set its cadence",
            description="A rename reaches every contact carrying the tag (their `updated_at` "
                        "moves). A rename never merges: a name another of your tags has, in "
                        "any case or spelling, answers 409 with that tag in `tag` (its `id` "
                        "and `name`) and changes nothing; merge them with POST "
                        "/tags/{tag_id}/merge.",
            body=TAG_PATCH, partial=True, errors=(409,),
            ok=Response(200, "The tag after the change.", TAG_RESOURCE), versioned=True)
def update_tag(tag_id, body):
    user, tag = _user(), _tag_to_change(tag_id)
    body = body()
    if "name" in body and body["name"] != tag.name:  # as read: no rename (the Tags page's rule)
        try:
            name = tags.tag_name(body["name"])
        except tags.TagNameInvalid as exc:
            raise ValidationFailed({"name": str(exc)}) from exc
        other = tags.namesake(user, tag, name)
        if other is not None:
            named, detail = {"id": other.id, "name": other.name}, (
                f"Your tag “{other.name}” (id {other.id}) has that name, in any case or "
                "spelling: renaming onto it would merge the two, which a rename never does. "
                f"Nothing was changed. To merge {tag.name} into it, POST "
                f'/api/v1/tags/{tag.id}/merge with {{"into_id": {other.id}}}.')
            db.session.rollback()
            return problem(409, "Conflict", detail, tag=named)
        tags.rename_tag(user, tag, name)
    if "keep_in_touch_days" in body:
        reminders.set_tag_cadences(user, {tag.id: body["keep_in_touch_days"]})
    _written()
    return _versioned(_one_tag_json(tag))


def _merge_cadence(tag: Tag, into: Tag, body: dict) -> int | None:
    """The default cadence a merge keeps (crm.tags.services.merge_cadences): the one the
    body chooses when each tag has its own, else the one there is, which the body may
    name but not change."""
    cadences = tags.merge_cadences(tag, into)
    days = body.get("keep_in_touch_days")
    if len(cadences) == 2:
        if days not in cadences:
            raise ValidationFailed({"keep_in_touch_days": (
                f"Both tags have a default cadence: keep {tag.keep_in_touch_days} "
                f"({tag.name}’s) or {into.keep_in_touch_days} ({into.name}’s).")})
        return days
    kept = next(iter(cadences), None)
    if "keep_in_touch_days" in body and days != kept:
        owner = tag if tag.keep_in_touch_days == kept else into
        raise ValidationFailed({"keep_in_touch_days": (
            f"The merged tag keeps {kept}, {owner.name}’s, the one default cadence of the two."
            if kept else "Neither tag has a default cadence: leave it out, and set one "
                         "after the merge (PATCH).")})
    return kept


@spec.route("POST", "/tags/{tag_id}/merge", tag="Tags", summary="Merge a tag into another",
            description="Every contact carrying this tag carries `into_id`'s instead (a "
                        "contact carrying both keeps one); this tag goes, and the other keeps "
                        "its name and the cadence chosen. Keep-in-touch reminders follow. An "
                        "If-Match with this tag's ETag merges only if it is unchanged (else "
                        "412).",
            body=TAG_MERGE, errors=(412,),
            ok=Response(200, "The tag merged into, after the merge.", TAG_RESOURCE),
            versioned=True)
def merge_tag(tag_id, body):
    user, tag = _user(), _tag_to_change(tag_id)
    body = body()
    into = tags.own_tag(user, body["into_id"])
    if into is None:
        raise ValidationFailed({"into_id": "No such tag among yours."})
    if into.id == tag.id:
        raise ValidationFailed({"into_id": "A tag cannot merge into itself."})
    tags.merge_tags(user, tag, into, into.name, _merge_cadence(tag, into, body))
    _written()
    return _versioned(_one_tag_json(into))


@spec.route("DELETE", "/tags/{tag_id}", tag="Tags", summary="Delete a tag",
            description="The contacts carrying it are kept, without it; their keep-in-touch "
                        "reminders follow the cadences left to them. Its ETag counts the "
                        "contacts carrying it: with If-Match, a tag another was merged into "
                        "since is not deleted (412).",
            ok=Response(204, "Deleted."), versioned=True)
def delete_tag(tag_id):
    user, tag = _user(), _tag_to_change(tag_id)
    tags.delete_tag(user, tag)
    _written()
    return "", 204


# --- reminders -----------------------------------------------------------------------

REMINDER_INPUT = Schema("ReminderInput", {
    "title": Field("string", required=True, min_length=1, max_length=200,
                   example="Send Ada the paper"),
    "due_at": Field("date-time", required=True, example="2025-06-03T09:00:00+01:00",
                    description="When; a repeating reminder keeps this wall time in your "
                                "time zone."),
    "recurrence": Field("string", enum=[r.value for r in Recurrence],
                        description="none (default), daily, weekly, monthly or yearly."),
    "contact_id": Field("integer", nullable=True,
                        description="One of your contacts, not an archived one."),
    "notes": Field("string", max_length=5000, strip=False),
})
SNOOZE_INPUT = Schema("SnoozeInput", {
    "until": Field("date-time", required=True, example="2025-06-04T09:00:00Z",
                   description="A time in the future."),
})


@spec.route(
    "GET", "/reminders", tag="Reminders", summary="List open reminders",
    description="Soonest first. when=due: due now or overdue; when=upcoming: still to come.",
    query={
        "when": Field("string", enum=["due", "upcoming", "all"],
                      description="due, upcoming or all (default) open reminders."),
        "contact_id": Field("integer", description="Only reminders about this contact."),
        "page": PAGE, "per_page": PER_PAGE,
    },
    errors=(404,),
    ok=Response(200, "A page of reminders.", _page_of(REMINDER)),
)
def list_reminders(query):
    q = reminders.reminders_for(_user()).where(Reminder.status.in_(OPEN_STATUSES))
    now = utcnow()
    if query["when"] == "due":
        q = q.where(Reminder.due_at <= now)
    elif query["when"] == "upcoming":
        q = q.where(Reminder.due_at > now)
    if query["contact_id"] is not None:
        contact = contacts.get_contact_or_404(_user(), query["contact_id"])
        q = q.where(Reminder.contact_id == contact.id)
    page = db.paginate(q.order_by(Reminder.due_at, Reminder.id), page=query["page"] or 1,
                       per_page=query["per_page"] or 25, error_out=False, max_per_page=100)
    return jsonify({"items": [_reminder_json(r) for r in page.items], **_pagination(page)})


@spec.route("POST", "/reminders", tag="Reminders", summary="Create a reminder",
            body=REMINDER_INPUT, ok=Response(201, "The new reminder.", REMINDER, CREATED))
def create_reminder(body):
    body = body()
    user = _user()
    contact = None
    if body.get("contact_id") is not None:
        found, error = _chosen([body["contact_id"]], "No such contact among yours.")
        if error:
            raise ValidationFailed({"contact_id": error})
        contact = found[0]
    local = to_local(body["due_at"], user.time_zone)
    data = reminders.ReminderData(
        title=body["title"], local_date=local.date(),
        local_time=local.time().replace(tzinfo=None),
        recurrence=Recurrence(body.get("recurrence") or "none"),
        notes=body.get("notes", ""), contact=contact,
    )
    # About a contact, it is a follow-up, as the web form makes it.
    kind = ReminderKind.FOLLOW_UP if contact is not None else ReminderKind.CUSTOM
    reminder = reminders.create_reminder(user, data, kind=kind)
    # The exact instant, seconds included; in the hour repeated in autumn the wall time
    # alone would name the first 01:30, whichever was meant. A series repeats at the wall time.
    reminder.due_at = body["due_at"]
    _written()
    return _created(jsonify(_reminder_json(reminder)), "get_reminder", reminder_id=reminder.id)


@spec.route("GET", "/reminders/{reminder_id}", tag="Reminders", summary="Get a reminder",
            ok=Response(200, "The reminder.", REMINDER))
def get_reminder(reminder_id):
    return jsonify(_reminder_json(reminders.get_reminder_or_404(_user(), reminder_id)))


@spec.route("POST", "/reminders/{reminder_id}/snooze", tag="Reminders",
            summary="Snooze a reminder", body=SNOOZE_INPUT, errors=(409,),
            description="One-off reminders only; it is delivered again at `until`.",
            ok=Response(200, "The snoozed reminder.", REMINDER))
def snooze_reminder(reminder_id, body):
    reminder = reminders.get_reminder_or_404(_user(), reminder_id)
    body = body()
    try:
        reminders.snooze(reminder, body["until"])
    except reminders.ReminderStateError as exc:
        if "future" in str(exc):
            raise ValidationFailed({"until": "Snooze to a time in the future."}) from exc
        return _conflict(f"Cannot snooze: {exc}.")
    _written()
    return jsonify(_reminder_json(reminder))


@spec.route("POST", "/reminders/{reminder_id}/done", tag="Reminders",
            summary="Mark a reminder done", errors=(409,),
            description="A one-off reminder ends; a repeating one waits for its next time.",
            ok=Response(200, "The reminder after the change.", REMINDER))
def complete_reminder(reminder_id):
    reminder = reminders.get_reminder_or_404(_user(), reminder_id)
    try:
        reminders.mark_done(reminder)
    except reminders.ReminderStateError as exc:
        return _conflict(f"Cannot mark done: {exc}.")
    _written()
    return jsonify(_reminder_json(reminder))


# --- the document and the reference ------------------------------------------------------


@bp.get(API_PREFIX + "/openapi.json")
def openapi_document():
    """The OpenAPI 3.1 description of this API, generated from the route declarations."""
    return jsonify(spec.openapi(server_url=request.host_url.rstrip("/") + API_PREFIX))


@bp.get(API_PREFIX + "/docs")
def docs():
    """A readable reference: every endpoint, its parameters and an example."""
    document = spec.openapi(server_url=request.host_url.rstrip("/") + API_PREFIX)
    components = document["components"]["schemas"]
    entries = []
    for ep in spec.endpoints:
        ok = ep.responses[0]
        body_example = ep.body.example() if ep.body is not None else None
        response_example = (example_for(ok.schema, components)
                            if ok.schema is not None else None)
        entries.append({"ep": ep, "body_example": body_example,
                        "response_example": response_example,
                        "path_example": _path_example(ep.path)})
    return render_template(
        "api/docs.html", spec=spec, entries=entries, base=document["servers"][0]["url"],
        tags=list(dict.fromkeys(ep.tag for ep in spec.endpoints)),
        rate_limit=current_app.config.get("API_RATE_LIMIT", tokens.DEFAULT_RATE_LIMIT),
        idempotency_hours=f'{current_app.config["API_IDEMPOTENCY_KEY_TTL_SECONDS"] / 3600:g}',
        openapi_url=url_for("api.openapi_document"),
    )


def _path_example(path: str) -> str:
    return re.sub(r"{\w+}", "1", path)

