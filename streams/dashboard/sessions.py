"""Dashboard sessions kept by the server: a random id in the cookie, the operator label and an expiry here, so that
logging out (or the expiry) ends the session for good; and a limit on failed logins per client address."""
from __future__ import annotations

import secrets
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Callable


@dataclass
class Sessions:
    """Session id -> (operator label, expiry). A restarted dashboard forgets them all: everyone logs in again."""

    ttl_s: float
    clock: Callable[[], float] = time.monotonic
    _live: dict[str, tuple[str, float]] = field(default_factory=dict)

    def create(self, user: str) -> str:
        self._expire()
        session_id = secrets.token_urlsafe(32)
        self._live[session_id] = (user, self.clock() + self.ttl_s)
        return session_id

    def user(self, session_id: str | None) -> str | None:
        found = self._live.get(session_id or "")
        if found is None:
            return None
        if found[1] <= self.clock():
            del self._live[session_id]
            return None
        return found[0]

    def revoke(self, session_id: str | None) -> None:
        self._live.pop(session_id or "", None)

    def revoke_all(self) -> None:
        self._live.clear()

    def _expire(self) -> None:
        now = self.clock()
        for session_id in [s for s, (_, expires) in self._live.items() if expires <= now]:
            del self._live[session_id]


@dataclass
class LoginLimiter:
    """At most `max_failures` failed logins per client address in `window_s`; then refused until the window passes."""

    max_failures: int
    window_s: float
    clock: Callable[[], float] = time.monotonic
    _failures: dict[str, deque] = field(default_factory=dict)

    def allowed(self, client: str) -> bool:
        failures = self._failures.get(client)
        if not failures:
            return True
        cutoff = self.clock() - self.window_s
        while failures and failures[0] <= cutoff:
            failures.popleft()
        if not failures:
            del self._failures[client]
        return len(failures) < self.max_failures

    def failed(self, client: str) -> None:
        if len(self._failures) > 10_000:  # bounded: drop the oldest addresses first
            self._failures.pop(next(iter(self._failures)))
        self._failures.setdefault(client, deque()).append(self.clock())

    def succeeded(self, client: str) -> None:
        self._failures.pop(client, None)
