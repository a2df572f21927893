"""Every emulated platform's OAuth 2.0 authorisation-code flow, served by one authorize handler and one token
handler. What differs between platforms is data (`OAuthVariant`): paths, parameter names, scope separators, PKCE
rules, how the client authenticates, when refresh tokens are issued and rotated, the token response's fields and
the platform's error envelope.

Sandbox-only consent knobs on the authorize URL: `sandbox_account` (who approves) and `sandbox_scopes` (what the
user leaves ticked, commas or spaces)."""

from __future__ import annotations

import base64
import binascii
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal, Protocol
from urllib.parse import parse_qsl, urlencode

from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute

from cliply.sandbox.common import Endpoint, ErrorEnvelopes, bind, pre_faults
from cliply.sandbox.state import AuthCode, Grant, OAuthFailure, SandboxState

RefreshPolicy = Literal["always", "access_type_offline", "offline_scope", "partner_client", "never"]


# ---- error envelopes -------------------------------------------------------------------------------------------------
class OAuthErrors(Protocol):
    """How a platform refuses an OAuth request (`refuse`) and a failed code/refresh redemption (`failed`)."""

    def refuse(self, status: int, error: str, description: str | None) -> Response: ...
    def failed(self, exc: OAuthFailure) -> Response: ...


@dataclass(frozen=True)
class Rfc6749Errors:
    """{"error", "error_description"} (RFC 6749 §5.2); TikTok adds a `log_id`; Google answers a client mismatch
    with 401."""

    log_id: bool = False
    client_mismatch_status: int = 400

    def refuse(self, status: int, error: str, description: str | None) -> Response:
        body: dict[str, Any] = {"error": error}
        if description is not None:
            body["error_description"] = description
        if self.log_id:
            body["log_id"] = secrets.token_hex(16).upper()
        return JSONResponse(body, status_code=status)

    def failed(self, exc: OAuthFailure) -> Response:
        status = self.client_mismatch_status if exc.error == "invalid_client" else 400
        return self.refuse(status, exc.error, exc.description)


@dataclass(frozen=True)
class CodeMessageErrors:
    """Pinterest's {"code", "message"}: 2 for client authentication, 1 for everything else."""

    def refuse(self, status: int, error: str, description: str | None) -> Response:
        return JSONResponse(
            {"code": 2 if error == "invalid_client" else 1, "message": description or error}, status_code=status
        )

    def failed(self, exc: OAuthFailure) -> Response:
        return self.refuse(400, exc.error, f"{exc.error}: {exc.description}")


# ---- the variant -----------------------------------------------------------------------------------------------------
ExtraGrant = Callable[[SandboxState, dict[str, str]], "Grant | Response"]


