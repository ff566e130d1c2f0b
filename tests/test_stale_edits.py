"""Edit forms opened twice (two tabs, a phone and a laptop, a form left open while an import
or the API changes the record): each save changes only what its own form changed, and a
field changed on both sides to different values is a conflict the user settles, nothing lost.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta

import pytest
from support import field_error, field_value, form_values, page_text

from crm.extensions import db
from crm.models import Contact, Interaction

GARBAGE_BASES = [None, "", "garbage", "[1, 2]", '{"company": 5}', '{"phone": "0"}',
                 "[" * 4000, "[" * 5000, "\x00"]


def _opened(client, url: str) -> dict[str, list[str]]:
    """What the browser would send back from the edit form at url, untouched."""
    values = form_values(client.get(url).data)
    assert values["base"][0]  # the form carries what it showed
    return values


def _saved_from_stale(client, url: str, elsewhere: dict[str, str], base: str | None):
    """Save `elsewhere` from one form at url, then from a form opened before it, with its
    base replaced by `base` (None: left out), new notes: the second save's answer."""
    stale, fresh = _opened(client, url), _opened(client, url)
    assert client.post(url, data={**fresh, **{k: [v] for k, v in elsewhere.items()}}
                       ).status_code == 302
    stale["notes"] = ["Typed."]
    if base is None:
        del stale["base"]
    else:
        stale["base"] = [base]
    return client.post(url, data=stale)


def _changed_to(body: bytes, field: str, words: str) -> bool:
    """Whether the field says it changed since the form was opened, to what `words` say."""
    return field_error(body, field) == (f"Changed since you opened this form, to “{words}”. "
                                        "Save again to replace it with yours.")


def _summary_links(body: bytes, field: str, label: str) -> bool:
    """Whether the page opens with the error summary, linking to the field's message."""
    text = body.decode()
    return "data-error-summary" in text and bool(
        re.search(rf'<a href="#{field}">{re.escape(label)}: Changed since you opened', text))


# -- contacts ------------------------------------------------------------------------------


def _contact(app, contact_id) -> Contact:
    with app.app_context():
        contact = db.session.get(Contact, contact_id)
        contact.tag_names  # noqa: B018 - load the tags before the session closes
        return contact


def test_two_stale_contact_forms_keep_both_changes(app, client, logged_in, make_contact):
    ada = make_contact(logged_in, name="Ada Lovelace", company="Old Co", notes="Met at a talk.",
                       tags=["math", "engines"])
    url = f"/contacts/{ada.id}/edit"
    tab_a, tab_b = _opened(client, url), _opened(client, url)

    tab_a["notes"] = ["Met at a talk.\r\nWrote the first program."]
    tab_a["tags"] = ["Engines, Math"]  # the same tags, in another order and case
    assert client.post(url, data=tab_a).status_code == 302
    tab_b["company"] = ["Acme Ltd"]
    tab_b["tags"] = ["math, engines, poetry"]
    assert client.post(url, data=tab_b).status_code == 302

    saved = _contact(app, ada.id)
    assert saved.notes == "Met at a talk.\r\nWrote the first program."
    assert saved.company == "Acme Ltd"
    assert sorted(saved.tag_names) == ["engines", "math", "poetry"]


def test_two_stale_contact_forms_changing_one_field_is_a_conflict_nothing_lost(
        app, client, logged_in, make_contact):
    ada = make_contact(logged_in, name="Ada Lovelace", company="Old Co", title="Countess")
    url = f"/contacts/{ada.id}/edit"
    tab_a, tab_b = _opened(client, url), _opened(client, url)
    tab_a["company"], tab_a["title"] = ["Acme Ltd"], ["Analyst"]
    assert client.post(url, data=tab_a).status_code == 302

    tab_b["company"], tab_b["notes"] = ["Babbage & Co"], ["Typed in tab B."]
    response = client.post(url, data=tab_b)

    assert response.status_code == 409
    assert _changed_to(response.data, "company", "Acme Ltd")
    assert _summary_links(response.data, "company", "Company")
    assert field_value(response.data, "company") == "Babbage & Co"
    assert field_value(response.data, "notes") == "Typed in tab B."
    # The title tab B never touched shows as stored now: what saving it again keeps.
    assert field_value(response.data, "title") == "Analyst"
    saved = _contact(app, ada.id)
    assert (saved.company, saved.title, saved.notes) == ("Acme Ltd", "Analyst", "")

    again = client.post(url, data=form_values(response.data))
    assert again.status_code == 302
    saved = _contact(app, ada.id)
    # Tab B's company and notes; tab A's title, which tab B never touched.
    assert (saved.company, saved.title, saved.notes) == (
        "Babbage & Co", "Analyst", "Typed in tab B.")


