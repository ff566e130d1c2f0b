"""Tags in the REST API: listed with their contacts counted and default cadence, renamed,
given a cadence, merged only when asked to, and deleted, through the tags page's services
(keep-in-touch reminders follow as on the page), with the API's versions (ETag/If-Match)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fixtures.api_client import problem_of
from support import counting_queries, days_later

from crm.extensions import db
from crm.models import Contact, Tag

# The last interaction keep-in-touch cadences count from (a reminder past due stays open).
MET = datetime(2025, 3, 20, 12, 0, tzinfo=UTC)

def listed(api, **query) -> dict[str, dict]:
    """Every tag the API lists (one page of 100), by name."""
    body = api.get("/tags", query_string={"per_page": 100, **query}).get_json()
    return {t["name"]: t for t in body["items"]}


def tag_of(api, name: str) -> dict:
    return listed(api)[name]


def tags_on(api, contact) -> list[str]:
    return api.get(f"/contacts/{contact.id}").get_json()["tags"]


def keep_in_touch_due(api, contact) -> list[str]:
    """When the contact's open keep-in-touch reminders fall due, as the API shows them."""
    items = api.get("/reminders", query_string={"contact_id": contact.id}).get_json()["items"]
    return [r["due_at"] for r in items if r["kind"] == "keep_in_touch"]


def due_after(days: int) -> list[str]:
    return [days_later(MET, days, "Europe/London").isoformat().replace("+00:00", "Z")]


# --- reading ------------------------------------------------------------------------------


def test_every_tag_is_listed_alphabetically_with_its_contacts_and_cadence(
        api, make_contact, make_user):
    make_contact(api.user, name="Ada", tags="Zürich, conf 2025, Éclair")
    make_contact(api.user, name="Grace", tags="conf 2025, berlin")
    kath = make_contact(api.user, name="Kath", tags="conf 2025")
    api.patch(f"/contacts/{kath.id}", json={"archived": True})
    make_contact(make_user(), name="Not Yours", tags="secret, berlin")
    berlin = tag_of(api, "berlin")
    assert api.patch(f"/tags/{berlin['id']}", json={"keep_in_touch_days": 14}).status_code == 200

    body = api.get("/tags").get_json()

    assert [t["name"] for t in body["items"]] == ["berlin", "conf 2025", "Éclair", "Zürich"]
    assert body["items"][:2] == [
        {"id": berlin["id"], "name": "berlin", "keep_in_touch_days": 14,
         "active_contacts": 1, "archived_contacts": 0},
        {"id": tag_of(api, "conf 2025")["id"], "name": "conf 2025", "keep_in_touch_days": None,
         "active_contacts": 2, "archived_contacts": 1},
    ]
    assert (body["page"], body["per_page"], body["total"], body["pages"]) == (1, 25, 4, 1)

    second = api.get("/tags?page=2&per_page=3").get_json()
    assert [t["name"] for t in second["items"]] == ["Zürich"]
    assert (second["total"], second["pages"]) == (4, 2)
    assert api.get("/tags?page=9").get_json()["items"] == []

    one = api.get(f"/tags/{berlin['id']}")
    assert one.status_code == 200 and one.get_json() == body["items"][0]
    assert api.get(f"/tags/{berlin['id']}",
                   headers={"If-None-Match": one.headers["ETag"]}).status_code == 304


def test_the_list_runs_as_many_statements_with_many_tags_and_contacts(
        app, api, make_contact):
    make_contact(api.user, tags="a, b")

    def statements() -> list[str]:
        api.get("/tags")  # warm up: connection set-up is not the list's cost
        with counting_queries(app) as seen:
            assert api.get("/tags").status_code == 200
        return seen

    few = statements()
    for n in range(30):
        make_contact(api.user, tags=[f"tag {n % 12}", "a"])
    many = statements()

    # The token's lookup and one aggregate over every tag and its contacts.
    assert len(many) == len(few) <= 2, "\n".join(many)
    assert tag_of(api, "tag 11")["active_contacts"] == 2


