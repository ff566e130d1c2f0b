"""Coaching: consented, revocable, read-only access to a client's shared network."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from functools import partial
from html import unescape

import pytest
import support
from sqlalchemy import select
from support import as_user, counting_queries, order_in, page_text

from crm.extensions import db
from crm.models import CoachingNote, CoachLink, CoachLinkStatus

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


@pytest.fixture
def people(app, make_user):
    client_user = make_user(name="Clara Client", email="clara@example.com")
    coach = make_user(name="Colin Coach", email="colin@example.com")
    return client_user, coach


link = partial(support.link, responded_at=NOW)  # links in these tests were answered at NOW


def test_invite_accept_and_see_figures(app, people, make_contact, make_interaction):
    client_user, coach = people
    ada = make_contact(client_user, name="Ada Lovelace", origin_medium="twitter")
    make_interaction(client_user, ada, "phone", NOW - timedelta(days=3))
    clara, colin = as_user(app, client_user), as_user(app, coach)

    join = support.invite(clara, "Colin@Example.com")
    page = page_text(colin.get(join).data)
    assert "Clara Client asks you to coach them" in page
    assert "sent this invitation to colin@example.com" in page
    # Before accepting, nothing of Clara's is visible.
    assert colin.get(f"/coach/clients/{client_user.id}").status_code == 404

    assert colin.post(join, data={"answer": "accept"}).status_code == 302
    overview = page_text(colin.get("/coach").data)
    assert "Clara Client" in overview and "Interactions per month by medium" in overview
    detail = colin.get(f"/coach/clients/{client_user.id}")
    assert detail.status_code == 200
    body = detail.get_data(as_text=True)
    assert "<svg" in body and "Ada Lovelace" in body


def test_an_invitation_link_waits_for_the_coach_to_log_in_or_register(app, people, auth):
    """Opened logged out, the link asks to log in and comes back to the invitation."""
    client_user, _ = people
    join = support.invite(as_user(app, client_user), "newcoach@example.com", share_notes="y")

    asked = auth.client.get(join)
    assert asked.status_code == 302 and "/login" in asked.location
    auth.register("NewCoach@example.com", name="Nora New")
    page = page_text(auth.client.get(join).data)
    assert "Clara Client asks you to coach them" in page and "and their notes" in page
    assert auth.client.post(join, data={"answer": "accept"}).status_code == 302
    assert "Clara Client" in page_text(auth.client.get("/coach").data)


def test_a_coach_who_creates_an_account_lands_back_on_the_invitation(app, people, auth):
    """Found by the walk-through: the login page's "Create an account" lost the way back,
    so a coach new to Rapport ended on an empty contact list, the invitation nowhere."""
    client_user, _ = people
    join = support.invite(as_user(app, client_user), "newcoach@example.com")
    browser = auth.client

    login_url = browser.get(join).location
    login_page = browser.get(login_url).get_data(as_text=True)
    assert "Someone invited you to coach them." in page_text(login_page)
    register_url = re.search(r'href="([^"]*)">Create an account<', login_page)[1]
    register_page = browser.get(register_url).get_data(as_text=True)
    sent_back = support.field_value(register_page, "next")
    assert sent_back == join
    # Its "Log in" link keeps the way back too.
    assert re.search(r'href="/login\?next=[^"]+">Log in<', register_page)

    created = auth.register("newcoach@example.com", name="Nora New", next=sent_back)
    assert created.status_code == 302 and created.location == join
    assert "Clara Client asks you to coach them" in page_text(browser.get(join).data)


def test_registering_goes_nowhere_but_this_site(auth):
    for elsewhere in ("https://evil.example/", "//evil.example/x", "/\\evil.example"):
        created = auth.register(f"n{len(elsewhere)}@example.com", next=elsewhere)
        assert created.status_code == 302 and created.location == "/contacts"
        auth.logout()


def test_holding_the_invited_address_is_not_enough_to_accept(app, people, auth):
    """Found by the security audit: Rapport does not verify addresses, so anyone could
    register the invited coach's address, see the invitation and read the network."""
    client_user, _ = people
    clara = as_user(app, client_user)
    join = support.invite(clara, "realcoach@coachfirm.example")

    auth.register("realcoach@coachfirm.example", name="Not The Coach")
    squatter = auth.client
    assert "Clara" not in page_text(squatter.get("/coaching").data)
    with app.app_context():
        link_id = db.session.scalar(select(CoachLink.id))
    for guess in (f"/coaching/join/{link_id}", "/coaching/join/" + "A" * 43):
        assert squatter.get(guess).status_code == 404
        assert squatter.post(guess, data={"answer": "accept"}).status_code == 404
    assert squatter.get(f"/coach/clients/{client_user.id}").status_code == 404
    assert join.startswith("/coaching/join/")  # the real coach's way in is the link


def test_a_new_invitation_link_replaces_the_old_one(app, people):
    client_user, coach = people
    clara, colin = as_user(app, client_user), as_user(app, coach)
    old = support.invite(clara, coach.email)
    with app.app_context():
        link_id = db.session.scalar(select(CoachLink.id))
    response = clara.post(f"/coaching/links/{link_id}/new-link", follow_redirects=True)
    new = re.search(r"(/coaching/join/[A-Za-z0-9_-]+)", page_text(response.data)).group(1)
    assert new != old
    assert colin.get(old).status_code == 404
    assert colin.get(new).status_code == 200
    # Nobody can accept their own invitation, even holding its link.
    own = clara.post(new, data={"answer": "accept"})
    assert own.status_code == 422 and "your own invitation" in page_text(own.data)


