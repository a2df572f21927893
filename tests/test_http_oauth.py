"""OAuth login CSRF: a consent link made in one workspace and opened by someone else must not connect that person's
account into the workspace. Browser flows are bound to the starting browser by a cookie; API/CLI flows need the
consenting person's explicit confirmation on a page that names the workspace and the account."""

from __future__ import annotations

import re

import httpx

from cliply.store.models_accounts import Account
from tests.fixtures.sandbox import RunningSandbox
from tests.test_http import World, confirm, world  # noqa: F401  (the fixture)


def _consent(authorize: str) -> str:
    """The sandbox plays the person consenting on the platform; returns our callback URL it redirects to."""
    back = httpx.get(authorize)
    assert back.status_code in (302, 303), back.text
    return back.headers["location"]


def test_a_browser_flow_link_opened_in_another_browser_connects_nothing(world: World, sandbox: RunningSandbox) -> None:
    attacker = httpx.Client()
    start = attacker.get(f"{world.base}/oauth/tiktok/start", headers=world.auth("acme"))
    assert start.status_code == 302
    cookie = start.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=lax" in cookie and "max-age=600" in cookie
    callback = _consent(start.headers["location"])  # the victim consents: their browser has no cookie
    victim = httpx.get(callback, timeout=30)
    assert victim.status_code == 403 and "another browser" in victim.text
    assert world.count(Account) == 0
    assert httpx.get(callback, cookies={"cliply_oauth_0000000000000000": "guess"}).status_code == 403
    assert world.count(Account) == 0
    done = attacker.get(callback, timeout=30)  # the browser that started it still can
    assert done.status_code == 200 and "acme" in done.text


def test_an_api_flow_link_opened_by_someone_else_needs_their_confirmation(
    world: World, sandbox: RunningSandbox
) -> None:
    r = httpx.post(f"{world.base}/api/accounts/oauth/tiktok", headers=world.auth("acme"))
    callback = _consent(r.json()["authorization_url"])
    page = httpx.get(callback, timeout=30)
    assert page.status_code == 200 and "Confirm the connection" in page.text
    assert "workspace <strong>acme</strong>" in page.text and "tiktok account <strong>" in page.text
    assert page.headers["x-frame-options"] == "DENY" and page.headers["cache-control"] == "no-store"
    assert world.count(Account) == 0  # nothing is stored before the confirmation
    assert httpx.get(callback, timeout=30).status_code == 400  # the callback works once

    declined = confirm(world.base, page, decision="cancel")
    assert declined.status_code == 200 and "was not connected" in declined.text
    assert world.count(Account) == 0
    assert confirm(world.base, page).status_code == 400  # the token was used by the refusal
    assert world.count(Account) == 0


def test_an_api_flow_confirmed_connects_into_the_named_workspace(world: World, sandbox: RunningSandbox) -> None:
    r = httpx.post(f"{world.base}/api/accounts/oauth/tiktok", headers=world.auth("globex"))
    page = httpx.get(_consent(r.json()["authorization_url"]), timeout=30)
    forged = httpx.post(f"{world.base}/oauth/tiktok/confirm", data={"token": "forged" * 8})
    assert forged.status_code == 400 and world.count(Account) == 0
    token = re.search(r"name='token' value='([^']+)'", page.text)
    assert token is not None
    other_platform = httpx.post(f"{world.base}/oauth/youtube/confirm", data={"token": token.group(1)})
    assert other_platform.status_code == 400 and world.count(Account) == 0
    done = confirm(world.base, page)
    assert done.status_code == 200 and "Connected" in done.text and "globex" in done.text
    assert [
        a["platform"] for a in httpx.get(f"{world.base}/api/accounts", headers=world.auth("globex")).json()["accounts"]
    ] == ["tiktok"]
    assert httpx.get(f"{world.base}/api/accounts", headers=world.auth("acme")).json() == {"accounts": []}
    assert confirm(world.base, page).status_code == 400  # once only
