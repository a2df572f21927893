"""Pinterest (API v5): OAuth with HTTP Basic and continuous rotating refresh tokens, video upload through
POST /v5/media + the S3 form POST, media status polling, POST /v5/pins, board reconciliation and pin analytics."""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlparse, urlunparse
from xml.etree import ElementTree

import httpx

from cliply.platforms import oauth
from cliply.platforms.base import (
    PlatformClient,
    Progress,
    caption_candidate,
    json_or_empty,
    parse_timestamp,
    read_rate_limit,
    retry_at_from,
)
from cliply.platforms.errors import ErrorClass, PlatformError
from cliply.platforms.models import Credentials, PostMetrics, PostRef, PublishResult, TokenSet, VideoPost, Violation
from cliply.platforms.text import check_length
from cliply.platforms.urls import web_url

API = "https://api.pinterest.com"
MARKER = "cliply"  # query parameter carrying the idempotency key in the destination link
METRIC_TYPES = (
    "IMPRESSION",
    "SAVE",
    "VIDEO_MRC_VIEW",
    "TOTAL_COMMENTS",
    "TOTAL_REACTIONS",
    "OUTBOUND_CLICK",
    "VIDEO_V50_WATCH_TIME",
)
ANALYTICS_DAYS = 90  # the furthest back start_date may go (today included in the window)
_PIN_PATH = re.compile(r"^/pin/(\d{1,20})/?$")
_SHORT_PATH = re.compile(r"^/([A-Za-z0-9]{4,20})/?$")
# pinterest.com and its country domains (www. or a two-letter subdomain such as "fr." / "in." allowed)
_HOST = re.compile(
    r"^(?:www\.|[a-z]{2}\.)?pinterest\.(?:com|ca|de|fr|es|it|at|ch|ie|nz|pt|se|dk|jp|ph|cl|co\.uk|"
    r"com\.au|com\.mx|co\.kr|co\.in)$"
)
_S3_TRANSIENT = {"InternalError", "SlowDown", "ServiceUnavailable", "RequestTimeout", "ExpiredToken", "AccessDenied"}


def with_marker(link: str, key: str) -> str:
    """The destination link with ?cliply=<key> added (other query parameters kept)."""
    if not link or not key:
        return link
    parts = urlparse(link)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != MARKER]
    return urlunparse(parts._replace(query=urlencode([*query, (MARKER, key)])))


