"""The publishing half of `make demo`: the best clip goes to all nine platforms of the local sandbox, the way a user
would do it: accounts connected with `cliply accounts connect` (OAuth consent → `cliply serve`'s callback; Bluesky
with an app password), the post scheduled with `cliply posts create`, published by the Dagster `posts` asset."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote

import httpx

from cliply import wiring
from cliply.platforms import PLATFORMS
from cliply.sandbox.local import LocalSandbox, free_port
from cliply.settings import Settings
from cliply.store.accounts import AccountsRepo
from cliply.usecases import workspace_scope

CLIPLY = str(Path(sys.executable).with_name("cliply"))
DEMO_OPTIONS = ["--option", "tiktok.privacy=SELF_ONLY", "--option", "youtube.privacy=private"]
# Runs log to their event log (the Dagster UI shows it); the terminal gets warnings and errors only.
QUIET_RUN: dict[str, Any] = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


class Steps(Protocol):
    """How the demo reports its stages (scripts/demo_console.StageBoard); `advance()` once per unit of work."""

    def stage(self, name: str, total: int = 1) -> AbstractContextManager[Callable[[], None]]: ...


class QuietSteps:
    @contextmanager
    def stage(self, name: str, total: int = 1) -> Iterator[Callable[[], None]]:
        yield lambda: None


def cliply(*args: str, stdin: str | None = None) -> str:
    proc = subprocess.run([CLIPLY, *args], input=stdin, capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        raise RuntimeError(f"cliply {' '.join(args[:2])} failed ({proc.returncode}): {proc.stderr.strip()[-800:]}")
    return proc.stdout


@contextmanager
def http_service(port: int, log: Path) -> Any:
    """`cliply serve` in the background: OAuth callbacks, and the signed media URLs Instagram and Threads fetch."""
    with log.open("w") as out:
        proc = subprocess.Popen(
            [CLIPLY, "serve", "--port", str(port)], stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"`cliply serve` did not start; see {log}")
            time.sleep(0.3)
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def connect(sandbox: LocalSandbox, platform: str) -> None:
    account = f"demo-{platform}"
    if platform == "bluesky":
        handle, password = sandbox.create_bluesky_account(account)
        cliply("accounts", "connect", "bluesky", stdin=f"{handle}\n{password}\n")
        return
    printed = cliply("accounts", "connect", platform, "--no-wait")
    url = next(line for line in printed.splitlines() if line.startswith("http"))
    callback = sandbox.consent(url, account)  # the user clicks "Allow"; the platform redirects to our callback
    resp = httpx.get(callback, timeout=30)
    if resp.status_code != 200:
        raise RuntimeError(f"the OAuth callback for {platform} answered {resp.status_code}: {resp.text[:300]}")
    confirm(callback, resp.text, platform)


def confirm(callback: str, page: str, platform: str) -> None:
    """The callback page names the account and the workspace; the user clicks "Connect" (a one-time token)."""
    action = re.search(r"action='([^']+)'", page)
    token = re.search(r"name='token' value='([^']+)'", page)
    if not action or not token:
        raise RuntimeError(f"the OAuth callback for {platform} showed no confirmation: {page[:300]}")
    origin = callback.split("/oauth/", 1)[0]
    resp = httpx.post(origin + action.group(1), data={"token": token.group(1), "decision": "connect"}, timeout=30)
    if resp.status_code != 200 or "Connected" not in resp.text:
        raise RuntimeError(f"confirming the {platform} connection answered {resp.status_code}: {resp.text[:300]}")


def demo_accounts() -> dict[str, int]:
    rows = json.loads(cliply("accounts", "list", "--json"))["accounts"]
    chosen: dict[str, int] = {}
    for a in rows:  # newest connected account per platform
        if a["status"] in ("connected", "expiring") and "demo-" in a["handle"]:
            chosen[a["platform"]] = max(chosen.get(a["platform"], 0), int(a["id"]))
    return chosen


def pinterest_board(settings: Settings, account_id: int) -> str:
    """The connected user's first board (what a user would pick in a UI)."""
    app = wiring.cliply()  # now: the sandbox's platform URLs are in the environment
    with workspace_scope(app, settings.default_workspace) as scope:
        repo = AccountsRepo(scope, app.vault)
        account = repo.get(account_id)
        assert account is not None
        creds = repo.credentials(account)
    client = app.clients("pinterest")
    try:
        return str(client.list_boards(creds)[0]["id"])  # type: ignore[attr-defined]
    finally:
        client.close()
        app.db.dispose()


