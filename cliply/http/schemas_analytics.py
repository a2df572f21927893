"""Analytics request bodies and query strings as typed models: a wrong type or a missing field is a 422 naming
the field, never a 500."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from cliply.analytics.links import MAX_URL_CHARS
from cliply.publishing.service import MAX_ID

Id = Annotated[int, Field(ge=1, le=MAX_ID)]
Window = Annotated[str, Field(max_length=16, description="Time window: 90m, 24h, 7d, 30d, 2w or all.")]


class Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class TrackCreate(Model):
    url: str = Field(min_length=1, max_length=MAX_URL_CHARS, description="The post's public URL.")


class TrackedQuery(Model):
    status: Literal["active", "gone"] | None = None
    platform: str | None = Field(None, max_length=16)


class StatsQuery(Model):
    post: Id | None = None
    clip: str | None = Field(None, max_length=80)
    account: Id | None = None
    since: Window | None = None

    @model_validator(mode="after")
    def _one(self) -> StatsQuery:
        if sum(x is not None for x in (self.post, self.clip, self.account)) > 1:
            raise ValueError("give at most one of post, clip and account")
        return self


class BoardQuery(Model):
    by: Literal["account", "clip"] = "account"
    since: Window | None = None


class ExportQuery(Model):
    since: Window | None = None