def test_cannot_invite_oneself_or_twice(app, people):
    client_user, coach = people
    clara = as_user(app, client_user)
    response = clara.post("/coaching", data={"email": "clara@example.com"})
    assert response.status_code == 422 and "You cannot be your own coach." in page_text(response.data)
    clara.post("/coaching", data={"email": coach.email})
    response = clara.post("/coaching", data={"email": coach.email})
    assert response.status_code == 422 and "already invited" in page_text(response.data)


def test_past_the_last_page_a_coach_is_told_so_not_that_nothing_is_shared(
        app, people, make_contact, make_interaction):
    client_user, coach = people
    sam = make_contact(client_user, name="Shared Sam")
    make_interaction(client_user, sam, "skype", NOW - timedelta(days=1), summary="Open chat")
    link(app, client_user, coach)
    colin = as_user(app, coach)

    for url in (f"/coach/clients/{client_user.id}/contacts?page=2",
                f"/coach/clients/{client_user.id}/contacts/{sam.id}?page=2",
                "/coach?page=2"):
        body = colin.get(url).get_data(as_text=True)
        assert "Nothing on page 2" in page_text(body), url
        assert "No shared" not in page_text(body), url
        assert re.search(r'href="[^"?]*">Go to the last page', body), url


def test_private_contacts_and_interactions_never_reach_the_coach(app, people, make_contact,
                                                                  make_interaction):
    client_user, coach = people
    shared = make_contact(client_user, name="Shared Sam", notes="likes chess")
    hidden = make_contact(client_user, name="Private Pat", is_private=True)
    make_interaction(client_user, shared, "skype", NOW - timedelta(days=1), summary="Open chat",
                     notes="talked salary")
    make_interaction(client_user, shared, "email", NOW - timedelta(days=2),
                     summary="Secret chat", is_private=True)
    link(app, client_user, coach)
    colin = as_user(app, coach)

    contacts = page_text(colin.get(f"/coach/clients/{client_user.id}/contacts").data)
    assert "Shared Sam" in contacts and "Private Pat" not in contacts
    assert colin.get(f"/coach/clients/{client_user.id}/contacts/{hidden.id}").status_code == 404
    timeline = page_text(colin.get(f"/coach/clients/{client_user.id}/contacts/{shared.id}").data)
    assert "Open chat" in timeline and "Secret chat" not in timeline
    # Notes are not shared unless the client chooses.
    assert "talked salary" not in timeline and "likes chess" not in timeline
    figures = page_text(colin.get(f"/coach/clients/{client_user.id}").data)
    assert "Private Pat" not in figures

    with app.app_context():
        db.session.execute(CoachLink.__table__.update().values(share_notes=True))
        db.session.commit()
    timeline = page_text(colin.get(f"/coach/clients/{client_user.id}/contacts/{shared.id}").data)
    assert "talked salary" in timeline and "likes chess" in timeline


def test_marking_a_contact_private_hides_it_on_the_next_request(app, people, make_contact):
    client_user, coach = people
    sam = make_contact(client_user, name="Sam Soon-Private")
    link(app, client_user, coach)
    colin, clara = as_user(app, coach), as_user(app, client_user)
    assert colin.get(f"/coach/clients/{client_user.id}/contacts/{sam.id}").status_code == 200
    clara.post(f"/contacts/{sam.id}/edit", data={"name": sam.name, "is_private": "y"})
    assert colin.get(f"/coach/clients/{client_user.id}/contacts/{sam.id}").status_code == 404


def test_revoking_takes_effect_on_the_coachs_next_request(app, people, make_contact):
    client_user, coach = people
    make_contact(client_user, name="Ada")
    link_id = link(app, client_user, coach)
    colin, clara = as_user(app, coach), as_user(app, client_user)
    assert colin.get(f"/coach/clients/{client_user.id}").status_code == 200
    assert clara.post(f"/coaching/links/{link_id}/revoke").status_code == 302
    assert colin.get(f"/coach/clients/{client_user.id}").status_code == 404
    assert colin.get(f"/coach/clients/{client_user.id}/contacts").status_code == 404
    assert "Clara Client" not in page_text(colin.get("/coach").data)


def test_coaching_notes_appear_on_the_clients_dashboard(app, people):
    client_user, coach = people
    link_id = link(app, client_user, coach)
    colin, clara = as_user(app, coach), as_user(app, client_user)
    note = "Reconnect with three people you first met on LinkedIn."
    assert colin.post(f"/coach/clients/{client_user.id}/notes", data={"body": note}).status_code == 302
    assert colin.post(f"/coach/clients/{client_user.id}/notes", data={"body": "  "}).status_code == 422
    dashboard = page_text(clara.get("/").data)
    assert "From your coach" in dashboard and note in dashboard
    clara.post(f"/coaching/links/{link_id}/revoke")
    assert note not in page_text(clara.get("/").data)
    # Found by the walk-through: revoking made every note vanish for good, and only the
    # newest five were ever shown. Every note stays on the client's notes page.
    kept = page_text(clara.get("/coaching/notes").data)
    assert note in kept and "Colin Coach" in kept and "no longer coaching you" in kept