def test_a_contact_cleared_since_the_form_opened_says_so(app, client, logged_in,
                                                         make_contact):
    ada = make_contact(logged_in, name="Ada Lovelace", company="Old Co")
    url = f"/contacts/{ada.id}/edit"
    tab_a, tab_b = _opened(client, url), _opened(client, url)
    tab_a["company"] = [""]
    assert client.post(url, data=tab_a).status_code == 302
    tab_b["company"] = ["Acme Ltd"]
    response = client.post(url, data=tab_b)
    assert response.status_code == 409
    assert field_error(response.data, "company") == (
        "Cleared since you opened this form. Save again to keep yours.")


@pytest.mark.parametrize("base", GARBAGE_BASES)
def test_a_contact_form_without_a_base_saves_as_sent(app, client, logged_in, make_contact,
                                                    base):
    ada = make_contact(logged_in, name="Ada Lovelace", company="Old Co", notes="Kept.")
    response = _saved_from_stale(client, f"/contacts/{ada.id}/edit", {"company": "Acme Ltd"},
                                 base)
    assert response.status_code == 302  # as before bases: every field as sent
    saved = _contact(app, ada.id)
    assert (saved.company, saved.notes) == ("Old Co", "Typed.")
    assert "Changes saved." in page_text(client.get(f"/contacts/{ada.id}").data)


# -- interactions --------------------------------------------------------------------------


def _interaction(app, interaction_id):
    with app.app_context():
        interaction = db.session.get(Interaction, interaction_id)
        return (interaction.medium.key, interaction.summary, interaction.notes,
                sorted(c.name for c in interaction.participants))


def test_two_stale_interaction_forms_keep_both_changes(app, client, logged_in, make_contact,
                                                      make_interaction, medium):
    ada = make_contact(logged_in, name="Ada Lovelace")
    bob = make_contact(logged_in, name="Bob Babbage")
    talk = make_interaction(logged_in, ada, "email", summary="Talked engines",
                            occurred_at=datetime(2025, 6, 1, 12, 0, 37, tzinfo=UTC))
    url = f"/interactions/{talk.id}/edit"
    tab_a, tab_b = _opened(client, url), _opened(client, url)

    tab_a["notes"] = ["She sketched the loop.\r\nSend her the tables."]
    tab_a["participants"] = [str(ada.id), str(bob.id)]
    tab_a["occurred_at"] = ["2025-06-01T13:00"]
    assert client.post(url, data=tab_a).status_code == 302
    tab_b["medium"] = [str(medium("phone").id)]
    tab_b["summary"] = ["Called about engines"]
    assert client.post(url, data=tab_b).status_code == 302

    assert _interaction(app, talk.id) == (
        "phone", "Called about engines", "She sketched the loop.\r\nSend her the tables.",
        ["Ada Lovelace", "Bob Babbage"])
    with app.app_context():  # "When", shown to the minute, was tab B's as shown: tab A's kept
        assert db.session.get(Interaction, talk.id).occurred_at == datetime(
            2025, 6, 1, 13, 0, tzinfo=UTC)


