"""Posts that exist on a sandbox platform without Cliply having published them (what `cliply track <url>` follows),
and deleting posts. Each platform keeps its own objects next to the shared post list; this module writes (and
forgets) exactly what that platform's read endpoints look at."""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from cliply.sandbox.state import RecordedPost, SandboxState

Seeder = Callable[[SandboxState, RecordedPost, dict[str, Any]], dict[str, Any]]


def seed(
    state: SandboxState,
    platform: str,
    account_id: str,
    post_id: str | None = None,
    *,
    age: timedelta = timedelta(0),
    text: str = "",
    **options: Any,
) -> RecordedPost:
    if platform not in _IDS:
        raise ValueError(f"unknown platform {platform!r}")
    if age < timedelta(0):
        raise ValueError("age must not be negative")
    acct = state.account(platform, account_id)
    pid = post_id or _IDS[platform](state, acct.account_id)
    with state.lock:
        if state.find_post(platform, pid, include_deleted=True) is not None:
            raise ValueError(f"{platform} post {pid!r} already exists")
        draft = RecordedPost(platform, acct.account_id, pid, state.clock.now() - age, {})
        payload = _SEEDERS[platform](state, draft, {"text": text or f"seeded post {pid}", **options})
        post = RecordedPost(platform, acct.account_id, pid, draft.created_at, payload)
        state.posts.append(post)
    return post


def forget(state: SandboxState, platform: str, post_id: str) -> None:
    """Drop the platform-side objects of a deleted post (the shared post list keeps it, marked deleted)."""
    if platform == "youtube":
        from cliply.sandbox.youtube import _videos

        _videos(state).pop(post_id, None)
    elif platform == "bluesky":
        from cliply.sandbox.bluesky import objs

        objs(state)["records"].pop(post_id, None)
    elif platform in ("instagram", "threads", "facebook"):
        state.objects.pop(post_id, None)


# ---- ids as each platform shapes them -------------------------------------------------------------------------------
def _bsky_uri(state: SandboxState, did: str) -> str:
    from cliply.sandbox.bluesky import _tid

    return f"at://{did}/app.bsky.feed.post/{_tid()}"


def _yt_id(_state: SandboxState, _acct: str) -> str:
    from cliply.sandbox.youtube import _video_id

    return _video_id()


_IDS: dict[str, Callable[[SandboxState, str], str]] = {
    "youtube": _yt_id,
    "tiktok": lambda s, _a: s.new_id(digits=19),
    "instagram": lambda s, _a: s.new_id(digits=17),
    "facebook": lambda s, _a: s.new_id(digits=16),
    "threads": lambda s, _a: s.new_id(digits=17),
    "x": lambda s, _a: s.new_id(digits=19),
    "linkedin": lambda s, _a: s.new_id("urn:li:share:", 19),
    "pinterest": lambda s, _a: s.new_id(digits=18),
    "bluesky": _bsky_uri,
}


# ---- per-platform objects -------------------------------------------------------------------------------------------
def _youtube(state: SandboxState, post: RecordedPost, opts: dict[str, Any]) -> dict[str, Any]:
    from cliply.sandbox.youtube import _videos, channel_id

    acct = state.account(post.platform, post.account_id)
    status = {"privacyStatus": opts.get("privacy", "public"), "uploadStatus": "processed"}
    snippet = {"title": opts["text"][:100], "description": opts["text"], "tags": []}
    _videos(state)[post.post_id] = {
        "id": post.post_id,
        "account_id": acct.account_id,
        "channel_id": channel_id(acct.account_id),
        "channel_title": acct.handle,
        "snippet": snippet,
        "status": status,
        "uploadStatus": "processed",
        "polls": 0,
        "fails": False,
        "rejection": None,
        "created_at": post.created_at,
        "size": 0,
        "sha256": hashlib.sha256(post.post_id.encode()).hexdigest(),
    }
    return {"snippet": snippet, "status": status, "public_url": f"https://www.youtube.com/shorts/{post.post_id}"}


def _tiktok(state: SandboxState, post: RecordedPost, opts: dict[str, Any]) -> dict[str, Any]:
    handle = state.account(post.platform, post.account_id).handle
    return {
        "mode": "direct",
        "publish_id": f"v_pub_seeded~v2-1.{post.post_id}",
        "post_info": {"title": opts["text"], "privacy_level": opts.get("privacy", "PUBLIC_TO_EVERYONE")},
        "source": "SEEDED",
        "public_url": f"https://www.tiktok.com/@{re.sub(r'[^A-Za-z0-9_.]', '_', handle)}/video/{post.post_id}",
    }


