"""Choosing people in a form: the pickers list the chosen and at most SUGGESTIONS others,
find anyone by a term (live through /contacts/choices, or with the form's Find button
without JavaScript), and validate what is sent without listing the whole network."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from support import as_user, field_error, form_values, page_text

from crm.contacts.picker import SUGGESTIONS
from crm.contacts.services import ContactData, create_contact, set_archived
from crm.extensions import db
from crm.interactions.services import InteractionData, log_interaction
from crm.models import Contact, Initiator, Interaction, Medium, Reminder, User


@pytest.fixture
def crowd(app, logged_in):
    """crowd(n) adds n contacts "Member 000".. in one unit of work, each in touch a day
    later than the one before (so the last made is the most recent); returns their ids."""
    made: list[int] = []

    def add(n, **fields):
        with app.app_context():
            user = db.session.get(User, logged_in.id)
            phone = db.session.scalar(select(Medium).where(Medium.key == "phone"))
            start = datetime(2025, 1, 1, tzinfo=UTC)
            for _ in range(n):
                i = len(made)
                contact = create_contact(user, ContactData(name=f"Member {i:03d}", **fields))
                log_interaction(user, InteractionData(
                    medium=phone, occurred_at=start + timedelta(days=i),
                    initiated_by=Initiator.ME, participants=[contact], summary=f"Call {i}"))
                made.append(contact.id)
            db.session.commit()
        return list(made)

    return add


def listed(body, name: str) -> list[str]:
    """The values of the picker's checkboxes or radio buttons named `name`, in order."""
    html = body.decode() if isinstance(body, bytes) else body
    return re.findall(rf'<input type="(?:checkbox|radio)" name="{name}" value="(\d*)"', html)


def ids(values) -> list[int]:
    return [int(v) for v in values if v]


def test_a_large_network_lists_the_most_recent_people_not_everyone(client, logged_in, crowd,
                                                                   make_interaction):
    people = crowd(SUGGESTIONS + 12)
    page = client.get("/interactions/new")
    assert page.status_code == 200
    shown = ids(listed(page.data, "participants"))
    # The thirty most recently in touch, by name (the oldest twelve are not written out).
    assert shown == people[-SUGGESTIONS:]
    assert f"The {SUGGESTIONS} people most recently in touch, of {SUGGESTIONS + 12}." \
        in page_text(page.data)
    # Someone in touch today comes into the list, and the least recent one leaves it.
    make_interaction(logged_in, _contact(people[0]), occurred_at=datetime(2026, 1, 1, tzinfo=UTC))
    assert ids(listed(client.get("/interactions/new").data, "participants")) == [
        people[0], *people[-SUGGESTIONS + 1:]]
    # A chosen person is listed first and ticked, though not among the recent.
    chosen = client.get(f"/interactions/new?contact={people[1]}")
    assert ids(listed(chosen.data, "participants"))[:2] == [people[1], people[0]]
    assert form_values(chosen.data)["participants"] == [str(people[1])]


def _contact(contact_id: int):
    class Ref:
        id = contact_id
    return Ref


def test_a_small_network_is_listed_whole_by_name(client, logged_in, make_contact):
    for name in ("Zoë", "Ana", "émile"):
        make_contact(logged_in, name=name)
    page = client.get("/interactions/new")
    text = page_text(page.data)
    assert [text.index(n) for n in ("Ana", "émile", "Zoë")] == sorted(
        text.index(n) for n in ("Ana", "émile", "Zoë"))
    assert len(listed(page.data, "participants")) == 3
    assert "most recently in touch" not in text
    assert 'name="participants_q"' not in page.data.decode()  # no search box for three


