"""Experiment request bodies and query strings as typed models: a wrong type, a missing field, a bad target list or
an image that is not base64 (or too big) is a 422 naming the field, never a 500."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from cliply.experiments.service import ExperimentSpec
from cliply.media.cover_upload import MAX_COVER_BYTES
from cliply.publishing.service import parse_targets
from cliply.store.models_experiments import EXPERIMENT_STATUSES, VARIANT_KINDS

MAX_VARIANT_CHARS = 5000  # longer than any platform's caption limit
MAX_IMAGES = 4  # one per arm at most
MAX_IMAGE_B64 = 4 * -(-MAX_COVER_BYTES // 3)  # base64 length of the largest image
MAX_CSV_CHARS = 5 * 1024**2
SEED_MAX = 2**31 - 1  # the seed column is a 32-bit integer

Status = Literal["running", "winner", "inconclusive", "stopped"]
Kind = Literal["caption", "title", "hashtags", "caption_style", "thumbnail", "hook"]
assert set(get_args(Status)) == set(EXPERIMENT_STATUSES) and set(get_args(Kind)) == set(VARIANT_KINDS)


def _image(text: Any) -> bytes:
    if not isinstance(text, str):
        raise ValueError("a base64 string")
    if len(text) > MAX_IMAGE_B64:
        raise ValueError(f"larger than {MAX_COVER_BYTES // 1024**2} MiB")
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("not base64") from None
    if len(data) > MAX_COVER_BYTES:
        raise ValueError(f"larger than {MAX_COVER_BYTES // 1024**2} MiB")
    if not data:
        raise ValueError("empty image")
    return data


Image = Annotated[bytes, BeforeValidator(_image)]
Variant = Annotated[str, Field(min_length=1, max_length=MAX_VARIANT_CHARS)]
Column = Annotated[str, Field(min_length=1, max_length=200)]


class Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class RuleIn(BaseModel):
    """Overrides of the stopping rule; an unknown key is refused (a typo must not silently keep the default)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    p_best: float | None = Field(None, gt=0, lt=1)
    max_loss: float | None = Field(None, gt=0)
    min_posts: int | None = Field(None, ge=1, le=10_000)
    min_days: float | None = Field(None, ge=0)
    max_days: float | None = Field(None, gt=0)

    def overrides(self) -> dict[str, float]:
        return self.model_dump(exclude_none=True)


class ExperimentCreate(Model):
    clip_id: str = Field(min_length=1, max_length=80)
    kind: Kind
    variants: list[Variant] = Field(min_length=2, max_length=4)
    targets: tuple[tuple[str, int | str], ...] = Field(
        description='"youtube:1,tiktok:@me", or a list of "platform:account" or {platform, account_id}.'
    )
    metric: str = Field("views@24h", max_length=32)
    posts_per_arm: int | None = Field(None, ge=1, le=1000)
    every: str = Field("6h", max_length=16)
    at: str | None = Field(None, max_length=64)
    tz: str | None = Field(None, max_length=64)
    auto_apply: bool = False
    seed: int | None = Field(None, ge=0, le=SEED_MAX)
    name: str = Field("", max_length=200)
    rule: RuleIn | None = None
    images: list[Image] = Field(default_factory=list, max_length=MAX_IMAGES)
    options: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description='Per-platform target options, e.g. {"tiktok": {"privacy": "SELF_ONLY"}}.'
    )

    @field_validator("targets", mode="before")
    @classmethod
    def _targets(cls, value: Any) -> tuple[tuple[str, int | str], ...]:
        if isinstance(value, list) and all(isinstance(v, (str, dict)) for v in value):
            value = ",".join(v if isinstance(v, str) else _target_text(v) for v in value)
        if not isinstance(value, str):
            raise ValueError('a string like "youtube:1,tiktok:2" or a list of targets')
        return tuple(parse_targets(value))

    def to_spec(self) -> ExperimentSpec:
        """The use case's input, the same for the REST route and the web form."""
        return ExperimentSpec(
            clip_id=self.clip_id,
            kind=self.kind,
            variants=tuple(self.variants),
            targets=self.targets,
            metric=self.metric,
            posts_per_arm=self.posts_per_arm,
            at=self.at,
            tz=self.tz,
            every=self.every,
            rule=self.rule.overrides() if self.rule else None,
            auto_apply=self.auto_apply,
            seed=self.seed,
            name=self.name,
            images=tuple(self.images),
            options=self.options or None,
        )


def _target_text(item: dict[str, Any]) -> str:
    """{"platform": "youtube", "account_id": 1} (or "account": "@me") → "youtube:1"."""
    platform, account = item.get("platform"), item.get("account_id", item.get("account"))
    if not isinstance(platform, str) or not isinstance(account, (int, str)) or isinstance(account, bool):
        raise ValueError("each target needs a platform and an account_id")
    return f"{platform}:{account}"


class ExperimentsQuery(Model):
    status: Status | None = None


class ApplyBody(Model):
    arm: str | None = Field(None, min_length=1, max_length=16, description="Default: the declared winner.")


class AnalyseBody(Model):
    csv: str = Field(min_length=1, max_length=MAX_CSV_CHARS, description="The CSV text, one row per post.")
    metric: Column
    arm: Column
    baseline: Column | None = None
    rule: RuleIn | None = None
