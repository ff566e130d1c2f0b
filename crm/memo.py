"""Per-process memos of values derived from one user's network at one version.

Each entry is stored under a key that names the owner (and the view), together with
the owner's `users.network_version` it was computed at (see crm.insights.cache). A
lookup hits only at the same version, so a memo never answers for a network that has
changed since, whichever node wrote; a newer version replaces the entry, so each owner
and view holds one slot. Versions are random (crm.models.user.new_network_version), never
reused: not by a rolled-back bump, nor by a new account that gets a deleted one's id.
An entry also ages out after INSIGHTS_CACHE_SECONDS, because some values (strength,
"going cold") move with time. Each app keeps its own memos in `app.extensions`; a memo
holds at most `size` entries and drops the least recently used.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from datetime import datetime, timedelta
from typing import Any

from flask import current_app

MISSING = object()
# Entries per memo and process. Network figures hold a row per contact (about 1 MB for a
# network of 5,000), hence the smaller memo; see the README (Performance) for memory.
SIZES = {"network_figures": 256, "figures_html": 512}
DEFAULT_SIZE = 2048


class Memo:
    def __init__(self, size: int = DEFAULT_SIZE):
        self.size = size
        self._entries: OrderedDict[Hashable, tuple[Hashable, datetime, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable, version: Hashable, now: datetime) -> Any:
        """The value stored under key at this version while younger than the cache age,
        else MISSING."""
        max_age = timedelta(seconds=current_app.config["INSIGHTS_CACHE_SECONDS"])
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return MISSING
            stored_version, at, value = entry
            if stored_version != version or not timedelta(0) <= now - at < max_age:
                return MISSING
            self._entries.move_to_end(key)
            return value

    def put(self, key: Hashable, version: Hashable, value: Any, at: datetime) -> None:
        """Store value under key, replacing any other version (its age counts from `at`)."""
        with self._lock:
            self._entries[key] = (version, at, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def get_or_compute(self, key: Hashable, version: Hashable, now: datetime,
                       compute: Callable[[], Any]) -> Any:
        """The stored value while it is current, else compute() (stored as of now)."""
        value = self.get(key, version, now)
        if value is MISSING:
            value = compute()
            self.put(key, version, value, now)
        return value


def memo(name: str) -> Memo:
    """The current app's memo called name."""
    extensions = current_app.extensions
    found = extensions.get(f"rapport.memo.{name}")
    if found is None:
        found = extensions[f"rapport.memo.{name}"] = Memo(SIZES.get(name, DEFAULT_SIZE))
    return found
