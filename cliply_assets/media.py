"""Media assets, one dynamic partition per source: sources → transcripts → highlights → clips → thumbnails.

Thin wiring only: the stages live in cliply.pipeline; each asset builds its Services from resources and turns the
stage's outcome into materialisation metadata."""

import base64
from typing import Any, NoReturn

import dagster as dg
import pandas as pd

from cliply import pipeline
from cliply.media.presets import PRESETS
from cliply_resources import DatabaseResource, InboxResource, MediaStoreResource, SettingsResource, TranscriberResource

SOURCES_PARTITIONS = "sources"
# One partition per uploaded video; the upload sensors add them, `cliply process` adds one before its run.
sources_partitions = dg.DynamicPartitionsDefinition(name=SOURCES_PARTITIONS)

SOURCE_CHECK = "source_readable_within_limits"
CLIPS_CHECK = "clips_valid_for_presets"
OWNERS = ["team:cliply"]
GROUP = "media"
# Shared by every media asset: the partition, the group and the owners.
_MEDIA: dict[str, Any] = {"partitions_def": sources_partitions, "group_name": GROUP, "owners": OWNERS}


def build_services(
    context: dg.AssetExecutionContext,
    *,
    settings: SettingsResource,
    database: DatabaseResource,
    media_store: MediaStoreResource,
    transcriber: TranscriberResource | None = None,
    inbox: InboxResource | None = None,
) -> pipeline.Services:
    """The stage collaborators for one asset execution, built from its resources; progress goes to the run log."""

    def no_transcriber() -> NoReturn:
        raise RuntimeError("this stage has no transcriber")

    return pipeline.Services(
        settings=settings.get(),
        db=database.get(),
        store=media_store.get(),
        transcriber=transcriber.get if transcriber is not None else no_transcriber,
        inbox=inbox.get() if inbox is not None else None,
        progress=context.log.info,
    )


def _rejected(out: pipeline.SourceOutcome) -> dg.MaterializeResult:
    return dg.MaterializeResult(
        metadata={"status": "rejected", "reject_code": out.reject_code, "reason": out.reject_reason,
                  "workspace": out.workspace},
        check_results=[dg.AssetCheckResult(check_name=SOURCE_CHECK, passed=False,
                                           metadata={"code": out.reject_code, "reason": out.reject_reason})],
    )


def _accepted(out: pipeline.SourceOutcome, svc: pipeline.Services) -> dg.MaterializeResult:
    info = out.info
    assert info is not None and out.media_key is not None
    return dg.MaterializeResult(
        metadata={
            "status": "accepted",
            "workspace": out.workspace,
            "uri": dg.MetadataValue.path(svc.store.uri(out.media_key)),
            "duration_s": round(info.duration, 2),
            "video_codec": info.video_codec or "",
            "audio_codec": info.audio_codec or "",
            "resolution": f"{info.width}x{info.height}",
            "fps": round(info.fps or 0, 3),
            "size_bytes": info.size_bytes,
            "sha256": out.sha256 or "",
        },
        check_results=[dg.AssetCheckResult(check_name=SOURCE_CHECK, passed=True,
                                           metadata={"duration_s": round(info.duration, 2)})],
    )


@dg.asset(
    **_MEDIA,
    kinds={"python", "ffmpeg", "s3"},
    tags={"cliply/step": "ingest"},
    check_specs=[dg.AssetCheckSpec(SOURCE_CHECK, asset="sources", blocking=True,
                                   description="Blocks the run unless the upload is a decodable video within the "
                                               "workspace's plan (duration, size), so no transcription is wasted.")],
    description="The uploaded video, fetched (inbox, upload or URL), probed, validated and stored at sources/<id>/.",
)
def sources(
    context: dg.AssetExecutionContext,
    settings: SettingsResource,
    database: DatabaseResource,
    media_store: MediaStoreResource,
    inbox: InboxResource,
) -> dg.MaterializeResult:
    svc = build_services(context, settings=settings, database=database, media_store=media_store, inbox=inbox)
    with pipeline.failure_recorded(svc, context.partition_key):
        out = pipeline.materialize_source(svc, context.partition_key)
    if not out.accepted:
        context.log.warning(f"source {out.source_id} rejected: {out.reject_code}: {out.reject_reason}")
        return _rejected(out)
    return _accepted(out, svc)


@dg.asset(
    **_MEDIA,
    deps=[sources],
    kinds={"python", "whisper"},
    tags={"cliply/step": "enrich"},
    description="Word-timed transcript (JSON, SRT, VTT) from Whisper (openai-whisper or faster-whisper).",
)
def transcripts(
    context: dg.AssetExecutionContext,
    settings: SettingsResource,
    database: DatabaseResource,
    media_store: MediaStoreResource,
    transcriber: TranscriberResource,
) -> dg.MaterializeResult:
    svc = build_services(context, settings=settings, database=database, media_store=media_store,
                         transcriber=transcriber)
    with pipeline.failure_recorded(svc, context.partition_key):
        out = pipeline.materialize_transcript(svc, context.partition_key)
    t = out.transcript
    rtf = out.seconds / t.duration if t.duration else 0.0
    return dg.MaterializeResult(
        metadata={
            "language": t.language,
            "engine": t.engine,
            "model": t.model,
            "words": len(t.words),
            "segments": len(t.segments),
            "duration_s": round(t.duration, 2),
            "real_time_factor": round(rtf, 3),
            **{fmt: dg.MetadataValue.path(svc.store.uri(out.keys[fmt])) for fmt in ("json", "srt", "vtt")},
            "preview": dg.MetadataValue.text(t.text[:500]),
        }
    )


