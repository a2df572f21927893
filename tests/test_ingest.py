"""Bad input gets a clear, recorded reason and never breaks other sources."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from cliply import pipeline
from cliply.errors import InputRejected
from cliply.ingest import register_file, register_inbox_entry, register_url
from cliply.plans import current_period
from cliply.storage.inbox import LocalInbox
from cliply.store.repo import WorkspaceScope, get_or_create_workspace
from tests.fixtures.media import COCKATOO
from tests.helpers import make_services, make_video, pipeline_settings


@pytest.fixture
def svc(tmp_path: Path, db_url: str):  # type: ignore[no-untyped-def]
    """The same checks on the app database's two backends: SQLite and a real PostgreSQL server."""
    return make_services(pipeline_settings(tmp_path / "home", database_url=db_url))


def _status(svc, source_id: str) -> tuple[str, str | None, str | None]:  # type: ignore[no-untyped-def]
    with svc.db.session() as session:
        scope = WorkspaceScope(session, get_or_create_workspace(session, "acme"))
        src = scope.get_source(source_id)
        assert src is not None
        return src.status, src.reject_code, src.reject_reason


def _register_and_run(svc, path: Path):  # type: ignore[no-untyped-def]
    reg = register_file(svc.settings, svc.db, svc.store, path, workspace="acme", status="queued")
    return pipeline.materialize_source(svc, reg.source_id)


def test_accepts_real_video_and_records_probe(svc, tmp_path: Path) -> None:
    out = _register_and_run(svc, COCKATOO)
    assert out.accepted, out.reject_reason
    assert out.info is not None and out.info.video_codec == "h264" and out.info.width == 1280
    assert svc.store.exists(out.media_key)
    status, code, _ = _status(svc, out.source_id)
    assert (status, code) == ("processing", None)
    with svc.db.session() as session:
        usage = WorkspaceScope(session, get_or_create_workspace(session, "acme")).usage(current_period())
        assert usage.projects == 1 and usage.source_minutes == pytest.approx(14.0 / 60, abs=0.01)


def _unknown_codec(path: Path) -> None:
    """An AVI whose FourCC no decoder knows: the container reads, the pictures cannot be decoded."""
    make_video(path.with_suffix(".ffv1.avi"), seconds=2, codec="ffv1")
    path.write_bytes(path.with_suffix(".ffv1.avi").read_bytes().replace(b"FFV1", b"ZQ9X"))


@pytest.mark.parametrize(
    ("name", "make", "code"),
    [
        ("notes.mp4", lambda p: p.write_text("this is a shopping list, not a video\n" * 20), "not_a_video"),
        ("song.mp4", None, "not_a_video"),  # audio only, built below
        ("broken.mp4", None, "corrupt"),  # truncated, moov at the end
        ("mystery.avi", _unknown_codec, "unsupported_codec"),
        ("blink.mp4", lambda p: make_video(p, seconds=0.4), "too_short"),
        ("marathon.mp4", lambda p: make_video(p, seconds=31 * 60, rate=1, size="32x32"), "too_long"),
    ],
)
def test_bad_inputs_are_rejected_with_reason(svc, tmp_path: Path, name: str, make, code: str) -> None:  # type: ignore[no-untyped-def]
    inbox_dir = tmp_path / "inbox"
    inbox_dir.mkdir()
    path = inbox_dir / name
    if name == "song.mp4":
        from cliply.media.ffmpeg import run_ffmpeg

        run_ffmpeg(["-f", "lavfi", "-i", "sine=frequency=440:duration=3", "-c:a", "aac", str(path)])
    elif name == "broken.mp4":
        from cliply.media.ffmpeg import run_ffmpeg

        full = tmp_path / "full.mp4"
        run_ffmpeg(["-i", str(COCKATOO), "-t", "4", "-c", "copy", str(full)])  # no faststart: moov at the end
        path.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    else:
        make(path)
        for extra in inbox_dir.glob("*.ffv1.avi"):
            extra.unlink()
    # At the door: refused with the reason, nothing recorded.
    with pytest.raises(InputRejected) as exc:
        register_file(svc.settings, svc.db, svc.store, path, workspace="acme", status="queued")
    assert exc.value.code == code, exc.value.reason
    with svc.db.session() as session:
        assert WorkspaceScope(session, get_or_create_workspace(session, "acme")).list_sources() == []
    # Dropped in the inbox: the run refuses it with the same reason and records it.
    svc.inbox = LocalInbox(inbox_dir, min_age_s=0)
    (entry,), _ = svc.inbox.list_new(None, 10)
    reg = register_inbox_entry(svc.settings, svc.db, str(inbox_dir), entry, workspace="acme")
    assert reg is not None
    out = pipeline.materialize_source(svc, reg.source_id)
    assert not out.accepted
    assert (out.reject_code, out.reject_reason) == (code, exc.value.reason)
    assert out.reject_reason and len(out.reject_reason) > 10
    assert _status(svc, out.source_id) == ("rejected", code, out.reject_reason)
    # A good source right after still goes through: one bad file never breaks other work.
    assert _register_and_run(svc, COCKATOO).accepted


@pytest.mark.parametrize("codec", ["ffv1", "flv1", "huffyuv"])
def test_any_decodable_codec_is_accepted(svc, tmp_path: Path, codec: str) -> None:  # type: ignore[no-untyped-def]
    out = _register_and_run(svc, make_video(tmp_path / f"{codec}.mkv", seconds=2, codec=codec))
    assert out.accepted, out.reject_reason


