"""The publisher: claims due targets of one platform and drives each to published / waiting / failed / unknown,
exactly once per target. No Dagster here: the ops/sensors call publish_due().

Exactly-once rests on three rules:
1. mark_attempt is COMMITTED before any call that can create a post, so a crash leaves evidence (attempt_started_at).
2. A target that may already have posted (recovering after a crash/lease expiry, or an unknown outcome) is reconciled
   with client.find_existing before any new create; handles from PlatformError.details are saved as soon as seen.
3. Only errors the clients classify as "nothing was created" (TRANSIENT, AUTH_REFRESHABLE, rate/quota) are retried
   in place; UNKNOWN_OUTCOME and DUPLICATE always go through find_existing.

Every platform call that counts against a limit (each retry too) takes a reservation first; a refused call gives a
posts-cap reservation back. A transient burst that outlasts the in-run retries waits for a later round; an unknown
outcome is reconciled on a back-off schedule and, after too many failed lookups, waits for a person.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter
from tenacity import sleep as tenacity_sleep

from cliply.platforms.base import PlatformClient
from cliply.platforms.errors import ErrorClass, PlatformError, is_format_rejection
from cliply.platforms.models import Credentials, PublishResult, VideoPost
from cliply.publishing import ledger, limits
from cliply.publishing.media_urls import PULL_PLATFORMS, MediaUrlError, MediaUrlSigner
from cliply.publishing.renditions import RECUT_REASON, ClipMedia, RenditionError, Renditions
from cliply.publishing.switches import PublishSwitches
from cliply.security.vault import TokenVault
from cliply.settings import Settings, parse_delays
from cliply.storage.media_store import MediaStore
from cliply.store.accounts import AccountDisconnected, AccountsRepo
from cliply.store.db import Database
from cliply.store.models import Clip, Source, Workspace
from cliply.store.models_accounts import Account
from cliply.store.models_publishing import Post, PostTarget
from cliply.store.repo import WorkspaceScope

log = logging.getLogger(__name__)

REFRESH_AHEAD = timedelta(minutes=5)
MAX_TRIES = 3
DEFAULT_RATE_WAIT = timedelta(seconds=60)  # a 429 without a reset time
BACKFILL_WINDOW = timedelta(days=7)  # how long a published target keeps asking for its public id
REQUEUE_S = 30.0  # a lingering run takes a target it just handled (e.g. an unknown outcome) back after this long
UNUSABLE_ACCOUNT = frozenset({"disconnected", "reauth_required"})
# Reconciliation handles a client may put in PlatformError.details; the value is the VideoPost.options key that the
# client's find_existing reads (YouTube reads its resumable session under a prefixed name).
HANDLE_KEYS = {
    "publish_id": "publish_id",
    "container_id": "container_id",
    "video_id": "video_id",
    "session_uri": "youtube_session_uri",
    "existing_post_id": "existing_post_id",
    "rkey": "rkey",
}
OWN_LIMIT = "Cliply's own limit for this account is reached"
# Options that are VideoPost fields rather than free-form platform options.
_POST_FIELDS = ("privacy", "link", "board_id")


@dataclass(frozen=True)
class RetryPolicy:
    """When work that could not finish in a run is tried again (see the CLIPLY_PUBLISH_RETRY_* and _RECONCILE_*
    settings)."""

    retry_delays_s: tuple[float, ...] = (60.0, 300.0, 1800.0)
    retry_rounds: int = 3
    reconcile_delays_s: tuple[float, ...] = (60.0, 300.0, 1800.0, 7200.0)
    reconcile_max_failures: int = 5

    @classmethod
    def from_settings(cls, settings: Settings) -> RetryPolicy:
        return cls(
            retry_delays_s=parse_delays(settings.publish_retry_delays_s),
            retry_rounds=settings.publish_retry_rounds,
            reconcile_delays_s=parse_delays(settings.publish_reconcile_delays_s),
            reconcile_max_failures=settings.publish_reconcile_max_failures,
        )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> RetryPolicy:
        return cls.from_settings(Settings.from_env(environ))

    def retry_delay(self, rounds_used: int) -> timedelta:
        return timedelta(seconds=_nth(self.retry_delays_s, rounds_used))

    def reconcile_delay(self, failures: int) -> timedelta:
        # The first lookup after a lost response and the first failed one both wait the first delay.
        return timedelta(seconds=_nth(self.reconcile_delays_s, failures - 1))


def _nth(delays: tuple[float, ...], index: int) -> float:
    return delays[max(0, min(index, len(delays) - 1))] if delays else 0.0


@dataclass(frozen=True)
class TargetOutcome:
    target_id: str
    platform: str
    state: str  # published | waiting | failed | unknown_outcome | needs_attention | skipped
    post_id: str = ""
    url: str = ""
    error_class: str = ""
    message: str = ""
    until: datetime | None = None
    reconciled: bool = False  # found by find_existing rather than created in this run


@dataclass
class _Job:
    """One claimed target's working set (plain values: no ORM objects cross threads)."""

    target_id: str
    post_id: str
    workspace_id: int
    platform: str
    account_id: int
    caption: str
    title: str
    options: dict[str, Any]
    handle: dict[str, Any]
    recovering: bool
    clip_key: str  # the media this target publishes: the main render, or its rendition once chosen
    worker_id: str = ""
    created_after: datetime | None = None  # the post's creation: nothing of ours can be older
    creds: Credentials | None = None  # the newest credentials (after any refresh); never logged
    handles_tried: dict[str, Any] = field(default_factory=dict)  # the handles find_existing last saw
    retry_rounds: int = 0
    reconcile_failures: int = 0
    clock_at: datetime | None = None  # the run's clock when this job started, and the monotonic time then
    clock_mono: float = 0.0
    clip: ClipMedia | None = None  # the clip's main render and its place in the source (renditions are made from it)
    caption_style: str | None = None  # the post's own caption style (post option caption_style)
    format_retried: bool = False  # a format rejection was answered with a stricter rendition already


