"""Read-your-writes for the views: a read catches them up to the log's head before it answers.

A command no longer pays for the projector: it commits its events and returns. Any request
that reads the views (`api.deps.get_engine`) first asks the log for its head (one indexed
MAX) and, only when the views may be behind it, runs the projector until they are current.
So a read that starts after a command's response sees that command, whichever process wrote
it, and a burst of commands is projected in one page by the next read instead of one
transaction per command.
"""

from __future__ import annotations

import threading
from typing import Protocol


class Projector(Protocol):
    """Anything that brings the read models up to date (`projections.projector.Projector`)."""

    def catch_up(self, stop: int | None = None) -> int: ...


class Log(Protocol):
    """The part of the event store this needs: its last notification id (None when empty)."""

    def max_notification_id(self) -> int | None: ...


class FreshViews:
    """Catches the views up to the log's head on demand; cheap when nothing new was written."""

    def __init__(self, projector: Projector | None, log: Log, lock: threading.RLock) -> None:
        """`lock`: the process's write lock, so a catch-up never competes with a command for
        the store (the arrangement the concurrency tests were made green with)."""
        self.projector = projector
        self.log = log
        self.lock = lock
        self._current_to = 0  # the views hold every event up to here (a lower bound)

    def ensure(self) -> None:
        """Return once the views hold every event committed before this call."""
        if self.projector is None:  # a separate `lvyue project` keeps them up to date
            return
        head = self.log.max_notification_id() or 0
        if head <= self._current_to:
            return
        with self.lock:
            if head > self._current_to:
                self.projector.catch_up()  # runs until a page comes back empty: ≥ head
                self._current_to = head
