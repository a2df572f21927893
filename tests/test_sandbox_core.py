"""The platform sandbox's own machinery: control endpoints, scripted faults, OAuth grant bookkeeping (PKCE, refresh
rotation, reuse detection), rolling limit windows, analytics, the request log, scenario files and `cliply sandbox`."""

from __future__ import annotations

import asyncio
import hashlib
import json
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from starlette.responses import JSONResponse, Response

from cliply.platforms.oauth import code_challenge, new_code_verifier
from cliply.sandbox.app import PLATFORMS, load_faults
from cliply.sandbox.common import after_commit, pre_faults, processing_fails
from cliply.sandbox.serve import build_state
from cliply.sandbox.state import Clock, Fault, OAuthFailure, SandboxState
from tests.fixtures.sandbox import RunningSandbox

REDIRECT = "http://127.0.0.1:9/callback"


class FrozenClock(Clock):
    """Wall time pinned, so analytics are exactly reproducible; advance() still moves it."""

    def __init__(self, at: datetime) -> None:
        super().__init__()
        self.at = at

    def now(self) -> datetime:
        return self.at + timedelta(seconds=self.offset_s)

    def timestamp(self) -> float:
        return self.now().timestamp()


@pytest.fixture
def state() -> SandboxState:
    return SandboxState()


@pytest.fixture
def control(sandbox: RunningSandbox) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sandbox.base, timeout=10) as client:
        yield client


# ---- control endpoints (real HTTP) ------------------------------------------------------------------------------


def test_health_lists_every_platform(control: httpx.Client) -> None:
    body = control.get("/_sandbox/health").json()
    assert body["ok"] is True
    assert body["platforms"] == list(PLATFORMS) and len(PLATFORMS) == 9
    datetime.fromisoformat(body["now"])


def test_accounts_seeding_issues_a_live_grant(sandbox: RunningSandbox, control: httpx.Client) -> None:
    resp = control.post(
        "/_sandbox/accounts",
        json={
            "platform": "tiktok",
            "account_id": "creator-1",
            "handle": "@c1",
            "scopes": ["video.upload"],
            "extra": {"tier": "pro"},
        },
    )
    assert resp.status_code == 200
    body = resp.json()
    assert body["account_id"] == "creator-1" and body["refresh_token"]
    grant = sandbox.state.bearer("tiktok", body["access_token"])
    assert grant is not None and grant.account_id == "creator-1" and grant.scopes == ("video.upload",)
    assert sandbox.state.bearer("youtube", body["access_token"]) is None  # tokens are per platform
    acct = sandbox.state.accounts[("tiktok", "creator-1")]
    assert acct.handle == "@c1" and acct.extra == {"tier": "pro"}


def test_posts_endpoint_filters_by_platform_and_account(sandbox: RunningSandbox, control: httpx.Client) -> None:
    sandbox.state.record_post("x", "a1", "p1", {"text": "one"})
    sandbox.state.record_post("x", "a2", "p2", {"text": "two"})
    sandbox.state.record_post("linkedin", "a1", "p3", {})
    assert [p["post_id"] for p in control.get("/_sandbox/posts").json()] == ["p1", "p2", "p3"]
    assert [p["post_id"] for p in control.get("/_sandbox/posts", params={"platform": "x"}).json()] == ["p1", "p2"]
    rows = control.get("/_sandbox/posts", params={"platform": "x", "account": "a2"}).json()
    assert rows == [
        {
            "platform": "x",
            "account_id": "a2",
            "post_id": "p2",
            "payload": {"text": "two"},
            "created_at": rows[0]["created_at"],
        }
    ]


