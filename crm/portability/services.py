"""Import jobs (upload → preview → confirm) and deleting an account."""

from __future__ import annotations

import json
from datetime import timedelta

from flask import abort
from sqlalchemy import Select, delete, select, update

from crm.extensions import db
from crm.models import (
    ApiToken,
    CoachingNote,
    CoachLink,
    Contact,
    ContactChannel,
    IdempotencyKey,
    ImportJob,
    ImportKind,
    ImportStatus,
    Interaction,
    Medium,
    Tag,
    User,
    utcnow,
)
from crm.portability import parsers
from crm.portability.importer import ImportPlan, ImportResult, plan_import, run_import

# An upload nobody confirmed is forgotten after this long.
JOB_TTL = timedelta(days=1)


# --- import jobs ---------------------------------------------------------------------


def jobs_for(user: User) -> Select:
    """The scoping query: every import job of this user."""
    return select(ImportJob).where(ImportJob.owner_id == user.id)


def get_job_or_404(user: User, job_id: int) -> ImportJob:
    """One of the user's import jobs, or 404."""
    job = db.session.scalar(jobs_for(user).where(ImportJob.id == job_id))
    if job is None:
        abort(404)
    return job


def recent_jobs(user: User, limit: int = 10) -> list[ImportJob]:
    """The user's latest imports, newest first."""
    return list(db.session.scalars(
        jobs_for(user).order_by(ImportJob.created_at.desc(), ImportJob.id.desc()).limit(limit)
    ))


def _file_name(filename: str | None) -> str:
    """The upload's name as shown back: printable characters only (a NUL, which
    PostgreSQL cannot store, or a line break would never be in a real one)."""
    return "".join(ch for ch in filename or "" if ch.isprintable())[:255]


def create_job(user: User, kind: ImportKind, filename: str, data: bytes) -> ImportJob:
    """Store an upload for preview; raise parsers.FileError if it is not that kind of file."""
    text = parsers.decode_upload(data)
    job = ImportJob(owner_id=user.id, kind=kind, filename=_file_name(filename), content=text)
    if kind == ImportKind.CSV:
        from crm.mediums.services import mediums_for

        header, body = parsers.read_csv_table(text)
        mediums = [(m.id, m.name, m.key) for m in mediums_for(user)]
        job.mapping = json.dumps(
            {str(k): v for k, v in parsers.guess_mapping(header, mediums).items()}
        )
        job.row_count = len(body)
    else:
        job.row_count = len(parse_rows(job))
    _forget_stale_jobs(user)
    db.session.add(job)
    db.session.flush()
    return job


def _forget_stale_jobs(user: User) -> None:
    db.session.execute(
        delete(ImportJob).where(
            ImportJob.owner_id == user.id,
            ImportJob.status == ImportStatus.PREVIEW,
            ImportJob.created_at < utcnow() - JOB_TTL,
        )
    )


def mapping_of(job: ImportJob) -> dict[int, str]:
    """A CSV job's column mapping as {column index: field}."""
    return {int(k): v for k, v in json.loads(job.mapping or "{}").items()}


def set_mapping(job: ImportJob, mapping: dict[int, str]) -> None:
    """Save the column mapping the user chose."""
    job.mapping = json.dumps({str(k): v for k, v in sorted(mapping.items()) if v})
    db.session.flush()


def csv_preview(job: ImportJob, limit: int = 5) -> tuple[list[str], list[list[str]]]:
    """The header and the first rows of a CSV job, for the mapping step."""
    header, body = parsers.read_csv_table(job.content or "")
    width = len(header)
    return header, [(fields + [""] * width)[:width] for _, fields in body[:limit]]


def parse_rows(job: ImportJob) -> list[parsers.ImportRow]:
    """Read the job's file in its format."""
    text = job.content or ""
    if job.kind == ImportKind.LINKEDIN:
        return parsers.parse_linkedin(text)
    if job.kind == ImportKind.VCARD:
        return parsers.parse_vcards(text)
    return parsers.parse_csv(text, mapping_of(job))


def overwrite_fields(kind: ImportKind) -> tuple[str, ...]:
    """Fields a re-import may update: LinkedIn's company and position change with jobs."""
    return ("company", "title") if kind == ImportKind.LINKEDIN else ()


def plan_job(user: User, job: ImportJob) -> ImportPlan:
    """What confirming this job would do."""
    return plan_import(user, parse_rows(job), overwrite=overwrite_fields(job.kind))


