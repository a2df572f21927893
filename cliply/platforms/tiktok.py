"""TikTok Content Posting API v2: creator_info → init (direct post or inbox/draft) → chunked PUT (or PULL_FROM_URL)
→ status/fetch polling; Display API video/query for metrics and video/list for reconciliation; OAuth v2 with
client_key, comma-separated scopes, PKCE and rotating refresh tokens."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

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
from cliply.platforms.urls import web_url

API = "https://open.tiktokapis.com"
AUTH = "https://www.tiktok.com"
MB = 1024 * 1024
MIN_CHUNK, MAX_CHUNK, MAX_CHUNKS = 5 * MB, 64 * MB, 1000
DEFAULT_CHUNK = 10 * MB  # used only when a file is too big for one chunk (as Postiz does)
MAX_VIDEO_BYTES = 4 * 1024 * MB
MAX_CAPTION_UTF16 = 2200
MIN_DURATION_S = 3.0
PRIVACY_LEVELS = ("PUBLIC_TO_EVERYONE", "MUTUAL_FOLLOW_FRIENDS", "FOLLOWER_OF_CREATOR", "SELF_ONLY")
METRIC_FIELDS = "id,create_time,like_count,comment_count,share_count,view_count"  # create_time: age of a tracked URL
QUERY_BATCH = 20

_REFRESHABLE = {"access_token_invalid"}
_RECONNECT = {
    "scope_not_authorized",
    "scope_permission_missed",
    "auth_removed",
    "token_not_authorized_for_specified_scope",
}
_RATE = {"rate_limit_exceeded"}
_QUOTA = {
    "spam_risk_too_many_posts",
    "spam_risk_too_many_pending_share",
    "spam_risk_user_banned_from_posting",
    "reached_active_user_cap",
    "spam_risk",
}
_MEDIA = {"video_pull_failed", "photo_pull_failed"}
_CONFIG = {
    "url_ownership_unverified",
    "unaudited_client_can_only_post_to_private_accounts",
    "invalid_client",
    "client_key_invalid",
}
_TRANSIENT = {"internal_error", "internal"}
_QUOTA_DEFAULT_S = 24 * 3600.0  # creator/app caps are daily and TikTok sends no reset time
_RATE_DEFAULT_S = 60.0  # the windows are per minute

_POST_URL = re.compile(r"^/@([A-Za-z0-9._-]+)/(video|photo)/(\d{1,20})/?$")
_EMBED_URL = re.compile(r"^/(?:embed(?:/v2)?|player/v1)/(\d{1,20})/?$")
_SHORT_PATH = re.compile(r"^/t/([A-Za-z0-9]+)/?$")
_SHORT_CODE = re.compile(r"^/([A-Za-z0-9]+)/?$")
_HOSTS = {"tiktok.com", "www.tiktok.com", "m.tiktok.com"}
_SHORT_HOSTS = {"vm.tiktok.com", "vt.tiktok.com"}


def error_class_for(code: str, status: int | None = None) -> ErrorClass:
    """One TikTok error code or fail_reason → Cliply class (codes first, HTTP status only as the fallback)."""
    if code in _REFRESHABLE:
        return ErrorClass.AUTH_REFRESHABLE
    if code in _RECONNECT:
        return ErrorClass.AUTH_RECONNECT
    if code in _RATE:
        return ErrorClass.RATE_LIMITED
    if code in _QUOTA:
        return ErrorClass.QUOTA_EXHAUSTED
    if code in _MEDIA:
        return ErrorClass.MEDIA_FETCH_FAILED
    if code in _CONFIG:
        return ErrorClass.CONFIG
    if code in _TRANSIENT:
        return ErrorClass.TRANSIENT
    if code and code != "ok":  # invalid_params, invalid_file_upload, *_check_failed, spam_risk_text, …
        return ErrorClass.CONTENT_REJECTED
    if status == 401:
        return ErrorClass.AUTH_REFRESHABLE
    if status == 429:
        return ErrorClass.RATE_LIMITED
    if status is None or status >= 500 or status in (404, 408, 410):  # 404/410: upload URL expired → init again
        return ErrorClass.TRANSIENT
    return ErrorClass.CONTENT_REJECTED


def post_url(video_id: str, handle: str = "") -> str:
    return f"https://www.tiktok.com/@{handle}/video/{video_id}"  # TikTok resolves "/@/video/<id>" without a handle


def chunk_plan(size: int, preferred: int = 0) -> tuple[int, int]:
    """(chunk_size, total_chunk_count) by TikTok's rules: < 5 MB or one chunk ≤ 64 MB whole; else 5–64 MB chunks,
    count = floor(size / chunk) and the last chunk takes the remainder (so it stays < 128 MB)."""
    if size < MIN_CHUNK:
        return size, 1
    chunk = min(max(preferred, MIN_CHUNK), MAX_CHUNK) if preferred else 0
    if (not chunk and size <= MAX_CHUNK) or (chunk and size < 2 * chunk and size <= MAX_CHUNK):
        return size, 1
    chunk = chunk or DEFAULT_CHUNK
    while size // chunk > MAX_CHUNKS:  # very large files: grow the chunk to stay within 1,000 chunks
        chunk = min(MAX_CHUNK, chunk * 2)
    return chunk, size // chunk


def _size(post: VideoPost) -> int:
    return post.video.stat().st_size


class TikTokClient(PlatformClient):
    platform = "tiktok"
    scopes = ("user.info.basic", "video.publish", "video.upload", "video.list")
    required_scopes = ("user.info.basic", "video.publish", "video.list")  # video.upload only for inbox mode

    # ---- validation -------------------------------------------------------------------------------------
    def validate(self, post: VideoPost) -> list[Violation]:
        problems = check_length("caption", post.full_caption(), MAX_CAPTION_UTF16, "utf16")
        mode = post.options.get("mode", "direct")
        if mode not in ("direct", "inbox"):
            problems.append(Violation("options.mode", "mode must be direct or inbox", 0, 0))
        if mode == "direct":
            if post.privacy not in PRIVACY_LEVELS:  # no default: the user must choose (audit guidelines)
                problems.append(Violation("privacy", "privacy level chosen from the creator's options", 0, 1))
            if post.options.get("brand_content_toggle") and post.privacy == "SELF_ONLY":
                problems.append(Violation("privacy", "branded content cannot be SELF_ONLY", 1, 0))
        if post.cover_time_s is not None and post.cover_time_s < 0:
            problems.append(Violation("cover_time_s", "cover timestamp must be >= 0", int(post.cover_time_s), 0))
        if post.options.get("source") == "url":
            if not post.video_url.startswith("https://"):
                problems.append(Violation("video_url", "PULL_FROM_URL needs a public https URL", 0, 1))
        elif post.video.exists():
            size = post.video.stat().st_size
            problems += [Violation("video", "size (bytes)", size, MAX_VIDEO_BYTES)] if size > MAX_VIDEO_BYTES else []
            if size == 0:
                problems.append(Violation("video", "size (bytes)", 0, 1))
        return problems

    # ---- OAuth --------------------------------------------------------------------------------------------
    def oauth_app(self) -> oauth.OAuthApp:
        return oauth.OAuthApp(
            platform=self.platform,
            client_id=self.config.client_id,
            client_secret=self.config.client_secret,
            authorize_url=self.config.host(AUTH) + "/v2/auth/authorize/",
            token_url=self.config.host(API) + "/v2/oauth/token/",
            scopes=self.scopes,
            scope_separator=",",
            pkce=True,
            client_id_param="client_key",
        )

    def credentials_from(self, tokens: TokenSet) -> Credentials:
        creds = super().credentials_from(tokens)
        refresh_in = tokens.raw.get("refresh_expires_in")
        refresh_at = datetime.now(UTC) + timedelta(seconds=float(refresh_in)) if refresh_in else None
        return replace(
            creds,
            account_id=str(tokens.raw.get("open_id", "")),
            refresh_expires_at=refresh_at,
            extra={"open_id": tokens.raw.get("open_id", "")},
        )

    # ---- HTTP ---------------------------------------------------------------------------------------------
    def classify(self, response: httpx.Response) -> PlatformError:
        body = json_or_empty(response)
        raw_err = body.get("error")
        err = raw_err if isinstance(raw_err, dict) else {}
        code = str(err.get("code") or "")
        cls = error_class_for(code, response.status_code)
        retry_at = None
        if cls is ErrorClass.RATE_LIMITED:
            retry_at = retry_at_from(response, _RATE_DEFAULT_S)
        elif cls is ErrorClass.QUOTA_EXHAUSTED:
            retry_at = retry_at_from(response, _QUOTA_DEFAULT_S)
        elif cls is ErrorClass.TRANSIENT:
            retry_at = retry_at_from(response)
        return PlatformError(
            self.platform,
            cls,
            f"HTTP {response.status_code} {code or 'error'}",
            status=response.status_code,
            code=code or None,
            retry_at=retry_at,
            details={"log_id": err.get("log_id")} if err.get("log_id") else {},
        )

    def _api(
        self,
        creds: Credentials,
        path: str,
        body: Mapping[str, Any],
        *,
        creates: bool = False,
        params: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        resp = self.request(
            "POST",
            self.config.host(API) + path,
            creates=creates,
            json=dict(body),
            params=params,
            headers={
                "Authorization": f"Bearer {creds.access_token}",
                "Content-Type": "application/json; charset=UTF-8",
            },
        )
        payload = json_or_empty(resp)
        err = payload.get("error") or {}
        if isinstance(err, dict) and err.get("code") not in (None, "", "ok"):  # an error inside a 2xx envelope
            raise self.classify(resp)
        data = payload.get("data")
        return data if isinstance(data, dict) else {}

    # ---- publishing -----------------------------------------------------------------------------------------
    def creator_info(self, creds: Credentials) -> dict[str, Any]:
        return self._api(creds, "/v2/post/publish/creator_info/query/", {})

    def publish(self, creds: Credentials, post: VideoPost, *, progress: Progress | None = None) -> PublishResult:
        self.ensure_valid(post)
        mode = post.options.get("mode", "direct")
        by_url = post.options.get("source") == "url"
        size = 0 if by_url else post.video.stat().st_size
        body: dict[str, Any] = {"source_info": self._source_info(post, size)}
        handle = ""
        if mode == "direct":
            creator = self.creator_info(creds)
            handle = str(creator.get("creator_username") or "")
            body["post_info"] = self._post_info(post, creator)
            path = "/v2/post/publish/video/init/"
        else:
            path = "/v2/post/publish/inbox/video/init/"
        data = self._api(creds, path, body, creates=True)
        publish_id = str(data.get("publish_id", ""))
        if not publish_id:
            raise PlatformError(self.platform, ErrorClass.TRANSIENT, "init returned no publish_id", code="no_id")
        try:
            if not by_url:
                self._upload(str(data.get("upload_url", "")), post, body["source_info"], progress)
            result = self._wait(creds, publish_id, post, handle)
        except PlatformError as exc:
            exc.details.setdefault("publish_id", publish_id)  # the reconciliation handle for find_existing
            raise
        if progress:
            progress(1.0)
        return result

    def _source_info(self, post: VideoPost, size: int) -> dict[str, Any]:
        if post.options.get("source") == "url":
            return {"source": "PULL_FROM_URL", "video_url": post.video_url}
        chunk, count = chunk_plan(size, self.config.chunk_size)
        return {"source": "FILE_UPLOAD", "video_size": size, "chunk_size": chunk, "total_chunk_count": count}

    def _post_info(self, post: VideoPost, creator: Mapping[str, Any]) -> dict[str, Any]:
        options = creator.get("privacy_level_options") or []
        if post.privacy not in options:
            raise PlatformError(
                self.platform,
                ErrorClass.CONTENT_REJECTED,
                f"privacy {post.privacy!r} is not offered to this creator ({', '.join(options)})",
                code="privacy_level_option_mismatch",
            )
        max_s = creator.get("max_video_post_duration_sec")
        duration = self._duration(post)
        if duration is not None and max_s and duration > float(max_s):
            raise PlatformError(
                self.platform,
                ErrorClass.CONTENT_REJECTED,
                f"clip is {duration:.1f} s, this creator may post up to {max_s} s",
                code="duration_check_failed",
            )
        if duration is not None and duration < MIN_DURATION_S:
            raise PlatformError(
                self.platform,
                ErrorClass.CONTENT_REJECTED,
                f"clip is {duration:.1f} s, minimum 3 s",
                code="duration_check_failed",
            )
        opts = post.options
        info: dict[str, Any] = {
            "title": post.full_caption(),
            "privacy_level": post.privacy,
            # Interaction toggles default to allowed, but whatever the creator disabled stays disabled.
            "disable_comment": bool(opts.get("disable_comment") or creator.get("comment_disabled")),
            "disable_duet": bool(opts.get("disable_duet") or creator.get("duet_disabled")),
            "disable_stitch": bool(opts.get("disable_stitch") or creator.get("stitch_disabled")),
            "brand_content_toggle": bool(opts.get("brand_content_toggle", False)),
            "brand_organic_toggle": bool(opts.get("brand_organic_toggle", False)),
            "is_aigc": bool(opts.get("is_aigc", False)),
        }
        if post.cover_time_s is not None:
            info["video_cover_timestamp_ms"] = int(post.cover_time_s * 1000)
        return info

    @staticmethod
    def _duration(post: VideoPost) -> float | None:
        if post.options.get("source") == "url" or not post.video.exists():
            return None
        from cliply.media.probe import ProbeError, probe

        try:
            return probe(post.video).duration or None
        except ProbeError:
            return None

    def _upload(self, url: str, post: VideoPost, source: Mapping[str, Any], progress: Progress | None) -> None:
        if not url:
            raise PlatformError(self.platform, ErrorClass.TRANSIENT, "init returned no upload_url", code="no_url")
        size, chunk, count = source["video_size"], source["chunk_size"], source["total_chunk_count"]
        with post.video.open("rb") as fh:
            for index in range(count):
                first = index * chunk
                length = size - first if index == count - 1 else chunk  # the last chunk takes the remainder
                data = fh.read(length)
                headers = {
                    "Content-Type": "video/mp4",
                    "Content-Length": str(length),
                    "Content-Range": f"bytes {first}-{first + length - 1}/{size}",
                }
                # The final chunk commits the post: a lost answer there is an unknown outcome.
                self.request(
                    "PUT",
                    url,
                    content=data,
                    headers=headers,
                    creates=index == count - 1,
                    timeout=self.config.upload_timeout_s,
                )
                if progress:
                    progress(0.9 * (first + length) / size)

    def _wait(self, creds: Credentials, publish_id: str, post: VideoPost, handle: str) -> PublishResult:
        last: dict[str, Any] = {}
        private = post.privacy == "SELF_ONLY"

        def check() -> PublishResult | None:
            data = self.fetch_status(creds, publish_id)
            last.clear()
            last.update(data)
            return self._result(publish_id, data, private=private, final=False, handle=handle)

        try:
            return self.poll(check, what=f"publish {publish_id}")
        except PlatformError as exc:
            if exc.code == "processing_timeout" and last.get("status") == "PUBLISH_COMPLETE":
                # Published, still in moderation: the public id comes later (find_existing with the publish_id).
                return PublishResult(self.platform, "", status="processing", raw={"publish_id": publish_id, **last})
            raise

    def fetch_status(self, creds: Credentials, publish_id: str) -> dict[str, Any]:
        return self._api(creds, "/v2/post/publish/status/fetch/", {"publish_id": publish_id})

    def _result(
        self, publish_id: str, data: Mapping[str, Any], *, private: bool, final: bool, handle: str = ""
    ) -> PublishResult | None:
        status = data.get("status")
        raw = {"publish_id": publish_id, **data}
        if status == "FAILED":
            reason = str(data.get("fail_reason") or "")
            raise PlatformError(
                self.platform,
                error_class_for(reason or "internal"),
                f"publish failed ({reason})",
                code=reason or None,
                details={"publish_id": publish_id},
            )
        if status == "SEND_TO_USER_INBOX":
            return PublishResult(self.platform, "", status="inbox", raw=raw)
        if status == "PUBLISH_COMPLETE":
            ids = [str(i) for i in data.get("publicaly_available_post_id") or []]
            if ids:
                return PublishResult(self.platform, ids[0], url=post_url(ids[0], handle), raw=raw)
            if private or final:  # private posts never get a public id
                return PublishResult(self.platform, "", status="published" if private else "processing", raw=raw)
        return None

    # ---- reconciliation -------------------------------------------------------------------------------------
    def find_existing(self, creds: Credentials, post: VideoPost) -> PublishResult | None:
        """With a publish_id (PlatformError.details → post.options["publish_id"]): status/fetch. Without one (the
        init answer was lost): a FILE_UPLOAD init without its upload never posts, so only the creator's recent
        videos (video/list) can show a post — matched on the exact caption, created since the target's first attempt
        and not owned by another target."""
        publish_id = post.options.get("publish_id")
        if publish_id:
            try:
                data = self.fetch_status(creds, str(publish_id))
            except PlatformError as exc:
                if exc.error_class is ErrorClass.CONTENT_REJECTED:  # unknown publish_id: nothing was created
                    return None
                raise
            status = data.get("status")
            if status == "FAILED":
                return None
            pushed = post.options.get("source") != "url" and post.video.exists()
            if status == "PROCESSING_UPLOAD" and pushed and int(data.get("uploaded_bytes") or 0) < _size(post):
                return None  # the bytes never all arrived: TikTok will not post it
            found = self._result(str(publish_id), data, private=post.privacy == "SELF_ONLY", final=True)
            return found or PublishResult(
                self.platform, "", status="processing", raw={"publish_id": str(publish_id), **data}
            )
        if post.options.get("mode", "direct") == "inbox":
            return None  # drafts are not listed anywhere
        data = self._api(creds, "/v2/video/list/", {"max_count": 20}, params={"fields": "id,title,create_time"})
        caption = post.full_caption()
        for video in data.get("videos") or []:
            vid, created = str(video.get("id")), parse_timestamp(video.get("create_time"))  # epoch seconds
            if video.get("title") == caption and caption_candidate(post, vid, created):
                return PublishResult(self.platform, vid, url=post_url(vid), raw={"reconciled": "video_list", **video})
        return None

    # ---- analytics --------------------------------------------------------------------------------------------
    def fetch_metrics(self, creds: Credentials, post_ids: Sequence[str]) -> dict[str, PostMetrics]:
        """Display API POST /v2/video/query/, at most 20 ids per call (scope video.list).

        Reported: views, likes, comments, shares. Not reported: saves (Research API only), reach, impressions,
        watch time → None. The answer holds only the caller's own videos, and it is eventually consistent: a
        video published minutes ago, a deleted one and another creator's all come back simply absent (no error,
        no deletion signal), so an absent id is left out of the result, never marked gone. Readable by this
        account: only its own videos (an id this account did not post is never in the answer)."""
        out: dict[str, PostMetrics] = {}
        ids = list(dict.fromkeys(str(i) for i in post_ids if str(i)))
        for start in range(0, len(ids), QUERY_BATCH):
            data = self._api(
                creds,
                "/v2/video/query/",
                {"filters": {"video_ids": ids[start : start + QUERY_BATCH]}},
                params={"fields": METRIC_FIELDS},
            )
            for v in data.get("videos") or []:
                vid = str(v.get("id"))
                out[vid] = PostMetrics(
                    vid,
                    views=v.get("view_count"),
                    likes=v.get("like_count"),
                    comments=v.get("comment_count"),
                    shares=v.get("share_count"),
                    raw=dict(v),
                )
        return out

    # ---- URLs ---------------------------------------------------------------------------------------------------
    @staticmethod
    def parse_post_url(url: str) -> PostRef | None:
        parts = web_url(url)
        if parts is None or parts.username or parts.port not in (None, 80, 443):
            return None
        host = (parts.hostname or "").lower()
        path = parts.path
        if host in _HOSTS:
            if m := _POST_URL.match(path):
                return PostRef("tiktok", m.group(3), id_kind=f"{m.group(2)}_id", handle=m.group(1))
            if m := _EMBED_URL.match(path):
                return PostRef("tiktok", m.group(1), id_kind="video_id")
            if m := _SHORT_PATH.match(path):
                return PostRef("tiktok", m.group(1), id_kind="short_code", needs_resolution=True)
        if host in _SHORT_HOSTS and (m := _SHORT_CODE.match(path)):
            return PostRef("tiktok", m.group(1), id_kind="short_code", needs_resolution=True)
        return None


CLIENT = TikTokClient