def test_a_coach_invited_again_still_wrote_their_earlier_notes(app, people):
    """Found in review: notes hung on the link, so after a revoke and a new invitation of
    the same coach the earlier notes were off the dashboard and the coach's page, and the
    notes page said the coach was "no longer coaching you" while they were."""
    client_user, coach = people
    clara, colin = as_user(app, client_user), as_user(app, coach)
    note = "Call three LinkedIn contacts this week."
    assert colin.post(support.invite(clara, coach.email),
                      data={"answer": "accept"}).status_code == 302
    assert colin.post(f"/coach/clients/{client_user.id}/notes",
                      data={"body": note}).status_code == 302
    with app.app_context():
        first = db.session.scalar(select(CoachLink.id))
    assert clara.post(f"/coaching/links/{first}/revoke").status_code == 302
    assert "no longer coaching you" in page_text(clara.get("/coaching/notes").data)

    assert colin.post(support.invite(clara, coach.email),
                      data={"answer": "accept"}).status_code == 302

    notes_page = page_text(clara.get("/coaching/notes").data)
    assert f"{note} Colin Coach," in notes_page and "no longer coaching you" not in notes_page
    assert note in page_text(clara.get("/").data)
    assert note in page_text(colin.get(f"/coach/clients/{client_user.id}").data)


def test_every_note_from_every_coach_is_on_the_clients_notes_page(app, people, make_user,
                                                                   monkeypatch):
    from crm.coaching import views

    monkeypatch.setattr(views, "NOTES_PER_PAGE", 4)
    client_user, coach = people
    other = make_user(name="Olga Other", email="olga@example.com")
    link(app, client_user, coach)
    link(app, client_user, other)
    for n in range(6):
        for who in (coach, other):
            as_user(app, who).post(f"/coach/clients/{client_user.id}/notes",
                                   data={"body": f"Note {n} from {who.name}"})
    clara = as_user(app, client_user)
    dashboard = page_text(clara.get("/").data)
    assert dashboard.count("Note ") == 5 and "All notes" in dashboard
    pages = [page_text(clara.get(f"/coaching/notes?page={n}").data) for n in (1, 2, 3)]
    shown = [f"Note {n} from {who.name}" for n in range(6) for who in (coach, other)]
    assert sorted(x for x in shown if any(x in p for p in pages)) == sorted(shown)
    assert "Page 1 of 3 · 12 notes" in pages[0]
    # Nobody else sees them: the notes page is the client's own.
    assert "Note 0" not in page_text(as_user(app, coach).get("/coaching/notes").data)


def test_declining_an_invitation(app, people):
    client_user, coach = people
    join = support.invite(as_user(app, client_user), coach.email)
    colin = as_user(app, coach)
    assert colin.post(join, data={"answer": "decline"}).status_code == 302
    assert colin.get(f"/coach/clients/{client_user.id}").status_code == 404
    # An answered invitation's link is used up.
    assert colin.post(join, data={"answer": "accept"}).status_code == 404


# --- authorization: walk every rule as a stranger, a revoked coach and an active coach ---

CLIENT_TABLES = ("users", "contacts", "contact_channels", "contact_tags", "tags",
                 "interactions", "interaction_participants", "mediums", "reminders",
                 "deliveries", "coach_links", "api_tokens")
# Signed-token routes (email links, calendar feeds) are checked in their own tests.
TOKEN_ARGUMENTS = {"token"}


def _snapshot(app):
    with app.app_context():
        tables = {t.name: t for t in db.metadata.sorted_tables}
        return {
            name: [tuple(r) for r in db.session.execute(
                select(tables[name]).order_by(*tables[name].primary_key.columns))]
            for name in CLIENT_TABLES if name in tables
        }


@pytest.fixture
def client_world(app, people, make_user, make_contact, make_interaction, make_medium,
                 make_reminder, medium):
    from crm.models import Contact, ContactChannel

    client_user, coach = people
    stranger = make_user(name="Stan Stranger", email="stan@example.com")
    revoked = make_user(name="Rita Revoked", email="rita@example.com")
    own_medium = make_medium(client_user, "Clara's Mastodon")
    secret = make_contact(client_user, name="Secret Sue", is_private=True)
    open_contact = make_contact(client_user, name="Open Olly", origin_medium=own_medium,
                                tags="Clara's tag")
    interaction = make_interaction(client_user, [open_contact, secret], "phone",
                                   NOW - timedelta(days=2), summary="Clara's call")
    reminder = make_reminder(client_user, due_at=NOW + timedelta(days=1), contact=open_contact)
    with app.app_context():
        channel = ContactChannel(contact_id=open_contact.id, medium_id=medium("twitter").id,
                                 value="@olly")
        db.session.add(channel)
        db.session.commit()
        channel_id = channel.id
        tag_id = db.session.get(Contact, open_contact.id).tags[0].id
    active_link = link(app, client_user, coach)
    revoked_link = link(app, client_user, revoked, status=CoachLinkStatus.REVOKED)
    ids = {
        "client_id": client_user.id, "contact_id": secret.id, "interaction_id": interaction.id,
        "medium_id": own_medium.id, "channel_id": channel_id, "reminder_id": reminder.id,
        "link_id": active_link, "answer": "accept", "tag_id": tag_id,
        # Import jobs and API tokens have no row here (404 for everyone); their own tests
        # walk them with real rows (tests/test_import_flow.py, tests/test_api.py).
        "job_id": 1, "token_id": 1,
    }
    return {"client": client_user, "coach": coach, "stranger": stranger, "revoked": revoked,
            "ids": ids, "open_contact": open_contact, "revoked_link": revoked_link}


