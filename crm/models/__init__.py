"""The data model: one module per entity."""

from crm.models import search_index  # the search index's schema events
from crm.models.api_token import ApiToken
from crm.models.coaching import CoachingNote, CoachLink, CoachLinkStatus
from crm.models.contact import Contact, ContactChannel, Tag, contact_tags
from crm.models.idempotency_key import IdempotencyKey
from crm.models.import_job import ImportJob, ImportKind, ImportStatus
from crm.models.insight import InsightSnapshot
from crm.models.interaction import Initiator, Interaction, interaction_participants
from crm.models.medium import BUILTIN_MEDIUMS, Medium
from crm.models.reminder import (
    AccountEmail,
    AccountEmailKind,
    Delivery,
    DeliveryChannel,
    DeliveryStatus,
    DigestRun,
    Recurrence,
    Reminder,
    ReminderKind,
    ReminderStatus,
    WorkerHeartbeat,
)
from crm.models.types import UTCDateTime, name_key, utcnow
from crm.models.user import User

__all__ = [
    "AccountEmail",
    "AccountEmailKind",
    "ApiToken",
    "CoachLink",
    "CoachLinkStatus",
    "CoachingNote",
    "BUILTIN_MEDIUMS",
    "Delivery",
    "DeliveryChannel",
    "DeliveryStatus",
    "DigestRun",
    "Recurrence",
    "Reminder",
    "ReminderKind",
    "ReminderStatus",
    "WorkerHeartbeat",
    "Contact",
    "IdempotencyKey",
    "ImportJob",
    "ImportKind",
    "ImportStatus",
    "ContactChannel",
    "Initiator",
    "InsightSnapshot",
    "Interaction",
    "Medium",
    "Tag",
    "User",
    "UTCDateTime",
    "contact_tags",
    "interaction_participants",
    "name_key",
    "search_index",
    "utcnow",
]
