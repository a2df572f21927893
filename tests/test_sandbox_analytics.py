"""The sandbox's analytics: growth curves that look like real posts (fast then decaying growth, heavy-tailed reach,
late risers, small noise, counters that only drop in a flagged platform correction, deterministic per post and
clock), posts seeded without Cliply publishing them, and deleted posts, through the state and the /_sandbox API."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from cliply.platforms import make_client
from cliply.platforms.errors import ErrorClass, PlatformError
from cliply.platforms.youtube import YouTubeClient
from cliply.sandbox import growth, youtube
from cliply.sandbox.state import Clock, SandboxState
from tests.fixtures.sandbox import RunningSandbox

H = 3600.0
PLATFORMS = tuple(growth.MEDIAN_VIEWS)


class FrozenClock(Clock):
    def __init__(self, at: datetime) -> None:
        super().__init__()
        self.at = at

    def now(self) -> datetime:
        return self.at + timedelta(seconds=self.offset_s)


def views(platform: str, post_id: str, hours: float) -> int:
    return growth.counters(platform, post_id, hours * H)["views"]


# ---- curves ----------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("platform", PLATFORMS)
def test_counters_never_go_back_except_in_a_flagged_correction(platform: str) -> None:
    drops = unflagged = 0
    for i in range(120):
        pid = f"mono-{i}"
        prev = growth.counters(platform, pid, 0)
        for minute in range(5, 10 * 24 * 60, 17):  # ten days, every 17 minutes
            now = growth.counters(platform, pid, minute * 60)
            for key, value in now.items():
                if value < prev[key]:
                    drops += 1
                    fresh = now["corrected"] and not prev["corrected"]
                    unflagged += not (key == "views" and fresh)  # only views, only at the correction
            prev = now
    assert unflagged == 0
    assert drops <= 10  # a rare event: about 2 % of posts


def test_a_correction_is_small_rare_and_flagged() -> None:
    corrected = [
        pid for pid in (f"c-{i}" for i in range(2000)) if growth.curve("youtube", pid).correction_at is not None
    ]
    assert 10 <= len(corrected) <= 80  # ~2 % of 2,000
    pid = corrected[0]
    at = growth.curve("youtube", pid).correction_at
    assert at is not None
    before, after = growth.counters("youtube", pid, (at - 0.01) * H), growth.counters("youtube", pid, (at + 0.01) * H)
    assert after["corrected"] == 1 and before["corrected"] == 0
    assert 0.9 * before["views"] <= after["views"] < before["views"]  # a drop of at most ~5 %


def test_growth_is_fast_early_and_decays() -> None:
    def rate(pid: str, a: float, b: float) -> float:
        return (views("tiktok", pid, b) - views("tiktok", pid, a)) / (b - a)

    posts = [f"d-{i}" for i in range(300) if growth.curve("tiktok", f"d-{i}").riser_at is None]
    decaying = sum(rate(p, 0, 2) > rate(p, 22, 24) > rate(p, 6 * 24, 7 * 24) and rate(p, 0, 2) > 0 for p in posts)
    assert decaying >= 0.95 * len(posts)
    # Most of a week's views arrive in the first day, yet the tail keeps adding some.
    first_day = sum(views("tiktok", p, 24) for p in posts) / sum(views("tiktok", p, 7 * 24) for p in posts)
    assert 0.6 < first_day < 0.98


def test_reach_is_heavy_tailed_across_posts() -> None:
    week = sorted((views("youtube", f"t-{i}", 7 * 24) for i in range(1000)), reverse=True)
    assert sum(week[:100]) > 0.4 * sum(week)  # the top 10 % hold most views
    assert week[0] > 50 * week[500]  # a hit dwarfs the median post


def test_some_posts_rise_again_days_later() -> None:
    risers = [f"r-{i}" for i in range(1000) if growth.curve("instagram", f"r-{i}").riser_at is not None]
    assert 15 <= len(risers) <= 70  # a few per cent
    pid = risers[0]
    at = growth.curve("instagram", pid).riser_at
    assert at is not None

    def rate(a: float, b: float) -> float:
        return (views("instagram", pid, b) - views("instagram", pid, a)) / (b - a)

    assert rate(at + 1, at + 6) > 3 * rate(at - 6, at - 1)  # the second bump


def test_noise_is_small_but_present() -> None:
    pid = max((f"n-{i}" for i in range(50)), key=lambda p: views("tiktok", p, 40))  # enough views per hour
    hourly = [views("tiktok", pid, h + 1) - views("tiktok", pid, h) for h in range(30, 40)]
    ratios = [b / a for a, b in itertools.pairwise(hourly)]
    assert any(abs(r - 1) > 0.005 for r in ratios)  # not a smooth curve
    assert all(0.3 < r < 2.5 for r in ratios)  # but no wild jumps


def test_secondary_counters_follow_views_with_per_post_ratios() -> None:
    a, b = growth.counters("instagram", "ratio-a", 48 * H), growth.counters("instagram", "ratio-b", 48 * H)
    for m in (a, b):
        assert m["reach"] < m["views"] < m["impressions"]
        assert 0 < m["comments"] < m["likes"] < m["views"]
        assert m["watch_time_ms"] > m["views"] * 1000  # at least a second a view
    assert a["likes"] / a["views"] != pytest.approx(b["likes"] / b["views"], rel=0.01)


def test_state_metrics_are_deterministic_per_post_and_clock() -> None:
    def at(hours: float) -> dict[str, int]:
        state = SandboxState()
        state.clock = FrozenClock(datetime(2026, 3, 1, 12, tzinfo=UTC))
        post = state.record_post("youtube", "ch1", "vid-a", {})
        state.clock.advance(hours * H)
        return state.metrics(post)

    assert at(0)["views"] == 0
    assert at(3) == at(3)  # same post, same age: same numbers on any sandbox
    assert at(3)["views"] < at(30)["views"]
    assert at(3) == growth.counters("youtube", "vid-a", 3 * H)


# ---- seeded and deleted posts (state) --------------------------------------------------------------------------------
@pytest.mark.parametrize("platform", PLATFORMS)
def test_seeded_post_exists_with_its_age_and_a_public_url(platform: str) -> None:
    state = SandboxState()
    post = state.seed_post(platform, "acct-1", age=timedelta(hours=5), text="hello")
    assert state.find_post(platform, post.post_id) == post
    assert 5 * H - 5 < state.age_s(post) < 5 * H + 5
    assert state.metrics(post)["views"] > 0
    assert post.payload["public_url"].startswith("https://")
    with pytest.raises(ValueError, match="already exists"):
        state.seed_post(platform, "acct-1", post.post_id)


def test_seeded_post_urls_parse_back_to_the_post() -> None:
    from cliply.platforms import parse_post_url

    state = SandboxState()
    for platform in PLATFORMS:
        post = state.seed_post(platform, "did:plc:acct1" if platform == "bluesky" else "acct-1")
        ref = parse_post_url(post.payload["public_url"])
        assert ref is not None and ref.platform == platform, post.payload["public_url"]
        if platform in ("instagram", "threads"):  # the URL carries a shortcode: the media listing maps it
            assert ref.id_kind == "shortcode" and ref.post_id in post.payload["public_url"]
        else:
            assert ref.post_id == post.post_id


@pytest.mark.parametrize("platform", PLATFORMS)
def test_deleted_post_disappears_from_every_lookup(platform: str) -> None:
    state = SandboxState()
    post = state.seed_post(platform, "acct-1", age=timedelta(days=1))
    assert state.delete_post(platform, post.post_id)
    assert state.find_post(platform, post.post_id) is None
    assert post not in state.posts_for(platform)
    assert state.find_post(platform, post.post_id, include_deleted=True) == post
    assert not state.delete_post(platform, post.post_id)  # already gone


def test_seeding_rejects_unknown_platforms_and_negative_ages() -> None:
    state = SandboxState()
    with pytest.raises(ValueError, match="unknown platform"):
        state.seed_post("myspace", "a")
    with pytest.raises(ValueError, match="negative"):
        state.seed_post("x", "a", age=timedelta(hours=-1))


# ---- the same over /_sandbox -----------------------------------------------------------------------------------------
@pytest.fixture
def control(sandbox: RunningSandbox) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sandbox.base, timeout=10) as client:
        yield client


def test_admin_seed_metrics_and_delete(sandbox: RunningSandbox, control: httpx.Client) -> None:
    resp = control.post(
        "/_sandbox/seed", json={"platform": "instagram", "account_id": "ig-9", "age_s": 7200, "text": "found it"}
    )
    assert resp.status_code == 201, resp.text
    seeded = resp.json()
    assert seeded["public_url"].startswith("https://www.instagram.com/reel/")
    pid = seeded["post_id"]
    post = sandbox.state.find_post("instagram", pid)
    assert post is not None
    before = sandbox.state.metrics(post)
    truth = control.get(f"/_sandbox/metrics/instagram/{pid}").json()
    after = sandbox.state.metrics(post)
    assert truth["deleted"] is False and 7190 < truth["age_s"] < 7300
    # The post's own counters at the moment the request was answered (the clock runs between the three reads).
    assert set(truth["counters"]) == set(before)
    assert all(before[k] <= truth["counters"][k] <= after[k] for k in before)
    sandbox.state.clock.advance(3600)
    assert control.get(f"/_sandbox/metrics/instagram/{pid}").json()["counters"]["views"] > truth["counters"]["views"]

    assert control.delete(f"/_sandbox/posts/instagram/{pid}").json() == {
        "deleted": True,
        "platform": "instagram",
        "post_id": pid,
    }
    assert control.delete(f"/_sandbox/posts/instagram/{pid}").status_code == 404
    assert control.get(f"/_sandbox/posts/instagram/{pid}").status_code == 404
    assert control.get(f"/_sandbox/metrics/instagram/{pid}").json()["deleted"] is True


def test_admin_seed_with_a_chosen_id_and_bad_requests(control: httpx.Client) -> None:
    body = {"platform": "linkedin", "account_id": "li-1", "post_id": "urn:li:share:7000000000000000001"}
    assert control.post("/_sandbox/seed", json=body).json()["post_id"] == body["post_id"]
    assert control.post("/_sandbox/seed", json=body).status_code == 400  # the id is taken
    assert control.post("/_sandbox/seed", json={"platform": "linkedin"}).status_code == 400
    assert control.get("/_sandbox/metrics/linkedin/urn:li:share:1").status_code == 404


def test_a_seeded_reel_is_in_its_accounts_listing_by_shortcode(sandbox: RunningSandbox) -> None:
    """What tracking an Instagram URL relies on: the shortcode in the URL maps to the media id in the listing."""
    post = sandbox.state.seed_post("instagram", "ig-owner", age=timedelta(hours=3))
    grant = sandbox.state.issue_grant(
        "instagram", "ig-owner", ("instagram_business_basic",), access_ttl_s=3600, refresh_ttl_s=None
    )
    rows = httpx.get(
        f"{sandbox.url('instagram')}/v23.0/ig-owner/media",
        params={"fields": "id,shortcode,permalink"},
        headers={"Authorization": f"Bearer {grant.access_token}"},
    ).json()["data"]
    [row] = rows
    assert row["id"] == post.post_id and row["permalink"] == post.payload["public_url"]
    assert row["shortcode"] in post.payload["public_url"]


# ---- YouTube public reads with an API key ----------------------------------------------------------------------------
KEY = "AIzaSy-sandbox-key-1"
PACIFIC = ZoneInfo("America/Los_Angeles")


@pytest.fixture
def yt(sandbox: RunningSandbox) -> Iterator[YouTubeClient]:
    client = make_client("youtube", sandbox.config("youtube"))
    assert isinstance(client, YouTubeClient)
    try:
        yield client
    finally:
        client.close()


def keyed_list(sandbox: RunningSandbox, ids: list[str], key: str = KEY, **headers: str) -> httpx.Response:
    return httpx.get(
        f"{sandbox.url('youtube')}/youtube/v3/videos",
        params={"part": "statistics,status", "id": ",".join(ids), "key": key},
        headers=headers,
        timeout=10,
    )


def error_of(resp: httpx.Response) -> dict[str, Any]:
    body: dict[str, Any] = resp.json()["error"]
    return body


def test_a_public_video_is_read_with_an_api_key_and_no_token(sandbox: RunningSandbox, yt: YouTubeClient) -> None:
    sandbox.state.add_api_key(KEY)
    post = sandbox.state.seed_post("youtube", "someone-elses-channel", age=timedelta(hours=6))

    got = yt.fetch_metrics_with_key(KEY, [post.post_id])[post.post_id]

    truth = sandbox.state.metrics(post)
    assert not got.gone and got.views == truth["views"] > 0
    assert (got.likes, got.comments) == (truth["likes"], truth["comments"])
    (req,) = sandbox.wait_logged("youtube", path="/youtube/youtube/v3/videos")
    assert f"key={KEY}" in req.query and "authorization" not in req.headers
    assert req.status == 200


def test_a_key_reader_never_sees_a_private_video(sandbox: RunningSandbox, yt: YouTubeClient) -> None:
    sandbox.state.add_api_key(KEY)
    owner = "private-owner"
    public = sandbox.state.seed_post("youtube", owner, age=timedelta(hours=2))
    unlisted = sandbox.state.seed_post("youtube", owner, age=timedelta(hours=2), privacy="unlisted")
    private = sandbox.state.seed_post("youtube", owner, age=timedelta(hours=2), privacy="private")
    ids = [public.post_id, unlisted.post_id, private.post_id]

    resp = keyed_list(sandbox, ids)
    assert resp.status_code == 200, resp.text
    items = {i["id"]: i["status"]["privacyStatus"] for i in resp.json()["items"]}
    assert items == {public.post_id: "public", unlisted.post_id: "unlisted"}  # the private one is simply absent
    assert resp.json()["pageInfo"]["totalResults"] == 2

    got = yt.fetch_metrics_with_key(KEY, ids)
    assert got[private.post_id].gone and not got[public.post_id].gone and not got[unlisted.post_id].gone

    # The channel itself, with a token, still sees its private video.
    grant = sandbox.state.issue_grant(
        "youtube", owner, (youtube.SCOPE_PREFIX + "youtube.readonly",), access_ttl_s=3600, refresh_ttl_s=None
    )
    mine = httpx.get(
        f"{sandbox.url('youtube')}/youtube/v3/videos",
        params={"part": "statistics", "id": private.post_id},
        headers={"Authorization": f"Bearer {grant.access_token}"},
        timeout=10,
    )
    assert [i["id"] for i in mine.json()["items"]] == [private.post_id]


def test_an_unknown_api_key_is_refused_as_key_invalid(sandbox: RunningSandbox, yt: YouTubeClient) -> None:
    sandbox.state.add_api_key(KEY)
    post = sandbox.state.seed_post("youtube", "chan-1")

    resp = keyed_list(sandbox, [post.post_id], key="AIzaSy-not-a-real-key")
    assert resp.status_code == 400
    error = error_of(resp)
    assert error["message"] == "API key not valid. Please pass a valid API key."
    assert [e["reason"] for e in error["errors"]] == ["keyInvalid"]
    assert error["status"] == "INVALID_ARGUMENT"

    with pytest.raises(PlatformError) as caught:
        yt.fetch_metrics_with_key("AIzaSy-not-a-real-key", [post.post_id])
    err = caught.value
    assert (err.status, err.code) == (400, "keyInvalid")
    # A wrong key is a setting to fix: a configuration error, not retried.
    assert err.error_class is ErrorClass.CONFIG and not err.retryable
    assert youtube.units_used(sandbox.state, youtube.key_owner("AIzaSy-not-a-real-key")) == 0


def test_api_keys_are_registered_on_the_state_and_cleared_by_reset(sandbox: RunningSandbox) -> None:
    post = sandbox.state.seed_post("youtube", "chan-1")
    assert keyed_list(sandbox, [post.post_id]).status_code == 400  # a key is only valid once registered
    sandbox.state.add_api_key(KEY)
    assert keyed_list(sandbox, [post.post_id]).status_code == 200
    sandbox.state.reset()
    assert not sandbox.state.has_api_key(KEY)
    with pytest.raises(ValueError):
        sandbox.state.add_api_key("")


def test_each_keyed_read_spends_a_unit_of_the_keys_daily_pool(sandbox: RunningSandbox, yt: YouTubeClient) -> None:
    state = sandbox.state
    other = "AIzaSy-sandbox-key-2"
    state.add_api_key(KEY)
    state.add_api_key(other)
    posts = [state.seed_post("youtube", "chan-q") for _ in range(3)]
    ids = [p.post_id for p in posts]

    for _ in range(3):
        yt.fetch_metrics_with_key(KEY, ids)  # one call per batch of up to 50 ids, 1 unit each
    assert youtube.units_used(state, youtube.key_owner(KEY)) == 3
    assert youtube.units_used(state, youtube.key_owner(other)) == 0
    assert youtube.units_used(state, "chan-q") == 0  # the channel's own pool is untouched

    # Fill the pool to its last unit: that one is served, the next call is refused until midnight Pacific.
    assert youtube.charge(state, youtube.key_owner(KEY), "units", youtube.UNIT_POOL, youtube.UNIT_POOL - 4) is None
    assert not yt.fetch_metrics_with_key(KEY, ids)[ids[0]].gone
    assert youtube.units_used(state, youtube.key_owner(KEY)) == youtube.UNIT_POOL == 10_000
    resp = keyed_list(sandbox, ids)
    assert resp.status_code == 403
    assert [e["reason"] for e in error_of(resp)["errors"]] == ["quotaExceeded"]
    with pytest.raises(PlatformError) as caught:
        yt.fetch_metrics_with_key(KEY, ids)
    assert caught.value.error_class is ErrorClass.QUOTA_EXHAUSTED
    retry_at = caught.value.retry_at
    assert retry_at is not None and retry_at.astimezone(PACIFIC).time() == time(0)
    assert youtube.units_used(state, youtube.key_owner(KEY)) == youtube.UNIT_POOL  # a refused call costs nothing
    assert keyed_list(sandbox, ids, key=other).status_code == 200  # another key has its own pool

    # The pool resets at 00:00 America/Los_Angeles.
    local = state.clock.now().astimezone(PACIFIC)
    midnight = datetime.combine(local.date() + timedelta(days=1), time(0), PACIFIC)
    state.clock.advance((midnight - local).total_seconds() + 1)
    assert keyed_list(sandbox, ids).status_code == 200
    assert youtube.units_used(state, youtube.key_owner(KEY)) == 1
