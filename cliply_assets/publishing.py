"""Publishing assets and jobs: the `posts` asset (day × platform) and the token-refresh, public-id and media-retention
jobs.

Thin wiring only: the per-target truth and the exactly-once rules live in cliply.publishing (ledger, publisher); these
functions build the collaborators from resources and turn outcomes into materialisation metadata (never secrets)."""

import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import dagster as dg

from cliply import wiring
from cliply.platforms import PLATFORMS
from cliply.platforms.base import PlatformClient
from cliply.publishing.publisher import Publisher, TargetOutcome
from cliply.publishing.retention import sweep_media
from cliply.publishing.switches import PublishSwitches
from cliply.publishing.token_refresh import refresh_accounts
from cliply.settings import Settings
from cliply_assets.media import clips

OWNERS = ["team:cliply"]
GROUP = "publishing"
PLATFORM_TAG = "cliply/platform"
# Per-platform exclusivity comes from the due-posts sensor (never two runs of one platform) and the cliply/platform
# run-tag limit. No shared op pool: runs linger, so a pool smaller than the platform count would starve platforms.
DAY_FORMAT = "%Y-%m-%d"

# The first day this code could publish. A constant on purpose: a start that moved with the clock would change the
# partitions definition on every deploy. Days before it would only ever read "missing" in the UI.
POSTS_START_DATE = "2026-11-21"

# end_offset=1: today's day partition exists today (a plain DailyPartitionsDefinition only has it tomorrow).
posts_partitions = dg.MultiPartitionsDefinition(
    {
        "day": dg.DailyPartitionsDefinition(start_date=POSTS_START_DATE, end_offset=1),
        "platform": dg.StaticPartitionsDefinition(list(PLATFORMS)),
    }
)


def posts_partition_key(day: datetime, platform: str) -> dg.MultiPartitionKey:
    return dg.MultiPartitionKey({"day": day.astimezone(UTC).strftime(DAY_FORMAT), "platform": platform})


class PostsConfig(dg.Config):
    """How one publish run behaves; 0 = the CLIPLY_PUBLISH_* setting of the same name, else the default shown.

    A run lingers: after publishing what is due it keeps claiming targets as they fall due, until it has been idle
    for linger_s or has run for max_run_s. A steady stream of posts then costs one run launch per platform rather
    than one per sensor tick (on two cores the launches, not the uploads, were what made posts late)."""

    max_items: int = 0  # CLIPLY_PUBLISH_MAX_ITEMS, 1000 per run
    concurrency: int = 0  # CLIPLY_PUBLISH_CONCURRENCY, 4 targets at once
    lease_s: int = 0  # CLIPLY_PUBLISH_LEASE_S, 300
    linger_s: float = 0  # CLIPLY_PUBLISH_LINGER_S, 60 (negative: publish what is due now and stop)
    max_run_s: float = 0  # CLIPLY_PUBLISH_MAX_RUN_S, 600
    poll_s: float = 0  # CLIPLY_PUBLISH_POLL_S, 1


@contextmanager
def client_factory(resources: Any) -> Iterator[Callable[[str], PlatformClient]]:
    """`clients(platform)` backed by the platform resources (keyed by platform name); closes what it handed out."""
    made: list[PlatformClient] = []

    def clients(platform: str) -> PlatformClient:
        client = getattr(resources, platform).get_client()
        made.append(client)
        return client

    try:
        yield clients
    finally:
        for client in made:
            client.close()


def _publisher(resources: Any, clients: Callable[[str], PlatformClient], settings: Settings) -> Publisher:
    return wiring.build_publisher(
        settings,
        db=resources.database.get(),
        vault=resources.token_vault.get(),
        media=resources.media_store.get(),
        clients=clients,
    )


