"""Request bodies as typed models: a wrong type or a missing field is a 422 naming the field, never a 500.
Unknown fields are ignored, as they always were."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from cliply.platforms import PLATFORMS
from cliply.publishing.captions import TargetDraft
from cliply.publishing.service import MAX_ID, account_ref

AccountId = Annotated[int, Field(ge=1, le=MAX_ID)]  # database ids are 64-bit
Handle = Annotated[str, Field(max_length=255)]
When = Annotated[str, Field(max_length=64, description='Local time "YYYY-MM-DD HH:MM" (or ISO), or "now".')]
Zone = Annotated[str, Field(max_length=64, description="IANA time zone, e.g. Europe/Paris.")]


class Body(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class TargetIn(Body):
    platform: str
    account_id: AccountId | Handle | None = None
    account: Handle | None = Field(None, description="An account handle or platform id instead of account_id.")
    caption: str | None = None
    title: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)

    @field_validator("platform")
    @classmethod
    def _known(cls, value: str) -> str:
        if value not in PLATFORMS:
            raise ValueError(f"must be one of {', '.join(PLATFORMS)}")
        return value

    @model_validator(mode="after")
    def _has_account(self) -> TargetIn:
        if not str(self.account_id if self.account_id is not None else self.account or "").strip():
            raise ValueError("each target needs an account_id (or an account handle)")
        return self

    def draft(self) -> TargetDraft:
        ref = str(self.account_id if self.account_id is not None else self.account).strip()
        return TargetDraft(self.platform, account_ref(ref), self.caption, self.title, dict(self.options))


class PostCreate(Body):
    clip_id: str = ""
    caption: str | None = None
    targets: list[TargetIn] = Field(min_length=1)
    at: When | None = None
    scheduled_at: When | None = Field(None, description="Same as `at`.")
    timezone: Zone | None = None

    @property
    def when(self) -> str | None:
        return self.at or self.scheduled_at


class PostEdit(Body):
    caption: str | None = None
    captions: dict[str, str] = Field(default_factory=dict, description="{platform: caption}")
    title: str | None = None
    at: When | None = None
    scheduled_at: When | None = None
    timezone: Zone | None = None

    @property
    def when(self) -> str | None:
        return self.at or self.scheduled_at


class AccountCreate(Body):
    platform: str = ""
    handle: str = ""
    app_password: str = ""


class UploadCreate(Body):
    filename: str | None = None
    content_type: str | None = None