def _rules(app):
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static" or rule.arguments & TOKEN_ARGUMENTS:
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield rule, method


HOSTILE = {"name": "Hijacked", "summary": "Hijacked", "body": "Hijacked", "email": "x@example.com",
           "value": "hijack@example.com", "title": "Hijacked", "share_notes": "y",
           "occurred_at": "2026-11-01T10:00", "initiated_by": "me", "restore": "1"}


@pytest.mark.parametrize("who", ["stranger", "revoked", "coach"])
def test_walk_every_rule_no_leak_and_no_write(app, client_world, who):
    world = client_world
    viewer = world[who]
    http = as_user(app, viewer)
    ids = world["ids"]
    before = _snapshot(app)
    walked = 0
    for rule, method in _rules(app):
        if not rule.arguments:
            continue
        unknown = rule.arguments - set(ids)
        assert not unknown, f"{rule.rule}: teach this walk about {unknown}"
        url = rule.build({a: ids[a] for a in rule.arguments}, append_unknown=False)[1]
        response = http.open(url, method=method, data=HOSTILE)
        walked += 1
        body = response.get_data(as_text=True)
        # The coach's own read-only views of an active client, and their own notes.
        allowed_view = (who == "coach" and rule.endpoint in (
            "coaching.client", "coaching.client_contacts", "coaching.add_note"))
        if allowed_view:
            assert response.status_code in (200, 302, 422), f"{method} {url}"
            assert "Secret Sue" not in body and "Hijacked" not in body
        else:
            assert response.status_code in (401, 403, 404, 405), (
                f"{who}: {method} {url} gave {response.status_code}")
        assert "Secret Sue" not in body, f"{method} {url} leaked a private contact"
        if who != "coach":
            assert "Clara's call" not in body and "Open Olly" not in body, f"{method} {url}"
    assert walked > 25
    after = _snapshot(app)
    assert after == before, f"{who} changed the client's data"


def test_every_post_without_a_csrf_token_is_refused(app, client_world):
    app.config["WTF_CSRF_ENABLED"] = True
    world = client_world
    http = as_user(app, world["client"])
    ids = {**world["ids"], "contact_id": world["open_contact"].id}
    before = _snapshot(app)
    refused = 0
    for rule, method in _rules(app):
        if method != "POST" or rule.rule.startswith("/api/"):
            continue
        url = rule.build({a: ids[a] for a in rule.arguments}, append_unknown=False)[1] \
            if rule.arguments else rule.rule
        response = http.post(url, data=HOSTILE)
        assert response.status_code == 400, f"POST {url} without a token gave {response.status_code}"
        refused += 1
    assert refused > 20
    assert _snapshot(app) == before


# --- cost ---------------------------------------------------------------------------------


def _count_queries(app, http, url):
    with counting_queries(app) as statements:
        response = http.get(url)
    assert response.status_code == 200
    return statements


def test_coach_page_query_count_does_not_grow_with_clients_data(app, make_user, make_contact,
                                                                 make_interaction):
    coach = make_user(name="Busy Coach", email="busy@example.com")
    clients = [make_user(name=f"Client {i}", email=f"client{i}@example.com") for i in range(30)]
    for c in clients:
        link(app, c, coach)
    http = as_user(app, coach)
    small = _count_queries(app, http, "/coach")  # the figures are computed and cached
    small_cached = _count_queries(app, http, "/coach")
    for i, c in enumerate(clients[:5]):
        people = [make_contact(c, name=f"P{i}-{j}", origin_medium="linkedin") for j in range(4)]
        for j, person in enumerate(people):
            make_interaction(c, person, ["phone", "skype", "twitter"][j % 3],
                             NOW - timedelta(days=j * 20))
    large = _count_queries(app, http, "/coach")  # the changed clients are recomputed
    large_cached = _count_queries(app, http, "/coach")
    assert len(large) == len(small), "\n".join(large)
    assert len(large) <= 20, "\n".join(large)
    assert len(large_cached) == len(small_cached) <= 10, "\n".join(large_cached)


def test_dashboard_query_count_does_not_grow_with_interactions(app, make_user, make_contact,
                                                               make_interaction):
    user = make_user(name="Dana Dashboard", email="dana@example.com")
    people = [make_contact(user, name=f"Friend {i}") for i in range(3)]
    make_contact(user, name="Introduced", introduced_by=people[0])
    make_interaction(user, people[0], "phone", NOW - timedelta(days=1))
    http = as_user(app, user)
    small = _count_queries(app, http, "/")
    small_cached = _count_queries(app, http, "/")
    for i in range(40):
        make_interaction(user, people[i % 3], ["email", "skype", "face_to_face", "twitter"][i % 4],
                         NOW - timedelta(days=i * 9))
    large = _count_queries(app, http, "/")
    large_cached = _count_queries(app, http, "/")
    assert len(large) == len(small), "\n".join(large)
    assert len(large) <= 22, "\n".join(large)
    assert len(large_cached) == len(small_cached) <= 14, "\n".join(large_cached)


