"""The metrics refresher: fetch the due tracked posts of one platform, batched per account, within the read limits.

Operator level: it works across workspaces (each row it writes keeps its post's workspace). No database transaction
is held across a platform call: posts are leased (next_fetch_at pushed out) in one short transaction, each batch's
limit reservation is committed before its call, and its results are written in another.
"""

from __future__ import annotations

import itertools
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Table, select, update
from sqlalchemy.orm import Session

from cliply.analytics import catalog, derive, forecast, read_limits
from cliply.analytics.tiers import TierPolicy, interval, tier_for, top_decile_threshold
from cliply.analytics.tracking import append_snapshot, due_posts, posts_by_id
from cliply.platforms.base import PlatformClient
from cliply.platforms.errors import ErrorClass, PlatformError
from cliply.platforms.models import Credentials, PostMetrics
from cliply.publishing.publisher import REFRESH_AHEAD, UNUSABLE_ACCOUNT
from cliply.security.vault import VaultError
from cliply.store.accounts import AccountDisconnected, AccountsRepo
from cliply.store.models import Workspace, utcnow
from cliply.store.models_analytics import MetricForecast, MetricSnapshot, TrackedPost
from cliply.store.repo import WorkspaceScope, _dialect_insert

if TYPE_CHECKING:
    from cliply.wiring import Cliply

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=10)  # a selected post is not selected again meanwhile (a crashed run retries after this)
HISTORY = timedelta(days=7)  # snapshots read back for velocity, forecasts and forecast actuals
MAX_BACKOFF = timedelta(days=7)
MISSING_GONE_AFTER = timedelta(days=2)  # a post no answer has listed for this long is treated as deleted
FIRST_BACKOFF = timedelta(minutes=15)
# Errors that concern the account, not one batch: the account's other batches are not tried in this run.
ACCOUNT_ERRORS = frozenset({ErrorClass.AUTH_RECONNECT, ErrorClass.CONFIG, ErrorClass.RATE_LIMITED})


@dataclass
class RefreshReport:
    platform: str
    due: int = 0  # posts selected
    fetched: int = 0  # posts the platform answered for (snapshots + gone)
    snapshots: int = 0
    failures: int = 0  # posts whose fetch failed (recorded on the post)
    gone: int = 0
    deferred: int = 0  # posts held back by a full read window or a post due to publish (not failures)
    calls: int = 0  # platform requests made

    def add(self, other: RefreshReport) -> None:
        for f in fields(self):
            if f.name != "platform":
                setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))


@dataclass(frozen=True)
class _Item:
    """A tracked post as a fetch needs it: plain data, so no ORM object outlives its session."""

    id: int
    workspace_id: int
    platform: str
    platform_post_id: str
    account_id: int | None


class _Unreadable(Exception):
    """The account (or API key) cannot be read with: every post of the group fails with this class."""

    def __init__(self, error_class: ErrorClass, message: str, retry_at: datetime | None = None) -> None:
        super().__init__(message)
        self.error_class = error_class
        self.message = message
        self.retry_at = retry_at


def _chunks(items: Sequence[_Item], size: int) -> Iterator[list[_Item]]:
    it = iter(items)
    while chunk := list(itertools.islice(it, size)):
        yield chunk


def backoff(failures: int, base: timedelta | None) -> timedelta:
    """How long after the n-th consecutive failure the post is tried again: the tier's interval, doubled per
    failure, at most a week."""
    step = max(base or FIRST_BACKOFF, FIRST_BACKOFF)
    return min(step * (2 ** min(max(failures - 1, 0), 10)), MAX_BACKOFF)