def _container(state: SandboxState, post: RecordedPost, opts: dict[str, Any]) -> dict[str, Any]:
    from cliply.sandbox.instagram import SPEC as IG
    from cliply.sandbox.threads import SPEC as THREADS

    spec = IG if post.platform == "instagram" else THREADS
    acct = state.account(post.platform, post.account_id)
    shortcode = secrets.token_urlsafe(8).replace("-", "a").replace("_", "b")[:11]
    permalink = spec.permalink(acct.handle, shortcode)
    state.objects[post.post_id] = {
        "kind": "media",
        "platform": post.platform,
        "account": post.account_id,
        "container": {},
        "shortcode": shortcode,
        "text": opts["text"],
        "permalink": permalink,
    }
    return {spec.text_field: opts["text"], "media_type": spec.media_type, "public_url": permalink}


def _facebook(state: SandboxState, post: RecordedPost, opts: dict[str, Any]) -> dict[str, Any]:
    state.objects[post.post_id] = {
        "kind": "fb_video",
        "page": post.account_id,
        "size": 1,
        "received": 1,
        "sha": None,
        "fails": False,
        "bad": False,
        "finished": True,
        "state": "PUBLISHED",
        "polls_after_finish": 2,
        "created": post.created_at,
        "finished_at": post.created_at,
        "description": opts["text"],
    }
    return {"description": opts["text"], "public_url": f"https://www.facebook.com/reel/{post.post_id}"}


def _x(state: SandboxState, post: RecordedPost, opts: dict[str, Any]) -> dict[str, Any]:
    handle = state.account(post.platform, post.account_id).handle
    media_id = state.new_id(digits=19)
    return {
        "source_text": opts["text"],
        "text": f"{opts['text']} https://t.co/{media_id[:10]}",
        "media_keys": [f"13_{media_id}"],
        "public_url": f"https://x.com/{re.sub(r'[^A-Za-z0-9_]', '_', handle)[:15]}/status/{post.post_id}",
    }


def _linkedin(_state: SandboxState, post: RecordedPost, opts: dict[str, Any]) -> dict[str, Any]:
    return {
        "author": f"urn:li:person:{post.account_id}",
        "commentary": opts["text"],
        "visibility": "PUBLIC",
        "lifecycleState": "PUBLISHED",
        "distribution": {"feedDistribution": "MAIN_FEED"},
        "content": {"media": {"id": f"urn:li:video:D4E{secrets.token_hex(8)}"}},
        "public_url": f"https://www.linkedin.com/feed/update/{post.post_id}/",
    }


def _pinterest(state: SandboxState, post: RecordedPost, opts: dict[str, Any]) -> dict[str, Any]:
    from cliply.sandbox.pinterest import boards_of

    board = opts.get("board_id") or boards_of(state, post.account_id)[0]["id"]
    return {
        "board_id": board,
        "title": opts["text"][:100],
        "description": opts["text"],
        "link": None,
        "alt_text": None,
        "media_id": state.new_id(digits=19),
        "cover_image_url": None,
        "public_url": f"https://www.pinterest.com/pin/{post.post_id}/",
    }


def _bluesky(state: SandboxState, post: RecordedPost, opts: dict[str, Any]) -> dict[str, Any]:
    from cliply.sandbox.bluesky import cid_for, objs

    record = {
        "$type": "app.bsky.feed.post",
        "text": opts["text"],
        "createdAt": post.created_at.isoformat().replace("+00:00", "Z"),
    }
    objs(state)["records"][post.post_id] = {"cid": cid_for(repr(record).encode(), 0x71), "value": record}
    rkey = post.post_id.rsplit("/", 1)[-1]
    return {**record, "public_url": f"https://bsky.app/profile/{post.account_id}/post/{rkey}"}


_SEEDERS: dict[str, Seeder] = {
    "youtube": _youtube,
    "tiktok": _tiktok,
    "instagram": _container,
    "facebook": _facebook,
    "threads": _container,
    "x": _x,
    "linkedin": _linkedin,
    "pinterest": _pinterest,
    "bluesky": _bluesky,
}
