"""Access log: one line per request with method, path and status, never the query string (codes, signatures)."""

from __future__ import annotations

import logging
import time
from typing import Any

access_log = logging.getLogger("cliply.http.access")
# Paths whose last part is a secret until used (one-time sign-in links): logged without it.
SECRET_PATH_PREFIXES = ("/web/login/",)


def loggable_path(path: str) -> str:
    for prefix in SECRET_PATH_PREFIXES:
        if path.startswith(prefix):
            return prefix + "…"
    return path


class AccessLog:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = {"code": 500}

        async def _send(message: Any) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        started = time.monotonic()
        try:
            await self.app(scope, receive, _send)
        finally:
            access_log.info(
                "%s %s %s %.0fms",
                scope["method"],
                loggable_path(scope["path"]),
                status["code"],
                (time.monotonic() - started) * 1000,
            )
