"""The composition root builds every collaborator from settings, once per container, and lets a test swap any."""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr

from cliply import wiring
from cliply.platforms.bluesky import BlueskyClient
from cliply.settings import Settings
from cliply.storage.inbox import LocalInbox, S3Inbox
from cliply.storage.media_store import LocalMediaStore, S3MediaStore


def _settings(tmp_path: Path, **changes: object) -> Settings:
    env = {
        "CLIPLY_HOME": str(tmp_path / "home"),
        "CLIPLY_TIKTOK_BASE_URL": "http://127.0.0.1:9/tiktok/",
        "CLIPLY_TIKTOK_CLIENT_ID": "ck",
        "CLIPLY_TIKTOK_CLIENT_SECRET": "cs",
        "CLIPLY_PUBLISH_X": "0",
        "CLIPLY_SMTP_HOST": "127.0.0.1",
        "CLIPLY_SMTP_TO": "a@example.test, b@example.test",
        "CLIPLY_SMTP_PASSWORD": "pw",
        "CLIPLY_PUBLIC_BASE_URL": "http://127.0.0.1:8780/",
    }
    return Settings.from_env(env).model_copy(update=changes)


def test_container_builds_each_part_once_from_settings(tmp_path: Path) -> None:
    app = wiring.cliply(_settings(tmp_path))
    assert app.db is app.db and app.db.url.get_backend_name() == "sqlite"
    assert isinstance(app.media, LocalMediaStore) and app.media.root == (tmp_path / "home" / "media").resolve()
    assert isinstance(app.inbox, LocalInbox)
    assert app.signer.base_url == "http://127.0.0.1:8780" and app.signer.local
    assert app.vault.encrypt("x", aad="a") != "x"
    assert not app.switches.allows("x") and app.switches.allows("tiktok")
    assert app.notifier.smtp_to == ("a@example.test", "b@example.test") and app.notifier.smtp_password == "pw"


def test_clients_take_the_platform_settings(tmp_path: Path) -> None:
    app = wiring.cliply(_settings(tmp_path))
    client = app.clients("tiktok")
    try:
        assert client.config.base_url == "http://127.0.0.1:9/tiktok"
        assert (client.config.client_id, client.config.client_secret) == ("ck", "cs")
    finally:
        client.close()
    override = wiring.build_client(_settings(tmp_path), "tiktok", base_url="http://127.0.0.1:7/", client_id="")
    assert override.config.base_url == "http://127.0.0.1:7" and override.config.client_id == "ck"
    override.close()


def test_publisher_shares_the_containers_parts(tmp_path: Path) -> None:
    app = wiring.cliply(_settings(tmp_path))
    publisher = app.publisher()
    assert publisher.db is app.db and publisher.vault is app.vault and publisher.media is app.media
    assert not publisher.switches.allows("x")
    assert publisher.signer.base_url == "http://127.0.0.1:8780"


def test_s3_urls_build_s3_stores(tmp_path: Path) -> None:
    s = _settings(
        tmp_path, media_url="s3://bucket/media", inbox_url="s3://bucket/inbox", s3_endpoint_url="http://127.0.0.1:1"
    )
    media, inbox = wiring.build_media_store(s), wiring.build_inbox(s)
    assert isinstance(media, S3MediaStore) and (media.bucket, media.prefix) == ("bucket", "media")
    assert isinstance(inbox, S3Inbox)


def test_overrides_replace_parts(tmp_path: Path) -> None:
    made: list[str] = []

    def clients(platform: str) -> BlueskyClient:
        made.append(platform)
        return BlueskyClient(None)

    media = LocalMediaStore(tmp_path / "elsewhere")
    app = wiring.cliply(_settings(tmp_path), media=media, clients=clients)
    assert app.media is media and app.signer.media is media
    app.clients("bluesky").close()
    assert made == ["bluesky"]


def test_secrets_stay_secret_in_settings(tmp_path: Path) -> None:
    s = _settings(tmp_path)
    assert isinstance(s.smtp_password, SecretStr) and "pw" not in repr(s)
    assert "cs" not in repr(s.platform("tiktok"))


def test_publisher_reports_targets_that_need_a_person_and_retries_by_settings(tmp_path: Path) -> None:
    s = _settings(tmp_path, publish_retry_rounds=7)
    app = wiring.cliply(s)
    publisher = app.publisher()
    assert publisher.policy.retry_rounds == 7
    assert publisher.notify == app.notifier.notify