def test_faults_add_list_and_clear(sandbox: RunningSandbox, control: httpx.Client) -> None:
    assert control.post("/_sandbox/faults", json={"platform": "x", "kind": "rate_limit"}).json() == {"faults": 1}
    batch = [
        {"platform": "tiktok", "kind": "error", "status": 503, "times": 2},
        {"platform": "tiktok", "kind": "lost_response", "operation": "publish", "delay_s": 0.5},
    ]
    assert control.post("/_sandbox/faults", json=batch).json() == {"faults": 3}
    listed = control.get("/_sandbox/faults").json()
    assert [(f["platform"], f["kind"], f["times"]) for f in listed] == [
        ("x", "rate_limit", 1),
        ("tiktok", "error", 2),
        ("tiktok", "lost_response", 1),
    ]
    assert sandbox.state.take_fault("tiktok", "upload") is sandbox.state.faults[1]
    assert control.get("/_sandbox/faults").json()[1]["times"] == 1  # the remaining count is visible

    # A bad batch is refused as a whole with a 400 and adds nothing.
    bad = control.post("/_sandbox/faults", json=[{"platform": "x", "kind": "error"}, {"platform": "x", "kind": "nope"}])
    assert bad.status_code == 400 and "unknown fault kind" in bad.json()["error"]
    assert control.post("/_sandbox/faults", json={"platform": "x", "kind": "error", "colour": "red"}).status_code == 400
    assert len(sandbox.state.faults) == 3

    assert control.delete("/_sandbox/faults").json() == {"faults": 0}
    assert sandbox.state.faults == [] and control.get("/_sandbox/faults").json() == []


def test_clock_advance_and_reset(sandbox: RunningSandbox, control: httpx.Client) -> None:
    resp = control.post("/_sandbox/clock", json={"advance_s": 86400})
    assert sandbox.state.clock.offset_s == 86400
    assert datetime.fromisoformat(resp.json()["now"]) > datetime.now(UTC) + timedelta(hours=23)
    control.post("/_sandbox/clock", json={"advance_s": 60})
    assert sandbox.state.clock.offset_s == 86460

    sandbox.state.add_account("x", "a1")
    sandbox.state.record_post("x", "a1", "p1", {})
    sandbox.fault("x", "error")
    sandbox.state.hit_limit("x", "a1", "posts", 5, 60)
    assert control.post("/_sandbox/reset").json() == {"ok": True}
    st = sandbox.state
    assert (st.clock.offset_s, st.accounts, st.posts, st.faults) == (0.0, {}, [], [])
    assert st.grants == {} and dict(st.windows) == {}


# ---- faults -----------------------------------------------------------------------------------------------------


def test_fault_times_and_operation_matching(state: SandboxState) -> None:
    twice = Fault("tiktok", "error", operation="upload", times=2)
    state.add_fault(twice)
    assert state.take_fault("tiktok", "publish") is None  # other operation
    assert state.take_fault("youtube", "upload") is None  # other platform
    assert state.take_fault("tiktok", "upload") is twice and twice.times == 1
    assert state.take_fault("tiktok", "upload") is twice and twice.times == 0
    assert state.take_fault("tiktok", "upload") is None  # used up

    forever = Fault("x", "rate_limit", times=-1)  # "*" matches any operation
    state.add_fault(forever)
    for op in ("upload", "publish", "status", "upload"):
        assert state.take_fault("x", op) is forever
    assert forever.times == -1


def test_fault_kind_filter_and_order(state: SandboxState) -> None:
    lost = Fault("x", "lost_response", operation="publish")
    err = Fault("x", "error", operation="publish")
    state.add_fault(lost)
    state.add_fault(err)
    # A pre-commit lookup skips the post-commit fault without consuming it; first match in order wins otherwise.
    assert state.take_fault("x", "publish", frozenset({"error"})) is err
    assert lost.times == 1
    assert state.take_fault("x", "publish") is lost
    with pytest.raises(ValueError, match="unknown fault kind"):
        Fault("x", "explode")


class _Envelopes:
    """A stand-in platform error vocabulary that says which method produced the response."""

    def _r(self, what: str, **extra: object) -> Response:
        return JSONResponse({"what": what, **extra}, status_code=599)

    def auth_expired(self) -> Response:
        return self._r("auth_expired")

    def rate_limited(self, retry_after_s: float) -> Response:
        return self._r("rate_limited", retry_after_s=retry_after_s)

    def quota_exhausted(self, retry_after_s: float) -> Response:
        return self._r("quota_exhausted", retry_after_s=retry_after_s)

    def server_error(self, status: int) -> Response:
        return self._r("server_error", status=status)

    def content_rejected(self) -> Response:
        return self._r("content_rejected")

    def media_fetch_failed(self) -> Response:
        return self._r("media_fetch_failed")

    def duplicate(self) -> Response:
        return self._r("duplicate")


