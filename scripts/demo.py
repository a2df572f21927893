"""`make demo`: build the sample talk, process it through Dagster on embedded defaults, say where everything is."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from cliply.samples import SAMPLES_DIR, build_talk_video
from cliply.settings import Settings

sys.path.insert(0, str(Path(__file__).resolve().parent))
from demo_publish import publish_demo


def main() -> int:
    settings = Settings.from_env()
    work = (settings.home / "demo").resolve()
    work.mkdir(parents=True, exist_ok=True)
    talk = work / "sample_talk.mp4"
    if not talk.exists():
        print(f"building the sample talk from {SAMPLES_DIR.name}/ (LibriVox reading under camera footage) …")
        build_talk_video(SAMPLES_DIR, talk, repeats=3)
    print(f"processing {talk} through Dagster (engine {settings.whisper_engine}, model {settings.whisper_model}) …")
    cliply = Path(sys.executable).with_name("cliply")
    proc = subprocess.run([str(cliply), "process", str(talk), "--json"], capture_output=True, text=True)
    sys.stderr.write(proc.stderr[-4000:] if proc.returncode else "")
    if proc.returncode != 0:
        print(proc.stdout)
        return proc.returncode
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    print()
    print(f"source      {summary['source_id']}  ({summary['source']['duration_s']:.1f} s)")
    print(f"  video     {summary['source']['uri']}")
    for fmt, uri in summary["transcript"]["files"].items():
        print(f"  {fmt:<9} {uri}")
    print(f"clips       {len(summary['clips'])} ranked, captioned 1080×1920 clips")
    for c in summary["clips"]:
        print(f"  #{c['rank']} score {c['score']:5.1f}  {c['start']:6.2f}–{c['end']:6.2f} s  {c['path']}")
        print(f"     thumbnail {c['thumbnail']}")
        print(f"     why: {'; '.join(c['reasons'])}")
    best = min(summary["clips"], key=lambda c: c["rank"])
    print()
    print(f"publishing clip #{best['rank']} to all nine platforms of the local sandbox (accounts connected through "
          "OAuth and `cliply serve`, post scheduled with `cliply posts create`, published by the `posts` asset) …")
    post = publish_demo(settings, best["id"], work)
    print(f"post        {post['id']}  {post['status']}")
    for t in post["targets"]:
        private = "published privately: no public link (TikTok apps post SELF_ONLY until audited)"
        outcome = t["url"] or (private if t["state"] == "published" else f"{t['error_class']}: {t['error_message']}")
        print(f"  {t['platform']:<10} {t['state']:<10} {outcome}")
    print()
    print(f"app database   {settings.resolved_database_url}")
    print(f"Dagster home   {os.environ.get('DAGSTER_HOME')}  (run {summary['dagster_run_id']})")
    print("Open the Dagster UI: `make dev`, then http://127.0.0.1:3000 (assets → sources/transcripts/highlights/"
          "clips/thumbnails and posts, one partition per day × platform; drop a video into the inbox to watch the "
          "sensor start a run).")
    print(f"Inbox folder   {settings.resolved_inbox_url}")
    return 0 if post["status"] == "posted" else 1


if __name__ == "__main__":
    raise SystemExit(main())
