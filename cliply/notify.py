"""Operator notifications: always a log line; an e-mail when SMTP is configured; a JSON POST to a webhook.

Fields whose names could carry a secret are dropped before anything is sent."""

from __future__ import annotations

import logging
import re
import smtplib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any

import httpx

from cliply.settings import Settings

log = logging.getLogger("cliply.notify")

# Field names that could carry a secret are never sent anywhere, whatever a caller passes.
_SECRET_FIELD = re.compile(r"token|secret|password|passwd|authorization|cookie|api_key|apikey|credential", re.I)


@dataclass
class NotifyResult:
    """Which channels delivered: {"log": "ok", "smtp": "ok" | "skipped" | "error: <class>", "webhook": ...}."""

    event: str
    channels: dict[str, str] = field(default_factory=dict)

    @property
    def delivered(self) -> bool:
        return any(v == "ok" for k, v in self.channels.items() if k != "log")


def safe_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    """Drop anything whose name looks like a secret; stringify what JSON can't carry."""
    out: dict[str, Any] = {}
    for key, value in fields.items():
        if _SECRET_FIELD.search(key):
            continue
        if isinstance(value, datetime):
            value = value.astimezone(UTC).isoformat()
        elif value is not None and not isinstance(value, str | int | float | bool | list | dict):
            value = str(value)
        out[key] = value
    return out


@dataclass(frozen=True)
class Notifier:
    """Plain notifier: always logs; e-mails when an SMTP host and recipients are set; POSTs JSON to a webhook."""

    smtp_host: str = ""
    smtp_port: int = 25
    smtp_from: str = "cliply@localhost"
    smtp_to: tuple[str, ...] = ()
    smtp_user: str = ""
    smtp_password: str = ""
    smtp_starttls: bool = False
    webhook_url: str = ""
    timeout_s: float = 10.0

    def notify(self, event: str, **fields: Any) -> NotifyResult:
        data = safe_fields(fields)
        result = NotifyResult(event)
        summary = ", ".join(f"{k}={v}" for k, v in data.items())
        log.warning("cliply notification %s: %s", event, summary)
        result.channels["log"] = "ok"
        result.channels["smtp"] = self._send_mail(event, data) if self.smtp_host and self.smtp_to else "skipped"
        result.channels["webhook"] = self._post_webhook(event, data) if self.webhook_url else "skipped"
        return result

    def _send_mail(self, event: str, data: dict[str, Any]) -> str:
        msg = EmailMessage()
        subject = data.get("subject") or event.replace("_", " ")
        msg["Subject"] = f"[Cliply] {subject}"
        msg["From"] = self.smtp_from
        msg["To"] = ", ".join(self.smtp_to)
        msg["X-Cliply-Event"] = event
        lines = [data.get("message") or f"Cliply event: {event}", ""]
        lines += [f"{k}: {v}" for k, v in data.items() if k not in ("subject", "message")]
        msg.set_content("\n".join(str(line) for line in lines) + "\n")
        try:
            with smtplib.SMTP(self.smtp_host, self.smtp_port, timeout=self.timeout_s) as smtp:
                if self.smtp_starttls:
                    smtp.starttls()
                if self.smtp_user:
                    smtp.login(self.smtp_user, self.smtp_password)
                smtp.send_message(msg)
        except (OSError, smtplib.SMTPException) as exc:
            log.error(
                "notification %s: e-mail via %s:%s failed: %s",
                event,
                self.smtp_host,
                self.smtp_port,
                type(exc).__name__,
            )
            return f"error: {type(exc).__name__}"
        return "ok"

    def _post_webhook(self, event: str, data: dict[str, Any]) -> str:
        payload = {"event": event, "at": datetime.now(UTC).isoformat(), **data}
        try:
            resp = httpx.post(self.webhook_url, json=payload, timeout=self.timeout_s)
            resp.raise_for_status()
        except httpx.HTTPError as exc:
            # The URL may embed a secret path (Slack-style hooks): log only its host.
            log.error(
                "notification %s: webhook to %s failed: %s", event, httpx.URL(self.webhook_url).host, type(exc).__name__
            )
            return f"error: {type(exc).__name__}"
        return "ok"


def notifier_from_settings(settings: Settings) -> Notifier:
    return Notifier(
        smtp_host=settings.smtp_host,
        smtp_port=settings.smtp_port,
        smtp_from=settings.smtp_from,
        smtp_to=settings.smtp_recipients,
        smtp_user=settings.smtp_user,
        smtp_password=settings.smtp_password.get_secret_value(),
        smtp_starttls=settings.smtp_starttls,
        webhook_url=settings.webhook_url.get_secret_value(),
    )
