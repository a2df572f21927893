"""`cliply`: ingest, process and transcribe from the command line."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

import click

from cliply.config import Settings, describe
from cliply.errors import InputRejected

EXIT_REJECTED = 2


def _settings() -> Settings:
    return Settings.from_env()


def _database(settings: Settings):  # type: ignore[no-untyped-def]
    from cliply.store.db import Database

    db = Database(settings.resolved_database_url)
    db.migrate()
    return db


def _store(settings: Settings):  # type: ignore[no-untyped-def]
    from cliply_resources import MediaStoreResource

    return MediaStoreResource().get()


def _register(settings: Settings, target: str, workspace: str, status: str):  # type: ignore[no-untyped-def]
    from cliply.ingest import is_url, register_file, register_url

    db = _database(settings)
    if is_url(target):
        return register_url(settings, db, target, workspace=workspace, status=status)
    return register_file(settings, db, _store(settings), Path(target), workspace=workspace, status=status)


def _fail(message: str, *, as_json: bool, code: int, **extra: Any) -> None:
    if as_json:
        click.echo(json.dumps({"ok": False, "error": message, **extra}))
    else:
        click.echo(f"error: {message}", err=True)
    sys.exit(code)


@click.group()
@click.option("-v", "--verbose", is_flag=True, help="Show debug logs.")
def main(verbose: bool) -> None:
    """Cliply turns long videos into ranked, captioned vertical clips."""
    level = logging.DEBUG if verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")


@main.command()
@click.argument("target")
@click.option("--workspace", default=None, help="Workspace (tenant) that owns the source.")
def ingest(target: str, workspace: str | None) -> None:
    """Register a file or URL; the Dagster daemon's sensor launches its run."""
    settings = _settings()
    try:
        reg = _register(settings, target, workspace or settings.default_workspace, "registered")
    except InputRejected as exc:
        _fail(f"rejected ({exc.code}): {exc.reason}", as_json=False, code=EXIT_REJECTED)
        return
    click.echo(f"registered source {reg.source_id} in workspace {reg.workspace!r} ({reg.origin});")
    click.echo("the registered_sources_sensor will launch its run while the Dagster daemon runs (`make dev`).")


def _summary(settings: Settings, source_id: str) -> dict[str, Any]:
    from cliply.store.repo import WorkspaceScope, source_owner

    store = _store(settings)
    with _database(settings).session() as session:
        ws = source_owner(session, source_id)
        assert ws is not None
        scope = WorkspaceScope(session, ws)
        src = scope.get_source(source_id)
        assert src is not None
        tr = scope.get_transcript(source_id)
        clip_rows = scope.list_clips(source_id)
        return {
            "ok": src.status == "ready",
            "source_id": source_id,
            "workspace": ws.name,
            "status": src.status,
            "reject_code": src.reject_code,
            "reason": src.reject_reason,
            "source": {"uri": store.uri(src.media_key) if src.media_key else None, "duration_s": src.duration_s,
                       "resolution": f"{src.width}x{src.height}" if src.width else None},
            "transcript": None
            if tr is None
            else {"language": tr.language, "engine": tr.engine, "words": tr.word_count,
                  "files": {k: store.uri(v) for k, v in (("json", tr.json_key), ("srt", tr.srt_key),
                                                           ("vtt", tr.vtt_key)) if v}},
            "clips": [
                {"id": c.id, "rank": c.rank, "start": round(c.start_s, 3), "end": round(c.end_s, 3),
                 "score": round(c.score, 1), "reasons": c.reasons, "path": store.uri(c.media_key),
                 "thumbnail": store.uri(c.thumbnail_key) if c.thumbnail_key else None}
                for c in sorted(clip_rows, key=lambda c: c.rank)
            ],
        }


def _print_summary(s: dict[str, Any]) -> None:
    click.echo(f"source     {s['source_id']}  (workspace {s['workspace']}, status {s['status']})")
    if s["source"]["uri"]:
        click.echo(f"  video    {s['source']['uri']}  {s['source']['duration_s']:.1f}s {s['source']['resolution']}")
    if s["transcript"]:
        t = s["transcript"]
        click.echo(f"transcript {t['language']}, {t['words']} words ({t['engine']})")
        for fmt, uri in t["files"].items():
            click.echo(f"  {fmt:<8} {uri}")
    click.echo(f"clips      {len(s['clips'])}")
    if s["transcript"] and not s["transcript"]["words"]:
        click.echo("  no speech was found in this video, so there is nothing to clip")
    for c in s["clips"]:
        click.echo(f"  #{c['rank']} {c['start']:7.2f}-{c['end']:7.2f}s score {c['score']:5.1f}  {c['path']}")
        if c["thumbnail"]:
            click.echo(f"     thumbnail {c['thumbnail']}")
        if c["reasons"]:
            click.echo(f"     why: {'; '.join(c['reasons'])}")


