"""Load realistic benchmark data: a heavy networker, a light one, and coaches with clients.

    .venv/bin/python bench/generate.py --database-url URL [--scale 0.1] [--seed 2024]

Creates the schema as `crm db upgrade` does (the Alembic migrations, so the indexes are
production's), then loads, deterministically for a seed (and --now):

- heavy@bench.example: 5,000 contacts, 100,000 interactions over ten years on every
  built-in medium (and two of their own), 2,000 pending reminders, tags, introductions;
- light@bench.example: 500 contacts, 1,000 interactions;
- coach@bench.example: 30 active clients of 1,000 contacts and 10,000 interactions each;
- coach-light@bench.example: 30 active clients of the light size, to compare the coach
  page at the same number of clients and a tenth of the data.

Rows go in with bulk INSERTs of the app's models, with what the services keep up to
date computed the same way: each contact's last_interaction_at/_id (latest by occurred_at,
then id), interaction_participants rows, and keep-in-touch reminders from
crm.reminders.services.sync_keep_in_touch itself. Every bench user has the password
below and a personal API token (hashed with crm.api.tokens.hash_token); both are printed.
--scale multiplies every contact, interaction and reminder count (not the number of
clients). Run it against an empty database (or one holding no bench users).
"""

from __future__ import annotations

import argparse
import base64
import bisect
import itertools
import random
import sys
import time
import unicodedata
from collections import Counter
from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import func, insert, select, text  # noqa: E402

from crm import create_app  # noqa: E402
from crm.api.tokens import TOKEN_PREFIX, hash_token  # noqa: E402
from crm.auth.services import hash_password  # noqa: E402
from crm.extensions import db  # noqa: E402
from crm.models import (  # noqa: E402
    ApiToken,
    CoachingNote,
    CoachLink,
    CoachLinkStatus,
    Contact,
    ContactChannel,
    Delivery,
    DeliveryChannel,
    DeliveryStatus,
    Initiator,
    Interaction,
    Medium,
    Recurrence,
    Reminder,
    ReminderKind,
    ReminderStatus,
    Tag,
    User,
    contact_tags,
    interaction_participants,
)
from crm.reminders.services import sync_keep_in_touch  # noqa: E402

PASSWORD = "bench-password-2024"  # every bench user's; these accounts hold made-up data
EMAIL_DOMAIN = "bench.example"
CHUNK = 5000

# -- sizes ---------------------------------------------------------------------------------


@dataclass
class Sizes:
    """How much each profile holds at --scale 1."""

    heavy_contacts: int = 5000
    heavy_interactions: int = 100_000
    heavy_reminders: int = 2000  # pending ones; keep-in-touch reminders count towards it
    light_contacts: int = 500
    light_interactions: int = 1000
    light_reminders: int = 40
    coach_clients: int = 30
    client_contacts: int = 1000
    client_interactions: int = 10_000
    client_reminders: int = 200
    light_coach_clients: int = 30  # each of the light networker's size
    years: int = 10

    def scaled(self, scale: float) -> Sizes:
        """Every contact, interaction and reminder count times scale (clients unchanged)."""
        out = Sizes(**{f.name: getattr(self, f.name) for f in fields(self)})
        for f in fields(self):
            if f.name.endswith(("_contacts", "_interactions", "_reminders")):
                setattr(out, f.name, max(5, round(getattr(self, f.name) * scale)))
        return out


@dataclass
class Account:
    """A bench user, how to log in as them, and what the page benchmarks aim at."""

    key: str
    email: str
    user_id: int
    token: str
    password: str = PASSWORD
    busy_contact_id: int | None = None  # the contact with the most interactions
    busy_contact_interactions: int = 0
    post_contact_id: int | None = None  # a quiet contact to log interactions with
    search_term: str = ""
    contacts: int = 0
    interactions: int = 0
    pending_reminders: int = 0
    clients: list[int] = field(default_factory=list)


# -- realistic vocabulary ---------------------------------------------------------------


def _words(text_: str) -> tuple[str, ...]:
    return tuple(text_.split())