def test_empty_file_rejected_at_ingest_and_not_recorded(svc, tmp_path: Path) -> None:
    empty = tmp_path / "empty.mp4"
    empty.touch()
    with pytest.raises(InputRejected) as exc:
        register_file(svc.settings, svc.db, svc.store, empty, workspace="acme")
    assert exc.value.code == "empty"
    with svc.db.session() as session:
        assert WorkspaceScope(session, get_or_create_workspace(session, "acme")).list_sources() == []


def test_monthly_minutes_limit_enforced_in_pipeline(svc) -> None:
    with svc.db.session() as session:
        scope = WorkspaceScope(session, get_or_create_workspace(session, "acme"))
        scope.record_usage(current_period(), source_minutes=scope.plan.source_minutes_per_month - 0.1)
    out = _register_and_run(svc, COCKATOO)  # 14 s > the 6 s left this month
    assert not out.accepted and out.reject_code == "over_plan"
    assert "source minutes" in (out.reject_reason or "")


def test_projects_limit_enforced_at_ingest(svc) -> None:
    with svc.db.session() as session:
        scope = WorkspaceScope(session, get_or_create_workspace(session, "acme"))
        scope.record_usage(current_period(), projects=scope.plan.projects_per_month)
    with pytest.raises(InputRejected) as exc:
        register_file(svc.settings, svc.db, svc.store, COCKATOO, workspace="acme")
    assert exc.value.code == "over_plan"


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/video.mp4",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/x.mp4",
        "http://10.1.2.3/a.mp4",
        "http://0x7f000001/a.mp4",
    ],
)
def test_private_urls_blocked_at_ingest(svc, url: str) -> None:
    with pytest.raises(InputRejected) as exc:
        register_url(svc.settings, svc.db, url, workspace="acme")
    assert exc.value.code == "blocked_url"


def test_hostile_inbox_names_never_escape_the_store(svc, tmp_path: Path) -> None:
    inbox_dir = tmp_path / "inbox"
    inbox_dir.mkdir()
    hostile = ["x..\\..\\evil.mp4", "$(reboot).mp4", "a\nb;rm -rf.mp4", "CON.mp4", "\uff0e\uff0e\uff0fpasswd.mp4"]
    for name in hostile:
        shutil.copyfile(COCKATOO, inbox_dir / name)
    shutil.copyfile(COCKATOO, inbox_dir / "..hidden.mp4")  # dotfiles are uploads in progress: left alone
    inbox = LocalInbox(inbox_dir, min_age_s=0)
    svc.inbox = inbox
    entries, _ = inbox.list_new(None, limit=10)
    assert len(entries) == len(hostile)
    media_root = Path(svc.settings.resolved_media_url).resolve()
    for entry in entries:
        reg = register_inbox_entry(svc.settings, svc.db, str(inbox_dir), entry, workspace="acme")
        assert reg is not None
        out = pipeline.materialize_source(svc, reg.source_id)
        assert out.accepted, out.reject_reason
        stored = svc.store.local_path(out.media_key)
        assert stored is not None and stored.resolve().is_relative_to(media_root)
        assert "/" not in Path(out.media_key).name and ".." not in out.media_key
    assert [p.name for p in inbox_dir.iterdir()] == ["..hidden.mp4"], "accepted inbox files are consumed"
    assert not (tmp_path / "evil.mp4").exists()


@pytest.mark.parametrize("path", ["/cockatoo.mp4", "/page"])  # a direct media link, and a page yt-dlp resolves
def test_url_import_runs_through_the_pipeline(tmp_path: Path, media_server, path: str) -> None:  # type: ignore[no-untyped-def]
    base, seen = media_server
    svc = make_services(pipeline_settings(tmp_path / "home", allow_private_urls=True))  # the server is on loopback
    reg = register_url(svc.settings, svc.db, f"{base}{path}", workspace="acme", status="queued")
    out = pipeline.materialize_source(svc, reg.source_id)
    assert out.accepted, out.reject_reason
    assert out.info is not None and (out.info.width, out.info.height) == (1280, 720)
    assert svc.store.size(out.media_key) == COCKATOO.stat().st_size
    assert any(line.endswith(path) for line in seen)


def test_url_import_failure_is_recorded(tmp_path: Path, media_server) -> None:  # type: ignore[no-untyped-def]
    base, _seen = media_server
    svc = make_services(pipeline_settings(tmp_path / "home", allow_private_urls=True))
    reg = register_url(svc.settings, svc.db, f"{base}/missing.mp4", workspace="acme", status="queued")
    out = pipeline.materialize_source(svc, reg.source_id)
    assert not out.accepted and out.reject_code == "download_failed" and "404" in (out.reject_reason or "")


def test_crashing_stage_marks_the_source_failed(svc) -> None:  # type: ignore[no-untyped-def]
    out = _register_and_run(svc, COCKATOO)

    class Broken:
        def transcribe(self, path, progress=None):  # type: ignore[no-untyped-def]
            raise RuntimeError("model file unreadable")

    svc.transcriber = Broken
    with pytest.raises(RuntimeError), pipeline.failure_recorded(svc, out.source_id):
        pipeline.materialize_transcript(svc, out.source_id)
    status, _code, reason = _status(svc, out.source_id)
    assert status == "failed" and "model file unreadable" in (reason or "")
