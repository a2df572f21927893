"""OAuth 2.0 authorisation-code flow pieces shared by the platform clients: state, PKCE (S256), the authorisation
URL, code exchange, refresh (keeping a rotated refresh token), and the granted-scope check.
PKCE and token generation come from Authlib; the token calls are plain httpx so each platform's quirks fit."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote_plus, urlencode

import httpx
from authlib.common.security import generate_token
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from cliply.platforms.errors import ErrorClass, PlatformError
from cliply.platforms.models import TokenSet


@dataclass(frozen=True)
class OAuthApp:
    platform: str
    client_id: str
    client_secret: str = ""
    authorize_url: str = ""
    token_url: str = ""
    scopes: tuple[str, ...] = ()
    scope_separator: str = " "
    pkce: bool = True
    client_id_param: str = "client_id"  # TikTok calls it client_key
    auth_method: str = "client_secret_post"  # or client_secret_basic, or none (public client)
    extra_authorize_params: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PendingAuthorization:
    """What to keep server-side between redirect and callback (the verifier never leaves the server)."""

    url: str
    state: str
    code_verifier: str | None


def new_state() -> str:
    return generate_token(32)


def new_code_verifier() -> str:
    return generate_token(64)  # RFC 7636: 43–128 unreserved characters


def code_challenge(verifier: str) -> str:
    return create_s256_code_challenge(verifier)


def authorization_url(
    app: OAuthApp,
    *,
    redirect_uri: str,
    state: str | None = None,
    code_verifier: str | None = None,
    scopes: Iterable[str] | None = None,
    extra: Mapping[str, str] | None = None,
) -> PendingAuthorization:
    state = state or new_state()
    verifier = (code_verifier or new_code_verifier()) if app.pkce else None
    params: dict[str, str] = {
        "response_type": "code",
        app.client_id_param: app.client_id,
        "redirect_uri": redirect_uri,
        "scope": app.scope_separator.join(scopes if scopes is not None else app.scopes),
        "state": state,
        **app.extra_authorize_params,
        **(extra or {}),
    }
    if verifier:
        params["code_challenge"] = code_challenge(verifier)
        params["code_challenge_method"] = "S256"
    sep = "&" if "?" in app.authorize_url else "?"
    return PendingAuthorization(f"{app.authorize_url}{sep}{urlencode(params)}", state, verifier)


def parse_token_response(data: Mapping[str, Any], *, scope_separator: str = " ") -> TokenSet:
    scope = data.get("scope") or ""
    scopes = tuple(s for s in (scope.replace(",", " ").split() if isinstance(scope, str) else scope) if s)
    expires = data.get("expires_in")
    return TokenSet(
        access_token=str(data["access_token"]),
        refresh_token=data.get("refresh_token"),
        expires_in=float(expires) if expires is not None else None,
        scope=scopes,
        token_type=str(data.get("token_type", "Bearer")),
        raw={k: v for k, v in data.items() if k not in {"access_token", "refresh_token", "id_token"}},
    )


def _token_request(
    app: OAuthApp,
    http: httpx.Client,
    form: dict[str, str],
    parser: Callable[[Mapping[str, Any]], TokenSet],
) -> TokenSet:
    auth: httpx.Auth | None = None
    if app.auth_method == "client_secret_basic":
        # RFC 6749 §2.3.1: form-encode the id and secret before Basic auth.
        auth = httpx.BasicAuth(quote_plus(app.client_id), quote_plus(app.client_secret))
    else:
        form[app.client_id_param] = app.client_id
        if app.auth_method == "client_secret_post" and app.client_secret:
            form["client_secret"] = app.client_secret
    try:
        # Without Basic auth: the client's default, and our clients carry no auth of their own.
        resp = http.post(
            app.token_url, data=form, auth=auth or httpx.USE_CLIENT_DEFAULT, headers={"Accept": "application/json"}
        )
    except httpx.TimeoutException as exc:
        raise PlatformError(app.platform, ErrorClass.TRANSIENT, "token endpoint timed out") from exc
    except httpx.TransportError as exc:
        reason = f"token endpoint unreachable ({type(exc).__name__})"
        raise PlatformError(app.platform, ErrorClass.TRANSIENT, reason) from exc
    try:
        data = resp.json()
    except ValueError:
        data = {}
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict):  # TikTok-style envelope
        error = error.get("code") if error.get("code") not in (None, "ok") else None
    if resp.status_code >= 500:
        raise PlatformError(app.platform, ErrorClass.TRANSIENT, "token endpoint error", status=resp.status_code)
    if resp.status_code == 429:
        raise PlatformError(app.platform, ErrorClass.RATE_LIMITED, "token endpoint rate limited", status=429)
    if resp.status_code >= 400 or error:
        code = str(error or resp.status_code)
        cls = ErrorClass.CONFIG if code in {"invalid_client", "unauthorized_client"} else ErrorClass.AUTH_RECONNECT
        raise PlatformError(app.platform, cls, f"token request refused ({code})", status=resp.status_code, code=code)
    try:
        return parser(data)
    except (KeyError, TypeError, ValueError) as exc:
        raise PlatformError(
            app.platform,
            ErrorClass.TRANSIENT,
            "token endpoint returned no usable token",
            status=resp.status_code,
            code="bad_token_response",
        ) from exc


def exchange_code(
    app: OAuthApp,
    http: httpx.Client,
    *,
    code: str,
    redirect_uri: str,
    code_verifier: str | None = None,
    parser: Callable[[Mapping[str, Any]], TokenSet] = parse_token_response,
) -> TokenSet:
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri}
    if code_verifier:
        form["code_verifier"] = code_verifier
    tokens = _token_request(app, http, form, parser)
    # RFC 6749 §5.1: no `scope` in the response means exactly the requested scopes were granted.
    return tokens if tokens.scope else dataclasses.replace(tokens, scope=app.scopes)


def refresh(
    app: OAuthApp,
    http: httpx.Client,
    refresh_token: str,
    *,
    parser: Callable[[Mapping[str, Any]], TokenSet] = parse_token_response,
) -> TokenSet:
    """Refresh; when the server rotates, the result carries the NEW refresh token (store it atomically), else
    the old one is carried over."""
    tokens = _token_request(app, http, {"grant_type": "refresh_token", "refresh_token": refresh_token}, parser)
    if tokens.refresh_token is None:
        tokens = TokenSet(
            tokens.access_token, refresh_token, tokens.expires_in, tokens.scope, tokens.token_type, tokens.raw
        )
    return tokens


def missing_scopes(granted: Iterable[str], required: Iterable[str]) -> list[str]:
    have = set(granted)
    return [s for s in required if s not in have]