def test_cached_figures_follow_every_change(app, people, make_contact, make_interaction):
    """The cache never shows a stale network: each change is visible on the next request."""
    client_user, coach = people
    ada = make_contact(client_user, name="Ada Lovelace")
    make_interaction(client_user, ada, "phone", NOW - timedelta(days=2))
    link(app, client_user, coach)
    clara, colin = as_user(app, client_user), as_user(app, coach)
    assert "Ada Lovelace" in page_text(colin.get(f"/coach/clients/{client_user.id}").data)
    assert "1 interactions with contacts" in page_text(clara.get("/").data).replace(
        "1interactions", "1 interactions")

    clara.post(f"/contacts/{ada.id}/edit", data={"name": "Ada Lovelace", "is_private": "y"})
    assert "Ada Lovelace" not in page_text(colin.get(f"/coach/clients/{client_user.id}").data)

    make_interaction(client_user, ada, "skype", NOW - timedelta(days=1))
    with app.app_context():
        from crm.models import Interaction
        first = db.session.scalar(select(Interaction.id).order_by(Interaction.id))
    clara.post(f"/interactions/{first}/delete")
    dashboard = clara.get("/").get_data(as_text=True)
    assert ">Skype<" in dashboard or "Skype" in page_text(dashboard)
    mix = page_text(dashboard).split("Medium mix")[1].split("Medium mix over")[0]
    assert "Phone" not in mix and "Skype" in mix


def test_overdue_follow_ups_and_lapsed_cadences_on_every_view(app, people, make_contact,
                                                              make_reminder, make_interaction):
    """Overdue follow-ups count open reminders about a contact past due, except
    keep-in-touch ones, which put their contact among those going cold instead; a coach
    never counts private ones. A reminder about nobody is not a follow-up: the client's
    own to-do, counted neither for them nor for their coach."""
    from crm.models import ReminderStatus, utcnow

    client_user, coach = people
    ada = make_contact(client_user, name="Ada Lovelace")
    bea = make_contact(client_user, name="Bea Lapsed", keep_in_touch_days=30)
    hidden = make_contact(client_user, name="Hidden Person", is_private=True)
    now = utcnow()
    make_reminder(client_user, due_at=now - timedelta(days=3), contact=ada, title="Send deck")
    make_reminder(client_user, due_at=now - timedelta(days=1), title="Plan the week")
    make_reminder(client_user, due_at=now - timedelta(days=2), contact=hidden, title="Private")
    make_reminder(client_user, due_at=now - timedelta(days=5), title="Done",
                  status=ReminderStatus.DONE)
    make_reminder(client_user, due_at=now + timedelta(days=2), title="Later")
    # Her keep-in-touch reminder falls due 30 days after this: 10 days ago.
    make_interaction(client_user, bea, "phone", now - timedelta(days=40, hours=1))
    link(app, client_user, coach)
    clara, colin = as_user(app, client_user), as_user(app, coach)

    def overdue(text):
        # One follow-up is "1 overdue follow-up" (it read "1 overdue follow-ups").
        n, plural = re.search(r"(\d+)\s*overdue follow-up(s?)\b", text).groups()
        assert plural == ("" if n == "1" else "s"), text
        return int(n)

    def going_cold(text):
        return " ".join(text.split("Going cold")[1].split("Medium mix")[0].split())

    dashboard = page_text(clara.get("/").data)
    assert overdue(dashboard) == 2  # Send deck and Private; not Plan the week
    assert "Bea Lapsedkeep-in-touch lapsed 10 days ago" in going_cold(dashboard)
    assert "Ada" not in going_cold(dashboard)

    for page in (f"/coach/clients/{client_user.id}", "/coach"):
        assert overdue(page_text(colin.get(page).data)) == 1, page  # Send deck
    coach_client = page_text(colin.get(f"/coach/clients/{client_user.id}").data)
    assert "Bea Lapsedkeep-in-touch lapsed 10 days ago" in going_cold(coach_client)


@pytest.mark.app_config(COACH_CLIENTS_PER_PAGE=4)
def test_the_coach_page_shows_clients_a_page_at_a_time(app, make_user):
    coach = make_user(name="Paged Coach", email="paged@example.com")
    clients = [make_user(name=f"Client {i:02d}", email=f"paged{i}@example.com")
               for i in range(6)]
    for c in clients:
        link(app, c, coach)
    http = as_user(app, coach)

    first = page_text(http.get("/coach").data)
    second = page_text(http.get("/coach?page=2").data)

    assert [f"Client {i:02d}" in first for i in range(6)] == [True] * 4 + [False] * 2
    assert [f"Client {i:02d}" in second for i in range(6)] == [False] * 4 + [True] * 2
    assert "Page 1 of 2 · 6 clients" in first and "Next" in first
    assert "Page 2 of 2 · 6 clients" in second and "Previous" in second
    assert "No clients yet" not in page_text(http.get("/coach?page=9").data)


