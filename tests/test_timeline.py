"""The contact page: the timeline across mediums, the origin line and the path across mediums."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from support import order_in, page_text

SUMMARIES = ["Replied to the thread", "First Skype call", "Met at PyCon", "DM about the slides"]


@pytest.fixture
def story(logged_in, make_contact, make_interaction):
    """Ada: met on Twitter through Grace, then Skype, then face to face, then Twitter again."""
    grace = make_contact(logged_in, name="Grace Hopper")
    ada = make_contact(logged_in, name="Ada Lovelace", origin_medium="twitter",
                       origin_date=date(2023, 12, 24), introduced_by=grace)
    # Logged out of order on purpose: the page orders by when things happened.
    make_interaction(logged_in, [ada], "face_to_face", datetime(2024, 6, 1, 18, tzinfo=UTC),
                     summary=SUMMARIES[2])
    make_interaction(logged_in, [ada], "twitter", datetime(2024, 1, 5, 9, tzinfo=UTC),
                     summary=SUMMARIES[0])
    make_interaction(logged_in, [ada, grace], "twitter", datetime(2024, 7, 1, 9, tzinfo=UTC),
                     summary=SUMMARIES[3])
    make_interaction(logged_in, [ada], "skype", datetime(2024, 2, 10, 15, tzinfo=UTC),
                     summary=SUMMARIES[1])
    make_interaction(logged_in, [grace], "phone", datetime(2024, 3, 1, tzinfo=UTC),
                     summary="Grace only")
    return ada, grace


def _section(text: str, start: str, end: str) -> str:
    return text[text.index(start) : text.index(end, text.index(start))]


def test_timeline_is_newest_first_across_mediums(client, story):
    ada, _ = story

    response = client.get(f"/contacts/{ada.id}")

    assert response.status_code == 200
    assert order_in(response.data, SUMMARIES) == SUMMARIES[::-1]
    assert "Grace only" not in page_text(response.data)


def test_timeline_oldest_first_on_request(client, story):
    ada, _ = story

    response = client.get(f"/contacts/{ada.id}?order=oldest")

    assert order_in(response.data, SUMMARIES) == SUMMARIES


def test_timeline_entries_show_medium_and_time(client, story):
    ada, _ = story

    timeline = _section(page_text(client.get(f"/contacts/{ada.id}").data), "Timeline", "Details")

    assert "Skype 10 Feb 2024, 15:00" in timeline
    assert "Face-to-face 1 Jun 2024, 18:00" in timeline
    # A shared interaction names the other people in it.
    assert "DM about the slides With Grace Hopper" in timeline


def test_origin_line(client, story):
    ada, _ = story

    text = page_text(client.get(f"/contacts/{ada.id}").data)

    assert "First met on Twitter, 24 Dec 2023, introduced by Grace Hopper." in text


def test_origin_line_when_nothing_is_recorded(client, logged_in, make_contact):
    alan = make_contact(logged_in, name="Alan Turing")

    text = page_text(client.get(f"/contacts/{alan.id}").data)

    assert "Where you first met is not recorded." in text
    assert "First met on" not in text


def test_path_across_mediums_in_order_of_first_use(client, story):
    ada, _ = story

    text = page_text(client.get(f"/contacts/{ada.id}").data)

    path = _section(text, "Path across mediums", "Timeline")
    assert "Mediums used: 3." in path
    in_order = ["Twitter", "Skype", "Face-to-face"]
    assert order_in(path, in_order) == in_order
    assert "Twitter first met 24 Dec 2023 2 interactions" in path
    assert "Skype since 10 Feb 2024 1 interaction" in path
    assert "Face-to-face since 1 Jun 2024 1 interaction" in path
    assert "Phone" not in path  # Grace's call is not Ada's


def test_path_without_origin_starts_at_the_first_interaction(client, logged_in, make_contact,
                                                             make_interaction):
    alan = make_contact(logged_in, name="Alan Turing")
    make_interaction(logged_in, [alan], "linkedin", datetime(2024, 5, 2, tzinfo=UTC))
    make_interaction(logged_in, [alan], "email", datetime(2024, 4, 1, tzinfo=UTC))
    make_interaction(logged_in, [alan], "linkedin", datetime(2024, 3, 9, tzinfo=UTC))

    path = _section(page_text(client.get(f"/contacts/{alan.id}").data), "Path across mediums",
                    "Timeline")

    assert order_in(path, ["LinkedIn", "Email"]) == ["LinkedIn", "Email"]
    assert "LinkedIn since 9 Mar 2024 2 interactions" in path
    assert "Email since 1 Apr 2024 1 interaction" in path


def test_origin_medium_not_yet_used_still_leads_the_path(client, logged_in, make_contact,
                                                          make_interaction):
    alan = make_contact(logged_in, name="Alan Turing", origin_medium="face_to_face",
                        origin_date=date(2024, 1, 10))
    make_interaction(logged_in, [alan], "email", datetime(2024, 1, 12, tzinfo=UTC))

    path = _section(page_text(client.get(f"/contacts/{alan.id}").data), "Path across mediums",
                    "Timeline")

    assert order_in(path, ["Face-to-face", "Email"]) == ["Face-to-face", "Email"]
    assert "Face-to-face first met 10 Jan 2024 0 interactions" in path


@pytest.mark.app_config(INTERACTIONS_PER_PAGE=2)
def test_timeline_pages(client, story):
    ada, _ = story

    first = page_text(client.get(f"/contacts/{ada.id}").data)
    second = page_text(client.get(f"/contacts/{ada.id}?page=2").data)

    assert [s for s in SUMMARIES if s in first] == SUMMARIES[2:]
    assert [s for s in SUMMARIES if s in second] == SUMMARIES[:2]


def test_contact_figures_follow_each_change_on_the_next_request(
    client, story, logged_in, make_interaction, make_medium
):
    """The contact's figures are memoised per network version: a new interaction, on a
    medium of the user's own, and that medium's new name show on the very next view."""
    ada, _ = story
    assert "Mediums used: 3." in page_text(client.get(f"/contacts/{ada.id}").data)
    mastodon = make_medium(logged_in, "Mastodon")

    make_interaction(logged_in, [ada], medium=mastodon.id,
                     occurred_at=datetime(2024, 8, 1, 9, tzinfo=UTC), summary="Toot")
    path = _section(page_text(client.get(f"/contacts/{ada.id}").data),
                    "Path across mediums", "Timeline")
    assert "Mediums used: 4." in path
    assert "Mastodon since 1 Aug 2024 1 interaction" in path
    assert "Mastodon" in page_text(client.get("/").data).split("Medium mix")[1]

    client.post(f"/mediums/{mastodon.id}/edit", data={"name": "Fediverse"})
    path = _section(page_text(client.get(f"/contacts/{ada.id}").data),
                    "Path across mediums", "Timeline")
    assert "Fediverse since 1 Aug 2024 1 interaction" in path
    dashboard = page_text(client.get("/").data)
    assert "Fediverse" in dashboard.split("Medium mix")[1]
    assert "Mastodon" not in dashboard


def test_a_long_medium_name_is_shortened_in_the_charts_never_cut_off(
        client, story, logged_in, make_interaction, make_medium):
    """Bar and heatmap labels have a fixed room: a longer name ends with an ellipsis and
    carries the whole name as its tooltip, instead of running off the chart's left edge."""
    ada, _ = story
    long_name = "Conferences, meetups and other gatherings"
    medium = make_medium(logged_in, long_name)
    make_interaction(logged_in, [ada], medium=medium.id,
                     occurred_at=datetime(2024, 8, 1, 9, tzinfo=UTC), summary="Meetup")

    body = client.get("/").get_data(as_text=True)
    mix = body[body.index("Medium mix"):]
    mix = mix[:mix.index("</svg>")]
    assert f"<title>{long_name}</title>Conferences, me…</text>" in mix
    assert f">{long_name}</text>" not in mix
    assert ">Skype</text>" in mix  # short names stay whole
    # The fixed labels of "Who reached out" fit whole (one was cut at 340 units wide).
    assert ">They reached out</text>" in body and ">I reached out</text>" in body


