"""Threads video posts (graph.threads.net v1.0): Meta pulls `video_url` into a VIDEO container, we poll `status`,
then threads_publish and read the permalink. Granted scopes come from /debug_token (the token answer has none)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import regex

from cliply.platforms import oauth
from cliply.platforms.errors import ErrorClass
from cliply.platforms.meta import MEDIA_FETCH_CODE, THREADS_VERSION, ContainerClient
from cliply.platforms.models import Credentials, PostMetrics, PostRef, VideoPost, Violation

TEXT_MAX = 500
_EMOJI = regex.compile(r"\p{Extended_Pictographic}")
_URL = re.compile(
    r"^https?://(?:www\.)?threads\.(?:net|com)/@([A-Za-z0-9_.]+)/post/([A-Za-z0-9_-]+)/?(?:[?#].*)?$", re.IGNORECASE
)
_CONTENT_ERRORS = (
    "FAILED_PROCESSING_AUDIO",
    "FAILED_PROCESSING_VIDEO",
    "INVALID_ASPEC_RATIO",
    "INVALID_BIT_RATE",
    "INVALID_DURATION",
    "INVALID_FRAME_RATE",
    "INVALID_AUDIO_CHANNELS",
    "INVALID_AUDIO_CHANNEL_LAYOUT",
)


def threads_length(text: str) -> int:
    """Threads' count: one per character, except that an emoji counts its UTF-8 byte length (posts doc)."""
    return sum(len(g.encode("utf-8")) if _EMOJI.search(g) else len(g) for g in regex.findall(r"\X", text))


class ThreadsClient(ContainerClient):
    platform = "threads"
    required_scopes = ("threads_basic", "threads_content_publish", "threads_manage_insights")
    graph_host = "https://graph.threads.net"
    default_version = THREADS_VERSION
    media_edge = "threads"
    publish_edge = "threads_publish"
    limit_edge = "threads_publishing_limit"
    status_field = "status"
    text_field = "text"
    reason_field = "error_message"
    exchange_grant = "th_exchange_token"
    refresh_grant = "th_refresh_token"
    insight_metrics = ("views", "likes", "replies", "reposts", "quotes", "shares")
    insights_scope = "threads_manage_insights"

    def validate(self, post: VideoPost) -> list[Violation]:
        body = post.full_caption()
        problems = []
        if (n := threads_length(body)) > TEXT_MAX:
            problems.append(Violation("text", "length (emoji as UTF-8 bytes)", n, TEXT_MAX))
        if not post.video_url:
            problems.append(Violation("video_url", "public video URLs (Threads pulls the file)", 0, 1))
        return problems

    def oauth_app(self) -> oauth.OAuthApp:
        return oauth.OAuthApp(
            platform=self.platform,
            client_id=self.config.client_id,
            client_secret=self.config.client_secret,
            authorize_url=f"{self.config.host('https://threads.net')}/oauth/authorize",
            token_url=f"{self.config.host(self.graph_host)}/oauth/access_token",
            scopes=self.required_scopes,
            scope_separator=",",
            pkce=False,
        )

    def exchange_code(self, *, code: str, redirect_uri: str, code_verifier: str | None = None) -> Credentials:
        creds = super().exchange_code(code=code, redirect_uri=redirect_uri, code_verifier=code_verifier)
        info = self.call("GET", "debug_token", creds.access_token, params={"input_token": creds.access_token})
        data = info.get("data") or {}
        return replace(
            creds,
            scopes=tuple(data.get("scopes") or creds.scopes),
            account_id=creds.account_id or str(data.get("user_id") or ""),
        )

    def container_params(self, post: VideoPost) -> dict[str, str]:
        params = {"media_type": "VIDEO", "video_url": post.video_url, "text": post.full_caption()}
        for key in ("reply_control", "topic_tag", "alt_text"):
            if post.options.get(key):
                params[key] = str(post.options[key])
        return params

    def container_fields(self) -> str:
        return "status,error_message"

    def failure_class(self, status: str, data: Mapping[str, Any]) -> tuple[ErrorClass, str]:
        reason = str(data.get("error_message") or status)
        if reason in _CONTENT_ERRORS:
            return ErrorClass.CONTENT_REJECTED, reason
        if reason == "FAILED_DOWNLOADING_VIDEO":  # Meta could not download our signed URL
            return ErrorClass.TRANSIENT, MEDIA_FETCH_CODE
        # EXPIRED, UNKNOWN or an unexplained ERROR: a failed container never publishes, so a new one is safe.
        return ErrorClass.TRANSIENT, reason

    def to_metrics(self, pid: str, values: Mapping[str, int | None]) -> PostMetrics:
        """Media insights (one call per post). Reported: views, likes, replies (comments), and reposts + quotes +
        shares summed as shares (each kept in raw). Not reported: saves, reach, impressions, watch time → None.
        A deleted post answers 100/33 (gone). Readable by this account: its own posts only; resolve a URL's
        shortcode through this account's threads listing first (another account's post answers #10, left out)."""
        shares = [v for k in ("reposts", "quotes", "shares") if (v := values.get(k)) is not None]
        return PostMetrics(
            pid,
            views=values.get("views"),
            likes=values.get("likes"),
            comments=values.get("replies"),
            shares=sum(shares) if shares else None,
            raw=dict(values),
        )

    @staticmethod
    def parse_post_url(url: str) -> PostRef | None:
        """threads.net|com/@user/post/<shortcode>; map the shortcode via GET /{user}/threads?fields=shortcode."""
        m = _URL.match(url.strip())
        if not m:
            return None
        return PostRef("threads", m.group(2), id_kind="shortcode", handle=m.group(1))


CLIENT = ThreadsClient
