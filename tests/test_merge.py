"""Likely duplicates and merging two contacts without losing anything."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
import time_machine
from sqlalchemy import func, select
from support import page_text

from crm.extensions import db
from crm.jobs import tasks
from crm.models import (
    Contact,
    ContactChannel,
    Interaction,
    Reminder,
    ReminderKind,
    ReminderStatus,
    User,
    interaction_participants,
)
from crm.models.reminder import OPEN_STATUSES, Delivery
from crm.portability.duplicates import find_duplicates, merge_contacts, name_key


def add_channel(app, contact, medium, value):
    with app.app_context():
        db.session.add(ContactChannel(contact_id=contact.id, medium_id=medium.id, value=value))
        db.session.commit()


def pairs_of(app, user):
    with app.app_context():
        return {
            frozenset((p.first.name, p.second.name)): p.reasons
            for p in find_duplicates(db.session.get(User, user.id))
        }


def test_name_key_folds_accents_case_and_punctuation():
    assert name_key("  Zoë  ÅNGSTRÖM ") == name_key("zoe angstrom")
    assert name_key("O'Brien, Pat") == "o brien pat"


def test_duplicates_by_handle_and_by_name(app, make_user, make_contact, medium):
    user = make_user()
    a = make_contact(user, name="Ada Lovelace")
    b = make_contact(user, name="A. King")
    add_channel(app, a, medium("email"), "ada@example.com")
    add_channel(app, b, medium("email"), "ADA@example.com")
    emile, ez = make_contact(user, name="Émile Zola"), make_contact(user, name="E. Z.")
    add_channel(app, emile, medium("email"), "émile@example.fr")
    add_channel(app, ez, medium("email"), "ÉMILE@example.fr")
    c = make_contact(user, name="Grace Hopper")
    d = make_contact(user, name="Grace Hoper")
    e = make_contact(user, name="Hopper Grace")
    f = make_contact(user, name="Linus")
    g = make_contact(user, name="Someone Else")
    add_channel(app, f, medium("linkedin"), "https://www.linkedin.com/in/linus")
    add_channel(app, g, medium("linkedin"), "https://www.linkedin.com/in/linus")
    make_contact(user, name="Alan Turing")
    other = make_user()
    make_contact(other, name="Ada Lovelace")

    found = pairs_of(app, user)

    assert found[frozenset(("Ada Lovelace", "A. King"))] == ["Same Email handle: ada@example.com"]
    # In every alphabet (found in review: SQLite's lower() left "ÉMILE@" and "émile@" apart).
    assert "Same Email handle" in found[frozenset(("Émile Zola", "E. Z."))][0]
    assert found[frozenset(("Grace Hopper", "Grace Hoper"))] == ["Similar names"]
    assert found[frozenset(("Grace Hopper", "Hopper Grace"))] == ["Similar names"]
    # The medium is named as on every other page (the key, "linkedin", was shown).
    assert "Same LinkedIn handle" in found[frozenset(("Linus", "Someone Else"))][0]
    assert not any("Alan Turing" in pair for pair in found)
    del c, d, e


def network(app, make_user, make_contact, make_interaction, make_reminder, medium):
    user = make_user()
    introducer = make_contact(user, name="Introducer")
    keep = make_contact(user, name="Ada Lovelace", tags="math", keep_in_touch_days=30)
    drop = make_contact(user, name="Ada King", company="Analytical Engines", tags="math, poetry",
                        notes="Met at the Royal Society", introduced_by=introducer,
                        origin_medium="twitter", origin_date=date(2009, 5, 1),
                        keep_in_touch_days=14)
    third = make_contact(user, name="Mary Somerville", introduced_by=drop)
    add_channel(app, keep, medium("email"), "ada@example.com")
    add_channel(app, drop, medium("email"), "ada@example.com")
    add_channel(app, drop, medium("twitter"), "@ada")
    shared = make_interaction(user, [keep, drop], medium_key="face_to_face",
                              occurred_at=datetime(2025, 1, 1, tzinfo=UTC))
    solo = make_interaction(user, [drop], medium_key="skype",
                            occurred_at=datetime(2025, 3, 1, tzinfo=UTC))
    group = make_interaction(user, [drop, third], medium_key="video_call",
                             occurred_at=datetime(2025, 2, 1, tzinfo=UTC))
    follow_up = make_reminder(user, local_date=date(2030, 1, 1), contact=drop,
                              title="Send Ada the paper")
    return user, keep, drop, third, introducer, (shared, solo, group), follow_up


def test_merge_moves_everything_and_loses_nothing(
        app, make_user, make_contact, make_interaction, make_reminder, medium, count):
    user, keep, drop, third, introducer, (shared, solo, group), follow_up = network(
        app, make_user, make_contact, make_interaction, make_reminder, medium)
    interactions_before = count(Interaction)

    with app.app_context():
        moved = merge_contacts(db.session.get(User, user.id), db.session.get(Contact, keep.id),
                               db.session.get(Contact, drop.id))
        db.session.commit()

    assert count(Contact, Contact.id == drop.id) == 0
    assert count(Interaction) == interactions_before
    assert moved["interactions"] == 2
    with app.app_context():
        kept = db.session.get(Contact, keep.id)
        participations = db.session.execute(
            select(interaction_participants.c.interaction_id, func.count())
            .where(interaction_participants.c.contact_id == keep.id)
            .group_by(interaction_participants.c.interaction_id)).all()
        assert dict(participations) == {shared.id: 1, solo.id: 1, group.id: 1}
        assert sorted((ch.medium.key, ch.value) for ch in kept.channels) == [
            ("email", "ada@example.com"), ("twitter", "@ada")]
        assert kept.tag_names == ["math", "poetry"]
        assert kept.company == "Analytical Engines"  # filled from drop
        assert kept.notes == "Met at the Royal Society"
        assert (kept.origin_medium.key, kept.origin_date) == ("twitter", date(2009, 5, 1))
        assert kept.introduced_by_id == introducer.id
        assert kept.keep_in_touch_days == 14  # the closer cadence
        assert db.session.get(Contact, third.id).introduced_by_id == keep.id
        # Last interaction across both: the solo Skype call of March.
        assert kept.last_interaction_id == solo.id
        assert kept.last_interaction_at == datetime(2025, 3, 1, tzinfo=UTC)
        assert db.session.get(Reminder, follow_up.id).contact_id == keep.id
        open_kit = db.session.scalars(select(Reminder).where(
            Reminder.contact_id == keep.id, Reminder.kind == ReminderKind.KEEP_IN_TOUCH,
            Reminder.status.in_(OPEN_STATUSES))).all()
        assert len(open_kit) == 1
        assert open_kit[0].due_at == datetime(2025, 3, 15, tzinfo=UTC)  # 14 days after
        assert db.session.scalar(select(func.count()).select_from(Reminder).where(
            Reminder.status == ReminderStatus.CANCELLED, Reminder.kind ==
            ReminderKind.KEEP_IN_TOUCH)) >= 1


def test_merge_pages(app, client, auth, make_user, make_contact, make_interaction, make_reminder,
                     medium, count):
    user, keep, drop, *_ = network(app, make_user, make_contact, make_interaction,
                                   make_reminder, medium)
    auth.login_as(user)

    listing = page_text(client.get("/duplicates").data)
    assert "Ada Lovelace" in listing and "Same Email handle: ada@example.com" in listing
    page = client.get(f"/contacts/{keep.id}/merge?other={drop.id}")
    assert page.status_code == 200
    assert "Keep Ada Lovelace" in page_text(page.data)

    response = client.post(f"/contacts/{keep.id}/merge",
                           data={"other": str(drop.id), "keep": str(drop.id)})

    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/contacts/{drop.id}")
    assert count(Contact, Contact.id == keep.id) == 0  # the user chose to keep "Ada King"


def test_merging_with_another_users_contact_is_404(client, auth, make_user, make_contact, count):
    a, b = make_user(), make_user()
    mine = make_contact(b, name="Mine")
    theirs = make_contact(a, name="Theirs")
    auth.login_as(b)

    assert client.get(f"/contacts/{mine.id}/merge?other={theirs.id}").status_code == 404
    assert client.post(f"/contacts/{mine.id}/merge",
                       data={"other": str(theirs.id), "keep": str(mine.id)}).status_code == 404
    assert client.get(f"/contacts/{mine.id}/merge").status_code == 404
    assert count(Contact) == 2


def test_merging_keeps_notes_that_are_part_of_the_kept_ones(app, make_user, make_contact):
    user = make_user()
    keep = make_contact(user, name="Ada Lovelace", notes="We talked about Rust and Go.")
    drop = make_contact(user, name="Ada Lovelace", notes="Rust")
    with app.app_context():
        merge_contacts(db.session.get(User, user.id), db.session.get(Contact, keep.id),
                       db.session.get(Contact, drop.id))
        db.session.commit()
        assert db.session.get(Contact, keep.id).notes == "We talked about Rust and Go.\n\nRust"


def test_merging_never_makes_a_cycle_of_introductions(app, make_user, make_contact):
    user = make_user()
    kim = make_contact(user, name="Kim")
    xavier = make_contact(user, name="Xavier", introduced_by=kim)  # Kim introduced Xavier,
    dup = make_contact(user, name="Kim K.", introduced_by=xavier)  # who introduced Kim's double
    with app.app_context():
        merge_contacts(db.session.get(User, user.id), db.session.get(Contact, kim.id),
                       db.session.get(Contact, dup.id))
        db.session.commit()
        kept, x = db.session.get(Contact, kim.id), db.session.get(Contact, xavier.id)
        assert (kept.introduced_by_id, x.introduced_by_id) == (None, kim.id)


# Thursday 27 March 2025, 11:00 in Berlin (CET); next month's 28th is in summer time (CEST).
NOW = datetime(2025, 3, 27, 10, 0, tzinfo=UTC)
APRIL_10, APRIL_28 = datetime(2025, 4, 10, 7, 0, tzinfo=UTC), datetime(2025, 4, 28, 7, 0, tzinfo=UTC)


def two_anas(app, client, auth, make_user, make_contact, make_interaction, last_seen):
    """Ana and her duplicate, each with a 30-day keep-in-touch cadence and seen last at
    last_seen, the user (Berlin) logged in: {name: (contact, its keep-in-touch reminder id)}."""
    user = make_user(name="Ada", time_zone="Europe/Berlin")
    auth.login_as(user)
    anas = {}
    for name in ("ana", "duplicate"):  # ana is older: her reminder is the older one too
        contact = make_contact(user, name="Ana Lima", keep_in_touch_days=30)
        make_interaction(user, contact, occurred_at=last_seen)
        with app.app_context():
            anas[name] = (contact, db.session.scalar(select(Reminder.id).where(
                Reminder.contact_id == contact.id, Reminder.status.in_(OPEN_STATUSES))))
    return user, anas


def snooze_until(client, reminder_id: int, day: str) -> None:
    response = client.post(f"/reminders/{reminder_id}/snooze", data={
        f"snooze{reminder_id}-until": "date", f"snooze{reminder_id}-date": day,
        f"snooze{reminder_id}-time": "09:00"})
    assert response.status_code == 302


def merge_on_the_page(client, keep, drop) -> None:
    response = client.post(f"/contacts/{keep.id}/merge",
                           data={"other": str(drop.id), "keep": str(keep.id)})
    assert response.status_code == 302


def open_keep_in_touch(app, contact) -> list[Reminder]:
    with app.app_context():
        rows = list(db.session.scalars(select(Reminder).where(
            Reminder.contact_id == contact.id, Reminder.kind == ReminderKind.KEEP_IN_TOUCH,
            Reminder.status.in_(OPEN_STATUSES))))
        db.session.expunge_all()
        return rows


def worker_pass(app, now) -> int:
    with app.app_context():
        tasks.sweep_keep_in_touch(now)
        return tasks.deliver_in_app(now, "worker-1")


@pytest.mark.parametrize("kept, snoozes", [
    ("ana", {"duplicate": "2025-04-28"}),  # the duplicate's snooze carries over
    ("duplicate", {"duplicate": "2025-04-28"}),  # the kept one's own, its reminder the newer
    ("ana", {"ana": "2025-04-10", "duplicate": "2025-04-28"}),  # the later of two
])
def test_a_merge_keeps_the_latest_snooze_of_the_two_keep_in_touch_reminders(
        app, client, auth, make_user, make_contact, make_interaction, kept, snoozes):
    """I snoozed catching up with Ana until next month; I merge her duplicate: I am not
    reminded tomorrow, when a cadence from when we last spoke falls due."""
    with time_machine.travel(NOW, tick=False):
        user, anas = two_anas(app, client, auth, make_user, make_contact, make_interaction,
                              last_seen=datetime(2025, 2, 26, 12, 0, tzinfo=UTC))
        for name, day in snoozes.items():
            snooze_until(client, anas[name][1], day)
        dropped = "duplicate" if kept == "ana" else "ana"
        merge_on_the_page(client, anas[kept][0], anas[dropped][0])

    [merged] = open_keep_in_touch(app, anas[kept][0])
    assert (merged.due_at, merged.status) == (APRIL_28, ReminderStatus.PENDING)
    tomorrow = datetime(2025, 3, 28, 12, 0, tzinfo=UTC)  # a cadence after 26 February
    assert worker_pass(app, tomorrow) == 0
    assert worker_pass(app, APRIL_10) == 0
    assert worker_pass(app, APRIL_28) == 1
    [merged] = open_keep_in_touch(app, anas[kept][0])
    assert merged.status == ReminderStatus.DELIVERED


def test_a_merge_ends_the_reminder_waiting_in_the_inbox_for_the_duplicates_snooze(
        app, client, auth, make_user, make_contact, make_interaction, count):
    """Both fell due; I snoozed the duplicate's until next month and had not seen Ana's yet:
    merged, her notification is read and nothing comes before next month."""
    with time_machine.travel(NOW, tick=False):
        user, anas = two_anas(app, client, auth, make_user, make_contact, make_interaction,
                              last_seen=datetime(2025, 2, 20, 12, 0, tzinfo=UTC))
        assert worker_pass(app, NOW) == 2
        snooze_until(client, anas["duplicate"][1], "2025-04-28")
        assert "Keep in touch with Ana Lima" in page_text(client.get("/notifications").data)
        merge_on_the_page(client, anas["ana"][0], anas["duplicate"][0])

    [merged] = open_keep_in_touch(app, anas["ana"][0])
    assert (merged.id, merged.due_at) == (anas["duplicate"][1], APRIL_28)
    assert count(Delivery, Delivery.read_at.is_(None)) == 0
    assert worker_pass(app, datetime(2025, 3, 28, 12, 0, tzinfo=UTC)) == 0


def test_a_merge_while_the_worker_delivers_one_reminder_keeps_the_other_ones_snooze(
        app, client, auth, make_user, make_contact, make_interaction, count):
    """Review: as the inbox case above, but the worker had just claimed Ana's reminder when
    I merged: the duplicate's snooze until next month was cancelled, and Ana's reminder
    landed in the inbox, unread, with nothing snoozed left."""
    with time_machine.travel(NOW, tick=False):
        user, anas = two_anas(app, client, auth, make_user, make_contact, make_interaction,
                              last_seen=datetime(2025, 2, 20, 12, 0, tzinfo=UTC))
        snooze_until(client, anas["duplicate"][1], "2025-04-28")
        with app.app_context():
            claimed = tasks.claim_due_reminders(NOW, "worker-1", 10)
        assert claimed == [anas["ana"][1]]
        merge_on_the_page(client, anas["ana"][0], anas["duplicate"][0])
        with app.app_context():
            tasks.deliver_claimed(claimed, NOW, "worker-1")
        assert worker_pass(app, NOW) == 0

    # The snooze stands, as it does for a reminder delivered a moment earlier.
    assert [(r.due_at, r.status) for r in open_keep_in_touch(app, anas["ana"][0])] == [
        (APRIL_28, ReminderStatus.PENDING)]
    assert count(Delivery, Delivery.read_at.is_(None)) == 0


def test_a_merge_while_the_worker_delivers_one_reminder_sends_no_email_of_it(
        mail_app, smtp_server, client, auth, make_user, make_contact, make_interaction,
        count):
    """as above, with reminder emails on. The snooze stands and the delivered
    reminder is ended by the next sweep (up to 15 minutes on), but the email job, which
    runs every few seconds, has sent 'Keep in touch with Ana' by then: the user is emailed
    about the very person they snoozed."""
    app = mail_app
    with time_machine.travel(NOW, tick=False):
        user, anas = two_anas(app, client, auth, make_user, make_contact, make_interaction,
                              last_seen=datetime(2025, 2, 20, 12, 0, tzinfo=UTC))
        snooze_until(client, anas["duplicate"][1], "2025-04-28")
        with app.app_context():
            claimed = tasks.claim_due_reminders(NOW, "worker-1", 10)
        assert claimed == [anas["ana"][1]]
        merge_on_the_page(client, anas["ana"][0], anas["duplicate"][0])
        with app.app_context():
            tasks.deliver_claimed(claimed, NOW, "worker-1")
            tasks.send_pending_emails(NOW, "worker-1")  # the email job, before any sweep
        assert worker_pass(app, NOW) == 0

    assert [(r.due_at, r.status) for r in open_keep_in_touch(app, anas["ana"][0])] == [
        (APRIL_28, ReminderStatus.PENDING)]
    assert [m["Subject"] for m in smtp_server.messages] == []
