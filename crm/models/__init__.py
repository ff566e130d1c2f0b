"""The data model: one module per entity."""

from crm.models.contact import Contact, ContactChannel, Tag, contact_tags
from crm.models.interaction import Initiator, Interaction, interaction_participants
from crm.models.medium import BUILTIN_MEDIUMS, Medium
from crm.models.types import UTCDateTime, utcnow
from crm.models.user import User

__all__ = [
    "BUILTIN_MEDIUMS",
    "Contact",
    "ContactChannel",
    "Initiator",
    "Interaction",
    "Medium",
    "Tag",
    "User",
    "UTCDateTime",
    "contact_tags",
    "interaction_participants",
    "utcnow",
]