@dataclass(frozen=True)
class OAuthVariant:
    """One platform's flavour of the authorisation-code flow, as data; the defaults are plain RFC 6749."""

    platform: str
    authorize_path: str
    token_path: str
    errors: OAuthErrors
    # the envelope of scripted "token" faults, built per request; None: the token endpoint takes no faults
    fault_errors: Callable[[SandboxState], ErrorEnvelopes] | None = None
    token_methods: tuple[str, ...] = ("POST",)
    # authorize
    client_param: str = "client_id"  # TikTok: client_key
    response_type_default: str = ""  # Meta treats a missing response_type as "code"
    bad_response_type_redirect: str | None = None  # error redirected back (None: a plain 400 like missing params)
    authorize_invalid: str | None = None  # description of the 400 for missing client/redirect_uri
    scope_separators: str = " "  # what splits the `scope` parameter
    known_scopes: frozenset[str] | None = None  # None: any scope is accepted
    scope_required: bool = False
    sandbox_scopes_filter: bool = False  # True: the consent knob unticks requested scopes; False: replaces them
    pkce: Literal["ignored", "optional", "required"] = "optional"
    pkce_methods: tuple[str, ...] | None = None  # checked when a challenge is sent; None: not checked
    pkce_default_method: str | None = None  # stored when code_challenge_method is absent (None = S256 at redeem)
    callback_scope: tuple[str, str] | None = None  # (parameter, joiner) echoing the granted scopes
    default_account: str | None = None  # account approving when no sandbox_account is given
    new_account_handle: str | None = None  # "{tail}" template creating an unknown sandbox_account
    # token: client authentication
    client_auth: Literal["body", "basic", "body_or_basic"] = "body"
    secret_required: bool = False
    form_required: bool = False  # 400 unless the body is application/x-www-form-urlencoded
    invalid_client: str = "client authentication failed"
    malformed_basic: str | None = None  # description of a 401 for undecodable Basic credentials
    # token: grants
    code_grant_type: str | None = "authorization_code"  # None: any grant_type not listed elsewhere redeems a code
    refresh_grant_type: str | None = "refresh_token"
    extra_grants: tuple[tuple[str, ExtraGrant], ...] = ()
    unsupported_grant: str | None = None
    access_ttl_s: float = 3600
    refresh_ttl_s: float | None = None
    refresh_policy: RefreshPolicy = "always"
    rotate_refresh: bool = True
    on_issue: Callable[[SandboxState, Grant], None] | None = None
    # token: response
    token_type: str | None = "Bearer"
    expires_in: Literal["ttl", "remaining"] | None = "ttl"
    account_field: str | None = None  # TikTok open_id, Meta user_id
    scope_field: str | None = "scope"
    scope_joiner: str = " "
    refresh_on_refresh: bool = True  # False: a refresh answer carries no refresh_token (Google)
    refresh_expires_in: tuple[str, Literal["ttl", "remaining"]] | None = None
    refresh_expires_at: str | None = None
    grant_type_echo: str | None = None  # Pinterest echoes grant_type as response_type


def routes(variant: OAuthVariant, state: SandboxState) -> list[BaseRoute]:
    """The consent page and the token endpoint of one platform."""
    return bind(
        state,
        [
            Endpoint(variant.authorize_path, partial(authorize, variant), ("GET",), f"{variant.platform}_authorize"),
            Endpoint(variant.token_path, partial(token, variant), variant.token_methods, f"{variant.platform}_token"),
        ],
    )


# ---- authorize -------------------------------------------------------------------------------------------------------
def split_scopes(value: str, separators: str) -> tuple[str, ...]:
    return tuple(s for s in re.split(f"[{re.escape(separators)}]", value) if s)


def _redirect(redirect_uri: str, **params: str) -> Response:
    sep = "&" if "?" in redirect_uri else "?"
    return RedirectResponse(f"{redirect_uri}{sep}{urlencode(params)}", status_code=302)


def _authorize_refusal(v: OAuthVariant, q: QueryParams) -> Response | None:
    """A refusal of the authorisation request itself: a 400 page, or an error redirected to the client."""
    client_id, redirect_uri = q.get(v.client_param), q.get("redirect_uri")
    response_type_ok = q.get("response_type", v.response_type_default) == "code"
    if not client_id or not redirect_uri or (not response_type_ok and v.bad_response_type_redirect is None):
        return v.errors.refuse(400, "invalid_request", v.authorize_invalid)
    back = {"state": q.get("state", "")}
    if not response_type_ok:
        return _redirect(redirect_uri, error=v.bad_response_type_redirect or "", **back)
    requested = split_scopes(q.get("scope", ""), v.scope_separators)
    if (v.scope_required and not requested) or (v.known_scopes and set(requested) - v.known_scopes):
        return _redirect(redirect_uri, error="invalid_scope", **back)
    return _pkce_refusal(v, q, redirect_uri)


def _pkce_refusal(v: OAuthVariant, q: QueryParams, redirect_uri: str) -> Response | None:
    challenge, method = q.get("code_challenge"), q.get("code_challenge_method", "plain")
    if v.pkce == "required" and (not challenge or (v.pkce_methods and method not in v.pkce_methods)):
        return v.errors.refuse(400, "invalid_request", "PKCE code_challenge is required")
    if v.pkce == "optional" and challenge and v.pkce_methods and method not in v.pkce_methods:
        return _redirect(redirect_uri, error="invalid_request", state=q.get("state", ""))
    return None


