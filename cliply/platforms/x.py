"""X (API v2): OAuth 2.0 + PKCE, chunked media upload (initialize / append / finalize / STATUS), POST /2/tweets,
timeline reconciliation and public_metrics."""

from __future__ import annotations

import html
import re
import unicodedata
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
    reconcile_since,
    retry_at_from,
)
from cliply.platforms.errors import ErrorClass, PlatformError
from cliply.platforms.models import Credentials, PostMetrics, PostRef, PublishResult, VideoPost, Violation
from cliply.platforms.text import check_length, x_without_urls
from cliply.platforms.urls import web_url

API = "https://api.x.com"
MAX_SEGMENT = 5 * 1024 * 1024
DEFAULT_CHUNK = 4 * 1024 * 1024
MAX_VIDEO_BYTES = 512 * 1024 * 1024
PROBLEMS = "https://api.twitter.com/2/problems/"
LOOKUP_BATCH = 100  # ids per GET /2/tweets
_HOSTS = {"x.com", "www.x.com", "mobile.x.com", "twitter.com", "www.twitter.com", "mobile.twitter.com"}
_STATUS_PATH = re.compile(r"^/(?:(?P<handle>[A-Za-z0-9_]{1,15})|i(?:/web)?)/status(?:es)?/(?P<id>\d{1,19})(?:/.*)?$")


_TCO_LINK = re.compile(r"https?://t\.co/\S*")  # whole, whatever the slug's alphabet


def _match_key(text: str) -> str:
    """Text as X shows it, reduced to what survives posting: no links (X t.co-wraps every URL it links, bare
    domains included), no entities, folded space."""
    text = unicodedata.normalize("NFC", html.unescape(text))
    return " ".join(x_without_urls(_TCO_LINK.sub(" ", text)).split())


