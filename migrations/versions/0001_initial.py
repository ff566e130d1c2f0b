"""Initial schema: users, mediums (with the built-ins), contacts, tags, channels, interactions.

Revision ID: 0001
Revises:
Create Date: 2026-11-26 12:48:27

"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# A snapshot of crm.models.medium.BUILTIN_MEDIUMS as of this revision; a
# migration never imports application code, which keeps changing after it.
BUILTIN_MEDIUMS = [
    ("face_to_face", "Face-to-face"),
    ("phone", "Phone"),
    ("skype", "Skype"),
    ("twitter", "Twitter"),
    ("linkedin", "LinkedIn"),
    ("email", "Email"),
    ("facebook", "Facebook"),
    ("text_message", "Text message"),
    ("video_call", "Video call"),
]

# crm.models.types.UTCDateTime stores naive UTC in a plain DateTime column
# (TIMESTAMP WITHOUT TIME ZONE on PostgreSQL).
UTCDateTime = sa.DateTime


def upgrade():
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=False),
        sa.Column("time_zone", sa.String(length=64), nullable=False),
        sa.Column("digest_hour", sa.Integer(), nullable=False),
        sa.Column("email_reminders", sa.Boolean(), nullable=False),
        sa.Column("session_version", sa.Integer(), nullable=False),
        sa.Column("is_active_account", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("email", name=op.f("uq_users_email")),
    )

    op.create_table(
        "mediums",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.Column("key", sa.String(length=40), nullable=True),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name=op.f("fk_mediums_owner_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mediums")),
        sa.UniqueConstraint("key", name=op.f("uq_mediums_key")),
        sa.UniqueConstraint("owner_id", "name", name=op.f("uq_mediums_owner_id_name")),
    )
    op.create_index(op.f("ix_mediums_owner_id"), "mediums", ["owner_id"], unique=False)

    op.create_table(
        "tags",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name=op.f("fk_tags_owner_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tags")),
        sa.UniqueConstraint("owner_id", "name", name=op.f("uq_tags_owner_id_name")),
    )

    # contacts.last_interaction_id and interactions form a cycle. With
    # use_alter=True, SQLAlchemy leaves the constraint out of CREATE TABLE on
    # databases that can ALTER TABLE ... ADD CONSTRAINT (PostgreSQL), which get it
    # from create_foreign_key below once interactions exists; SQLite cannot add a
    # constraint later, so there it is written inline (SQLite allows a reference
    # to a table that does not exist yet).
    op.create_table(
        "contacts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("company", sa.String(length=120), nullable=False),
        sa.Column("title", sa.String(length=120), nullable=False),
        sa.Column("location", sa.String(length=120), nullable=False),
        sa.Column("time_zone", sa.String(length=64), nullable=True),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("origin_medium_id", sa.Integer(), nullable=True),
        sa.Column("origin_date", sa.Date(), nullable=True),
        sa.Column("introduced_by_id", sa.Integer(), nullable=True),
        sa.Column("keep_in_touch_days", sa.Integer(), nullable=True),
        sa.Column("is_private", sa.Boolean(), nullable=False),
        sa.Column("archived_at", UTCDateTime(), nullable=True),
        sa.Column("last_interaction_at", UTCDateTime(), nullable=True),
        sa.Column("last_interaction_id", sa.Integer(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["introduced_by_id"],
            ["contacts.id"],
            name=op.f("fk_contacts_introduced_by_id_contacts"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["last_interaction_id"],
            ["interactions.id"],
            name=op.f("fk_contacts_last_interaction_id_interactions"),
            ondelete="SET NULL",
            use_alter=True,
        ),
        sa.ForeignKeyConstraint(
            ["origin_medium_id"],
            ["mediums.id"],
            name=op.f("fk_contacts_origin_medium_id_mediums"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name=op.f("fk_contacts_owner_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contacts")),
    )
    op.create_index(
        op.f("ix_contacts_introduced_by_id"), "contacts", ["introduced_by_id"], unique=False
    )
    op.create_index(
        op.f("ix_contacts_origin_medium_id"), "contacts", ["origin_medium_id"], unique=False
    )
    op.create_index(
        "ix_contacts_owner_last", "contacts", ["owner_id", "last_interaction_at"], unique=False
    )
    op.create_index("ix_contacts_owner_name", "contacts", ["owner_id", "name"], unique=False)

    op.create_table(
        "interactions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("medium_id", sa.Integer(), nullable=False),
        sa.Column("occurred_at", UTCDateTime(), nullable=False),
        # Non-native: a VARCHAR(10) on every database, no CREATE TYPE.
        sa.Column(
            "initiated_by",
            sa.Enum(
                "me", "them", "mutual", name="initiator", native_enum=False, length=10
            ),
            nullable=False,
        ),
        sa.Column("summary", sa.String(length=200), nullable=False),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("is_private", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["medium_id"], ["mediums.id"], name=op.f("fk_interactions_medium_id_mediums")
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"],
            ["users.id"],
            name=op.f("fk_interactions_owner_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_interactions")),
    )
    op.create_index(
        op.f("ix_interactions_medium_id"), "interactions", ["medium_id"], unique=False
    )
    op.create_index(
        "ix_interactions_owner_occurred", "interactions", ["owner_id", "occurred_at"], unique=False
    )

    if op.get_context().dialect.supports_alter:
        op.create_foreign_key(
            op.f("fk_contacts_last_interaction_id_interactions"),
            "contacts",
            "interactions",
            ["last_interaction_id"],
            ["id"],
            ondelete="SET NULL",
        )

    op.create_table(
        "contact_channels",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("medium_id", sa.Integer(), nullable=False),
        sa.Column("value", sa.String(length=255), nullable=False),
        sa.Column("label", sa.String(length=40), nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_contact_channels_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["medium_id"],
            ["mediums.id"],
            name=op.f("fk_contact_channels_medium_id_mediums"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contact_channels")),
        sa.UniqueConstraint(
            "contact_id",
            "medium_id",
            "value",
            name=op.f("uq_contact_channels_contact_id_medium_id_value"),
        ),
    )
    op.create_index(
        op.f("ix_contact_channels_contact_id"), "contact_channels", ["contact_id"], unique=False
    )
    op.create_index(
        op.f("ix_contact_channels_medium_id"), "contact_channels", ["medium_id"], unique=False
    )
    op.create_index("ix_contact_channels_value", "contact_channels", ["value"], unique=False)

    op.create_table(
        "contact_tags",
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("tag_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_contact_tags_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tag_id"], ["tags.id"], name=op.f("fk_contact_tags_tag_id_tags"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("contact_id", "tag_id", name=op.f("pk_contact_tags")),
    )
    op.create_index(op.f("ix_contact_tags_tag_id"), "contact_tags", ["tag_id"], unique=False)

    op.create_table(
        "interaction_participants",
        sa.Column("interaction_id", sa.Integer(), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["contacts.id"],
            name=op.f("fk_interaction_participants_contact_id_contacts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["interaction_id"],
            ["interactions.id"],
            name=op.f("fk_interaction_participants_interaction_id_interactions"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "interaction_id", "contact_id", name=op.f("pk_interaction_participants")
        ),
    )
    op.create_index(
        op.f("ix_interaction_participants_contact_id"),
        "interaction_participants",
        ["contact_id"],
        unique=False,
    )

    mediums = sa.table(
        "mediums",
        sa.column("key", sa.String(40)),
        sa.column("name", sa.String(60)),
        sa.column("owner_id", sa.Integer()),
    )
    op.bulk_insert(
        mediums,
        [{"key": key, "name": name, "owner_id": None} for key, name in BUILTIN_MEDIUMS],
    )


def downgrade():
    # Dropping a table drops its indexes and constraints. contacts goes before
    # interactions because its last_interaction_id references interactions.
    op.drop_table("interaction_participants")
    op.drop_table("contact_tags")
    op.drop_table("contact_channels")
    op.drop_table("contacts")
    op.drop_table("interactions")
    op.drop_table("tags")
    op.drop_table("mediums")
    op.drop_table("users")