def publish_all(platforms: list[str]) -> None:
    """One in-process publish_posts run per platform partition (visible in the Dagster UI under that job)."""
    import dagster as dg

    from cliply_dagster.runner import publish_platform_sync

    with dg.DagsterInstance.get() as instance:
        for platform in platforms:
            publish_platform_sync(
                platform, instance, run_config={**QUIET_RUN, "ops": {"posts": {"config": {"linger_s": -1}}}}
            )


def publish_demo(settings: Settings, clip_id: str, work: Path, steps: Steps | None = None) -> dict[str, Any]:
    """Publish the clip everywhere; the post as `cliply posts show` prints it, each target with `sandbox_url`: the
    sandbox's own page of that post (a platform-looking URL would name a post that exists nowhere)."""
    steps = steps or QuietSteps()
    with LocalSandbox() as sandbox:
        port = free_port()
        os.environ.update({**sandbox.env(), "CLIPLY_PUBLIC_BASE_URL": f"http://127.0.0.1:{port}"})
        with http_service(port, work / "serve.log"):
            with steps.stage("accounts", len(PLATFORMS)) as advance:
                for platform in PLATFORMS:
                    connect(sandbox, platform)
                    advance()
            accounts = demo_accounts()
            missing = sorted(set(PLATFORMS) - set(accounts))
            if missing:
                raise RuntimeError(f"no demo account connected for {', '.join(missing)}")
            with steps.stage("schedule"):
                post = schedule(settings, clip_id, accounts)
            with steps.stage("publish", len(PLATFORMS)) as advance:
                for platform in PLATFORMS:
                    publish_all([platform])
                    advance()
            shown: dict[str, Any] = json.loads(cliply("posts", "show", post["id"], "--json"))
            # The sandbox goes away with the demo: leave no account behind for the token-refresh schedule to chase.
            with steps.stage("disconnect", len(accounts)) as advance:
                for account_id in accounts.values():
                    cliply("accounts", "disconnect", str(account_id))
                    advance()
            for target in shown["targets"]:
                target["sandbox_url"] = sandbox_url(sandbox, target)
            return shown


def schedule(settings: Settings, clip_id: str, accounts: dict[str, int]) -> dict[str, Any]:
    targets = ",".join(f"{p}:{accounts[p]}" for p in PLATFORMS)
    board = pinterest_board(settings, accounts["pinterest"])
    post: dict[str, Any] = json.loads(
        cliply(
            "posts",
            "create",
            "--clip",
            clip_id,
            "--targets",
            targets,
            "--title",
            "The best moment of the talk",
            *DEMO_OPTIONS,
            "--option",
            f"pinterest.board_id={board}",
            "--json",
        )
    )
    return post


def sandbox_url(sandbox: LocalSandbox, target: dict[str, Any]) -> str | None:
    """GET /_sandbox/posts/<platform>/<id>. A private TikTok post has no public id: its one sandbox post is it."""
    post_id = target["platform_post_id"]
    if not post_id:
        recorded = sandbox.state.posts_for(target["platform"])
        if target["state"] != "published" or not recorded:
            return None
        post_id = recorded[-1].post_id
    return f"{sandbox.base_url}/_sandbox/posts/{target['platform']}/{quote(str(post_id), safe='')}"
