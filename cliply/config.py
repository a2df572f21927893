"""All configuration comes from CLIPLY_* environment variables, read when asked (never at import)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path


def _env_bool(value: str) -> bool:
    return value.strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class Settings:
    """Every knob, with its CLIPLY_<NAME> variable and embedded default. The README lists them."""

    home: Path = field(default=Path(".cliply"), metadata={"help": "Folder for embedded state (SQLite, media, inbox)."})
    database_url: str = field(default="", metadata={"help": "App database URL; default sqlite:///<home>/cliply.db."})
    media_url: str = field(
        default="", metadata={"help": "Media store: a folder path/file:// URL, or s3://bucket/prefix."}
    )
    s3_endpoint_url: str = field(default="", metadata={"help": "S3-compatible endpoint (e.g. SeaweedFS, MinIO)."})
    s3_region: str = field(default="us-east-1", metadata={"help": "S3 region."})
    inbox_url: str = field(
        default="", metadata={"help": "Upload inbox: folder or s3://bucket/prefix; default <home>/inbox."}
    )
    default_workspace: str = field(default="default", metadata={"help": "Workspace used when none is named."})
    default_plan: str = field(default="free", metadata={"help": "Plan given to workspaces created on first use."})
    whisper_engine: str = field(default="faster-whisper", metadata={"help": "openai-whisper or faster-whisper."})
    whisper_model: str = field(default="tiny.en", metadata={"help": "Model name (downloaded) or a file/folder path."})
    whisper_language: str = field(default="", metadata={"help": "Force a language code; empty = detect."})
    whisper_threads: int = field(default=0, metadata={"help": "CPU threads for ASR; 0 = all cores."})
    clip_min_seconds: float = field(default=15.0, metadata={"help": "Shortest highlight."})
    clip_max_seconds: float = field(default=60.0, metadata={"help": "Longest highlight."})
    max_clips: int = field(default=5, metadata={"help": "Highlights rendered per source."})
    render_preset: str = field(default="veryfast", metadata={"help": "x264 preset for clips."})
    render_crf: int = field(default=23, metadata={"help": "x264 CRF for clips."})
    caption_font: str = field(default="DejaVu Sans", metadata={"help": "Caption font family (libass)."})
    caption_highlight: str = field(default="#FFD400", metadata={"help": "Colour of the word being spoken (#RRGGBB)."})
    fonts_dir: str = field(default="", metadata={"help": "Extra fonts folder for captions."})
    allow_private_urls: bool = field(
        default=False, metadata={"help": "Allow URL imports from private/loopback addresses (tests only)."}
    )
    max_download_bytes: int = field(default=4 * 1024**3, metadata={"help": "Cap on a URL import's size."})

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for f in fields(cls):
            raw = env.get(f"CLIPLY_{f.name.upper()}")
            if raw is None or raw == "":
                continue
            default = f.default
            if isinstance(default, bool):
                values[f.name] = _env_bool(raw)
            elif isinstance(default, int):
                values[f.name] = int(raw)
            elif isinstance(default, float):
                values[f.name] = float(raw)
            elif isinstance(default, Path):
                values[f.name] = Path(raw).expanduser()
            else:
                values[f.name] = raw
        return cls(**values)  # type: ignore[arg-type]

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.home / 'cliply.db').resolve()}"

    @property
    def resolved_media_url(self) -> str:
        return self.media_url or str((self.home / "media").resolve())

    @property
    def resolved_inbox_url(self) -> str:
        return self.inbox_url or str((self.home / "inbox").resolve())


def describe() -> list[tuple[str, str, str]]:
    """(variable, default, help) rows for the README and `cliply config`."""
    return [
        (f"CLIPLY_{f.name.upper()}", str(f.default), f.metadata.get("help", ""))
        for f in fields(Settings)
    ]