def outcome_metadata(outcomes: Sequence[TargetOutcome]) -> dict[str, Any]:
    """Published ids/URLs, deferred (until when), failed (class + human message). Outcomes never hold tokens."""
    published = [
        {"target": o.target_id, "post_id": o.post_id, "url": o.url, "reconciled": o.reconciled}
        for o in outcomes
        if o.state == "published"
    ]
    deferred = [
        {
            "target": o.target_id,
            "until": o.until.isoformat() if o.until else None,
            "reason": o.error_class or "limit",
            "message": o.message,
        }
        for o in outcomes
        if o.state == "waiting"
    ]
    failed = [
        {"target": o.target_id, "error_class": o.error_class, "message": o.message}
        for o in outcomes
        if o.state == "failed"
    ]
    unknown = [{"target": o.target_id, "message": o.message} for o in outcomes if o.state == "unknown_outcome"]
    skipped = [o.target_id for o in outcomes if o.state not in ("published", "waiting", "failed", "unknown_outcome")]
    return {
        "num_claimed": len(outcomes),
        "num_published": len(published),
        "num_deferred": len(deferred),
        "num_failed": len(failed),
        "num_unknown": len(unknown),
        "published": dg.MetadataValue.json(published),
        "deferred": dg.MetadataValue.json(deferred),
        "failed": dg.MetadataValue.json(failed),
        "unknown_outcome": dg.MetadataValue.json(unknown),
        "skipped": dg.MetadataValue.json(skipped),
    }


@dg.asset(
    partitions_def=posts_partitions,
    group_name=GROUP,
    kinds={"python"},
    owners=OWNERS,
    tags={"cliply/step": "publish"},
    # Lineage only: a post publishes clips of any source, so every clips partition feeds every posts partition.
    # Dagster does not hold a run back for missing upstream partitions; the ledger decides what is ready.
    deps=[dg.AssetDep(clips, partition_mapping=dg.AllPartitionMapping())],
    required_resource_keys={"database", "media_store", "token_vault", *PLATFORMS},
    description="One run per (day, platform): publishes every due post target of that platform through the posts "
    "ledger (claim → attempt → publish / reconcile), exactly once per target. Metadata lists what was "
    "published (ids, URLs), deferred (until when) and failed (error class, message).",
)
def posts(context: dg.AssetExecutionContext, config: PostsConfig) -> dg.MaterializeResult:
    key = context.partition_key
    platform = key.keys_by_dimension["platform"] if isinstance(key, dg.MultiPartitionKey) else key.split("|")[-1]
    res = context.resources
    settings = Settings.from_env()
    switches = PublishSwitches.from_settings(settings)
    linger_s = config.linger_s or settings.publish_linger_s

    def report(outcome: TargetOutcome) -> None:  # progress in the run's log as each target settles
        where = f" {outcome.url or outcome.post_id}" if outcome.state == "published" else ""
        until = f" until {outcome.until:%Y-%m-%d %H:%M:%S} UTC" if outcome.until else ""
        why = f" ({outcome.error_class}: {outcome.message})" if outcome.state in ("failed", "unknown_outcome") else ""
        context.log.info(f"{platform} target {outcome.target_id}: {outcome.state}{where}{until}{why}")

    with client_factory(res) as clients:
        publisher = _publisher(res, clients, settings)
        outcomes = publisher.publish_due(
            platform,
            worker_id=f"dagster:{context.run_id}:{os.getpid()}",  # names the worker process
            max_items=config.max_items or settings.publish_max_items,
            concurrency=config.concurrency or settings.publish_concurrency,
            lease_s=config.lease_s or settings.publish_lease_s,
            linger_s=max(0.0, linger_s),
            max_run_s=config.max_run_s or settings.publish_max_run_s,
            poll_s=config.poll_s or settings.publish_poll_s,
            on_outcome=report,
        )
        backfilled = publisher.backfill_post_ids(platform) if switches.allows(platform) else []
    meta = outcome_metadata(outcomes)
    context.log.info(
        f"{platform}: claimed {meta['num_claimed']}, published {meta['num_published']}, deferred "
        f"{meta['num_deferred']}, failed {meta['num_failed']}, unknown {meta['num_unknown']}"
    )
    return dg.MaterializeResult(
        metadata={
            "platform": platform,
            "switched_on": switches.allows(platform),
            **meta,
            "ids_backfilled": dg.MetadataValue.json(_backfilled(backfilled)),
        }
    )


def _backfilled(outcomes: Sequence[TargetOutcome]) -> list[dict[str, str]]:
    return [{"target": o.target_id, "post_id": o.post_id, "url": o.url} for o in outcomes]


publish_posts_job = dg.define_asset_job(
    "publish_posts",
    selection=[posts],
    executor_def=dg.in_process_executor,
    description="Publish the post targets of one platform that are due (partition day|platform): one lingering run "
    "per platform, started by due_posts_sensor.",
    # A publish run mostly waits on the network: small ECS tasks rather than the media-sized default.
    tags={"cliply/stage": "publish", "ecs/cpu": "512", "ecs/memory": "1024"},
)