def run_job(user: User, job: ImportJob, *, skip_invalid: bool) -> ImportResult:
    """Import the job's file (ImportRefused if rows are invalid and skip is off)."""
    if job.status != ImportStatus.PREVIEW:
        raise ValueError("this import has run already")
    result = run_import(user, plan_job(user, job), skip_invalid=skip_invalid)
    job.status = ImportStatus.DONE
    job.finished_at = utcnow()
    job.result = json.dumps(result.as_dict())
    job.content = None  # the file is not kept once imported
    db.session.flush()
    return result


def result_of(job: ImportJob) -> dict:
    """What a finished job did."""
    return json.loads(job.result or "{}")


def import_file(user: User, kind: ImportKind, filename: str, data: bytes, *,
                mapping: dict[int, str] | None = None, skip_invalid: bool = False
                ) -> tuple[ImportPlan, ImportResult]:
    """Parse, plan and run an import in one step (the CLI); ImportRefused on invalid rows.

    The job row records the run; the file itself is never stored."""
    job = ImportJob(owner_id=user.id, kind=kind, filename=_file_name(filename),
                    content=parsers.decode_upload(data))
    if mapping is None and kind == ImportKind.CSV:
        from crm.mediums.services import mediums_for

        header, _ = parsers.read_csv_table(job.content)
        mapping = parsers.guess_mapping(header, [(m.id, m.name, m.key) for m in mediums_for(user)])
    if mapping is not None:
        job.mapping = json.dumps({str(k): v for k, v in sorted(mapping.items()) if v})
    rows = parse_rows(job)
    job.content = None
    plan = plan_import(user, rows, overwrite=overwrite_fields(kind))
    result = run_import(user, plan, skip_invalid=skip_invalid)
    job.row_count = len(rows)
    job.status = ImportStatus.DONE
    job.finished_at = utcnow()
    job.result = json.dumps(result.as_dict())
    db.session.add(job)
    db.session.flush()
    return plan, result


# --- leaving -------------------------------------------------------------------------


def delete_account(user: User) -> dict[str, int]:
    """Delete the user and everything they own; their coach links (either side) end.

    Rows go children first, so no foreign key has to cascade; anything a later area adds
    with ON DELETE CASCADE to users goes with the user row at the end.
    """
    from crm.models import (
        CoachLinkStatus,
        Delivery,
        DigestRun,
        Reminder,
        contact_tags,
        interaction_participants,
    )

    uid = user.id
    counts = {
        "contacts": _count(select(Contact.id).where(Contact.owner_id == uid)),
        "interactions": _count(select(Interaction.id).where(Interaction.owner_id == uid)),
    }
    contact_ids = select(Contact.id).where(Contact.owner_id == uid).scalar_subquery()
    interaction_ids = select(Interaction.id).where(Interaction.owner_id == uid).scalar_subquery()
    statements = [
        delete(Delivery).where(Delivery.user_id == uid),
        delete(DigestRun).where(DigestRun.user_id == uid),
        delete(Reminder).where(Reminder.owner_id == uid),
        update(Contact).where(Contact.owner_id == uid).values(
            last_interaction_id=None, introduced_by_id=None),
        delete(interaction_participants).where(
            interaction_participants.c.interaction_id.in_(interaction_ids)),
        delete(Interaction).where(Interaction.owner_id == uid),
        delete(contact_tags).where(contact_tags.c.contact_id.in_(contact_ids)),
        delete(ContactChannel).where(ContactChannel.contact_id.in_(contact_ids)),
        delete(Contact).where(Contact.owner_id == uid),
        delete(Tag).where(Tag.owner_id == uid),
        # As a client, their links and the notes they were written go. As a coach, their
        # clients keep the notes (from "a former coach") and the links, ended: the
        # README promises the notes also after coaching ends.
        delete(CoachingNote).where(CoachingNote.client_id == uid),
        delete(CoachLink).where(CoachLink.client_id == uid),
        update(CoachingNote).where(CoachingNote.coach_id == uid).values(coach_id=None),
        update(CoachLink).where(
            CoachLink.coach_id == uid, CoachLink.status.in_(
                (CoachLinkStatus.INVITED, CoachLinkStatus.ACTIVE))).values(
            status=CoachLinkStatus.REVOKED, revoked_at=utcnow(), invite_token_hash=None),
        update(CoachLink).where(CoachLink.coach_id == uid).values(coach_id=None),
        delete(ApiToken).where(ApiToken.user_id == uid),
        delete(IdempotencyKey).where(IdempotencyKey.user_id == uid),
        delete(ImportJob).where(ImportJob.owner_id == uid),
        delete(Medium).where(Medium.owner_id == uid),
        delete(User).where(User.id == uid),
    ]
    for statement in statements:
        db.session.execute(statement.execution_options(synchronize_session=False))
    db.session.expunge_all()
    return counts


def _count(query) -> int:
    from sqlalchemy import func

    return db.session.scalar(select(func.count()).select_from(query.subquery())) or 0