FIRST_NAMES = _words(
    "Ada Alan Amara Ana Anders Anika Arjun Astrid Aziz Beatriz Ben Bilal Camille Carlos Chen "
    "Chiara Chloe Dara Daniel David Dmitri Elena Elif Emeka Emma Eun-ji Farah Felix Fatima "
    "Freya Gabriel Grace Hana Hassan Ines Ivan Jack James Jana Javier Jin Joao Julia Kai "
    "Kaito Kemi Kofi Lars Laura Leila Liam Lina Lucas Luisa Maya Mei Mateo Mia Mohammed Nadia "
    "Naomi Nikhil Nina Noah Olga Omar Oscar Paula Pedro Priya Rafael Rania Ravi Rosa Sam Sara "
    "Sofia Soren Sunita Tariq Tomas Uma Valentina Victor Wei Yara Yusuf Zainab Zoe"
)
LAST_NAMES = _words(
    "Abe Adeyemi Alvarez Andersen Bakker Banerjee Becker Bianchi Brown Campbell Chen Costa "
    "Dang Das Diallo Dubois Eriksson Fernandes Fischer Garcia Gomez Gupta Haddad Hansen "
    "Hashimoto Hoffmann Horvat Ibrahim Ivanova Jansen Jensen Johansson Kaur Khan Kim Kowalski "
    "Kumar Larsen Laurent Lee Lindqvist Lopez Martin Meyer Moreau Morales Muller Murphy "
    "Nakamura Nguyen Novak Nowak Okafor Okonkwo Olsen Ortiz Park Patel Pereira Petrov Popescu "
    "Quinn Rahman Reyes Rossi Russo Santos Sato Schmidt Shah Silva Singh Smith Sokolov Suzuki "
    "Takahashi Tanaka Taylor Torres Tran Van Dijk Vasquez Wagner Walker Wang Weber Williams "
    "Wilson Wong Yamamoto Yilmaz Zhang Zimmermann"
)
SEARCH_TERM = "okafor"  # one surname among ~110: about 1% of contacts match
COMPANIES = (
    "Acme Robotics", "Northwind Traders", "Globex", "Initech", "Umbrella Health", "Stark Labs",
    "Wayne Logistics", "Hooli", "Pied Piper", "Vandelay Imports", "Soylent Foods",
    "Tyrell Systems", "Cyberdyne", "Wonka Industries", "Aperture Science", "Black Mesa",
    "Blue Sun", "Oscorp", "Massive Dynamic", "Gringotts Bank", "Monarch Solutions",
    "Nakatomi Trading", "Prestige Worldwide", "Dunder Mifflin", "Sterling Cooper",
    "Atlas Ventures", "Mercado Sur", "Lumen Analytics", "Harbor Capital", "Fjord Design",
    "Kestrel Energy", "Orchid Biotech", "Quartz Media", "Ridgeway School", "Saffron Studio",
    "Tidewater Partners", "Union Square Labs", "Verdant Farms", "Willow Health", "Zenith Air",
    "City University", "Open Source Foundation", "Freelance", "",
)
TITLES = (
    "Founder", "CEO", "CTO", "Head of Product", "Product Manager", "Designer", "Engineer",
    "Staff Engineer", "Data Scientist", "Partner", "Investor", "Recruiter", "Professor",
    "PhD student", "Journalist", "Consultant", "Sales Director", "Marketing Lead", "Teacher",
    "Nurse", "Lawyer", "Architect", "Writer", "",
)
CITIES = (
    ("London, UK", "Europe/London"), ("Berlin, Germany", "Europe/Berlin"),
    ("Paris, France", "Europe/Paris"), ("Lisbon, Portugal", "Europe/Lisbon"),
    ("Stockholm, Sweden", "Europe/Stockholm"), ("Warsaw, Poland", "Europe/Warsaw"),
    ("New York, USA", "America/New_York"), ("San Francisco, USA", "America/Los_Angeles"),
    ("Toronto, Canada", "America/Toronto"), ("São Paulo, Brazil", "America/Sao_Paulo"),
    ("Buenos Aires, Argentina", "America/Argentina/Buenos_Aires"),
    ("Lagos, Nigeria", "Africa/Lagos"), ("Nairobi, Kenya", "Africa/Nairobi"),
    ("Casablanca, Morocco", "Africa/Casablanca"), ("Dubai, UAE", "Asia/Dubai"),
    ("Bangalore, India", "Asia/Kolkata"), ("Singapore", "Asia/Singapore"),
    ("Tokyo, Japan", "Asia/Tokyo"), ("Seoul, South Korea", "Asia/Seoul"),
    ("Sydney, Australia", "Australia/Sydney"), ("", None),
)
TAGS = (
    "friend", "close friend", "family", "alumni", "colleague", "ex-colleague", "investor",
    "mentor", "mentee", "client", "prospect", "recruiter", "conference", "meetup", "design",
    "product", "engineering", "data", "climate", "health", "fintech", "open source",
    "writing", "podcast", "hiring", "advisor", "board", "neighbour", "sports", "music",
    "travel", "book club", "startup", "academia", "press",
)
# Default keep-in-touch cadences (days) of some tags.
TAG_CADENCES = {"close friend": 21, "family": 30, "mentor": 45, "investor": 60, "client": 30}
TOPICS = (
    "the seed round", "the product launch", "hiring a first designer", "pricing",
    "the conference talk", "a job opening", "their new role", "the book they recommended",
    "the quarterly update", "a podcast episode", "the open source release", "the reunion",
    "a climate project", "moving to Berlin", "the board meeting", "a referral",
    "the hackathon", "their PhD defence", "a partnership", "travel plans", "the kids",
    "the marathon", "feedback on the deck", "the roadmap", "an introduction",
)
SUMMARIES = (
    "Talked about {t}", "Caught up on {t}", "Quick note about {t}", "Shared thoughts on {t}",
    "Asked for advice on {t}", "Followed up on {t}", "Congratulated them on {t}",
    "Long conversation about {t}",
)
NOTES = (
    "", "", "", "Promised to send the slides.", "They prefer mornings.",
    "Mentioned a mutual friend at the conference.", "Owes me a coffee.",
    "Interested in an intro to the design team.", "Follow up after the summer.",
)
# Built-in medium keys with the share of relationships that use each one often.
MEDIUM_POPULARITY = {
    "email": 18, "text_message": 14, "phone": 12, "linkedin": 12, "video_call": 11,
    "face_to_face": 11, "twitter": 8, "skype": 6, "facebook": 8,
}
ORIGIN_POPULARITY = {
    "face_to_face": 30, "linkedin": 18, "email": 14, "twitter": 10, "video_call": 6,
    "phone": 4, "facebook": 6, "skype": 3, "text_message": 3, "_custom": 6,
}
INITIATORS = ((Initiator.ME, 45), (Initiator.THEM, 35), (Initiator.MUTUAL, 20))


