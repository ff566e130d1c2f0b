"""Per-process memos of values derived from one user's network at one version.

A key names the owner's `users.network_version` (see crm.insights.cache), so a memo
never answers for a network that has changed since: every node computes afresh on
its next request after a write, whichever node wrote. An entry also ages out after
INSIGHTS_CACHE_SECONDS, because some values (strength, "going cold") move with time.
Each app keeps its own memos in `app.extensions`; a memo holds at most `size` entries
and drops the least recently used.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from datetime import datetime, timedelta
from typing import Any

from flask import current_app

DEFAULT_SIZE = 2048
MISSING = object()


class Memo:
    def __init__(self, size: int = DEFAULT_SIZE):
        self.size = size
        self._entries: OrderedDict[Hashable, tuple[datetime, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable, now: datetime) -> Any:
        """The value stored under key while it is younger than the cache age, else MISSING."""
        max_age = timedelta(seconds=current_app.config["INSIGHTS_CACHE_SECONDS"])
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and timedelta(0) <= now - entry[0] < max_age:
                self._entries.move_to_end(key)
                return entry[1]
        return MISSING

    def put(self, key: Hashable, value: Any, at: datetime) -> None:
        """Store value under key as computed at `at` (its age counts from then)."""
        with self._lock:
            self._entries[key] = (at, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def get_or_compute(self, key: Hashable, now: datetime, compute: Callable[[], Any]) -> Any:
        """The stored value while it is fresh, else compute() (stored as of now)."""
        value = self.get(key, now)
        if value is MISSING:
            value = compute()
            self.put(key, value, now)
        return value

    def __len__(self) -> int:
        return len(self._entries)


def memo(name: str) -> Memo:
    """The current app's memo called name."""
    return current_app.extensions.setdefault(f"rapport.memo.{name}", Memo())
