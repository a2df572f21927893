"""Instagram Reels through the Instagram API with Instagram Login (graph.instagram.com): Meta pulls `video_url`
into a REELS container, we poll status_code, then media_publish and read the permalink.
Options: max_hashtags (default 5, Meta's old cap was 30), max_mentions (20), graph_version."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from cliply.platforms import oauth, text
from cliply.platforms.errors import ErrorClass
from cliply.platforms.meta import CONTENT_SUBCODES, MEDIA_FETCH, MEDIA_FETCH_CODE, TRANSIENT_SUBCODES, ContainerClient
from cliply.platforms.models import PostMetrics, PostRef, VideoPost, Violation

CAPTION_MAX = 2200
HASHTAGS_MAX = 5  # ⚠ was 30; the current cap per Ayrshare is 5 (config: options["max_hashtags"])
MENTIONS_MAX = 20
_MENTION = re.compile(r"(?<![\w@])@([A-Za-z0-9_.]+)")
_SUBCODE = re.compile(r"\b(2207\d{3})\b")  # the numeric subcode inside a container's `status`
_URL = re.compile(
    r"^https?://(?:www\.|m\.)?instagram\.com/(?:([A-Za-z0-9_.]+)/)?(?:reels?|p|tv)/([A-Za-z0-9_-]+)/?"
    r"(?:[?#].*)?$",
    re.IGNORECASE,
)


class InstagramClient(ContainerClient):
    platform = "instagram"
    required_scopes = (
        "instagram_business_basic",
        "instagram_business_content_publish",
        "instagram_business_manage_insights",
    )
    graph_host = "https://graph.instagram.com"
    media_edge = "media"
    publish_edge = "media_publish"
    limit_edge = "content_publishing_limit"
    status_field = "status_code"
    text_field = "caption"
    reason_field = "status"
    exchange_grant = "ig_exchange_token"
    refresh_grant = "ig_refresh_token"
    insight_metrics = ("views", "reach", "likes", "comments", "shares", "saved", "ig_reels_video_view_total_time")
    insights_scope = "instagram_business_manage_insights"

    def validate(self, post: VideoPost) -> list[Violation]:
        caption = post.full_caption()
        opts = self.config.options
        problems = text.check_length("caption", caption, CAPTION_MAX, "utf16")
        problems += text.check_count(
            "caption", len(text.hashtags_in(caption)), int(opts.get("max_hashtags", HASHTAGS_MAX)), "hashtags"
        )
        problems += text.check_count(
            "caption", len(_MENTION.findall(caption)), int(opts.get("max_mentions", MENTIONS_MAX)), "@mentions"
        )
        if not post.video_url:
            problems.append(Violation("video_url", "public video URLs (Instagram pulls the file)", 0, 1))
        if post.cover_time_s is not None and post.cover_time_s < 0:
            problems.append(Violation("cover_time_s", "thumb_offset must be ≥ 0 ms", int(post.cover_time_s), 0))
        return problems

    def oauth_app(self) -> oauth.OAuthApp:
        return oauth.OAuthApp(
            platform=self.platform,
            client_id=self.config.client_id,
            client_secret=self.config.client_secret,
            authorize_url=f"{self.config.host('https://www.instagram.com')}/oauth/authorize",
            token_url=f"{self.config.host('https://api.instagram.com')}/oauth/access_token",
            scopes=self.required_scopes,
            scope_separator=",",
            pkce=False,
        )

    def container_params(self, post: VideoPost) -> dict[str, str]:
        params = {
            "media_type": "REELS",
            "video_url": post.video_url,
            "caption": post.full_caption(),
            "share_to_feed": "true" if post.options.get("share_to_feed", True) else "false",
        }
        if post.options.get("cover_url"):
            params["cover_url"] = str(post.options["cover_url"])
        elif post.cover_time_s is not None:
            params["thumb_offset"] = str(int(post.cover_time_s * 1000))
        return params

    def failure_class(self, status: str, data: Mapping[str, Any]) -> tuple[ErrorClass, str]:
        if status == "EXPIRED":  # not published within 24 h: a new container fixes it
            return ErrorClass.TRANSIENT, "EXPIRED"
        match = _SUBCODE.search(str(data.get("status") or ""))
        sub = int(match.group(1)) if match else None
        if sub in CONTENT_SUBCODES:
            return ErrorClass.CONTENT_REJECTED, str(sub)
        if sub in MEDIA_FETCH:  # 2207052 / 2207003: Meta could not download our signed URL
            return ErrorClass.TRANSIENT, MEDIA_FETCH_CODE
        if sub in TRANSIENT_SUBCODES:
            return ErrorClass.TRANSIENT, str(sub)
        # No (or an unknown) subcode: nothing blames the content, and a failed container never publishes, so a
        # new container is a safe, bounded retry.
        return ErrorClass.TRANSIENT, str(sub or "ERROR")

    def to_metrics(self, pid: str, values: Mapping[str, int | None]) -> PostMetrics:
        """Media insights (one call per post). Reported: views, reach, likes, comments, shares, saves and Reels
        watch time (ig_reels_video_view_total_time, ms → s); impressions were retired in 2025 → None. A new
        post answers an empty dataset for a while (left out, not zero), a deleted one 100/33 (gone). Readable by
        this account: its own media only; resolve a URL's shortcode through this account's media listing first
        (another account's media answers #10, and is left out)."""
        watch_ms = values.get("ig_reels_video_view_total_time")
        return PostMetrics(
            pid,
            views=values.get("views"),
            likes=values.get("likes"),
            comments=values.get("comments"),
            shares=values.get("shares"),
            saves=values.get("saved"),
            reach=values.get("reach"),
            watch_time_s=watch_ms / 1000 if watch_ms is not None else None,
            raw=dict(values),
        )

    @staticmethod
    def parse_post_url(url: str) -> PostRef | None:
        """instagram.com/reel/<shortcode>/ (also /reels/, /p/, /tv/, /<user>/reel/). The shortcode is not the
        Graph id: map it through GET /{ig-user}/media?fields=shortcode."""
        m = _URL.match(url.strip())
        if not m:
            return None
        return PostRef("instagram", m.group(2), id_kind="shortcode", handle=m.group(1) or "")


CLIENT = InstagramClient
