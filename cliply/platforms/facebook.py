"""Facebook Reels on Pages (Video API "Reels Publishing"): video_reels upload_phase=start → binary upload to
rupload.facebook.com (resumable: after a dropped upload, GET the same URL for the received offset) →
upload_phase=finish video_state=PUBLISHED → poll GET /{video_id}?fields=status until publishing completes.

Connect: code → short-lived user token → long-lived user token (fb_exchange_token) → Page token from /me/accounts.
Page tokens derived from a long-lived user token do not expire; we keep the user token as `refresh_token` so a
"refresh" re-derives the Page token. Options: page_id (which Page; default the first), max_description (2200)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from cliply.platforms import oauth, text
from cliply.platforms.base import Progress, caption_candidate, json_or_empty
from cliply.platforms.errors import ErrorClass, PlatformError
from cliply.platforms.meta import MetaClient, insights_outcome, parse_time
from cliply.platforms.models import Credentials, PostMetrics, PostRef, PublishResult, TokenSet, VideoPost, Violation

DESCRIPTION_MAX = 2200  # no documented hard cap; the safe cross-platform value (config: max_description)
MIN_BYTES = 1024  # Video API subcode 1363022: "the minimum size for a video is 1 KB"
MAX_BYTES = 1024**3  # reels are short; Video API's own cap is higher
UPLOAD_ATTEMPTS = 3
FB_METRICS = (
    "fb_reels_total_plays",
    "post_impressions_unique",
    "post_video_view_time",
    "post_video_likes_by_reaction_type",
    "post_video_social_actions",
)
_URLS = (
    re.compile(r"^https?://(?:www\.|m\.|web\.)?facebook\.com/reel/(\d+)/?(?:[?#].*)?$", re.I),
    re.compile(r"^https?://(?:www\.|m\.|web\.)?facebook\.com/[^/?#]+/videos/(?:[^/?#]+/)?(\d+)/?(?:[?#].*)?$", re.I),
    re.compile(r"^https?://(?:www\.|m\.|web\.)?facebook\.com/watch/?\?(?:[^#]*&)?v=(\d+)(?:[&#].*)?$", re.I),
)
_SHORT = re.compile(r"^https?://fb\.watch/([A-Za-z0-9_-]+)/?(?:[?#].*)?$", re.I)


class FacebookClient(MetaClient):
    platform = "facebook"
    required_scopes = ("pages_show_list", "pages_read_engagement", "pages_manage_posts", "read_insights")
    graph_host = "https://graph.facebook.com"
    insights_scope = "read_insights"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._videos: dict[str, tuple[str, datetime]] = {}  # post key → (video id, started at)

    # ---- validation ------------------------------------------------------------------------------------------
    def validate(self, post: VideoPost) -> list[Violation]:
        limit = int(self.config.options.get("max_description", DESCRIPTION_MAX))
        problems = text.check_length("description", post.full_caption(), limit, "utf16")
        size = Path(post.video).stat().st_size if Path(post.video).is_file() else 0
        if size < MIN_BYTES:
            problems.append(Violation("video", "file size in bytes (minimum)", size, MIN_BYTES))
        problems += text.check_count("video", size, MAX_BYTES, "file size in bytes")
        return problems

    # ---- OAuth: Facebook Login, then the Page token ----------------------------------------------------------
    def oauth_app(self) -> oauth.OAuthApp:
        return oauth.OAuthApp(
            platform=self.platform,
            client_id=self.config.client_id,
            client_secret=self.config.client_secret,
            authorize_url=f"{self.config.host('https://www.facebook.com')}/{self.version}/dialog/oauth",
            token_url=self.graph("oauth/access_token"),
            scopes=self.required_scopes,
            scope_separator=",",
            pkce=False,
        )

    def exchange_code(self, *, code: str, redirect_uri: str, code_verifier: str | None = None) -> Credentials:
        base = {"client_id": self.config.client_id, "client_secret": self.config.client_secret}
        short = self.token_get(self.graph("oauth/access_token"), {**base, "redirect_uri": redirect_uri, "code": code})
        long = self.parse_tokens(
            self.token_get(
                self.graph("oauth/access_token"),
                {**base, "grant_type": "fb_exchange_token", "fb_exchange_token": str(short["access_token"])},
            )
        )
        return self._page_credentials(long)

    def refresh(self, creds: Credentials) -> Credentials:
        """Renew the long-lived user token (another fb_exchange_token) and re-derive the Page token."""
        if not creds.refresh_token:
            raise PlatformError(self.platform, ErrorClass.AUTH_RECONNECT, "no user token kept: reconnect the Page")
        long = self.parse_tokens(
            self.token_get(
                self.graph("oauth/access_token"),
                {
                    "client_id": self.config.client_id,
                    "client_secret": self.config.client_secret,
                    "grant_type": "fb_exchange_token",
                    "fb_exchange_token": creds.refresh_token,
                },
            )
        )
        return self._page_credentials(long, page_id=creds.account_id)

    def _page_credentials(self, user: TokenSet, page_id: str = "") -> Credentials:
        perms = self.call("GET", "me/permissions", user.access_token).get("data") or []
        scopes = tuple(str(p["permission"]) for p in perms if p.get("status") == "granted")
        pages = (
            self.call("GET", "me/accounts", user.access_token, params={"fields": "id,name,access_token,tasks"}).get(
                "data"
            )
            or []
        )
        want = page_id or self.config.options.get("page_id", "")
        page = next((p for p in pages if not want or str(p.get("id")) == want), None)
        if page is None:
            raise PlatformError(self.platform, ErrorClass.CONFIG, "no Page this user can manage was granted")
        if "CREATE_CONTENT" not in (page.get("tasks") or ["CREATE_CONTENT"]):
            raise PlatformError(self.platform, ErrorClass.CONFIG, "the user cannot create content on this Page")
        user_expiry = datetime.now(UTC) + timedelta(seconds=user.expires_in) if user.expires_in else None
        return Credentials(
            access_token=str(page["access_token"]),
            refresh_token=user.access_token,
            expires_at=None,
            refresh_expires_at=user_expiry,
            scopes=scopes,
            account_id=str(page["id"]),
            extra={"page_id": str(page["id"]), "page_name": page.get("name", "")},
        )

    # ---- publish ------------------------------------------------------------------------------------------
    def publish(self, creds: Credentials, post: VideoPost, *, progress: Progress | None = None) -> PublishResult:
        self.ensure_valid(post)
        page, token = creds.account_id, creds.access_token
        start = self.call("POST", f"{page}/video_reels", token, data={"upload_phase": "start"})
        video_id = str(start["video_id"])
        self._videos[_key(post)] = (video_id, datetime.now(UTC))
        self._upload(video_id, token, Path(post.video), progress)
        thumbnail = self._set_thumbnail(video_id, token, post)
        finish = {
            "upload_phase": "finish",
            "video_id": video_id,
            "video_state": "PUBLISHED",
            "description": post.full_caption(),
        }
        try:
            self.call("POST", f"{page}/video_reels", token, creates=True, data=finish)
            self.poll(lambda: self._published(video_id, token), what=f"reel {video_id}")
        except PlatformError as exc:
            exc.details["video_id"] = video_id
            raise
        return self._result(video_id, **thumbnail)

    def _set_thumbnail(self, video_id: str, token: str, post: VideoPost) -> dict[str, Any]:
        """The reel's cover: POST /{video_id}/thumbnails with the image as `source` and is_preferred=true, after
        the upload and before finish. Never fatal: a refused or failed cover is returned as a warning."""
        if post.thumbnail is None:
            return {}
        path = Path(post.thumbnail)
        ctype = "image/png" if path.suffix.lower() == ".png" else "image/jpeg"
        try:
            image = path.read_bytes()
            self.call(
                "POST",
                f"{video_id}/thumbnails",
                token,
                data={"is_preferred": "true"},
                files={"source": (path.name, image, ctype)},
            )
        except PlatformError as exc:
            return {"warnings": [f"reel uploaded but thumbnail failed: {exc.message}"]}
        except OSError as exc:
            return {"warnings": [f"reel uploaded but thumbnail failed: {type(exc).__name__}"]}
        return {"thumbnail": {"set": True, "bytes": len(image)}}

    def _upload(self, video_id: str, token: str, path: Path, progress: Progress | None) -> None:
        url = f"{self.config.host('https://rupload.facebook.com')}/video-upload/{self.version}/{video_id}"
        size = path.stat().st_size
        chunk = self.config.chunk_size or size
        auth = {"Authorization": f"OAuth {token}"}
        offset, failures = 0, 0
        with path.open("rb") as fh:
            while offset < size:
                fh.seek(offset)
                body = fh.read(chunk)
                try:
                    self.request(
                        "POST",
                        url,
                        content=body,
                        timeout=self.config.upload_timeout_s,
                        headers={
                            **auth,
                            "offset": str(offset),
                            "file_size": str(size),
                            "Content-Type": "application/octet-stream",
                        },
                    )
                    offset += len(body)
                except PlatformError as exc:
                    failures += 1
                    if exc.error_class is not ErrorClass.TRANSIENT or failures >= UPLOAD_ATTEMPTS:
                        raise
                    # The connection dropped mid-upload: ask rupload how much it kept and resume from there.
                    offset = int(json_or_empty(self.request("GET", url, headers=auth)).get("offset") or 0)
                if progress:
                    progress(0.8 * offset / size)

    def _published(self, video_id: str, token: str) -> bool | None:
        status = self.call("GET", video_id, token, params={"fields": "status"}).get("status") or {}
        for phase in ("uploading_phase", "processing_phase", "publishing_phase"):
            if (status.get(phase) or {}).get("status") == "error":
                errors = (status.get(phase) or {}).get("errors") or [{}]
                raise PlatformError(
                    self.platform,
                    ErrorClass.CONTENT_REJECTED,
                    f"reel {video_id}: {phase} failed",
                    code=str(errors[0].get("code", phase)),
                    details={"video_id": video_id},
                )
        if status.get("video_status") == "expired":
            raise PlatformError(
                self.platform,
                ErrorClass.TRANSIENT,
                f"reel {video_id} expired before publishing",
                code="expired",
                details={"video_id": video_id},
            )
        return True if (status.get("publishing_phase") or {}).get("status") == "complete" else None

    def _result(self, video_id: str, **raw: Any) -> PublishResult:
        return PublishResult(self.platform, video_id, f"https://www.facebook.com/reel/{video_id}", raw=raw)

    # ---- reconciliation: the video id's publishing phase, else the Page's recent reels ------------------------
    def find_existing(self, creds: Credentials, post: VideoPost) -> PublishResult | None:
        token = creds.access_token
        video_id = str(post.options.get("video_id") or "")
        if not video_id and _key(post) in self._videos:
            video_id = self._videos[_key(post)][0]
        if video_id:
            status = self.call("GET", video_id, token, params={"fields": "status"}).get("status") or {}
            phase = (status.get("publishing_phase") or {}).get("status")
            if phase in ("complete", "in_progress"):
                return self._result(video_id, reconciled=True, publishing=phase)
            return None
        reels = (
            self.call(
                "GET",
                f"{creds.account_id}/video_reels",
                token,
                params={"fields": "id,description,created_time", "limit": "25"},
            ).get("data")
            or []
        )
        # Without post.created_after (checked per reel by caption_candidate) only the last day's reels can be ours.
        since = datetime.now(UTC) - timedelta(days=1) if post.created_after is None else None
        for reel in reels:
            when = parse_time(reel.get("created_time"))
            if reel.get("description") != post.full_caption() or not caption_candidate(post, reel.get("id"), when):
                continue
            if since is None or when is None or when >= since:
                return self._result(str(reel["id"]), reconciled=True)
        return None

    # ---- analytics --------------------------------------------------------------------------------------------
    def fetch_metrics(self, creds: Credentials, post_ids: Sequence[str]) -> dict[str, PostMetrics]:
        """GET /{video}/video_insights, one call per reel (no batch read). Reported: views (fb_reels_total_plays),
        reach (post_impressions_unique), likes (all reactions), comments and shares (post_video_social_actions),
        watch time (post_video_view_time, ms → s). Not reported: saves, impressions → None. A deleted reel
        answers 100/33 (gone). Readable by this account: the connected Page's own reels; another Page's reel
        answers #10 and is left out."""
        self.require_insights_scope(creds)
        out: dict[str, PostMetrics] = {}
        denied: list[PlatformError] = []
        params = {"metric": ",".join(FB_METRICS)}
        for vid in dict.fromkeys(post_ids):
            metrics = insights_outcome(
                vid,
                partial(self.call, "GET", f"{vid}/video_insights", creds.access_token, params=params),
                _metrics,
                denied,
            )
            if metrics is not None:
                out[vid] = metrics
        if denied and not out and not creds.scopes:
            raise denied[0]  # scopes unknown and every reel refused: most likely the token, not the reels
        return out

    @staticmethod
    def parse_post_url(url: str) -> PostRef | None:
        """facebook.com/reel/<id>, /<page>/videos/[slug/]<id>, /watch?v=<id>; fb.watch/<code> must be followed."""
        url = url.strip()
        for pattern in _URLS:
            if m := pattern.match(url):
                return PostRef("facebook", m.group(1), id_kind="video_id")
        if m := _SHORT.match(url):
            return PostRef("facebook", m.group(1), id_kind="short_code", needs_resolution=True)
        return None


def _metrics(vid: str, values: Mapping[str, Any]) -> PostMetrics:
    reactions = values.get("post_video_likes_by_reaction_type")
    social = values.get("post_video_social_actions")
    social = social if isinstance(social, dict) else {}
    watch_ms = values.get("post_video_view_time")
    return PostMetrics(
        vid,
        views=values.get("fb_reels_total_plays"),
        reach=values.get("post_impressions_unique"),
        likes=sum(reactions.values()) if isinstance(reactions, dict) else None,
        comments=social.get("COMMENT"),
        shares=social.get("SHARE"),
        watch_time_s=watch_ms / 1000 if isinstance(watch_ms, int | float) else None,
        raw=dict(values),
    )


def _key(post: VideoPost) -> str:
    return post.idempotency_key or f"{post.video}|{post.full_caption()}"


CLIENT = FacebookClient