class Refresher:
    """Refresh tracked posts' metrics. `now` is injectable (tests advance it with the sandbox clock)."""

    def __init__(self, app: Cliply, now: Callable[[], datetime] = utcnow) -> None:
        self.app = app
        self.now = now
        self.policy = TierPolicy.from_settings(app.settings)
        self.rules = read_limits.rules_from_settings(app.settings)
        self._thresholds: dict[int, float | None] = {}

    # ---- entry points ----------------------------------------------------------------------------------------------
    def refresh(self, platform: str, *, day: date | None = None, every: bool = False) -> RefreshReport:
        """Fetch `platform`'s due posts (every=True: all active posts, a back-fill), of publish day `day` if given."""
        if not self.app.settings.analytics_enabled:
            return RefreshReport(platform)
        now = self.now()
        with self.app.db.session() as session:
            items = self._lease(session, due_posts(session, platform, now, day=day, every=every), now)
        return self._run(platform, items, now)

    def fetch_now(self, tracked_post_ids: list[int]) -> RefreshReport:
        """Fetch the given posts at once, whatever their tier (e.g. right after `cliply track`)."""
        platforms = "mixed"
        if not self.app.settings.analytics_enabled:
            return RefreshReport(platforms)
        now = self.now()
        with self.app.db.session() as session:
            posts = [p for p in posts_by_id(session, tracked_post_ids) if p.status == "active"]
            items = self._lease(session, posts, now)
        by_platform: dict[str, list[_Item]] = defaultdict(list)
        for item in items:
            by_platform[item.platform].append(item)
        report = RefreshReport(next(iter(by_platform)) if len(by_platform) == 1 else platforms)
        for platform, group in by_platform.items():
            report.add(self._run(platform, group, now))
        return report

    # ---- the run ---------------------------------------------------------------------------------------------------
    def _lease(self, session: Session, posts: Sequence[TrackedPost], now: datetime) -> list[_Item]:
        for post in posts:
            post.next_fetch_at = now + LEASE
        session.flush()
        return [_Item(p.id, p.workspace_id, p.platform, p.platform_post_id, p.account_id) for p in posts]

    def _run(self, platform: str, items: list[_Item], now: datetime) -> RefreshReport:
        report = RefreshReport(platform, due=len(items))
        if not items:
            return report
        groups: dict[int | None, list[_Item]] = defaultdict(list)
        for item in items:
            groups[item.account_id].append(item)
        with self.app.db.session() as session:
            busy = read_limits.publishing_due(session, [a for a in groups if a is not None], now)
            self._thresholds = _thresholds(session, {i.workspace_id for i in items})
        client = self.app.clients(platform)
        try:
            for account_id, group in groups.items():
                if account_id in busy:  # publishing first: read this account once its due posts are out
                    self._defer(group, busy[account_id], report)
                    continue
                self._account(client, platform, account_id, group, now, report)
        finally:
            client.close()
        return report

    def _account(
        self,
        client: PlatformClient,
        platform: str,
        account_id: int | None,
        group: list[_Item],
        now: datetime,
        report: RefreshReport,
    ) -> None:
        try:
            reader = self._reader(client, platform, account_id, group[0].workspace_id)
        except _Unreadable as exc:
            self._failed(group, exc.error_class.value, exc.message, now, report, exc.retry_at)
            return
        batches = list(_chunks(group, catalog.batch_size(platform)))
        for n, batch in enumerate(batches):
            rest = [i for b in batches[n:] for i in b]
            try:
                answer = self._fetch(client, reader, platform, account_id, batch, now, report)
            except _Deferred as deferred:
                self._defer(rest, deferred.until, report)
                return
            except _Unreadable as exc:  # the token could not be refreshed: nothing more to read with it
                self._failed(rest, exc.error_class.value, exc.message, now, report, exc.retry_at)
                return
            except PlatformError as exc:
                whole = exc.error_class in ACCOUNT_ERRORS
                self._failed(rest if whole else batch, exc.error_class.value, exc.message, now, report, exc.retry_at)
                if whole:
                    return
                continue
            except Exception as exc:  # a client bug or an unclassified answer: one batch, not the whole run
                log.exception("metrics fetch of %d %s posts failed unexpectedly", len(batch), platform)
                self._failed(batch, ErrorClass.TRANSIENT.value, f"unexpected {type(exc).__name__}", now, report)
                continue
            self._store(batch, answer, now, report)

    def _fetch(
        self,
        client: PlatformClient,
        reader: _Reader,
        platform: str,
        account_id: int | None,
        batch: list[_Item],
        now: datetime,
        report: RefreshReport,
    ) -> dict[str, PostMetrics]:
        ids = list(dict.fromkeys(i.platform_post_id for i in batch))
        for attempt in (1, 2):
            self._reserve(platform, account_id, len(ids), now, report)
            try:
                return reader.fetch(ids)
            except PlatformError as exc:
                if exc.error_class is not ErrorClass.AUTH_REFRESHABLE or attempt == 2 or not reader.can_refresh:
                    raise
                reader.refresh(rejected=True)
        raise AssertionError("unreachable")

    def _reserve(self, platform: str, account_id: int | None, n_ids: int, now: datetime, report: RefreshReport) -> None:
        calls = catalog.calls_for(platform, n_ids)
        with self.app.db.session() as session:
            until = read_limits.reserve_calls(session, platform, account_id, now, calls, rules=self.rules)
        if until is not None:
            raise _Deferred(until)
        report.calls += calls

    # ---- credentials -----------------------------------------------------------------------------------------------
    def _reader(self, client: PlatformClient, platform: str, account_id: int | None, workspace_id: int) -> _Reader:
        if account_id is None:
            return self._keyless(client, platform)
        reader = _Reader(self, client, platform, account_id, workspace_id)
        reader.load()
        # Token lifetimes run on the wall clock, not the scheduler's `now`.
        expires = reader.creds.expires_at if reader.creds else None
        if expires is not None and expires - REFRESH_AHEAD <= datetime.now(UTC):
            reader.refresh(rejected=False)
        return reader

    def _keyless(self, client: PlatformClient, platform: str) -> _Reader:
        """Posts read without a connected account: YouTube public videos with the API key; Bluesky's public
        AppView needs no credentials at all."""
        if platform == "bluesky":
            return _Reader(self, client, platform, None, None, creds=Credentials(access_token=""))
        if platform == "youtube":
            key = self.app.settings.youtube_api_key.get_secret_value()
            if not key:
                raise _Unreadable(ErrorClass.CONFIG, "no connected YouTube channel and no YouTube API key set")
            if not hasattr(client, "fetch_metrics_with_key"):
                raise _Unreadable(ErrorClass.CONFIG, "this YouTube client cannot read with an API key")
            return _Reader(self, client, platform, None, None, api_key=key)
        raise _Unreadable(ErrorClass.CONFIG, f"no connected {platform} account can read this post: connect one")

    # ---- writing outcomes ------------------------------------------------------------------------------------------
    def _store(self, batch: list[_Item], answer: dict[str, PostMetrics], now: datetime, report: RefreshReport) -> None:
        with self.app.db.session() as session:
            posts = {
                p.id: p for p in session.scalars(select(TrackedPost).where(TrackedPost.id.in_([i.id for i in batch])))
            }
            history = _history(session, list(posts), now)
            for item in batch:
                post = posts.get(item.id)
                if post is None:  # removed while we fetched
                    continue
                post.last_attempt_at = now
                metrics = answer.get(item.platform_post_id)
                if metrics is None and now - (post.last_fetched_at or post.tracked_at) >= MISSING_GONE_AFTER:
                    # Some platforms (TikTok) only stop listing a deleted post: missing this long counts as gone.
                    post.status, post.gone_at, post.next_fetch_at = "gone", now, None
                    post.last_error = f"not returned by the platform for {MISSING_GONE_AFTER.days} days"
                    report.gone += 1
                elif metrics is None:  # no numbers this time (not ready yet): not a failure, try next interval
                    self._schedule(post, now)
                elif metrics.gone:
                    post.status, post.gone_at, post.next_fetch_at = "gone", now, None
                    report.fetched += 1
                    report.gone += 1
                else:
                    self._snapshot(session, post, metrics, history[post.id], now)
                    report.fetched += 1
                    report.snapshots += 1
            session.flush()

    def _snapshot(
        self, session: Session, post: TrackedPost, metrics: PostMetrics, history: list[Any], now: datetime
    ) -> None:
        history.append(append_snapshot(session, post, metrics, now))
        post.last_fetched_at = now
        post.consecutive_failures = 0
        post.last_error_class = post.last_error = None
        if catalog.reports(post.platform, "views"):
            # Too little history for a velocity keeps the last known one (a promotion is not lost on a gap).
            post.velocity = derive.velocity(history) or post.velocity
            _forecasts(session, post, history, now)
        self._schedule(post, now)

    def _schedule(self, post: TrackedPost, now: datetime) -> None:
        threshold = self._thresholds.get(post.workspace_id)
        top = threshold is not None and post.velocity is not None and post.velocity >= threshold
        post.tier = tier_for(max(now - post.published_at, timedelta(0)), top_decile=top, policy=self.policy)
        every = interval(post.tier, self.policy)
        post.next_fetch_at = None if every is None else now + every

    def _failed(
        self,
        items: Iterable[_Item],
        error_class: str,
        message: str,
        now: datetime,
        report: RefreshReport,
        retry_at: datetime | None = None,
    ) -> None:
        ids = [i.id for i in items]
        with self.app.db.session() as session:
            for post in session.scalars(select(TrackedPost).where(TrackedPost.id.in_(ids))):
                post.last_attempt_at = now
                post.consecutive_failures = (post.consecutive_failures or 0) + 1
                post.last_error_class = error_class
                post.last_error = message[:2000]
                later = now + backoff(post.consecutive_failures, interval(post.tier, self.policy))
                post.next_fetch_at = max(later, retry_at) if retry_at is not None else later
                report.failures += 1
        log.info("metrics fetch failed for %d posts: %s: %s", len(ids), error_class, message)

    def _defer(self, items: Sequence[_Item], until: datetime, report: RefreshReport) -> None:
        with self.app.db.session() as session:
            session.execute(
                update(TrackedPost).where(TrackedPost.id.in_([i.id for i in items])).values(next_fetch_at=until)
            )
        report.deferred += len(items)