def test_pre_and_post_commit_fault_application(state: SandboxState) -> None:
    env = _Envelopes()

    def pre(op: str) -> dict[str, object] | None:
        resp = asyncio.run(pre_faults(state, "x", op, env))
        return None if resp is None else json.loads(bytes(resp.body))

    state.add_fault(Fault("x", "lost_response", operation="publish", delay_s=0.01))
    state.add_fault(Fault("x", "rate_limit", operation="publish", retry_after_s=42))
    state.add_fault(Fault("x", "error", operation="publish", status=502))
    state.add_fault(Fault("x", "slow", operation="status", delay_s=0.0))
    state.add_fault(Fault("x", "processing_failed", operation="processing"))
    assert pre("publish") == {"what": "rate_limited", "retry_after_s": 42}
    assert pre("publish") == {"what": "server_error", "status": 502}
    assert pre("publish") is None  # only the post-commit fault is left, and pre_faults must not take it
    assert pre("status") is None  # "slow" delays, then the request carries on
    asyncio.run(after_commit(state, "x", "publish"))
    assert state.faults[0].times == 0  # lost_response consumed after the commit
    assert processing_fails(state, "x") is True
    assert processing_fails(state, "x") is False


# ---- OAuth bookkeeping --------------------------------------------------------------------------------------------


def test_redeem_code_checks_pkce_client_redirect_and_expiry(state: SandboxState) -> None:
    verifier = new_code_verifier()

    def code(**kw: object) -> str:
        args: dict[str, object] = {
            "client_id": "app",
            "redirect_uri": REDIRECT,
            "scopes": ("a",),
            "challenge": code_challenge(verifier),
            "method": "S256",
        }
        args.update(kw)
        return state.authorize("tiktok", **args)  # type: ignore[arg-type]

    def redeem(c: str, **kw: object) -> object:
        args: dict[str, object] = {
            "client_id": "app",
            "redirect_uri": REDIRECT,
            "verifier": verifier,
            "pkce_required": True,
        }
        args.update(kw)
        return state.redeem_code("tiktok", c, **args)  # type: ignore[arg-type]

    def refused(c: str, error: str, **kw: object) -> None:
        with pytest.raises(OAuthFailure) as exc:
            redeem(c, **kw)
        assert exc.value.error == error

    wrong = code()
    refused(wrong, "invalid_grant", verifier=new_code_verifier())
    refused(wrong, "invalid_grant")  # a refused code is burnt: the right verifier cannot use it afterwards
    refused(code(), "invalid_grant", verifier=None)
    refused(code(challenge=None, method=None), "invalid_grant")  # the platform requires PKCE: no challenge = no
    refused(code(), "invalid_client", client_id="other-app")
    refused(code(), "invalid_grant", redirect_uri="http://127.0.0.1:9/elsewhere")
    refused("never-issued", "invalid_grant")
    stale = code()
    state.clock.advance(11 * 60)
    refused(stale, "invalid_grant")

    good = code(scopes=("video.upload", "video.publish"))
    ac = redeem(good)
    assert ac.scopes == ("video.upload", "video.publish") and ac.account_id == "tiktok-user-1"  # type: ignore[attr-defined]
    refused(good, "invalid_grant")  # single use
    # Without PKCE on either side the verifier is not needed.
    assert redeem(code(challenge=None, method=None), verifier=None, pkce_required=False)


def test_refresh_rotation_and_replay_revokes_the_family(state: SandboxState) -> None:
    first = state.issue_grant("x", "u1", ("tweet.write",), access_ttl_s=3600, refresh_ttl_s=86400)
    assert first.refresh_token
    second = state.refresh_grant("x", first.refresh_token, access_ttl_s=3600, refresh_ttl_s=86400, rotate=True)
    assert second.refresh_token and second.refresh_token != first.refresh_token
    assert second.family == first.family and second.scopes == first.scopes
    third = state.refresh_grant("x", second.refresh_token, access_ttl_s=3600, refresh_ttl_s=86400, rotate=True)
    assert state.bearer("x", third.access_token) is third

    unrelated = state.issue_grant("x", "u2", (), access_ttl_s=3600, refresh_ttl_s=86400)

    # Replaying a rotated-away token (theft): refused, and every token of that family dies with it.
    with pytest.raises(OAuthFailure, match="invalid_grant"):
        state.refresh_grant("x", first.refresh_token, access_ttl_s=3600, refresh_ttl_s=86400, rotate=True)
    assert third.refresh_token
    with pytest.raises(OAuthFailure, match="invalid_grant"):
        state.refresh_grant("x", third.refresh_token, access_ttl_s=3600, refresh_ttl_s=86400, rotate=True)
    assert state.bearer("x", third.access_token) is None and state.bearer("x", first.access_token) is None
    # Other families are untouched.
    assert state.bearer("x", unrelated.access_token) is unrelated
    assert unrelated.refresh_token
    assert state.refresh_grant("x", unrelated.refresh_token, access_ttl_s=60, refresh_ttl_s=60, rotate=True)


