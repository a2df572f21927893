"""A bound on sign-in guessing, per client address: after `limit` failed sign-ins within `window_s` seconds, further
attempts from that address are refused (429) until the window has passed. API keys and sign-in links carry 256 random
bits, so this is defence in depth (it also keeps a guesser from filling the log), not what makes guessing hopeless."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable


class FailureLimiter:
    def __init__(
        self,
        limit: int = 10,
        window_s: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
        max_keys: int = 10000,
    ) -> None:
        self.limit, self.window_s, self.clock, self.max_keys = limit, window_s, clock, max_keys
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._failures.setdefault(key, deque())
        while times and times[0] <= now - self.window_s:
            times.popleft()
        return times

    def blocked(self, key: str) -> bool:
        with self._lock:
            return len(self._recent(key, self.clock())) >= self.limit

    def failed(self, key: str) -> None:
        with self._lock:
            if len(self._failures) >= self.max_keys and key not in self._failures:
                self._failures.clear()  # memory stays bounded whatever the number of addresses
            now = self.clock()
            self._recent(key, now).append(now)

    def succeeded(self, key: str) -> None:
        with self._lock:
            self._failures.pop(key, None)