def _slug(text_: str) -> str:
    ascii_ = unicodedata.normalize("NFKD", text_).encode("ascii", "ignore").decode()
    return "".join(ch if ch.isalnum() else "." for ch in ascii_.lower()).strip(".")


# -- loading -----------------------------------------------------------------------------


def _bulk(target, rows: list[dict]) -> None:
    """INSERT rows in chunks with executemany (a model or a Table)."""
    for start in range(0, len(rows), CHUNK):
        db.session.execute(insert(target), rows[start : start + CHUNK])


def _next_id(model) -> int:
    return (db.session.scalar(select(func.max(model.id))) or 0) + 1


def _fix_sequences() -> None:
    """After explicit ids, point PostgreSQL's sequences past them (SQLite needs nothing)."""
    if db.engine.dialect.name != "postgresql":
        return
    for table in ("users", "mediums", "tags", "contacts", "contact_channels", "interactions",
                  "reminders", "deliveries", "api_tokens", "coach_links", "coaching_notes"):
        sql = (f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608
               f"COALESCE((SELECT MAX(id) FROM {table}), 0) + 1, false)")
        db.session.execute(text(sql))


class Loader:
    """Builds one bench user after another; deterministic for a seed and a `now`."""

    def __init__(self, seed: int, now: datetime, years: int, log=print):
        self.rng = random.Random(seed)
        self.now = now
        self.years = years
        self.log = log
        self.password_hash = hash_password(PASSWORD)
        self.builtins = {m.key: m.id for m in db.session.scalars(
            select(Medium).where(Medium.owner_id.is_(None)))}
        missing = set(MEDIUM_POPULARITY) - set(self.builtins)
        if missing:
            raise SystemExit(f"built-in mediums missing: {sorted(missing)}")

    # -- users ----------------------------------------------------------------------------

    def user(self, key: str, name: str, time_zone: str) -> tuple[User, Account]:
        email = f"{key}@{EMAIL_DOMAIN}"
        joined = self.now - timedelta(days=365 * self.years)
        user = User(email=email, name=name, password_hash=self.password_hash,
                    time_zone=time_zone, created_at=joined, email_confirmed_at=joined)
        db.session.add(user)
        db.session.flush()
        raw = self.rng.getrandbits(256).to_bytes(32, "big")
        plain = TOKEN_PREFIX + base64.urlsafe_b64encode(raw).decode().rstrip("=")
        db.session.add(ApiToken(user_id=user.id, name="bench", token_hash=hash_token(plain),
                                prefix=plain[:12], created_at=self.now - timedelta(days=30)))
        db.session.flush()
        return user, Account(key=key, email=email, user_id=user.id, token=plain)

    # -- a networker --------------------------------------------------------------------

    def networker(self, key: str, name: str, time_zone: str, *, contacts: int,
                  interactions: int, pending_reminders: int, tag_count: int = len(TAGS),
                  custom_mediums: tuple[str, ...] = (), quiet: bool = False) -> Account:
        started = time.perf_counter()
        rng = self.rng
        user, account = self.user(key, name, time_zone)
        owner_id = user.id
        mediums = dict(self.builtins)
        for medium_name in custom_mediums:
            medium = Medium(name=medium_name, owner_id=user.id)
            db.session.add(medium)
            db.session.flush()
            mediums[f"custom:{medium_name}"] = medium.id
        custom_ids = [mediums[k] for k in mediums if k.startswith("custom:")]

        tags = []
        for tag_name in TAGS[:tag_count]:
            tag = Tag(owner_id=user.id, name=tag_name,
                      keep_in_touch_days=TAG_CADENCES.get(tag_name))
            db.session.add(tag)
            tags.append(tag)
        db.session.flush()
        tag_weights = [rng.paretovariate(1.0) for _ in tags]

        contact_rows, plans = self._plan_contacts(user.id, contacts, mediums, custom_ids)
        interaction_rows, participant_rows = self._plan_interactions(
            user.id, plans, interactions)

        # What refresh_last_interaction keeps: the latest interaction by (occurred_at, id).
        latest: dict[int, tuple[datetime, int]] = {}
        per_contact: Counter[int] = Counter()
        occurred = {row["id"]: row["occurred_at"] for row in interaction_rows}
        for row in participant_rows:
            cid, iid = row["contact_id"], row["interaction_id"]
            per_contact[cid] += 1
            key_ = (occurred[iid], iid)
            if cid not in latest or key_ > latest[cid]:
                latest[cid] = key_
        for row in contact_rows:
            at, iid = latest.get(row["id"], (None, None))
            row["last_interaction_at"] = at
            row["last_interaction_id"] = iid

        tag_rows = []
        for row in contact_rows:
            k = rng.choices((0, 1, 1, 2, 2, 3), k=1)[0]
            for tag in set(rng.choices(tags, weights=tag_weights, k=k)):
                tag_rows.append({"contact_id": row["id"], "tag_id": tag.id})
        channel_rows = self._plan_channels(contact_rows, plans)

        _bulk(Interaction, interaction_rows)
        _bulk(Contact, contact_rows)
        _bulk(contact_tags, tag_rows)
        _bulk(ContactChannel, channel_rows)
        _bulk(interaction_participants, participant_rows)
        _fix_sequences()
        db.session.commit()

        # Keep-in-touch reminders come from the service itself.
        sync_keep_in_touch(owner_id)
        db.session.commit()
        db.session.expunge_all()
        kit = db.session.scalar(select(func.count()).select_from(Reminder).where(
            Reminder.owner_id == owner_id, Reminder.status == ReminderStatus.PENDING))
        self._other_reminders(owner_id, time_zone, contact_rows, max(pending_reminders - kit, 0),
                              history=max(pending_reminders // 2, 5))
        _fix_sequences()
        db.session.commit()

        busy_id, busy_n = per_contact.most_common(1)[0]
        quiet_ones = [r["id"] for r in contact_rows
                      if 0 < per_contact[r["id"]] <= 3 and r["archived_at"] is None]
        account.busy_contact_id = busy_id
        account.busy_contact_interactions = busy_n
        account.post_contact_id = quiet_ones[0] if quiet_ones else contact_rows[-1]["id"]
        account.search_term = SEARCH_TERM
        account.contacts = len(contact_rows)
        account.interactions = len(interaction_rows)
        account.pending_reminders = db.session.scalar(
            select(func.count()).select_from(Reminder).where(
                Reminder.owner_id == owner_id, Reminder.status == ReminderStatus.PENDING))
        if quiet:
            return account
        self.log(f"  {account.email}: {account.contacts} contacts, {account.interactions} "
                 f"interactions ({len(participant_rows)} participant rows), "
                 f"{account.pending_reminders} pending reminders; busiest contact "
                 f"{busy_n} interactions ({time.perf_counter() - started:.1f} s)")
        return account

    def _plan_contacts(self, owner_id, count, mediums, custom_ids):
        rng = self.rng
        first_id = _next_id(Contact)
        span = timedelta(days=365 * self.years)
        keys = list(MEDIUM_POPULARITY)
        rows, plans = [], []
        for n in range(count):
            cid = first_id + n
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            company = rng.choice(COMPANIES)
            city, zone = rng.choice(CITIES)
            # The network grows over the years: more people met recently.
            met = (self.now - span * (1 - rng.random() ** 0.8)
                   - timedelta(minutes=rng.randint(1, 600)))
            if rng.random() < 0.3:  # relationships that went quiet at some point
                quiet_at = met + (self.now - met) * rng.random()
            else:
                quiet_at = self.now - timedelta(minutes=5)
            origin_key = rng.choices(list(ORIGIN_POPULARITY), weights=ORIGIN_POPULARITY.values())[0]
            if rng.random() < 0.15:
                origin_id = None
            elif origin_key == "_custom":
                origin_id = rng.choice(custom_ids) if custom_ids else mediums["face_to_face"]
            else:
                origin_id = mediums[origin_key]
            preferred = rng.sample(keys, k=rng.randint(2, 4))
            medium_choices = [mediums[k] for k in preferred]
            if custom_ids and rng.random() < 0.1:
                medium_choices.append(rng.choice(custom_ids))
            introducer = None
            if n > 10 and rng.random() < 0.15:
                introducer = first_id + rng.randrange(0, n)  # someone met earlier in id order
            archived = rng.random() < 0.03
            rows.append({
                "id": cid, "owner_id": owner_id, "name": f"{first} {last}", "company": company,
                "title": rng.choice(TITLES) if company else "", "location": city,
                "time_zone": zone, "notes": rng.choice(NOTES),
                "origin_medium_id": origin_id,
                "origin_date": met.date() if origin_id else None,
                "introduced_by_id": introducer,
                "keep_in_touch_days": rng.choice((14, 30, 60, 90, 180))
                if rng.random() < 0.06 else None,
                "is_private": rng.random() < 0.05,
                "archived_at": self.now - timedelta(days=rng.randint(1, 300)) if archived else None,
                "last_interaction_at": None, "last_interaction_id": None,
                "created_at": met, "updated_at": met,
            })
            plans.append({
                "id": cid, "met": met, "until": quiet_at, "mediums": medium_choices,
                "medium_weights": [rng.randint(1, 6) for _ in medium_choices],
                "first": first, "last": last, "company": company,
                # Most people get some interactions, a few very many (capped: the
                # busiest relationship holds about 2% of them); some were never contacted.
                "weight": 0.0 if rng.random() < 0.12 else min(rng.paretovariate(1.3), 300.0),
            })
        return rows, plans

    def _plan_interactions(self, owner_id, plans, count):
        rng = self.rng
        active = [p for p in plans if p["weight"] > 0] or plans[:1]
        cumulative = list(itertools.accumulate(p["weight"] or 1.0 for p in active))
        total = cumulative[-1]
        planned = []
        for _ in range(count):
            plan = active[min(bisect.bisect(cumulative, rng.random() * total), len(active) - 1)]
            start, end = plan["met"], max(plan["until"], plan["met"] + timedelta(hours=1))
            at = start + (end - start) * (rng.random() ** 0.7)
            at = min(at.replace(microsecond=0), self.now - timedelta(minutes=1))
            medium_id = rng.choices(plan["mediums"], weights=plan["medium_weights"])[0]
            people = [plan["id"]]
            if rng.random() < 0.08:  # a group: a dinner, a thread, a call with several people
                for _ in range(rng.randint(1, 3)):
                    other = rng.choice(active)
                    if other["met"] <= at and other["id"] not in people:
                        people.append(other["id"])
            planned.append((at, medium_id, people))
        planned.sort(key=lambda p: p[0])
        first_id = _next_id(Interaction)
        rows, participants = [], []
        for n, (at, medium_id, people) in enumerate(planned):
            iid = first_id + n
            initiator = rng.choices([i for i, _ in INITIATORS],
                                    weights=[w for _, w in INITIATORS])[0]
            rows.append({
                "id": iid, "owner_id": owner_id, "medium_id": medium_id, "occurred_at": at,
                "initiated_by": initiator,
                "summary": rng.choice(SUMMARIES).format(t=rng.choice(TOPICS)),
                "notes": rng.choice(NOTES), "is_private": rng.random() < 0.03,
                "created_at": at, "updated_at": at,
            })
            participants.extend({"interaction_id": iid, "contact_id": cid} for cid in people)
        return rows, participants

    def _plan_channels(self, contact_rows, plans):
        rng = self.rng
        b = self.builtins
        rows = []
        for row, plan in zip(contact_rows, plans, strict=True):
            slug = _slug(f"{plan['first']}.{plan['last']}")
            n = row["id"]
            domain = _slug(plan["company"]).replace(".", "") or "mail"
            candidates = [
                (b["email"], f"{slug}{n % 97}@{domain}.example", "work"),
                (b["phone"], f"+44770{n:07d}"[:13], "mobile"),
                (b["linkedin"], f"https://www.linkedin.com/in/{slug.replace('.', '-')}-{n}", ""),
                (b["twitter"], f"@{slug.replace('.', '_')[:10]}{n % 1000}", ""),
                (b["skype"], f"live:{slug}{n}", ""),
                (b["facebook"], f"https://www.facebook.com/{slug}.{n}", ""),
            ]
            for medium_id, value, label in rng.sample(candidates, k=rng.randint(1, 3)):
                rows.append({"contact_id": row["id"], "owner_id": row["owner_id"],
                             "medium_id": medium_id, "value": value, "label": label})
        return rows

    def _other_reminders(self, owner_id, zone, contact_rows, pending, history):
        """Follow-ups and custom reminders: pending (some overdue), ended, and delivered."""
        rng = self.rng
        live = [r for r in contact_rows if r["archived_at"] is None]
        first_id = _next_id(Reminder)
        rows, deliveries = [], []

        def reminder(status, due, **extra):
            contact = rng.choice(live) if live and rng.random() < 0.85 else None
            kind = ReminderKind.FOLLOW_UP if contact else ReminderKind.CUSTOM
            recurrence = Recurrence.NONE
            if kind == ReminderKind.CUSTOM and rng.random() < 0.3:
                recurrence = rng.choice((Recurrence.WEEKLY, Recurrence.MONTHLY, Recurrence.YEARLY))
            title = (f"Follow up with {contact['name']}" if contact
                     else rng.choice(("Send the newsletter", "Update my CV", "Plan the meetup",
                                      "Birthday cards", "Review my network")))
            row = {
                "id": first_id + len(rows), "owner_id": owner_id,
                "contact_id": contact["id"] if contact else None,
                "interaction_id": contact["last_interaction_id"] if contact else None,
                "kind": kind, "title": title, "notes": rng.choice(NOTES), "status": status,
                "due_at": due, "local_time": dtime(9, 0), "time_zone": zone,
                "recurrence": recurrence, "anchor_date": due.date(), "claimed_by": None,
                "claim_expires_at": None, "delivered_at": None, "overdue_since": None,
                "missed_occurrences": 0, "completed_at": None, "snoozed_count": 0,
                "created_at": due - timedelta(days=rng.randint(1, 30)),
                "updated_at": due - timedelta(days=1),
            }
            row.update(extra)
            rows.append(row)
            return row

        for _ in range(pending):
            if rng.random() < 0.15:
                due = self.now - timedelta(days=rng.randint(1, 60), hours=rng.randint(0, 23))
            else:
                due = self.now + timedelta(days=rng.randint(0, 120), hours=rng.randint(0, 23))
            reminder(ReminderStatus.PENDING, due.replace(second=0, microsecond=0))
        for _ in range(history):
            due = self.now - timedelta(days=rng.randint(1, 3000))
            status = rng.choice((ReminderStatus.DONE, ReminderStatus.DONE,
                                 ReminderStatus.DISMISSED, ReminderStatus.CANCELLED))
            reminder(status, due, completed_at=due + timedelta(hours=rng.randint(1, 72)),
                     delivered_at=due)
        for _ in range(max(history // 10, 2)):
            due = self.now - timedelta(days=rng.randint(0, 10), hours=rng.randint(1, 12))
            row = reminder(ReminderStatus.DELIVERED, due, delivered_at=due)
            deliveries.append({
                "reminder_id": row["id"], "user_id": owner_id, "channel": DeliveryChannel.IN_APP,
                "occurrence": due, "status": DeliveryStatus.SENT, "attempts": 1,
                "last_error": None, "next_attempt_at": None, "claimed_by": None,
                "claim_expires_at": None, "message_id": None, "overdue_since": None,
                "created_at": due, "sent_at": due,
                "read_at": due + timedelta(hours=2) if rng.random() < 0.5 else None,
            })
        _bulk(Reminder, rows)
        _bulk(Delivery, deliveries)

    # -- coaches ---------------------------------------------------------------------------

    def coach(self, key: str, name: str, clients: list[Account]) -> Account:
        user, account = self.user(key, name, "Europe/Berlin")
        for n, client in enumerate(clients):
            invited = self.now - timedelta(days=400 - n)
            link = CoachLink(client_id=client.user_id, coach_id=user.id, coach_email=user.email,
                             status=CoachLinkStatus.ACTIVE, share_notes=n % 3 == 0,
                             invited_at=invited, responded_at=invited + timedelta(hours=5))
            db.session.add(link)
            db.session.flush()
            for k in range(n % 3):
                db.session.add(CoachingNote(
                    link_id=link.id, coach_id=user.id, client_id=client.user_id,
                    body=f"Reach out to two people you have not spoken to in a year ({k + 1}).",
                    created_at=self.now - timedelta(days=7 * (k + 1))))
        db.session.flush()
        account.clients = [c.user_id for c in clients]
        db.session.commit()
        each = max(len(clients), 1)
        self.log(f"  {account.email}: {len(clients)} active clients of "
                 f"{sum(c.contacts for c in clients) // each} contacts and "
                 f"{sum(c.interactions for c in clients) // each} interactions each")
        return account


# -- entry points ---------------------------------------------------------------------------


def make_app(url: str):
    return create_app({"SECRET_KEY": "bench-generate", "DATABASE_URL": url})


def migrate_database() -> None:
    """Apply the Alembic migrations, exactly what `crm db upgrade` runs."""
    from flask_migrate import upgrade

    upgrade()


def drop_trigram_indexes() -> list[str]:
    """PostgreSQL: drop the trigram (GIN) indexes for the load and return how to create
    them again, as the migrations defined them. Kept row by row (fastupdate off), those on
    the interactions' summary and notes made the load twice as long (31.6 s against 66.5 s
    at --scale 0.1); built once after it, they are the same indexes."""
    if db.engine.dialect.name != "postgresql":
        return []
    found = db.session.execute(text(
        "SELECT indexname, indexdef FROM pg_indexes "
        "WHERE schemaname = current_schema() AND indexdef LIKE '% USING gin %'")).all()
    for name, _ in found:
        db.session.execute(text(f'DROP INDEX "{name}"'))
    db.session.commit()
    return [definition for _, definition in found]


def generate(url: str, sizes: Sizes, *, seed: int = 2024, now: datetime | None = None,
             log=print) -> dict[str, Account]:
    """Migrate the database at url and load every bench profile; return the accounts."""
    now = (now or datetime.now(UTC)).replace(minute=0, second=0, microsecond=0)
    app = make_app(url)
    started = time.perf_counter()
    with app.app_context():
        migrate_database()
        taken = db.session.scalar(select(func.count()).select_from(User).where(
            User.email.like(f"%@{EMAIL_DOMAIN}")))
        if taken:
            raise SystemExit(f"{taken} bench users exist already: use a fresh database")
        trigram_indexes = drop_trigram_indexes()
        loader = Loader(seed, now, sizes.years, log=log)
        accounts: dict[str, Account] = {}
        accounts["heavy"] = loader.networker(
            "heavy", "Hana Heavy", "Europe/London", contacts=sizes.heavy_contacts,
            interactions=sizes.heavy_interactions, pending_reminders=sizes.heavy_reminders,
            custom_mediums=("Mastodon", "Conference"))
        accounts["light"] = loader.networker(
            "light", "Leo Light", "America/New_York", contacts=sizes.light_contacts,
            interactions=sizes.light_interactions, pending_reminders=sizes.light_reminders,
            tag_count=12, custom_mediums=("Zoom",))
        def clients(key, label, count, contacts, interactions, reminders, tag_count):
            return [
                loader.networker(f"{key}{n:02d}", f"{label} {n:02d}", "Europe/Paris",
                                 contacts=contacts, interactions=interactions,
                                 pending_reminders=reminders, tag_count=tag_count, quiet=True)
                for n in range(1, count + 1)
            ]

        accounts["coach"] = loader.coach("coach", "Cora Coach", clients(
            "client", "Client", sizes.coach_clients, sizes.client_contacts,
            sizes.client_interactions, sizes.client_reminders, 20))
        accounts["coach_light"] = loader.coach("coach-light", "Lila Coach", clients(
            "lclient", "Light Client", sizes.light_coach_clients, sizes.light_contacts,
            sizes.light_interactions, sizes.light_reminders, 12))
        _fix_sequences()
        for definition in trigram_indexes:
            db.session.execute(text(definition))
        db.session.commit()
        if db.engine.dialect.name == "postgresql":
            # What autovacuum does shortly after a load this size.
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(text("ANALYZE"))
        db.session.remove()
        db.engine.dispose()
    log(f"  loaded in {time.perf_counter() - started:.1f} s")
    return accounts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True,
                        help="sqlite:///path or postgresql://... (an empty database)")
    parser.add_argument("--scale", type=float, default=1.0,
                        help="multiply every contact/interaction/reminder count (default 1)")
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--now", type=date.fromisoformat, default=None,
                        help="pretend today is this date (YYYY-MM-DD) for fully repeatable data")
    for f in fields(Sizes):
        parser.add_argument("--" + f.name.replace("_", "-"), type=int, default=None,
                            help=f"default {f.default} (before --scale)")
    args = parser.parse_args()
    sizes = Sizes(**{f.name: getattr(args, f.name) for f in fields(Sizes)
                     if getattr(args, f.name) is not None}).scaled(args.scale)
    now = (datetime.combine(args.now, dtime(12, 0), tzinfo=UTC) if args.now else None)
    print(f"Generating bench data (scale {args.scale}, seed {args.seed}) into "
          f"{args.database_url.split('://')[0]}")
    accounts = generate(args.database_url, sizes, seed=args.seed, now=now)
    print(f"Every bench user's password: {PASSWORD}")
    for account in accounts.values():
        print(f"  {account.email:<28} token {account.token}")


if __name__ == "__main__":
    main()