def test_two_stale_interaction_forms_changing_one_field_is_a_conflict_nothing_lost(
        app, client, logged_in, make_contact, make_interaction):
    ada = make_contact(logged_in, name="Ada Lovelace")
    bob = make_contact(logged_in, name="Bob Babbage")
    chen = make_contact(logged_in, name="Chen Wu")
    talk = make_interaction(logged_in, ada, "email", summary="Talked engines")
    url = f"/interactions/{talk.id}/edit"
    tab_a, tab_b = _opened(client, url), _opened(client, url)
    tab_a["summary"], tab_a["notes"] = ["Talked looms"], ["Notes from tab A."]
    tab_a["participants"] = [str(ada.id), str(bob.id)]
    assert client.post(url, data=tab_a).status_code == 302

    tab_b["summary"] = ["Talked poetry"]
    tab_b["participants"] = [str(ada.id), str(chen.id)]
    response = client.post(url, data=tab_b)

    assert response.status_code == 409
    assert _changed_to(response.data, "summary", "Talked looms")
    assert _changed_to(response.data, "participants", "Ada Lovelace, Bob Babbage")
    assert _summary_links(response.data, "summary", "Summary")
    assert field_value(response.data, "summary") == "Talked poetry"
    assert sorted(form_values(response.data)["participants"]) == sorted(
        [str(ada.id), str(chen.id)])
    assert _interaction(app, talk.id) == ("email", "Talked looms", "Notes from tab A.",
                                          ["Ada Lovelace", "Bob Babbage"])

    again = client.post(url, data=form_values(response.data))
    assert again.status_code == 302
    assert _interaction(app, talk.id) == ("email", "Talked poetry", "Notes from tab A.",
                                          ["Ada Lovelace", "Chen Wu"])


@pytest.mark.parametrize("base", GARBAGE_BASES)
def test_an_interaction_form_without_a_base_saves_as_sent(app, client, logged_in,
                                                          make_contact, make_interaction,
                                                          base):
    ada = make_contact(logged_in, name="Ada Lovelace")
    talk = make_interaction(logged_in, ada, "email", summary="Talked engines", notes="Kept.")
    response = _saved_from_stale(client, f"/interactions/{talk.id}/edit",
                                 {"summary": "Talked looms"}, base)
    assert response.status_code == 302  # as before bases: every field as sent
    assert _interaction(app, talk.id) == ("email", "Talked engines", "Typed.", ["Ada Lovelace"])


# -- reminders -----------------------------------------------------------------------------


def _reminder(app, reminder_id):
    from crm.models.reminder import Reminder

    with app.app_context():
        reminder = db.session.get(Reminder, reminder_id)
        return (reminder.title, reminder.notes, reminder.contact_id, reminder.due_at)


def test_two_stale_reminder_forms_keep_both_changes(app, client, logged_in, make_reminder):
    call = make_reminder(logged_in, title="Call Ada", notes="About the engine.",
                         local_date=date(2030, 1, 7))
    url = f"/reminders/{call.id}/edit"
    tab_a, tab_b = _opened(client, url), _opened(client, url)

    tab_a["notes"] = ["About the engine.\r\nAnd the loom."]
    assert client.post(url, data=tab_a).status_code == 302
    tab_b["title"], tab_b["local_date"] = ["Call Ada Lovelace"], ["2030-01-09"]
    assert client.post(url, data=tab_b).status_code == 302

    assert _reminder(app, call.id) == ("Call Ada Lovelace", "About the engine.\r\nAnd the loom.",
                                       None, datetime(2030, 1, 9, 9, 0, tzinfo=UTC))


def test_a_stale_reminder_form_left_at_a_time_now_past_keeps_the_new_time(
        app, client, logged_in, make_reminder):
    call = make_reminder(logged_in, title="Call Ada",
                         due_at=datetime.now(UTC).replace(second=0, microsecond=0)
                         - timedelta(days=2))
    url = f"/reminders/{call.id}/edit"
    tab_a, tab_b = _opened(client, url), _opened(client, url)
    tab_a["local_date"] = ["2030-01-07"]
    assert client.post(url, data=tab_a).status_code == 302

    tab_b["title"] = ["Call Ada Lovelace"]  # its date, as opened, is two days ago
    assert client.post(url, data=tab_b).status_code == 302
    title, _, _, due_at = _reminder(app, call.id)
    assert (title, due_at.date()) == ("Call Ada Lovelace", date(2030, 1, 7))


