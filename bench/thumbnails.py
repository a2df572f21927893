"""Thumbnails of five clips: the thumbnail stage (frame picked from the un-captioned source, thumbnail, preview and
every platform's cover written to the media store) vs the previous stage (sharpest of six frames of each captioned
render, thumbnail and preview each written by an ffmpeg process), measured in the same run on the same clips.

Run: .venv/bin/python bench/thumbnails.py [--runs 3]   (from the repo root; needs ../shared/media)
Source: a 1920×1080 talk like bench/process_e2e.py's (x264 ultrafast, a keyframe every 10 s). Target: the new
stage under 2 s for the five clips; compare the ratio, not absolute seconds, on a busy machine.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cliply.media.captions import CaptionStyle  # noqa: E402
from cliply.media.presets import PRESETS  # noqa: E402
from cliply.media.render import RenderRequest, render_clip  # noqa: E402
from cliply.media.thumbnails import make_preview, make_thumbnail  # noqa: E402
from cliply.media.types import Word  # noqa: E402
from cliply.pipeline import Services, local_copy, materialize_thumbnails  # noqa: E402
from cliply.samples import SAMPLES_DIR, build_talk_video  # noqa: E402
from cliply.settings import Settings  # noqa: E402
from cliply.storage.media_store import LocalMediaStore  # noqa: E402
from cliply.store.db import Database  # noqa: E402
from cliply.store.repo import WorkspaceScope, get_or_create_workspace  # noqa: E402

SPANS = [(4.0, 31.0), (33.5, 58.0), (61.0, 92.5), (95.0, 118.0), (121.0, 149.0)]
TEXT = "He was not an ill disposed young man, unless to be rather cold hearted. And rather selfish is to be ill."


def words_for(start: float, end: float) -> list[Word]:
    toks = TEXT.split()
    step = (end - start) / (len(toks) + 1)
    return [Word(w, start + i * step, start + (i + 0.8) * step) for i, w in enumerate(toks)]


def old_stage(svc: Services, source_id: str) -> None:
    """The previous thumbnail stage: two ffmpeg-written JPEGs from each captioned render."""
    with svc.db.session() as s:
        scope = WorkspaceScope(s, get_or_create_workspace(s, "default"))
        clips = [(c.id, c.media_key) for c in scope.list_clips(source_id) if c.media_key]
    with tempfile.TemporaryDirectory(prefix="cliply-thumbs-") as tmp:
        for clip_id, media_key in clips:
            assert media_key is not None
            with local_copy(svc.store, media_key) as clip_path:
                thumb = make_thumbnail(clip_path, Path(tmp) / f"{clip_id}.jpg")
                preview = make_preview(clip_path, Path(tmp) / f"{clip_id}_preview.jpg")
            svc.store.put_file(f"old/{source_id}/{clip_id}.jpg", thumb, content_type="image/jpeg")
            svc.store.put_file(f"old/{source_id}/{clip_id}_preview.jpg", preview, content_type="image/jpeg")


def cpu_seconds() -> float:
    """CPU time of this process and its finished children (the old path's ffmpeg processes)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cliply-bench-thumbs-") as tmp:
        work = Path(tmp)
        source = build_talk_video(SAMPLES_DIR, work / "talk.mp4", repeats=7, size="1920x1080")
        settings = Settings(home=work / "home")
        db = Database(settings.resolved_database_url)
        db.migrate()
        store = LocalMediaStore(Path(settings.resolved_media_url))
        svc = Services(settings=settings, db=db, store=store, transcriber=lambda: None)  # type: ignore[arg-type,return-value]
        store.put_file("sources/bench/talk.mp4", source)
        rows = []
        print(f"rendering {len(SPANS)} captioned clips (setup) …", flush=True)
        for rank, (start, end) in enumerate(SPANS, start=1):
            out = work / f"c{rank}.mp4"
            request = RenderRequest(
                source,
                out,
                start,
                end,
                words_for(start, end),
                preset=PRESETS["universal"],
                x264_preset="ultrafast",
                style=CaptionStyle(highlight_colour="#FF00FF"),
            )
            render_clip(request)
            key = f"clips/bench/bench-c{rank:02d}.mp4"
            store.put_file(key, out)
            rows.append(
                {
                    "id": f"bench-c{rank:02d}",
                    "rank": rank,
                    "start_s": start,
                    "end_s": end,
                    "text": TEXT,
                    "media_key": key,
                    "width": 1080,
                    "height": 1920,
                }
            )
        with db.session() as s:
            scope = WorkspaceScope(s, get_or_create_workspace(s, "default"))
            scope.add_source("bench", "file", str(source), "talk.mp4", status="processing")
            scope.update_source("bench", media_key="sources/bench/talk.mp4")
            scope.replace_clips("bench", rows)

        times: dict[str, list[float]] = {"old": [], "new": [], "new+title": []}
        cpu: dict[str, list[float]] = {"old": [], "new": [], "new+title": []}
        for _ in range(args.runs):  # interleaved, so machine load hits both alike
            for name, run in (
                ("old", lambda: old_stage(svc, "bench")),
                ("new", lambda: materialize_thumbnails(svc, "bench")),
                ("new+title", lambda: materialize_thumbnails(svc, "bench", title_overlay=True)),
            ):
                started, cpu_started = time.perf_counter(), cpu_seconds()
                run()
                times[name].append(time.perf_counter() - started)
                cpu[name].append(cpu_seconds() - cpu_started)
        made = materialize_thumbnails(svc, "bench")
        images = 2 + len(made[0].cover_keys)
        old_s, new_s, titled_s = (statistics.median(times[k]) for k in ("old", "new", "new+title"))
        old_c, new_c, titled_c = (statistics.median(cpu[k]) for k in ("old", "new", "new+title"))
        print(f"source: {source.stat().st_size / 1e6:.0f} MB 1920x1080, {len(SPANS)} clips, median of {args.runs} runs")
        print(f"{'method':<44}{'wall s':>8}{'CPU s':>8}")
        print(f"{'old: 6 frames of each captioned render':<44}{old_s:8.2f}{old_c:8.2f}   (2 images per clip)")
        print(
            f"{'new: few frames of the un-captioned source':<44}{new_s:8.2f}{new_c:8.2f}   ({images} images per clip)"
        )
        print(f"{'new, title overlay on':<44}{titled_s:8.2f}{titled_c:8.2f}")
        print(f"old / new: {old_s / new_s:.1f}x less wall time, {old_c / new_c:.1f}x less CPU (incl. ffmpeg children)")
        print("target: new < 2.0 s wall for five clips on an otherwise idle 2-core machine")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
