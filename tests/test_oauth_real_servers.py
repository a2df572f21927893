"""cliply.platforms.oauth against REAL authorisation servers on 127.0.0.1: panva's oidc-provider (login and consent
pages, PKCE required, refresh-token rotation with reuse detection) and oauth2-mock-server (auto-approve, PKCE).

The test acts as the user's browser with httpx: it follows the redirects and submits the provider's own HTML forms,
then reads the code off the redirect to the (never contacted) redirect_uri."""

from __future__ import annotations

import base64
import hmac
import json
from collections.abc import Iterator
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urljoin, urlparse, urlsplit, urlunsplit

import httpx
import pytest

from cliply.platforms import oauth
from cliply.platforms.errors import ErrorClass, PlatformError
from tests.fixtures.oauth_peers import MockOAuthServer, OidcClient, OidcServer

ALL_SCOPES = ("openid", "offline_access", "video.upload", "video.publish")
REQUIRED = ("video.upload", "video.publish")
MAX_BROWSER_STEPS = 12


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as client:
        yield client


class _Forms(HTMLParser):
    """Collects each <form>'s action and its <input> name/value pairs."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[tuple[str, dict[str, str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append((a.get("action", ""), {}))
        elif tag == "input" and self.forms and a.get("name"):
            self.forms[-1][1][a["name"]] = a.get("value", "")


def browse_to_redirect(url: str, redirect_uri: str, *, login: str = "alice") -> dict[str, str]:
    """Be the user's browser: follow redirects, sign in and consent on the provider's pages, and return the query
    of the final redirect to `redirect_uri` (code, state, iss)."""
    with httpx.Client(timeout=10, follow_redirects=False) as browser:  # keeps the provider's session cookies
        resp = browser.get(url)
        for _ in range(MAX_BROWSER_STEPS):
            if resp.status_code in (302, 303):
                location = urljoin(str(resp.url), resp.headers["location"])
                if location.startswith(redirect_uri):
                    return {k: v[0] for k, v in parse_qs(urlparse(location).query).items()}
                resp = browser.get(location)
                continue
            assert resp.status_code == 200, (resp.status_code, resp.text[:500])
            parser = _Forms()
            parser.feed(resp.text)
            assert parser.forms, f"no form on the provider's page: {resp.text[:500]}"
            action, fields = parser.forms[0]
            if fields.get("prompt") == "login":
                fields.update(login=login, password="any-password")  # devInteractions accept any credentials
            resp = browser.post(urljoin(str(resp.url), action), data=fields)
    raise AssertionError(f"no redirect to {redirect_uri} after {MAX_BROWSER_STEPS} browser steps")


def discover(http: httpx.Client, base: str) -> dict[str, Any]:
    resp = http.get(f"{base}/.well-known/openid-configuration")
    assert resp.status_code == 200, resp.text
    return resp.json()


def oidc_app(
    server: OidcServer, meta: dict[str, Any], client: OidcClient, scopes: tuple[str, ...] = ALL_SCOPES
) -> oauth.OAuthApp:
    return oauth.OAuthApp(
        platform="oidc",
        client_id=client.client_id,
        client_secret=client.client_secret,
        authorize_url=meta["authorization_endpoint"],
        token_url=meta["token_endpoint"],
        scopes=scopes,
        auth_method=client.auth_method,
        # offline_access (→ a refresh token) is only granted on an explicit consent screen (OIDC Core §11).
        extra_authorize_params={"prompt": "consent"},
    )


def authorize(server: OidcServer, app: oauth.OAuthApp) -> tuple[oauth.PendingAuthorization, dict[str, str]]:
    pending = oauth.authorization_url(app, redirect_uri=server.redirect_uri)
    return pending, browse_to_redirect(pending.url, server.redirect_uri)


def _reconnect(exc: pytest.ExceptionInfo[PlatformError], code: str = "invalid_grant") -> None:
    assert exc.value.error_class is ErrorClass.AUTH_RECONNECT, exc.value
    assert exc.value.status == 400
    assert exc.value.code == code


@pytest.fixture(scope="module")
def oidc_meta(oidc_server: OidcServer) -> dict[str, Any]:
    with httpx.Client(timeout=10) as client:
        return discover(client, oidc_server.issuer)


CLIENTS = ["confidential", "public"]


def _client(server: OidcServer, which: str) -> OidcClient:
    return server.confidential if which == "confidential" else server.public


# ---- oidc-provider ---------------------------------------------------------------------------------------------


def test_oidc_discovery_document(oidc_server: OidcServer, oidc_meta: dict[str, Any]) -> None:
    assert oidc_meta["issuer"] == oidc_server.issuer
    for key in ("authorization_endpoint", "token_endpoint", "userinfo_endpoint", "revocation_endpoint"):
        assert oidc_meta[key].startswith(oidc_server.issuer + "/"), key
    assert oidc_meta["code_challenge_methods_supported"] == ["S256"]
    assert set(ALL_SCOPES) <= set(oidc_meta["scopes_supported"])
    assert {"client_secret_post", "none"} <= set(oidc_meta["token_endpoint_auth_methods_supported"])


@pytest.mark.parametrize("which", CLIENTS)
def test_oidc_code_flow_with_pkce(
    oidc_server: OidcServer, oidc_meta: dict[str, Any], http: httpx.Client, which: str
) -> None:
    app = oidc_app(oidc_server, oidc_meta, _client(oidc_server, which))
    pending, callback = authorize(oidc_server, app)

    query = parse_qs(urlparse(pending.url).query)
    assert query["code_challenge_method"] == ["S256"]
    assert query["code_challenge"] == [oauth.code_challenge(pending.code_verifier or "")]
    assert "code_verifier" not in query  # the verifier never leaves the server
    # The caller's CSRF check: the state it kept must come back unchanged, and the issuer is named (RFC 9207).
    assert hmac.compare_digest(callback["state"], pending.state)
    assert callback["iss"] == oidc_server.issuer

    tokens = oauth.exchange_code(
        app, http, code=callback["code"], redirect_uri=oidc_server.redirect_uri, code_verifier=pending.code_verifier
    )
    assert tokens.access_token and tokens.refresh_token
    assert tokens.token_type.lower() == "bearer"
    assert tokens.expires_in and tokens.expires_in > 0
    assert set(tokens.scope) == set(ALL_SCOPES)
    assert oauth.missing_scopes(tokens.scope, REQUIRED) == []
    assert "id_token" not in tokens.raw  # tokens are kept out of `raw`

    me = http.get(oidc_meta["userinfo_endpoint"], headers={"Authorization": f"Bearer {tokens.access_token}"})
    assert me.status_code == 200 and me.json()["sub"] == "alice"

    # A code is single-use.
    with pytest.raises(PlatformError) as again:
        oauth.exchange_code(
            app, http, code=callback["code"], redirect_uri=oidc_server.redirect_uri, code_verifier=pending.code_verifier
        )
    _reconnect(again)


@pytest.mark.parametrize("which", CLIENTS)
def test_oidc_missing_scope_is_reported(
    oidc_server: OidcServer, oidc_meta: dict[str, Any], http: httpx.Client, which: str
) -> None:
    app = oidc_app(
        oidc_server, oidc_meta, _client(oidc_server, which), scopes=("openid", "offline_access", "video.upload")
    )
    pending, callback = authorize(oidc_server, app)
    tokens = oauth.exchange_code(
        app, http, code=callback["code"], redirect_uri=oidc_server.redirect_uri, code_verifier=pending.code_verifier
    )
    assert "video.upload" in tokens.scope and "video.publish" not in tokens.scope
    assert oauth.missing_scopes(tokens.scope, REQUIRED) == ["video.publish"]


@pytest.mark.parametrize("which", CLIENTS)
def test_oidc_wrong_code_verifier_needs_reconnect(
    oidc_server: OidcServer, oidc_meta: dict[str, Any], http: httpx.Client, which: str
) -> None:
    app = oidc_app(oidc_server, oidc_meta, _client(oidc_server, which))
    _pending, callback = authorize(oidc_server, app)
    with pytest.raises(PlatformError) as exc:
        oauth.exchange_code(
            app,
            http,
            code=callback["code"],
            redirect_uri=oidc_server.redirect_uri,
            code_verifier=oauth.new_code_verifier(),
        )
    _reconnect(exc)
    assert exc.value.platform == "oidc"


@pytest.mark.parametrize("which", CLIENTS)
def test_oidc_refresh_rotates_and_replay_revokes_the_family(
    oidc_server: OidcServer, oidc_meta: dict[str, Any], http: httpx.Client, which: str
) -> None:
    app = oidc_app(oidc_server, oidc_meta, _client(oidc_server, which))
    pending, callback = authorize(oidc_server, app)
    first = oauth.exchange_code(
        app, http, code=callback["code"], redirect_uri=oidc_server.redirect_uri, code_verifier=pending.code_verifier
    )
    assert first.refresh_token

    second = oauth.refresh(app, http, first.refresh_token)
    assert second.refresh_token and second.refresh_token != first.refresh_token  # rotated: refresh() returns the NEW
    assert second.access_token != first.access_token
    assert set(second.scope) == set(ALL_SCOPES)
    userinfo = oidc_meta["userinfo_endpoint"]
    assert http.get(userinfo, headers={"Authorization": f"Bearer {second.access_token}"}).status_code == 200

    # Replaying the rotated-away token looks like theft: refused, and the whole grant (every newer token) is revoked.
    with pytest.raises(PlatformError) as replay:
        oauth.refresh(app, http, first.refresh_token)
    _reconnect(replay)
    with pytest.raises(PlatformError) as newer:
        oauth.refresh(app, http, second.refresh_token)
    _reconnect(newer)
    assert http.get(userinfo, headers={"Authorization": f"Bearer {second.access_token}"}).status_code == 401


def test_oidc_states_are_unique_and_round_trip(oidc_server: OidcServer, oidc_meta: dict[str, Any]) -> None:
    app = oidc_app(oidc_server, oidc_meta, oidc_server.public)
    a, callback_a = authorize(oidc_server, app)
    b, callback_b = authorize(oidc_server, app)
    assert a.state != b.state and a.code_verifier != b.code_verifier
    assert callback_a["state"] == a.state and callback_b["state"] == b.state
    # A callback carrying another flow's state (login CSRF / mix-up) does not match what the caller kept.
    assert not hmac.compare_digest(callback_b["state"], a.state)


def test_oidc_wrong_client_secret_is_config_error(
    oidc_server: OidcServer, oidc_meta: dict[str, Any], http: httpx.Client
) -> None:
    good = oidc_app(oidc_server, oidc_meta, oidc_server.confidential)
    pending, callback = authorize(oidc_server, good)
    bad = oauth.OAuthApp(**{**good.__dict__, "client_secret": "not-the-secret"})
    with pytest.raises(PlatformError) as exc:
        oauth.exchange_code(
            bad, http, code=callback["code"], redirect_uri=oidc_server.redirect_uri, code_verifier=pending.code_verifier
        )
    assert exc.value.error_class is ErrorClass.CONFIG and exc.value.code == "invalid_client"


# ---- oauth2-mock-server -------------------------------------------------------------------------------------------


def _rebase(url: str, base: str) -> str:
    """The mock names its issuer http://localhost:<port>; send to the 127.0.0.1 origin it actually listens on
    (localhost may resolve to ::1 first)."""
    parts, origin = urlsplit(url), urlsplit(base)
    return urlunsplit((origin.scheme, origin.netloc, parts.path, parts.query, parts.fragment))


@pytest.fixture(scope="module")
def mock_app(oauth2_mock_server: MockOAuthServer) -> oauth.OAuthApp:
    with httpx.Client(timeout=10) as client:
        meta = discover(client, oauth2_mock_server.base)
    port = urlsplit(oauth2_mock_server.base).port
    assert meta["issuer"] == f"http://localhost:{port}"
    assert "S256" in meta["code_challenge_methods_supported"]
    assert "authorization_code" in meta["grant_types_supported"]  # refresh_token works but is not advertised
    return oauth.OAuthApp(
        platform="mock",
        client_id="cliply",
        client_secret="mock-secret",
        authorize_url=_rebase(meta["authorization_endpoint"], oauth2_mock_server.base),
        token_url=_rebase(meta["token_endpoint"], oauth2_mock_server.base),
        scopes=("video.upload", "video.publish"),
    )


def _mock_authorize(server: MockOAuthServer, app: oauth.OAuthApp) -> tuple[oauth.PendingAuthorization, dict[str, str]]:
    pending = oauth.authorization_url(app, redirect_uri=server.redirect_uri)
    resp = httpx.get(pending.url, follow_redirects=False, timeout=10)
    assert resp.status_code == 302, (resp.status_code, resp.text[:300])  # auto-approved: no login page
    location = resp.headers["location"]
    assert location.startswith(server.redirect_uri)
    return pending, {k: v[0] for k, v in parse_qs(urlparse(location).query).items()}


def test_mock_code_flow_pkce_and_refresh(
    oauth2_mock_server: MockOAuthServer, mock_app: oauth.OAuthApp, http: httpx.Client
) -> None:
    pending, callback = _mock_authorize(oauth2_mock_server, mock_app)
    assert callback["state"] == pending.state
    tokens = oauth.exchange_code(
        mock_app,
        http,
        code=callback["code"],
        redirect_uri=oauth2_mock_server.redirect_uri,
        code_verifier=pending.code_verifier,
    )
    assert tokens.access_token and tokens.refresh_token and tokens.expires_in

    refreshed = oauth.refresh(mock_app, http, tokens.refresh_token)
    # Access tokens are JWTs stamped to the second, so two in the same second may be equal: check the claims.
    claims = json.loads(base64.urlsafe_b64decode(refreshed.access_token.split(".")[1] + "=="))
    assert claims["iss"] == f"http://localhost:{urlsplit(oauth2_mock_server.base).port}" and claims["sub"] == "johndoe"
    # The mock issues a fresh refresh token on every refresh; refresh() must hand that one back.
    assert refreshed.refresh_token and refreshed.refresh_token != tokens.refresh_token


def test_mock_wrong_code_verifier_needs_reconnect(
    oauth2_mock_server: MockOAuthServer, mock_app: oauth.OAuthApp, http: httpx.Client
) -> None:
    _pending, callback = _mock_authorize(oauth2_mock_server, mock_app)
    with pytest.raises(PlatformError) as exc:
        oauth.exchange_code(
            mock_app,
            http,
            code=callback["code"],
            redirect_uri=oauth2_mock_server.redirect_uri,
            code_verifier=oauth.new_code_verifier(),
        )
    assert exc.value.error_class is ErrorClass.AUTH_RECONNECT
    assert exc.value.status == 400