def test_the_path_reads_days_in_the_viewers_zone(client, auth, make_user, make_contact,
                                                 make_interaction):
    """Found by the time audit, in Auckland (UTC+13): met on Phone on 4 March, first
    call on the 5th at 09:00 local (the 4th in UTC); met on Twitter on the 5th, emailed at
    08:00 local on the 5th. The origin's date and its lead on its own day are local."""
    user = make_user(email="kiwi@example.com", time_zone="Pacific/Auckland")
    auth.login_as(user)
    phoned = make_contact(user, name="Phoned", origin_medium="phone",
                          origin_date=date(2026, 3, 4))
    make_interaction(user, [phoned], "phone", datetime(2026, 3, 4, 20, tzinfo=UTC))
    tweeted = make_contact(user, name="Tweeted", origin_medium="twitter",
                           origin_date=date(2026, 3, 5))
    make_interaction(user, [tweeted], "email", datetime(2026, 3, 4, 19, tzinfo=UTC))

    path = _section(page_text(client.get(f"/contacts/{phoned.id}").data),
                    "Path across mediums", "Timeline")
    assert "Phone first met 4 Mar 2026" in path
    path = _section(page_text(client.get(f"/contacts/{tweeted.id}").data),
                    "Path across mediums", "Timeline")
    assert order_in(path, ["Email", "Twitter"]) == ["Twitter", "Email"]


