"""`crm import linkedin|csv|vcard FILE --user EMAIL`: the web import, from a terminal."""

from __future__ import annotations

import time
from pathlib import Path

import click
from flask.cli import with_appcontext

from crm.portability.parsers import FIELD_LABELS


def _import(kind_name: str, file: Path, user_email: str, skip_invalid: bool,
            mappings: tuple[str, ...] = ()):
    from crm.auth.services import find_user_by_email
    from crm.extensions import db
    from crm.mediums.services import mediums_for
    from crm.models import ImportKind
    from crm.portability import parsers
    from crm.portability.importer import ImportRefused
    from crm.portability.services import import_file

    user = find_user_by_email(user_email)
    if user is None:
        raise click.BadParameter(f"no account with the email {user_email}", param_hint="--user")
    data = file.read_bytes()
    kind = ImportKind(kind_name)
    mapping = None
    if kind == ImportKind.CSV:
        try:
            header, _ = parsers.read_csv_table(parsers.decode_upload(data))
        except parsers.FileError as exc:
            raise click.ClickException(str(exc)) from exc
        mediums = mediums_for(user)
        mapping = parsers.guess_mapping(header, [(m.id, m.name, m.key) for m in mediums])
        for item in mappings:
            column, equals, target = item.partition("=")
            if not equals:
                raise click.BadParameter(
                    f"{item!r} is not COLUMN=FIELD (COLUMN= with nothing after it ignores "
                    "the column)", param_hint="--map")
            mapping.update(_parse_mapping(column.strip(), target.strip(), header, mediums))
        click.echo("Columns: " + "; ".join(
            f"{header[i]} → {_describe(t, mediums)}" for i, t in sorted(mapping.items()) if t
        ))
    started = time.perf_counter()
    try:
        plan, result = import_file(user, kind, file.name, data, mapping=mapping,
                                   skip_invalid=skip_invalid)
    except parsers.FileError as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from exc
    except ImportRefused as exc:
        db.session.rollback()
        for number, reason in exc.invalid:
            click.echo(f"{'card' if kind == ImportKind.VCARD else 'row'} {number}: {reason}",
                       err=True)
        raise click.ClickException(
            f"nothing imported: {len(exc.invalid)} invalid row(s). Fix them, or pass "
            "--skip-invalid to import the rest."
        ) from exc
    db.session.commit()
    for number, reason in plan.invalid:
        click.echo(f"skipped {'card' if kind == ImportKind.VCARD else 'row'} {number}: {reason}",
                   err=True)
    click.echo(
        f"Imported {file.name} for {user.email} in {time.perf_counter() - started:.2f} s: "
        f"{result.created} new, {result.updated} updated, {result.unchanged} unchanged, "
        f"{result.skipped} skipped, {result.repeated_rows} repeated rows combined."
    )


def _parse_mapping(column: str, target: str, header: list[str], mediums) -> dict[int, str]:
    from crm.models import name_key

    if column.isdigit() and int(column) < len(header):
        index = int(column)
    elif column in header:
        index = header.index(column)
    else:
        raise click.BadParameter(f"no column {column!r} in {header}", param_hint="--map")
    if target in FIELD_LABELS:
        return {index: target}
    for m in mediums:
        if name_key(m.name) == name_key(target):
            return {index: "email" if m.key == "email" else "phone" if m.key == "phone"
                    else f"medium:{m.id}"}
    choices = ", ".join([k for k in FIELD_LABELS if k] + [m.name for m in mediums])
    raise click.BadParameter(f"{target!r} is not one of: {choices}", param_hint="--map")


def _describe(target: str, mediums) -> str:
    if target.startswith("medium:"):
        name = next((m.name for m in mediums if str(m.id) == target[7:]), "?")
        return f"handle on {name}"
    return FIELD_LABELS.get(target, target)


_file = click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
_user = click.option("--user", "user_email", required=True, help="The account to import into.")
_skip = click.option("--skip-invalid", is_flag=True,
                     help="Import the valid rows and skip the invalid ones (default: none).")


@click.group("import")
def import_group():
    """Import contacts from LinkedIn, a CSV file or vCards."""


@import_group.command("linkedin")
@_file
@_user
@_skip
@with_appcontext
def import_linkedin(file, user_email, skip_invalid):
    """Import LinkedIn's Connections.csv."""
    _import("linkedin", file, user_email, skip_invalid)


@import_group.command("csv")
@_file
@_user
@_skip
@click.option("--map", "mappings", multiple=True, metavar="COLUMN=FIELD",
              help="Map a column (heading or 0-based number) to a field ("
                   + ", ".join(k for k in FIELD_LABELS if k)
                   + "), a medium's name, or nothing (COLUMN=) to ignore it. Headings are "
                   "guessed; repeat to correct the guesses.")
@with_appcontext
def import_csv(file, user_email, skip_invalid, mappings):
    """Import a CSV file with a header row."""
    _import("csv", file, user_email, skip_invalid, mappings)


@import_group.command("vcard")
@_file
@_user
@_skip
@with_appcontext
def import_vcard(file, user_email, skip_invalid):
    """Import a .vcf file of vCard 3.0 or 4.0 cards."""
    _import("vcard", file, user_email, skip_invalid)
