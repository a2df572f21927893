"""`make demo`: build the sample talk, process it through Dagster on embedded defaults, publish the best clip to the
in-process platform sandbox, and say where everything is. Each stage shows its progress and elapsed time; the runs'
own logs are in the Dagster instance (`make dev` → Runs)."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from cliply.orchestration import following_source_run
from cliply.samples import SAMPLES_DIR, build_talk_video
from cliply.settings import Settings

sys.path.insert(0, str(Path(__file__).resolve().parent))
from demo_console import StageBoard
from demo_publish import publish_demo

MEDIA_STAGES = ("sources", "transcripts", "highlights", "clips", "thumbnails")


def sample_talk(board: StageBoard, work: Path) -> Path:
    talk = work / "sample_talk_portrait.mp4"
    if not talk.exists():
        board.say(
            f"building the sample talk from {SAMPLES_DIR.name}/ (LibriVox reading under a slow pan over a portrait) …"
        )
        with board.stage("sample talk"):
            build_talk_video(SAMPLES_DIR, talk, repeats=3, footage="portrait")
    return talk


def process(board: StageBoard, settings: Settings, talk: Path) -> dict[str, Any] | None:
    """`cliply process --json` in a subprocess; its run's steps are followed in the Dagster event log."""
    board.say(f"processing {talk} through Dagster (engine {settings.whisper_engine}, model {settings.whisper_model}) …")
    cliply = Path(sys.executable).with_name("cliply")
    board.begin("processing", total=len(MEDIA_STAGES))
    with following_source_run(settings, board.follow_steps("processing")):
        proc = subprocess.run([str(cliply), "process", str(talk), "--json"], capture_output=True, text=True)
    board.end("processing", ok=proc.returncode == 0)
    if proc.returncode != 0:
        board.say(proc.stderr.strip()[-4000:])
        board.say(proc.stdout.strip())
        return None
    summary: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return summary


def show_media(board: StageBoard, summary: dict[str, Any]) -> None:
    board.say()
    board.say(f"source      {summary['source_id']}  ({summary['source']['duration_s']:.1f} s)")
    board.say(f"  video     {summary['source']['uri']}")
    for fmt, uri in summary["transcript"]["files"].items():
        board.say(f"  {fmt:<9} {uri}")
    board.say(f"clips       {len(summary['clips'])} ranked, captioned 1080×1920 clips")
    for c in summary["clips"]:
        board.say(f"  #{c['rank']} score {c['score']:5.1f}  {c['start']:6.2f}–{c['end']:6.2f} s  {c['path']}")
        board.say(f"     thumbnail {c['thumbnail']}")
        board.say(f"     why: {'; '.join(c['reasons'])}")


def show_post(board: StageBoard, post: dict[str, Any]) -> None:
    board.say(
        f"post        {post['id']}  {post['status']}  (links: the sandbox's record of each post, served only "
        "while the demo runs)"
    )
    for t in post["targets"]:
        if t["state"] == "published":
            board.say(f"  {t['platform']:<10} posted     {t['sandbox_url']}")
        else:
            board.say(f"  {t['platform']:<10} {t['state']:<10} {t['error_class']}: {t['error_message']}")


def where(board: StageBoard, settings: Settings, summary: dict[str, Any]) -> None:
    board.say()
    board.say(f"app database   {settings.resolved_database_url}")
    board.say(f"Dagster home   {os.environ.get('DAGSTER_HOME')}  (run {summary['dagster_run_id']}; its logs are there)")
    board.say(
        "Open the Dagster UI: `make dev`, then http://127.0.0.1:3000 (assets → sources/transcripts/highlights/"
        "clips/thumbnails and posts, one partition per day × platform; drop a video into the inbox to watch "
        "the sensor start a run)."
    )
    board.say(f"Inbox folder   {settings.resolved_inbox_url}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--video", type=Path, help="Process this video instead of the sample talk.")
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    work = (settings.home / "demo").resolve()
    work.mkdir(parents=True, exist_ok=True)
    with StageBoard() as board:
        talk = args.video.resolve() if args.video else sample_talk(board, work)
        summary = process(board, settings, talk)
        if summary is None:
            return 1
        show_media(board, summary)
        best = min(summary["clips"], key=lambda c: c["rank"])
        board.say()
        board.say(
            f"publishing clip #{best['rank']} to all nine platforms of the local sandbox (accounts connected "
            "through OAuth and `cliply serve`, post scheduled with `cliply posts create`, published by the "
            "`posts` asset) …"
        )
        post = publish_demo(settings, best["id"], work, steps=board)
        show_post(board, post)
        where(board, settings, summary)
    return 0 if post["status"] == "posted" else 1


if __name__ == "__main__":
    raise SystemExit(main())