class _Deferred(Exception):
    def __init__(self, until: datetime) -> None:
        super().__init__(f"read window full until {until.isoformat()}")
        self.until = until


class _Reader:
    """How one group of posts is read: an account's (refreshable) credentials, or an API key, or nothing."""

    def __init__(
        self,
        refresher: Refresher,
        client: PlatformClient,
        platform: str,
        account_id: int | None,
        workspace_id: int | None,
        *,
        creds: Credentials | None = None,
        api_key: str | None = None,
    ) -> None:
        self.app = refresher.app
        self.client = client
        self.platform = platform
        self.account_id = account_id
        self.workspace_id = workspace_id
        self.creds = creds
        self.api_key = api_key

    @property
    def can_refresh(self) -> bool:
        return self.account_id is not None

    def fetch(self, ids: list[str]) -> dict[str, PostMetrics]:
        if self.api_key is not None:
            return cast(dict[str, PostMetrics], self.client.fetch_metrics_with_key(self.api_key, ids))  # type: ignore[attr-defined]
        assert self.creds is not None
        return self.client.fetch_metrics(self.creds, ids)

    def _repo(self, session: Session) -> AccountsRepo:
        workspace = session.get(Workspace, self.workspace_id)
        assert workspace is not None
        return AccountsRepo(WorkspaceScope(session, workspace), self.app.vault)

    def load(self) -> Credentials:
        with self.app.db.session() as session:
            repo = self._repo(session)
            account = repo.get(cast(int, self.account_id))
            if account is None:
                raise _Unreadable(ErrorClass.CONFIG, f"the {self.platform} account no longer exists")
            if account.status in UNUSABLE_ACCOUNT:
                raise _Unreadable(
                    ErrorClass.AUTH_RECONNECT, f"the {self.platform} account is {account.status}: reconnect it"
                )
            try:
                self.creds = repo.credentials(account)
            except (AccountDisconnected, VaultError) as exc:
                raise _Unreadable(ErrorClass.AUTH_RECONNECT, str(exc)) from None
        return self.creds

    def refresh(self, *, rejected: bool) -> None:
        """Refresh the access token and store it (rotated refresh tokens included), as the publisher does. If the
        stored token changed meanwhile (the publisher or the token schedule refreshed it), use that one instead of
        spending a single-use refresh token twice."""
        old = self.creds
        stored = self.load()
        if old is not None and stored.access_token != old.access_token:
            return
        try:
            fresh = self.client.refresh(stored)
        except PlatformError as exc:
            if exc.error_class is ErrorClass.AUTH_RECONNECT:
                with self.app.db.session() as session:
                    self._repo(session).set_status(cast(int, self.account_id), "reauth_required", exc.message)
                raise _Unreadable(ErrorClass.AUTH_RECONNECT, exc.message) from None
            if rejected:
                raise
            return  # a proactive refresh that failed transiently: the token is still valid for now
        try:
            with self.app.db.session() as session:
                self._repo(session).store_refreshed(cast(int, self.account_id), fresh)
        except (AccountDisconnected, ValueError) as exc:  # disconnected meanwhile, or the token is for someone else
            raise _Unreadable(ErrorClass.AUTH_RECONNECT, str(exc)) from None
        self.creds = fresh


