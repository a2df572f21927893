"""Dagster resources: thin, configurable wrappers that build Cliply's domain services.

Every field defaults to "" meaning "take the CLIPLY_* setting at execution time", so nothing is read at import
and operators can still override a value per run in the launchpad."""

from __future__ import annotations

from dataclasses import replace
from functools import cache

import dagster as dg
from dagster_aws.s3 import S3Resource

from cliply.config import Settings
from cliply.media.transcribe import Transcriber, make_transcriber
from cliply.storage.inbox import Inbox, LocalInbox, S3Inbox
from cliply.storage.media_store import (
    LocalMediaStore,
    MediaStore,
    S3MediaStore,
    local_root_from_url,
    make_s3_client,
    parse_s3_url,
)
from cliply.store.db import Database


def _settings() -> Settings:
    return Settings.from_env()


def _s3_client(endpoint_url: str, region: str):  # type: ignore[no-untyped-def]
    # dagster-aws builds the boto3 session (credentials chain, retries); SigV4 presigning is forced by the store.
    return S3Resource(endpoint_url=endpoint_url or None, region_name=region).get_client()


class SettingsResource(dg.ConfigurableResource):
    """Pipeline knobs (clip window, render quality). Empty/zero fields fall back to CLIPLY_* settings."""

    clip_min_seconds: float = 0.0
    clip_max_seconds: float = 0.0
    max_clips: int = 0
    render_preset: str = ""

    def get(self) -> Settings:
        s = _settings()
        overrides = {k: v for k, v in self.model_dump().items() if v}
        return replace(s, **overrides)


class DatabaseResource(dg.ConfigurableResource):
    """The app database (SQLite by default, PostgreSQL in production); migrated on first use."""

    url: str = ""

    def get(self) -> Database:
        return _database(self.url or _settings().resolved_database_url)


@cache
def _database(url: str) -> Database:
    db = Database(url)
    db.migrate()
    return db


class MediaStoreResource(dg.ConfigurableResource):
    """Where videos, transcripts, clips and thumbnails live: a folder, or s3://bucket/prefix via dagster-aws."""

    url: str = ""
    s3_endpoint_url: str = ""
    s3_region: str = ""

    def get(self) -> MediaStore:
        s = _settings()
        url = self.url or s.resolved_media_url
        if url.startswith("s3://"):
            bucket, prefix = parse_s3_url(url)
            endpoint, region = self.s3_endpoint_url or s.s3_endpoint_url, self.s3_region or s.s3_region
            return S3MediaStore(
                bucket, prefix, client=_s3_client(endpoint, region), presign_client=make_s3_client(endpoint, region)
            )
        return LocalMediaStore(local_root_from_url(url))


class InboxResource(dg.ConfigurableResource):
    """The upload inbox the sensor watches: a folder, or an S3 prefix."""

    url: str = ""
    min_age_s: float = 2.0

    def url_resolved(self) -> str:
        return self.url or _settings().resolved_inbox_url

    def get(self) -> Inbox:
        s = _settings()
        url = self.url_resolved()
        if url.startswith("s3://"):
            bucket, prefix = parse_s3_url(url)
            return S3Inbox(bucket, prefix, client=_s3_client(s.s3_endpoint_url, s.s3_region), min_age_s=self.min_age_s)
        return LocalInbox(local_root_from_url(url), min_age_s=self.min_age_s)


class TranscriberResource(dg.ConfigurableResource):
    """Whisper behind one interface: engine openai-whisper or faster-whisper, model name or local path."""

    engine: str = ""
    model: str = ""
    language: str = ""

    def get(self) -> Transcriber:
        s = _settings()
        return make_transcriber(
            self.engine or s.whisper_engine,
            self.model or s.whisper_model,
            language=(self.language or s.whisper_language) or None,
            threads=s.whisper_threads,
        )


def default_resources() -> dict[str, dg.ConfigurableResource]:
    from cliply_resources.platforms import platform_resources
    from cliply_resources.publishing import NotifierResource, TokenVaultResource

    return {
        "settings": SettingsResource(),
        "database": DatabaseResource(),
        "media_store": MediaStoreResource(),
        "inbox": InboxResource(),
        "transcriber": TranscriberResource(),
        **platform_resources(),
        "token_vault": TokenVaultResource(),
        "notifier": NotifierResource(),
    }
