"""Media resources: settings overrides, the app database, the media store, the upload inbox and the transcriber.

Every field defaults to empty = the CLIPLY_* setting of the same meaning (read at execution time, never at import);
operators can still override a value per run in the launchpad. Each resource builds its object through
cliply.wiring, the one place collaborators are assembled."""

from __future__ import annotations

import dagster as dg

from cliply import wiring
from cliply.media.transcribe import Transcriber
from cliply.settings import Settings
from cliply.storage.inbox import Inbox
from cliply.storage.media_store import MediaStore
from cliply.store.db import Database


class SettingsResource(dg.ConfigurableResource):
    """Pipeline knobs (clip window, render quality). Empty/zero fields fall back to CLIPLY_* settings."""

    clip_min_seconds: float = 0.0
    clip_max_seconds: float = 0.0
    max_clips: int = 0
    render_preset: str = ""

    def get(self) -> Settings:
        overrides = {k: v for k, v in self.model_dump().items() if v}
        return Settings.from_env().model_copy(update=overrides)


class DatabaseResource(dg.ConfigurableResource):
    """The app database (SQLite by default, PostgreSQL in production); migrated on first use."""

    url: str = ""

    def get(self) -> Database:
        settings = Settings.from_env()
        return wiring.build_database(settings.model_copy(update={"database_url": self.url}) if self.url else settings)


class MediaStoreResource(dg.ConfigurableResource):
    """Where videos, transcripts, clips and thumbnails live: a folder, or s3://bucket/prefix."""

    url: str = ""
    s3_endpoint_url: str = ""
    s3_region: str = ""

    def get(self) -> MediaStore:
        overrides = {"s3_endpoint_url": self.s3_endpoint_url, "s3_region": self.s3_region}
        settings = Settings.from_env().model_copy(update={k: v for k, v in overrides.items() if v})
        return wiring.build_media_store(settings, self.url)


class InboxResource(dg.ConfigurableResource):
    """The upload inbox the sensor watches: a folder, or an S3 prefix."""

    url: str = ""
    min_age_s: float = 2.0

    def url_resolved(self) -> str:
        return self.url or Settings.from_env().resolved_inbox_url

    def get(self) -> Inbox:
        return wiring.build_inbox(Settings.from_env(), self.url, min_age_s=self.min_age_s)


class TranscriberResource(dg.ConfigurableResource):
    """Whisper behind one interface: engine openai-whisper or faster-whisper, model name or local path."""

    engine: str = ""
    model: str = ""
    language: str = ""

    def get(self) -> Transcriber:
        return wiring.build_transcriber(
            Settings.from_env(), engine=self.engine, model=self.model, language=self.language
        )


def media_resources() -> dict[str, dg.ConfigurableResource]:
    """Resource keys as the media assets and sensors request them."""
    return {
        "settings": SettingsResource(),
        "database": DatabaseResource(),
        "media_store": MediaStoreResource(),
        "inbox": InboxResource(),
        "transcriber": TranscriberResource(),
    }