class _Done(Exception):
    def __init__(self, outcome: TargetOutcome) -> None:
        super().__init__(outcome.state)
        self.outcome = outcome


class _Blocked(Exception):
    """A retry found no room in the limit ledger: the call is not made."""

    def __init__(self, until: datetime) -> None:
        super().__init__(until.isoformat())
        self.until = until


def _is_transient(exc: BaseException) -> bool:
    return isinstance(exc, PlatformError) and exc.error_class is ErrorClass.TRANSIENT


def _handles(details: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in (details or {}).items() if k in HANDLE_KEYS and v not in (None, "")}


class Publisher:
    """One publish_due run's collaborators. Thread-safe across the targets of that run."""

    def __init__(
        self,
        *,
        db: Database,
        vault: TokenVault,
        media: MediaStore,
        clients: Callable[[str], PlatformClient],
        switches: PublishSwitches | None = None,
        signer: MediaUrlSigner | None = None,
        backoff_s: float = 1.0,
        sleep: Callable[[float], None] | None = None,
        limit_rules: Mapping[str, Sequence[limits.LimitRule]] | None = None,
        policy: RetryPolicy | None = None,
        notify: Callable[..., Any] | None = None,
        renditions: Renditions | None = None,
    ) -> None:
        self.db = db
        self.vault = vault
        self.media = media
        self.clients = clients
        self.switches = switches or PublishSwitches.from_env()
        self.signer = signer or MediaUrlSigner.from_env(media)
        self.backoff_s = backoff_s
        self.sleep = sleep
        self.limit_rules = limit_rules  # None = limits.DEFAULT_LIMITS
        self.policy = policy or RetryPolicy.from_env()
        # Told about targets that need a person; without one the caller reports the needs_attention outcomes.
        self.notify = notify
        # The file each target gets: the main render when it fits the platform, else a cached rendition.
        self.renditions = renditions or Renditions(media)
        self.lease_s = ledger.DEFAULT_LEASE_S
        self._client_lock = threading.Lock()
        self._client_cache: dict[str, PlatformClient] = {}
        self._account_locks: dict[int, threading.Lock] = {}
        self._locks_lock = threading.Lock()

    # ---- the run ----------------------------------------------------------------------------------------------
    def publish_due(
        self,
        platform: str,
        *,
        now: datetime | None = None,
        worker_id: str,
        max_items: int = 200,
        concurrency: int = 4,
        lease_s: int = 300,
        linger_s: float = 0.0,
        max_run_s: float = 600.0,
        poll_s: float = 1.0,
        requeue_s: float = REQUEUE_S,
        on_outcome: Callable[[TargetOutcome], None] | None = None,
    ) -> list[TargetOutcome]:
        """Claim due targets as workers free up (never more than `concurrency` leased at once, so no lease ticks
        away in a queue) and publish them. linger_s=0 returns once nothing is due; a Dagster run lingers, claiming
        targets as they fall due until it has been idle for linger_s or has run max_run_s: a steady stream of due
        posts then costs one run launch, not one per sensor tick. `now` pins the clock used for claiming (tests)."""
        if not self.switches.allows(platform):
            # Not claimed at all: the targets stay scheduled and are picked up once the switch is back on.
            log.info("publishing to %s is switched off; nothing claimed", platform)
            return []
        self.lease_s = lease_s
        started = last_busy = time.monotonic()
        # Targets handled in this call and when they may be claimed again here (an unknown outcome is reclaimed by
        # a later pass, not hammered in a loop); a one-shot call never takes one back.
        resting: dict[str, float] = {}
        outcomes: list[TargetOutcome] = []
        in_flight: dict[Future[TargetOutcome], _Job] = {}
        claimed = 0
        with ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix=f"publish-{platform}") as pool:
            while True:
                clock = time.monotonic()
                accepting = clock - started < max_run_s and claimed < max_items
                free = min(concurrency - len(in_flight), max_items - claimed)
                if accepting and free > 0:
                    at = now or datetime.now(UTC)
                    exclude = {t for t, until in resting.items() if until > clock}
                    for job in self._claim(platform, at, free, worker_id, exclude):
                        in_flight[pool.submit(self._run, job, at, worker_id)] = job
                        claimed += 1
                if in_flight:
                    done, _ = wait(in_flight, timeout=poll_s, return_when=FIRST_COMPLETED)
                    for future in done:
                        job = in_flight.pop(future)
                        outcome = future.result()  # _run never raises
                        outcomes.append(outcome)
                        # An unknown outcome is reconciled on its back-off schedule by a later run, never this one.
                        again = linger_s > 0 and outcome.state != "unknown_outcome"
                        resting[job.target_id] = time.monotonic() + requeue_s if again else float("inf")
                        if on_outcome is not None:
                            on_outcome(outcome)
                    last_busy = time.monotonic()
                    continue
                # Idle is judged from when this pass's claim began: a claim slowed by a busy database must not end
                # the run after a target fell due during it.
                if not accepting or clock - last_busy >= linger_s:
                    break
                time.sleep(poll_s)
        return outcomes

    def _claim(self, platform: str, now: datetime, limit: int, worker_id: str, exclude: set[str]) -> list[_Job]:
        with self.db.session() as session:
            targets = ledger.claim_due(
                session, platform, now=now, limit=limit, worker_id=worker_id, lease_s=self.lease_s, exclude=exclude
            )
            return [self._job(session, t, worker_id) for t in targets]

    def _job(self, session: Any, target: PostTarget, worker_id: str) -> _Job:
        post = session.get(Post, target.post_id)
        clip = session.get(Clip, post.clip_id) if post is not None else None
        handle = dict(target.handle or {})
        options = dict(target.options or {})
        style = options.pop("caption_style", None)  # chooses the rendition; never sent to the platform
        return _Job(
            target_id=target.id,
            post_id=target.post_id,
            workspace_id=target.workspace_id,
            platform=target.platform,
            account_id=target.account_id,
            caption=target.caption or (post.caption if post is not None else ""),
            title=target.title or "",
            options=options,
            handle=handle,
            recovering=bool(handle.get("recovering")) or target.attempt_started_at is not None,
            clip_key=(clip.media_key or "") if clip is not None else "",
            worker_id=worker_id,
            created_after=post.created_at if post is not None else None,
            retry_rounds=target.retry_rounds or 0,
            reconcile_failures=target.reconcile_failures or 0,
            clip=_clip_media(session, clip),
            caption_style=str(style) if style else None,
        )

    def _run(self, job: _Job, now: datetime, worker_id: str) -> TargetOutcome:
        job.clock_at, job.clock_mono = now, time.monotonic()
        try:
            # Renew the lease first: a job that queued behind slow ones must not run on a lease another worker
            # may already have taken over.
            with self.db.session() as session:
                ledger.heartbeat(session, job.target_id, worker_id, lease_s=self.lease_s)
            return self._publish_target(job, worker_id)
        except _Done as done:
            return done.outcome
        except ledger.InvalidTransition as exc:
            # Lease lost or the target moved on (e.g. cancelled): someone else owns it now, so write nothing.
            log.warning("target %s skipped: %s", job.target_id, exc)
            return TargetOutcome(job.target_id, job.platform, "skipped", message=str(exc))
        except Exception as exc:  # a bug or infrastructure failure must not strand the other targets
            log.exception("publishing target %s failed unexpectedly", job.target_id)
            return self._unexpected(job, exc)

    # ---- one target -------------------------------------------------------------------------------------------
    def _publish_target(self, job: _Job, worker_id: str) -> TargetOutcome:
        client = self._client(job.platform)
        creds = self._credentials(job, client)
        with self._video(job) as video:
            post = self._video_post(job, video)
            if job.recovering:
                # A create may have happened before a crash or a lost response: ask before creating again.
                try:
                    found = self._reconcile(job, client, creds, post)
                except PlatformError as exc:
                    # Cannot tell yet; unknown_outcome keeps the "reconcile first" marker for a later tick.
                    if exc.error_class is ErrorClass.AUTH_RECONNECT:
                        self._reauth(job, exc.message)
                    return self._unknown(job, f"reconciliation failed: {exc.message}", lookup_failed=True)
                if found is not None:
                    return self._published(job, found, reconciled=True)
                creds = job.creds or creds
            first = self._take(job)  # at the time of the call, not the claim: a stale stamp frees the slot early
            if first.until is not None:
                return self._waiting(job, "quota", first.until, OWN_LIMIT)
            with self.db.session() as session:
                # Committed before the create: a crash from here on leaves attempt_started_at as evidence.
                ledger.mark_attempt(session, job.target_id, worker_id, lease_s=self.lease_s)
            try:
                result = self._publish_with_retries(job, client, creds, post, first)
            except _Blocked as blocked:
                # Earlier tries of this attempt were refused; the marker stays so the next one reconciles first.
                return self._waiting(job, "quota", blocked.until, OWN_LIMIT, keep_attempt=True)
            except PlatformError as exc:
                if is_format_rejection(exc) and not job.format_retried and job.clip is not None:
                    return self._format_retry(job, client, creds, exc)
                return self._classified(job, client, creds, post, exc)
            return self._published(job, result)

    def _format_retry(
        self, job: _Job, client: PlatformClient, creds: Credentials, rejected: PlatformError
    ) -> TargetOutcome:
        """The platform refused the file's format or size: one stricter rendition and one more try. Never for any
        other error class; a second rejection fails the target with the platform's reason."""
        job.format_retried = True
        log.info(
            "target %s: %s refused the file (%s); retrying once with a stricter rendition",
            job.target_id,
            job.platform,
            rejected.code,
        )
        with self._video(job, strict=True) as video:
            post = self._video_post(job, video)
            held = self._take(job)
            if held.until is not None:
                return self._waiting(job, "quota", held.until, OWN_LIMIT, keep_attempt=True)
            try:
                result = self._publish_with_retries(job, client, job.creds or creds, post, held)
            except _Blocked as blocked:
                return self._waiting(job, "quota", blocked.until, OWN_LIMIT, keep_attempt=True)
            except PlatformError as exc:
                return self._classified(job, client, job.creds or creds, post, exc)
            return self._published(job, result)

    def _now(self, job: _Job) -> datetime:
        """The run's clock (pinned by `now` in tests) advanced by the time this job has taken so far."""
        if job.clock_at is None:
            return datetime.now(UTC)
        return job.clock_at + timedelta(seconds=time.monotonic() - job.clock_mono)

    def _take(self, job: _Job, at: datetime | None = None) -> limits.Reservation:
        with self.db.session() as session:
            return limits.take(session, job.platform, job.account_id, at or self._now(job), rules=self.limit_rules)

    def _give_back(self, reservation: limits.Reservation) -> None:
        with self.db.session() as session:
            limits.release(session, reservation)

    def _publish_with_retries(
        self, job: _Job, client: PlatformClient, creds: Credentials, post: VideoPost, first: limits.Reservation
    ) -> PublishResult:
        state_creds, state_refreshed, state_post = creds, False, post
        beat = self._heartbeat(job)
        unused = [first]  # the reservation taken before mark_attempt pays for the first call; each later call takes one

        def once() -> PublishResult:
            nonlocal state_creds, state_refreshed, state_post
            current = state_post
            if job.handles_tried != _handles_of(job):
                # A previous try left a handle (e.g. TikTok publish_id): it may have posted, so look first.
                found = self._find(job, client, state_creds, current)
                if found is not None:
                    return replace(found, raw={**found.raw, "reconciled": True})
            held = unused.pop() if unused else self._take(job)
            if held.until is not None:
                raise _Blocked(held.until)
            try:
                return client.publish(state_creds, current, progress=beat)
            except PlatformError as exc:
                if exc.error_class is not ErrorClass.UNKNOWN_OUTCOME:
                    self._give_back(held)  # refused: nothing was created, so it does not count against a cap
                self._save_handles(job, exc.details)
                state_post = self._with_handles(current, job)
                if exc.error_class is ErrorClass.AUTH_REFRESHABLE and not state_refreshed:
                    state_creds = job.creds = self._refresh(job, client, state_creds, rejected=True)
                    state_refreshed = True  # only once: a 401 with a fresh token means reconnect (below)
                    return once()
                raise

        retrying = Retrying(
            stop=stop_after_attempt(MAX_TRIES),
            retry=retry_if_exception(_is_transient),
            reraise=True,
            wait=wait_exponential_jitter(initial=self.backoff_s, max=self.backoff_s * 8, jitter=self.backoff_s),
            sleep=self.sleep or tenacity_sleep,
        )
        result: PublishResult = retrying(once)
        return result

    def _classified(
        self, job: _Job, client: PlatformClient, creds: Credentials, post: VideoPost, exc: PlatformError
    ) -> TargetOutcome:
        cls = exc.error_class
        creds = job.creds or creds
        if cls in (ErrorClass.UNKNOWN_OUTCOME, ErrorClass.DUPLICATE):
            post = self._with_handles(post, job)
            try:
                found = self._find(job, client, creds, post, force=True)
            except PlatformError as find_exc:
                message = f"{exc.message}; reconciliation failed: {find_exc.message}"
                return self._unknown(job, message, lookup_failed=True)
            if found is not None:
                return self._published(job, found, reconciled=True)
            if cls is ErrorClass.DUPLICATE:
                return self._failed(job, cls.value, exc.message)
            return self._unknown(job, exc.message)
        if cls in (ErrorClass.RATE_LIMITED, ErrorClass.QUOTA_EXHAUSTED):
            until = exc.retry_at or datetime.now(UTC) + DEFAULT_RATE_WAIT
            return self._waiting(job, "rate" if cls is ErrorClass.RATE_LIMITED else "quota", until, exc.message)
        if cls is ErrorClass.TRANSIENT:
            return self._later_round(job, exc.message)
        if cls in (ErrorClass.AUTH_RECONNECT, ErrorClass.AUTH_REFRESHABLE):
            # AUTH_REFRESHABLE here means the refreshed token was rejected too: the user must reconnect.
            self._reauth(job, exc.message)
            return self._failed(job, ErrorClass.AUTH_RECONNECT.value, exc.message)
        return self._failed(job, cls.value, exc.message)

    def _heartbeat(self, job: _Job) -> Callable[[float], None]:
        """A progress callback that extends the lease during long uploads, so a slow upload is not reclaimed as a
        crashed one (which would reconcile and maybe create a second post while this one is still running)."""
        last = [time.monotonic()]

        def beat(_fraction: float) -> None:
            if time.monotonic() - last[0] < self.lease_s / 3:
                return
            last[0] = time.monotonic()
            try:
                with self.db.session() as session:
                    ledger.heartbeat(session, job.target_id, job.worker_id, lease_s=self.lease_s)
            except ledger.LeaseLost:
                log.warning("target %s: lease lost during upload", job.target_id)

        return beat

    # ---- reconciliation -----------------------------------------------------------------------------------------
    def _find(
        self, job: _Job, client: PlatformClient, creds: Credentials, post: VideoPost, *, force: bool = False
    ) -> PublishResult | None:
        handles = _handles_of(job)
        if not force and job.handles_tried == handles and job.handles_tried:
            return None
        job.handles_tried = handles
        with self.db.session() as session:
            owned = ledger.owned_post_ids(session, job.platform, job.account_id, except_target=job.target_id)
        return client.find_existing(creds, replace(self._with_handles(post, job), exclude_post_ids=owned))

    def _reconcile(
        self, job: _Job, client: PlatformClient, creds: Credentials, post: VideoPost
    ) -> PublishResult | None:
        try:
            return self._find(job, client, creds, post, force=True)
        except PlatformError as exc:
            if exc.error_class is not ErrorClass.AUTH_REFRESHABLE:
                raise
            job.creds = self._refresh(job, client, creds, rejected=True)
            return self._find(job, client, job.creds, post, force=True)

    def _save_handles(self, job: _Job, details: dict[str, Any]) -> None:
        new = {k: v for k, v in _handles(details).items() if job.handle.get(k) != v}
        if not new:
            return
        job.handle.update(new)
        with self.db.session() as session:
            ledger.record_handle(session, job.target_id, **new)

    def _with_handles(self, post: VideoPost, job: _Job) -> VideoPost:
        extra = {HANDLE_KEYS[k]: v for k, v in _handles_of(job).items()}
        return replace(post, options={**post.options, **extra})

    # ---- credentials ---------------------------------------------------------------------------------------------
    def _account_lock(self, account_id: int) -> threading.Lock:
        with self._locks_lock:
            return self._account_locks.setdefault(account_id, threading.Lock())

    def _load_account(self, job: _Job) -> tuple[Account, Credentials]:
        with self.db.session() as session:
            repo = self._repo(session, job.workspace_id)
            account = repo.get(job.account_id)
            if account is None:
                raise _Done(self._failed(job, ErrorClass.CONFIG.value, "the account no longer exists"))
            if account.status in UNUSABLE_ACCOUNT:
                raise _Done(
                    self._failed(job, ErrorClass.AUTH_RECONNECT.value, f"the account is {account.status}: reconnect it")
                )
            try:
                return account, repo.credentials(account)
            except AccountDisconnected as exc:
                raise _Done(self._failed(job, ErrorClass.AUTH_RECONNECT.value, str(exc))) from None

    def _credentials(self, job: _Job, client: PlatformClient) -> Credentials:
        _, creds = self._load_account(job)
        # Token lifetimes run on the wall clock, not on the scheduler's `now`.
        if creds.expires_at is not None and creds.expires_at - REFRESH_AHEAD <= datetime.now(UTC):
            creds = self._refresh(job, client, creds, rejected=False)
        job.creds = creds
        return creds

    def _refresh(self, job: _Job, client: PlatformClient, creds: Credentials, *, rejected: bool) -> Credentials:
        """Refresh at most once per account at a time: rotating refresh tokens (TikTok, X) are single-use, so two
        targets of one account refreshing together would burn the family. Whoever waited reuses the new token."""
        with self._account_lock(job.account_id):
            _, stored = self._load_account(job)
            if stored.access_token != creds.access_token:
                return stored  # another target refreshed while we waited
            try:
                fresh = client.refresh(stored)
            except PlatformError as exc:
                if exc.error_class is ErrorClass.AUTH_RECONNECT:
                    self._reauth(job, exc.message)
                    raise _Done(self._failed(job, ErrorClass.AUTH_RECONNECT.value, exc.message)) from None
                if exc.error_class is ErrorClass.CONFIG:  # e.g. invalid_client: an app set-up problem
                    raise _Done(self._failed(job, ErrorClass.CONFIG.value, exc.message)) from None
                if rejected:
                    raise  # transient: the retry loop tries publish + refresh again
                return stored  # a proactive refresh that failed transiently: the token is still valid for now
            with self.db.session() as session:
                self._repo(session, job.workspace_id).store_refreshed(job.account_id, fresh)
            return fresh

    def _reauth(self, job: _Job, message: str) -> None:
        with self.db.session() as session:
            self._repo(session, job.workspace_id).set_status(job.account_id, "reauth_required", message)

    def _repo(self, session: Any, workspace_id: int) -> AccountsRepo:
        workspace = session.get(Workspace, workspace_id)
        return AccountsRepo(WorkspaceScope(session, workspace), self.vault)

    # ---- media ---------------------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def _video(self, job: _Job, *, strict: bool = False) -> Iterator[Path]:
        """The file this target publishes: the main render when it fits the platform's preset, else its rendition
        (made once, cached); `strict` after a format rejection. job.clip_key becomes the key of what is sent."""
        main_key = job.clip.key if job.clip is not None else job.clip_key
        if not main_key:
            raise _Done(self._failed(job, ErrorClass.CONFIG.value, "the clip has no rendered media"))
        tmp = Path(tempfile.mkdtemp(prefix="cliply-publish-"))
        try:
            # Checked before mark_attempt: a missing file must fail the target, not look like an unknown outcome.
            main = self._local_media(job, main_key, tmp)
            if job.clip is None:
                job.clip_key = main_key
                yield main
                return
            try:
                choice = self.renditions.choose(
                    job.clip, job.platform, main, strict=strict, caption_style=job.caption_style
                )
            except (RenditionError, OSError) as exc:
                message = f"no rendition for {job.platform}: {exc}"
                raise _Done(self._failed(job, ErrorClass.CONFIG.value, message)) from None
            if not choice.main:
                log.info("target %s gets %s (%s)", job.target_id, choice.key, "; ".join(choice.reasons))
            job.clip_key = choice.key
            yield main if choice.key == main_key else self._local_media(job, choice.key, tmp)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def _local_media(self, job: _Job, key: str, tmp: Path) -> Path:
        local = self.media.local_path(key)
        if local is not None:
            if not local.is_file():
                raise _Done(self._failed(job, ErrorClass.CONFIG.value, "the clip's media file is missing"))
            return local
        try:
            return self.media.get_file(key, tmp / Path(key).name)
        except FileNotFoundError:
            raise _Done(self._failed(job, ErrorClass.CONFIG.value, "the clip's media file is missing")) from None

    def _video_post(self, job: _Job, video: Path) -> VideoPost:
        opts = dict(job.options)
        fields: dict[str, Any] = {k: str(opts.pop(k)) for k in _POST_FIELDS if opts.get(k) is not None}
        if opts.get("hashtags"):
            fields["hashtags"] = tuple(opts.pop("hashtags"))
        if opts.get("cover_time_s") is not None:
            fields["cover_time_s"] = float(opts.pop("cover_time_s"))
        from cliply.publishing import post_covers

        # The clip's chosen cover (frame time, the platform's image); the target's own options win.
        cover = post_covers.cover_for(
            self.db,
            self.media,
            self.signer,
            workspace_id=job.workspace_id,
            post_id=job.post_id,
            platform=job.platform,
            video=video,
            options=job.options,
        )
        fields = {**cover.fields(), **fields}
        opts = {**cover.options, **opts}
        opts.pop("cover", None)
        try:
            video_url = self.signer.url_for(job.clip_key) if job.platform in PULL_PLATFORMS else ""
        except MediaUrlError as exc:
            raise _Done(self._failed(job, ErrorClass.CONFIG.value, str(exc))) from None
        post = VideoPost(
            video=video,
            caption=job.caption,
            title=job.title,
            video_url=video_url,
            idempotency_key=job.target_id,
            options=opts,
            created_after=job.created_after,
            **fields,
        )
        return self._with_handles(post, job)

    # ---- ids the platform assigns later ------------------------------------------------------------------------
    def backfill_post_ids(
        self, platform: str, *, now: datetime | None = None, limit: int = 20, max_age: timedelta = BACKFILL_WINDOW
    ) -> list[TargetOutcome]:
        """Published targets still waiting for their public id (TikTok moderation): ask the platform by the saved
        handle and record the id once it exists. Never changes a target's state; a failed lookup waits for the
        next call."""
        now = now or datetime.now(UTC)
        with self.db.session() as session:
            jobs = [
                self._job(session, t, "backfill")
                for t in ledger.awaiting_post_id(session, platform, since=now - max_age, limit=limit)
            ]
        found_ids: list[TargetOutcome] = []
        for job in jobs:
            if not _handles_of(job):
                continue  # matching by caption alone is not safe enough to name a post after the fact
            try:
                with self.db.session() as session:
                    repo = self._repo(session, job.workspace_id)
                    account = repo.get(job.account_id)
                    if account is None or account.status in UNUSABLE_ACCOUNT:
                        continue
                    creds = repo.credentials(account)
                lookup = VideoPost(
                    video=Path(f"{job.target_id}.lookup"),
                    caption=job.caption,
                    title=job.title,
                    idempotency_key=job.target_id,
                    created_after=job.created_after,
                    options={HANDLE_KEYS[k]: v for k, v in _handles_of(job).items()},
                )
                found = self._client(platform).find_existing(creds, lookup)
            except (PlatformError, AccountDisconnected) as exc:
                log.info("target %s: public id not available yet (%s)", job.target_id, exc)
                continue
            if found is None or not found.post_id:
                continue
            with self.db.session() as session:
                if ledger.record_post_id(session, job.target_id, found):
                    found_ids.append(
                        TargetOutcome(
                            job.target_id, platform, "published", post_id=found.post_id, url=found.url, reconciled=True
                        )
                    )
        return found_ids

    def _client(self, platform: str) -> PlatformClient:
        with self._client_lock:
            if platform not in self._client_cache:
                self._client_cache[platform] = self.clients(platform)
            return self._client_cache[platform]

    # ---- ledger transitions ------------------------------------------------------------------------------------
    def _published(self, job: _Job, result: PublishResult, *, reconciled: bool = False) -> TargetOutcome:
        with self.db.session() as session:
            ledger.mark_published(session, job.target_id, result)
        return TargetOutcome(
            job.target_id,
            job.platform,
            "published",
            post_id=result.post_id,
            url=result.url,
            reconciled=reconciled or bool(result.raw.get("reconciled")),
        )

    def _waiting(
        self, job: _Job, reason: str, until: datetime, message: str, *, keep_attempt: bool = False
    ) -> TargetOutcome:
        with self.db.session() as session:
            ledger.mark_waiting(
                session, job.target_id, reason=reason, until=until, message=message, keep_attempt=keep_attempt
            )
        return TargetOutcome(job.target_id, job.platform, "waiting", error_class=reason, message=message, until=until)

    def _later_round(self, job: _Job, message: str) -> TargetOutcome:
        """The in-run retries ran out on transient errors: wait for a later round, or fail once they are used up."""
        if job.retry_rounds >= self.policy.retry_rounds:
            rounds = f" (after {job.retry_rounds} later rounds)" if job.retry_rounds else ""
            return self._failed(job, ErrorClass.TRANSIENT.value, f"{message}{rounds}")
        until = self._now(job) + self.policy.retry_delay(job.retry_rounds)
        # The attempt marker stays: the next round asks "did it post?" before creating again.
        return self._waiting(
            job, "transient", until, f"{message}; retrying at {until:%Y-%m-%d %H:%M:%S} UTC", keep_attempt=True
        )

    def _failed(self, job: _Job, error_class: str, message: str) -> TargetOutcome:
        with self.db.session() as session:
            ledger.mark_failed(session, job.target_id, error_class=error_class, message=message)
        return TargetOutcome(job.target_id, job.platform, "failed", error_class=error_class, message=message)

    def _unknown(self, job: _Job, message: str, *, lookup_failed: bool = False) -> TargetOutcome:
        """Reconciled later on the back-off schedule; after too many failed lookups it waits for a person."""
        failures = job.reconcile_failures + int(lookup_failed)
        if lookup_failed and failures >= self.policy.reconcile_max_failures:
            return self._needs_attention(job, message, failures)
        retry_at = self._now(job) + self.policy.reconcile_delay(failures)
        with self.db.session() as session:
            ledger.mark_unknown(session, job.target_id, message, retry_at=retry_at, lookup_failed=lookup_failed)
        return TargetOutcome(
            job.target_id,
            job.platform,
            "unknown_outcome",
            error_class=ErrorClass.UNKNOWN_OUTCOME.value,
            message=message,
            until=retry_at,
        )

    def _needs_attention(self, job: _Job, message: str, failures: int) -> TargetOutcome:
        text = (
            f"could not tell whether it posted after {failures} lookups ({message}); check the account, then "
            f"retry the target (cliply posts retry {job.target_id}) or cancel it"
        )
        with self.db.session() as session:
            ledger.mark_unknown(session, job.target_id, message, lookup_failed=True)
            ledger.mark_needs_attention(session, job.target_id, text)
        outcome = TargetOutcome(
            job.target_id, job.platform, "needs_attention", error_class=ErrorClass.UNKNOWN_OUTCOME.value, message=text
        )
        self._tell(job, text)
        return outcome

    def _tell(self, job: _Job, message: str) -> None:
        if self.notify is None:
            return
        try:
            self.notify(
                "publish_needs_attention",
                target_id=job.target_id,
                post_id=job.post_id,
                platform=job.platform,
                account_id=job.account_id,
                message=message,
            )
        except Exception:  # a broken notifier must not undo the ledger's state
            log.exception("could not notify about target %s", job.target_id)

    def _unexpected(self, job: _Job, exc: Exception) -> TargetOutcome:
        """After mark_attempt a create may have happened: unknown (reconciled next tick). Before it: failed."""
        message = f"internal error: {type(exc).__name__}"
        try:
            with self.db.session() as session:
                target = session.get(PostTarget, job.target_id)
                started = target is not None and target.state in ("uploading", "processing", "publishing")
            return self._unknown(job, message) if started else self._failed(job, ErrorClass.CONFIG.value, message)
        except Exception:  # the database itself is failing: the lease expiry will bring the target back
            log.exception("could not record the failure of target %s", job.target_id)
            return TargetOutcome(job.target_id, job.platform, "claimed", message=message)


