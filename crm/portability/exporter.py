"""Exports: contacts as CSV and as vCard 3.0, and everything a user owns as JSON."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import date, datetime, time
from decimal import Decimal
from enum import Enum

from sqlalchemy import Table, or_, select
from sqlalchemy.orm import selectinload

from crm.extensions import db
from crm.models import (
    ApiToken,
    CoachingNote,
    CoachLink,
    Contact,
    ContactChannel,
    Delivery,
    DigestRun,
    ImportJob,
    Interaction,
    Medium,
    Reminder,
    Tag,
    User,
    contact_tags,
    interaction_participants,
    utcnow,
)
from crm.portability.parsers import CSV_EXPORT_COLUMNS, guard_cell

FORMAT_VERSION = 1


def _contacts(user: User) -> list[Contact]:
    return list(db.session.scalars(
        select(Contact)
        .where(Contact.owner_id == user.id)
        .order_by(Contact.sort_name, Contact.id)
        .options(selectinload(Contact.tags), selectinload(Contact.channels))
    ))


def _mediums(user: User) -> dict[int, Medium]:
    from crm.mediums.services import visible_to

    return {m.id: m for m in db.session.scalars(select(Medium).where(visible_to(user)))}


def contacts_csv(user: User) -> str:
    """Every contact as a CSV row; handles on mediums other than email and phone are listed
    as "Medium: handle", a line each, in the last column."""
    mediums = _mediums(user)
    contacts = _contacts(user)
    names = {c.id: c.name for c in contacts}
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_EXPORT_COLUMNS)
    for c in contacts:
        by_key: dict[str, list[str]] = {}
        others = []
        for ch in c.channels:
            key = mediums[ch.medium_id].key
            if key in ("email", "phone"):
                by_key.setdefault(key, []).append(ch.value)
            else:
                others.append(f"{mediums[ch.medium_id].name}: {ch.value}")
        writer.writerow([guard_cell("" if cell is None else str(cell)) for cell in (
            c.name, c.company, c.title, c.location, c.time_zone or "",
            "; ".join(by_key.get("email", [])), "; ".join(by_key.get("phone", [])),
            ", ".join(c.tag_names),
            mediums[c.origin_medium_id].name if c.origin_medium_id else "",
            c.origin_date.isoformat() if c.origin_date else "",
            names.get(c.introduced_by_id, ""),
            c.keep_in_touch_days or "",
            "yes" if c.is_private else "",
            "yes" if c.is_archived else "",
            c.last_interaction_at.isoformat() if c.last_interaction_at else "",
            c.notes,
            "\n".join(others),
        )])
    return out.getvalue()


# --- vCard ---------------------------------------------------------------------------

_SOCIAL = {"linkedin": "linkedin", "twitter": "twitter", "facebook": "facebook"}


def _escape(value: str) -> str:
    return (value.replace("\\", "\\\\").replace("\r\n", "\n").replace("\n", "\\n")
            .replace(",", "\\,").replace(";", "\\;"))


def _param(value: str) -> str:
    """A parameter value, RFC 6868 caret-encoded (a double quote as ^', a line break as ^n,
    a caret as ^^: a parameter cannot hold them otherwise), quoted when it holds characters
    a bare one cannot."""
    clean = value.replace("^", "^^").replace("\r\n", "\n").replace("\n", "^n").replace('"', "^'")
    return f'"{clean}"' if any(ch in clean for ch in ",;:") else clean


def _fold(line: str) -> str:
    """Fold a content line at 75 octets (RFC 6350 3.2), never inside a UTF-8 sequence."""
    out, current, size = [], "", 0
    for ch in line:
        width = len(ch.encode())
        if size + width > 75:
            out.append(current)
            current, size = " ", 1
        current += ch
        size += width
    out.append(current)
    return "\r\n".join(out)


def _split_name(name: str) -> tuple[str, str]:
    parts = name.rsplit(" ", 1)
    return (parts[1], parts[0]) if len(parts) == 2 else (name, "")


def vcard(contact: Contact, mediums: dict[int, Medium], names: dict[int, str]) -> str:
    """One contact as a vCard 3.0 card. names: contact id -> name, for the introducer."""
    family, given = _split_name(contact.name)
    lines = ["BEGIN:VCARD", "VERSION:3.0", f"FN:{_escape(contact.name)}",
             f"N:{_escape(family)};{_escape(given)};;;"]
    if contact.company:
        lines.append(f"ORG:{_escape(contact.company)}")
    if contact.title:
        lines.append(f"TITLE:{_escape(contact.title)}")
    if contact.location:  # the locality of an address, as address books show a city
        lines.append(f"ADR:;;;{_escape(contact.location)};;;")
    for ch in contact.channels:
        medium = mediums[ch.medium_id]
        x_label = f";X-LABEL={_param(ch.label)}" if ch.label else ""
        # TYPE for address books; X-LABEL keeps the label exactly for another Rapport.
        label = f";TYPE={_param(ch.label)}{x_label}" if ch.label else ""
        if medium.key == "email":
            lines.append(f"EMAIL;TYPE=INTERNET{label}:{_escape(ch.value)}")
        elif medium.key == "phone":
            lines.append(f"TEL;TYPE=VOICE{label}:{_escape(ch.value)}")
        elif medium.key == "text_message":
            lines.append(f"TEL;TYPE=TEXT{label}:{_escape(ch.value)}")
        elif medium.key in _SOCIAL:
            url = ch.value
            if medium.key == "twitter":
                url = f"https://twitter.com/{ch.value.lstrip('@')}"
            lines.append(f"X-SOCIALPROFILE;TYPE={_SOCIAL[medium.key]}{x_label}:{url}")
        elif medium.key == "skype":
            lines.append(f"IMPP;X-SERVICE-TYPE=Skype{x_label}:skype:{ch.value}")
        else:
            lines.append(
                f"X-RAPPORT-CHANNEL;X-MEDIUM={_param(medium.name)}{x_label}:{_escape(ch.value)}"
            )
    when = contact.origin_date.isoformat() if contact.origin_date else ""
    if contact.origin_medium_id:
        lines.append(
            f"X-RAPPORT-FIRST-MET;X-MEDIUM={_param(mediums[contact.origin_medium_id].name)}:"
            f"{when}"
        )
    elif when:
        lines.append(f"X-RAPPORT-FIRST-MET:{when}")
    # Rapport's own details, read back by its import.
    if contact.time_zone:
        lines.append(f"X-RAPPORT-TIME-ZONE:{_escape(contact.time_zone)}")
    if contact.keep_in_touch_days:
        lines.append(f"X-RAPPORT-KEEP-IN-TOUCH:{contact.keep_in_touch_days}")
    if contact.introduced_by_id in names:
        lines.append(f"X-RAPPORT-INTRODUCED-BY:{_escape(names[contact.introduced_by_id])}")
    if contact.tags:
        lines.append("CATEGORIES:" + ",".join(_escape(t) for t in contact.tag_names))
    if contact.notes:
        lines.append(f"NOTE:{_escape(contact.notes)}")
    # Read back by Rapport's import, so a private contact never comes back shared.
    if contact.is_private:
        lines.append("X-RAPPORT-PRIVATE:1")
    if contact.is_archived:
        lines.append("X-RAPPORT-ARCHIVED:1")
    lines.append(f"UID:rapport-contact-{contact.id}")
    lines.append("END:VCARD")
    return "".join(_fold(line) + "\r\n" for line in lines)


def contacts_vcard(user: User) -> str:
    """Every contact as one vCard 3.0 file."""
    mediums = _mediums(user)
    contacts = _contacts(user)
    names = {c.id: c.name for c in contacts}
    return "".join(vcard(c, mediums, names) for c in contacts)


# --- JSON ----------------------------------------------------------------------------

# Secrets never leave in an export, even the user's own.
_SECRET_COLUMNS = {"password_hash", "token_hash", "invite_token_hash", "calendar_token", "content"}


def _value(value):
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return None
    return value


def _rows(query) -> list[dict]:
    return [
        {k: _value(v) for k, v in row.items() if k not in _SECRET_COLUMNS}
        for row in db.session.execute(query).mappings()
    ]


def _table_rows(table: Table, *where, order=None) -> list[dict]:
    query = select(table).where(*where)
    key = order if order is not None else list(table.primary_key.columns)
    return _rows(query.order_by(*key))


def export_sections(user: User) -> dict[str, list[dict]]:
    """Every row the user owns, table by table (secrets left out)."""
    uid = user.id
    contact_ids = select(Contact.id).where(Contact.owner_id == uid).scalar_subquery()
    interaction_ids = select(Interaction.id).where(Interaction.owner_id == uid).scalar_subquery()
    link_ids = select(CoachLink.id).where(
        or_(CoachLink.client_id == uid, CoachLink.coach_id == uid)
    ).scalar_subquery()
    sections = {
        "users": _table_rows(User.__table__, User.id == uid),
        "mediums": _table_rows(Medium.__table__, Medium.owner_id == uid),
        "tags": _table_rows(Tag.__table__, Tag.owner_id == uid),
        "contacts": _table_rows(Contact.__table__, Contact.owner_id == uid),
        "contact_channels": _table_rows(
            ContactChannel.__table__, ContactChannel.contact_id.in_(contact_ids)),
        "contact_tags": _table_rows(
            contact_tags, contact_tags.c.contact_id.in_(contact_ids),
            order=[contact_tags.c.contact_id, contact_tags.c.tag_id]),
        "interactions": _table_rows(Interaction.__table__, Interaction.owner_id == uid),
        "interaction_participants": _table_rows(
            interaction_participants,
            interaction_participants.c.interaction_id.in_(interaction_ids),
            order=[interaction_participants.c.interaction_id,
                   interaction_participants.c.contact_id]),
        "reminders": _table_rows(Reminder.__table__, Reminder.owner_id == uid),
        "deliveries": _table_rows(Delivery.__table__, Delivery.user_id == uid),
        "digest_runs": _table_rows(DigestRun.__table__, DigestRun.user_id == uid),
        "coach_links": _table_rows(
            CoachLink.__table__, or_(CoachLink.client_id == uid, CoachLink.coach_id == uid)),
        "coaching_notes": _table_rows(
            CoachingNote.__table__,
            or_(CoachingNote.link_id.in_(link_ids), CoachingNote.client_id == uid,
                CoachingNote.coach_id == uid)),
        "api_tokens": _table_rows(ApiToken.__table__, ApiToken.user_id == uid),
        "import_jobs": _table_rows(ImportJob.__table__, ImportJob.owner_id == uid),
    }
    # Tables added by later areas: any row pointing at the user is theirs too.
    for table in db.metadata.sorted_tables:
        if table.name in sections:
            continue
        user_columns = [fk.parent for fk in table.foreign_keys
                        if fk.column.table.name == "users"]
        if user_columns:
            sections[table.name] = _table_rows(table, or_(*(c == uid for c in user_columns)))
    return sections


def export_json(user: User) -> dict:
    """The full export: each table's rows, with a note on what the file is."""
    from crm.mediums.services import visible_to

    builtins = _rows(select(Medium.id, Medium.key, Medium.name)
                     .where(visible_to(user), Medium.owner_id.is_(None)).order_by(Medium.id))
    return {
        "format": "rapport-export",
        "version": FORMAT_VERSION,
        "exported_at": utcnow().isoformat(),
        "user_id": user.id,
        "builtin_mediums": builtins,
        "tables": export_sections(user),
    }


def export_json_chunks(user: User) -> Iterator[str]:
    """The JSON export as text, pretty enough to read."""
    yield json.dumps(export_json(user), indent=1, ensure_ascii=False)
