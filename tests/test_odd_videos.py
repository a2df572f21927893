"""Odd but valid recordings go through every stage: no sound, damaged frames, a browser WebM with no duration in
its header, an old phone's 3GP (H.263 + AMR-NB) and a Windows WMV. Each gives clips, or no clips with a reason;
never a crash, never "unsupported"."""

from __future__ import annotations

from pathlib import Path

import av
import pytest

from cliply import pipeline
from cliply.ingest import register_file
from cliply.media.audio_features import compute_energy
from cliply.media.probe import probe
from cliply.media.reframe import plan_crop
from cliply.store.repo import WorkspaceScope, source_owner
from tests.fixtures.odd_media import odd_videos  # noqa: F401 (fixture)
from tests.helpers import make_services, pipeline_settings


def _source_row(svc: pipeline.Services, source_id: str) -> tuple[str, str | None, str | None]:
    with svc.db.session() as session:
        ws = source_owner(session, source_id)
        assert ws is not None
        src = WorkspaceScope(session, ws).get_source(source_id)
        assert src is not None
        return src.status, src.reject_code, src.reject_reason


def _run_stages(
    tmp_path: Path, video: Path
) -> tuple[pipeline.Services, str, pipeline.TranscriptOutcome, list[pipeline.ClipOutcome]]:
    svc = make_services(pipeline_settings(tmp_path / "home"))
    reg = register_file(svc.settings, svc.db, svc.store, video, workspace="odd", status="queued")
    out = pipeline.materialize_source(svc, reg.source_id)
    assert out.accepted, out.reject_reason
    transcript = pipeline.materialize_transcript(svc, reg.source_id)
    pipeline.materialize_highlights(svc, reg.source_id)
    clips = pipeline.materialize_clips(svc, reg.source_id)
    thumbs = pipeline.materialize_thumbnails(svc, reg.source_id)
    assert len(thumbs) == len(clips)
    return svc, reg.source_id, transcript, clips


def test_no_audio_track_gives_no_clips_with_a_reason(tmp_path: Path, odd_videos: dict[str, Path]) -> None:
    class NoWhisper:
        def transcribe(self, path: Path, progress: object = None) -> None:
            raise AssertionError("a video without sound must not reach Whisper")

    svc = make_services(pipeline_settings(tmp_path / "home"))
    svc.transcriber = NoWhisper  # type: ignore[assignment]
    reg = register_file(svc.settings, svc.db, svc.store, odd_videos["no_audio"], workspace="odd", status="queued")
    assert pipeline.materialize_source(svc, reg.source_id).accepted
    out = pipeline.materialize_transcript(svc, reg.source_id)
    assert out.note == pipeline.NO_AUDIO_REASON == "no audio track: nothing to transcribe"
    assert out.transcript.words == [] and out.transcript.duration == pytest.approx(4.0, abs=0.1)
    assert pipeline.materialize_highlights(svc, reg.source_id) == []
    assert pipeline.materialize_clips(svc, reg.source_id) == []
    assert pipeline.materialize_thumbnails(svc, reg.source_id) == []
    assert _source_row(svc, reg.source_id) == ("ready", "no_audio", "no audio track: nothing to transcribe")


def test_corrupt_frames_are_skipped_not_fatal(odd_videos: dict[str, Path]) -> None:
    damaged = odd_videos["corrupt_frames"]
    with av.open(str(damaged)) as container, pytest.raises(av.error.InvalidDataError):  # the fixture is damaged
        for _ in container.decode(container.streams.audio[0]):
            pass
    energy = compute_energy(damaged)
    assert energy.duration == pytest.approx(probe(damaged).duration, abs=0.6)
    assert plan_crop(damaged, 0.0, 9.0).method in {"center", "face", "saliency"}


def test_browser_webm_duration_is_found_by_scanning(odd_videos: dict[str, Path]) -> None:
    webm = odd_videos["browser_webm"]
    with av.open(str(webm)) as container:
        assert container.duration is None and all(s.duration is None for s in container.streams)
    assert probe(webm).duration == pytest.approx(10.09, abs=0.1)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["corrupt_frames", "browser_webm", "phone_3gp", "windows_wmv"])
def test_odd_video_is_clipped(tmp_path: Path, odd_videos: dict[str, Path], kind: str) -> None:
    svc, source_id, transcript, clips = _run_stages(tmp_path, odd_videos[kind])
    assert len(transcript.transcript.words) >= 10 and "dashwood" in transcript.transcript.text.lower()
    assert len(clips) >= 1
    for clip in clips:
        info = clip.info
        assert (info.width, info.height, info.video_codec, info.audio_codec) == (1080, 1920, "h264", "aac")
        assert info.duration >= svc.settings.clip_min_seconds - 0.5
    assert _source_row(svc, source_id) == ("ready", None, None)