def test_choices_find_anyone_by_name_company_tag_or_handle(app, client, logged_in, crowd,
                                                          make_contact, make_user):
    crowd(SUGGESTIONS + 5)
    zoe = make_contact(logged_in, name="Zoë Okafor", company="Nestlé", tags="Éclair")
    archived = make_contact(logged_in, name="Zoe Archived")
    with app.app_context():
        set_archived(db.session.get(Contact, archived.id), True)
        db.session.commit()
    other = make_user(email="other@example.com")
    make_contact(other, name="Zoe Elsewhere")

    def found(q, **args):
        response = client.get("/contacts/choices", query_string={"q": q, **args})
        assert response.status_code == 200
        assert response.mimetype == "application/json"
        return response.get_json()

    for term in ("zoe", "okaf", "nestle", "eclair"):
        assert [c["label"] for c in found(term)["choices"]] == ["Zoë Okafor (Nestlé)"], term
    assert found("zoe", exclude=zoe.id)["choices"] == []
    everyone = found("member")
    assert len(everyone["choices"]) == SUGGESTIONS and everyone["more"] is True
    assert everyone["total"] == SUGGESTIONS + 6
    assert found("nobody-at-all") == {"choices": [], "more": False, "total": SUGGESTIONS + 6,
                                      "status": "Nobody found for “nobody-at-all”."}
    # No term: the most recently in touch (Zoë never was), by name as the form lists them.
    assert [c["label"] for c in found("")["choices"]] == [
        f"Member {i:03d}" for i in range(5, SUGGESTIONS + 5)]


def test_choices_are_for_a_logged_in_user_only(app, client):
    response = client.get("/contacts/choices?q=a")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_find_without_javascript_keeps_what_was_typed_and_saves_nothing(
        client, logged_in, crowd, make_contact, count):
    people = crowd(SUGGESTIONS + 5)
    zoe = make_contact(logged_in, name="Zoë Okafor")
    before = count(Interaction)
    response = client.post("/interactions/new", data={
        "medium": "", "occurred_at": "2025-01-05T10:00", "initiated_by": "them",
        "participants": [people[0]], "participants_q": "okafor", "find": "participants",
        "summary": "Talked about the Berlin trip", "notes": "Bring the slides"})
    assert response.status_code == 200
    assert count(Interaction) == before
    values = form_values(response.data)
    # Nothing is lost and no error is shown: it was a search, not a save.
    assert values["summary"] == ["Talked about the Berlin trip"]
    assert values["notes"] == ["Bring the slides"]
    assert values["participants"] == [str(people[0])]
    assert values["participants_q"] == ["okafor"]
    assert "Please correct" not in page_text(response.data)
    assert ids(listed(response.data, "participants")) == [people[0], zoe.id]
    assert "1 person found." in page_text(response.data)
    # Ticking the person found and saving logs the interaction with both.
    values["participants"].append(str(zoe.id))
    values["medium"] = [str(_phone_id(client))]
    del values["participants_q"]
    saved = client.post("/interactions/new", data=values)
    assert saved.status_code == 302
    assert count(Interaction) == before + 1


def _phone_id(client) -> int:
    page = client.get("/interactions/new").data.decode()
    return int(re.search(r'<option value="(\d+)">Phone</option>', page).group(1))


def test_anyone_can_be_saved_though_not_listed(app, client, logged_in, crowd):
    people = crowd(SUGGESTIONS + 5)
    oldest = people[0]
    assert oldest not in ids(listed(client.get("/interactions/new").data, "participants"))
    response = client.post("/interactions/new", data={
        "medium": _phone_id(client), "occurred_at": "2025-01-05T10:00", "initiated_by": "me",
        "participants": oldest, "summary": "Caught up"})
    assert response.status_code == 302
    with app.app_context():
        assert db.session.get(Contact, oldest).last_interaction.summary == "Caught up"


def test_enter_after_typing_a_term_finds_and_otherwise_saves(client, logged_in, crowd,
                                                             make_contact, count):
    """Without JavaScript, Enter submits through the form's hidden default button, which
    has no name: a term typed and not yet searched for is searched for; with every term
    as searched (or none), the form is saved. The visible button always saves."""
    people = crowd(SUGGESTIONS + 5)
    zoe = make_contact(logged_in, name="Zoë Okafor")
    form = {"medium": _phone_id(client), "occurred_at": "2025-01-05T10:00",
            "initiated_by": "me", "participants": people[0], "summary": "Hello"}
    before = count(Interaction)
    typed = client.post("/interactions/new", data={**form, "participants_q": "zoe",
                                                   "participants_q_shown": ""})
    assert typed.status_code == 200 and count(Interaction) == before
    assert ids(listed(typed.data, "participants")) == [people[0], zoe.id]
    assert form_values(typed.data)["participants_q_shown"] == ["zoe"]
    # Enter again (in any field), the term now the one searched for: saved.
    again = client.post("/interactions/new", data={**form, "participants_q": "zoe",
                                                   "participants_q_shown": "zoe"})
    assert again.status_code == 302 and count(Interaction) == before + 1
    # The visible button saves whatever the search box holds.
    saved = client.post("/interactions/new", data={**form, "participants_q": "someone else",
                                                   "participants_q_shown": "", "save": "1"})
    assert saved.status_code == 302 and count(Interaction) == before + 2