def test_no_memo_answers_for_a_deleted_account_whose_id_is_reused(app, db_backend, make_user,
                                                                   make_contact,
                                                                   make_interaction):
    """SQLite hands a deleted account's id to the next one; after the same number of
    changes the newcomer must still see only their own network, not the memoised one."""
    from crm.models import User
    from crm.portability.services import delete_account

    def network(name, email, people):
        user = make_user(name=name, email=email)
        made = [make_contact(user, name=person) for person in people]
        make_interaction(user, made, "phone", NOW - timedelta(days=1))
        return user

    first = network("First", "first@example.com", ["Zelda Former", "Yorick Former"])
    http = as_user(app, first)
    for url in ("/", "/contacts", f"/contacts/{first.id}"):
        http.get(url)
    assert "Zelda Former" in page_text(http.get("/").data)
    with app.app_context():
        delete_account(db.session.get(User, first.id))
        db.session.commit()

    second = network("Second", "second@example.com", ["Anna Newer", "Boris Newer"])
    if db_backend == "sqlite":
        assert second.id == first.id
    text = page_text(as_user(app, second).get("/").data)
    assert "Anna Newer" in text and "Former" not in text


# -- nothing private shows through (a privacy audit found these three) -----------------------

@pytest.fixture
def at_now():
    """Pages, sessions and data at NOW (sessions must not be signed in the future)."""
    import time_machine

    with time_machine.travel(NOW, tick=False):
        yield


def test_the_shared_contact_list_shows_the_last_shared_interaction_only(
        at_now, app, people, make_contact, make_interaction, make_medium):
    client_user, coach = people
    secret = make_medium(client_user, "Secret Medium")
    alice = make_contact(client_user, name="Alice Shared")
    eve = make_contact(client_user, name="Eve Shared")
    make_interaction(client_user, alice, "email", NOW - timedelta(days=60))
    make_interaction(client_user, alice, occurred_at=NOW - timedelta(days=2), medium=secret,
                     is_private=True)
    make_interaction(client_user, eve, occurred_at=NOW - timedelta(days=5), medium=secret,
                     is_private=True)
    link(app, client_user, coach)

    page = page_text(as_user(app, coach).get(f"/coach/clients/{client_user.id}/contacts").data)

    assert "Secret Medium" not in page
    assert "Alice Shared Last: Email 21 Sep 2026" in page
    assert "Eve Shared No interactions yet" in page


def test_a_coach_sees_lapsed_cadences_counted_from_shared_interactions(
        at_now, app, people, make_contact, make_interaction):
    client_user, coach = people
    frank = make_contact(client_user, name="Frank Shared", keep_in_touch_days=30)
    make_interaction(client_user, frank, "email", NOW - timedelta(days=100))
    make_interaction(client_user, frank, "phone", NOW - timedelta(days=40), is_private=True)
    link(app, client_user, coach)

    coach_page = page_text(as_user(app, coach).get(f"/coach/clients/{client_user.id}").data)
    own_page = page_text(as_user(app, client_user).get("/").data)

    assert "keep-in-touch lapsed 70 days ago" in coach_page
    assert "lapsed 10 days ago" not in coach_page
    assert "keep-in-touch lapsed 10 days ago" in own_page  # the client's own view counts all


def _going_cold(html: bytes) -> str:
    text = page_text(html)
    start = text.index("(on any medium).", text.index("Going cold"))
    return text[start + len("(on any medium)."):text.index("Medium mix", start)].strip()


@pytest.mark.parametrize("action", ["done", "dismiss", "snooze"])
def test_a_private_interaction_leaves_a_handled_keep_in_touch_off_the_coachs_page(
        at_now, app, people, make_contact, make_interaction, action):
    """Found in review: the client ended or snoozed the lapsed keep-in-touch reminder, so
    nobody was going cold; a private coffee then made the coach's page say "lapsed 70 days
    ago", counted from the last shared interaction as if the client had done nothing."""
    client_user, coach = people
    carol = make_contact(client_user, name="Carol Shared", keep_in_touch_days=30)
    make_interaction(client_user, carol, "email", NOW - timedelta(days=100))
    link(app, client_user, coach)
    clara, colin = as_user(app, client_user), as_user(app, coach)
    with app.app_context():
        from crm.models import Reminder, ReminderKind
        reminder_id = db.session.scalar(select(Reminder.id).where(
            Reminder.contact_id == carol.id, Reminder.kind == ReminderKind.KEEP_IN_TOUCH))
    acted = {
        "done": lambda: clara.post(f"/reminders/{reminder_id}/done", data={}),
        "dismiss": lambda: clara.post(f"/reminders/{reminder_id}/dismiss", data={}),
        "snooze": lambda: clara.post(f"/reminders/{reminder_id}/snooze",
                                     data={f"snooze{reminder_id}-until": "next_week"}),
    }[action]()
    assert acted.status_code == 302
    coach_page = f"/coach/clients/{client_user.id}"
    before = _going_cold(colin.get(coach_page).data)

    make_interaction(client_user, carol, "face_to_face", NOW - timedelta(days=1),
                     is_private=True)

    assert _going_cold(clara.get("/").data) == "Nobody is going cold."
    assert _going_cold(colin.get(coach_page).data) == before == "Nobody is going cold."