def test_another_users_tag_is_404_and_unchanged(app, api, make_user, make_contact, count):
    other = make_user()
    make_contact(other, name="Not Yours", tags="secret, shared")
    make_contact(api.user, name="Ada", tags="mine")
    with app.app_context():
        secret = db.session.scalar(db.select(Tag.id).where(Tag.name == "secret"))
    mine = tag_of(api, "mine")["id"]

    for response in (api.get(f"/tags/{secret}"),
                     api.patch(f"/tags/{secret}", json={"name": "taken"}),
                     api.delete(f"/tags/{secret}"),
                     api.post(f"/tags/{secret}/merge", json={"into_id": mine})):
        problem_of(response, 404)
    body = problem_of(api.post(f"/tags/{mine}/merge", json={"into_id": secret}), 422)
    assert body["errors"] == {"into_id": "No such tag among yours."}
    assert count(Tag) == 3 and set(listed(api)) == {"mine"}


# --- renaming and cadences ------------------------------------------------------------------


def test_rename_a_tag_and_its_contacts_follow(api, make_contact):
    ada = make_contact(api.user, name="Ada", tags="conf-2025, design")
    before = api.get(f"/contacts/{ada.id}").get_json()["updated_at"]
    conf = tag_of(api, "conf-2025")["id"]

    renamed = api.patch(f"/tags/{conf}", json={"name": "  Conf   2025 "})

    assert renamed.status_code == 200
    assert renamed.get_json()["name"] == "Conf 2025" and "ETag" in renamed.headers
    assert tags_on(api, ada) == ["Conf 2025", "design"]
    assert api.get(f"/contacts/{ada.id}").get_json()["updated_at"] > before
    # Another case or spelling of its own name is a rename, not a merge.
    assert api.patch(f"/tags/{conf}", json={"name": "CONF 2025"}).status_code == 200
    assert tags_on(api, ada) == ["CONF 2025", "design"]


@pytest.mark.parametrize("name, message", [
    ("x" * 41, "Keep it to 40 characters or fewer."),
    ("conf\t2025", "A tag's name cannot hold line breaks, tabs or invisible characters."),
    ("conf\u200b", "A tag's name cannot hold line breaks, tabs or invisible characters."),
    ("conf, 2025", "A tag's name cannot hold a comma: commas separate tags on a contact's "
                   "form."),
    ("   ", "This field is required."),
])
def test_a_bad_name_is_422_naming_the_field(api, make_contact, name, message):
    ada = make_contact(api.user, name="Ada", tags="conf")
    conf = tag_of(api, "conf")["id"]

    body = problem_of(api.patch(f"/tags/{conf}", json={"name": name}), 422)

    assert set(body["errors"]) == {"name"}
    assert message in body["errors"]["name"]
    assert tags_on(api, ada) == ["conf"]


def test_a_rename_onto_another_tags_name_is_409_naming_it_and_merges_nothing(
        api, make_contact, count):
    ada = make_contact(api.user, name="Ada", tags="conf-2025")
    grace = make_contact(api.user, name="Grace", tags="Conf 2025")
    old, into = tag_of(api, "conf-2025")["id"], tag_of(api, "Conf 2025")["id"]

    for name in ("Conf 2025", "conf 2025", "CONF\u00a02025"):
        body = problem_of(api.patch(f"/tags/{old}", json={"name": name,
                                                          "keep_in_touch_days": 7}), 409)
        assert body["tag"] == {"id": into, "name": "Conf 2025"}
        assert "“Conf 2025”" in body["detail"]
        assert f"POST /api/v1/tags/{old}/merge" in body["detail"]

    assert count(Tag) == 2
    assert tags_on(api, ada) == ["conf-2025"] and tags_on(api, grace) == ["Conf 2025"]
    assert tag_of(api, "conf-2025")["keep_in_touch_days"] is None  # nothing half-done


