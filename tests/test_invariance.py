"""The one rule: relabelling mediums by any permutation changes no ordering and no metric."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from support import order_in

from crm.extensions import db
from crm.interactions.services import InteractionData, update_interaction
from crm.models import BUILTIN_MEDIUMS, Contact, Interaction, Medium

NAMES = ["Ada Lovelace", "Grace Hopper", "Alan Turing", "Katherine Johnson", "Hedy Lamarr",
         "Claude Shannon"]
KEYS = list(BUILTIN_MEDIUMS)


def _state(app, client):
    """What the rule protects: list orders and each contact's last-interaction facts."""
    recent = order_in(client.get("/contacts?sort=last").data, NAMES)
    longest_ago = order_in(client.get("/contacts?sort=-last").data, NAMES)
    with app.app_context():
        facts = {
            c.name: (c.last_interaction_id, c.last_interaction_at)
            for c in db.session.scalars(select(Contact))
        }
    return recent, longest_ago, facts


def _relabel(app, original: dict[int, str], permutation: list[str]) -> None:
    """Move every interaction to permutation[index of its original medium], via the service."""
    mapping = dict(zip(KEYS, permutation, strict=True))
    with app.app_context():
        builtins = db.session.scalars(select(Medium).where(Medium.key.is_not(None)))
        mediums = {m.key: m for m in builtins}
        for interaction in db.session.scalars(select(Interaction)):
            update_interaction(
                interaction,
                InteractionData(
                    medium=mediums[mapping[original[interaction.id]]],
                    occurred_at=interaction.occurred_at,
                    initiated_by=interaction.initiated_by,
                    participants=list(interaction.participants),
                    summary=interaction.summary,
                ),
            )
        db.session.commit()


def test_relabelling_mediums_changes_no_order(app, client, logged_in, make_contact,
                                              make_interaction):
    people = [make_contact(logged_in, name=name) for name in NAMES[:-1]]
    make_contact(logged_in, name=NAMES[-1])  # never contacted
    start = datetime(2025, 1, 1, 9, tzinfo=UTC)
    original: dict[int, str] = {}
    # Varied mediums, times and group sizes, including two interactions at the same
    # instant (a tie that must be broken the same way whatever the mediums).
    plan = [
        ([0], 0, 0), ([1], 1, 5), ([2, 3], 2, 3), ([0, 4], 3, 9), ([4], 4, 9),
        ([1], 5, 2), ([3], 6, 7), ([2], 7, 1), ([0], 8, 4), ([1, 2], 0, 8),
    ]
    for who, key_index, day in plan:
        interaction = make_interaction(
            logged_in, [people[i] for i in who], KEYS[key_index], start + timedelta(days=day)
        )
        original[interaction.id] = KEYS[key_index]
    baseline = _state(app, client)
    assert baseline[0][-1] == NAMES[-1]

    @settings(max_examples=12, deadline=None, database=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(st.permutations(KEYS))
    def relabelled_state_is_unchanged(permutation):
        _relabel(app, original, permutation)
        mapping = dict(zip(KEYS, permutation, strict=True))
        with app.app_context():
            now_on = dict(db.session.execute(select(Interaction.id, Medium.key).join(Medium)).all())
        assert now_on == {i: mapping[key] for i, key in original.items()}
        assert _state(app, client) == baseline

    relabelled_state_is_unchanged()