@main.command()
@click.argument("target")
@click.option("--workspace", default=None, help="Workspace (tenant) that owns the source.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def process(target: str, workspace: str | None, as_json: bool) -> None:
    """Ingest a file or URL and materialise every media asset for it now, through Dagster."""
    from cliply_assets.runner import get_instance, materialize_source_sync

    settings = _settings()
    try:
        reg = _register(settings, target, workspace or settings.default_workspace, "queued")
    except InputRejected as exc:
        _fail(f"rejected ({exc.code}): {exc.reason}", as_json=as_json, code=EXIT_REJECTED, reject_code=exc.code)
        return
    if not as_json:
        click.echo(f"processing source {reg.source_id} …", err=True)
    result = materialize_source_sync(
        reg.source_id, get_instance(settings), log_level="WARNING" if as_json else "INFO"
    )
    summary = _summary(settings, reg.source_id)
    summary["dagster_run_id"] = result.run_id
    if summary["status"] == "rejected":
        _fail(f"rejected ({summary['reject_code']}): {summary['reason']}", as_json=as_json, code=EXIT_REJECTED,
              source_id=reg.source_id, reject_code=summary["reject_code"])
        return
    if not result.success:
        failure = next((e.message for e in result.all_events if e.is_failure), "run failed")
        _fail(str(failure), as_json=as_json, code=1, source_id=reg.source_id, dagster_run_id=result.run_id)
        return
    if as_json:
        click.echo(json.dumps(summary))
    else:
        _print_summary(summary)


@main.command()
@click.argument("media", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--engine", type=click.Choice(["openai-whisper", "faster-whisper"]), default=None)
@click.option("--model", default=None, help="Model name or a local file/folder path.")
@click.option("--json", "as_json", is_flag=True, help="Print {language, text, words:[{word,start,end}]}.")
def transcribe(media: Path, engine: str | None, model: str | None, as_json: bool) -> None:
    """Transcribe a media file with per-word timestamps (the same Transcriber the pipeline uses)."""
    from cliply.media.transcribe import make_transcriber

    settings = _settings()
    transcriber = make_transcriber(
        engine or settings.whisper_engine,
        model or settings.whisper_model,
        language=settings.whisper_language or None,
        threads=settings.whisper_threads,
    )
    t = transcriber.transcribe(media)
    words = [{"word": w.word, "start": round(w.start, 3), "end": round(w.end, 3)} for w in t.words]
    if as_json:
        click.echo(json.dumps({"language": t.language, "text": t.text, "words": words}))
        return
    click.echo(f"language: {t.language}   ({t.engine} {t.model})")
    click.echo(t.text)
    for w in words:
        click.echo(f"{w['start']:8.2f} {w['end']:8.2f}  {w['word']}")


@main.command()
@click.option("--workspace", default=None)
def sources(workspace: str | None) -> None:
    """List a workspace's sources with their status."""
    from cliply.store.repo import WorkspaceScope, get_or_create_workspace

    settings = _settings()
    with _database(settings).session() as session:
        scope = WorkspaceScope(session, get_or_create_workspace(session, workspace or settings.default_workspace))
        for s in scope.list_sources():
            reason = f"  {s.reject_code}: {s.reject_reason}" if s.status in {"rejected", "failed"} else ""
            click.echo(f"{s.id}  {s.status:<10} {s.origin:<6} {s.original_name}{reason}")


@main.command()
def config() -> None:
    """Show every CLIPLY_* setting and its current value."""
    current = _settings()
    for var, default, help_text in describe():
        value = getattr(current, var.removeprefix("CLIPLY_").lower())
        click.echo(f"{var:<28} {value!s:<24} {help_text} (default {default!r})")


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind (the sandbox has no auth).")
@click.option("--port", default=8765, type=int, show_default=True, help="TCP port (0 = any free port).")
@click.option("--faults", "faults_file", default=None, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help='Scenario file: a JSON list of faults, e.g. [{"platform": "x", "kind": "rate_limit"}].')
def sandbox(host: str, port: int, faults_file: Path | None) -> None:
    """Serve the platform sandbox: all nine emulated APIs at /<platform>, test controls at /_sandbox."""
    from cliply.sandbox.serve import serve

    serve(host, port, str(faults_file) if faults_file else None)


from cliply.cli_publishing import register  # noqa: E402 - accounts, posts, keys, serve, readyz

register(main)


if __name__ == "__main__":
    main()
