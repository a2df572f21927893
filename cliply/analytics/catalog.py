"""What each platform reports per post, and how many ids one metrics call takes.

A metric missing from REPORTED is "not available" on that platform: stored as NULL, never 0, even when a client
fills the field with a default. Source: the platforms' per-post analytics endpoints (see the README table).

| platform  | views | likes | comments | shares | saves | reach | impressions | watch time | ids per call |
|-----------|-------|-------|----------|--------|-------|-------|-------------|------------|--------------|
| youtube   | yes   | yes   | yes      | -      | -     | -     | -           | -          | 50           |
| tiktok    | yes   | yes   | yes      | yes    | -     | -     | -           | -          | 20           |
| instagram | yes   | yes   | yes      | yes    | yes   | yes   | -           | yes        | 1            |
| facebook  | yes   | yes   | yes      | yes    | -     | yes   | -           | yes        | 1            |
| threads   | yes   | yes   | yes      | yes    | -     | -     | -           | -          | 1            |
| x         | yes   | yes   | yes      | yes    | yes   | -     | yes         | -          | 100          |
| linkedin  | -     | yes   | yes      | yes    | -     | yes   | yes         | -          | 1            |
| pinterest | yes   | yes   | yes      | -      | yes   | -     | yes         | yes        | 1            |
| bluesky   | -     | yes   | yes      | yes    | yes   | -     | -           | -          | 25           |
"""

from __future__ import annotations

import math

from cliply.store.models_analytics import METRIC_FIELDS

_F = frozenset
REPORTED: dict[str, frozenset[str]] = {
    # videos.list part=statistics: viewCount, likeCount, commentCount (shares only in the Analytics API).
    "youtube": _F({"views", "likes", "comments"}),
    # video/query: view_count, like_count, comment_count, share_count.
    "tiktok": _F({"views", "likes", "comments", "shares"}),
    # /{media}/insights: views, likes, comments, shares, saved, reach, ig_reels_video_view_total_time.
    "instagram": _F({"views", "likes", "comments", "shares", "saves", "reach", "watch_time_s"}),
    # video_insights: plays, reactions, social actions, unique impressions (reach), total view time.
    "facebook": _F({"views", "likes", "comments", "shares", "reach", "watch_time_s"}),
    # /{media}/insights: views, likes, replies, reposts+quotes+shares.
    "threads": _F({"views", "likes", "comments", "shares"}),
    # public_metrics: impression_count, like/reply/retweet+quote/bookmark; media view_count for video.
    "x": _F({"views", "likes", "comments", "shares", "saves", "impressions"}),
    # memberCreatorPostAnalytics: IMPRESSION, MEMBERS_REACHED, RESHARE, REACTION, COMMENT (no video views).
    "linkedin": _F({"likes", "comments", "shares", "reach", "impressions"}),
    # pins/{id}/analytics: VIDEO_MRC_VIEW, TOTAL_REACTIONS, TOTAL_COMMENTS, SAVE, IMPRESSION, VIDEO_V50_WATCH_TIME.
    "pinterest": _F({"views", "likes", "comments", "saves", "impressions", "watch_time_s"}),
    # getPosts: likeCount, replyCount, repostCount+quoteCount, bookmarkCount (newer AppViews); no view counts.
    "bluesky": _F({"likes", "comments", "shares", "saves"}),
}

# Ids per fetch_metrics batch: one batch is what one limit reservation covers (see CALLS_PER_BATCH).
BATCH: dict[str, int] = {
    "youtube": 50,
    "tiktok": 20,
    "x": 100,
    "bluesky": 25,
    "instagram": 1,
    "facebook": 1,
    "threads": 1,
    "linkedin": 1,
    "pinterest": 1,
}

# Platform requests one batch costs (LinkedIn asks memberCreatorPostAnalytics once per metric type).
CALLS_PER_BATCH: dict[str, int] = {"linkedin": 5}


def reports(platform: str, metric: str) -> bool:
    """Whether `platform` reports `metric` per post at all (False: "not available", never 0)."""
    if metric not in METRIC_FIELDS:
        raise ValueError(f"unknown metric {metric!r}; expected one of {', '.join(METRIC_FIELDS)}")
    return metric in REPORTED.get(platform, frozenset())


def batch_size(platform: str) -> int:
    return BATCH.get(platform, 1)


def calls_for(platform: str, n_ids: int) -> int:
    """Platform requests needed to fetch `n_ids` posts (the baseline is one call per post)."""
    return math.ceil(n_ids / batch_size(platform)) * CALLS_PER_BATCH.get(platform, 1)