class PinterestClient(PlatformClient):
    platform = "pinterest"
    required_scopes = ("boards:read", "pins:read", "pins:write", "user_accounts:read")

    @property
    def api(self) -> str:
        return self.config.host(API)

    # ---- validation -------------------------------------------------------------------------------------------
    def validate(self, post: VideoPost) -> list[Violation]:
        # Pinterest counts characters (code points) for title 100 / description 800 / link 2048.
        problems = [
            *check_length("title", post.title, 100, "code_points"),
            *check_length("description", post.full_caption(), 800, "code_points"),
            *check_length("link", with_marker(post.link, post.idempotency_key), 2048, "code_points"),
            *check_length("alt_text", str(post.options.get("alt_text", "")), 500, "code_points"),
        ]
        if not post.board_id:
            problems.append(Violation("board_id", "required (count)", 0, 1))
        if post.link and urlparse(post.link).scheme not in ("http", "https"):
            problems.append(Violation("link", "http(s) scheme (count)", 0, 1))
        return problems

    # ---- OAuth -------------------------------------------------------------------------------------------------
    def oauth_app(self) -> oauth.OAuthApp:
        return oauth.OAuthApp(
            platform=self.platform,
            client_id=self.config.client_id,
            client_secret=self.config.client_secret,
            authorize_url=self.config.host("https://www.pinterest.com") + "/oauth/",
            token_url=self.api + "/v5/oauth/token",
            scopes=self.required_scopes,
            scope_separator=",",
            pkce=False,
            auth_method="client_secret_basic",
        )

    def credentials_from(self, tokens: TokenSet) -> Credentials:
        creds = super().credentials_from(tokens)
        at = tokens.raw.get("refresh_token_expires_at")
        ttl = tokens.raw.get("refresh_token_expires_in")
        refresh_at = (
            datetime.fromtimestamp(float(at), UTC)
            if at
            else datetime.now(UTC) + timedelta(seconds=float(ttl))
            if ttl
            else None
        )
        return replace(creds, refresh_expires_at=refresh_at)

    def exchange_code(self, *, code: str, redirect_uri: str, code_verifier: str | None = None) -> Credentials:
        creds = super().exchange_code(code=code, redirect_uri=redirect_uri, code_verifier=code_verifier)
        if "user_accounts:read" not in creds.scopes:
            return creds
        me = self.request("GET", self.api + "/v5/user_account", headers=self._auth(creds)).json()
        return replace(
            creds,
            account_id=str(me.get("id") or me.get("username") or ""),
            extra={**creds.extra, "username": me.get("username")},
        )

    @staticmethod
    def _auth(creds: Credentials) -> dict[str, str]:
        return {"Authorization": f"Bearer {creds.access_token}"}

    def list_boards(self, creds: Credentials) -> list[dict[str, Any]]:
        return list(self.request("GET", self.api + "/v5/boards", headers=self._auth(creds)).json().get("items", []))

    # ---- publish ----------------------------------------------------------------------------------------------
    def publish(self, creds: Credentials, post: VideoPost, *, progress: Progress | None = None) -> PublishResult:
        self.ensure_valid(post)
        report = progress or (lambda _f: None)
        media_id = self.upload_video(creds, post, report)
        body: dict[str, Any] = {"board_id": post.board_id, "media_source": self._media_source(post, media_id)}
        for name, value in (
            ("title", post.title),
            ("description", post.full_caption()),
            ("link", with_marker(post.link, post.idempotency_key)),
            ("alt_text", post.options.get("alt_text")),
        ):
            if value:
                body[name] = value
        resp = self.request("POST", self.api + "/v5/pins", creates=True, json=body, headers=self._auth(creds))
        report(1.0)
        return self._result(resp.json())

    def _media_source(self, post: VideoPost, media_id: str) -> dict[str, Any]:
        # A video pin needs a cover (Pinterest rejects it otherwise): thumbnail image > URL > key frame.
        src: dict[str, Any] = {"source_type": "video_id", "media_id": media_id}
        if post.thumbnail is not None:
            ctype = "image/png" if post.thumbnail.suffix.lower() == ".png" else "image/jpeg"
            src.update(
                cover_image_content_type=ctype, cover_image_data=base64.b64encode(post.thumbnail.read_bytes()).decode()
            )
        elif post.options.get("cover_image_url"):
            src["cover_image_url"] = post.options["cover_image_url"]
        else:
            src["cover_image_key_frame_time"] = post.cover_time_s or 0
        return src

    def upload_video(self, creds: Credentials, post: VideoPost, report: Progress) -> str:
        reg = self.request(
            "POST", self.api + "/v5/media", json={"media_type": "video"}, headers=self._auth(creds)
        ).json()
        media_id, upload_url = str(reg["media_id"]), str(reg["upload_url"])
        self._check_upload_url(upload_url)
        report(0.05)
        # S3 POST policy: every upload parameter as a form field, the file last (httpx writes data before files).
        fields = {str(k): str(v) for k, v in (reg.get("upload_parameters") or {}).items()}
        with post.video.open("rb") as fh:
            resp = self._s3_post(upload_url, fields, fh, post.video.name)
        if resp.status_code >= 300:
            raise self._classify_s3(resp)
        report(0.8)

        def check() -> bool | None:
            status = self.request("GET", f"{self.api}/v5/media/{media_id}", headers=self._auth(creds)).json()
            if status.get("status") == "succeeded":
                return True
            if status.get("status") == "failed":
                raise PlatformError(
                    self.platform,
                    ErrorClass.CONTENT_REJECTED,
                    "Pinterest could not process the video",
                    code="media_failed",
                )
            return None

        self.poll(check, what="Pinterest media processing")
        report(0.95)
        return media_id

    def _s3_post(self, url: str, fields: Mapping[str, str], fh: Any, name: str) -> httpx.Response:
        try:
            # No Authorization header: the signed policy is the credential, and S3 must never see our token.
            return self.http.post(
                url, data=dict(fields), files={"file": (name, fh, "video/mp4")}, timeout=self.config.upload_timeout_s
            )
        except (httpx.ConnectError, httpx.TimeoutException, httpx.TransportError) as exc:
            raise PlatformError(self.platform, ErrorClass.TRANSIENT, f"S3 upload: {type(exc).__name__}") from exc

    def _check_upload_url(self, url: str) -> None:
        """Only POST the file where Pinterest's uploads live (S3 over https), or the configured sandbox origin."""
        parts = urlparse(url)
        host = (parts.hostname or "").lower()
        if self.config.base_url:
            ok = url.startswith(self.config.base_url + "/")
        else:
            ok = parts.scheme == "https" and (host == "amazonaws.com" or host.endswith(".amazonaws.com"))
        if not ok:
            raise PlatformError(self.platform, ErrorClass.CONFIG, f"unexpected upload host {host!r}", code="upload_url")

    def _classify_s3(self, resp: httpx.Response) -> PlatformError:
        try:
            code = ElementTree.fromstring(resp.content).findtext("Code") or ""
        except ElementTree.ParseError:
            code = ""
        # Throttling, server faults and an expired upload policy all clear by registering a fresh upload.
        transient = resp.status_code >= 500 or code in _S3_TRANSIENT
        cls = ErrorClass.TRANSIENT if transient else ErrorClass.CONTENT_REJECTED
        return PlatformError(
            self.platform,
            cls,
            f"S3 upload refused ({code or resp.status_code})",
            status=resp.status_code,
            code=code or None,
        )

    def _result(self, pin: Mapping[str, Any]) -> PublishResult:
        pin_id = str(pin["id"])
        return PublishResult(self.platform, pin_id, f"https://www.pinterest.com/pin/{pin_id}/", raw=dict(pin))

    # ---- reconciliation ---------------------------------------------------------------------------------------
    def find_existing(self, creds: Credentials, post: VideoPost) -> PublishResult | None:
        """Walk the board's newest video pins with our exact destination link: the ?cliply=<key> marker settles it;
        without a marker (no link), the title and description must match too, on a pin created since the target's
        first attempt that no other target owns."""
        marked = with_marker(post.link, post.idempotency_key)
        pages = int(self.config.options.get("reconcile_pages", 4))
        bookmark: str | None = None
        for _ in range(pages):
            params = {"page_size": 50, **({"bookmark": bookmark} if bookmark else {})}
            body = self.request(
                "GET", f"{self.api}/v5/boards/{post.board_id}/pins", params=params, headers=self._auth(creds)
            ).json()
            for pin in body.get("items") or []:
                if (pin.get("media") or {}).get("media_type") != "video":
                    continue
                if (pin.get("link") or "") != marked:
                    continue
                if marked and _marker_of(marked) == post.idempotency_key != "":
                    return self._result(pin)  # the link carries our target id: an exact match
                if (pin.get("title") or "") != post.title or (pin.get("description") or "") != post.full_caption():
                    continue
                if caption_candidate(post, pin.get("id"), parse_timestamp(pin.get("created_at"))):  # naive = UTC
                    return self._result(pin)
            bookmark = body.get("bookmark")
            if not bookmark:
                break
        return None

    # ---- analytics --------------------------------------------------------------------------------------------
    def fetch_metrics(self, creds: Credentials, post_ids: Sequence[str]) -> dict[str, PostMetrics]:
        """GET /v5/pins/{id}/analytics, one call per pin (the multi-pin endpoint is a beta not open to all apps).

        Sums over the longest window allowed (start_date 89 days back to today, UTC), so a pin older than that
        reports its last 90 days only. Reported: views (VIDEO_MRC_VIEW), impressions, saves, comments and likes
        (TOTAL_COMMENTS / TOTAL_REACTIONS, lifetime counts when given), watch time (VIDEO_V50_WATCH_TIME, ms → s).
        Not reported: shares, reach → None. A deleted pin answers 404 → gone=True. Readable by this account: its
        own pins; another user's pin answers 403 and is left out (a missing pins:read fails before any call)."""
        if creds.scopes and "pins:read" not in creds.scopes:
            raise PlatformError(self.platform, ErrorClass.AUTH_RECONNECT, "pins:read was not granted", code="scope")
        today = datetime.now(UTC).date()
        params = {
            "start_date": (today - timedelta(days=ANALYTICS_DAYS - 1)).isoformat(),
            "end_date": today.isoformat(),
            "metric_types": ",".join(METRIC_TYPES),
            "app_types": "ALL",
            "split_field": "NO_SPLIT",
        }
        out: dict[str, PostMetrics] = {}
        for pin_id in dict.fromkeys(post_ids):
            try:
                body = self.request(
                    "GET", f"{self.api}/v5/pins/{pin_id}/analytics", params=params, headers=self._auth(creds)
                ).json()
            except PlatformError as exc:
                if exc.status == 404:
                    out[pin_id] = PostMetrics(pin_id, gone=True, raw={"error": exc.code})
                    continue
                if exc.status == 403 and creds.scopes:
                    continue
                raise
            out[pin_id] = _pin_metrics(pin_id, body)
        return out

    # ---- URLs -------------------------------------------------------------------------------------------------
    @staticmethod
    def parse_post_url(url: str) -> PostRef | None:
        parts = web_url(url)
        if parts is None:
            return None
        host = (parts.hostname or "").lower()
        if host == "pin.it" and (m := _SHORT_PATH.match(parts.path)):
            return PostRef("pinterest", m[1], id_kind="short_link", needs_resolution=True)
        if _HOST.match(host) and (m := _PIN_PATH.match(parts.path)):
            return PostRef("pinterest", m[1], id_kind="pin_id")
        return None

    # ---- errors -----------------------------------------------------------------------------------------------
    def classify(self, response: httpx.Response) -> PlatformError:
        status = response.status_code
        body = json_or_empty(response)
        code = str(body.get("code")) if body.get("code") is not None else str(status)
        where = f"{response.request.method} {response.request.url.path}" if response.request else ""

        def err(cls: ErrorClass, what: str, retry_at: datetime | None = None) -> PlatformError:
            return PlatformError(self.platform, cls, f"{where}: {what}", status=status, code=code, retry_at=retry_at)

        if status == 429:
            # Per-minute burst vs a daily budget: both are code 29; a window that frees in over an hour is a quota.
            rl = read_rate_limit(response.headers)
            retry_at = retry_at_from(response, 60)
            if rl and rl.reset_at and rl.reset_at - datetime.now(UTC) > timedelta(hours=1):
                return err(ErrorClass.QUOTA_EXHAUSTED, "daily limit reached", retry_at)
            return err(ErrorClass.RATE_LIMITED, "rate limited", retry_at)
        if status == 401:
            return err(ErrorClass.AUTH_REFRESHABLE, "access token rejected")
        if status == 403:
            return err(ErrorClass.CONFIG, "not authorized (board access, scope or trial app)")
        if status == 409:
            return err(ErrorClass.DUPLICATE, "conflict")
        if status >= 500:
            return err(ErrorClass.TRANSIENT, "server error")
        return err(ErrorClass.CONTENT_REJECTED, "request rejected")


def _pin_metrics(pin_id: str, body: Mapping[str, Any]) -> PostMetrics:
    summary = (body.get("all") or {}).get("summary_metrics") or {}
    lifetime = (body.get("all") or {}).get("lifetime_metrics") or {}
    watch_ms = summary.get("VIDEO_V50_WATCH_TIME")
    return PostMetrics(
        pin_id,
        views=summary.get("VIDEO_MRC_VIEW"),
        likes=lifetime.get("TOTAL_REACTIONS", summary.get("TOTAL_REACTIONS")),
        comments=lifetime.get("TOTAL_COMMENTS", summary.get("TOTAL_COMMENTS")),
        saves=summary.get("SAVE"),
        impressions=summary.get("IMPRESSION"),
        watch_time_s=watch_ms / 1000 if isinstance(watch_ms, int | float) else None,
        raw={"summary_metrics": dict(summary), "lifetime_metrics": dict(lifetime)},
    )


def _marker_of(link: str) -> str:
    return dict(parse_qsl(urlparse(link).query)).get(MARKER, "")


CLIENT = PinterestClient