@pytest.mark.parametrize("logged", [["twitter", "email"], ["email", "twitter"]])
def test_the_path_and_the_dashboard_agree_on_which_began_at_one_instant(
        client, logged_in, make_contact, make_interaction, logged):
    alan = make_contact(logged_in, name="Alan Turing")
    for key in logged:  # two mediums at one instant: the one logged first began it
        make_interaction(logged_in, [alan], key, datetime(2024, 5, 2, 9, tzinfo=UTC))
    names = {"twitter": "Twitter", "email": "Email"}
    began = names[logged[0]]

    dashboard = _section(page_text(client.get("/").data), "Where relationships began",
                         "Breadth")
    path = _section(page_text(client.get(f"/contacts/{alan.id}").data), "Path across mediums",
                    "Timeline")

    assert f"First met on Relationships {began} 1" in dashboard
    assert order_in(path, ["Email", "Twitter"])[0] == began


def test_every_mediums_used_count_includes_the_origin(app, client, logged_in, make_user,
                                                      make_contact, make_interaction):
    from support import as_user, link

    alan = make_contact(logged_in, name="Alan Turing", origin_medium="face_to_face")
    make_interaction(logged_in, [alan], "email")
    coach = make_user(email="coach@example.com")
    link(app, logged_in, coach)

    own = page_text(client.get(f"/contacts/{alan.id}").data)
    coached = page_text(as_user(app, coach).get(
        f"/coach/clients/{logged_in.id}/contacts/{alan.id}").data)
    dashboard = _section(page_text(client.get("/").data), "Breadth", "Paths across mediums")

    assert "Mediums used: 2." in own  # the path: Face-to-face, then Email
    assert own.count("Mediums used 2") == coached.count("Mediums used 2") == 1  # the cards
    assert "Mediums used Relationships 2 1" in dashboard


def test_thirteen_mediums_get_thirteen_colours_none_the_grey_of_not_recorded(
        client, logged_in, make_contact, make_interaction, make_medium):
    import re

    from crm.models.medium import BUILTIN_MEDIUMS

    grace = make_contact(logged_in, name="Grace Hopper")  # no origin recorded
    ada = make_contact(logged_in, name="Ada Lovelace", introduced_by=grace)
    own = [make_medium(logged_in, name) for name in ("Zoom", "Mastodon", "Signal", "Letter")]
    for key in BUILTIN_MEDIUMS:
        make_interaction(logged_in, [ada], key)
    for medium in own:
        make_interaction(logged_in, [ada], medium=medium.id)

    body = client.get("/").get_data(as_text=True)
    mix = body[body.index("Interactions by medium"):]
    bars = re.findall(r'<rect [^>]*fill="(#[0-9a-f]{6})"', mix[:mix.index("</svg>")])
    network = body[body.index("Who introduced whom"):]
    nodes = re.findall(r'<circle [^>]*fill="(#[0-9a-f]{6})"', network[:network.index("</svg>")])

    assert len(bars) == len(set(bars)) == 13
    assert len(set(nodes)) == 1 and nodes[0] not in bars  # origin not recorded
