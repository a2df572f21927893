"""Per-workspace settings use cases: the caption style a workspace's clips are rendered with.

A workspace's style (one of cliply.media.caption_styles.STYLES) overrides CLIPLY_CAPTION_STYLE for its clips; None
falls back to the setting. A post may still choose its own style per target (post option caption_style)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cliply.media.caption_styles import STYLES
from cliply.store.models import Workspace
from cliply.usecases import ServiceError, WorkspaceRef, workspace_scope

if TYPE_CHECKING:
    from cliply.wiring import Cliply


def check_style(style: str | None) -> str | None:
    """A valid preset name, or None; anything else is refused with the list of names."""
    if style is None or style == "":
        return None
    if style not in STYLES:
        raise ServiceError(f"unknown caption style {style!r}; choose from {', '.join(STYLES)}", status=422)
    return style


def workspace_settings(app: Cliply, ref: WorkspaceRef) -> dict[str, Any]:
    with workspace_scope(app, ref, write=False) as scope:
        ws = scope.workspace
        return _json(ws, app.settings.caption_style)


def set_caption_style(app: Cliply, ref: WorkspaceRef, style: str | None) -> dict[str, Any]:
    """Set (or, with None, clear) the workspace's caption style; clips rendered from now on use it."""
    style = check_style(style)
    with workspace_scope(app, ref) as scope:
        ws = scope.workspace
        ws.caption_style = style
        return _json(ws, app.settings.caption_style)


def _json(ws: Workspace, default_style: str) -> dict[str, Any]:
    return {
        "id": ws.id,
        "name": ws.name,
        "plan": ws.plan,
        "caption_style": ws.caption_style,
        "effective_caption_style": ws.caption_style or default_style,
        # experiment winners applied as defaults (hashtags of suggested captions, the cover-frame rule, …)
        "experiment_defaults": dict(ws.experiment_defaults or {}),
        "scoring_learning": ws.scoring_learning,
    }
