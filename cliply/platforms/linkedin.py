"""LinkedIn: Videos API (initializeUpload → PUT each part to its own uploadUrl → finalizeUpload with the ETags in
order → poll) and the Posts API (POST /rest/posts; the post URN comes back in the x-restli-id header)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime, time, timedelta
from typing import Any
from urllib.parse import quote

import httpx

from cliply.platforms import oauth
from cliply.platforms.base import (
    PlatformClient,
    Progress,
    caption_candidate,
    json_or_empty,
    parse_timestamp,
    retry_at_from,
)
from cliply.platforms.errors import ErrorClass, PlatformError
from cliply.platforms.models import Credentials, PostMetrics, PostRef, PublishResult, TokenSet, VideoPost, Violation
from cliply.platforms.text import check_length

API = "https://api.linkedin.com"
WWW = "https://www.linkedin.com"
DEFAULT_VERSION = "202610"  # LinkedIn-Version YYYYMM; versions sunset ~1 year after release (options.linkedin_version)
COMMENTARY_MAX = 3000
MIN_BYTES, MAX_BYTES = 75 * 1024, 500 * 1024 * 1024  # ⚠ some pages say 200 MB
ANALYTICS_SCOPE = "r_member_postAnalytics"
ANALYTICS = ("IMPRESSION", "MEMBERS_REACHED", "RESHARE", "REACTION", "COMMENT")
# "little text" reserved characters: unescaped they truncate or reject the commentary.
_RESERVED = re.compile(r"([\\|{}@\[\]()<>#*_~])")
_URN = re.compile(r"urn:li:(?:share|ugcPost):\d+")
_URL_PATTERNS = (
    (re.compile(r"(?i)^https?://(?:www\.)?linkedin\.com/feed/update/(urn:li:(?:activity|share|ugcPost):\d+)"), ""),
    (re.compile(r"(?i)^https?://(?:www\.)?linkedin\.com/posts/[^/]*-activity-(\d+)-"), "urn:li:activity:"),
)


def escape_little_text(text: str) -> str:
    return _RESERVED.sub(r"\\\1", text)


def next_utc_midnight(now: datetime | None = None) -> datetime:
    now = now or datetime.now(UTC)
    return datetime.combine(now.date() + timedelta(days=1), time(0), tzinfo=UTC)


class LinkedInClient(PlatformClient):
    platform = "linkedin"
    required_scopes = ("w_member_social",)
    scopes = ("openid", "profile", "w_member_social", "r_member_postAnalytics")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._refreshable = False  # 401 means "refresh" only for partner apps that hold a refresh token

    # ---- validation / auth ---------------------------------------------------------------------------
    def validate(self, post: VideoPost) -> list[Violation]:
        problems = check_length("commentary", escape_little_text(post.full_caption()), COMMENTARY_MAX, "code_points")
        size = post.video.stat().st_size if post.video.exists() else 0
        if not MIN_BYTES <= size <= MAX_BYTES:
            problems.append(Violation("video", "size (bytes)", size, MAX_BYTES if size else MIN_BYTES))
        return problems

    def oauth_app(self) -> oauth.OAuthApp:
        # Standard apps use no PKCE; refresh tokens exist only for approved partners (modelled by the token reply).
        return oauth.OAuthApp(
            self.platform,
            self.config.client_id,
            self.config.client_secret,
            authorize_url=f"{self.config.host(WWW)}/oauth/v2/authorization",
            token_url=f"{self.config.host(WWW)}/oauth/v2/accessToken",
            scopes=self.scopes,
            pkce=False,
        )

    def credentials_from(self, tokens: TokenSet) -> Credentials:
        creds = super().credentials_from(tokens)
        refresh_ttl = tokens.raw.get("refresh_token_expires_in")
        if refresh_ttl:  # fixed 365-day TTL that refreshing does not extend
            creds.refresh_expires_at = datetime.now(UTC) + timedelta(seconds=float(refresh_ttl))
        if "openid" in creds.scopes:  # the member URN comes from OIDC userinfo (sub)
            info = self._call(creds, "GET", f"{self.config.host(API)}/v2/userinfo").json()
            creds.account_id = str(info["sub"])
            creds.extra["person_urn"] = f"urn:li:person:{info['sub']}"
        return creds

    def _headers(self, creds: Credentials) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {creds.access_token}",
            "X-Restli-Protocol-Version": "2.0.0",
            "LinkedIn-Version": self.config.options.get("linkedin_version", DEFAULT_VERSION),
        }

    def _call(self, creds: Credentials, method: str, url: str, **kw: Any) -> httpx.Response:
        self._refreshable = bool(creds.refresh_token)
        return self.request(method, url, headers={**self._headers(creds), **kw.pop("headers", {})}, **kw)

    def _author(self, creds: Credentials) -> str:
        urn = creds.extra.get("person_urn") or (f"urn:li:person:{creds.account_id}" if creds.account_id else "")
        if not urn:
            raise PlatformError(self.platform, ErrorClass.CONFIG, "no LinkedIn member URN: reconnect with openid")
        return str(creds.extra.get("author_urn") or urn)  # author_urn: an organization page the member admins

    # ---- publish -----------------------------------------------------------------------------------------
    def publish(self, creds: Credentials, post: VideoPost, *, progress: Progress | None = None) -> PublishResult:
        self.ensure_valid(post)
        author, api = self._author(creds), self.config.host(API)
        size = post.video.stat().st_size
        init = self._call(
            creds,
            "POST",
            f"{api}/rest/videos",
            params={"action": "initializeUpload"},
            json={
                "initializeUploadRequest": {
                    "owner": author,
                    "fileSizeBytes": size,
                    "uploadCaptions": False,
                    "uploadThumbnail": False,
                }
            },
        ).json()["value"]
        video = init["video"]
        etags = self._upload_parts(post, init["uploadInstructions"], size, progress)
        self._call(
            creds,
            "POST",
            f"{api}/rest/videos",
            params={"action": "finalizeUpload"},
            json={
                "finalizeUploadRequest": {
                    "video": video,
                    "uploadToken": init.get("uploadToken", ""),
                    "uploadedPartIds": etags,
                }
            },
        )
        self.poll(lambda: self._video_ready(creds, video), what=f"video {video}")
        body = {
            "author": author,
            "commentary": escape_little_text(post.full_caption()),
            "visibility": post.privacy or "PUBLIC",
            "distribution": {
                "feedDistribution": "MAIN_FEED",
                "targetEntities": [],
                "thirdPartyDistributionChannels": [],
            },
            "content": {"media": {"id": video, "title": post.title or post.caption[:100]}},
            "lifecycleState": "PUBLISHED",
            "isReshareDisabledByAuthor": False,
        }
        resp = self._call(creds, "POST", f"{api}/rest/posts", json=body, creates=True)
        urn = resp.headers.get("x-restli-id", "")
        if not urn:
            raise PlatformError(self.platform, ErrorClass.UNKNOWN_OUTCOME, "201 without x-restli-id", status=201)
        return PublishResult(
            self.platform, urn, url=f"https://www.linkedin.com/feed/update/{urn}/", raw={"video": video}
        )

    def _upload_parts(
        self, post: VideoPost, instructions: list[dict[str, Any]], size: int, progress: Progress | None
    ) -> list[str]:
        etags: list[str] = []
        with post.video.open("rb") as fh:
            for ins in instructions:  # each part to ITS uploadUrl (not all to the first, as Postiz does)
                first, last = int(ins["firstByte"]), int(ins["lastByte"])
                fh.seek(first)
                resp = self.request(
                    "PUT",
                    ins["uploadUrl"],
                    content=fh.read(last - first + 1),
                    headers={"Content-Type": "application/octet-stream"},
                    timeout=self.config.upload_timeout_s,
                )
                etag = resp.headers.get("etag")
                if not etag:
                    raise PlatformError(
                        self.platform, ErrorClass.TRANSIENT, "upload part without ETag", status=resp.status_code
                    )
                etags.append(etag)
                if progress:
                    progress((last + 1) / size)
        return etags

    def _video_ready(self, creds: Credentials, video: str) -> bool | None:
        data = self._call(creds, "GET", f"{self.config.host(API)}/rest/videos/{quote(video, safe='')}").json()
        status = data.get("status")
        if status == "AVAILABLE":
            return True
        if status == "PROCESSING_FAILED":
            raise PlatformError(
                self.platform,
                ErrorClass.CONTENT_REJECTED,
                f"video processing failed: {data.get('processingFailureReason', '')}",
                code="PROCESSING_FAILED",
            )
        return None

    # ---- reconciliation / analytics ------------------------------------------------------------------------
    def find_existing(self, creds: Credentials, post: VideoPost) -> PublishResult | None:
        """The author's recent posts with our exact (escaped) commentary, created since the target's first attempt
        and not owned by another target (LinkedIn offers no idempotency handle)."""
        author = self._author(creds)
        resp = self._call(
            creds,
            "GET",
            f"{self.config.host(API)}/rest/posts",
            params={"q": "author", "author": author, "count": "10", "sortBy": "LAST_MODIFIED"},
            headers={"X-RestLi-Method": "FINDER"},
        )
        want = escape_little_text(post.full_caption())
        for el in resp.json().get("elements", []):
            created = el.get("createdAt") if el.get("createdAt") is not None else el.get("publishedAt")  # epoch ms
            if el.get("commentary") == want and caption_candidate(
                post, el.get("id"), parse_timestamp(created, epoch_unit_s=0.001)
            ):
                urn = el["id"]
                return PublishResult(self.platform, urn, url=f"https://www.linkedin.com/feed/update/{urn}/", raw=el)
        return None

    def fetch_metrics(self, creds: Credentials, post_ids: Sequence[str]) -> dict[str, PostMetrics]:
        """memberCreatorPostAnalytics (scope r_member_postAnalytics): one call per post and metric, since the
        endpoint takes a single queryType (IMPRESSION, MEMBERS_REACHED, RESHARE, REACTION, COMMENT): five calls
        per post, no batch. Reported: impressions, reach (members reached), shares (reshares), likes
        (reactions), comments. Not reported: views (video views are organization videoAnalytics), saves, watch
        time → None. A deleted post answers 404 → gone=True. Readable by this account: the member's own posts;
        another member's post answers 403 ACCESS_DENIED and is left out (a missing scope fails before any call)."""
        if creds.scopes and ANALYTICS_SCOPE not in creds.scopes:
            raise PlatformError(
                self.platform, ErrorClass.AUTH_RECONNECT, f"{ANALYTICS_SCOPE} was not granted", code="missing_scope"
            )
        out: dict[str, PostMetrics] = {}
        for urn in dict.fromkeys(post_ids):
            try:
                counts = {q: self._analytics(creds, urn, q) for q in ANALYTICS}
            except PlatformError as exc:
                if exc.status == 404:
                    out[urn] = PostMetrics(urn, gone=True, raw={"error": exc.code})
                    continue
                if exc.status == 403 and creds.scopes:  # the scope is there: this post is not the member's
                    continue
                raise
            out[urn] = PostMetrics(
                urn,
                impressions=counts["IMPRESSION"],
                reach=counts["MEMBERS_REACHED"],
                shares=counts["RESHARE"],
                likes=counts["REACTION"],
                comments=counts["COMMENT"],
                raw=dict(counts),
            )
        return out

    def _analytics(self, creds: Credentials, urn: str, query_type: str) -> int | None:
        kind = urn.split(":")[2]  # share | ugcPost
        entity = f"({kind}:{quote(urn, safe='')})"  # Rest.li 2.0 record syntax, URN percent-encoded inside
        url = (
            f"{self.config.host(API)}/rest/memberCreatorPostAnalytics?q=entity&entity={entity}"
            f"&queryType={query_type}&aggregation=TOTAL"
        )
        counts = [e["count"] for e in self._call(creds, "GET", url).json().get("elements", []) if "count" in e]
        return sum(int(c) for c in counts) if counts else None

    @staticmethod
    def parse_post_url(url: str) -> PostRef | None:
        for pattern, prefix in _URL_PATTERNS:
            m = pattern.search(url.strip())
            if m:
                urn = prefix + m.group(1)
                # An activity id is a different number from the share/ugcPost id: it needs resolution.
                return PostRef("linkedin", urn, id_kind=urn.split(":")[2], needs_resolution="activity" in urn)
        return None

    # ---- errors ----------------------------------------------------------------------------------------------
    def classify(self, response: httpx.Response) -> PlatformError:
        body = json_or_empty(response)
        status = response.status_code
        code = str(body.get("code") or body.get("serviceErrorCode") or status)
        msg = f"{response.request.method} {response.request.url.path}: {status} {code}"

        def err(cls: ErrorClass, **kw: Any) -> PlatformError:
            return PlatformError(self.platform, cls, msg, status=status, code=code, **kw)

        if status == 401:
            return err(ErrorClass.AUTH_REFRESHABLE if self._refreshable else ErrorClass.AUTH_RECONNECT)
        if status == 403:
            return err(ErrorClass.AUTH_RECONNECT)
        if status == 429:
            # Throttles carry Retry-After; the daily member/app limits do not and reset at 00:00 UTC.
            if response.headers.get("retry-after"):
                return err(ErrorClass.RATE_LIMITED, retry_at=retry_at_from(response))
            return err(ErrorClass.QUOTA_EXHAUSTED, retry_at=next_utc_midnight())
        if status == 422:
            existing = _URN.search(str(body.get("message", "")))  # data extraction only, not classification
            return err(ErrorClass.DUPLICATE, details={"existing_post_id": existing.group(0)} if existing else {})
        if status == 426:
            return err(ErrorClass.CONFIG)  # LinkedIn-Version sunset: update options.linkedin_version
        if status >= 500:
            return err(ErrorClass.TRANSIENT)
        return err(ErrorClass.CONTENT_REJECTED)


CLIENT = LinkedInClient
