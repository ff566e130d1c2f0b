"""Edit forms opened twice (two tabs, a phone and a laptop, a form left open while an import
or the API changes the record): each save changes only what its own form changed, and a
field changed on both sides to different values is a conflict the user settles, nothing lost.
"""

from __future__ import annotations

import re

import pytest
from support import field_error, field_value, form_values, page_text

from crm.extensions import db
from crm.models import Contact

GARBAGE_BASES = [None, "", "garbage", "[1, 2]", '{"company": 5}', '{"phone": "0"}',
                 "[" * 4000, "[" * 5000, "\x00"]


def _opened(client, url: str) -> dict[str, list[str]]:
    """What the browser would send back from the edit form at url, untouched."""
    values = form_values(client.get(url).data)
    assert values["base"][0]  # the form carries what it showed
    return values


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
    assert field_error(response.data, "company") == (
        "Changed since you opened this form, to “Acme Ltd”. Save again to replace it with "
        "yours.")
    assert _summary_links(response.data, "company", "Company")
    assert field_value(response.data, "company") == "Babbage & Co"
    assert field_value(response.data, "notes") == "Typed in tab B."
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
    url = f"/contacts/{ada.id}/edit"
    stale = _opened(client, url)
    fresh = _opened(client, url)
    fresh["company"] = ["Acme Ltd"]
    assert client.post(url, data=fresh).status_code == 302

    stale["notes"] = ["Typed."]
    if base is None:
        del stale["base"]
    else:
        stale["base"] = [base]
    response = client.post(url, data=stale)
    assert response.status_code == 302  # as before bases: every field as sent
    saved = _contact(app, ada.id)
    assert (saved.company, saved.notes) == ("Old Co", "Typed.")
    assert "Changes saved." in page_text(client.get(f"/contacts/{ada.id}").data)
