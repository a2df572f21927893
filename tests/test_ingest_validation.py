"""Bad input is refused at the door: `cliply ingest` probes before it records anything, with the reasons and exit
code of `cliply process`; inbox drops are checked in their run and a refused one leaves the inbox for rejected/."""

from __future__ import annotations

import re
import shutil
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner

from cliply import pipeline
from cliply.cli import main
from cliply.errors import InputRejected
from cliply.ingest import register_file, register_inbox_entry, register_url
from cliply.settings import variables
from cliply.storage.inbox import LocalInbox, S3Inbox
from cliply.store.repo import WorkspaceScope, get_or_create_workspace
from tests.fixtures.media import COCKATOO
from tests.fixtures.odd_media import bad_files  # noqa: F401 (fixture)
from tests.fixtures.s3 import S3Server, s3_client_for
from tests.helpers import make_services, pipeline_settings

CODES = {
    "text": "not_a_video",
    "random": "not_a_video",
    "png": "not_a_video",
    "html": "not_a_video",
    "garbage_header": "not_a_video",
    "unknown_codec": "unsupported_codec",
}


@pytest.fixture
def svc(tmp_path: Path) -> pipeline.Services:
    return make_services(pipeline_settings(tmp_path / "home"))


def _rows(svc: pipeline.Services, workspace: str = "acme") -> list[tuple[str, str | None]]:
    with svc.db.session() as session:
        scope = WorkspaceScope(session, get_or_create_workspace(session, workspace))
        return [(r.status, r.reject_code) for r in scope.list_sources()]


def assert_for_people(reason: str) -> None:
    """A reason a person can act on: words, not errno numbers or the temporary paths the checks ran on."""
    assert len(reason) > 15 and "\n" not in reason
    assert not re.search(r"errno|\[Errno|/tmp/|pytest-of|cliply-src-", reason, re.IGNORECASE), reason


@pytest.mark.parametrize("kind", list(CODES))
def test_bad_file_refused_before_anything_is_recorded(
    svc: pipeline.Services,
    bad_files: dict[str, Path],
    kind: str,
) -> None:
    with pytest.raises(InputRejected) as exc:
        register_file(svc.settings, svc.db, svc.store, bad_files[kind], workspace="acme")
    assert exc.value.code == CODES[kind]
    assert_for_people(exc.value.reason)
    assert _rows(svc) == [] and svc.store.list("sources/") == []


def test_refusal_reasons_read_well(svc: pipeline.Services, bad_files: dict[str, Path]) -> None:
    def reason(kind: str) -> str:
        with pytest.raises(InputRejected) as exc:
            register_file(svc.settings, svc.db, svc.store, bad_files[kind], workspace="acme")
        return exc.value.reason

    assert reason("text") == "not a video: the file's contents are not a media format Cliply can read"
    assert reason("png") == "not a video: the file is a still image (PNG)"
    assert "cannot decode" in reason("unknown_codec")


def test_missing_path_is_never_recorded(svc: pipeline.Services, tmp_path: Path) -> None:
    for keep_refused in (False, True):
        with pytest.raises(InputRejected) as exc:
            register_file(
                svc.settings, svc.db, svc.store, tmp_path / "gone.mp4", workspace="acme", keep_refused=keep_refused
            )
        assert exc.value.code == "missing"
    assert _rows(svc) == []


def test_process_keeps_the_refusal_on_record(svc: pipeline.Services, bad_files: dict[str, Path]) -> None:
    with pytest.raises(InputRejected):
        register_file(svc.settings, svc.db, svc.store, bad_files["html"], workspace="acme", keep_refused=True)
    assert _rows(svc) == [("rejected", "not_a_video")]


def test_good_file_is_registered(svc: pipeline.Services) -> None:
    reg = register_file(svc.settings, svc.db, svc.store, COCKATOO, workspace="acme")
    assert _rows(svc) == [("registered", None)] and svc.store.exists(f"sources/{reg.source_id}/source.mp4")


@pytest.fixture
def cli_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> pipeline.Services:
    for name in [v.name for v in variables()]:
        monkeypatch.delenv(name, raising=False)
    settings = pipeline_settings(tmp_path / "home")
    monkeypatch.setenv("CLIPLY_HOME", str(settings.home))
    services = make_services(settings)
    assert CliRunner().invoke(main, ["workspaces", "create", "acme"]).exit_code == 0  # named workspaces are explicit
    return services


@pytest.mark.parametrize("kind", ["text", "random", "png", "html", "garbage_header", "missing"])
def test_ingest_cli_refuses_in_one_line(
    cli_env: pipeline.Services,
    bad_files: dict[str, Path],
    tmp_path: Path,
    kind: str,
) -> None:
    target = tmp_path / "nothing-here.mp4" if kind == "missing" else bad_files[kind]
    result = CliRunner().invoke(main, ["ingest", str(target), "--workspace", "acme"])
    assert result.exit_code == 2, result.output
    code = "missing" if kind == "missing" else CODES[kind]
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"error: rejected ({code}): ")
    assert_for_people(line)
    assert _rows(cli_env) == []


