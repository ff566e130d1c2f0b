"""Contacts, their tags and their channels (a handle on a medium)."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING

from sqlalchemy import (
    DDL,
    Boolean,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    event,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.extensions import db
from crm.models.medium import Medium
from crm.models.types import SORT_NAME_LENGTH, UTCDateTime, alphabetical_key, utcnow

if TYPE_CHECKING:
    from crm.models.interaction import Interaction

contact_tags = Table(
    "contact_tags",
    db.metadata,
    Column("contact_id", ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True),
    Column("tag_id", ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True, index=True),
)

TAG_MAX_LENGTH = 40
CADENCE_MAX_DAYS = 3650  # a keep-in-touch cadence (a contact's or a tag's) is 1..this days


class Tag(db.Model):
    __tablename__ = "tags"
    __table_args__ = (UniqueConstraint("owner_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(TAG_MAX_LENGTH))
    # Default keep-in-touch cadence for contacts with this tag and none of their own.
    keep_in_touch_days: Mapped[int | None] = mapped_column(Integer)

    def sort_key(self) -> tuple[str, int]:
        """Where the tag goes in every list of tags: alphabetically, accents set aside."""
        return alphabetical_key(self.name), self.id


# A contact's columns kept folded (alphabetical_key) beside the text they fold: set with it
# through the ORM (_keep_folded below), and by these defaults for rows inserted without it
# (imports); a Core UPDATE of the text sets the copy itself.
FOLDED_COPIES = {"name": "sort_name", "company": "company_key"}


def _folded_of_row(source: str):
    def default(context) -> str:
        return alphabetical_key(context.get_current_parameters().get(source) or "")
    return default


class Contact(db.Model):
    __tablename__ = "contacts"
    __table_args__ = (
        Index("ix_contacts_owner_name", "owner_id", "name"),
        # Lists sorted by last interaction, oldest first ("never contacted" last).
        Index("ix_contacts_owner_last", "owner_id", "last_interaction_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(120))
    # The name folded (FOLDED_COPIES), for lists by name. Compared by code point on
    # PostgreSQL too (collation "C"): it is folded already, and a locale's collation would
    # set spaces and punctuation aside ("Dean" before "de la Cruz"), which SQLite's order
    # does not.
    sort_name: Mapped[str] = mapped_column(
        String(SORT_NAME_LENGTH).with_variant(
            String(SORT_NAME_LENGTH, collation="C"), "postgresql"),
        default=_folded_of_row("name"), server_default="")
    company: Mapped[str] = mapped_column(String(120), default="")
    # The company folded (FOLDED_COPIES), which a search matches with accents set aside
    # ("nestle" finds "Nestlé").
    company_key: Mapped[str] = mapped_column(
        String(SORT_NAME_LENGTH), default=_folded_of_row("company"), server_default="")
    title: Mapped[str] = mapped_column(String(120), default="")
    location: Mapped[str] = mapped_column(String(120), default="")
    time_zone: Mapped[str | None] = mapped_column(String(64))
    notes: Mapped[str] = mapped_column(Text, default="")
    origin_medium_id: Mapped[int | None] = mapped_column(
        ForeignKey("mediums.id", ondelete="SET NULL"), index=True
    )
    origin_date: Mapped[date | None] = mapped_column(Date)
    introduced_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("contacts.id", ondelete="SET NULL"), index=True
    )
    keep_in_touch_days: Mapped[int | None] = mapped_column(Integer)
    is_private: Mapped[bool] = mapped_column(Boolean, default=False)
    archived_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Kept up to date by interactions.services.refresh_last_interaction, so the
    # contact list can sort by it without aggregating every interaction.
    last_interaction_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_interaction_id: Mapped[int | None] = mapped_column(
        ForeignKey("interactions.id", ondelete="SET NULL", use_alter=True)
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    origin_medium: Mapped[Medium | None] = relationship(foreign_keys=[origin_medium_id])
    introduced_by: Mapped[Contact | None] = relationship(
        remote_side=[id], foreign_keys=[introduced_by_id]
    )
    tags: Mapped[list[Tag]] = relationship(secondary=contact_tags, order_by=Tag.name)
    channels: Mapped[list[ContactChannel]] = relationship(
        back_populates="contact", cascade="all, delete-orphan", order_by="ContactChannel.id"
    )
    last_interaction: Mapped[Interaction | None] = relationship(
        foreign_keys=[last_interaction_id], post_update=True
    )

    @property
    def is_archived(self) -> bool:
        return self.archived_at is not None

    @property
    def filed_tags(self) -> list[Tag]:
        """The tags alphabetically, accents set aside, as every list of tags is shown (the
        relationship's SQL order is by raw name: capitals first, accented initials last)."""
        return sorted(self.tags, key=Tag.sort_key)

    @property
    def tag_names(self) -> list[str]:
        return [t.name for t in self.filed_tags]

    @property
    def cadence_tag(self) -> Tag | None:
        """The tag whose keep-in-touch default applies when the contact has no cadence of its
        own: the shortest (reminders.services.effective_cadence), then by name."""
        tags = [t for t in self.tags if t.keep_in_touch_days]
        return min(tags, key=lambda t: (t.keep_in_touch_days, t.name), default=None)

    def __repr__(self) -> str:
        return f"<Contact {self.id} {self.name}>"


def _keep_folded(source: str, copy: str) -> None:
    @event.listens_for(getattr(Contact, source), "set")
    def _set(contact: Contact, value: str | None, old, initiator) -> None:
        setattr(contact, copy, alphabetical_key(value or ""))


for _source, _copy in FOLDED_COPIES.items():
    _keep_folded(_source, _copy)


def trigram_index(name: str, column) -> Index:
    """A pg_trgm GIN index on lower(column), PostgreSQL only: it answers
    `lower(column) LIKE '%term%'` (contact and interaction search; SQLite has
    crm.models.search_index).

    fastupdate off: with it on, new rows wait in a pending list that every search reads
    through until vacuum merges it, and after an import the planner gives up on the index.
    """
    label = f"{column.key}_lower"
    return _postgresql_only(
        Index(name, func.lower(column).label(label), postgresql_using="gin",
              postgresql_ops={label: "gin_trgm_ops"}, postgresql_with={"fastupdate": "off"}))


# Indexes created on PostgreSQL only; autogenerate must not miss them elsewhere
# (see include_object).
POSTGRESQL_ONLY_INDEXES: set[str] = set()


def _postgresql_only(index: Index) -> Index:
    POSTGRESQL_ONLY_INDEXES.add(index.name)
    return index.ddl_if(dialect="postgresql")


def include_object_for(dialect_name: str):
    """An autogenerate include_object hook that leaves out PostgreSQL-only indexes when
    comparing another database."""

    def include_object(obj, name, type_, reflected, compare_to) -> bool:
        return not (type_ == "index" and name in POSTGRESQL_ONLY_INDEXES
                    and dialect_name != "postgresql")

    return include_object


# The contact list's orders, walked in order so that a page reads its 25 rows and stops:
# by name (sort_name, id; both databases), and most recent first, which on PostgreSQL
# needs its own index (a backward scan of ix_contacts_owner_last puts the never-contacted
# first; on SQLite NULLs sort lowest, so that backward scan is already the right order).
# company_key rides along so that a search can walk the owner's part of it for names and
# companies with their accents set aside without reading rows (SQLite; see
# crm.contacts.services._fts_matches).
Index("ix_contacts_owner_sort_name", Contact.owner_id, Contact.sort_name, Contact.id,
      Contact.company_key)
_postgresql_only(Index(
    "ix_contacts_owner_recent",
    Contact.owner_id, Contact.last_interaction_at.desc().nulls_last(), Contact.id.desc(),
))

trigram_index("ix_tags_name_trgm", Tag.name)
trigram_index("ix_contacts_name_trgm", Contact.name)
trigram_index("ix_contacts_company_trgm", Contact.company)
# Names and companies with accents set aside (search, crm.contacts.services.
# folded_contains): the columns are folded already, so the indexes are on them as they are.
for _column in (Contact.sort_name, Contact.company_key):
    _postgresql_only(Index(
        f"ix_contacts_{_column.key}_trgm", _column, postgresql_using="gin",
        postgresql_ops={_column.key: "gin_trgm_ops"}, postgresql_with={"fastupdate": "off"}))


class ContactChannel(db.Model):
    __tablename__ = "contact_channels"
    __table_args__ = (
        UniqueConstraint("contact_id", "medium_id", "value"),
        Index("ix_contact_channels_value", "value"),
        # A search walks the owner's handles (value and contact read from the index) when
        # its term is common: the trigram index would read every user's matches first.
        Index("ix_contact_channels_owner_value", "owner_id", "value", "contact_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int] = mapped_column(
        ForeignKey("contacts.id", ondelete="CASCADE"), index=True
    )
    # The contact's owner, copied when the channel is made (a contact never changes
    # owner; a merge moves channels between one owner's contacts), so that one user's
    # handles can be found without other users' (migration 0014). A row written without
    # it (0, the default: code from before 0014 during a rolling deploy, a forgotten
    # Core insert) gets it from the trigger below. No foreign key: the contact's
    # cascades the channel away with its owner.
    owner_id: Mapped[int] = mapped_column(server_default=text("0"))
    medium_id: Mapped[int] = mapped_column(ForeignKey("mediums.id", ondelete="CASCADE"), index=True)
    value: Mapped[str] = mapped_column(String(255))
    label: Mapped[str] = mapped_column(String(40), default="")

    contact: Mapped[Contact] = relationship(back_populates="channels")
    medium: Mapped[Medium] = relationship()


# The trigger that gives a channel written without its owner (owner_id 0) its contact's,
# whoever writes. Migration 0014 creates the same one.
CHANNEL_OWNER_DDL = {
    "sqlite": (
        """CREATE TRIGGER tr_contact_channels_owner AFTER INSERT ON contact_channels
        WHEN NEW.owner_id = 0
        BEGIN
            UPDATE contact_channels
            SET owner_id = (SELECT owner_id FROM contacts WHERE id = NEW.contact_id)
            WHERE id = NEW.id;
        END""",
    ),
    "postgresql": (
        """CREATE OR REPLACE FUNCTION contact_channels_owner() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            IF NEW.owner_id IS NULL OR NEW.owner_id = 0 THEN
                SELECT owner_id INTO NEW.owner_id FROM contacts WHERE id = NEW.contact_id;
            END IF;
            RETURN NEW;
        END $$""",
        """CREATE TRIGGER tr_contact_channels_owner BEFORE INSERT ON contact_channels
        FOR EACH ROW EXECUTE FUNCTION contact_channels_owner()""",
    ),
}

for _dialect, _statements in CHANNEL_OWNER_DDL.items():
    for _statement in _statements:
        event.listen(ContactChannel.__table__, "after_create",
                     DDL(_statement).execute_if(dialect=_dialect))


trigram_index("ix_contact_channels_value_trgm", ContactChannel.value)
