"""Publishing resources: the token vault (account secrets) and the notifier (log + SMTP + webhook).

Like the other resources every field defaults to empty = the CLIPLY_* setting at execution time. Secrets (token
keys, SMTP password, webhook URL) come only from settings and never appear in config, metadata or logs."""

from __future__ import annotations

from typing import Any

import dagster as dg
from pydantic import SecretStr

from cliply import wiring
from cliply.notify import Notifier, NotifyResult
from cliply.security.vault import TokenVault
from cliply.settings import Settings


class TokenVaultResource(dg.ConfigurableResource):
    """AES-256-GCM vault for account tokens. Keys: CLIPLY_TOKEN_KEYS/CLIPLY_TOKEN_KEY_ACTIVE, else the embedded key
    file under `home` (default CLIPLY_HOME). Key material is never a config field."""

    home: str = ""

    def get(self) -> TokenVault:
        settings = Settings.from_env()
        return wiring.build_vault(settings.model_copy(update={"home": self.home}) if self.home else settings)


class NotifierResource(dg.ConfigurableResource):
    """Operator notifications. Empty fields = CLIPLY_SMTP_HOST/_PORT/_FROM/_TO (comma-separated), CLIPLY_SMTP_USER,
    CLIPLY_SMTP_STARTTLS, CLIPLY_WEBHOOK_URL. The SMTP password only comes from CLIPLY_SMTP_PASSWORD."""

    smtp_host: str = ""
    smtp_port: int = 0
    smtp_from: str = ""
    smtp_to: str = ""
    webhook_url: str = ""

    def get(self) -> Notifier:
        fields: dict[str, Any] = {k: v for k, v in self.model_dump().items() if v}
        if "webhook_url" in fields:  # settings hold it as a secret (the URL may embed one)
            fields["webhook_url"] = SecretStr(self.webhook_url)
        return wiring.build_notifier(Settings.from_env().model_copy(update=fields))

    def notify(self, event: str, **fields: Any) -> NotifyResult:
        return self.get().notify(event, **fields)


def publishing_resources() -> dict[str, dg.ConfigurableResource]:
    """Resource keys as the publishing assets, jobs and sensors request them (platform clients: platforms.py)."""
    return {"token_vault": TokenVaultResource(), "notifier": NotifierResource()}
