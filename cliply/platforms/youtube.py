"""YouTube (Shorts) through the YouTube Data API v3, using Google's own client (google-api-python-client).

The service is built from the packaged discovery document with `rootUrl` patched to config.host(www.googleapis.com),
so every call, the resumable upload included, follows `base_url` (api_endpoint alone would keep https for uploads).
Publishing is one `videos.insert` resumable upload (the upload is the publish), then status polling until processed.
The Cliply idempotency key rides along as a tag (`cliply-<key>`, not shown publicly) so `find_existing` can match.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import mimetypes
import re
import socket
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import google.oauth2.credentials
import google_auth_httplib2
import httplib2
import httpx
from googleapiclient.discovery import Resource, build_from_document
from googleapiclient.errors import HttpError, ResumableUploadError
from googleapiclient.http import MediaFileUpload

from cliply.platforms import oauth
from cliply.platforms.base import PlatformClient, Progress, caption_candidate, parse_timestamp
from cliply.platforms.errors import ErrorClass, PlatformError
from cliply.platforms.models import Credentials, PostMetrics, PostRef, PublishResult, VideoPost, Violation
from cliply.platforms.text import check_count, check_length, hashtags_in

SCOPE_UPLOAD = "https://www.googleapis.com/auth/youtube.upload"
SCOPE_READONLY = "https://www.googleapis.com/auth/youtube.readonly"
CHUNK_UNIT = 256 * 1024  # every chunk but the last must be a multiple of 256 KiB
DEFAULT_CHUNK = 8 * 1024 * 1024
MAX_FILE = 256 * 1024**3
THUMBNAIL_MAX_BYTES = 2 * 1024**2  # thumbnails.set: JPEG or PNG, at most 2 MB
PACIFIC = ZoneInfo("America/Los_Angeles")  # quota resets at midnight Pacific
PRIVACY = ("public", "unlisted", "private")
MARKER_PREFIX = "cliply-"
STATUS_PARTS = "status,processingDetails"
REFUSED_UPLOAD = frozenset({"failed", "rejected", "deleted"})  # status.uploadStatus of a video that never goes live
REFUSED_PROCESSING = frozenset({"failed", "terminated"})  # processingDetails.processingStatus, likewise

# httplib2 silently resends a request whose sending failed. A chunk PUT is not safe to replay blindly (and its body
# may already be consumed, so the replay hangs until the upload timeout): resuming is the `bytes */N` probe's job.
httplib2.RETRIES = 1

_QUOTA = {"quotaExceeded", "dailyLimitExceeded"}
_RATE = {"rateLimitExceeded", "userRateLimitExceeded"}
_CONFIG = {
    "youtubeSignupRequired",
    "forbidden",
    "forbiddenLicenseSetting",
    "forbiddenPrivacySetting",
    "accessNotConfigured",
    "invalid_client",
    "unauthorized_client",
    "keyInvalid",  # CLIPLY_YOUTUBE_API_KEY is wrong: a setting to fix, not a post to reject
}
_RECONNECT = {"insufficientPermissions", "invalid_grant"}
_TRANSIENT = {"backendError", "internalError", "backendTimeout"}
_VIDEO_ID = re.compile(r"^[A-Za-z0-9_-]{11}$")
_YT_HOSTS = {"youtube.com", "www.youtube.com", "m.youtube.com", "music.youtube.com"}


METRICS_BATCH = 50  # ids per videos.list call


@functools.cache
def _discovery_doc() -> str:
    path = resources.files("googleapiclient") / "discovery_cache" / "documents" / "youtube.v3.json"
    return path.read_text(encoding="utf-8")


def next_pacific_midnight(now: datetime | None = None) -> datetime:
    local = (now or datetime.now(UTC)).astimezone(PACIFIC)
    midnight = datetime.combine(local.date() + timedelta(days=1), datetime.min.time(), PACIFIC)
    return midnight.astimezone(UTC)


def marker_tag(key: str) -> str:
    return MARKER_PREFIX + re.sub(r"[^A-Za-z0-9_-]", "", key)[:64]


def refusal(video: Mapping[str, Any]) -> tuple[str, str] | None:
    """(state, reason) when YouTube refused the video (upload rejected/failed/deleted, processing failed/terminated):
    such a video is not a publication. None while it is live or may still become so."""
    status = video.get("status") or {}
    upload = str(status.get("uploadStatus") or "")
    processing = str((video.get("processingDetails") or {}).get("processingStatus") or "")
    if upload not in REFUSED_UPLOAD and processing not in REFUSED_PROCESSING:
        return None
    state = upload if upload in REFUSED_UPLOAD else processing
    return state, str(status.get("rejectionReason") or status.get("failureReason") or state)


class _ChunkBytes(MediaFileUpload):
    """Each chunk is read into memory, so any resend of a chunk PUT carries the same bytes, never an exhausted
    stream."""

    def has_stream(self) -> bool:
        return False


def tags_length(tags: Sequence[str]) -> int:
    """YouTube counts the commas between tags and the quotes around a tag that contains a space."""
    return sum(len(t) + (2 if " " in t else 0) for t in tags) + max(0, len(tags) - 1)


class YouTubeClient(PlatformClient):
    platform = "youtube"
    required_scopes = (SCOPE_UPLOAD, SCOPE_READONLY)

    # ---- validation -------------------------------------------------------------------------------------
    def title_of(self, post: VideoPost) -> str:
        return post.title or (post.caption.strip().splitlines() or [""])[0][:100]

    def tags_of(self, post: VideoPost) -> list[str]:
        tags = [str(t) for t in post.options.get("tags", ())]
        if post.idempotency_key:
            tags.append(marker_tag(post.idempotency_key))
        return tags

    def validate(self, post: VideoPost) -> list[Violation]:
        title, description, tags = self.title_of(post), post.full_caption(), self.tags_of(post)
        problems = check_length("title", title, 100, "code_points")
        problems += check_count("title", 1 if not title.strip() else 0, 0, "empty title")
        problems += check_length("description", description, 5000, "utf8_bytes")
        for name, text in (("title", title), ("description", description), *(("tags", t) for t in tags)):
            problems += check_count(name, sum(text.count(c) for c in "<>"), 0, "'<' or '>' characters")
        problems += check_count("tags", tags_length(tags), 500, "total length")
        # More than 60 hashtags and YouTube ignores every one of them.
        problems += check_count("hashtags", len(hashtags_in(description)), 60, "hashtag count")
        privacy = self._privacy(post)
        problems += check_count("privacy", 0 if privacy in PRIVACY else 1, 0, f"unknown privacy {privacy!r}")
        if post.publish_at is not None:
            problems += check_count("publish_at", 0 if privacy == "private" else 1, 0, "publishAt needs private")
        category = str(post.options.get("category_id", "22"))
        problems += check_count("category_id", 0 if category.isdigit() else 1, 0, "numeric category id")
        size = post.video.stat().st_size if post.video.is_file() else -1
        problems += check_count("video", 0 if size > 0 else 1, 0, "missing or empty file")
        problems += check_count("video", max(size, 0), MAX_FILE, "file size")
        return problems

    def _privacy(self, post: VideoPost) -> str:
        return post.privacy or ("private" if post.publish_at else "public")

    # ---- OAuth ----------------------------------------------------------------------------------------------
    def oauth_app(self) -> oauth.OAuthApp:
        return oauth.OAuthApp(
            platform=self.platform,
            client_id=self.config.client_id,
            client_secret=self.config.client_secret,
            authorize_url=self.config.host("https://accounts.google.com") + "/o/oauth2/v2/auth",
            token_url=self.config.host("https://oauth2.googleapis.com") + "/token",
            scopes=self.required_scopes,
            pkce=True,
            # offline + consent: Google returns a refresh token on every authorisation.
            extra_authorize_params={"access_type": "offline", "prompt": "consent", "include_granted_scopes": "true"},
        )

    def exchange_code(self, *, code: str, redirect_uri: str, code_verifier: str | None = None) -> Credentials:
        creds = super().exchange_code(code=code, redirect_uri=redirect_uri, code_verifier=code_verifier)
        if SCOPE_READONLY in creds.scopes:  # the token response does not say which channel: ask
            channel = self._channel(creds)
            creds.account_id = channel["id"]
            creds.extra["uploads_playlist"] = channel["contentDetails"]["relatedPlaylists"]["uploads"]
            creds.extra["channel_title"] = channel.get("snippet", {}).get("title", "")
        return creds

    # ---- the Google client --------------------------------------------------------------------------------
    def _http(self, creds: Credentials, timeout: float) -> google_auth_httplib2.AuthorizedHttp | httplib2.Http:
        http = httplib2.Http(timeout=timeout)
        http.redirect_codes = http.redirect_codes - {308}  # 308 is "Resume Incomplete", not a redirect
        if creds.extra.get(API_KEY):  # public reads with a Data API key: no OAuth header at all
            return http
        gcreds = google.oauth2.credentials.Credentials(token=creds.access_token)
        # No silent refresh here: a 401 surfaces as AUTH_REFRESHABLE and Cliply refreshes (and stores) the token.
        return google_auth_httplib2.AuthorizedHttp(gcreds, http=http, refresh_status_codes=())

    def service(self, creds: Credentials) -> Resource:
        doc = json.loads(_discovery_doc())
        doc["rootUrl"] = self.config.host("https://www.googleapis.com") + "/"
        doc["servicePath"] = ""
        doc.pop("mtlsRootUrl", None)
        key = creds.extra.get(API_KEY) or None
        return build_from_document(doc, http=self._http(creds, self.config.timeout_s), developerKey=key)

    def _call(self, request: Any, *, what: str) -> dict[str, Any]:
        try:
            return request.execute()
        except HttpError as exc:
            raise self.classify_http_error(exc) from None
        except (OSError, httplib2.HttpLib2Error) as exc:
            raise PlatformError(self.platform, ErrorClass.TRANSIENT, f"{what}: {type(exc).__name__}") from None

    def _channel(self, creds: Credentials) -> dict[str, Any]:
        data = self._call(
            self.service(creds).channels().list(part="snippet,contentDetails", mine=True), what="channels.list"
        )
        items = data.get("items") or []
        if not items:
            raise PlatformError(
                self.platform,
                ErrorClass.CONFIG,
                "this Google account has no YouTube channel",
                code="youtubeSignupRequired",
            )
        return items[0]

    # ---- publishing ---------------------------------------------------------------------------------------------
    def metadata(self, post: VideoPost) -> dict[str, Any]:
        snippet: dict[str, Any] = {
            "title": self.title_of(post),
            "description": post.full_caption(),
            "categoryId": str(post.options.get("category_id", "22")),
        }
        if tags := self.tags_of(post):
            snippet["tags"] = tags
        if lang := post.options.get("default_language"):
            snippet["defaultLanguage"] = lang
        status: dict[str, Any] = {
            "privacyStatus": self._privacy(post),
            "selfDeclaredMadeForKids": bool(post.options.get("made_for_kids", False)),
        }
        if post.publish_at is not None:
            status["publishAt"] = post.publish_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        if "contains_synthetic_media" in post.options:
            status["containsSyntheticMedia"] = bool(post.options["contains_synthetic_media"])
        return {"snippet": snippet, "status": status}

    def chunk_size(self) -> int:
        wanted = self.config.chunk_size or DEFAULT_CHUNK
        return max(CHUNK_UNIT, wanted - wanted % CHUNK_UNIT)

    def publish(self, creds: Credentials, post: VideoPost, *, progress: Progress | None = None) -> PublishResult:
        self.ensure_valid(post)
        mimetype = mimetypes.guess_type(post.video.name)[0] or "application/octet-stream"
        if not mimetype.startswith("video/"):
            mimetype = "application/octet-stream"
        media = _ChunkBytes(str(post.video), mimetype=mimetype, chunksize=self.chunk_size(), resumable=True)
        request = self.service(creds).videos().insert(part="snippet,status", body=self.metadata(post), media_body=media)
        upload_http = self._http(creds, self.config.upload_timeout_s)
        video = self._upload(request, upload_http, media.size(), progress)
        if progress:
            progress(1.0)
        thumbnail = self._set_thumbnail(creds, str(video["id"]), post)
        if not post.options.get("wait_processing", True):
            result = self._result(video, post)
        else:
            result = self._await_processing(creds, video, post)
        return dataclasses.replace(result, raw={**result.raw, **thumbnail}) if thumbnail else result

    def _set_thumbnail(self, creds: Credentials, video_id: str, post: VideoPost) -> dict[str, Any]:
        """thumbnails.set with the post's cover image, right after the upload. Never fatal: the video is live
        either way, so a refusal (unverified channel, image too large or the wrong shape) or a network failure is
        returned as a warning for the result's raw."""
        if post.thumbnail is None:
            return {}
        path = post.thumbnail
        try:
            size = path.stat().st_size
            if size > THUMBNAIL_MAX_BYTES:
                raise PlatformError(
                    self.platform, ErrorClass.CONTENT_REJECTED, f"{size} bytes, over 2 MB", code="failedPrecondition"
                )
            mimetype = "image/png" if path.suffix.lower() == ".png" else "image/jpeg"
            media = MediaFileUpload(str(path), mimetype=mimetype, resumable=False)
            request = self.service(creds).thumbnails().set(videoId=video_id, media_body=media)
            answer = self._call(request, what="thumbnails.set")
        except PlatformError as exc:
            code = f" ({exc.code})" if exc.code else ""
            return {"warnings": [f"video uploaded but thumbnail failed: {exc.message}{code}"]}
        except OSError as exc:
            return {"warnings": [f"video uploaded but thumbnail failed: {type(exc).__name__}"]}
        return {"thumbnail": {"set": True, "bytes": size, "items": answer.get("items") or []}}

    def _upload(self, request: Any, http: Any, size: int, progress: Progress | None) -> dict[str, Any]:
        """Send the chunks; resume the session (a `bytes */N` probe, then the rest) after 5xx or a dropped chunk."""
        attempts = int(self.config.options.get("resume_attempts", "3"))
        failures = 0
        while True:
            last_chunk = request.resumable_progress + self.chunk_size() >= size
            try:
                status, video = request.next_chunk(http=http)
            except (HttpError, OSError, httplib2.HttpLib2Error) as exc:
                started = request.resumable_uri is not None  # the first call also starts the session
                err = self._upload_error(exc, started=started, final=started and last_chunk)
                err.details["session_uri"] = request.resumable_uri  # the natural handle for find_existing
                failures += 1
                if request.resumable_uri is None or err.error_class is not ErrorClass.TRANSIENT or failures > attempts:
                    raise err from None
                time.sleep(self.config.poll_interval_s * 2 ** (failures - 1))
                continue
            failures = 0
            if video is not None:
                return video
            if progress and status is not None:
                progress(status.progress())

    def _upload_error(self, exc: Exception, *, started: bool, final: bool) -> PlatformError:
        if isinstance(exc, ResumableUploadError | HttpError):
            return self.classify_http_error(exc)
        if isinstance(exc, ConnectionRefusedError | httplib2.ServerNotFoundError):
            return PlatformError(self.platform, ErrorClass.TRANSIENT, f"upload: {type(exc).__name__}")
        if final and isinstance(exc, TimeoutError | socket.timeout | ConnectionError | httplib2.HttpLib2Error):
            # The last chunk may have created the video: only reconciliation can tell.
            return PlatformError(
                self.platform,
                ErrorClass.UNKNOWN_OUTCOME,
                f"videos.insert: no response to the final chunk ({type(exc).__name__})",
            )
        where = "upload chunk" if started else "upload session start"
        return PlatformError(self.platform, ErrorClass.TRANSIENT, f"{where}: {type(exc).__name__}")

    def _await_processing(self, creds: Credentials, video: dict[str, Any], post: VideoPost) -> PublishResult:
        svc = self.service(creds)

        def check() -> dict[str, Any] | None:
            data = self._call(svc.videos().list(part=STATUS_PARTS, id=video["id"]), what="videos.list")
            item = (data.get("items") or [None])[0]
            done = item and (item["status"]["uploadStatus"] != "uploaded" or refusal(item))
            return item if done else None

        try:
            item = self.poll(check, what="YouTube processing")
        except PlatformError:
            # The video exists: never let a status read failure look like "publish failed, try again".
            return self._result(video, post, status="processing")
        if refused := refusal(item):
            raise self._refused(video["id"], *refused)
        return self._result({**video, "status": {**video.get("status", {}), **item["status"]}}, post)

    def _refused(self, video_id: str, state: str, reason: str) -> PlatformError:
        cls = ErrorClass.DUPLICATE if reason == "duplicate" else ErrorClass.CONTENT_REJECTED
        return PlatformError(
            self.platform,
            cls,
            f"video {state}: {reason}",
            code=reason,
            details={"video_id": video_id, "upload_status": state},
        )

    def _result(self, video: Mapping[str, Any], post: VideoPost, status: str | None = None) -> PublishResult:
        vid = video["id"]
        if status is None:
            upload = video.get("status", {}).get("uploadStatus")
            status = "scheduled" if post.publish_at else ("published" if upload == "processed" else "processing")
        return PublishResult(self.platform, vid, f"https://www.youtube.com/shorts/{vid}", status, dict(video))

    # ---- reconciliation -------------------------------------------------------------------------------------------
    def find_existing(self, creds: Credentials, post: VideoPost) -> PublishResult | None:
        """The session's video, else the uploads playlist by marker (or title + description). A video YouTube
        refused (rejected, e.g. as a duplicate, or failed) is never returned: it is not a publication, and the
        error that led here (e.g. DUPLICATE) stays the target's outcome."""
        session = post.options.get("youtube_session_uri")
        if session:
            found = self._probe_session(creds, str(session), post)
            if found is not False:
                return found
        return self._scan_uploads(creds, post)

    def _probe_session(self, creds: Credentials, uri: str, post: VideoPost) -> PublishResult | Literal[False] | None:
        """`PUT bytes */N` on the session: 200/201 → the video; 308 → not complete (None); gone, or a video
        YouTube refused → False (the uploads may still hold an earlier attempt of this target)."""
        size = post.video.stat().st_size
        try:
            resp, content = self._http(creds, self.config.timeout_s).request(
                uri, "PUT", headers={"Content-Range": f"bytes */{size}", "Content-Length": "0"}
            )
        except (OSError, httplib2.HttpLib2Error) as exc:
            raise PlatformError(self.platform, ErrorClass.TRANSIENT, f"session probe: {type(exc).__name__}") from None
        if resp.status in (200, 201):
            video = json.loads(content)
            return False if refusal(video) else self._result(video, post)
        if resp.status == 308:
            return None
        if resp.status in (404, 410):
            return False
        raise self._classify(resp.status, dict(resp), content)

    def _scan_uploads(self, creds: Credentials, post: VideoPost) -> PublishResult | None:
        svc = self.service(creds)
        playlist = (
            creds.extra.get("uploads_playlist") or self._channel(creds)["contentDetails"]["relatedPlaylists"]["uploads"]
        )
        ids: list[str] = []
        token = None
        for _ in range(int(self.config.options.get("reconcile_pages", "2"))):  # newest first: recent is enough
            page = self._call(
                svc.playlistItems().list(part="contentDetails", playlistId=playlist, maxResults=50, pageToken=token),
                what="playlistItems.list",
            )
            ids += [i["contentDetails"]["videoId"] for i in page.get("items", [])]
            token = page.get("nextPageToken")
            if not token:
                break
        marker = marker_tag(post.idempotency_key) if post.idempotency_key else None
        for start in range(0, len(ids), 50):
            data = self._call(
                svc.videos().list(part=f"snippet,{STATUS_PARTS}", id=",".join(ids[start : start + 50])),
                what="videos.list",
            )
            for item in data.get("items", []):
                snip = item.get("snippet", {})
                # Without a marker only title + description say it is ours: not when another target owns the video
                # or it was published before this target's first attempt.
                hit = (
                    marker in snip.get("tags", [])
                    if marker
                    else (
                        snip.get("title") == self.title_of(post)
                        and snip.get("description") == post.full_caption()
                        and caption_candidate(post, item.get("id"), parse_timestamp(snip.get("publishedAt")))
                    )
                )
                if hit and not refusal(item):
                    return self._result(item, post)
        return None

    # ---- analytics -------------------------------------------------------------------------------------------------
    def fetch_metrics(self, creds: Credentials, post_ids: Sequence[str]) -> dict[str, PostMetrics]:
        """videos.list part=statistics, at most 50 ids per call (1 quota unit each).

        Reported: views (viewCount: since 2025-03-31 every Shorts play and replay), likes, comments. Not reported
        here: shares and watch time (Analytics API only), saves, reach, impressions → None. An id absent from
        `items` is deleted (or private to another channel): gone=True; statistics exist from the upload on, so
        there is no "not ready yet". Readable by this account: any public or unlisted video and its own private
        ones; another channel's private video looks deleted (absent), so a tracked URL that answers gone was
        either deleted or is private."""
        svc = self.service(creds)
        out: dict[str, PostMetrics] = {}
        ids = list(dict.fromkeys(post_ids))
        for start in range(0, len(ids), METRICS_BATCH):
            batch = ids[start : start + METRICS_BATCH]
            data = self._call(svc.videos().list(part="statistics", id=",".join(batch)), what="videos.list")
            for item in data.get("items", []):
                stats = item.get("statistics", {})
                out[item["id"]] = PostMetrics(
                    item["id"],
                    views=_num(stats.get("viewCount")),
                    likes=_num(stats.get("likeCount")),
                    comments=_num(stats.get("commentCount")),
                    raw={**stats, "views_definition": "shorts_plays_2025"},
                )
            for vid in batch:
                out.setdefault(vid, PostMetrics(vid, gone=True, raw={"absent_from": "videos.list"}))
        return out

    def fetch_metrics_with_key(self, api_key: str, post_ids: Sequence[str]) -> dict[str, PostMetrics]:
        """fetch_metrics for public videos read with a Data API key instead of a connected channel (the request
        carries `key=`, no OAuth token; units come out of the key's project)."""
        if not api_key:
            raise PlatformError(self.platform, ErrorClass.CONFIG, "no YouTube API key configured")
        return self.fetch_metrics(Credentials(access_token="", extra={API_KEY: api_key}), post_ids)

    # ---- URLs ------------------------------------------------------------------------------------------------------
    @staticmethod
    def parse_post_url(url: str) -> PostRef | None:
        text = url.strip()
        if "://" not in text:
            text = "https://" + text
        try:
            parts = urlsplit(text)
        except ValueError:
            return None
        host = (parts.hostname or "").lower()
        if parts.scheme not in ("http", "https") or parts.username or parts.password:
            return None
        segments = [s for s in parts.path.split("/") if s]
        candidate = ""
        if host in ("youtu.be", "www.youtu.be") and len(segments) == 1:
            candidate = segments[0]
        elif host in _YT_HOSTS:
            if segments == ["watch"]:
                candidate = (parse_qs(parts.query).get("v") or [""])[0]
            elif len(segments) == 2 and segments[0] in ("shorts", "embed", "live"):
                candidate = segments[1]
        if not _VIDEO_ID.match(candidate):
            return None
        return PostRef("youtube", candidate, id_kind="video_id")

    # ---- errors --------------------------------------------------------------------------------------------------
    def classify(self, response: httpx.Response) -> PlatformError:
        return self._classify(response.status_code, dict(response.headers), response.content)

    def classify_http_error(self, exc: HttpError) -> PlatformError:
        return self._classify(int(exc.resp.status), dict(exc.resp), exc.content)

    def _classify(self, status: int, headers: Mapping[str, str], content: bytes | str) -> PlatformError:
        reasons, api_status = _google_reasons(content)
        reason = next(iter(reasons), api_status or str(status))
        now = datetime.now(UTC)

        def err(cls: ErrorClass, retry_at: datetime | None = None) -> PlatformError:
            return PlatformError(
                self.platform, cls, f"HTTP {status} ({reason})", status=status, code=reason, retry_at=retry_at
            )

        if reasons & _QUOTA:
            return err(ErrorClass.QUOTA_EXHAUSTED, next_pacific_midnight(now))
        if "uploadLimitExceeded" in reasons:  # the channel's own daily cap: size unpublished, wait a day
            return err(ErrorClass.QUOTA_EXHAUSTED, now + timedelta(hours=24))
        if reasons & _RATE or status == 429:
            retry = _retry_after(headers, now) or now + timedelta(seconds=60)
            return err(ErrorClass.RATE_LIMITED, retry)
        if reasons & _CONFIG:
            return err(ErrorClass.CONFIG)
        if reasons & _RECONNECT:
            return err(ErrorClass.AUTH_RECONNECT)
        if status == 401:
            return err(ErrorClass.AUTH_REFRESHABLE)
        if "duplicate" in reasons:
            return err(ErrorClass.DUPLICATE)
        if status >= 500 or reasons & _TRANSIENT or status == 408:
            return err(ErrorClass.TRANSIENT)
        if status == 403:
            return err(ErrorClass.CONFIG)
        return err(ErrorClass.CONTENT_REJECTED)


def _google_reasons(content: bytes | str) -> tuple[set[str], str]:
    """Reasons from {"error":{"code","errors":[{"reason"}],"status"}} or OAuth's {"error":"invalid_grant"}."""
    try:
        data = json.loads(content or b"{}")
    except ValueError:
        return set(), ""
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, str):
        return {error}, ""
    if not isinstance(error, dict):
        return set(), ""
    reasons = {str(e["reason"]) for e in error.get("errors") or [] if isinstance(e, dict) and e.get("reason")}
    return reasons, str(error.get("status") or "")


def _retry_after(headers: Mapping[str, str], now: datetime) -> datetime | None:
    value = {k.lower(): v for k, v in headers.items()}.get("retry-after")
    try:
        return now + timedelta(seconds=float(value)) if value else None
    except ValueError:
        return None


# Credentials.extra key under which fetch_metrics_with_key passes the API key to service().
API_KEY = "api_key"


def _num(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


CLIENT = YouTubeClient