@dg.asset(
    **_MEDIA,
    deps=[transcripts],
    kinds={"python"},
    tags={"cliply/step": "enrich"},
    description="Ranked clip candidates with score and reasons, snapped to sentence and word edges, no overlaps.",
)
def highlights(
    context: dg.AssetExecutionContext,
    settings: SettingsResource,
    database: DatabaseResource,
    media_store: MediaStoreResource,
) -> dg.MaterializeResult:
    svc = build_services(context, settings=settings, database=database, media_store=media_store)
    with pipeline.failure_recorded(svc, context.partition_key):
        found = pipeline.materialize_highlights(svc, context.partition_key)
    table = pd.DataFrame(
        [{"rank": h.rank, "start": round(h.start, 2), "end": round(h.end, 2), "score": round(h.score, 1),
          "reasons": "; ".join(h.reasons), "text": h.text[:80]} for h in found]
    )
    return dg.MaterializeResult(
        metadata={
            "num_highlights": len(found),
            "top_score": round(found[0].score, 1) if found else 0.0,
            "highlights": dg.MetadataValue.md(table.to_markdown(index=False) if found else "_no speech to clip_"),
            "uri": dg.MetadataValue.path(svc.store.uri(pipeline.highlights_key(context.partition_key))),
        }
    )


def _clips_result(rendered: list[pipeline.ClipOutcome], svc: pipeline.Services) -> dg.MaterializeResult:
    rows = [
        {"clip": o.clip_id, "rank": o.highlight.rank, "start": round(o.highlight.start, 2),
         "end": round(o.highlight.end, 2), "score": round(o.highlight.score, 1), "duration": round(o.info.duration, 2),
         "MB": round(o.info.size_bytes / 1e6, 2), "reframe": o.crop_method, "path": svc.store.uri(o.key)}
        for o in rendered
    ]
    invalid = {o.clip_id: {p: probs for p, probs in o.problems.items() if probs} for o in rendered}
    universal_ok = all(not o.problems["universal"] for o in rendered)
    check = dg.AssetCheckResult(
        check_name=CLIPS_CHECK,
        passed=universal_ok,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={"presets_checked": ", ".join(PRESETS),
                  "problems": dg.MetadataValue.json({k: v for k, v in invalid.items() if v})},
    )
    return dg.MaterializeResult(
        metadata={
            "num_clips": len(rendered),
            "clips": dg.MetadataValue.md(pd.DataFrame(rows).to_markdown(index=False) if rows else "_no clips_"),
            "clip_uris": dg.MetadataValue.json([r["path"] for r in rows]),
        },
        check_results=[check],
    )


@dg.asset(
    **_MEDIA,
    deps=[highlights],
    kinds={"python", "ffmpeg", "s3"},
    tags={"cliply/step": "render"},
    check_specs=[dg.AssetCheckSpec(CLIPS_CHECK, asset="clips",
                                   description="Every clip is H.264/AAC 9:16 and within each platform preset's "
                                               "duration and size limits; problems are listed per clip.")],
    description="Captioned 1080×1920 clips: cut, face-aware reframe, word-synced captions, loudness-normalised.",
)
def clips(
    context: dg.AssetExecutionContext,
    settings: SettingsResource,
    database: DatabaseResource,
    media_store: MediaStoreResource,
) -> dg.MaterializeResult:
    svc = build_services(context, settings=settings, database=database, media_store=media_store)
    with pipeline.failure_recorded(svc, context.partition_key):
        rendered = pipeline.materialize_clips(svc, context.partition_key)
    return _clips_result(rendered, svc)


@dg.asset(
    **_MEDIA,
    deps=[clips],
    kinds={"python", "ffmpeg"},
    tags={"cliply/step": "render"},
    description="A cover JPEG per clip (sharpest non-black frame) plus a small preview shown here.",
)
def thumbnails(
    context: dg.AssetExecutionContext,
    settings: SettingsResource,
    database: DatabaseResource,
    media_store: MediaStoreResource,
) -> dg.MaterializeResult:
    svc = build_services(context, settings=settings, database=database, media_store=media_store)
    with pipeline.failure_recorded(svc, context.partition_key):
        made = pipeline.materialize_thumbnails(svc, context.partition_key)
    previews = " ".join(
        f"![{t.clip_id}](data:image/jpeg;base64,{base64.b64encode(t.preview_jpeg).decode()})" for t in made[:6]
    )
    return dg.MaterializeResult(
        metadata={
            "num_thumbnails": len(made),
            "previews": dg.MetadataValue.md(previews or "_no clips_"),
            "thumbnail_uris": dg.MetadataValue.json([svc.store.uri(t.key) for t in made]),
        }
    )


MEDIA_ASSETS = [sources, transcripts, highlights, clips, thumbnails]

process_source_job = dg.define_asset_job(
    "process_source",
    selection=dg.AssetSelection.assets(*MEDIA_ASSETS),
    executor_def=dg.in_process_executor,
    description="Process one uploaded video (partition = source id) in a single run: fetch and validate it, "
                "transcribe, pick highlights, render captioned vertical clips and their thumbnails.",
    tags={"cliply/stage": "media"},
)

defs = dg.Definitions(assets=MEDIA_ASSETS, jobs=[process_source_job])