def test_a_failed_form_lists_the_people_the_term_found(client, logged_in, crowd,
                                                       make_contact):
    crowd(SUGGESTIONS + 5)
    zoe = make_contact(logged_in, name="Zoë Okafor")
    response = client.post("/interactions/new", data={
        "medium": "", "occurred_at": "2025-01-05T10:00", "initiated_by": "me",
        "participants_q": "zoe", "participants_q_shown": "zoe", "summary": "Hello"})
    assert response.status_code == 422
    assert "Choose at least one person." in page_text(response.data)
    assert ids(listed(response.data, "participants")) == [zoe.id]


def test_a_search_that_finds_nobody_still_has_a_list_to_fill(client, logged_in, crowd):
    # app.js fills the list the page has; a page without one left live search dead.
    crowd(SUGGESTIONS + 5)
    response = client.post("/interactions/new", data={"participants_q": "zzzz",
                                                      "find": "participants"})
    assert response.status_code == 200
    assert listed(response.data, "participants") == []
    assert '<div class="checklist" data-picker-list></div>' in response.data.decode()
    assert "Nobody found for “zzzz”." in page_text(response.data)


def test_a_value_that_is_no_id_loses_none_of_the_people_chosen(client, logged_in, crowd):
    people = crowd(3)
    response = client.post("/interactions/new", data={
        "participants": [str(people[0]), "x", "99999999999"], "find": "participants"})
    assert response.status_code == 200
    assert form_values(response.data)["participants"] == [str(people[0])]


def test_an_edited_interactions_archived_participant_stays_listed(
        app, client, logged_in, make_contact, make_interaction):
    ada, gone = make_contact(logged_in, name="Ada"), make_contact(logged_in, name="Gone")
    interaction = make_interaction(logged_in, [ada, gone])
    with app.app_context():
        set_archived(db.session.get(Contact, gone.id), True)
        db.session.commit()
    page = client.get(f"/interactions/{interaction.id}/edit").data.decode()
    # Marked for app.js to keep through a search (no search finds an archived contact).
    assert (f'<label data-keep><input type="checkbox" name="participants" value="{gone.id}" '
            'checked>') in page
    # Unticked and sent back to find someone, they are still there to tick again.
    found = client.post(f"/interactions/{interaction.id}/edit", data={
        "participants": ada.id, "participants_q": "ada", "find": "participants"})
    assert str(gone.id) in listed(found.data, "participants")
    assert form_values(found.data)["participants"] == [str(ada.id)]


def test_introducer_picker_keeps_an_archived_introducer_and_never_lists_the_contact(
        app, client, logged_in, crowd, make_contact):
    crowd(SUGGESTIONS + 5)
    introducer = make_contact(logged_in, name="Old Friend")
    ines = make_contact(logged_in, name="Ines", introduced_by=introducer)
    with app.app_context():
        set_archived(db.session.get(Contact, introducer.id), True)
        db.session.commit()
    page = client.get(f"/contacts/{ines.id}/edit")
    shown = listed(page.data, "introduced_by")
    assert shown[:2] == ["", str(introducer.id)]  # Nobody, then the archived introducer
    assert form_values(page.data)["introduced_by"] == [str(introducer.id)]
    assert str(ines.id) not in shown
    assert f'data-picker-exclude="{ines.id}"' in page.data.decode()
    # Saved unchanged, the archived introducer is kept.
    saved = client.post(f"/contacts/{ines.id}/edit", data=form_values(page.data))
    assert saved.status_code == 302
    with app.app_context():
        assert db.session.get(Contact, ines.id).introduced_by_id == introducer.id


