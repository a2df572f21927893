"""Media assets, one dynamic partition per source: sources → transcripts → highlights → clips → thumbnails and
renditions.

Thin wiring only: the stages live in cliply.pipeline (renditions: cliply.renditions_stage); each asset builds its
Services from resources and turns the stage's outcome into materialisation metadata."""

import warnings
from typing import Any, NoReturn

import dagster as dg

from cliply import pipeline, renditions_stage
from cliply.media.presets import PRESETS
from cliply_assets.labels import REFUSED_TAG, source_name
from cliply_assets.presentation import clips_table, file_link, highlights_table, preview_markdown
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


def partitioned_check(name: str, asset: str, description: str, *, blocking: bool = False) -> dg.AssetCheckSpec:
    """A check evaluated per source partition, so the UI shows each source's result, not only the latest run's."""
    with warnings.catch_warnings():  # partitioned checks are a "preview" feature in Dagster 1.13
        warnings.simplefilter("ignore", dg.PreviewWarning)
        return dg.AssetCheckSpec(
            name, asset=asset, blocking=blocking, partitions_def=sources_partitions, description=description
        )


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


def _source_labels(out: pipeline.SourceOutcome, name: str) -> dict[str, str]:
    return {"source_id": out.source_id, "source_name": name, "workspace": out.workspace}


def _refuse(context: dg.AssetExecutionContext, out: pipeline.SourceOutcome, name: str) -> NoReturn:
    """A refused upload fails the step with its plain reason: the partition reads failed, nothing downstream runs,
    and the blocking check records the reason for this partition."""
    reason = f"{name or out.source_id} refused ({out.reject_code}): {out.reject_reason}"
    metadata = {**_source_labels(out, name), "reject_code": out.reject_code or "", "reason": out.reject_reason or ""}
    context.log_event(
        dg.AssetCheckEvaluation(
            asset_key=context.asset_key,
            check_name=SOURCE_CHECK,
            passed=False,
            partition=context.partition_key,
            blocking=True,
            description=reason,
            metadata=metadata,
        )
    )
    context.instance.add_run_tags(context.run_id, {REFUSED_TAG: out.reject_code or "rejected"})
    raise dg.Failure(description=reason, metadata=metadata, allow_retries=False)


def _accepted(out: pipeline.SourceOutcome, svc: pipeline.Services, name: str) -> dg.MaterializeResult:
    info = out.info
    assert info is not None and out.media_key is not None
    labels = _source_labels(out, name)
    return dg.MaterializeResult(
        metadata={
            **labels,
            "status": "accepted",
            "uri": file_link(svc.store.uri(out.media_key)),
            "duration_s": round(info.duration, 2),
            "video_codec": info.video_codec or "",
            "audio_codec": info.audio_codec or "",
            "resolution": f"{info.width}x{info.height}",
            "fps": round(info.fps or 0, 3),
            "size_bytes": info.size_bytes,
            "sha256": out.sha256 or "",
        },
        check_results=[
            dg.AssetCheckResult(
                check_name=SOURCE_CHECK,
                passed=True,
                description=f"{name or out.source_id} is readable and within limits",
                metadata={**labels, "duration_s": round(info.duration, 2)},
            )
        ],
    )


@dg.asset(
    **_MEDIA,
    kinds={"python", "ffmpeg", "s3"},
    tags={"cliply/step": "ingest"},
    check_specs=[
        partitioned_check(
            SOURCE_CHECK,
            "sources",
            blocking=True,
            description="Blocks the run unless the upload is a decodable video within the "
            "workspace's plan (duration, size), so no transcription is wasted.",
        )
    ],
    description="The uploaded video, fetched (inbox, upload or URL), probed, validated and stored at sources/<id>/. "
    "A refused upload fails here with its reason; nothing downstream runs for it.",
)
def sources(
    context: dg.AssetExecutionContext,
    settings: SettingsResource,
    database: DatabaseResource,
    media_store: MediaStoreResource,
    inbox: InboxResource,
) -> dg.MaterializeResult:
    svc = build_services(context, settings=settings, database=database, media_store=media_store, inbox=inbox)
    name = source_name(svc.db, context.partition_key)
    with pipeline.failure_recorded(svc, context.partition_key):
        out = pipeline.materialize_source(svc, context.partition_key)
    if not out.accepted:
        _refuse(context, out, name)
    return _accepted(out, svc, name)


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
    svc = build_services(
        context, settings=settings, database=database, media_store=media_store, transcriber=transcriber
    )
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
            **{fmt: file_link(svc.store.uri(out.keys[fmt])) for fmt in ("json", "srt", "vtt")},
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
    scoring = pipeline.highlights_scoring(svc, context.partition_key)
    return dg.MaterializeResult(
        metadata={
            "num_highlights": len(found),
            "top_score": round(found[0].score, 1) if found else 0.0,
            "highlights": highlights_table(found),
            "uri": file_link(svc.store.uri(pipeline.highlights_key(context.partition_key))),
            # Which weights ranked them: a learned version (and how many clips it learned from) or "default".
            "scoring": f"v{scoring['version']}" if scoring["version"] is not None else "default",
            "learned_from": int(str(scoring["learned_from"] or 0)),
        }
    )