def granted_scopes(v: OAuthVariant, q: QueryParams) -> tuple[str, ...]:
    requested = split_scopes(q.get("scope", ""), v.scope_separators)
    if "sandbox_scopes" not in q:
        return requested
    ticked = split_scopes(q["sandbox_scopes"], ", ")
    return tuple(s for s in requested if s in ticked) if v.sandbox_scopes_filter else ticked


def _approving_account(v: OAuthVariant, state: SandboxState, q: QueryParams) -> str | None:
    account_id = q.get("sandbox_account") or v.default_account
    if account_id and v.new_account_handle and (v.platform, account_id) not in state.accounts:
        state.add_account(v.platform, account_id, handle=v.new_account_handle.format(tail=account_id[-8:]))
    return account_id


async def authorize(v: OAuthVariant, state: SandboxState, request: Request) -> Response:
    """The consent page, approved at once: redirect back with a code (or the error the platform would send)."""
    q = request.query_params
    if (refusal := _authorize_refusal(v, q)) is not None:
        return refusal
    granted = granted_scopes(v, q)
    pkce = v.pkce != "ignored"
    code = state.authorize(
        v.platform,
        client_id=q[v.client_param],
        redirect_uri=q["redirect_uri"],
        scopes=granted,
        challenge=q.get("code_challenge") if pkce else None,
        method=q.get("code_challenge_method", v.pkce_default_method) if pkce else None,
        account_id=_approving_account(v, state, q),
    )
    if v.refresh_policy == "access_type_offline":  # Google: a refresh token only for access_type=offline
        state.objects[f"{v.platform}:code:{code}"] = {"offline": q.get("access_type") == "offline"}
    params = {"code": code}
    if v.callback_scope:
        params[v.callback_scope[0]] = v.callback_scope[1].join(granted)
    return _redirect(q["redirect_uri"], **params, state=q.get("state", ""))


# ---- token -----------------------------------------------------------------------------------------------------------
async def token_params(request: Request) -> dict[str, str]:
    """Query string and x-www-form-urlencoded body together (Graph takes either); the body wins. A body without
    a content type is read as a form too, as the token endpoints do."""
    params = dict(request.query_params)
    ctype = request.headers.get("content-type", "")
    if not ctype or "x-www-form-urlencoded" in ctype:
        params.update(parse_qsl((await request.body()).decode("utf-8", "replace"), keep_blank_values=True))
    return params


def _basic_credentials(request: Request) -> tuple[str, str] | None:
    """(client_id, secret) from HTTP Basic; ("", "") when absent; None when present but undecodable."""
    auth = request.headers.get("authorization", "")
    if not auth.lower().startswith("basic "):
        return "", ""
    try:
        client_id, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return client_id, secret


def client_of(v: OAuthVariant, request: Request, params: dict[str, str]) -> str | Response:
    """The authenticated client id (HTTP Basic wins over the body), or the platform's invalid_client refusal."""
    client_id, secret = params.get(v.client_param, ""), params.get("client_secret", "")
    if v.client_auth != "body":
        basic = _basic_credentials(request)
        if basic is None and v.malformed_basic:
            return v.errors.refuse(401, "invalid_client", v.malformed_basic)
        basic_id, basic_secret = basic or ("", "")
        if v.client_auth == "basic" or basic_id:
            client_id, secret = basic_id, basic_secret
    if not client_id or (v.secret_required and not secret):
        return v.errors.refuse(401, "invalid_client", v.invalid_client)
    return client_id


def _issues_refresh(v: OAuthVariant, state: SandboxState, code: str, ac: AuthCode) -> bool:
    if v.refresh_policy == "access_type_offline":
        return bool(state.objects.pop(f"{v.platform}:code:{code}", {}).get("offline", False))
    if v.refresh_policy == "offline_scope":
        return "offline.access" in ac.scopes
    if v.refresh_policy == "partner_client":
        return ac.client_id.endswith("-partner")  # sandbox convention: an approved partner app
    return v.refresh_policy == "always"


