"""Publishing in Dagster against a real instance and the platform sandbox over HTTP: the due-posts sensor, the
posts[day|platform] asset, the token-refresh and retention jobs/schedules, and the run-failure notifier."""

from __future__ import annotations

import os
import shutil
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import pytest
from dagster._core.test_utils import create_run_for_test
from sqlalchemy import select

from cliply.platforms import make_client
from cliply.platforms.base import PlatformConfig
from cliply.platforms.tiktok import TikTokClient
from cliply.publishing.ledger import TargetSpec, create_post
from cliply.security.vault import KeyRing, TokenVault, generate_key
from cliply.storage.media_store import LocalMediaStore
from cliply.store.accounts import AccountsRepo
from cliply.store.db import Database
from cliply.store.models import Clip
from cliply.store.models_accounts import Account
from cliply.store.models_publishing import PostTarget
from cliply.store.repo import WorkspaceScope, get_or_create_workspace
from cliply_assets.publishing import (
    PLATFORM_TAG,
    backfill_ids_job,
    media_retention_job,
    publish_posts_job,
    refresh_tokens_job,
)
from cliply_dagster.definitions import defs
from cliply_dagster.runner import publish_platform_sync
from cliply_resources import DatabaseResource, default_resources
from cliply_sensors.publishing import (
    due_posts_sensor,
    media_retention_schedule,
    public_ids_schedule,
    token_refresh_schedule,
)
from tests.fixtures.media import REPO
from tests.fixtures.sandbox import RunningSandbox
from tests.helpers import (
    pipeline_settings,
    seed_rendered_clips,
    settings_env,
    start_daemon,
    stop_daemon,
    wait_for_daemon,
)
from tests.test_notifier import SmtpInbox, WebhookReceiver, smtp_server, webhook_server  # noqa: F401 (fixtures)

PUBLISH_PLATFORMS = ("x", "linkedin", "bluesky")
TIKTOK_OPTS = {"privacy": "PUBLIC_TO_EVERYONE"}


@dataclass
class World:
    db: Database
    store: LocalMediaStore
    vault: TokenVault
    sandbox: RunningSandbox
    instance: dg.DagsterInstance
    workspace_id: int
    clip_ids: list[str]

    def client(self, platform: str):  # type: ignore[no-untyped-def]
        return make_client(platform, PlatformConfig.from_env(platform))

    def connect(self, platform: str, account_id: str, handle: str = "") -> int:
        """Authorise through the sandbox's real OAuth endpoints and store the account (encrypted)."""
        client = self.client(platform)
        try:
            creds = self.sandbox.connect(client, account_id=account_id)
        finally:
            client.close()
        with self.db.session() as s:
            return AccountsRepo(self.scope(s), self.vault).connect(platform, creds, handle or account_id).id

    def scope(self, session) -> WorkspaceScope:  # type: ignore[no-untyped-def]
        return WorkspaceScope(session, get_or_create_workspace(session, "default"))

    def schedule(
        self,
        clip_id: str,
        targets: list[tuple[str, int]],
        *,
        caption: str,
        at: datetime | None = None,
        options: dict[str, Any] | None = None,
    ) -> list[str]:
        with self.db.session() as s:
            post = create_post(
                self.scope(s),
                clip_id=clip_id,
                caption=caption,
                timezone="UTC",
                targets=[TargetSpec(p, a, options=options or {}) for p, a in targets],
                scheduled_at=at or datetime.now(UTC) - timedelta(minutes=1),
            )
            return [t.id for t in s.scalars(select(PostTarget).where(PostTarget.post_id == post.id))]

    def targets(self) -> dict[str, PostTarget]:
        with self.db.session() as s:
            return {t.id: t for t in s.scalars(select(PostTarget))}

    def account(self, account_id: int) -> Account:
        with self.db.session() as s:
            account = s.get(Account, account_id)
            assert account is not None
            return account