def test_a_private_interaction_after_the_reminder_fired_leaves_the_lapse_on_the_coachs_page(
        at_now, app, people, make_contact, make_interaction):
    """Found in review: the keep-in-touch reminder had fired and the coach saw the lapse; a
    private call then ended the reminder (Rapport's doing, stamped with the call's time),
    which the coach's figures took for the client's own act, and the lapse vanished."""
    from crm.jobs.tasks import deliver_in_app

    client_user, coach = people
    carol = make_contact(client_user, name="Carol Shared", keep_in_touch_days=30)
    make_interaction(client_user, carol, "email", NOW - timedelta(days=100))
    link(app, client_user, coach)
    with app.app_context():
        deliver_in_app(NOW - timedelta(hours=1), "worker-1")
        db.session.commit()
    colin = as_user(app, coach)
    coach_page = f"/coach/clients/{client_user.id}"
    assert "keep-in-touch lapsed 70 days ago" in _going_cold(colin.get(coach_page).data)

    make_interaction(client_user, carol, "phone", NOW - timedelta(hours=2), is_private=True)

    assert _going_cold(as_user(app, client_user).get("/").data) == "Nobody is going cold."
    assert "keep-in-touch lapsed 70 days ago" in _going_cold(colin.get(coach_page).data)


def test_a_coach_does_not_count_follow_ups_of_private_interactions(
        at_now, app, people, make_contact, make_interaction, make_reminder):
    client_user, coach = people
    alice = make_contact(client_user, name="Alice Shared")
    for days, private in ((3, False), (2, True)):
        interaction = make_interaction(client_user, alice, "email", NOW - timedelta(days=days),
                                       is_private=private)
        make_reminder(client_user, due_at=NOW - timedelta(days=1), title="Follow up",
                      contact=alice, kind="follow_up", interaction_id=interaction.id)
    link(app, client_user, coach)
    coach = as_user(app, coach)

    def overdue(html: bytes) -> list[str]:
        return re.findall(r'<span class="n">(\d+)</span><span class="what">overdue (follow-ups?)<',
                          html.decode())

    assert overdue(coach.get(f"/coach/clients/{client_user.id}").data) == [("1", "follow-up")]
    assert overdue(coach.get("/coach").data) == [("1", "follow-up")]


def test_deleting_a_private_interaction_keeps_its_follow_up_from_the_coach(
        at_now, app, people, make_contact, make_interaction, make_reminder):
    """Found in review: once the private interaction was deleted, its follow-up (still
    open, the user's) lost its source and the coach counted it as a shared one."""
    client_user, coach = people
    erin = make_contact(client_user, name="Erin Shared")
    ids = {}
    for private in (False, True):
        interaction = make_interaction(client_user, erin, "phone", NOW - timedelta(days=10),
                                       is_private=private)
        ids[private] = interaction.id
        make_reminder(client_user, due_at=NOW - timedelta(days=3), title="Follow up",
                      contact=erin, kind="follow_up", interaction_id=interaction.id)
    link(app, client_user, coach)
    clara, colin = as_user(app, client_user), as_user(app, coach)

    def overdue(http, path) -> list[str]:
        return re.findall(r'<span class="n">(\d+)</span><span class="what">overdue follow-ups?<',
                          http.get(path).get_data(as_text=True))

    coach_page = f"/coach/clients/{client_user.id}"
    assert overdue(colin, coach_page) == ["1"]
    for private in (True, False):  # the shared one's follow-up stays shared
        assert clara.post(f"/interactions/{ids[private]}/delete", data={}).status_code == 302

    assert overdue(colin, coach_page) == overdue(colin, "/coach") == ["1"]
    assert overdue(clara, "/") == ["2"]  # both stay the client's own


def test_a_medium_only_private_interactions_use_does_not_colour_a_coachs_charts(
        at_now, app, make_user, make_contact, make_interaction, make_medium):
    coach = make_user(name="Colin Coach", email="colin@example.com")
    clients = [make_user(name="Clara", email="clara@example.com"),
               make_user(name="Mirror", email="mirror@example.com")]
    adas = []
    for client_user in clients:  # the same shared network
        link(app, client_user, coach)
        adas.append(make_contact(client_user, name="Ada Lovelace"))
        make_interaction(client_user, adas[-1], "email", NOW - timedelta(days=9))
        make_interaction(client_user, adas[-1], "phone", NOW - timedelta(days=5))
    clara = clients[0]  # ...and a medium of her own that only a private interaction uses
    secret = make_medium(clara, "Aardvark Secret")  # first in alphabetical order
    make_interaction(clara, adas[0], medium=secret, occurred_at=NOW - timedelta(days=1),
                     is_private=True)
    colin = as_user(app, coach)

    def charts(client_user):
        html = colin.get(f"/coach/clients/{client_user.id}").get_data(as_text=True)
        return re.findall(r"<svg.*?</svg>", html, re.S)

    assert charts(clara) == charts(clients[1]) != []


def test_the_coach_lists_a_contacts_mediums_in_the_clients_order(
        app, people, make_contact, make_interaction, make_medium):
    client_user, coach = people
    zoom = make_medium(client_user, "Zoom")  # the newest medium, used first
    ada = make_contact(client_user, name="Ada Lovelace")
    for days, on in ((30, {"medium": zoom}), (20, {"medium_key": "skype"}),
                     (10, {"medium_key": "email"})):
        make_interaction(client_user, ada, occurred_at=NOW - timedelta(days=days), **on)
    link(app, client_user, coach)
    names = ["Zoom", "Skype", "Email"]

    def listed(http, url):
        body = http.get(url).get_data(as_text=True)
        return support.order_in(body.split("Interactions by medium", 1)[1], names)

    own = listed(as_user(app, client_user), f"/contacts/{ada.id}")
    coached = listed(as_user(app, coach), f"/coach/clients/{client_user.id}/contacts/{ada.id}")

    assert own == coached == names  # first used first, on both pages


