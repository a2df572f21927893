"""Bluesky (AT Protocol): an app-password session (createSession once, reused; refreshSession with a rotating
refreshJwt on ExpiredToken), the video as a PDS blob (com.atproto.repo.uploadBlob) or through the video service
(app.bsky.video.uploadVideo → getJobStatus) when options.video_service is set, then createRecord of an
app.bsky.feed.post with an app.bsky.embed.video and UTF-8 byte-offset facets, at a client-chosen rkey (a TID derived
from the idempotency key) so "did it post?" is one getRecord."""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from cliply.platforms import oauth
from cliply.platforms.base import PlatformClient, Progress, json_or_empty, retry_at_from
from cliply.platforms.errors import ErrorClass, PlatformError
from cliply.platforms.models import Credentials, PostMetrics, PostRef, PublishResult, VideoPost, Violation
from cliply.platforms.text import bluesky_facets, check_length

PDS = "https://bsky.social"  # the entryway; self-hosted accounts set base_url to their PDS
APPVIEW = "https://public.api.bsky.app"
VIDEO = "https://video.bsky.app"
POST = "app.bsky.feed.post"
TEXT_GRAPHEMES, TEXT_BYTES = 300, 3000
MAX_VIDEO_BYTES = 100 * 1024 * 1024  # ⚠ formerly 50 MB
GET_POSTS_BATCH = 25
_AT_URI = re.compile(r"^at://(?P<repo>[^/]+)/(?P<collection>[^/]+)/(?P<rkey>[^/]+)$")
_FACET = "app.bsky.richtext.facet"
_B32 = "234567abcdefghijklmnopqrstuvwxyz"  # base32-sortable (TID alphabet)
_POST_URL = re.compile(r"(?i)^https?://(?:www\.)?bsky\.app/profile/([^/?#]+)/post/([a-z0-9]+)/?(?:[?#].*)?$")
_AUTH_RECONNECT = {
    "InvalidToken",
    "AuthenticationRequired",
    "AccountTakedown",
    "AccountDeactivated",
    "AuthFactorTokenRequired",
    "AuthMissing",
}


def tid_for(key: str) -> str:
    """A valid TID (13 chars, top bit 0) derived from Cliply's idempotency key: the same key → the same rkey."""
    n = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") & ((1 << 63) - 1)
    return "".join(_B32[(n >> (5 * i)) & 31] for i in reversed(range(13)))


def facets_for(text: str, resolve: Callable[[str], str | None]) -> list[dict[str, Any]]:
    """Rich-text facets with UTF-8 BYTE offsets (what the AppView indexes), detected as the official RichText does;
    a mention whose handle does not resolve stays plain text."""
    out: list[dict[str, Any]] = []
    for f in bluesky_facets(text):
        if f.kind == "mention":
            did = resolve(f.value)
            if did:
                out.append(_facet(f.byte_start, f.byte_end, {"$type": f"{_FACET}#mention", "did": did}))
        else:
            key = "uri" if f.kind == "link" else "tag"
            out.append(_facet(f.byte_start, f.byte_end, {"$type": f"{_FACET}#{f.kind}", key: f.value}))
    return sorted(out, key=lambda f: f["index"]["byteStart"])


def _facet(start: int, end: int, feature: dict[str, Any]) -> dict[str, Any]:
    return {"index": {"byteStart": start, "byteEnd": end}, "features": [feature]}


