"""The small HTML pages the service shows in the user's browser at the end of an OAuth connection: the result, and
the confirmation a flow started outside this browser needs. They cannot be framed, cached or leak the callback URL
(code and state) in a Referer."""

from __future__ import annotations

import html

from starlette.responses import HTMLResponse

HEADERS = {
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'; form-action 'self'",
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
}


def _html(status: int, title: str, body: str) -> HTMLResponse:
    t = html.escape(title)
    return HTMLResponse(
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Cliply: {t}</title></head>"
        f"<body><h1>{t}</h1>{body}</body></html>",
        status_code=status,
        headers=HEADERS,
    )


def page(status: int, title: str, message: str) -> HTMLResponse:
    return _html(
        status,
        title,
        f"<p>{html.escape(message)}</p><p><a href='/web/accounts'>Back to your accounts</a>, or close this window.</p>",
    )


def confirm_page(platform: str, handle: str, workspace: str, token: str, missing: list[str]) -> HTMLResponse:
    """Asks the person who consented whether this account should join this workspace; nothing is stored yet."""
    p, h, w, tok = (html.escape(v, quote=True) for v in (platform, handle, workspace, token))
    note = f"<p>Permissions not granted: {html.escape(', '.join(missing))}.</p>" if missing else ""
    return _html(
        200,
        "Confirm the connection",
        f"<p>Connect the {p} account <strong>{h}</strong> to the Cliply workspace <strong>{w}</strong>?</p>"
        f"{note}<p>Only continue if you started this connection yourself. Anyone in that workspace will "
        f"be able to publish to this account.</p>"
        f"<form method='post' action='/oauth/{p}/confirm'><input type='hidden' name='token' value='{tok}'>"
        f"<button type='submit' name='decision' value='connect'>Connect {h} to {w}</button> "
        f"<button type='submit' name='decision' value='cancel'>Cancel</button></form>",
    )