def test_a_coach_finds_a_shared_name_with_its_accents_left_out(app, people, make_contact):
    """The client's own search finds "José" for "jose"; a coach's search of the shared
    contacts does too (found in review), and lists them alphabetically."""
    client_user, coach = people
    for name in ("Zoë Adams", "José Álvarez", "Émile Zola"):
        make_contact(client_user, name=name)
    link(app, client_user, coach)
    colin = as_user(app, coach)

    found = page_text(colin.get(f"/coach/clients/{client_user.id}/contacts?q=jose").data)
    assert "José Álvarez" in found and "Zoë Adams" not in found
    listed = colin.get(f"/coach/clients/{client_user.id}/contacts").data
    assert order_in(listed, ["Émile Zola", "José Álvarez", "Zoë Adams"]) == [
        "Émile Zola", "José Álvarez", "Zoë Adams"]


def test_a_note_sent_after_the_client_ended_coaching_comes_back_to_copy(app, people, make_user):
    """Found by the review: a coach writing a note while the client revoked access got a
    bare 404 and lost the text. Now the page says the client ended coaching and the note
    was not saved, and shows the text; a coach who never had the client still gets 404."""
    client_user, coach = people
    link_id = link(app, client_user, coach)
    colin, clara = as_user(app, coach), as_user(app, client_user)
    assert clara.post(f"/coaching/links/{link_id}/revoke").status_code == 302
    note = "Reconnect with <b>three</b> people\nyou first met on LinkedIn."

    response = colin.post(f"/coach/clients/{client_user.id}/notes", data={"body": note})

    assert response.status_code == 403
    text = page_text(response.data)
    assert "Clara Client ended coaching" in text and "your note was not saved" in text
    textarea = re.search(r"<textarea[^>]*readonly[^>]*>\n(.*?)</textarea>",
                         response.get_data(as_text=True), re.S)
    assert textarea and unescape(textarea.group(1)) == note
    with app.app_context():
        assert not db.session.scalars(select(CoachingNote)).all()
    stranger = as_user(app, make_user(name="Sam Stranger", email="sam@example.com"))
    never = stranger.post(f"/coach/clients/{client_user.id}/notes", data={"body": note})
    assert never.status_code == 404
    assert "Clara" not in page_text(never.data) and "LinkedIn" not in page_text(never.data)


# --- a deactivated client -----------------------------------------------------------------


def test_a_deactivated_client_shares_nothing_until_activated(app, runner, people,
                                                             make_contact, make_interaction):
    """Found by the review: coaches kept reading a leaver's network after `crm users
    deactivate`. While the client is deactivated its coaches see it as after the client
    ended coaching: off /coach, every page of it 404, a note given back to copy (saying
    why); all of it back once the client is activated."""
    client_user, coach = people
    ada = make_contact(client_user, name="Ada Lovelace")
    make_interaction(client_user, ada, "phone", NOW - timedelta(days=3))
    link(app, client_user, coach)
    colin = as_user(app, coach)
    pages = [f"/coach/clients/{client_user.id}", f"/coach/clients/{client_user.id}/contacts",
             f"/coach/clients/{client_user.id}/contacts/{ada.id}"]
    assert [colin.get(p).status_code for p in pages] == [200, 200, 200]
    assert "Clara Client" in page_text(colin.get("/coach").data)

    assert runner.invoke(args=["users", "deactivate", client_user.email]).exit_code == 0

    for path in pages:
        response = colin.get(path)
        assert response.status_code == 404, path
        assert "Ada Lovelace" not in page_text(response.data)
    overview = page_text(colin.get("/coach").data)
    assert "Clara Client" not in overview and "No clients yet" in overview
    note = colin.post(f"/coach/clients/{client_user.id}/notes", data={"body": "Call Ada"})
    assert note.status_code == 403
    text = page_text(note.data)
    assert "Clara Client's account is suspended" in text
    assert "your note was not saved" in text and "Call Ada" in text
    with app.app_context():
        assert not db.session.scalars(select(CoachingNote)).all()

    assert runner.invoke(args=["users", "activate", client_user.email]).exit_code == 0
    assert [colin.get(p).status_code for p in pages] == [200, 200, 200]
    assert "Clara Client" in page_text(colin.get("/coach").data)


def test_an_invitation_from_a_deactivated_client_cannot_be_accepted(app, runner, people,
                                                                     make_user):
    """Found by the review: a link sent before deactivation let a new coach into an
    account whose owner could no longer log in to revoke it. It is a 404 while the client
    is deactivated, as a replaced link is."""
    client_user, _ = people
    join = support.invite(as_user(app, client_user), "newcoach@example.com")
    nora = as_user(app, make_user(name="Nora New", email="newcoach@example.com"))
    assert runner.invoke(args=["users", "deactivate", client_user.email]).exit_code == 0

    shown = nora.get(join)
    assert shown.status_code == 404 and "Clara" not in page_text(shown.data)
    for answer in ("accept", "decline"):
        assert nora.post(join, data={"answer": answer}).status_code == 404
    with app.app_context():
        assert db.session.scalars(select(CoachLink.status)).all() == [CoachLinkStatus.INVITED]

    assert runner.invoke(args=["users", "activate", client_user.email]).exit_code == 0
    assert nora.post(join, data={"answer": "accept"}).status_code == 302
    assert "Clara Client" in page_text(nora.get("/coach").data)