def test_an_archived_or_someone_elses_contact_cannot_be_chosen(
        app, client, logged_in, make_contact, make_user, count):
    ines = make_contact(logged_in, name="Ines")
    gone = make_contact(logged_in, name="Gone")
    with app.app_context():
        set_archived(db.session.get(Contact, gone.id), True)
        db.session.commit()
    theirs = make_contact(make_user(email="other@example.com"), name="Theirs")
    # The archived one is named, that the user may restore them; someone else's is not, and
    # is told apart from an id no contact has by nothing: both read as deleted meanwhile.
    deleted = "A person you chose was deleted since you opened the form: choose someone else."
    for chosen, message in ((gone.id, "Gone is archived: restore them or choose someone else."),
                            (theirs.id, deleted), (theirs.id + 1000, deleted)):
        edit = client.post(f"/contacts/{ines.id}/edit", data={
            "name": "Ines", "introduced_by": chosen})
        assert edit.status_code == 422
        assert field_error(edit.data, "introduced_by") == message
        reminder = client.post("/reminders/new", data={
            "title": "Call", "contact": chosen, "local_date": "2030-01-01",
            "local_time": "09:00", "recurrence": "none"})
        assert reminder.status_code == 422
        assert field_error(reminder.data, "contact") == message
        assert "Theirs" not in page_text(edit.data) + page_text(reminder.data)
        # Neither is written into the page that says so.
        assert str(chosen) not in listed(edit.data, "introduced_by")
        assert str(chosen) not in listed(reminder.data, "contact")
    assert count(Reminder) == 0
    with app.app_context():
        assert db.session.get(Contact, ines.id).introduced_by_id is None


def test_reminder_picker_finds_without_javascript(client, logged_in, crowd, make_contact,
                                                  count):
    crowd(SUGGESTIONS + 5)
    zoe = make_contact(logged_in, name="Zoë Okafor")
    response = client.post("/reminders/new", data={
        "title": "Send the slides", "contact": "", "contact_q": "okafor", "find": "contact",
        "local_date": "2030-01-01", "local_time": "09:00", "recurrence": "none"})
    assert response.status_code == 200
    assert count(Reminder) == 0
    assert listed(response.data, "contact") == ["", str(zoe.id)]
    assert form_values(response.data)["title"] == ["Send the slides"]


def test_choices_are_the_users_own_people_only(app, client, logged_in, make_contact,
                                                make_user):
    secret = make_contact(logged_in, name="Secret Person")
    other = as_user(app, make_user(email="coach@example.com"))
    for q in ("secret", ""):
        found = other.get("/contacts/choices", query_string={"q": q}).get_json()
        assert found == {"choices": [], "more": False, "total": 0,
                         "status": f"Nobody found for “{q}”." if q else ""}
    # Naming someone else's contact in a picker's request finds nothing either.
    assert other.get(f"/contacts/choices?exclude={secret.id}").get_json()["choices"] == []


def test_a_person_deleted_or_archived_since_the_form_was_shown_is_said_on_the_field(
        app, client, logged_in, make_contact, medium, count):
    """Chosen in one tab, deleted or archived in another: the field says what happened and
    everything else typed stays."""
    ada = make_contact(logged_in, name="Ada Lovelace")
    chen = make_contact(logged_in, name="Chen Wei")
    dana = make_contact(logged_in, name="Dana Scully")
    with app.app_context():
        set_archived(db.session.get(Contact, chen.id), True)
        db.session.delete(db.session.get(Contact, dana.id))
        db.session.commit()
    archived = "Chen Wei is archived: restore them or choose someone else."
    deleted = "A person you chose was deleted since you opened the form: choose someone else."
    for gone, message in ((chen, archived), (dana, deleted)):
        logged = client.post("/interactions/new", data={
            "medium": str(medium("phone").id), "occurred_at": "2025-01-05T10:00",
            "initiated_by": "me", "participants": [str(ada.id), str(gone.id)],
            "summary": "Café chat", "notes": "Talked about Zürich", "save": ""})
        assert logged.status_code == 422
        assert field_error(logged.data, "participants") == message
        kept = form_values(logged.data)
        assert kept["participants"] == [str(ada.id)]
        assert (kept["summary"], kept["notes"]) == (["Café chat"], ["Talked about Zürich"])

        added = client.post("/contacts/new", data={
            "name": "Finn", "company": "Les Éditions", "introduced_by": str(gone.id)})
        assert added.status_code == 422
        assert field_error(added.data, "introduced_by") == message
        assert form_values(added.data)["company"] == ["Les Éditions"]

        reminder = client.post("/reminders/new", data={
            "title": "Call back", "contact": str(gone.id), "local_date": "2030-01-01",
            "local_time": "09:00", "recurrence": "none", "notes": "About the book"})
        assert reminder.status_code == 422
        assert field_error(reminder.data, "contact") == message
        assert form_values(reminder.data)["notes"] == ["About the book"]
    assert count(Interaction) == 0
    assert count(Reminder) == 0