# ---- token refresh ------------------------------------------------------------------------------------------------


@dg.op(required_resource_keys={"database", "token_vault", "notifier", *PLATFORMS})
def refresh_expiring_tokens(context: dg.OpExecutionContext) -> dict[str, Any]:
    """Refresh every account token near expiry; notify about accounts that need re-authorisation."""
    res = context.resources
    with client_factory(res) as clients:
        report = refresh_accounts(
            res.database.get(), res.token_vault.get(), clients, res.notifier.notify, now=datetime.now(UTC)
        )
    context.log.info(
        f"tokens refreshed {len(report.refreshed)}, reauth required {len(report.reauth_required)}, "
        f"warned {len(report.warned)}, errors {len(report.errors)}"
    )
    errors = {str(account_id): error for account_id, error in report.errors.items()}  # JSON keys are strings
    context.add_output_metadata(
        {
            "refreshed": report.refreshed,
            "reauth_required": report.reauth_required,
            "warned": report.warned,
            "errors": dg.MetadataValue.json(errors),
        }
    )
    return {"refreshed": report.refreshed, "reauth_required": report.reauth_required, "warned": report.warned}


@dg.job(
    executor_def=dg.in_process_executor,
    tags={"cliply/stage": "maintenance"},
    description="Refresh account tokens near expiry; flag accounts that need re-authorisation; warn 7 days ahead.",
)
def refresh_tokens_job() -> None:
    refresh_expiring_tokens()


# ---- public ids assigned after publishing (TikTok moderation) -------------------------------------------------------


@dg.op(required_resource_keys={"database", "media_store", "token_vault", *PLATFORMS})
def backfill_public_ids(context: dg.OpExecutionContext) -> dict[str, Any]:
    """Fetch the public post ids the platforms assigned after moderation (switched-on platforms only)."""
    res = context.resources
    settings = Settings.from_env()
    switches = PublishSwitches.from_settings(settings)
    filled: dict[str, list[dict[str, str]]] = {}
    with client_factory(res) as clients:
        publisher = _publisher(res, clients, settings)
        for platform in PLATFORMS:
            if switches.allows(platform) and (found := publisher.backfill_post_ids(platform)):
                filled[platform] = _backfilled(found)
    context.log.info(f"public ids back-filled: {sum(len(v) for v in filled.values())}")
    context.add_output_metadata({"ids_backfilled": dg.MetadataValue.json(filled)})
    return {p: [f["target"] for f in v] for p, v in filled.items()}


@dg.job(
    executor_def=dg.in_process_executor,
    tags={"cliply/stage": "maintenance"},
    description="Ask the platforms for the public ids of posts published while still in moderation.",
)
def backfill_ids_job() -> None:
    backfill_public_ids()


# ---- media retention ------------------------------------------------------------------------------------------------


@dg.op(required_resource_keys={"database", "media_store"})
def delete_expired_media(context: dg.OpExecutionContext) -> dict[str, Any]:
    """Delete clip media past CLIPLY_RETENTION_DAYS, keeping what a scheduled post still needs."""
    days = Settings.from_env().retention_days
    report = sweep_media(
        context.resources.database.get(), context.resources.media_store.get(), now=datetime.now(UTC), days=days
    )
    context.log.info(
        f"retention {days} d: deleted media of {len(report.deleted_clips)} clips "
        f"({report.deleted_objects} objects), kept {len(report.kept_for_posts)} for scheduled posts"
    )
    context.add_output_metadata(
        {
            "retention_days": days,
            "deleted_clips": report.deleted_clips,
            "kept_for_posts": report.kept_for_posts,
            "deleted_objects": report.deleted_objects,
        }
    )
    return {"deleted_clips": report.deleted_clips, "kept_for_posts": report.kept_for_posts}


@dg.job(
    executor_def=dg.in_process_executor,
    tags={"cliply/stage": "maintenance"},
    description="Delete rendered clips/thumbnails older than CLIPLY_RETENTION_DAYS unless a post still needs them.",
)
def media_retention_job() -> None:
    delete_expired_media()


defs = dg.Definitions(
    assets=[posts], jobs=[publish_posts_job, refresh_tokens_job, backfill_ids_job, media_retention_job]
)