def test_refresh_without_rotation_and_expiry(state: SandboxState) -> None:
    grant = state.issue_grant("linkedin", "u1", ("w_member_social",), access_ttl_s=60, refresh_ttl_s=3600)
    assert grant.refresh_token
    again = state.refresh_grant("linkedin", grant.refresh_token, access_ttl_s=60, refresh_ttl_s=3600, rotate=False)
    assert again.refresh_token == grant.refresh_token and again.access_token != grant.access_token
    assert state.refresh_grant("linkedin", grant.refresh_token, access_ttl_s=60, refresh_ttl_s=3600, rotate=False)
    state.clock.advance(61)
    assert state.bearer("linkedin", again.access_token) is None  # access token expired with the clock
    with pytest.raises(OAuthFailure, match="invalid_grant"):  # wrong platform
        state.refresh_grant("x", grant.refresh_token, access_ttl_s=60, refresh_ttl_s=3600, rotate=False)
    state.clock.advance(3600)
    with pytest.raises(OAuthFailure) as exc:
        state.refresh_grant("linkedin", grant.refresh_token, access_ttl_s=60, refresh_ttl_s=3600, rotate=False)
    assert exc.value.description == "refresh token expired"


# ---- limits and analytics -------------------------------------------------------------------------------------------


def test_hit_limit_rolling_window(state: SandboxState) -> None:
    for _ in range(3):
        assert state.hit_limit("x", "a1", "posts", 3, 900) is None
    wait = state.hit_limit("x", "a1", "posts", 3, 900)
    assert wait is not None and 0 < wait <= 900
    assert state.window_usage("x", "a1", "posts", 900) == 3  # a refused call is not counted
    assert state.hit_limit("x", "a2", "posts", 3, 900) is None  # windows are per account
    assert state.hit_limit("x", "a1", "uploads", 3, 900) is None  # ... and per limit name
    state.clock.advance(wait)
    assert state.window_usage("x", "a1", "posts", 900) == 0
    assert state.hit_limit("x", "a1", "posts", 3, 900) is None


def test_hit_limit_frees_one_slot_at_a_time(state: SandboxState) -> None:
    state.clock = FrozenClock(datetime(2026, 1, 1, tzinfo=UTC))
    assert state.hit_limit("tiktok", "a", "publish", 2, 60) is None
    state.clock.advance(30)
    assert state.hit_limit("tiktok", "a", "publish", 2, 60) is None
    assert state.hit_limit("tiktok", "a", "publish", 2, 60) == 30  # the first use frees at t=60
    state.clock.advance(30)
    assert state.hit_limit("tiktok", "a", "publish", 2, 60) is None
    assert state.hit_limit("tiktok", "a", "publish", 2, 60) == 30  # now the t=30 use is the oldest


def test_metrics_grow_with_the_clock_and_are_deterministic(state: SandboxState) -> None:
    state.clock = FrozenClock(datetime(2026, 3, 1, 12, tzinfo=UTC))
    post = state.record_post("youtube", "ch1", "vid-a", {})
    other = state.record_post("youtube", "ch1", "vid-b", {})
    assert state.metrics(post)["views"] == 0
    state.clock.advance(3600)
    hour = state.metrics(post)
    assert hour["views"] > 0
    assert hour == state.metrics(post)  # pure function of (post, clock)
    state.clock.advance(3600)
    two_hours = state.metrics(post)
    assert hour["views"] < two_hours["views"] < 2 * hour["views"]  # growth decays (curves: test_sandbox_analytics.py)
    assert all(two_hours[k] >= hour[k] for k in hour)
    assert state.metrics(other)["views"] != two_hours["views"]  # the rate is per post (these two ids differ)

    # The same post on a fresh sandbox at the same age reports the same numbers.
    twin = SandboxState()
    twin.clock = FrozenClock(datetime(2026, 3, 1, 12, tzinfo=UTC))
    twin_post = twin.record_post("youtube", "ch1", "vid-a", {})
    twin.clock.advance(7200)
    assert twin.metrics(twin_post) == two_hours


