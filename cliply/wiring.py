"""The composition root: every collaborator built from Settings in one place.

The CLI, the HTTP service, the Dagster resources, the tests (and later the web pages and the bot) all get their
database, stores, vault, clients, notifier and publisher from here, so a setting means the same thing everywhere.
Builders are plain functions (Dagster resources call them per execution); `Cliply` bundles them for one process
and lets a test or an embedding replace any part."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from functools import cache, cached_property
from typing import Any

from cliply.media.transcribe import Transcriber, make_transcriber
from cliply.notify import Notifier, notifier_from_settings
from cliply.platforms import make_client
from cliply.platforms.base import PlatformClient, PlatformConfig
from cliply.publishing.media_urls import MediaUrlSigner
from cliply.publishing.publisher import Publisher, RetryPolicy
from cliply.publishing.renditions import Renditions
from cliply.publishing.switches import PublishSwitches
from cliply.security.vault import KeyRing, TokenVault
from cliply.settings import Settings
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

ClientFactory = Callable[[str], PlatformClient]


@cache
def _migrated(url: str) -> Database:
    db = Database(url)
    db.migrate()
    return db


def build_database(settings: Settings, *, migrate: bool = True) -> Database:
    """The app database; migrated once per URL and process (cached), or unmigrated for readiness checks."""
    return _migrated(settings.resolved_database_url) if migrate else Database(settings.resolved_database_url)


def build_media_store(settings: Settings, url: str = "") -> MediaStore:
    """A folder, or s3://bucket/prefix with SigV4 presigning (for pull-based platforms and uploads)."""
    url = url or settings.resolved_media_url
    if url.startswith("s3://"):
        bucket, prefix = parse_s3_url(url)
        client = make_s3_client(settings.s3_endpoint_url, settings.s3_region)
        return S3MediaStore(bucket, prefix, client=client, presign_client=client)
    return LocalMediaStore(local_root_from_url(url))


def build_inbox(settings: Settings, url: str = "", *, min_age_s: float = 2.0) -> Inbox:
    url = url or settings.resolved_inbox_url
    if url.startswith("s3://"):
        bucket, prefix = parse_s3_url(url)
        client = make_s3_client(settings.s3_endpoint_url, settings.s3_region)
        return S3Inbox(bucket, prefix, client=client, min_age_s=min_age_s)
    return LocalInbox(local_root_from_url(url), min_age_s=min_age_s)


def build_vault(settings: Settings) -> TokenVault:
    return TokenVault(KeyRing.from_settings(settings))


def build_transcriber(settings: Settings, *, engine: str = "", model: str = "", language: str = "") -> Transcriber:
    return make_transcriber(
        engine or settings.whisper_engine,
        model or settings.whisper_model,
        language=(language or settings.whisper_language) or None,
        threads=settings.whisper_threads,
    )


def build_client(
    settings: Settings, platform: str, *, base_url: str = "", client_id: str = "", client_secret: str = ""
) -> PlatformClient:
    """One platform's client; non-empty overrides win over the platform's settings."""
    config = PlatformConfig.from_settings(platform, settings)
    config = replace(
        config,
        base_url=base_url.rstrip("/") or config.base_url,
        client_id=client_id or config.client_id,
        client_secret=client_secret or config.client_secret,
    )
    return make_client(platform, config)


def build_notifier(settings: Settings) -> Notifier:
    return notifier_from_settings(settings)


def build_signer(settings: Settings, media: MediaStore) -> MediaUrlSigner:
    return MediaUrlSigner.from_settings(media, settings)


def build_publisher(
    settings: Settings,
    *,
    db: Database,
    vault: TokenVault,
    media: MediaStore,
    clients: ClientFactory,
    switches: PublishSwitches | None = None,
    notifier: Notifier | None = None,
) -> Publisher:
    """Targets that need a person are reported through the notifier (built from settings unless given)."""
    return Publisher(
        db=db,
        vault=vault,
        media=media,
        clients=clients,
        switches=switches or PublishSwitches.from_settings(settings),
        signer=build_signer(settings, media),
        policy=RetryPolicy.from_settings(settings),
        notify=(notifier or build_notifier(settings)).notify,
        renditions=Renditions(media, x264_preset=settings.render_preset, crf=settings.render_crf),
    )


@dataclass
class Cliply:
    """Everything one process needs, built lazily from settings. Pass any part to replace it (tests, embedding)."""

    settings: Settings = field(default_factory=Settings.from_env)
    overrides: dict[str, Any] = field(default_factory=dict)

    def _part(self, name: str, build: Callable[[], Any]) -> Any:
        return self.overrides[name] if self.overrides.get(name) is not None else build()

    @cached_property
    def db(self) -> Database:
        return self._part("db", lambda: build_database(self.settings))

    @cached_property
    def media(self) -> MediaStore:
        return self._part("media", lambda: build_media_store(self.settings))

    @cached_property
    def inbox(self) -> Inbox:
        return self._part("inbox", lambda: build_inbox(self.settings))

    @cached_property
    def vault(self) -> TokenVault:
        return self._part("vault", lambda: build_vault(self.settings))

    @cached_property
    def signer(self) -> MediaUrlSigner:
        return self._part("signer", lambda: build_signer(self.settings, self.media))

    @cached_property
    def notifier(self) -> Notifier:
        return self._part("notifier", lambda: build_notifier(self.settings))

    @cached_property
    def switches(self) -> PublishSwitches:
        return self._part("switches", lambda: PublishSwitches.from_settings(self.settings))

    @cached_property
    def clients(self) -> ClientFactory:
        """platform → a new client (the caller closes it)."""
        return self._part("clients", lambda: lambda platform: build_client(self.settings, platform))

    def transcriber(self) -> Transcriber:
        return self._part("transcriber", lambda: build_transcriber(self.settings))

    def publisher(self, clients: ClientFactory | None = None) -> Publisher:
        return build_publisher(
            self.settings,
            db=self.db,
            vault=self.vault,
            media=self.media,
            clients=clients or self.clients,
            switches=self.switches,
            notifier=self.notifier,
        )

    @contextmanager
    def session(self) -> Iterator[Any]:
        with self.db.session() as session:
            yield session


def cliply(settings: Settings | None = None, **overrides: Any) -> Cliply:
    """The application for this process: `cliply()` reads the environment once; tests pass settings and parts."""
    return Cliply(settings or Settings.from_env(), dict(overrides))
