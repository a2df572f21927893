"""The notifier against real local servers: an aiosmtpd SMTP server and an HTTP webhook receiver."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from cliply_resources.publishing import NotifierResource


@dataclass
class SmtpInbox:
    host: str
    port: int
    messages: list[Message] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        msg = message_from_bytes(envelope.content)
        msg["X-Envelope-To"] = ",".join(envelope.rcpt_tos)
        self.messages.append(msg)
        return "250 Message accepted for delivery"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def smtp_server() -> Iterator[SmtpInbox]:
    inbox = SmtpInbox("127.0.0.1", _free_port())
    controller = Controller(inbox, hostname=inbox.host, port=inbox.port)
    controller.start()
    try:
        yield inbox
    finally:
        controller.stop()


@dataclass
class WebhookReceiver:
    url: str
    received: list[dict[str, Any]] = field(default_factory=list)
    status: int = 204


@pytest.fixture
def webhook_server() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver("")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            receiver.received.append(
                {"path": self.path, "content_type": self.headers.get("Content-Type"), "json": json.loads(body)}
            )
            self.send_response(receiver.status)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/cliply"
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()


def test_notify_sends_mail_and_webhook_without_secrets(
    smtp_server: SmtpInbox, webhook_server: WebhookReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLIPLY_SMTP_HOST", smtp_server.host)
    monkeypatch.setenv("CLIPLY_SMTP_PORT", str(smtp_server.port))
    monkeypatch.setenv("CLIPLY_SMTP_FROM", "cliply@example.test")
    monkeypatch.setenv("CLIPLY_SMTP_TO", "ops@example.test, owner@example.test")
    monkeypatch.setenv("CLIPLY_WEBHOOK_URL", webhook_server.url)

    result = NotifierResource().notify(
        "reauth_due",
        platform="youtube",
        handle="@chan",
        account_id=7,
        message="Reconnect YouTube before 2026-12-01",
        access_token="SECRET-AT",
        refresh_token="SECRET-RT",
    )

    assert result.channels == {"log": "ok", "smtp": "ok", "webhook": "ok"} and result.delivered
    assert len(smtp_server.messages) == 1
    mail = smtp_server.messages[0]
    assert mail["Subject"] == "[Cliply] reauth due"
    assert mail["From"] == "cliply@example.test"
    assert mail["X-Envelope-To"] == "ops@example.test,owner@example.test"
    body = mail.get_payload()
    assert "Reconnect YouTube before 2026-12-01" in body and "platform: youtube" in body
    assert "SECRET" not in mail.as_string()

    assert len(webhook_server.received) == 1
    hook = webhook_server.received[0]
    assert hook["path"] == "/hooks/cliply" and hook["content_type"] == "application/json"
    assert hook["json"]["event"] == "reauth_due"
    assert hook["json"]["platform"] == "youtube" and hook["json"]["account_id"] == 7
    assert "access_token" not in hook["json"] and "SECRET" not in json.dumps(hook["json"])


def test_channel_failures_are_reported_not_raised(
    webhook_server: WebhookReceiver, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    webhook_server.status = 500
    dead_port = _free_port()  # nothing listens there: connection refused
    notifier = NotifierResource(
        smtp_host="127.0.0.1",
        smtp_port=dead_port,
        smtp_to="ops@example.test",
        webhook_url=webhook_server.url + "?key=SECRET-HOOK",
    )
    result = notifier.notify("run_failed", job="publish_posts")
    assert result.channels["log"] == "ok"
    assert result.channels["smtp"].startswith("error: ")
    assert result.channels["webhook"] == "error: HTTPStatusError"
    assert not result.delivered
    assert len(webhook_server.received) == 1
    assert "SECRET-HOOK" not in caplog.text


def test_unconfigured_channels_are_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SMTP_HOST", "SMTP_TO", "WEBHOOK_URL"):
        monkeypatch.delenv(f"CLIPLY_{name}", raising=False)
    result = NotifierResource().notify("hello")
    assert result.channels == {"log": "ok", "smtp": "skipped", "webhook": "skipped"}