# ---- request log --------------------------------------------------------------------------------


def test_record_requests_logs_size_hash_and_redacts_authorization(sandbox: RunningSandbox) -> None:
    body = b"\x00\x01chunk" * 50_000  # several ASGI body messages
    chunks = [body[i : i + 65536] for i in range(0, len(body), 65536)]
    with httpx.Client(base_url=sandbox.base, timeout=10) as client:
        client.get("/_sandbox/health")  # control calls are not logged
        resp = client.post(
            "/x/2/media/upload?command=APPEND&segment_index=0",
            content=iter(chunks),
            headers={"Authorization": "Bearer super-secret-token", "Content-Type": "video/mp4", "X-Not-Logged": "1"},
        )
    logged = sandbox.state.requests
    assert len(logged) == 1
    rec = logged[0]
    assert (rec.platform, rec.method, rec.path) == ("x", "POST", "/x/2/media/upload")
    assert rec.query == "command=APPEND&segment_index=0"
    assert rec.body_size == len(body)
    assert rec.body_sha256 == hashlib.sha256(body).hexdigest()
    assert rec.status == resp.status_code
    assert rec.headers["authorization"] == "<redacted>"
    assert rec.headers["content-type"] == "video/mp4" and "x-not-logged" not in rec.headers
    assert "super-secret-token" not in repr(rec)
    assert sandbox.state.requests_for("x") == [rec] and sandbox.state.requests_for("tiktok") == []


# ---- scenario files and `cliply sandbox` ------------------------------------------------------------


def _scenario(tmp_path: Path) -> Path:
    path = tmp_path / "faults.json"
    path.write_text(
        json.dumps(
            [
                {"platform": "x", "kind": "rate_limit", "times": 2, "retry_after_s": 900},
                {"platform": "tiktok", "kind": "processing_failed", "operation": "processing"},
            ]
        )
    )
    return path


def test_load_faults_from_a_scenario_file(tmp_path: Path) -> None:
    faults = load_faults(str(_scenario(tmp_path)))
    assert faults == [
        Fault("x", "rate_limit", times=2, retry_after_s=900),
        Fault("tiktok", "processing_failed", operation="processing"),
    ]
    assert build_state(str(_scenario(tmp_path))).faults == faults
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"platform": "x", "kind": "meteor"}]))
    with pytest.raises(ValueError, match="unknown fault kind"):
        load_faults(str(bad))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_cliply_sandbox_command_serves_with_faults(tmp_path: Path) -> None:
    cliply = Path(sys.executable).parent / "cliply"
    argv = [str(cliply)] if cliply.exists() else [sys.executable, "-m", "cliply.cli"]
    port = _free_port()
    log = tmp_path / "sandbox.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [*argv, "sandbox", "--port", str(port), "--faults", str(_scenario(tmp_path))],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        health = None
        while health is None:
            assert proc.poll() is None, f"cliply sandbox exited with {proc.returncode}:\n{log.read_text()}"
            assert time.monotonic() < deadline, f"cliply sandbox not healthy after 30 s:\n{log.read_text()}"
            try:
                health = httpx.get(f"{base}/_sandbox/health", timeout=2).json()
            except httpx.TransportError:
                time.sleep(0.1)
        assert health["ok"] is True and health["platforms"] == list(PLATFORMS)
        faults = httpx.get(f"{base}/_sandbox/faults", timeout=5).json()
        assert [(f["platform"], f["kind"], f["times"]) for f in faults] == [
            ("x", "rate_limit", 2),
            ("tiktok", "processing_failed", 1),
        ]
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
    # A clean shutdown on SIGTERM (uvicorn re-raises the signal once it has finished, hence -SIGTERM).
    assert proc.returncode in (0, -signal.SIGTERM), log.read_text()
    assert "Finished server process" in log.read_text()


def test_cliply_sandbox_rejects_a_missing_faults_file(tmp_path: Path) -> None:
    cliply = Path(sys.executable).parent / "cliply"
    argv = [str(cliply)] if cliply.exists() else [sys.executable, "-m", "cliply.cli"]
    done = subprocess.run(
        [*argv, "sandbox", "--port", "0", "--faults", str(tmp_path / "nope.json")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2 and "does not exist" in done.stderr