class BlueskyClient(PlatformClient):
    platform = "bluesky"

    # ---- validation / session auth --------------------------------------------------------------------
    def validate(self, post: VideoPost) -> list[Violation]:
        text = post.full_caption()
        problems = check_length("text", text, TEXT_GRAPHEMES, "graphemes")
        problems += check_length("text", text, TEXT_BYTES, "utf8_bytes")
        size = post.video.stat().st_size if post.video.exists() else 0
        if not 0 < size <= MAX_VIDEO_BYTES:
            problems.append(Violation("video", "size (bytes)", size, MAX_VIDEO_BYTES))
        alt = str(post.options.get("alt", ""))
        problems += check_length("alt", alt, 1000, "graphemes")
        return problems

    def oauth_app(self) -> oauth.OAuthApp:
        raise PlatformError(
            self.platform,
            ErrorClass.CONFIG,
            "Bluesky uses an app-password session: call login(identifier, app_password)",
        )

    def _xrpc(self, method: str) -> str:
        return f"{self.config.host(PDS)}/xrpc/{method}"

    def login(self, identifier: str, app_password: str) -> Credentials:
        """createSession: do this once per account and keep the Credentials (createSession is 30/5 min, 100/day)."""
        data = self.request(
            "POST",
            self._xrpc("com.atproto.server.createSession"),
            json={"identifier": identifier, "password": app_password},
        ).json()
        return self._session_creds(data)

    def _session_creds(self, data: dict[str, Any]) -> Credentials:
        return Credentials(
            access_token=data["accessJwt"],
            refresh_token=data["refreshJwt"],
            expires_at=datetime.now(UTC) + timedelta(hours=2),
            refresh_expires_at=datetime.now(UTC) + timedelta(days=90),
            account_id=data["did"],
            extra={"handle": data.get("handle", "")},
        )

    def refresh(self, creds: Credentials) -> Credentials:
        """refreshSession: the refreshJwt ROTATES; the caller must persist the returned credentials."""
        if not creds.refresh_token:
            raise PlatformError(self.platform, ErrorClass.AUTH_RECONNECT, "no refresh token: log in again")
        data = self.request(
            "POST",
            self._xrpc("com.atproto.server.refreshSession"),
            headers={"Authorization": f"Bearer {creds.refresh_token}"},
        ).json()
        fresh = self._session_creds(data)
        return replace(fresh, extra={**creds.extra, **fresh.extra})

    def _authed(self, creds: Credentials, method: str, url: str, **kw: Any) -> httpx.Response:
        """One call with the session; on ExpiredToken refresh once (updating `creds` in place) and retry."""

        def send() -> httpx.Response:
            headers = {**kw.get("headers", {}), "Authorization": f"Bearer {creds.access_token}"}
            return self.request(method, url, **{**kw, "headers": headers})

        try:
            return send()
        except PlatformError as exc:
            if exc.error_class is not ErrorClass.AUTH_REFRESHABLE:
                raise
        fresh = self.refresh(creds)
        creds.access_token, creds.refresh_token = fresh.access_token, fresh.refresh_token
        creds.expires_at, creds.refresh_expires_at = fresh.expires_at, fresh.refresh_expires_at
        return send()

    # ---- publish ------------------------------------------------------------------------------------------------
    def publish(self, creds: Credentials, post: VideoPost, *, progress: Progress | None = None) -> PublishResult:
        self.ensure_valid(post)
        rkey = tid_for(post.idempotency_key) if post.idempotency_key else tid_for(secrets.token_hex(16))
        blob = self._upload_video(creds, post)
        if progress:
            progress(1.0)
        text = post.full_caption()
        embed: dict[str, Any] = {
            "$type": "app.bsky.embed.video",
            "video": blob,
            "aspectRatio": self._aspect_ratio(post),
        }
        if post.options.get("alt"):
            embed["alt"] = str(post.options["alt"])
        record: dict[str, Any] = {
            "$type": POST,
            "text": text,
            "createdAt": _now_iso(),
            "embed": embed,
            "langs": list(post.options.get("langs", ["en"])),
        }
        facets = facets_for(text, self.resolve_handle)
        if facets:
            record["facets"] = facets
        body = {"repo": creds.account_id, "collection": POST, "rkey": rkey, "record": record}
        try:
            data = self._authed(
                creds, "POST", self._xrpc("com.atproto.repo.createRecord"), json=body, creates=True
            ).json()
        except PlatformError as exc:
            # The rkey is fixed: a failed create whose record exists means an earlier attempt landed. (A real PDS
            # answers a taken rkey with 500 InternalServerError, so 5xx is checked too.)
            retryish = exc.error_class in (ErrorClass.CONTENT_REJECTED, ErrorClass.TRANSIENT)
            if retryish and (found := self._get_record(creds, rkey)):
                raise PlatformError(
                    self.platform,
                    ErrorClass.DUPLICATE,
                    f"record {rkey} already exists",
                    status=exc.status,
                    code=exc.code,
                    details={"existing_post_id": found.post_id},
                ) from exc
            raise
        return self._result(creds.account_id, data["uri"], data)

    def _upload_video(self, creds: Credentials, post: VideoPost) -> dict[str, Any]:
        content = post.video.read_bytes()
        service = self.config.options.get("video_service", "")
        if service:
            return self._upload_via_service(creds, post, content, service)
        resp = self._authed(
            creds,
            "POST",
            self._xrpc("com.atproto.repo.uploadBlob"),
            content=content,
            headers={"Content-Type": "video/mp4"},
            timeout=self.config.upload_timeout_s,
        )
        return resp.json()["blob"]

    def _upload_via_service(self, creds: Credentials, post: VideoPost, content: bytes, service: str) -> dict[str, Any]:
        """The production path: a service-auth token for the PDS's uploadBlob, the bytes to the video service,
        then poll the (unauthenticated) job status until it yields the processed blob."""
        video_host = self.config.base_url or service.rstrip("/")
        pds_did = "did:web:" + httpx.URL(self.config.host(PDS)).host
        exp = int((datetime.now(UTC) + timedelta(minutes=30)).timestamp())
        token = self._authed(
            creds,
            "GET",
            self._xrpc("com.atproto.server.getServiceAuth"),
            params={"aud": pds_did, "lxm": "com.atproto.repo.uploadBlob", "exp": exp},
        ).json()["token"]
        job = self.request(
            "POST",
            f"{video_host}/xrpc/app.bsky.video.uploadVideo",
            params={"did": creds.account_id, "name": post.video.name},
            content=content,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "video/mp4"},
            timeout=self.config.upload_timeout_s,
        ).json()
        job_id = job.get("jobId") or job.get("jobStatus", {}).get("jobId")

        def check() -> dict[str, Any] | None:
            status = self.request(
                "GET", f"{video_host}/xrpc/app.bsky.video.getJobStatus", params={"jobId": job_id}
            ).json()["jobStatus"]
            if status.get("state") == "JOB_STATE_FAILED":
                raise PlatformError(
                    self.platform,
                    ErrorClass.CONTENT_REJECTED,
                    f"video job failed: {status.get('error', '')}",
                    code=status.get("error"),
                )
            return status.get("blob") if status.get("state") == "JOB_STATE_COMPLETED" else None

        return self.poll(check, what=f"video job {job_id}")

    @staticmethod
    def _aspect_ratio(post: VideoPost) -> dict[str, int]:
        from cliply.media.probe import ProbeError, probe

        try:
            info = probe(post.video)
        except ProbeError:
            info = None
        if info and info.width and info.height:
            return {"width": info.width, "height": info.height}
        return {"width": 1080, "height": 1920}  # Cliply renders 9:16

    def resolve_handle(self, handle: str) -> str | None:
        try:
            return str(
                self.request("GET", self._xrpc("com.atproto.identity.resolveHandle"), params={"handle": handle}).json()[
                    "did"
                ]
            )
        except PlatformError as exc:
            if exc.error_class in (ErrorClass.CONTENT_REJECTED, ErrorClass.CONFIG):
                return None  # unknown handle: the mention stays plain text
            raise

    # ---- reconciliation / analytics ------------------------------------------------------------------------------
    def find_existing(self, creds: Credentials, post: VideoPost) -> PublishResult | None:
        if not post.idempotency_key:
            return None
        return self._get_record(creds, tid_for(post.idempotency_key))

    def _get_record(self, creds: Credentials, rkey: str) -> PublishResult | None:
        resp = self.request(
            "GET",
            self._xrpc("com.atproto.repo.getRecord"),
            ok=(400,),
            params={"repo": creds.account_id, "collection": POST, "rkey": rkey},
        )
        if resp.status_code == 400:
            if json_or_empty(resp).get("error") == "RecordNotFound":
                return None
            raise self.classify(resp)
        data = resp.json()
        return self._result(creds.account_id, data["uri"], data)

    def _result(self, did: str, uri: str, raw: dict[str, Any]) -> PublishResult:
        rkey = uri.rsplit("/", 1)[-1]
        return PublishResult(self.platform, uri, url=f"https://bsky.app/profile/{did}/post/{rkey}", raw=raw)

    def fetch_metrics(self, creds: Credentials, post_ids: Sequence[str]) -> dict[str, PostMetrics]:
        """app.bsky.feed.getPosts on the public AppView (no auth), at most 25 URIs per call.

        Reported: likes, comments (replyCount), shares (repostCount + quoteCount, each kept in raw), saves
        (bookmarkCount, on AppViews that expose it). Not reported: views (Bluesky has no view count),
        reach, impressions, watch time → None. getPosts silently leaves out deleted posts and posts the AppView
        has not indexed yet; each absent URI is asked of its repository (com.atproto.repo.getRecord):
        RecordNotFound → gone=True, still there → left out (not indexed yet). Readable by this account: any
        public post, whoever wrote it."""
        out: dict[str, PostMetrics] = {}
        ids = list(post_ids)
        for i in range(0, len(ids), GET_POSTS_BATCH):
            resp = self.request(
                "GET",
                f"{self.config.host(APPVIEW)}/xrpc/app.bsky.feed.getPosts",
                params=[("uris", u) for u in ids[i : i + GET_POSTS_BATCH]],
            )
            for p in json_or_empty(resp).get("posts", []):
                out[p["uri"]] = _post_metrics(p)
        for uri in dict.fromkeys(u for u in ids if u not in out):
            if self._record_gone(uri):
                out[uri] = PostMetrics(uri, gone=True, raw={"error": "RecordNotFound"})
        return out

    def _record_gone(self, uri: str) -> bool:
        m = _AT_URI.match(uri)
        if not m:
            return False
        resp = self.request(
            "GET",
            self._xrpc("com.atproto.repo.getRecord"),
            ok=(400,),
            params={"repo": m["repo"], "collection": m["collection"], "rkey": m["rkey"]},
        )
        return resp.status_code == 400 and json_or_empty(resp).get("error") == "RecordNotFound"

    @staticmethod
    def parse_post_url(url: str) -> PostRef | None:
        m = _POST_URL.match(url.strip())
        if not m:
            return None
        actor, rkey = m.group(1), m.group(2)
        # A handle must be resolved to the DID (handles change); a DID URL is final.
        return PostRef(
            "bluesky",
            f"at://{actor}/{POST}/{rkey}",
            id_kind="at_uri",
            needs_resolution=not actor.startswith("did:"),
            handle="" if actor.startswith("did:") else actor,
        )

    # ---- errors ----------------------------------------------------------------------------------------------------
    def classify(self, response: httpx.Response) -> PlatformError:
        body = json_or_empty(response)
        status = response.status_code
        code = str(body.get("error") or status)
        msg = f"{response.request.method} {response.request.url.path}: {status} {code}"

        def err(cls: ErrorClass, **kw: Any) -> PlatformError:
            return PlatformError(self.platform, cls, msg, status=status, code=code, **kw)

        if code == "ExpiredToken":
            return err(ErrorClass.AUTH_REFRESHABLE)
        if code in _AUTH_RECONNECT or status == 401:
            return err(ErrorClass.AUTH_RECONNECT)
        if code == "UploadLimitExceeded":  # daily video count/bytes (video service)
            return err(ErrorClass.QUOTA_EXHAUSTED, retry_at=retry_at_from(response, 86400))
        if status == 429 or code == "RateLimitExceeded":
            return err(ErrorClass.RATE_LIMITED, retry_at=retry_at_from(response, 300))
        if status >= 500:
            return err(ErrorClass.TRANSIENT)
        if code == "AccountNotVerified":  # video needs a verified email
            return err(ErrorClass.CONFIG)
        return err(ErrorClass.CONTENT_REJECTED)  # InvalidRequest, BlobTooLarge, 413, lexicon errors


def _post_metrics(p: Mapping[str, Any]) -> PostMetrics:
    shares = [v for k in ("repostCount", "quoteCount") if (v := p.get(k)) is not None]
    return PostMetrics(
        p["uri"],
        likes=p.get("likeCount"),
        comments=p.get("replyCount"),
        shares=sum(shares) if shares else None,
        saves=p.get("bookmarkCount"),
        # indexedAt: when the post appeared (the age of a post tracked by URL).
        raw={k: v for k, v in p.items() if k.endswith("Count") or k == "indexedAt"},
    )


def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


CLIENT = BlueskyClient