def redeem(v: OAuthVariant, state: SandboxState, params: dict[str, str], client_id: str) -> Grant:
    code = params.get("code", "")
    ac = state.redeem_code(
        v.platform,
        code,
        client_id=client_id,
        redirect_uri=params.get("redirect_uri", ""),
        verifier=(params.get("code_verifier") or None) if v.pkce != "ignored" else None,
        pkce_required=v.pkce == "required",
    )
    refresh = v.refresh_ttl_s if _issues_refresh(v, state, code, ac) else None
    grant = state.issue_grant(
        v.platform, ac.account_id, ac.scopes, access_ttl_s=v.access_ttl_s, refresh_ttl_s=refresh, client_id=client_id
    )
    if v.on_issue:
        v.on_issue(state, grant)
    return grant


def refresh(v: OAuthVariant, state: SandboxState, params: dict[str, str]) -> Grant:
    # A rotated refresh token starts a new lifetime; an unrotated one keeps its original expiry.
    return state.refresh_grant(
        v.platform,
        params.get("refresh_token", ""),
        access_ttl_s=v.access_ttl_s,
        refresh_ttl_s=v.refresh_ttl_s if v.rotate_refresh else None,
        rotate=v.rotate_refresh,
    )


def _refresh_allowed(v: OAuthVariant, client_id: str) -> bool:
    if v.refresh_policy == "partner_client":
        return client_id.endswith("-partner")
    return v.refresh_policy != "never"


def _grant(v: OAuthVariant, state: SandboxState, params: dict[str, str], client_id: str) -> Grant | Response:
    grant_type = params.get("grant_type")
    extra = dict(v.extra_grants)
    if grant_type in extra:
        return extra[grant_type](state, params)
    if v.refresh_grant_type and grant_type == v.refresh_grant_type:
        if _refresh_allowed(v, client_id):
            return refresh(v, state, params)
    elif v.code_grant_type is None or grant_type == v.code_grant_type:
        return redeem(v, state, params, client_id)
    return v.errors.refuse(400, "unsupported_grant_type", v.unsupported_grant)


def token_body(v: OAuthVariant, state: SandboxState, grant: Grant, grant_type: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {"access_token": grant.access_token}
    if v.token_type:
        body["token_type"] = v.token_type
    if v.expires_in:
        body["expires_in"] = _seconds(v.expires_in, v.access_ttl_s, grant.expires_at, state)
    if v.account_field:
        body[v.account_field] = grant.account_id
    if v.scope_field:
        body[v.scope_field] = v.scope_joiner.join(grant.scopes)
    if grant.refresh_token and (v.refresh_on_refresh or grant_type != v.refresh_grant_type):
        body["refresh_token"] = grant.refresh_token
        if v.refresh_expires_in and grant.refresh_expires_at:
            name, how = v.refresh_expires_in
            body[name] = _seconds(how, v.refresh_ttl_s or 0, grant.refresh_expires_at, state)
        if v.refresh_expires_at and grant.refresh_expires_at:
            body[v.refresh_expires_at] = int(grant.refresh_expires_at.timestamp())
    if v.grant_type_echo:
        body[v.grant_type_echo] = grant_type
    return body


def _seconds(how: str, ttl_s: float, at: Any, state: SandboxState) -> int:
    return int(ttl_s) if how == "ttl" else int((at - state.clock.now()).total_seconds())


async def token(v: OAuthVariant, state: SandboxState, request: Request) -> Response:
    """Redeem a code, refresh, or a platform's extra grant, answering in the platform's token shape."""
    if v.fault_errors is not None and (fault := await pre_faults(state, v.platform, "token", v.fault_errors(state))):
        return fault
    if v.form_required and not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        return v.errors.refuse(400, "invalid_request", "form body expected")
    params = await token_params(request)
    client_id = client_of(v, request, params)
    if isinstance(client_id, Response):
        return client_id
    try:
        grant = _grant(v, state, params, client_id)
    except OAuthFailure as exc:
        return v.errors.failed(exc)
    if isinstance(grant, Response):
        return grant
    return JSONResponse(token_body(v, state, grant, params.get("grant_type")))