class XClient(PlatformClient):
    platform = "x"
    required_scopes = ("tweet.read", "tweet.write", "users.read", "media.write", "offline.access")

    @property
    def api(self) -> str:
        return self.config.host(API)

    # ---- validation -------------------------------------------------------------------------------------------
    def validate(self, post: VideoPost) -> list[Violation]:
        limit = int(self.config.options.get("max_weighted_length", 280))  # Premium accounts allow more
        problems = check_length("text", post.full_caption(), limit, "x_weighted")
        if post.video.exists() and post.video.stat().st_size > MAX_VIDEO_BYTES:
            problems.append(Violation("video", "size (bytes)", post.video.stat().st_size, MAX_VIDEO_BYTES))
        return problems

    # ---- OAuth -------------------------------------------------------------------------------------------------
    def oauth_app(self) -> oauth.OAuthApp:
        return oauth.OAuthApp(
            platform=self.platform,
            client_id=self.config.client_id,
            client_secret=self.config.client_secret,
            authorize_url=self.config.host("https://x.com") + "/i/oauth2/authorize",
            token_url=self.api + "/2/oauth2/token",
            scopes=self.required_scopes,
            pkce=True,
            # Confidential clients authenticate with HTTP Basic; public clients send client_id in the form.
            auth_method="client_secret_basic" if self.config.client_secret else "none",
        )

    def exchange_code(self, *, code: str, redirect_uri: str, code_verifier: str | None = None) -> Credentials:
        creds = super().exchange_code(code=code, redirect_uri=redirect_uri, code_verifier=code_verifier)
        if "users.read" not in creds.scopes:
            return creds  # the caller sees missing_scopes(); /2/users/me would be refused anyway
        me = self.request("GET", self.api + "/2/users/me", headers=self._auth(creds)).json().get("data", {})
        return replace(creds, account_id=str(me.get("id", "")), extra={**creds.extra, "username": me.get("username")})

    @staticmethod
    def _auth(creds: Credentials) -> dict[str, str]:
        return {"Authorization": f"Bearer {creds.access_token}"}

    # ---- publish ----------------------------------------------------------------------------------------------
    def publish(self, creds: Credentials, post: VideoPost, *, progress: Progress | None = None) -> PublishResult:
        self.ensure_valid(post)
        report = progress or (lambda _f: None)
        media_id = self.upload_video(creds, post, report)
        body = {"text": post.full_caption(), "media": {"media_ids": [media_id]}}
        resp = self.request("POST", self.api + "/2/tweets", creates=True, json=body, headers=self._auth(creds))
        data = resp.json()["data"]
        report(1.0)
        return self._result(creds, str(data["id"]), data)

    def upload_video(self, creds: Credentials, post: VideoPost, report: Progress) -> str:
        total = post.video.stat().st_size
        chunk = self.config.chunk_size or DEFAULT_CHUNK
        if not 0 < chunk <= MAX_SEGMENT:
            raise PlatformError(self.platform, ErrorClass.CONFIG, f"chunk_size must be 1..{MAX_SEGMENT} bytes")
        category = self.config.options.get("media_category", "amplify_video")
        init = self.request(
            "POST",
            self.api + "/2/media/upload/initialize",
            headers=self._auth(creds),
            json={"media_type": "video/mp4", "total_bytes": total, "media_category": category},
        )
        media_id = str(init.json()["data"]["id"])
        sent = 0
        with post.video.open("rb") as fh:
            for index, piece in enumerate(iter(lambda: fh.read(chunk), b"")):
                self.request(
                    "POST",
                    f"{self.api}/2/media/upload/{media_id}/append",
                    headers=self._auth(creds),
                    data={"segment_index": str(index)},
                    files={"media": ("blob", piece, "application/octet-stream")},
                    timeout=self.config.upload_timeout_s,
                )
                sent += len(piece)
                report(0.8 * sent / total)
        fin = self.request("POST", f"{self.api}/2/media/upload/{media_id}/finalize", headers=self._auth(creds))
        info = fin.json()["data"].get("processing_info")
        report(0.85)
        if info:  # absent processing_info = ready
            self._wait_processing(creds, media_id, info)
        report(0.95)
        return media_id

    def _wait_processing(self, creds: Credentials, media_id: str, info: Mapping[str, Any]) -> None:
        latest: dict[str, Any] = dict(info)

        def check() -> bool | None:
            nonlocal latest
            state = latest.get("state")
            if state == "succeeded":
                return True
            if state == "failed":
                err = latest.get("error") or {}
                raise PlatformError(
                    self.platform,
                    ErrorClass.CONTENT_REJECTED,
                    "X could not process the video",
                    code=str(err.get("name") or err.get("code") or "failed"),
                    details=dict(err),
                )
            resp = self.request(
                "GET",
                self.api + "/2/media/upload",
                headers=self._auth(creds),
                params={"command": "STATUS", "media_id": media_id},
            )
            latest = resp.json()["data"].get("processing_info") or {"state": "succeeded"}
            return None

        # X asks for check_after_secs between polls; poll_interval_s caps it so tests and short clips stay quick.
        wait = min(float(latest.get("check_after_secs") or 1), self.config.poll_interval_s)
        self.poll(check, what="X media processing", interval_s=wait)

    def _result(self, creds: Credentials, tweet_id: str, raw: Mapping[str, Any]) -> PublishResult:
        handle = creds.extra.get("username") or "i/web"
        return PublishResult(self.platform, tweet_id, f"https://x.com/{handle}/status/{tweet_id}", raw=dict(raw))

    # ---- reconciliation ---------------------------------------------------------------------------------------
    def find_existing(self, creds: Credentials, post: VideoPost) -> PublishResult | None:
        """No idempotency handle on X: read the user's recent posts and match the text (links and entities
        normalised) since the target's first attempt (post.created_after), else within a time window
        (options["reconcile_window_s"], default 24 h); posts other targets own (post.exclude_post_ids) are skipped."""
        if not creds.account_id:
            raise PlatformError(self.platform, ErrorClass.CONFIG, "account id unknown: cannot reconcile")
        window = float(self.config.options.get("reconcile_window_s", 86400))
        since = reconcile_since(post) or datetime.now(UTC) - timedelta(seconds=window)
        resp = self.request(
            "GET",
            f"{self.api}/2/users/{creds.account_id}/tweets",
            headers=self._auth(creds),
            params={
                "max_results": 20,
                "start_time": since.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "tweet.fields": "created_at,attachments",
            },
        )
        want = _match_key(post.full_caption())
        for tweet in resp.json().get("data") or []:
            if _match_key(str(tweet.get("text", ""))) != want or not tweet.get("attachments", {}).get("media_keys"):
                continue
            if caption_candidate(post, tweet["id"], parse_timestamp(tweet.get("created_at"))):
                return self._result(creds, str(tweet["id"]), tweet)
        return None

    # ---- analytics --------------------------------------------------------------------------------------------
    def fetch_metrics(self, creds: Credentials, post_ids: Sequence[str]) -> dict[str, PostMetrics]:
        """GET /2/tweets?ids=…, at most 100 ids per call (every read is billed).

        Reported (public_metrics): impressions (impression_count), likes, comments (reply_count), shares
        (retweet_count + quote_count, each kept in raw), saves (bookmark_count), and views (the attached video's
        view_count). Not reported: reach, watch time → None. A deleted id comes back in `errors` as
        resource-not-found → gone=True. Readable by this account: any public post, whoever wrote it; a protected
        account's post answers not-authorized-for-resource and is left out."""
        out: dict[str, PostMetrics] = {}
        ids = list(dict.fromkeys(post_ids))
        for start in range(0, len(ids), LOOKUP_BATCH):
            resp = self.request(
                "GET",
                self.api + "/2/tweets",
                headers=self._auth(creds),
                params={
                    "ids": ",".join(ids[start : start + LOOKUP_BATCH]),
                    "tweet.fields": "public_metrics,created_at",  # created_at: the age of a post tracked by URL
                    "expansions": "attachments.media_keys",
                    "media.fields": "public_metrics",
                },
            )
            out.update(_lookup_metrics(json_or_empty(resp)))
        return out

    # ---- URLs -------------------------------------------------------------------------------------------------
    @staticmethod
    def parse_post_url(url: str) -> PostRef | None:
        parts = web_url(url)
        if parts is None or (parts.hostname or "").lower() not in _HOSTS:
            return None
        m = _STATUS_PATH.match(parts.path)
        if not m:
            return None
        return PostRef("x", m["id"], handle=m["handle"] or "")

    # ---- errors -----------------------------------------------------------------------------------------------
    def classify(self, response: httpx.Response) -> PlatformError:
        status = response.status_code
        body = json_or_empty(response)
        ptype = str(body.get("type") or "")
        code = ptype.removeprefix(PROBLEMS) or None
        where = f"{response.request.method} {response.request.url.path}" if response.request else ""

        def err(cls: ErrorClass, what: str, retry_at: datetime | None = None) -> PlatformError:
            return PlatformError(
                self.platform,
                cls,
                f"{where}: {what}",
                status=status,
                code=code or str(status),
                retry_at=retry_at,
                details={k: body[k] for k in ("title", "errors") if k in body},
            )

        if status == 429:
            # The 300-per-3-h post cap and monthly caps arrive as "usage-capped"; bursts are plain 429s.
            # X sends no Retry-After: x-rate-limit-reset (epoch seconds) says when the window frees.
            if code == "usage-capped":
                return err(ErrorClass.QUOTA_EXHAUSTED, "post cap reached", retry_at_from(response, 3 * 3600))
            return err(ErrorClass.RATE_LIMITED, "rate limited", retry_at_from(response, 900))
        if status == 401:
            return err(ErrorClass.AUTH_REFRESHABLE, "access token rejected")
        if status == 402:
            return err(ErrorClass.CONFIG, "API credits exhausted (billing)")
        if status == 403:
            if code in ("unsupported-authentication", "client-forbidden"):
                return err(ErrorClass.AUTH_RECONNECT, "missing scope or app not permitted")
            is_create = (
                response.request is not None
                and response.request.method == "POST"
                and response.request.url.path.endswith("/2/tweets")
            )
            if is_create and ptype in ("", "about:blank"):
                # X's duplicate-content refusal has no error code: a bare 403 problem on the create.
                return err(ErrorClass.DUPLICATE, "X refused the post as duplicate content")
            return err(ErrorClass.CONFIG, "forbidden (account restricted or not permitted)")
        if status >= 500:
            return err(ErrorClass.TRANSIENT, "server error")
        return err(ErrorClass.CONTENT_REJECTED, "request rejected")


def _lookup_metrics(body: Mapping[str, Any]) -> dict[str, PostMetrics]:
    out: dict[str, PostMetrics] = {}
    views = {
        m["media_key"]: (m.get("public_metrics") or {}).get("view_count")
        for m in (body.get("includes") or {}).get("media", [])
    }
    for tweet in body.get("data") or []:
        pm = tweet.get("public_metrics") or {}
        keys = (tweet.get("attachments") or {}).get("media_keys") or []
        shares = [v for k in ("retweet_count", "quote_count") if (v := pm.get(k)) is not None]
        out[str(tweet["id"])] = PostMetrics(
            str(tweet["id"]),
            views=next((views[k] for k in keys if views.get(k) is not None), None),
            likes=pm.get("like_count"),
            comments=pm.get("reply_count"),
            shares=sum(shares) if shares else None,
            saves=pm.get("bookmark_count"),
            impressions=pm.get("impression_count"),
            raw=dict(tweet),
        )
    for problem in body.get("errors") or []:
        if str(problem.get("type", "")).endswith("/resource-not-found") and problem.get("resource_id"):
            pid = str(problem["resource_id"])
            out[pid] = PostMetrics(pid, gone=True, raw={"error": dict(problem)})
    return out


CLIENT = XClient
