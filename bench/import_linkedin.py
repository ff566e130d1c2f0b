"""Benchmark: import a generated 10,000-row LinkedIn export; compare with a plain bulk insert.

    .venv/bin/python bench/import_linkedin.py [--rows 10000] [--runs 3] [--database-url URL]

The baseline inserts the same contacts and channels (LinkedIn profile and, where given,
email) with plain executemany INSERTs of rows already in memory, into the same database.
The import does everything a user's import does: decode and parse the CSV, validate and
normalise every handle, match against the account's contacts, insert. Each is timed into
its own fresh account, best of --runs; the target is an import within 3x the baseline.

Without --database-url a temporary SQLite file is used; pass a PostgreSQL URL (a database
whose tables may be created and filled) to measure there. Prints figures; writes nothing.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from fixtures.portability import generated_linkedin_rows, linkedin_csv  # noqa: E402
from sqlalchemy import insert, select  # noqa: E402

from crm import create_app  # noqa: E402
from crm.extensions import db  # noqa: E402
from crm.mediums.services import ensure_builtin_mediums  # noqa: E402
from crm.models import Contact, ContactChannel, ImportKind, Medium, User, utcnow  # noqa: E402
from crm.portability.parsers import parse_linkedin_date  # noqa: E402
from crm.portability.services import import_file  # noqa: E402

_accounts = iter(range(1, 10**6))


def new_user() -> User:
    user = User(email=f"bench{next(_accounts)}-{time.time_ns()}@example.com", name="Bench",
                password_hash="x", time_zone="UTC")
    db.session.add(user)
    db.session.commit()
    return user


def bulk_insert(user: User, rows: list[list[str]], mediums: dict[str, int]) -> float:
    """The same rows, already in memory, with plain executemany INSERTs and one commit."""
    now = utcnow()
    contacts = [
        {"owner_id": user.id, "name": f"{r[0]} {r[1]}", "company": r[4], "title": r[5],
         "location": "", "notes": "", "time_zone": None, "origin_medium_id": mediums["linkedin"],
         "origin_date": parse_linkedin_date(r[6]), "is_private": False, "created_at": now,
         "updated_at": now}
        for r in rows
    ]
    started = time.perf_counter()
    db.session.execute(insert(Contact.__table__), contacts)
    ids = db.session.scalars(select(Contact.id).where(Contact.owner_id == user.id)
                             .order_by(Contact.id)).all()
    channels = []
    for contact_id, r in zip(ids, rows, strict=True):
        channels.append({"contact_id": contact_id, "owner_id": user.id,
                         "medium_id": mediums["linkedin"], "value": r[2], "label": ""})
        if r[3]:
            channels.append({"contact_id": contact_id, "owner_id": user.id,
                             "medium_id": mediums["email"], "value": r[3], "label": ""})
    db.session.execute(insert(ContactChannel.__table__), channels)
    db.session.commit()
    return time.perf_counter() - started


def full_import(user: User, data: bytes) -> float:
    started = time.perf_counter()
    plan, result = import_file(user, ImportKind.LINKEDIN, "Connections.csv", data)
    db.session.commit()
    elapsed = time.perf_counter() - started
    assert result.created == len(plan.new) and not plan.invalid, result
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=10000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{tmp}/bench.sqlite3"
        app = create_app({"SECRET_KEY": "bench", "DATABASE_URL": url, "TESTING": True})
        rows = generated_linkedin_rows(args.rows)
        data = linkedin_csv(rows)
        with app.app_context():
            db.create_all()
            ensure_builtin_mediums()
            db.session.commit()
            mediums = dict(db.session.execute(
                select(Medium.key, Medium.id).where(Medium.owner_id.is_(None))).all())
            baseline, imported, again = [], [], []
            for _ in range(args.runs):
                baseline.append(bulk_insert(new_user(), rows, mediums))
                user = new_user()
                imported.append(full_import(user, data))
                # Importing the same file again: every row matches, nothing is duplicated.
                started = time.perf_counter()
                plan, result = import_file(user, ImportKind.LINKEDIN, "again.csv", data)
                db.session.commit()
                again.append(time.perf_counter() - started)
                assert result.created == 0 and result.unchanged == args.rows, result
            db.session.remove()
            if args.database_url is None:
                db.engine.dispose()

    dialect = url.split(":", 1)[0]
    best_base, best_import, best_again = min(baseline), min(imported), min(again)
    print(f"database: {dialect}; rows: {args.rows} ({len(data) / 1e6:.1f} MB); "
          f"best of {args.runs}")
    print(f"plain bulk insert:          {best_base:6.2f} s")
    print(f"import (parse+match+write): {best_import:6.2f} s   ratio {best_import / best_base:.2f}x"
          "  (target <= 3x)")
    print(f"re-import, all matched:     {best_again:6.2f} s")


if __name__ == "__main__":
    main()
