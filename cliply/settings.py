"""Every CLIPLY_* setting in one typed object, read from the environment when asked (never at import).

This is the only module that reads (or writes) the process environment. A bad value fails with one line that names
the variable and what it expects; secrets are `SecretStr` and are masked wherever settings are shown."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from cliply.platforms import PLATFORMS

PREFIX = "CLIPLY_"
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


class SettingsError(ValueError):
    """A CLIPLY_* variable has a value of the wrong kind; the message names it."""


def _switch(value: object) -> object:
    """Publishing switches: a value that is neither on nor off counts as off, so a typo never publishes."""
    if isinstance(value, str):
        raw = value.strip().lower()
        return raw in _TRUE if raw in _TRUE | _FALSE else False
    return value


class PlatformSettings(BaseModel):
    """One platform's CLIPLY_<PLATFORM>_* settings. An empty base URL means the platform's real hosts."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    base_url: str = Field("", description="Send every host of the platform (API, upload, OAuth) to this origin.")
    client_id: str = Field("", description="OAuth client id (app key).")
    client_secret: SecretStr = Field(SecretStr(""), description="OAuth client secret.")
    timeout_s: float = Field(30.0, gt=0, description="Timeout of one API call, seconds.")
    upload_timeout_s: float = Field(300.0, gt=0, description="Timeout of one upload request, seconds.")
    poll_interval_s: float = Field(5.0, gt=0, description="Pause between processing-status polls, seconds.")
    poll_timeout_s: float = Field(600.0, gt=0, description="Give up polling a processing upload after, seconds.")

    @field_validator("base_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        return value.rstrip("/")


def _platform_defaults() -> dict[str, PlatformSettings]:
    return {p: PlatformSettings() for p in PLATFORMS}


def _switch_defaults() -> dict[str, bool]:
    return dict.fromkeys(PLATFORMS, True)


def parse_delays(value: str) -> tuple[float, ...]:
    """ "60,300,1800" → (60.0, 300.0, 1800.0); at least one delay, none negative."""
    try:
        delays = tuple(float(part) for part in value.split(","))
    except ValueError:
        raise ValueError(f"expected comma-separated seconds, not {value!r}") from None
    if not delays or any(d < 0 for d in delays):
        raise ValueError(f"delays must be zero or more seconds, not {value!r}")
    return delays


class Settings(BaseModel):
    """Every knob, with its CLIPLY_<NAME> variable and embedded default. `cliply config` lists them."""

    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=False)

    # --- state and storage ---
    home: Path = Field(Path(".cliply"), description="Folder for embedded state (SQLite, media, inbox, key files).")
    database_url: str = Field("", description="App database URL; default sqlite:///<home>/cliply.db.")
    media_url: str = Field("", description="Media store: a folder path/file:// URL, or s3://bucket/prefix.")
    s3_endpoint_url: str = Field("", description="S3-compatible endpoint (e.g. SeaweedFS, MinIO).")
    s3_region: str = Field("us-east-1", description="S3 region.")
    inbox_url: str = Field("", description="Upload inbox: folder or s3://bucket/prefix; default <home>/inbox.")
    dagster_home: Path | None = Field(
        None, description="Dagster instance folder (DAGSTER_HOME); default <home>/dagster."
    )
    # --- workspaces ---
    default_workspace: str = Field("default", min_length=1, description="Workspace used when none is named.")
    default_plan: str = Field("free", description="Plan given to workspaces created on first use.")
    # --- clipping ---
    whisper_engine: str = Field("faster-whisper", description="openai-whisper or faster-whisper.")
    whisper_model: str = Field("tiny.en", description="Model name (downloaded) or a file/folder path.")
    whisper_language: str = Field("", description="Force a language code; empty = detect.")
    whisper_threads: int = Field(0, ge=0, description="CPU threads for ASR; 0 = all cores.")
    clip_min_seconds: float = Field(15.0, gt=0, description="Shortest highlight.")
    clip_max_seconds: float = Field(60.0, gt=0, description="Longest highlight.")
    max_clips: int = Field(5, ge=1, description="Highlights rendered per source.")
    render_preset: str = Field("veryfast", description="x264 preset for clips.")
    render_crf: int = Field(23, ge=0, le=51, description="x264 CRF for clips.")
    caption_style: Literal["highlight", "pop", "boxed", "lower_third"] = Field(
        "highlight", description="Caption style: highlight, pop, boxed or lower_third."
    )
    caption_font: str = Field("", description="Caption font family; empty: the style's packaged font.")
    caption_highlight: str = Field(
        "#FFD400", pattern=r"^#[0-9A-Fa-f]{6}$", description="Colour of the word being spoken (#RRGGBB)."
    )
    fonts_dir: str = Field("", description="Extra fonts folder for captions.")
    clip_layout: Literal["auto", "fill", "fit", "split"] = Field(
        "auto",
        description="Clip layout: fill (crop following the subject), fit (whole frame over a blurred copy), split "
        "(two speakers stacked) or auto (split when two speakers share the clip, fit when no subject is found, "
        "else fill).",
    )
    thumbnail_title: bool = Field(False, description="Draw the clip's hook sentence on thumbnails and covers.")
    ffmpeg: str = Field("", description="ffmpeg binary; default the one bundled with imageio-ffmpeg.")
    # --- URL imports ---
    allow_private_urls: bool = Field(False, description="Allow URL imports from private/loopback addresses (tests).")
    max_download_bytes: int = Field(4 * 1024**3, gt=0, description="Cap on a URL import's or upload's size.")
    # --- publishing ---
    public_base_url: str = Field("", description="Public origin of `cliply serve` (OAuth callbacks, signed media).")
    http_max_body_bytes: int = Field(1024**2, gt=0, description="Largest JSON request body `cliply serve` reads.")
    max_targets_per_post: int = Field(50, ge=1, description="Most targets (platform accounts) one post may have.")
    media_url_key: SecretStr = Field(SecretStr(""), description="HMAC key for signed media URLs; default a key file.")
    token_keys: SecretStr = Field(
        SecretStr(""), description="Token encryption keys kid:<base64>,…; default a key file."
    )
    token_key_active: str = Field("", description="Key id that encrypts new secrets; default the last listed.")
    publishing_enabled: bool = Field(True, description="Master publishing switch (off: nothing is published).")
    publish: dict[str, bool] = Field(
        default_factory=_switch_defaults, description="Per-platform switch CLIPLY_PUBLISH_<PLATFORM> (a typo = off)."
    )
    publish_max_items: int = Field(1000, ge=1, description="Targets one publish run may take.")
    publish_concurrency: int = Field(4, ge=1, description="Targets published at once by one run.")
    publish_lease_s: int = Field(300, ge=1, description="How long a claimed target is leased, seconds.")
    publish_linger_s: float = Field(60.0, description="Idle time before a publish run stops (negative: no linger).")
    publish_max_run_s: float = Field(600.0, gt=0, description="How long a publish run keeps taking targets.")
    publish_poll_s: float = Field(1.0, gt=0, description="How often a lingering run looks for due targets.")
    publish_lookahead_s: float = Field(30.0, ge=0, description="Start a platform's run this early before targets.")
    publish_run_stale_s: float = Field(1800.0, ge=0, description="A run older than this is not waited for.")
    publish_retry_delays_s: str = Field(
        "60,300,1800", description="Waits before each later round after transient errors, seconds (comma separated)."
    )
    publish_retry_rounds: int = Field(3, ge=0, description="Later rounds after transient errors before failing.")
    publish_reconcile_delays_s: str = Field(
        "60,300,1800,7200", description='Waits before each retried "did it post?" lookup, seconds (comma separated).'
    )
    publish_reconcile_max_failures: int = Field(
        5, ge=1, description='Failed "did it post?" lookups before a target needs a person.'
    )
    retention_days: int = Field(7, ge=1, description="Days rendered media is kept unless a post needs it.")
    # --- analytics ---
    analytics_enabled: bool = Field(True, description="Refresh tracked posts' metrics (off: nothing is fetched).")
    analytics_ultra_hot_h: float = Field(6.0, gt=0, description="Posts younger than this (hours) are ultra_hot.")
    analytics_hot_h: float = Field(24.0, gt=0, description="Posts younger than this (hours) are hot.")
    analytics_warm_d: float = Field(7.0, gt=0, description="Posts younger than this (days) are warm.")
    analytics_cold_d: float = Field(90.0, gt=0, description="Posts younger than this (days) are cold; then frozen.")
    analytics_ultra_hot_every_s: float = Field(900.0, gt=0, description="Refresh interval of ultra_hot posts, s.")
    analytics_hot_every_s: float = Field(1800.0, gt=0, description="Refresh interval of hot posts, seconds.")
    analytics_warm_every_s: float = Field(21600.0, gt=0, description="Refresh interval of warm posts, seconds.")
    analytics_cold_every_s: float = Field(86400.0, gt=0, description="Refresh interval of cold posts, seconds.")
    analytics_read_share: float = Field(
        0.5, gt=0, le=1, description="Share of a limit window analytics reads may use (the rest is publishing's)."
    )
    analytics_hourly_after_d: float = Field(7.0, gt=0, description="Thin snapshots older than this (days) to hourly.")
    analytics_daily_after_d: float = Field(30.0, gt=0, description="Thin snapshots older than this (days) to daily.")
    youtube_api_key: SecretStr = Field(
        SecretStr(""), description="YouTube Data API key: track public videos without a connected channel."
    )
    # --- web pages ---
    web_session_hours: float = Field(12.0, gt=0, le=24 * 30, description="A web sign-in lasts this long (hours).")
    web_login_link_minutes: float = Field(
        15.0, gt=0, le=24 * 60, description="A one-time sign-in link from `cliply web login` expires after (minutes)."
    )
    # --- experiments and learned scoring ---
    experiment_p_best: float = Field(
        0.975, gt=0.5, lt=1, description="A winner needs at least this probability to be best."
    )
    experiment_max_loss: float = Field(
        0.01, gt=0, description="…and an expected loss (relative, e.g. 0.01 = 1 %) under this."
    )
    experiment_min_posts: int = Field(5, ge=2, description="Posts per arm (with metrics) before any decision.")
    experiment_min_days: float = Field(3.0, ge=0, description="Days an experiment runs before any decision.")
    experiment_max_days: float = Field(
        14.0, gt=0, description="Days after which an undecided experiment is inconclusive."
    )
    scoring_min_clips: int = Field(
        20, ge=5, description="Published clips with metrics a workspace needs before its scoring weights are learned."
    )
    scoring_metric_age_h: float = Field(
        24.0, gt=0, description="Learned scoring reads each clip's views at this age (h)."
    )
    scoring_shrinkage: float = Field(
        10.0, ge=0, description="Pull of learned weights toward the defaults, in clips (more = closer to the defaults)."
    )
    platforms: dict[str, PlatformSettings] = Field(
        default_factory=_platform_defaults, description="CLIPLY_<PLATFORM>_* client settings."
    )
    # --- notifications ---
    smtp_host: str = Field("", description="SMTP server for notifications; empty = no e-mail.")
    smtp_port: int = Field(25, ge=1, le=65535, description="SMTP port.")
    smtp_from: str = Field("cliply@localhost", description="Sender address of notifications.")
    smtp_to: str = Field("", description="Recipients, comma separated.")
    smtp_user: str = Field("", description="SMTP login.")
    smtp_password: SecretStr = Field(SecretStr(""), description="SMTP password.")
    smtp_starttls: bool = Field(False, description="Use STARTTLS.")
    webhook_url: SecretStr = Field(SecretStr(""), description="Webhook notified with JSON events (may hold a secret).")

    @field_validator("publish", mode="before")
    @classmethod
    def _switches(cls, value: Any) -> Any:
        return {k: _switch(v) for k, v in value.items()} if isinstance(value, Mapping) else value

    @field_validator("publishing_enabled", mode="before")
    @classmethod
    def _master_switch(cls, value: Any) -> Any:
        return _switch(value)

    @field_validator("publish_retry_delays_s", "publish_reconcile_delays_s")
    @classmethod
    def _delays(cls, value: str) -> str:
        parse_delays(value)
        return value

    @field_validator("public_base_url")
    @classmethod
    def _strip_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Settings from CLIPLY_* variables (empty = default). Raises SettingsError naming a bad variable."""
        env = os.environ if environ is None else environ
        values, _ = _read(env)
        return _validated(values)

    def platform(self, name: str) -> PlatformSettings:
        return self.platforms.get(name) or PlatformSettings()

    def publishes(self, platform: str) -> bool:
        return self.publishing_enabled and self.publish.get(platform, True)

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.home / 'cliply.db').resolve()}"

    @property
    def resolved_media_url(self) -> str:
        return self.media_url or str((self.home / "media").resolve())

    @property
    def resolved_inbox_url(self) -> str:
        return self.inbox_url or str((self.home / "inbox").resolve())

    @property
    def resolved_dagster_home(self) -> Path:
        return (self.dagster_home or self.home / "dagster").resolve()

    @property
    def smtp_recipients(self) -> tuple[str, ...]:
        return tuple(a.strip() for a in self.smtp_to.split(",") if a.strip())


# --- variable names: one list that from_env, `cliply config` and the unknown-variable check share ---


@dataclass(frozen=True)
class Variable:
    """One environment variable: where its value goes (field, or platform + field) and how it is shown."""

    name: str
    field: str
    platform: str = ""  # set for CLIPLY_<PLATFORM>_* and CLIPLY_PUBLISH_<PLATFORM>

    @property
    def secret(self) -> bool:
        model = PlatformSettings if self.platform and self.field != "publish" else Settings
        annotation = model.model_fields[self.field].annotation
        return annotation is SecretStr


_NESTED = {"platforms", "publish"}


def variables() -> Iterator[Variable]:
    for name in Settings.model_fields:
        if name == "dagster_home":
            yield Variable("DAGSTER_HOME", name)
        elif name not in _NESTED:
            yield Variable(PREFIX + name.upper(), name)
    for platform in PLATFORMS:
        yield Variable(f"{PREFIX}PUBLISH_{platform.upper()}", "publish", platform)
    for platform in PLATFORMS:
        for field in PlatformSettings.model_fields:
            yield Variable(f"{PREFIX}{platform.upper()}_{field.upper()}", field, platform)


def _read(env: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """Raw values by field (nested for platforms) and the variable each came from."""
    values: dict[str, Any] = {}
    origin: dict[str, str] = {}
    for var in variables():
        raw = env.get(var.name)
        if raw is None or raw.strip() == "":
            continue
        origin[var.name] = "environment"
        if var.field == "publish":
            values.setdefault("publish", _switch_defaults())[var.platform] = raw
        elif var.platform:
            values.setdefault("platforms", {}).setdefault(var.platform, {})[var.field] = raw.strip()
        else:
            values[var.field] = raw.strip() if var.field not in {"smtp_password", "token_keys"} else raw
    if "platforms" in values:
        values["platforms"] = {p: values["platforms"].get(p, {}) for p in PLATFORMS}
    return values, origin


def _validated(values: dict[str, Any]) -> Settings:
    try:
        return Settings.model_validate(values)
    except ValidationError as exc:
        raise SettingsError(_first_problem(exc)) from None


def _first_problem(exc: ValidationError) -> str:
    err = exc.errors()[0]
    loc = [str(part) for part in err["loc"]]
    if loc[0] == "platforms" and len(loc) >= 3:
        name = f"{PREFIX}{loc[1].upper()}_{loc[2].upper()}"
    elif loc[0] == "publish" and len(loc) >= 2:
        name = f"{PREFIX}PUBLISH_{loc[1].upper()}"
    else:
        name = "DAGSTER_HOME" if loc[0] == "dagster_home" else PREFIX + loc[0].upper()
    got = err.get("input")
    shown = "(hidden)" if _is_secret_name(name) else repr(got)
    msg = err["msg"]
    return f"{name}: {msg[:1].lower()}{msg[1:]} (got {shown})"


def _is_secret_name(name: str) -> bool:
    return next((v.secret for v in variables() if v.name == name), False)


# --- showing settings (`cliply config`, readiness) ---


@dataclass(frozen=True)
class ShownSetting:
    variable: str
    value: str
    default: str
    source: str  # "environment" or "default"
    help: str


_URL_PASSWORD = re.compile(r"(?P<head>://[^/:@]*:)[^@/]*@")


def mask_url(url: str) -> str:
    """A URL with any password replaced by ***: database URLs are shown, their passwords never."""
    return _URL_PASSWORD.sub(r"\g<head>***@", url)


def _shown(value: Any, secret: bool) -> str:
    if isinstance(value, SecretStr):
        return "********" if value.get_secret_value() else ""
    if secret and value:
        return "********"
    return mask_url(str(value)) if isinstance(value, str) else ("" if value is None else str(value))


def _lookup(settings: Settings, var: Variable) -> tuple[Any, Any, str]:
    """(value, default, help) of one variable."""
    if var.field == "publish":
        info = Settings.model_fields["publish"]
        return settings.publish.get(var.platform, True), True, info.description or ""
    if var.platform:
        info = PlatformSettings.model_fields[var.field]
        return getattr(settings.platform(var.platform), var.field), info.default, info.description or ""
    info = Settings.model_fields[var.field]
    return getattr(settings, var.field), info.default, info.description or ""


def describe(settings: Settings | None = None, environ: Mapping[str, str] | None = None) -> list[ShownSetting]:
    """Every variable with its current value, default and origin; secrets masked, URL passwords hidden."""
    env = os.environ if environ is None else environ
    settings = settings or Settings.from_env(env)
    _, origin = _read(env)
    rows = []
    for var in variables():
        value, default, help_text = _lookup(settings, var)
        rows.append(
            ShownSetting(
                var.name,
                _shown(value, var.secret),
                _shown(default, var.secret),
                origin.get(var.name, "default"),
                help_text,
            )
        )
    return rows


def unknown_variables(environ: Mapping[str, str] | None = None) -> list[str]:
    """CLIPLY_* variables that no setting reads: usually a typo that would otherwise be silently ignored."""
    env = os.environ if environ is None else environ
    known = {v.name for v in variables()}
    return sorted(k for k in env if k.startswith(PREFIX) and k not in known)


# --- the few places the process environment itself must change ---


def export_dagster_home(path: Path) -> None:
    """Dagster's own `DagsterInstance.get()` and its child processes read DAGSTER_HOME."""
    os.environ["DAGSTER_HOME"] = str(path)


def prepend_to_path(folder: Path) -> None:
    """Put a folder first on PATH for libraries that shell out by name (openai-whisper runs `ffmpeg`)."""
    path = os.environ.get("PATH", "")
    if str(folder) not in path.split(os.pathsep):
        os.environ["PATH"] = f"{folder}{os.pathsep}{path}"