def test_ingest_cli_registers_a_video(cli_env: pipeline.Services) -> None:
    result = CliRunner().invoke(main, ["ingest", str(COCKATOO), "--workspace", "acme"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("registered source src_")
    assert _rows(cli_env) == [("registered", None)]


def test_refused_inbox_drop_moves_to_rejected(
    svc: pipeline.Services,
    bad_files: dict[str, Path],
    tmp_path: Path,
) -> None:
    root = tmp_path / "inbox"
    root.mkdir()
    for kind in ("text", "png"):
        shutil.copyfile(bad_files[kind], root / bad_files[kind].name)
    shutil.copyfile(COCKATOO, root / "good.mp4")
    inbox = LocalInbox(root, min_age_s=0)
    svc.inbox = inbox
    entries, _ = inbox.list_new(None, 10)
    outcomes = {}
    for entry in entries:
        reg = register_inbox_entry(svc.settings, svc.db, str(root), entry, workspace="acme")
        assert reg is not None
        outcomes[entry.name] = pipeline.materialize_source(svc, reg.source_id)
    assert outcomes["good.mp4"].accepted
    assert sorted(p.name for p in root.iterdir()) == ["rejected"], "nothing is left in the inbox"
    rejected = root / "rejected"
    assert sorted(p.name for p in rejected.iterdir()) == [
        "picture.png",
        "picture.png.reason.txt",
        "shopping.mp4",
        "shopping.mp4.reason.txt",
    ]
    text = (rejected / "shopping.mp4.reason.txt").read_text()
    assert text == "rejected (not_a_video): not a video: the file's contents are not a media format Cliply can read\n"
    assert_for_people(text.strip())
    assert (rejected / "picture.png").read_bytes() == bad_files["png"].read_bytes()
    assert inbox.list_new(None, 10) == ([], None), "rejected/ is never listed as new drops"


def test_refused_s3_inbox_drop_moves_to_rejected_prefix(
    moto_s3: S3Server, svc: pipeline.Services, bad_files: dict[str, Path]
) -> None:
    client = s3_client_for(moto_s3)
    prefix = f"inbox-{uuid.uuid4().hex}"
    client.put_object(Bucket=moto_s3.bucket, Key=f"{prefix}/page.mp4", Body=bad_files["html"].read_bytes())
    inbox = S3Inbox(moto_s3.bucket, prefix, client, min_age_s=0)
    svc.inbox = inbox
    (entry,), _ = inbox.list_new(None, 10)
    reg = register_inbox_entry(svc.settings, svc.db, f"s3://{moto_s3.bucket}/{prefix}", entry, workspace="acme")
    assert reg is not None
    out = pipeline.materialize_source(svc, reg.source_id)
    assert not out.accepted and out.reject_code == "not_a_video"
    listed = client.list_objects_v2(Bucket=moto_s3.bucket, Prefix=f"{prefix}/")
    assert sorted(o["Key"] for o in listed["Contents"]) == [
        f"{prefix}/rejected/page.mp4",
        f"{prefix}/rejected/page.mp4.reason.txt",
    ]
    reason = client.get_object(Bucket=moto_s3.bucket, Key=f"{prefix}/rejected/page.mp4.reason.txt")["Body"].read()
    assert reason.decode().startswith("rejected (not_a_video): not a video:")
    assert inbox.list_new(None, 10) == ([], None)
    inbox.reject(entry, "again")  # a drop already set aside is left alone


def test_unresolvable_host_is_a_failed_download_not_a_blocked_one(svc: pipeline.Services) -> None:
    url = "http://videos.example.invalid/talk.mp4"  # .invalid never resolves (RFC 6761)
    with pytest.raises(InputRejected) as exc:
        register_url(svc.settings, svc.db, url, workspace="acme")
    assert exc.value.code == "download_failed"
    assert "videos.example.invalid" in exc.value.reason and "could not be found" in exc.value.reason
    assert_for_people(exc.value.reason)
    assert _rows(svc) == []
    # The same host seen by the run (DNS can break after ingest) gets the same label.
    with svc.db.session() as session:
        WorkspaceScope(session, get_or_create_workspace(session, "acme")).add_source(
            "src_dns", origin="url", origin_uri=url, original_name=url, status="queued"
        )
    out = pipeline.materialize_source(svc, "src_dns")
    assert (out.accepted, out.reject_code) == (False, "download_failed")
    assert "could not be found" in (out.reject_reason or "")


def test_private_address_is_still_blocked(svc: pipeline.Services) -> None:
    with pytest.raises(InputRejected) as exc:
        register_url(svc.settings, svc.db, "http://127.0.0.1/video.mp4", workspace="acme")
    assert exc.value.code == "blocked_url"
