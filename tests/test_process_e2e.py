"""`cliply process` end to end on the LibriVox talk: Dagster materialises every media asset, the clips are valid
9:16 H.264/AAC with captions burned in at the spoken words, and the CLI prints a complete summary."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
import srt

from cliply.media.presets import PRESETS, check_clip
from cliply.media.probe import probe
from cliply.media.transcript_formats import from_json
from tests.fixtures.media import REPO, librivox_segments
from tests.helpers import pipeline_settings, settings_env
from tests.test_render import magenta_pixels

CLIPLY = str(Path(sys.executable).with_name("cliply"))


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CLIPLY, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def processed(talk_video: Path, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    home = tmp_path_factory.mktemp("e2e")
    settings = pipeline_settings(home / "cliply", caption_highlight="#FF00FF", max_clips=3)
    env = {**os.environ, **settings_env(settings), "DAGSTER_HOME": str(home / "dagster")}
    assert _run(["workspaces", "create", "studio"], env).returncode == 0
    proc = _run(["process", str(talk_video), "--workspace", "studio", "--json"], env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1]), env, settings


def _local(uri: str) -> Path:
    assert uri.startswith("file://"), uri
    return Path(uri.removeprefix("file://"))


def test_summary_lists_every_output(processed) -> None:  # type: ignore[no-untyped-def]
    summary, _env, _settings = processed
    assert summary["ok"] and summary["status"] == "ready" and summary["workspace"] == "studio"
    assert summary["transcript"]["language"] == "en"
    assert set(summary["transcript"]["files"]) == {"json", "srt", "vtt"}
    cues = list(srt.parse(_local(summary["transcript"]["files"]["srt"]).read_text()))
    assert cues and cues[0].start.total_seconds() < 1.0
    assert 1 <= len(summary["clips"]) <= 3
    assert [c["rank"] for c in summary["clips"]] == list(range(1, len(summary["clips"]) + 1))
    for clip in summary["clips"]:
        assert _local(clip["path"]).is_file() and _local(clip["thumbnail"]).is_file()
        assert clip["reasons"] and clip["score"] > 0


def test_clips_are_valid_and_follow_sentences(processed, talk_video: Path) -> None:  # type: ignore[no-untyped-def]
    summary, _env, settings = processed
    sentence_edges = sorted({s.start for s in librivox_segments()} | {s.end for s in librivox_segments()})
    spans = []
    for clip in summary["clips"]:
        info = probe(_local(clip["path"]))
        assert check_clip(info, PRESETS["universal"]) == [], clip
        assert (info.width, info.height, info.video_codec, info.audio_codec) == (1080, 1920, "h264", "aac")
        length = clip["end"] - clip["start"]
        assert settings.clip_min_seconds - 0.5 <= length <= settings.clip_max_seconds + 0.8
        assert info.duration == pytest.approx(length, abs=0.2)
        # boundaries land on sentence edges of the reading (ground truth), give or take the snapping margins
        assert min(abs(clip["start"] - e) for e in sentence_edges) < 0.7, clip
        assert min(abs(clip["end"] - e) for e in sentence_edges) < 0.7, clip
        spans.append((clip["start"], clip["end"]))
    spans.sort()
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans)), "clips overlap"


def test_burned_captions_are_timed_to_the_words(processed) -> None:  # type: ignore[no-untyped-def]
    summary, _env, _settings = processed
    transcript = from_json(_local(summary["transcript"]["files"]["json"]).read_text())
    clip = summary["clips"][0]
    words = [w for w in transcript.words if clip["start"] <= w.start and w.end <= clip["end"]]
    assert len(words) >= 5
    mids = [((w.start + w.end) / 2 - clip["start"]) for w in words if w.end - w.start >= 0.2][:6]
    gaps = [(a.end, b.start) for a, b in itertools.pairwise(words) if b.start - a.end > 1.2]
    silent = [g[0] + 0.6 - clip["start"] for g in gaps]
    if words[0].start - clip["start"] > 0.35:
        silent.append((words[0].start - clip["start"]) / 2)
    counts = magenta_pixels(_local(clip["path"]), sorted(mids + silent))
    for t in mids:
        assert counts[t][0] > 300, f"no highlighted word at {t:.2f}s into the clip: {counts[t]}"
    for t in silent:
        assert counts[t][0] < 30, f"caption shown during silence at {t:.2f}s: {counts[t]}"


def test_dagster_recorded_every_stage_and_check(processed) -> None:  # type: ignore[no-untyped-def]
    summary, env, _settings = processed
    os.environ["DAGSTER_HOME"] = env["DAGSTER_HOME"]
    with dg.DagsterInstance.get() as instance:
        run = instance.get_run_by_id(summary["dagster_run_id"])
        assert run is not None and run.is_success and run.tags["dagster/partition"] == summary["source_id"]
        for asset in ("sources", "transcripts", "highlights", "clips", "thumbnails"):
            assert summary["source_id"] in instance.get_materialized_partitions(dg.AssetKey(asset)), asset
        event = instance.get_latest_materialization_event(dg.AssetKey("clips"))
        assert event.asset_materialization.metadata["num_clips"].value == len(summary["clips"])
        checks = instance.event_log_storage.get_latest_asset_check_execution_by_key(
            [
                dg.AssetCheckKey(dg.AssetKey("sources"), "source_readable_within_limits"),
                dg.AssetCheckKey(dg.AssetKey("clips"), "clips_valid_for_presets"),
            ]
        )
        assert len(checks) == 2 and all(c.status.value == "SUCCEEDED" for c in checks.values()), checks


def test_process_rejects_bad_input_with_reason(processed, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    _summary, env, _settings = processed
    bogus = tmp_path / "holiday.mp4"
    bogus.write_text("definitely not a video")
    proc = _run(["process", str(bogus), "--json"], env)
    assert proc.returncode == 2
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["ok"] is False and out["reject_code"] == "not_a_video" and "not a video" in out["error"]
    listing = _run(["sources"], env)
    assert "rejected" in listing.stdout and "not_a_video" in listing.stdout


def test_transcribe_cli_json(processed, talk_video: Path) -> None:  # type: ignore[no-untyped-def]
    _summary, env, settings = processed
    proc = _run(
        ["transcribe", str(talk_video), "--engine", "faster-whisper", "--model", settings.whisper_model, "--json"], env
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout)
    assert out["language"] == "en" and "dashwood" in out["text"].lower()
    assert all(set(w) == {"word", "start", "end"} and w["start"] <= w["end"] for w in out["words"])


UI_QUERY = """
{
  repositoriesOrError { ... on RepositoryConnection { nodes { name location { name }
      sensors { name sensorState { status } } } } }
  assetNodes { assetKey { path } groupName isPartitioned }
  assetOrError(assetKey: {path: ["clips"]}) {
    ... on Asset { assetMaterializations(limit: 1) { partition metadataEntries { label } } }
  }
}
"""


def test_dagster_ui_serves_the_asset_graph_and_metadata(processed) -> None:  # type: ignore[no-untyped-def]
    """What an operator sees: the webserver (as `make dev` starts it) lists the assets, sensors and clip metadata."""
    import socket
    import time

    import httpx

    summary, env, _settings = processed
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    webserver = str(Path(sys.executable).with_name("dagster-webserver"))
    proc = subprocess.Popen(
        [webserver, "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        data = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                reply = httpx.post(f"http://127.0.0.1:{port}/graphql", json={"query": UI_QUERY}, timeout=10)
                data = reply.json()["data"]
                if data["repositoriesOrError"].get("nodes"):
                    break
            except (httpx.HTTPError, KeyError, ValueError):
                pass
            time.sleep(1)
        assert data is not None, f"webserver never answered: {proc.stderr.read() if proc.poll() is not None else ''}"
        repo = data["repositoriesOrError"]["nodes"][0]
        assert repo["location"]["name"] == "cliply"
        assert {"inbox_sensor", "registered_sources_sensor", "due_posts_sensor"} <= {s["name"] for s in repo["sensors"]}
        nodes = {tuple(n["assetKey"]["path"]): n for n in data["assetNodes"]}
        assert {("sources",), ("transcripts",), ("highlights",), ("clips",), ("thumbnails",)} <= set(nodes)
        # Media and publishing assets are partitioned; the analytics reports are one table per workspace.
        assert {k for k, n in nodes.items() if not n["isPartitioned"]} == {("metrics_derived",), ("analytics_reports",)}
        assert nodes[("post_metrics",)]["groupName"] == "analytics"
        latest = data["assetOrError"]["assetMaterializations"][0]
        assert latest["partition"] == summary["source_id"]
        assert {"num_clips", "clips", "clip_uris"} <= {e["label"] for e in latest["metadataEntries"]}
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=30)


def test_ingest_cli_registers_and_guards_urls(processed, talk_video: Path) -> None:  # type: ignore[no-untyped-def]
    _summary, env, _settings = processed
    unknown = _run(["ingest", str(talk_video), "--workspace", "later"], env)
    assert unknown.returncode == 2 and "cliply workspaces create later" in unknown.stderr  # never created silently
    assert _run(["workspaces", "create", "later"], env).returncode == 0
    ok = _run(["ingest", str(talk_video), "--workspace", "later"], env)
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith("registered source src_")
    blocked = _run(["ingest", "http://169.254.169.254/latest/meta-data/video.mp4"], env)
    assert blocked.returncode == 2 and "blocked_url" in blocked.stderr
    listing = _run(["sources", "--workspace", "later"], env)
    assert "registered" in listing.stdout and talk_video.name in listing.stdout