def test_a_cadence_set_or_cleared_moves_the_reminders_as_the_page_does(
        api, make_contact, make_interaction):
    ada = make_contact(api.user, name="Ada", tags="conference")
    grace = make_contact(api.user, name="Grace", tags="family", keep_in_touch_days=60)
    for contact in (ada, grace):
        make_interaction(api.user, contact, "video_call", MET)
    conference = tag_of(api, "conference")["id"]

    set_ = api.patch(f"/tags/{conference}", json={"keep_in_touch_days": 14})

    assert set_.status_code == 200 and set_.get_json()["keep_in_touch_days"] == 14
    assert keep_in_touch_due(api, ada) == due_after(14)
    assert keep_in_touch_due(api, grace) == due_after(60)  # their own cadence stands

    api.patch(f"/tags/{conference}", json={"keep_in_touch_days": None})
    assert keep_in_touch_due(api, ada) == []
    problem_of(api.patch(f"/tags/{conference}", json={"keep_in_touch_days": 0}), 422)


# --- merging ------------------------------------------------------------------------------


@pytest.mark.parametrize("kept", [14, 30])
def test_a_merge_asked_for_keeps_the_cadence_chosen_and_reminders_follow(
        api, make_contact, make_interaction, count, kept):
    only_old = make_contact(api.user, name="Ada", tags="conf-2025")
    only_into = make_contact(api.user, name="Grace", tags="Conf 2025")
    both = make_contact(api.user, name="Kath", tags="conf-2025, Conf 2025, design")
    for contact in (only_old, only_into, both):
        make_interaction(api.user, contact, "video_call", MET)
    old, into = tag_of(api, "conf-2025")["id"], tag_of(api, "Conf 2025")["id"]
    api.patch(f"/tags/{old}", json={"keep_in_touch_days": 14})
    api.patch(f"/tags/{into}", json={"keep_in_touch_days": 30})

    unchosen = problem_of(api.post(f"/tags/{old}/merge", json={"into_id": into}), 422)
    assert unchosen["errors"] == {"keep_in_touch_days": (
        "Both tags have a default cadence: keep 14 (conf-2025’s) or 30 (Conf 2025’s).")}
    neither = problem_of(api.post(f"/tags/{old}/merge",
                                  json={"into_id": into, "keep_in_touch_days": 21}), 422)
    assert set(neither["errors"]) == {"keep_in_touch_days"}
    itself = problem_of(api.post(f"/tags/{old}/merge", json={"into_id": old}), 422)
    assert itself["errors"] == {"into_id": "A tag cannot merge into itself."}
    assert count(Tag) == 3

    merged = api.post(f"/tags/{old}/merge", json={"into_id": into, "keep_in_touch_days": kept})

    assert merged.status_code == 200, merged.data
    assert merged.get_json() == {"id": into, "name": "Conf 2025", "keep_in_touch_days": kept,
                                 "active_contacts": 3, "archived_contacts": 0}
    assert "ETag" in merged.headers
    problem_of(api.get(f"/tags/{old}"), 404)
    for contact in (only_old, only_into):
        assert tags_on(api, contact) == ["Conf 2025"]
        assert keep_in_touch_due(api, contact) == due_after(kept)
    assert tags_on(api, both) == ["Conf 2025", "design"]


def test_a_merge_keeps_the_one_cadence_there_is(api, make_contact, make_interaction):
    ada = make_contact(api.user, name="Ada", tags="conf-2025")
    make_interaction(api.user, ada, "video_call", MET)
    make_contact(api.user, name="Grace", tags="Conf 2025")
    old, into = tag_of(api, "conf-2025")["id"], tag_of(api, "Conf 2025")["id"]
    api.patch(f"/tags/{into}", json={"keep_in_touch_days": 21})

    refused = problem_of(api.post(f"/tags/{old}/merge",
                                  json={"into_id": into, "keep_in_touch_days": None}), 422)
    assert refused["errors"] == {"keep_in_touch_days": (
        "The merged tag keeps 21, Conf 2025’s, the one default cadence of the two.")}
    merged = api.post(f"/tags/{old}/merge", json={"into_id": into})

    assert merged.status_code == 200 and merged.get_json()["keep_in_touch_days"] == 21
    assert keep_in_touch_due(api, ada) == due_after(21)