@pytest.fixture
def world(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sandbox: RunningSandbox, small_clip: Path
) -> Iterator[World]:
    settings = pipeline_settings(tmp_path / "home")
    for key, value in settings_env(settings).items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("CLIPLY_TOKEN_KEYS", f"k1:{generate_key()}")
    monkeypatch.setenv("CLIPLY_PUBLISH_RUN_STALE_S", "")
    monkeypatch.setenv("CLIPLY_PUBLISH_LINGER_S", "0")  # in-process materialisations publish what is due and stop
    for platform in ("x", "linkedin", "bluesky", "tiktok", "youtube"):
        for key, value in sandbox.env(platform).items():
            monkeypatch.setenv(key, value)
    db = Database(settings.resolved_database_url)
    db.migrate()
    store = LocalMediaStore(Path(settings.resolved_media_url))
    clip_ids, workspace_id = seed_rendered_clips(db, store, small_clip, 3)
    vault = TokenVault(KeyRing.from_env())
    with dg.instance_for_test() as instance:
        yield World(db, store, vault, sandbox, instance, workspace_id, clip_ids)
    db.dispose()


def _sensor_tick(world: World) -> dg.SensorResult:
    with dg.build_sensor_context(
        instance=world.instance, definitions=defs(), resources={"database": DatabaseResource(url=str(world.db.url))}
    ) as ctx:
        return due_posts_sensor(ctx)


def _schedule_tick(world: World, schedule: dg.ScheduleDefinition) -> dg.ScheduleExecutionData:
    """One evaluation in its own context, closed at once: a context left open ends later, from the garbage collector."""
    with dg.build_schedule_context(
        instance=world.instance,
        scheduled_execution_time=datetime.now(UTC),
        resources={"database": DatabaseResource(url=str(world.db.url))},
    ) as ctx:
        return schedule.evaluate_tick(ctx)


# ---- due-posts sensor ----------------------------------------------------------------------------------------------


def test_sensor_one_request_per_platform_with_due_items(world: World) -> None:
    x1, x2 = world.connect("x", "x-1"), world.connect("x", "x-2")
    li = world.connect("linkedin", "li-1")
    yt = world.connect("youtube", "yt-1")
    world.schedule(world.clip_ids[0], [("x", x1), ("linkedin", li)], caption="first")
    world.schedule(world.clip_ids[1], [("x", x2)], caption="second")
    # Not due yet: YouTube gets no run.
    world.schedule(world.clip_ids[2], [("youtube", yt)], caption="later", at=datetime.now(UTC) + timedelta(hours=2))

    first = _sensor_tick(world)
    by_platform = {r.tags[PLATFORM_TAG]: r for r in first.run_requests}
    assert sorted(by_platform) == ["linkedin", "x"]
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    for platform, request in by_platform.items():
        assert request.partition_key == f"{today}|{platform}"
        assert request.run_key is not None and request.run_key.startswith(f"posts:{platform}:")
    assert by_platform["x"].tags["cliply/due"] == "2"

    # A run for x not started yet and a started one for linkedin: no second request for either.
    create_run_for_test(
        world.instance,
        job_name=publish_posts_job.name,
        status=dg.DagsterRunStatus.NOT_STARTED,
        tags={PLATFORM_TAG: "x"},
    )
    started = create_run_for_test(
        world.instance,
        job_name=publish_posts_job.name,
        status=dg.DagsterRunStatus.STARTED,
        tags={PLATFORM_TAG: "linkedin"},
    )
    second = _sensor_tick(world)
    assert second.run_requests == []
    assert "in progress" in (second.skip_reason.skip_message if second.skip_reason else "")

    # A finished run no longer blocks.
    world.instance.report_run_failed(started)
    third = _sensor_tick(world)
    assert [r.tags[PLATFORM_TAG] for r in third.run_requests] == ["linkedin"]


def test_sensor_starts_a_run_shortly_before_targets_fall_due(world: World) -> None:
    soon, later = world.connect("linkedin", "li-soon"), world.connect("tiktok", "tt-later")
    world.schedule(
        world.clip_ids[0], [("linkedin", soon)], caption="in 20 s", at=datetime.now(UTC) + timedelta(seconds=20)
    )
    world.schedule(
        world.clip_ids[1],
        [("tiktok", later)],
        caption="in 2 min",
        at=datetime.now(UTC) + timedelta(minutes=2),
        options=TIKTOK_OPTS,
    )
    # The run gets its start-up done while the linkedin target is still ahead; it claims it only once it is due.
    assert [r.tags[PLATFORM_TAG] for r in _sensor_tick(world).run_requests] == ["linkedin"]


