"""Publishing resources: the token vault (account secrets) and the notifier (log + SMTP + webhook).

Like the other resources every field defaults to "" = the CLIPLY_* environment setting at execution time. Secrets
(token keys, SMTP password) come only from the environment and never appear in config, metadata or logs."""

from __future__ import annotations

import logging
import os
import re
import smtplib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import dagster as dg
import httpx

from cliply.config import Settings
from cliply.security.vault import KeyRing, TokenVault

log = logging.getLogger("cliply.notify")

# Field names that could carry a secret are never sent anywhere, whatever a caller passes.
_SECRET_FIELD = re.compile(r"token|secret|password|passwd|authorization|cookie|api_key|apikey|credential", re.I)


class TokenVaultResource(dg.ConfigurableResource):
    """AES-256-GCM vault for account tokens. Keys: CLIPLY_TOKEN_KEYS/CLIPLY_TOKEN_KEY_ACTIVE, else the embedded key
    file under `home` (default CLIPLY_HOME). Key material is never a config field."""

    home: str = ""

    def get(self) -> TokenVault:
        home = Path(self.home) if self.home else Settings.from_env().home
        return TokenVault(KeyRing.from_env(os.environ, home=home))


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
            log.error("notification %s: e-mail via %s:%s failed: %s", event, self.smtp_host, self.smtp_port,
                      type(exc).__name__)
            return f"error: {type(exc).__name__}"
        return "ok"

    def _post_webhook(self, event: str, data: dict[str, Any]) -> str:
        payload = {"event": event, "at": datetime.now(UTC).isoformat(), **data}
        try:
            resp = httpx.post(self.webhook_url, json=payload, timeout=self.timeout_s)
            resp.raise_for_status()
        except httpx.HTTPError as exc:
            # The URL may embed a secret path (Slack-style hooks): log only its host.
            log.error("notification %s: webhook to %s failed: %s", event, httpx.URL(self.webhook_url).host,
                      type(exc).__name__)
            return f"error: {type(exc).__name__}"
        return "ok"


def _env(name: str) -> str:
    return os.environ.get(f"CLIPLY_{name}", "").strip()


class NotifierResource(dg.ConfigurableResource):
    """Operator notifications. Empty fields = CLIPLY_SMTP_HOST/_PORT/_FROM/_TO (comma-separated), CLIPLY_SMTP_USER,
    CLIPLY_SMTP_STARTTLS, CLIPLY_WEBHOOK_URL. The SMTP password only comes from CLIPLY_SMTP_PASSWORD."""

    smtp_host: str = ""
    smtp_port: int = 0
    smtp_from: str = ""
    smtp_to: str = ""
    webhook_url: str = ""

    def get(self) -> Notifier:
        port = self.smtp_port or int(_env("SMTP_PORT") or 25)
        to = self.smtp_to or _env("SMTP_TO")
        return Notifier(
            smtp_host=self.smtp_host or _env("SMTP_HOST"),
            smtp_port=port,
            smtp_from=self.smtp_from or _env("SMTP_FROM") or "cliply@localhost",
            smtp_to=tuple(a.strip() for a in to.split(",") if a.strip()),
            smtp_user=_env("SMTP_USER"),
            smtp_password=os.environ.get("CLIPLY_SMTP_PASSWORD", ""),
            smtp_starttls=_env("SMTP_STARTTLS").lower() in {"1", "true", "yes", "on"},
            webhook_url=self.webhook_url or _env("WEBHOOK_URL"),
        )

    def notify(self, event: str, **fields: Any) -> NotifyResult:
        return self.get().notify(event, **fields)