def _handles_of(job: _Job) -> dict[str, Any]:
    return _handles(job.handle)


def _clip_media(session: Any, clip: Clip | None) -> ClipMedia | None:
    if clip is None or not clip.media_key:
        return None
    source = session.get(Source, clip.source_id)
    return ClipMedia(
        key=clip.media_key,
        source_id=clip.source_id,
        clip_id=clip.id,
        start_s=float(clip.start_s or 0.0),
        end_s=float(clip.end_s or 0.0),
        source_key=(source.media_key or "") if source is not None else "",
        sha256=clip.sha256 or "",
        recut=any(str(r).startswith(RECUT_REASON) for r in clip.reasons or ()),
    )


def publish_due(
    platform: str,
    *,
    db: Database,
    vault: TokenVault,
    media: MediaStore,
    clients: Callable[[str], PlatformClient],
    now: datetime | None = None,
    worker_id: str,
    max_items: int = 200,
    concurrency: int = 4,
    switches: PublishSwitches | None = None,
    signer: MediaUrlSigner | None = None,
    backoff_s: float = 1.0,
    lease_s: int = 300,
    sleep: Callable[[float], None] | None = None,
    limit_rules: Mapping[str, Sequence[limits.LimitRule]] | None = None,
    policy: RetryPolicy | None = None,
    notify: Callable[..., Any] | None = None,
    linger_s: float = 0.0,
    max_run_s: float = 600.0,
    poll_s: float = 1.0,
    on_outcome: Callable[[TargetOutcome], None] | None = None,
    renditions: Renditions | None = None,
) -> list[TargetOutcome]:
    """Publish every due target of `platform` (see the module docstring). `clients(platform)` is called once per
    run; the caller owns (and closes) the clients it hands out."""
    publisher = Publisher(
        db=db,
        vault=vault,
        media=media,
        clients=clients,
        switches=switches,
        signer=signer,
        backoff_s=backoff_s,
        sleep=sleep,
        limit_rules=limit_rules,
        policy=policy,
        notify=notify,
        renditions=renditions,
    )
    return publisher.publish_due(
        platform,
        now=now,
        worker_id=worker_id,
        max_items=max_items,
        concurrency=concurrency,
        lease_s=lease_s,
        linger_s=linger_s,
        max_run_s=max_run_s,
        poll_s=poll_s,
        on_outcome=on_outcome,
    )