# ---- helpers over many posts (one query each) ------------------------------------------------------------------------


def _thresholds(session: Session, workspace_ids: set[int]) -> dict[int, float | None]:
    """Per workspace: the velocity that puts an active post in the top decile (None: no decile yet)."""
    rows = session.execute(
        select(TrackedPost.workspace_id, TrackedPost.velocity).where(
            TrackedPost.workspace_id.in_(list(workspace_ids)), TrackedPost.status == "active"
        )
    )
    velocities: dict[int, list[float]] = defaultdict(list)
    for workspace_id, velocity in rows:
        velocities[workspace_id].append(velocity or 0.0)
    return {ws: top_decile_threshold(v) for ws, v in velocities.items()}


def _history(session: Session, post_ids: list[int], now: datetime) -> dict[int, list[Any]]:
    out: dict[int, list[Any]] = {pid: [] for pid in post_ids}
    rows = session.scalars(
        select(MetricSnapshot)
        .where(MetricSnapshot.tracked_post_id.in_(post_ids), MetricSnapshot.fetched_at >= now - HISTORY)
        .order_by(MetricSnapshot.tracked_post_id, MetricSnapshot.fetched_at, MetricSnapshot.id)
    )
    for snap in rows:
        out[snap.tracked_post_id].append(snap)
    return out


def _forecasts(session: Session, post: TrackedPost, history: list[Any], now: datetime) -> None:
    """Fill in the actual views of this post's earlier forecasts whose time has come, then forecast again."""
    pending = session.scalars(
        select(MetricForecast).where(
            MetricForecast.tracked_post_id == post.id,
            MetricForecast.actual.is_(None),
            MetricForecast.target_at <= now,
        )
    )
    for old in pending:
        actual = forecast.interpolate_views(history, old.target_at)
        if actual is not None:
            old.actual = actual
    made = forecast.forecast(history, now, published_at=post.published_at)
    if isinstance(made, forecast.NoForecast) or not made:
        return
    table = cast(Table, MetricForecast.__table__)
    rows = [
        {
            "tracked_post_id": post.id,
            "workspace_id": post.workspace_id,
            "platform": post.platform,
            "model": f.model,
            "made_at": now,
            "horizon_h": round(f.horizon_h),
            "target_at": f.target_at,
            "predicted": f.predicted,
            "low": f.low,
            "high": f.high,
        }
        for f in made
    ]
    stmt = _dialect_insert(session)(table).values(rows)
    session.execute(stmt.on_conflict_do_nothing(index_elements=["tracked_post_id", "made_at", "horizon_h"]))