def test_two_stale_reminder_forms_changing_one_field_is_a_conflict_nothing_lost(
        app, client, logged_in, make_contact, make_reminder):
    ada = make_contact(logged_in, name="Ada Lovelace")
    bob = make_contact(logged_in, name="Bob Babbage")
    chen = make_contact(logged_in, name="Chen Wu")
    call = make_reminder(logged_in, title="Call Ada", contact=ada, local_date=date(2030, 1, 7))
    url = f"/reminders/{call.id}/edit"
    tab_a, tab_b = _opened(client, url), _opened(client, url)
    tab_a["title"], tab_a["contact"] = ["Call Bob"], [str(bob.id)]
    tab_a["local_time"] = ["10:30"]
    assert client.post(url, data=tab_a).status_code == 302

    tab_b["title"], tab_b["contact"] = ["Call Chen"], [str(chen.id)]
    tab_b["notes"] = ["Typed in tab B."]
    response = client.post(url, data=tab_b)

    assert response.status_code == 409
    assert _changed_to(response.data, "title", "Call Bob")
    assert _changed_to(response.data, "contact", "Bob Babbage")
    assert _summary_links(response.data, "title", "What to do")
    typed = form_values(response.data)
    assert (typed["title"], typed["contact"], typed["notes"]) == (
        ["Call Chen"], [str(chen.id)], ["Typed in tab B."])
    moved = datetime(2030, 1, 7, 10, 30, tzinfo=UTC)
    assert _reminder(app, call.id) == ("Call Bob", "", bob.id, moved)

    again = client.post(url, data=typed)
    assert again.status_code == 302
    # Tab B's title, person and notes; tab A's time, which tab B never touched.
    assert _reminder(app, call.id) == ("Call Chen", "Typed in tab B.", chen.id, moved)


@pytest.mark.parametrize("base", GARBAGE_BASES)
def test_a_reminder_form_without_a_base_saves_as_sent(app, client, logged_in, make_reminder,
                                                      base):
    call = make_reminder(logged_in, title="Call Ada", notes="Kept.", local_date=date(2030, 1, 7))
    response = _saved_from_stale(client, f"/reminders/{call.id}/edit", {"title": "Call Bob"},
                                 base)
    assert response.status_code == 302  # as before bases: every field as sent
    assert _reminder(app, call.id)[:2] == ("Call Ada", "Typed.")


def test_a_reminders_date_and_time_are_kept_or_changed_together(app, client, auth, make_user,
                                                                 make_reminder):
    """Found by the review: a stale tab's new time joined to a date moved since made a time
    nobody chose, already past, and the reminder fired at once."""
    import time_machine

    with time_machine.travel(datetime(2030, 1, 7, 12, 0, tzinfo=UTC), tick=False):
        user = make_user(email="ada@example.com")
        auth.login_as(user)
        call = make_reminder(user, title="Call Ada", local_date=date(2030, 1, 8),
                             local_time=time(12, 30))  # tomorrow 12:30
        url = f"/reminders/{call.id}/edit"
        tab_a, tab_b = _opened(client, url), _opened(client, url)
        tab_a["local_date"] = ["2030-01-07"]  # today 12:30, still ahead
        assert client.post(url, data=tab_a).status_code == 302
        tab_b["local_time"] = ["11:00"]  # tomorrow 11:00, as tab B sees it
        response = client.post(url, data=tab_b)

        assert response.status_code == 409
        assert _changed_to(response.data, "local_date", "7 Jan 2030")
        assert _reminder(app, call.id)[3] == datetime(2030, 1, 7, 12, 30, tzinfo=UTC)
        again = client.post(url, data=form_values(response.data))  # tab B's, on purpose
        assert again.status_code == 302
        assert _reminder(app, call.id)[3] == datetime(2030, 1, 8, 11, 0, tzinfo=UTC)