def test_sensor_presumes_a_long_started_run_dead(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    acc = world.connect("x", "x-1")
    world.schedule(world.clip_ids[0], [("x", acc)], caption="stale")
    create_run_for_test(
        world.instance, job_name=publish_posts_job.name, status=dg.DagsterRunStatus.STARTED, tags={PLATFORM_TAG: "x"}
    )
    assert _sensor_tick(world).run_requests == []
    monkeypatch.setenv("CLIPLY_PUBLISH_RUN_STALE_S", "0")  # e.g. its worker was killed and monitoring is off
    assert [r.tags[PLATFORM_TAG] for r in _sensor_tick(world).run_requests] == ["x"]


def test_sensor_queues_the_successor_of_a_run_past_its_max_run_time(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    acc = world.connect("x", "x-1")
    world.schedule(world.clip_ids[0], [("x", acc)], caption="handover")
    create_run_for_test(
        world.instance, job_name=publish_posts_job.name, status=dg.DagsterRunStatus.STARTED, tags={PLATFORM_TAG: "x"}
    )
    assert _sensor_tick(world).run_requests == []  # a young run takes the target itself
    monkeypatch.setenv("CLIPLY_PUBLISH_MAX_RUN_S", "20")  # 20 s less the 30 s lookahead: it is closing already
    [successor] = _sensor_tick(world).run_requests
    assert successor.tags[PLATFORM_TAG] == "x"
    # Once the successor is queued (behind the closing run: one run per platform), no third one is requested.
    create_run_for_test(
        world.instance,
        job_name=publish_posts_job.name,
        status=dg.DagsterRunStatus.NOT_STARTED,
        tags={PLATFORM_TAG: "x"},
    )
    assert _sensor_tick(world).run_requests == []


def test_sensor_skips_switched_off_platform(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    acc = world.connect("x", "x-1")
    world.schedule(world.clip_ids[0], [("x", acc)], caption="off")
    monkeypatch.setenv("CLIPLY_PUBLISH_X", "0")
    result = _sensor_tick(world)
    assert result.run_requests == [] and "switched off" in result.skip_reason.skip_message  # type: ignore[union-attr]


# ---- posts asset ---------------------------------------------------------------------------------------------------


def _materialize(world: World, platform: str) -> dg.ExecuteInProcessResult:
    """The way scripts publish now: a run of the named publish_posts job, never Dagster's ephemeral asset job."""
    result = publish_platform_sync(platform, world.instance, raise_on_error=False)
    run = world.instance.get_run_by_id(result.run_id)
    assert run is not None and run.job_name == publish_posts_job.name and run.tags[PLATFORM_TAG] == platform
    return result


def _metadata(result: dg.ExecuteInProcessResult) -> dict[str, object]:
    [mat] = result.asset_materializations_for_node("posts")
    return {k: v.value for k, v in mat.metadata.items()}


def test_posts_asset_publishes_each_target_once_with_metadata(world: World) -> None:
    accounts = [world.connect("x", f"x-{i}", handle=f"creator{i}") for i in range(4)]
    li = world.connect("linkedin", "li-1")
    ids = []
    for i, acc in enumerate(accounts):
        ids += world.schedule(world.clip_ids[i % 3], [("x", acc)], caption=f"clip number {i} on x")
    li_ids = world.schedule(world.clip_ids[0], [("linkedin", li)], caption="clip on linkedin")
    # One create is rate limited (→ deferred until the reset) and one is rejected (→ failed with its class).
    world.sandbox.fault("x", "rate_limit", "create_tweet", retry_after_s=600)
    world.sandbox.fault("x", "content_rejected", "create_tweet")

    result = _materialize(world, "x")
    assert result.success
    meta = _metadata(result)
    assert meta["platform"] == "x" and meta["num_claimed"] == 4
    assert (meta["num_published"], meta["num_deferred"], meta["num_failed"]) == (2, 1, 1)

    posted = world.sandbox.state.posts_for("x")
    published = meta["published"]
    assert isinstance(published, list) and len(posted) == 2
    assert sorted(p["post_id"] for p in published) == sorted(p.post_id for p in posted)
    assert all(p["url"].startswith("https://x.com/") for p in published)
    [deferred] = meta["deferred"]  # type: ignore[misc]
    assert datetime.fromisoformat(deferred["until"]) > datetime.now(UTC) + timedelta(minutes=5)
    [failed] = meta["failed"]  # type: ignore[misc]
    assert failed["error_class"] == "content_rejected" and failed["message"]

    states = world.targets()
    assert sorted(states[t].state for t in ids) == ["failed", "published", "published", "waiting"]
    assert {states[t].platform_post_id for t in ids if states[t].state == "published"} == {p.post_id for p in posted}
    assert states[li_ids[0]].state == "scheduled"  # another platform's partition: untouched

    # No secrets anywhere in the materialisation.
    with world.db.session() as s:
        tokens = [
            AccountsRepo(world.scope(s), world.vault).credentials(a).access_token for a in s.scalars(select(Account))
        ]
    text = repr(meta)
    assert not any(tok in text for tok in tokens)

    # Running the partition again publishes nothing twice (the deferred one is not due yet).
    again = _metadata(_materialize(world, "x"))
    assert again["num_claimed"] == 0 and len(world.sandbox.state.posts_for("x")) == 2

    li_meta = _metadata(_materialize(world, "linkedin"))
    assert li_meta["num_published"] == 1 and len(world.sandbox.state.posts_for("linkedin")) == 1


# ---- token refresh -------------------------------------------------------------------------------------------------


def _set_account(world: World, account_id: int, **values: object) -> None:
    with world.db.session() as s:
        account = s.get(Account, account_id)
        assert account is not None
        for key, value in values.items():
            setattr(account, key, value)


def _creds(world: World, account_id: int):  # type: ignore[no-untyped-def]
    with world.db.session() as s:
        repo = AccountsRepo(world.scope(s), world.vault)
        return repo.credentials(repo.get(account_id))  # type: ignore[arg-type]


def _run_refresh(world: World) -> dg.ExecuteInProcessResult:
    result = refresh_tokens_job.execute_in_process(instance=world.instance, resources=default_resources())
    assert result.success
    return result


def test_token_refresh_rotates_expiring_sandbox_account(world: World) -> None:
    expiring = world.connect("x", "x-exp")
    fresh = world.connect("x", "x-fresh")
    before = _creds(world, expiring)
    untouched = _creds(world, fresh)
    soon = datetime.now(UTC) + timedelta(minutes=10)
    _set_account(world, expiring, expires_at=soon)

    with dg.build_schedule_context(
        instance=world.instance,
        scheduled_execution_time=datetime.now(UTC),
        resources={"database": DatabaseResource(url=str(world.db.url))},
    ) as ctx:
        request = token_refresh_schedule.evaluate_tick(ctx).run_requests
    assert request and request[0].run_key.startswith("token_refresh:")  # type: ignore[union-attr]

    result = _run_refresh(world)
    assert result.output_for_node("refresh_expiring_tokens")["refreshed"] == [expiring]
    after = _creds(world, expiring)
    assert after.refresh_token and after.refresh_token != before.refresh_token
    assert after.access_token != before.access_token
    assert world.account(expiring).expires_at > soon  # type: ignore[operator]
    state = world.sandbox.state
    assert before.refresh_token in state.spent_refresh  # rotated away at the sandbox…
    assert after.refresh_token in state.refresh_index  # …and the stored one is the live one
    assert _creds(world, fresh).refresh_token == untouched.refresh_token
    # The refreshed token works for a publish through the asset.
    world.schedule(world.clip_ids[0], [("x", expiring)], caption="after refresh")
    assert _metadata(_materialize(world, "x"))["num_published"] == 1


def test_revoked_refresh_marks_reauth_required_and_notifies(
    world: World, smtp_server: SmtpInbox, webhook_server: WebhookReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    _notify_env(monkeypatch, smtp_server, webhook_server)
    acc = world.connect("x", "x-revoked")
    grant = world.sandbox.state.refresh_index[_creds(world, acc).refresh_token]
    world.sandbox.state.revoked_families.add(grant.family)
    _set_account(world, acc, expires_at=datetime.now(UTC) + timedelta(minutes=5))
    result = _run_refresh(world)
    assert result.output_for_node("refresh_expiring_tokens")["reauth_required"] == [acc]
    assert world.account(acc).status == "reauth_required"
    assert [m["X-Cliply-Event"] for m in smtp_server.messages] == ["reauth_required"]
    assert [h["json"]["event"] for h in webhook_server.received] == ["reauth_required"]


def _notify_env(monkeypatch: pytest.MonkeyPatch, smtp: SmtpInbox, hook: WebhookReceiver) -> None:
    monkeypatch.setenv("CLIPLY_SMTP_HOST", smtp.host)
    monkeypatch.setenv("CLIPLY_SMTP_PORT", str(smtp.port))
    monkeypatch.setenv("CLIPLY_SMTP_FROM", "cliply@example.test")
    monkeypatch.setenv("CLIPLY_SMTP_TO", "owner@example.test")
    monkeypatch.setenv("CLIPLY_WEBHOOK_URL", hook.url)


def test_reauth_warning_sent_once_by_mail_and_webhook(
    world: World, smtp_server: SmtpInbox, webhook_server: WebhookReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    _notify_env(monkeypatch, smtp_server, webhook_server)
    # LinkedIn standard apps get no refresh token: re-authorisation is due when the access token ends.
    acc = world.connect("linkedin", "li-warn", handle="Ada at LinkedIn")
    far = world.connect("linkedin", "li-far")
    due = datetime.now(UTC) + timedelta(days=5)
    _set_account(world, acc, expires_at=due)
    _set_account(world, far, expires_at=datetime.now(UTC) + timedelta(days=30))

    first = _run_refresh(world)
    assert first.output_for_node("refresh_expiring_tokens")["warned"] == [acc]
    _run_refresh(world)
    _run_refresh(world)

    assert len(smtp_server.messages) == 1
    mail = smtp_server.messages[0]
    assert mail["X-Cliply-Event"] == "reauth_due" and mail["To"] == "owner@example.test"
    assert "Ada at LinkedIn" in mail.get_payload() and due.strftime("%Y-%m-%d") in mail.get_payload()
    assert len(webhook_server.received) == 1
    hook = webhook_server.received[0]["json"]
    assert hook["event"] == "reauth_due" and hook["account_id"] == acc and hook["platform"] == "linkedin"
    creds = _creds(world, acc)
    assert creds.access_token not in mail.as_string() and creds.access_token not in repr(hook)
    assert world.account(acc).reauth_warned_at is not None
    assert world.account(far).reauth_warned_at is None


# ---- retention -----------------------------------------------------------------------------------------------------


def test_retention_deletes_old_media_but_keeps_what_a_post_needs(world: World) -> None:
    old_free, old_needed, _recent = world.clip_ids
    ten_days_ago = datetime.now(UTC) - timedelta(days=10)
    with world.db.session() as s:
        for clip_id in (old_free, old_needed):
            clip = s.get(Clip, clip_id)
            assert clip is not None
            clip.created_at = ten_days_ago
    acc = world.connect("x", "x-ret")
    published_acc = world.connect("x", "x-pub")
    world.schedule(old_needed, [("x", acc)], caption="tomorrow", at=datetime.now(UTC) + timedelta(days=1))
    # A post whose targets are all done does not keep its clip.
    done = world.schedule(old_free, [("x", published_acc)], caption="done")
    with world.db.session() as s:
        target = s.get(PostTarget, done[0])
        assert target is not None
        target.state = "published"

    # Renditions made for a platform go with their clip; another clip's stay.
    renditions = {c: [f"renditions/src1/{c}/x.mp4", f"renditions/src1/{c}/x.json"] for c in (old_free, old_needed)}
    for key in renditions[old_free] + renditions[old_needed]:
        world.store.put_bytes(key, b"rendition")

    assert _schedule_tick(world, media_retention_schedule).run_requests

    result = media_retention_job.execute_in_process(instance=world.instance, resources=default_resources())
    assert result.success
    out = result.output_for_node("delete_expired_media")
    assert out == {"deleted_clips": [old_free], "kept_for_posts": [old_needed]}
    store = world.store
    assert not store.exists("clips/src1/c1.mp4") and not store.exists("thumbnails/src1/c1.jpg")
    assert not any(store.exists(k) for k in renditions[old_free])
    assert all(store.exists(k) for k in renditions[old_needed])
    for rank in (2, 3):
        assert store.exists(f"clips/src1/c{rank}.mp4") and store.exists(f"thumbnails/src1/c{rank}.jpg")
    with world.db.session() as s:
        gone = s.get(Clip, old_free)
        assert gone is not None and gone.media_key is None and gone.thumbnail_key is None
    # Nothing left to do: the next evaluation skips.
    assert _schedule_tick(world, media_retention_schedule).run_requests == []


# ---- public ids after moderation -----------------------------------------------------------------------------------


def test_public_ids_schedule_and_job_backfill_a_tiktok_post_published_while_moderating(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLIPLY_TIKTOK_POLL_TIMEOUT_S", "1")
    real = TikTokClient._result

    moderating = [True]

    def still_moderating(
        self: TikTokClient, publish_id: str, data: dict[str, Any], *, private: bool, final: bool, handle: str = ""
    ) -> Any:
        if moderating[0]:  # published, but the public id is not out yet (for longer than the run waits)
            data = {**data, "publicaly_available_post_id": []}
        return real(self, publish_id, data, private=private, final=final, handle=handle)

    monkeypatch.setattr(TikTokClient, "_result", still_moderating)
    acc = world.connect("tiktok", "tt-mod")
    [tid] = world.schedule(world.clip_ids[0], [("tiktok", acc)], caption="moderated for a while", options=TIKTOK_OPTS)
    assert _schedule_tick(world, public_ids_schedule).run_requests == []  # nothing published yet

    meta = _metadata(_materialize(world, "tiktok"))
    assert meta["num_published"] == 1 and meta["published"][0]["post_id"] == ""  # type: ignore[index]
    assert meta["ids_backfilled"] == []  # the run asked once more before it ended: still moderating
    assert _schedule_tick(world, public_ids_schedule).run_requests
    moderating[0] = False

    result = backfill_ids_job.execute_in_process(instance=world.instance, resources=default_resources())
    assert result.success
    [post] = world.sandbox.state.posts_for("tiktok")
    assert result.output_for_node("backfill_public_ids") == {"tiktok": [tid]}
    with world.db.session() as s:
        target = s.get(PostTarget, tid)
        assert target is not None and target.platform_post_id == post.post_id and target.state == "published"
    assert _schedule_tick(world, public_ids_schedule).run_requests == []  # nothing left to ask about


# ---- run-failure notifier ------------------------------------------------------------------------------------------


@dg.op
def _explode() -> None:
    raise RuntimeError("the platform API exploded")


@dg.job(tags={PLATFORM_TAG: "x"})
def _failing_job() -> None:
    _explode()


def test_run_failure_sensor_notifies(
    smtp_server: SmtpInbox, webhook_server: WebhookReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cliply_resources.publishing import NotifierResource
    from cliply_sensors.publishing import run_failure_notifier

    _notify_env(monkeypatch, smtp_server, webhook_server)
    with dg.instance_for_test() as instance:
        result = _failing_job.execute_in_process(instance=instance, raise_on_error=False)
        assert not result.success
        ctx = dg.build_run_status_sensor_context(
            sensor_name=run_failure_notifier.name,
            dagster_event=result.get_run_failure_event(),
            dagster_instance=instance,
            dagster_run=result.dagster_run,
            resources={"notifier": NotifierResource()},
        ).for_run_failure()
        run_failure_notifier(ctx)
    assert [m["X-Cliply-Event"] for m in smtp_server.messages] == ["run_failed"]
    [hook] = webhook_server.received
    assert hook["json"]["event"] == "run_failed" and hook["json"]["job"] == "_failing_job"
    assert hook["json"]["run_id"] == result.run_id and hook["json"]["platform"] == "x"


# ---- end to end: the real dagster-daemon --------------------------------------------------------------------------


def test_real_daemon_publishes_every_target_once_even_after_a_killed_run(world: World, tmp_path: Path) -> None:
    """Sensor → one run per platform → posts; one x run is SIGKILLed while the platform holds the response of a
    create that DID happen. The daemon's next runs reconcile it: exactly one post per target on the platform."""
    x_accounts = [world.connect("x", f"x-e2e-{i}", handle=f"xe2e{i}") for i in range(3)]
    li_accounts = [world.connect("linkedin", f"li-e2e-{i}") for i in range(2)]
    targets = world.schedule(
        world.clip_ids[0],
        [("x", a) for a in x_accounts] + [("linkedin", a) for a in li_accounts],
        caption="one clip, five accounts",
    )
    targets += world.schedule(world.clip_ids[1], [("x", x_accounts[0])], caption="a second clip on x")
    # The first x create commits, then its response is held: the run is killed while waiting for it.
    world.sandbox.fault("x", "lost_response", "create_tweet", delay_s=12.0)

    dagster_home = tmp_path / "dagster_home"
    dagster_home.mkdir()
    shutil.copyfile(REPO / "dagster.yaml", dagster_home / "dagster.yaml")
    env = {
        **os.environ,
        "DAGSTER_HOME": str(dagster_home),
        "CLIPLY_X_TIMEOUT_S": "20",
        "CLIPLY_PUBLISH_LEASE_S": "15",
        "CLIPLY_PUBLISH_RUN_STALE_S": "20",
        "CLIPLY_PUBLISH_LINGER_S": "3",
    }
    log = tmp_path / "daemon.log"
    with dg.DagsterInstance.from_config(str(dagster_home)):
        pass  # its SQLite storage exists before the daemon's processes open it (no two creators racing)
    proc = start_daemon(env, log)
    try:

        def held_x_target() -> PostTarget | None:
            if not world.sandbox.state.posts_for("x"):
                return None
            return next(
                (
                    t
                    for t in world.targets().values()
                    if t.platform == "x"
                    and t.attempt_started_at
                    and t.state not in ("published", "failed")
                    and t.claimed_by
                ),
                None,
            )

        held = wait_for_daemon(held_x_target, 240, "an x create whose response is held", proc, log)
        worker_pid = int(held.claimed_by.rsplit(":", 1)[1])  # type: ignore[union-attr]
        killed_run = held.claimed_by.split(":")[1]  # type: ignore[union-attr]
        os.kill(worker_pid, signal.SIGKILL)

        def all_done() -> dict[str, PostTarget] | None:
            rows = world.targets()
            return rows if all(rows[t].state in ("published", "failed") for t in targets) else None

        rows = wait_for_daemon(all_done, 300, "every target published", proc, log)
        assert {rows[t].state for t in targets} == {"published"}, {t: rows[t].error_class for t in targets}
        state = world.sandbox.state
        for platform, account_ids in (
            ("x", [f"x-e2e-{i}" for i in range(3)]),
            ("linkedin", [f"li-e2e-{i}" for i in range(2)]),
        ):
            for ext in account_ids:
                want = 2 if ext == "x-e2e-0" else 1
                assert len(state.posts_for(platform, ext)) == want, (platform, ext)
        assert len(state.posts_for("x")) == 4 and len(state.posts_for("linkedin")) == 2
        assert len({rows[t].platform_post_id for t in targets}) == len(targets)

        instance = dg.DagsterInstance.from_config(str(dagster_home))
        runs = instance.get_run_records(filters=dg.RunsFilter(job_name=publish_posts_job.name))
        assert {r.dagster_run.tags[PLATFORM_TAG] for r in runs} == {"x", "linkedin"}
        assert any(r.dagster_run.run_id == killed_run for r in runs)

        def platforms_succeeded() -> set[str] | None:
            # The ledger says "published" a moment before the run that did it records its own success.
            records = instance.get_run_records(
                filters=dg.RunsFilter(job_name=publish_posts_job.name, statuses=[dg.DagsterRunStatus.SUCCESS])
            )
            done = {r.dagster_run.tags[PLATFORM_TAG] for r in records}
            return done if done == {"x", "linkedin"} else None

        wait_for_daemon(platforms_succeeded, 120, "a successful run per platform", proc, log)
        killed = instance.get_run_by_id(killed_run)
        assert killed is not None and killed.status != dg.DagsterRunStatus.SUCCESS
        # Still exactly one post per target after the recovery runs finished.
        assert len(state.posts_for("x")) == 4 and len(state.posts_for("linkedin")) == 2
    finally:
        stop_daemon(proc)