# --- deleting -----------------------------------------------------------------------------


def test_delete_a_tag_keeps_its_contacts_and_reminders_follow(
        api, make_contact, make_interaction, count):
    ada = make_contact(api.user, name="Ada", tags="conference")
    grace = make_contact(api.user, name="Grace", tags="conference, family")
    for contact in (ada, grace):
        make_interaction(api.user, contact, "video_call", MET)
    conference, family = tag_of(api, "conference")["id"], tag_of(api, "family")["id"]
    api.patch(f"/tags/{conference}", json={"keep_in_touch_days": 14})
    api.patch(f"/tags/{family}", json={"keep_in_touch_days": 60})

    assert api.delete(f"/tags/{conference}").status_code == 204

    assert set(listed(api)) == {"family"} and count(Contact) == 2
    assert tags_on(api, ada) == [] and tags_on(api, grace) == ["family"]
    assert keep_in_touch_due(api, ada) == []
    assert keep_in_touch_due(api, grace) == due_after(60)
    problem_of(api.get(f"/tags/{conference}"), 404)


# --- stale writes -------------------------------------------------------------------------


def test_a_change_or_deletion_on_a_stale_version_is_412_and_changes_nothing(
        api, make_contact, count):
    make_contact(api.user, name="Ada", tags="conference")
    make_contact(api.user, name="Grace", tags="conf")
    conference = tag_of(api, "conference")["id"]
    conf = tag_of(api, "conf")["id"]
    read = api.get(f"/tags/{conference}").headers["ETag"]

    # Another client merges conf into it: it carries more contacts than this one read.
    api.post(f"/tags/{conf}/merge", json={"into_id": conference})

    for stale in (api.delete(f"/tags/{conference}", headers={"If-Match": read}),
                  api.patch(f"/tags/{conference}", json={"name": "talks"},
                            headers={"If-Match": read})):
        assert "changed since the version in If-Match" in problem_of(stale, 412)["detail"]
    assert tag_of(api, "conference")["active_contacts"] == 2

    fresh = api.get(f"/tags/{conference}").headers["ETag"]
    renamed = api.patch(f"/tags/{conference}", json={"name": "talks"},
                        headers={"If-Match": fresh})
    assert renamed.status_code == 200
    problem_of(api.post(f"/tags/{conference}/merge", json={"into_id": conf},
                        headers={"If-Match": fresh}), 412)
    assert api.delete(f"/tags/{conference}",
                      headers={"If-Match": renamed.headers["ETag"]}).status_code == 204
    assert count(Tag) == 0


def test_the_openapi_document_and_reference_describe_the_tag_endpoints(client):
    document = client.get("/api/v1/openapi.json").get_json()
    paths = document["paths"]
    assert set(paths["/tags"]) == {"get"}
    assert set(paths["/tags/{tag_id}"]) == {"get", "patch", "delete"}
    assert set(paths["/tags/{tag_id}/merge"]) == {"post"}
    assert "409" in paths["/tags/{tag_id}"]["patch"]["responses"]
    assert "412" in paths["/tags/{tag_id}/merge"]["post"]["responses"]
    assert "Tag" in document["components"]["schemas"]
    assert "/tags/{tag_id}/merge" in client.get("/api/v1/docs").data.decode()


# Found by review: the unchanged name was checked as a new one (422), so the cadence was not set.
def test_a_patch_sending_a_legacy_tags_own_name_unchanged_sets_its_cadence(api, make_contact):
    make_contact(api.user, name="Ada", tags=["old\u200b"])
    tag = api.get("/tags").get_json()["items"][0]
    assert tag["name"] == "old\u200b"

    patched = api.patch(f"/tags/{tag['id']}",
                        json={"name": tag["name"], "keep_in_touch_days": 30})

    assert patched.status_code == 200, patched.data
    assert patched.get_json()["keep_in_touch_days"] == 30
    assert patched.get_json()["name"] == "old\u200b"
