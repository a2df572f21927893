"""Helpers several platform contract tests share: the sandbox's request log, read per platform."""

from __future__ import annotations

import time

from tests.fixtures.sandbox import RunningSandbox


def calls(sandbox: RunningSandbox, platform: str, since: int = 0) -> list[tuple[str, str]]:
    """(method, path) of each request `platform`'s sandbox logged, from index `since` on."""
    return [(r.method, r.path) for r in sandbox.state.requests_for(platform)[since:]]


def settle(sandbox: RunningSandbox, platform: str, method: str, path: str) -> None:
    """Wait (bounded) until the request the client gave up on has finished server-side, so its late log entry
    lands in this test and not in the next one's fresh state."""
    deadline = time.monotonic() + 10
    while not any(r.method == method and r.path == path for r in sandbox.state.requests_for(platform)):
        assert time.monotonic() < deadline, f"{method} {path} never completed"
        time.sleep(0.05)
