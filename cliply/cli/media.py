"""`cliply ingest|process|transcribe`: sources in, clips out."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, NoReturn

import click

from cliply.cli.base import EXIT_BAD_INPUT, EXIT_FAULT, app, die, message_of
from cliply.errors import InputRejected
from cliply.media import service
from cliply.wiring import build_transcriber


@click.command()
@click.argument("target")
@click.option("--workspace", default=None, help="Workspace (tenant) that owns the source.")
def ingest(target: str, workspace: str | None) -> None:
    """Register a file or URL; the Dagster daemon's sensor launches its run.

    A file is probed first: one that cannot be processed is refused here (one line, exit 2), and nothing is
    recorded for it."""
    reg = service.register_source(app(), target, workspace, keep_refused=False)
    click.echo(f"registered source {reg.source_id} in workspace {reg.workspace!r} ({reg.origin});")
    click.echo("the registered_sources_sensor will launch its run while the Dagster daemon runs (`make dev`).")


def _fail(message: str, *, as_json: bool, code: int, **extra: Any) -> NoReturn:
    """With --json the failure is a JSON object on stdout too, for scripts that parse it."""
    if as_json:
        click.echo(json.dumps({"ok": False, "error": message, **extra}))
    die(message, code)


def print_summary(s: dict[str, Any]) -> None:
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


@click.command()
@click.argument("target")
@click.option("--workspace", default=None, help="Workspace (tenant) that owns the source.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def process(target: str, workspace: str | None, as_json: bool) -> None:
    """Ingest a file or URL and materialise every media asset for it now, through Dagster."""

    def started(reg: Any) -> None:
        if not as_json:
            click.echo(f"processing source {reg.source_id} …", err=True)

    try:
        done = service.process_source(
            app(), target, workspace, log_level="WARNING" if as_json else "INFO", on_registered=started
        )
    except InputRejected as exc:
        _fail(message_of(exc), as_json=as_json, code=EXIT_BAD_INPUT, reject_code=exc.code)
    summary, source_id = done.summary, done.registered.source_id
    if summary["status"] == "rejected":
        _fail(
            f"rejected ({summary['reject_code']}): {summary['reason']}",
            as_json=as_json,
            code=EXIT_BAD_INPUT,
            source_id=source_id,
            reject_code=summary["reject_code"],
        )
    if not done.run.success:
        _fail(done.run.failure, as_json=as_json, code=EXIT_FAULT, source_id=source_id, dagster_run_id=done.run.run_id)
    if as_json:
        click.echo(json.dumps(summary))
    else:
        print_summary(summary)


@click.command()
@click.argument("media", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--engine", type=click.Choice(["openai-whisper", "faster-whisper"]), default=None)
@click.option("--model", default=None, help="Model name or a local file/folder path.")
@click.option("--json", "as_json", is_flag=True, help="Print {language, text, words:[{word,start,end}]}.")
def transcribe(media: Path, engine: str | None, model: str | None, as_json: bool) -> None:
    """Transcribe a media file with per-word timestamps (the same Transcriber the pipeline uses)."""
    t = build_transcriber(app().settings, engine=engine or "", model=model or "").transcribe(media)
    words = [{"word": w.word, "start": round(w.start, 3), "end": round(w.end, 3)} for w in t.words]
    if as_json:
        click.echo(json.dumps({"language": t.language, "text": t.text, "words": words}))
        return
    click.echo(f"language: {t.language}   ({t.engine} {t.model})")
    click.echo(t.text)
    for w in words:
        click.echo(f"{w['start']:8.2f} {w['end']:8.2f}  {w['word']}")


COMMANDS = [ingest, process, transcribe]  # `cliply sources` lives in cliply/cli/sources.py
