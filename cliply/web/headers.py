"""The security headers of every web page and static file: a Content-Security-Policy without inline scripts or
styles, no framing, no cross-origin Referer, no MIME sniffing; pages (which show workspace data or a CSRF token)
are never cached."""

from __future__ import annotations

from typing import Any

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; "
    "form-action 'self'; base-uri 'none'"
)
COMMON = {
    "content-security-policy": CSP,
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
    "x-content-type-options": "nosniff",
}


class SecurityHeaders:
    """ASGI middleware around the web pages (no_store=True) or the static files (no_store=False)."""

    def __init__(self, app: Any, *, no_store: bool = True) -> None:
        self.app, self.no_store = app, no_store

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def _send(message: Any) -> None:
            if message["type"] == "http.response.start":
                extra = dict(COMMON)
                if self.no_store:
                    extra["cache-control"] = "no-store"
                headers = [(k, v) for k, v in message.get("headers", []) if k.decode().lower() not in extra]
                headers += [(k.encode(), v.encode()) for k, v in extra.items()]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, _send)