def _clips_check(rendered: list[pipeline.ClipOutcome], labels: dict[str, str]) -> dg.AssetCheckResult:
    invalid = {o.clip_id: {p: probs for p, probs in o.problems.items() if probs} for o in rendered}
    universal_ok = all(not o.problems["universal"] for o in rendered)
    verdict = "valid for every preset" if universal_ok else "not valid for the universal preset"
    return dg.AssetCheckResult(
        check_name=CLIPS_CHECK,
        passed=universal_ok,
        severity=dg.AssetCheckSeverity.ERROR,
        description=f"{len(rendered)} clips of {labels['source_name'] or labels['source_id']}: {verdict}",
        metadata={
            **labels,
            "presets_checked": ", ".join(PRESETS),
            "problems": dg.MetadataValue.json({k: v for k, v in invalid.items() if v}),
        },
    )


def _clips_result(
    rendered: list[pipeline.ClipOutcome], svc: pipeline.Services, labels: dict[str, str]
) -> dg.MaterializeResult:
    uris = [svc.store.uri(o.key) for o in rendered]
    return dg.MaterializeResult(
        metadata={
            "num_clips": len(rendered),
            "clips": clips_table(rendered, uris),
            "clip_uris": dg.MetadataValue.json(uris),
            # Per clip: layout, what the crop follows, cuts and speaker switches; the full plan is stored beside it.
            "framing": dg.MetadataValue.json({o.clip_id: o.framing for o in rendered}),
            **{f"clip_{o.highlight.rank}": file_link(uri) for o, uri in zip(rendered, uris, strict=True)},
        },
        check_results=[_clips_check(rendered, labels)],
    )


@dg.asset(
    **_MEDIA,
    deps=[highlights],
    kinds={"python", "ffmpeg", "s3"},
    tags={"cliply/step": "render"},
    check_specs=[
        partitioned_check(
            CLIPS_CHECK,
            "clips",
            description="Every clip is H.264/AAC 9:16 and within each platform preset's "
            "duration and size limits; problems are listed per clip.",
        )
    ],
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
    labels = {"source_id": context.partition_key, "source_name": source_name(svc.db, context.partition_key)}
    return _clips_result(rendered, svc, labels)


@dg.asset(
    **_MEDIA,
    deps=[clips],
    kinds={"python", "ffmpeg"},
    tags={"cliply/step": "render"},
    description=(
        "Thumbnail, preview and per-platform covers per clip, picked from the un-captioned source (sharp, eyes open, "
        "no transition); the first six are previewed here."
    ),
)
def thumbnails(
    context: dg.AssetExecutionContext,
    settings: SettingsResource,
    database: DatabaseResource,
    media_store: MediaStoreResource,
) -> dg.MaterializeResult:
    svc = build_services(context, settings=settings, database=database, media_store=media_store)
    with pipeline.failure_recorded(svc, context.partition_key):
        made = pipeline.materialize_thumbnails(svc, context.partition_key, title_overlay=svc.settings.thumbnail_title)
    return dg.MaterializeResult(
        metadata={
            "num_thumbnails": len(made),
            "thumbnail_uris": dg.MetadataValue.json([svc.store.uri(t.key) for t in made]),
            "covers": dg.MetadataValue.json({t.clip_id: {"at_s": t.at_s, "keys": t.cover_keys} for t in made}),
            # One small inline image per clip (the first six), each with a link to its full-size cover.
            **{f"preview {t.clip_id}": preview_markdown(t.clip_id, t.preview_jpeg) for t in made[:6]},
            **{f"thumbnail {t.clip_id}": file_link(svc.store.uri(t.key)) for t in made[:6]},
        }
    )


@dg.asset(
    **_MEDIA,
    deps=[clips],
    kinds={"python", "ffmpeg"},
    tags={"cliply/step": "render"},
    description=(
        "What each platform of the workspace's connected accounts gets per clip: the main render when it fits the "
        "platform's preset, else a rendition (re-encoded to fit, cached under renditions/ and reused by every post)."
    ),
)
def renditions(
    context: dg.AssetExecutionContext,
    settings: SettingsResource,
    database: DatabaseResource,
    media_store: MediaStoreResource,
) -> dg.MaterializeResult:
    svc = build_services(context, settings=settings, database=database, media_store=media_store)
    made = renditions_stage.materialize_renditions(svc, context.partition_key)
    per_clip: dict[str, dict[str, Any]] = {}
    for r in made:
        per_clip.setdefault(r.clip_id, {})[r.platform] = (
            "main render"
            if r.main
            else {"key": r.key, "size_bytes": r.size_bytes, "why": list(r.reasons), "made_now": r.rendered}
        )
    return dg.MaterializeResult(
        metadata={
            "num_renditions": sum(1 for r in made if not r.main),
            "made_now": sum(1 for r in made if r.rendered),
            "platforms": ", ".join(sorted({r.platform for r in made})) or "none connected",
            "renditions": dg.MetadataValue.json(per_clip),
        }
    )


MEDIA_ASSETS = [sources, transcripts, highlights, clips, thumbnails, renditions]

process_source_job = dg.define_asset_job(
    "process_source",
    selection=dg.AssetSelection.assets(*MEDIA_ASSETS),
    executor_def=dg.in_process_executor,
    description="Process one uploaded video (partition = source id) in a single run: fetch and validate it, "
    "transcribe, pick highlights, render captioned vertical clips and their thumbnails.",
    tags={"cliply/stage": "media"},
)

defs = dg.Definitions(assets=MEDIA_ASSETS, jobs=[process_source_job])
